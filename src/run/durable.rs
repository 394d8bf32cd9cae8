//! What makes a run survive a crash: the journal it writes as it goes, the sealing of secret
//! captures, and, on resume, settling the steps a crash left in doubt.

use std::collections::{HashMap, HashSet};

use super::engine::{Answer, Engine, Question, QuestionKind};
use super::event::{StepResult, StepStatus};
use crate::journal::seal::Sealer;
use crate::journal::{Journal, Record, now};
use crate::runbook::model::{Action, Method, Resume, Step};
use crate::secret::fingerprint;
use crate::step::judge::{self, Captured};

/// The journal, the sealer and, for a resume, what the earlier run left behind.
#[derive(Default)]
pub struct Durability {
    pub journal: Option<Journal>,
    pub sealer: Option<Sealer>,
    pub resume: Option<ResumePlan>,
}

/// What a resume knows about the run it continues.
#[derive(Default)]
pub struct ResumePlan {
    /// Steps that finished (ok or skipped) in the earlier run: not run again.
    pub done: HashSet<String>,
    /// Those of them that were skipped (their `when` was false): reported as skipped again.
    pub skipped: HashSet<String>,
    /// Steps whose mutating request was announced but never answered, with that request.
    pub in_doubt: HashMap<String, String>,
    /// `for_each` steps that stopped partway, after some of their items went through.
    pub partial: HashMap<String, Partial>,
    /// The operator's decisions from the command line: step → repeat (`true`) or skip.
    pub decisions: HashMap<String, bool>,
}

/// A `for_each` step an earlier attempt stopped partway through.
#[derive(Clone, Debug)]
pub struct Partial {
    /// How many of its items went through, one after the other from the first.
    pub completed: usize,
    /// The items its mutating requests were sent for, in order, masked as the journal has them.
    pub items: Vec<serde_json::Value>,
    /// Whether the journal records each item that went through (format 2 on); before, the
    /// count is inferred, and a resume never continues a loop partway on it.
    pub recorded: bool,
}

/// How a step left in doubt is settled.
pub(super) enum Settlement {
    /// Run it (again).
    Run,
    /// It took effect: count it as done.
    Done(String),
    /// Cannot be settled here; the step ends with this status.
    Stop(StepStatus),
    /// A loop goes on from item `from` (from 0): the ones before it went through, and
    /// captured `earlier` (each capture's list of their values, in item order).
    Continue {
        from: usize,
        earlier: Vec<(String, Vec<minijinja::Value>)>,
    },
}

impl Engine<'_> {
    /// Appends a journal record. A journal that cannot be written stops the run: without it, a
    /// crash from here on could lose a secret or repeat a change.
    pub(super) fn journal(&mut self, record: Record, durable: bool) -> Result<(), String> {
        self.with_journal(|journal| journal.append(&record, durable))
    }

    /// Flushes the journal to the disk before the run waits (to retry, or for an operator): what
    /// happened so far must not depend on how long the wait lasts.
    pub(super) fn journal_sync(&mut self) -> Result<(), String> {
        self.with_journal(crate::journal::Journal::sync)
    }

    /// Does `write` to the run's journal, if it keeps one; a failure becomes the message that
    /// stops the run.
    fn with_journal(
        &mut self,
        write: impl FnOnce(&mut crate::journal::Journal) -> std::io::Result<()>,
    ) -> Result<(), String> {
        let Some(journal) = self.durability.journal.as_mut() else {
            return Ok(());
        };
        write(journal).map_err(|error| {
            format!(
                "the journal {} cannot be written ({error}): stopping before anything else changes",
                journal.path().display()
            )
        })
    }

    /// Announces a mutating request, on disk before it is sent. `action` words it, only when
    /// the run keeps a journal.
    pub(super) fn intent(
        &mut self,
        step: &Step,
        item: Option<&serde_json::Value>,
        attempt: u32,
        action: impl FnOnce() -> String,
    ) -> Result<(), String> {
        self.mutated = true;
        if self.durability.journal.is_none() {
            return Ok(());
        }
        self.journal(
            Record::Intent {
                step: step.id.clone(),
                item: item.cloned(),
                position: item.and(self.item_index),
                attempt,
                action: action(),
                at: now(),
            },
            true,
        )
    }

    /// Records captures as soon as they are taken, secret ones sealed. A sealed secret is synced
    /// to the disk before the run goes on (a value the API showed once must not die with the
    /// process or the machine); the rest go with the next sync.
    pub(super) fn journal_captures(
        &mut self,
        step: &Step,
        captures: &[(String, Captured)],
    ) -> Result<(), String> {
        if self.durability.journal.is_none() {
            return Ok(());
        }
        for (name, captured) in captures {
            // A sealed secret is on the disk before the run goes on: it may exist nowhere else.
            // Anything else rides with the next sync (before the next change at the latest).
            let (record, durable) = match captured {
                Captured::Plain(value) => (
                    Record::Capture {
                        step: step.id.clone(),
                        name: name.clone(),
                        item: self.item_index,
                        secret: false,
                        value: Some(value.clone()),
                        sealed: None,
                        fingerprint: None,
                    },
                    false,
                ),
                Captured::Secret(secret) => {
                    let sealed = match &self.durability.sealer {
                        Some(sealer) => Some(sealer.seal(secret)?),
                        None => None,
                    };
                    let durable = sealed.is_some();
                    let record = Record::Capture {
                        step: step.id.clone(),
                        name: name.clone(),
                        item: self.item_index,
                        secret: true,
                        value: None,
                        sealed,
                        fingerprint: Some(fingerprint(secret)),
                    };
                    (record, durable)
                }
            };
            self.journal(record, durable)?;
        }
        Ok(())
    }

    /// What an earlier attempt of a resumed run left of this step to settle before it runs: a
    /// request in doubt, or a loop stopped partway. `Run` when there is nothing.
    pub(super) async fn settle_earlier(
        &mut self,
        step: &Step,
        result: &mut StepResult,
    ) -> Settlement {
        let Some(plan) = self.durability.resume.as_ref() else {
            return Settlement::Run;
        };
        let pending = plan.in_doubt.get(&step.id).cloned();
        let partial = plan.partial.get(&step.id).cloned();
        if let Some(pending) = pending {
            let settlement = match partial.filter(|partial| partial.recorded) {
                Some(partial) if step.for_each.is_some() => {
                    self.settle_item(step, &pending, &partial, result).await
                }
                _ => self.settle(step, &pending, result).await,
            };
            if let Settlement::Stop(_) = settlement {
                // Still unsettled: the next resume must face the same question.
                result.in_doubt = Some(pending);
            }
            return settlement;
        }
        match partial {
            Some(partial) => self.settle_partial(step, &partial, result).await,
            None => Settlement::Run,
        }
    }

    /// Settles a step a crash left in doubt: its request was sent, its answer never recorded.
    /// A mutating step is never repeated blindly: the runbook's `resume` says how (repeat, or a
    /// read-only check), or the operator decides with the facts in front of them.
    async fn settle(&mut self, step: &Step, pending: &str, result: &mut StepResult) -> Settlement {
        if let Some(repeat) = self.decision(step) {
            return self.settled(step, repeat, "the operator (command line)", result);
        }
        if repeating_is_harmless(step) {
            return self.settled(step, true, "the runbook (repeating is safe)", result);
        }
        if let Action::Audit(_) = &step.action {
            // The local record is the evidence: it is there or it is not.
            let present = self.audit_recorded(step);
            return self.settled(step, !present, "the audit file", result);
        }
        // A looped step's check cannot speak for the loop: the items before the one in doubt
        // have run, those after it have not, and "it took effect" must not end the loop early
        // (nor "it did not" send the earlier items again). The operator decides, told so.
        let looped = step.for_each.is_some();
        if let Some(Resume::Check(resume_check)) = &step.resume
            && !looped
        {
            let check = &resume_check.check;
            let took_effect = &resume_check.took_effect;
            let undo = &resume_check.undo;
            let scope = self.values.scope();
            let prepared = match self.prepare(check, &scope) {
                Ok(prepared) => prepared,
                Err(error) => {
                    result.failures.push(format!("resume check: {error}"));
                    return Settlement::Stop(StepStatus::Failed);
                }
            };
            let (url, answer) = self.send_recorded(check, prepared, result).await;
            let response = match answer {
                Ok(response) if (200..300).contains(&response.status) => response,
                Ok(response) => {
                    result.failures.push(format!(
                        "the resume check answered {}: cannot tell whether `{}` took effect",
                        judge::unexpected(&response),
                        step.id
                    ));
                    return Settlement::Stop(StepStatus::Failed);
                }
                Err(error) => {
                    result
                        .failures
                        .push(format!("the resume check failed: {}", error.describe(&url)));
                    return Settlement::Stop(StepStatus::Failed);
                }
            };
            let judged = scope.with("response", super::engine::response_value(&response));
            let happened = match took_effect.is_true(&self.runbook.templates, &judged) {
                Ok(happened) => happened,
                Err(error) => {
                    result.failures.push(format!(
                        "cannot evaluate `took_effect: {}`: {error}",
                        took_effect.source()
                    ));
                    return Settlement::Stop(StepStatus::Failed);
                }
            };
            if !happened {
                return self.settled(
                    step,
                    true,
                    "the resume check (it had not taken effect)",
                    result,
                );
            }
            let Some(undo) = undo else {
                return self.settled(
                    step,
                    false,
                    "the resume check (it had taken effect)",
                    result,
                );
            };
            let prepared = match self.prepare(undo, &judged) {
                Ok(prepared) => prepared,
                Err(error) => {
                    result.failures.push(format!("resume undo: {error}"));
                    return Settlement::Stop(StepStatus::Failed);
                }
            };
            let url = prepared.url.clone();
            if let Err(error) = self.intent(step, None, 0, || {
                format!("undo: {}", describe_request(undo.method, &url))
            }) {
                result.failures.push(error);
                return Settlement::Stop(StepStatus::Failed);
            }
            let (url, answer) = self.send_recorded(undo, prepared, result).await;
            return match answer {
                Ok(response) if (200..300).contains(&response.status) => {
                    result.note = Some("took effect before the crash, but its answer was lost: undone, then run again".into());
                    self.settled(step, true, "the resume check and its undo", result)
                }
                Ok(response) => {
                    result.failures.push(format!(
                        "undoing the earlier `{}` answered {}",
                        step.id,
                        response.status_text()
                    ));
                    Settlement::Stop(StepStatus::Failed)
                }
                Err(error) => {
                    result.failures.push(format!(
                        "undoing the earlier `{}` failed: {}",
                        step.id,
                        error.describe(&url)
                    ));
                    Settlement::Stop(StepStatus::Failed)
                }
            };
        }
        // No way to tell: the operator decides, with the facts.
        let mut facts = format!(
            "step `{}` sent {pending} before the earlier run died, and its answer was never recorded: it may or may not have taken effect",
            step.id
        );
        if looped {
            facts.push_str(
                ". The step runs once per item of its `for_each`, and any items before the one in doubt had already run: repeating it runs every item again; skipping it counts the whole step as done, so finish any remaining items by hand",
            );
        }
        self.ask_operator(step, None, facts, result).await
    }

    /// A `for_each` step that died with one item in doubt, the items before it through by the
    /// journal: the question is about that item alone. Repeating sends it again and goes on
    /// with the rest; skipping counts it as done and goes on after it, unless the step captures
    /// (the item's answer, and its captures, are lost), when the whole step is counted as done
    /// as for a step without a loop. Items that changed since, or earlier captures that did not
    /// come back, leave the whole step to [`Self::settle`].
    async fn settle_item(
        &mut self,
        step: &Step,
        pending: &str,
        partial: &Partial,
        result: &mut StepResult,
    ) -> Settlement {
        let through = partial.completed;
        let earlier = (partial.items.len() == through + 1 && self.same_items(step, partial))
            .then(|| self.earlier_captures(step, through))
            .flatten();
        let Some(earlier) = earlier else {
            return self.settle(step, pending, result).await;
        };
        let item = through + 1;
        let skip_goes_on = step.captures.is_empty();
        let settled = match self.decision(step) {
            Some(repeat) => self.settled_item(
                step,
                Some(item),
                repeat,
                "the operator (command line)",
                result,
            ),
            None if repeating_is_harmless(step) => self.settled_item(
                step,
                Some(item),
                true,
                "the runbook (repeating is safe)",
                result,
            ),
            None => {
                let before = match through {
                    0 => String::new(),
                    1 => "item 1 went through, and ".into(),
                    _ => format!("items 1 to {through} went through, and "),
                };
                let skipping = if skip_goes_on {
                    format!("skipping counts item {item} as done and goes on after it")
                } else {
                    "skipping counts the whole step as done (the item's captures were lost with its answer), so finish any remaining items by hand".into()
                };
                let facts = format!(
                    "step `{}` runs once per item of its `for_each`: {before}item {item} was sent ({pending}) before the earlier run died, and its answer was never recorded: it may or may not have taken effect. Repeating sends item {item} again and goes on with the rest; {skipping}",
                    step.id
                );
                self.ask_operator(step, Some(item), facts, result).await
            }
        };
        match settled {
            Settlement::Run => {
                return Settlement::Continue {
                    from: through,
                    earlier,
                };
            }
            Settlement::Done(note) if !skip_goes_on => {
                return Settlement::Done(format!(
                    "{note}; any items it had not reached are to be done by hand"
                ));
            }
            Settlement::Done(_) => {}
            other => return other,
        }
        // Recorded as through, so that a crash from here on goes on after it too.
        if let Err(error) = self.journal(
            Record::ItemFinished {
                step: step.id.clone(),
                item: through,
            },
            true,
        ) {
            result.failures.push(error);
            return Settlement::Stop(StepStatus::Failed);
        }
        Settlement::Continue {
            from: item,
            earlier,
        }
    }

    /// A `for_each` step that stopped partway in an earlier run (a failed item, Ctrl-C): its
    /// earlier items changed something, so running it again from its first item is not for the
    /// engine to decide, unless repeating is harmless. It goes on from the first item that did
    /// not go through when the journal says which items did, the items are the same as then,
    /// and the earlier items' captures were put back.
    async fn settle_partial(
        &mut self,
        step: &Step,
        partial: &Partial,
        result: &mut StepResult,
    ) -> Settlement {
        let completed = partial.completed;
        let settled = match self.decision(step) {
            Some(repeat) => self.settled(step, repeat, "the operator (command line)", result),
            None if repeating_is_harmless(step) => return Settlement::Run,
            None if partial.recorded && self.same_items(step, partial) => {
                if let Some(earlier) = self.earlier_captures(step, completed) {
                    return self.continue_at(step, completed, earlier, result);
                }
                self.ask_partial(step, completed, result).await
            }
            None => self.ask_partial(step, completed, result).await,
        };
        match settled {
            Settlement::Done(_) => Settlement::Done(
                "counted as done by the operator: any items it had not reached are to be done by hand"
                    .into(),
            ),
            other => other,
        }
    }

    /// Puts a loop stopped partway to the operator: run it again from its first item, or count
    /// it as done.
    async fn ask_partial(
        &mut self,
        step: &Step,
        completed: usize,
        result: &mut StepResult,
    ) -> Settlement {
        let facts = format!(
            "step `{}` runs once per item of its `for_each`; the earlier run completed {completed} of its items and then stopped before the step finished. Running it again sends every item again; skipping it counts the whole step as done, so finish any remaining items by hand",
            step.id
        );
        self.ask_operator(step, None, facts, result).await
    }

    /// Whether the step's items now begin with the ones the earlier run sent, as the journal
    /// has them (masked the same way).
    fn same_items(&self, step: &Step, partial: &Partial) -> bool {
        let Ok(items) = self.items(step, &self.values.scope()) else {
            return false;
        };
        partial.items.len() >= partial.completed
            && items.len() >= partial.completed
            && items
                .iter()
                .zip(&partial.items)
                .take(partial.completed)
                .all(|(item, recorded)| {
                    let item = item.clone().unwrap_or(serde_json::Value::Null);
                    // Masked as the journal masked it.
                    let masked = self.context.redactor.redact_record(item, &[]);
                    &masked == recorded
                })
    }

    /// The captures of a loop's first `completed` items, as the resume put them back (each a
    /// list in item order): `None` when one is missing or short, and the loop cannot go on
    /// without sending those items again.
    fn earlier_captures(
        &self,
        step: &Step,
        completed: usize,
    ) -> Option<Vec<(String, Vec<minijinja::Value>)>> {
        step.captures
            .iter()
            .map(|capture| {
                let earlier: Vec<minijinja::Value> = self
                    .values
                    .get(&capture.name)?
                    .try_iter()
                    .ok()?
                    .take(completed)
                    .collect();
                (earlier.len() == completed).then(|| (capture.name.clone(), earlier))
            })
            .collect()
    }

    /// Goes on with a loop from item `completed` (from 0), recorded as settled by the journal.
    fn continue_at(
        &mut self,
        step: &Step,
        completed: usize,
        earlier: Vec<(String, Vec<minijinja::Value>)>,
        result: &mut StepResult,
    ) -> Settlement {
        let decision = format!("continue at item {}", completed + 1);
        if let Err(error) = self.journal(
            Record::Settled {
                step: step.id.clone(),
                decision,
                by: "the journal".into(),
            },
            false,
        ) {
            result.failures.push(error);
            return Settlement::Stop(StepStatus::Failed);
        }
        Settlement::Continue {
            from: completed,
            earlier,
        }
    }

    /// Asks the operator at the terminal (on a blocking thread), with the journal on the disk
    /// first and Ctrl-C ending the wait: `Err` is the status that ends the step, its reason in
    /// `result`.
    pub(super) async fn prompt<T: Send + 'static>(
        &mut self,
        ask: impl FnOnce(&dyn super::Confirmer) -> T + Send + 'static,
        waiting_for: &str,
        result: &mut StepResult,
    ) -> Result<Option<T>, StepStatus> {
        if let Err(error) = self.journal_sync() {
            result.failures.push(error);
            return Err(StepStatus::Failed);
        }
        let confirmer = self.confirmer.clone();
        let asked = tokio::task::spawn_blocking(move || ask(confirmer.as_ref()));
        let mut interrupt = self.interrupt.clone();
        let answer = tokio::select! {
            answer = asked => answer.ok(),
            _ = interrupt.wait_for(|stop| *stop) => None,
        };
        // Ctrl-C at a hidden prompt ends the read (no answer) at the moment the signal is
        // raised, before the run has heard of it: give the signal a moment to arrive, so that
        // it is told as an interruption, not as a value nobody typed.
        if !*interrupt.borrow() {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        }
        if *interrupt.borrow() {
            result
                .failures
                .push(format!("interrupted while waiting for {waiting_for}"));
            return Err(StepStatus::Interrupted);
        }
        Ok(answer)
    }

    /// Asks the operator a yes/no question about `step` through [`Self::prompt`]; no answer
    /// (the terminal went away) is a no.
    pub(super) async fn ask_yes_no(
        &mut self,
        step: &Step,
        kind: QuestionKind,
        result: &mut StepResult,
    ) -> Result<Answer, StepStatus> {
        // What a Ctrl-C while asking says the run was waiting for.
        let waiting_for = match kind {
            QuestionKind::InDoubt { .. } => "an answer",
            QuestionKind::Irreversible { .. } | QuestionKind::Manual { .. } => "confirmation",
        };
        let question = Question {
            step_id: step.id.clone(),
            title: step.title.clone(),
            kind,
        };
        self.prompt(
            move |confirmer| confirmer.confirm(&question),
            waiting_for,
            result,
        )
        .await
        .map(|answer| answer.unwrap_or(Answer::No))
    }

    /// The operator's `--repeat` (true) or `--skip` (false) for a step, if given.
    fn decision(&self, step: &Step) -> Option<bool> {
        self.durability
            .resume
            .as_ref()
            .and_then(|plan| plan.decisions.get(&step.id).copied())
    }

    /// The operator settles a step (or one `item` of its loop, from 1), with the facts in
    /// front of them: at the terminal, or by `--repeat`/`--skip` on the next resume.
    async fn ask_operator(
        &mut self,
        step: &Step,
        item: Option<usize>,
        facts: String,
        result: &mut StepResult,
    ) -> Settlement {
        if self.context.interactive {
            let kind = QuestionKind::InDoubt {
                facts: facts.clone(),
            };
            let answer = match self.ask_yes_no(step, kind, result).await {
                Ok(answer) => answer,
                Err(status) => return Settlement::Stop(status),
            };
            return match answer {
                Answer::Yes => self.settled_item(step, item, true, "the operator", result),
                Answer::Skip => self.settled_item(step, item, false, "the operator", result),
                Answer::No => {
                    result
                        .failures
                        .push(format!("{facts}; the operator stopped the resume here"));
                    Settlement::Stop(StepStatus::Refused)
                }
            };
        }
        result.failures.push(format!(
            "{facts}. Check by hand, then resume with --repeat {0} (send it again) or --skip {0} (it took effect)",
            step.id
        ));
        Settlement::Stop(StepStatus::Refused)
    }

    fn settled(
        &mut self,
        step: &Step,
        repeat: bool,
        by: &str,
        result: &mut StepResult,
    ) -> Settlement {
        self.settled_item(step, None, repeat, by, result)
    }

    /// Journals how a step, or one `item` of its loop (from 1), was settled: `Run` to send it
    /// again, `Done` when it took effect.
    fn settled_item(
        &mut self,
        step: &Step,
        item: Option<usize>,
        repeat: bool,
        by: &str,
        result: &mut StepResult,
    ) -> Settlement {
        let decision = if repeat { "repeat" } else { "skip" };
        let decision = match item {
            Some(item) => format!("{decision} item {item}"),
            None => decision.to_string(),
        };
        if let Err(error) = self.journal(
            Record::Settled {
                step: step.id.clone(),
                decision,
                by: by.into(),
            },
            true,
        ) {
            result.failures.push(error);
            return Settlement::Stop(StepStatus::Failed);
        }
        if repeat {
            Settlement::Run
        } else {
            Settlement::Done(format!("took effect before the crash ({by}): not repeated"))
        }
    }

    /// Whether the audit file already has this run's record for the step's action.
    fn audit_recorded(&self, step: &Step) -> bool {
        let Action::Audit(audit) = &step.action else {
            return false;
        };
        let scope = self.values.scope();
        let file = match &audit.file {
            Some(file) => match file.render(&self.runbook.templates, &scope) {
                Ok(file) => std::path::PathBuf::from(file),
                Err(_) => return false,
            },
            None => self.context.state_dir.join("audit.jsonl"),
        };
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .any(|record| {
                record["run_id"] == self.context.run_id.as_str()
                    && record["action"] == audit.action.as_str()
            })
    }
}

/// A request as the journal and the in-doubt facts name it: method and URL, masked.
pub(super) fn describe_request(method: Method, url: &str) -> String {
    format!("{} {url}", method.as_str())
}

/// Whether sending a step again cannot hurt: it only reads, it sets values in secret stores
/// (every provider sets values), it is a manual step, or its runbook says so (`resume: repeat`).
fn repeating_is_harmless(step: &Step) -> bool {
    let by_kind = match &step.action {
        Action::Http(request) => request.read_only,
        Action::Propagate(_) | Action::Manual(_) => true,
        Action::Audit(_) => false,
    };
    by_kind || matches!(step.resume, Some(Resume::Repeat))
}
