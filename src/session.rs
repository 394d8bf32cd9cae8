//! A durable session around one run: the key that seals its secrets, the lock that keeps a
//! second run of the same rotation out, the journal it writes, and, for `runbook resume`, the
//! state the earlier run left (inputs, captures, finished and in-doubt steps).

use std::collections::HashSet;

use crate::journal::lock::{self, Holder, Lock, LockError};
use crate::journal::runs::{RunState, RunView};
use crate::journal::seal::{self, Opener, Sealer};
use crate::journal::{InputRecord, Journal, Record, RunbookRef, hostname, now};
use crate::run::durable::Partial;
use crate::run::inputs::{Binding, Source};
use crate::run::{Context, Durability, ResumePlan};
use crate::runbook::Runbook;
use crate::runbook::model::{Action, SecretKind};
use crate::secret::{ExposeSecret, SecretString, fingerprint};

/// How the session should treat the journal and the lock.
pub struct Options {
    /// `--no-journal`.
    pub no_journal: bool,
    /// `--seal-to`.
    pub seal_to: Option<String>,
    /// `--force-unlock`.
    pub force_unlock: bool,
    /// An `--emulate` run: its fake secrets are sealed to a throwaway key.
    pub emulated: bool,
}

/// A problem that stops the session before the run starts, with the exit code it deserves.
pub struct Refusal {
    pub message: String,
    pub code: u8,
}

impl Refusal {
    fn new(code: u8, message: impl Into<String>) -> Refusal {
        Refusal {
            message: message.into(),
            code,
        }
    }
}

/// What a session holds while the run goes on.
pub struct Session {
    pub durability: Durability,
    pub lock: Option<Lock>,
    /// A resumed run whose earlier attempts already sent a change: it stays unfinished (and
    /// locked) even if this attempt sends nothing.
    pub earlier_mutated: bool,
    /// An `--emulate` rehearsal: what it changed died with its emulator, so it never keeps
    /// its lock and cannot be resumed.
    pub emulated: bool,
    /// Said before the run starts (a forced unlock, a key in use).
    pub notes: Vec<String>,
}

impl Session {
    /// Ends the session: the lock is given up when the run completed, when it never changed
    /// anything, when it kept no journal (nothing could resume it) or when it was a rehearsal
    /// against the emulator (what it changed is gone); otherwise it stays, so a second run
    /// cannot start a second rotation over the half-done first one. Returns what the operator
    /// needs to know.
    pub fn finish(self, completed: bool, mutated: bool, journaled: bool) -> Option<String> {
        let lock = self.lock?;
        let mutated = mutated || self.earlier_mutated;
        if completed || !mutated || !journaled || self.emulated {
            lock.release();
            return None;
        }
        Some(format!(
            "the lock `{}` stays held: this rotation is unfinished, and another run of it is refused until it is resumed (or --force-unlock is used)",
            lock.holder.key
        ))
    }
}

/// Secret captures a run cannot lose: shown once by the API or typed in once by the operator.
pub fn shown_once(runbook: &Runbook) -> Vec<String> {
    let mut names = Vec::new();
    for step in &runbook.steps {
        for capture in &step.captures {
            if capture.secret == SecretKind::Once {
                names.push(format!("{} (step {})", capture.name, step.id));
            }
        }
        if let Action::Manual(manual) = &step.action {
            for ask in &manual.ask {
                if ask.secret == SecretKind::Once {
                    names.push(format!("{} (step {})", ask.name, step.id));
                }
            }
        }
    }
    names
}

/// The lock key of a run: the runbook's name and its rendered `lock:` template.
pub fn lock_key(runbook: &Runbook, binding: &Binding) -> Result<String, String> {
    match &runbook.lock {
        Some(template) => template
            .render(&runbook.templates, &binding.values.scope())
            .map(|target| format!("{}:{target}", runbook.name))
            .map_err(|error| {
                let (line, column) = runbook.source.line_column(template.span().offset);
                format!(
                    "{}:{line}:{column}: cannot work out the lock key: {error}; `lock:` must render with the run's inputs (check its template with `runbook plan`)",
                    runbook.source.name()
                )
            }),
        None => Ok(runbook.name.clone()),
    }
}

/// The sealer for a run, or why there cannot be one.
fn sealer(
    runbook: &Runbook,
    context: &Context,
    options: &Options,
) -> Result<Option<Sealer>, Refusal> {
    if options.emulated {
        return Ok(Some(Sealer::ephemeral()));
    }
    let source = seal::seal_source(&context.env, options.seal_to.as_deref())
        .map_err(|error| Refusal::new(crate::exit::INPUT, error))?;
    let once = shown_once(runbook);
    match source {
        Some(source) => Sealer::new(&source)
            .map(Some)
            .map_err(|error| Refusal::new(crate::exit::INTERNAL, error)),
        None if once.is_empty() => Ok(None),
        None => Err(Refusal::new(
            crate::exit::INPUT,
            format!(
                "{} captures a secret shown only once ({}). It is sealed into the run's journal so a crash cannot lose it, and no key is set up to seal it with: {}",
                runbook.name,
                once.join(", "),
                seal::SETUP_HELP
            ),
        )),
    }
}

fn holder(runbook: &Runbook, context: &Context, key: &str) -> Holder {
    Holder {
        key: key.to_string(),
        run_id: context.run_id.clone(),
        runbook: runbook.name.clone(),
        host: hostname(),
        pid: std::process::id(),
        since: now(),
        actor: context.actor.clone(),
    }
}

/// The command that continues run `run_id`: with `--state-dir DIR` when the state directory
/// is not the default one, or the command would not find the run.
pub fn resume_command(context: &Context, run_id: &str) -> String {
    let default = crate::run::context::default_state_dir(&context.env);
    if context.state_dir == default {
        format!("runbook resume {run_id}")
    } else {
        format!(
            "runbook resume {run_id} --state-dir {}",
            crate::render::shell::shell_word(&context.state_dir.display().to_string())
        )
    }
}

fn held_message(holder: &Holder, key: &str, context: &Context) -> String {
    let resumable = crate::journal::journal_path(&context.state_dir, &holder.run_id).exists();
    // A run whose process is alive (or on another host) is never offered --force-unlock: it
    // may be starting (its journal not written yet) or halfway through a rotation.
    if !holder.is_stale(&hostname()) {
        let or_resume = if resumable {
            format!(
                ", or resume it (`{}`) if it stopped",
                resume_command(context, &holder.run_id)
            )
        } else {
            String::new()
        };
        return format!(
            "another run holds the lock `{key}` and is running: {}. Two runs of one rotation must not overlap: wait for it{or_resume}",
            holder.describe()
        );
    }
    if !resumable {
        return format!(
            "another run holds the lock `{key}` and has stopped; its process is gone (a stale lock): {}. It keeps no journal (--no-journal), so it cannot be resumed: once you know what it left behind, start over with --force-unlock",
            holder.describe()
        );
    }
    format!(
        "another run holds the lock `{key}` and has stopped: {}; its process is gone (a stale lock). Continue it with `{}`, or start over with --force-unlock once you know what it left behind",
        holder.describe(),
        resume_command(context, &holder.run_id)
    )
}

/// Takes the lock, breaking it first with `--force-unlock` (the journal records that). A lock
/// held by another run is an input problem (exit 4): the run was not refused a confirmation.
fn take_lock(
    runbook: &Runbook,
    context: &Context,
    key: &str,
    force: bool,
    own_run: Option<&str>,
    notes: &mut Vec<String>,
    forced: &mut Option<Holder>,
) -> Result<Lock, Refusal> {
    crate::journal::prepare_state_dir(&context.state_dir)
        .map_err(|message| Refusal::new(crate::exit::INPUT, message))?;
    let me = holder(runbook, context, key);
    // The state directory is the operator's to fix (exit 4), as every refusal here.
    let refusal = |error: LockError| match error {
        LockError::Held(holder) => {
            Refusal::new(crate::exit::INPUT, held_message(&holder, key, context))
        }
        LockError::Unreadable { path, reason } => Refusal::new(
            crate::exit::INPUT,
            format!(
                "the lock `{key}` is held, but its file {} cannot be read: {reason}. If no run of this rotation is going on (`runbook runs` lists the runs), start over with --force-unlock; otherwise wait for it",
                path.display()
            ),
        ),
        LockError::Io(error) => Refusal::new(
            crate::exit::INPUT,
            format!("cannot take the lock `{key}`: {error}"),
        ),
    };
    match lock::acquire(&context.state_dir, me.clone()) {
        Ok(lock) => Ok(lock),
        Err(LockError::Held(holder)) => {
            let own_stale = own_run == Some(holder.run_id.as_str()) && holder.is_stale(&hostname());
            if !force && !own_stale {
                return Err(refusal(LockError::Held(holder)));
            }
            let previous = lock::break_lock(&context.state_dir, key);
            if !own_stale {
                notes.push(format!(
                    "--force-unlock: broke the lock `{key}` held by {}",
                    holder.describe()
                ));
                *forced = previous;
            }
            lock::acquire(&context.state_dir, me).map_err(refusal)
        }
        Err(LockError::Unreadable { path, reason }) if force => {
            lock::break_lock(&context.state_dir, key);
            notes.push(format!(
                "--force-unlock: broke the lock `{key}`, whose file {} could not be read ({reason})",
                path.display()
            ));
            lock::acquire(&context.state_dir, me).map_err(refusal)
        }
        Err(error) => Err(refusal(error)),
    }
}

/// Starts the session of a new run: key, lock, journal with its first record.
pub fn start(
    runbook: &Runbook,
    context: &Context,
    binding: &Binding,
    options: &Options,
) -> Result<Session, Refusal> {
    let once = shown_once(runbook);
    if options.no_journal && !once.is_empty() && !options.emulated {
        return Err(Refusal::new(
            crate::exit::INPUT,
            format!(
                "--no-journal: {} captures a secret shown only once ({}); without a journal a crash would lose it. Run it with the journal",
                runbook.name,
                once.join(", ")
            ),
        ));
    }
    let sealer = if options.no_journal {
        None
    } else {
        sealer(runbook, context, options)?
    };
    let key =
        lock_key(runbook, binding).map_err(|error| Refusal::new(crate::exit::INPUT, error))?;
    let mut notes = Vec::new();
    let mut forced = None;
    let lock = take_lock(
        runbook,
        context,
        &key,
        options.force_unlock,
        None,
        &mut notes,
        &mut forced,
    )?;
    if options.no_journal {
        return Ok(Session {
            durability: Durability::default(),
            lock: Some(lock),
            earlier_mutated: false,
            emulated: options.emulated,
            notes,
        });
    }
    let mut journal = match Journal::create(
        &context.state_dir,
        &context.run_id,
        context.redactor.clone(),
    ) {
        Ok(journal) => journal,
        Err(error) => {
            lock.release();
            // A directory the user can fix is an input error, like the state directory's own.
            let code = if error.kind() == std::io::ErrorKind::PermissionDenied {
                crate::exit::INPUT
            } else {
                crate::exit::INTERNAL
            };
            return Err(Refusal::new(
                code,
                crate::journal::unusable_in_state_dir(
                    &context.state_dir,
                    &crate::journal::run_dir(&context.state_dir, &context.run_id),
                    &error,
                    "create the run's journal in",
                ),
            ));
        }
    };
    let record = Record::RunStarted {
        format: crate::journal::FORMAT,
        run_id: context.run_id.clone(),
        runbook: RunbookRef {
            name: runbook.name.clone(),
            file: absolute(&runbook.source.path),
            digest: runbook.source.digest.clone(),
        },
        inputs: input_records(binding),
        services: binding.services.clone(),
        started_at: context.started_at.to_string(),
        host: hostname(),
        pid: std::process::id(),
        actor: context.actor.clone(),
        lock: Some(key.clone()),
        sealed_run_key: sealer.as_ref().map(|sealer| sealer.sealed_run_key.clone()),
        sealed_for: sealer.as_ref().map(|sealer| sealer.key_description.clone()),
    };
    let lock = first_records(&mut journal, &record, &key, forced, lock)?;
    if let Some(sealer) = &sealer {
        notes.push(format!(
            "secrets captured by this run are sealed to {}",
            sealer.key_description
        ));
    }
    Ok(Session {
        durability: Durability {
            journal: Some(journal),
            sealer,
            resume: None,
        },
        lock: Some(lock),
        earlier_mutated: false,
        emulated: options.emulated,
        notes,
    })
}

/// Appends a session's first record (and the forced unlock, if any), durably; the lock is
/// given back if the journal cannot take them.
fn first_records(
    journal: &mut Journal,
    record: &Record,
    key: &str,
    forced: Option<Holder>,
    lock: Lock,
) -> Result<Lock, Refusal> {
    let mut written = journal.append(record, true);
    if let (Ok(()), Some(previous)) = (&written, forced) {
        written = journal.append(
            &Record::UnlockForced {
                key: key.to_string(),
                previous: previous.describe(),
                at: now(),
            },
            true,
        );
    }
    match written {
        Ok(()) => Ok(lock),
        Err(error) => {
            lock.release();
            Err(Refusal::new(
                crate::exit::INTERNAL,
                format!(
                    "cannot write the run's journal {}: {error}",
                    journal.path().display()
                ),
            ))
        }
    }
}

/// The inputs as the journal keeps them: values of plain ones, fingerprints of secrets.
fn input_records(binding: &Binding) -> Vec<InputRecord> {
    binding
        .bound
        .iter()
        .filter(|bound| bound.source != Source::Computed)
        .map(|bound| InputRecord {
            name: bound.name.clone(),
            secret: bound.secret,
            value: (!bound.secret && bound.source != Source::Unset).then(|| bound.display.clone()),
            fingerprint: bound
                .secret
                .then(|| binding.values.secret(&bound.name).map(fingerprint))
                .flatten(),
            source: match &bound.source {
                Source::Argument => "argument".into(),
                Source::Env(name) => format!("env {name}"),
                Source::Default => "default".into(),
                Source::Prompt => "prompt".into(),
                Source::Computed => "computed".into(),
                Source::Missing => "missing".into(),
                Source::Unset => "unset".into(),
            },
        })
        .collect()
}

fn absolute(path: &std::path::Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// What `resume` needs to know before binding: the run, and the runbook it ran.
pub struct Earlier {
    pub view: RunView,
    /// The run's key, unsealed once (a passphrase costs a second of scrypt) and shared by the
    /// restore of its captures and the sealing of new ones.
    opener: std::cell::RefCell<Option<Opener>>,
}

impl Earlier {
    /// Reads the run and checks that it can be resumed.
    pub fn load(context: &Context, run_id: &str) -> Result<Earlier, Refusal> {
        let view = crate::journal::runs::load(&context.state_dir, run_id)
            .map_err(|error| Refusal::new(crate::exit::INPUT, error))?;
        if view.format > crate::journal::FORMAT {
            // Its records may mean more than this version knows: resuming on a partial reading
            // could send again what went through.
            return Err(Refusal::new(
                crate::exit::INPUT,
                format!(
                    "run {run_id} was journaled by a newer runbook (journal format {}, this one reads up to {}): resume it with that version",
                    view.format,
                    crate::journal::FORMAT
                ),
            ));
        }
        match view.state() {
            RunState::Completed => {
                return Err(Refusal::new(
                    crate::exit::INPUT,
                    format!("run {run_id} completed; there is nothing to resume"),
                ));
            }
            // Its live process holds the run: like a lock held by another run.
            RunState::Running => {
                return Err(Refusal::new(
                    crate::exit::INPUT,
                    format!(
                        "run {run_id} is still running (process {} on {}); wait for it or stop it first",
                        view.pid, view.host
                    ),
                ));
            }
            _ => {}
        }
        Ok(Earlier {
            view,
            opener: std::cell::RefCell::new(None),
        })
    }

    /// The inputs to bind again: plain values as they were (like `--var`).
    pub fn plain_inputs(&self) -> Vec<(String, String)> {
        self.view
            .inputs
            .iter()
            .filter(|input| !input.secret)
            .filter_map(|input| input.value.clone().map(|value| (input.name.clone(), value)))
            .collect()
    }

    /// Checks the secrets given again against the run's fingerprints, restores its captures
    /// (unsealing secret ones) and works out which steps are done and which are in doubt.
    pub fn restore(
        &self,
        runbook: &Runbook,
        context: &Context,
        binding: &mut Binding,
        decisions: std::collections::HashMap<String, bool>,
    ) -> Result<ResumePlan, Refusal> {
        for input in self.view.inputs.iter().filter(|input| input.secret) {
            let (Some(expected), Some(given)) =
                (&input.fingerprint, binding.values.secret(&input.name))
            else {
                continue;
            };
            if fingerprint(given) != *expected {
                return Err(Refusal::new(
                    crate::exit::INPUT,
                    format!(
                        "the secret input `{}` is not the value the run started with (fingerprint {} there): give the same value ({})",
                        input.name, expected, input.source
                    ),
                ));
            }
        }
        // Every step the journal speaks of must still be in the runbook: a step renamed since
        // (or a journal edited) would otherwise run again as a new step, or be settled as if
        // nothing had happened, when it created a shown-once secret or sent a change.
        if let Some(unknown) = self
            .view
            .steps
            .keys()
            .find(|id| !runbook.steps.iter().any(|step| &step.id == *id))
        {
            let journal = crate::journal::journal_path(&context.state_dir, &self.view.run_id);
            let why = if runbook.source.digest == self.view.runbook.digest {
                format!(
                    "{} records step `{unknown}`, which {} does not have, and the runbook has not changed since the run started: the journal is damaged or was edited. Restore it, or finish by hand from `runbook show {}`",
                    journal.display(),
                    runbook.source.name(),
                    self.view.run_id
                )
            } else {
                format!(
                    "{} records step `{unknown}`, which the changed {} no longer has: a renamed step would run again as a new one (a second credential), and a removed one would leave what it did unaccounted for. Put the step back under the id `{unknown}` (it stays done), or start a new run",
                    journal.display(),
                    runbook.source.name(),
                )
            };
            return Err(Refusal::new(crate::exit::INPUT, why));
        }
        let mut unrecoverable = Vec::new();
        // A `for_each` step's captures are bound as lists, in item order, like the run did.
        let mut lists: std::collections::BTreeMap<&str, Vec<(usize, minijinja::Value)>> =
            std::collections::BTreeMap::new();
        for (key, capture) in &self.view.captures {
            let name = capture.name.as_str();
            if !capture.secret {
                if let Some(value) = &capture.value {
                    let value = crate::template::to_value(value);
                    match capture.item {
                        Some(item) => lists.entry(name).or_default().push((item, value)),
                        None => binding.values.set(name, value),
                    }
                }
                continue;
            }
            let Some(sealed) = &capture.sealed else {
                unrecoverable.push(name.to_string());
                continue;
            };
            if self.opener.borrow().is_none() {
                let opener = self
                    .open_run_key(context)
                    .map_err(|error| Refusal::new(crate::exit::INPUT, error))?;
                *self.opener.borrow_mut() = Some(opener);
            }
            let value = self
                .opener
                .borrow()
                .as_ref()
                .map(|opener| opener.open(sealed))
                .unwrap_or_else(|| Err("no key".into()))
                .map_err(|error| {
                    Refusal::new(
                        crate::exit::INPUT,
                        format!(
                            "the sealed capture `{key}` in {}: {error}",
                            crate::journal::journal_path(&context.state_dir, &self.view.run_id)
                                .display()
                        ),
                    )
                })?;
            if capture
                .fingerprint
                .as_deref()
                .is_some_and(|expected| fingerprint(&value) != expected)
            {
                return Err(Refusal::new(
                    crate::exit::INTERNAL,
                    format!(
                        "the sealed value of `{key}` does not match its fingerprint: the journal is damaged"
                    ),
                ));
            }
            match capture.item {
                Some(item) => {
                    context.redactor.register(&value);
                    let exposed = minijinja::Value::from(value.expose_secret().to_string());
                    lists.entry(name).or_default().push((item, exposed));
                }
                None => bind_secret(binding, name, value, context),
            }
        }
        for (name, mut items) in lists {
            items.sort_by_key(|(item, _)| *item);
            let values: Vec<minijinja::Value> = items.into_iter().map(|(_, value)| value).collect();
            binding.values.set(name, minijinja::Value::from(values));
        }
        let done: HashSet<String> = self
            .view
            .steps
            .iter()
            .filter(|(_, step)| {
                step.pending.is_none() && matches!(step.status.as_deref(), Some("ok" | "skipped"))
            })
            .map(|(id, _)| id.clone())
            .collect();
        let skipped = done
            .iter()
            .filter(|id| {
                self.view
                    .steps
                    .get(id.as_str())
                    .and_then(|step| step.status.as_deref())
                    == Some("skipped")
            })
            .cloned()
            .collect();
        let in_doubt = self
            .view
            .steps
            .iter()
            .filter_map(|(id, step)| step.pending.clone().map(|pending| (id.clone(), pending)))
            .collect();
        // A secret that is needed later and could not be restored stops the resume now, not
        // halfway.
        for step in runbook.steps.iter().filter(|step| !done.contains(&step.id)) {
            let uses = step.uses();
            if let Some(missing) = unrecoverable
                .iter()
                .find(|name| uses.contains(name.as_str()))
            {
                return Err(Refusal::new(
                    crate::exit::INPUT,
                    format!(
                        "step `{}` needs the secret capture `{missing}`, which the run could not seal (no key was set up then): finish by hand from the rollback notes, or start a new run",
                        step.id
                    ),
                ));
            }
        }
        for step in decisions.keys() {
            if !runbook.steps.iter().any(|candidate| &candidate.id == step) {
                return Err(Refusal::new(
                    crate::exit::INPUT,
                    format!("--repeat/--skip {step}: the runbook has no step `{step}`"),
                ));
            }
        }
        // A looped step that changed something for some items and then stopped (or died with
        // an item in doubt): running it again would send those items again. An item that
        // failed did not go through: like a step without a loop that failed, it may be sent
        // again, so a loop none of whose items went through simply runs again. Journals from
        // format 2 on record each item that went through; before, a failed step's last item
        // sent is taken to be the one that failed.
        let partial = runbook
            .steps
            .iter()
            .filter(|step| step.for_each.is_some() && !done.contains(&step.id))
            .filter_map(|step| {
                let view = self.view.steps.get(&step.id)?;
                let recorded = self.view.format >= 2;
                let completed = if recorded {
                    view.items_finished_in_order()
                } else {
                    let failed = usize::from(view.status.as_deref() == Some("failed"));
                    view.items_sent.len().saturating_sub(failed)
                };
                // A loop with an item in doubt is kept too (its items through may be none):
                // the resume settles that one item and goes on after the ones before it.
                let item_in_doubt = view.pending.is_some() && recorded;
                ((view.pending.is_none() && completed > 0) || item_in_doubt).then(|| {
                    let partial = Partial {
                        completed,
                        items: view.items_sent.clone(),
                        recorded,
                    };
                    (step.id.clone(), partial)
                })
            })
            .collect();
        Ok(ResumePlan {
            done,
            skipped,
            in_doubt,
            partial,
            decisions,
        })
    }

    /// Opens the session of the resumed run: its lock (taken over from its own dead process),
    /// its journal reopened, with a `resumed` record.
    pub fn reopen(
        &self,
        runbook: &Runbook,
        context: &Context,
        options: &Options,
        allow_changed: bool,
        plan: ResumePlan,
    ) -> Result<Session, Refusal> {
        // Secrets captured from here on are sealed with the run's own key, like before.
        let opener = match self.opener.borrow_mut().take() {
            Some(opener) => Some(opener),
            None => self
                .view
                .sealed_run_key
                .as_ref()
                .and_then(|_| self.open_run_key(context).ok()),
        };
        let sealer = match (&self.view.sealed_run_key, opener) {
            (Some(sealed), Some(opener)) => Some(Sealer::reuse(
                opener,
                sealed.clone(),
                self.view.sealed_for.clone().unwrap_or_default(),
            )),
            _ => None,
        };
        if sealer.is_none() && !shown_once(runbook).is_empty() && self.view.sealed_run_key.is_some()
        {
            return Err(Refusal::new(
                crate::exit::INPUT,
                format!(
                    "cannot open the run's key to seal new secrets with: {}",
                    seal::SETUP_HELP
                ),
            ));
        }
        let mut notes = Vec::new();
        let mut forced = None;
        let key = self
            .view
            .lock
            .clone()
            .unwrap_or_else(|| runbook.name.clone());
        let lock = take_lock(
            runbook,
            context,
            &key,
            options.force_unlock,
            Some(&self.view.run_id),
            &mut notes,
            &mut forced,
        )?;
        let mut journal = match Journal::reopen(
            &context.state_dir,
            &self.view.run_id,
            context.redactor.clone(),
        ) {
            Ok(journal) => journal,
            Err(error) => {
                // The lock stays: the rotation is as unfinished as before, and this process
                // leaving makes it a stale lock of the run, which its resume takes back.
                drop(lock);
                let path = crate::journal::journal_path(&context.state_dir, &self.view.run_id);
                return Err(Refusal::new(
                    crate::exit::INPUT,
                    crate::journal::unusable_in_state_dir(
                        &context.state_dir,
                        &path,
                        &error,
                        "write",
                    ),
                ));
            }
        };
        let resumed = Record::Resumed {
            at: now(),
            host: hostname(),
            pid: std::process::id(),
            digest: runbook.source.digest.clone(),
            allow_changed,
        };
        let lock = first_records(&mut journal, &resumed, &key, forced, lock)?;
        Ok(Session {
            durability: Durability {
                journal: Some(journal),
                sealer,
                resume: Some(plan),
            },
            lock: Some(lock),
            earlier_mutated: self.view.mutated,
            emulated: false,
            notes,
        })
    }
}

impl Earlier {
    /// Unseals the run's key with the operator's identity or passphrase.
    fn open_run_key(&self, context: &Context) -> Result<Opener, String> {
        let sealed_key = self
            .view
            .sealed_run_key
            .as_deref()
            .ok_or("the journal has sealed values but no sealed run key")?;
        let keys = seal::unseal_keys(&context.env)?;
        Opener::from_sealed_run_key(sealed_key, &keys)
    }
}

fn bind_secret(binding: &mut Binding, name: &str, value: SecretString, context: &Context) {
    if value.expose_secret().is_empty() {
        return;
    }
    binding.values.set_secret(name, value, context);
}
