//! The verbs of durable runs: running a session (for `exec` and `resume`), resuming, listing
//! and showing runs, recovering a sealed capture by hand, and creating the sealing key.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Arc;

use crate::cli::{Format, KeygenArgs, RecoverArgs, ResumeArgs, ShowArgs, StateArgs};
use crate::exit;
use crate::journal::runs;
use crate::journal::seal::{self, Opener};
use crate::report::Output;
use crate::report::human::HumanReporter;
use crate::report::json::{JsonReporter, emit};
use crate::report::terminal::{TerminalConfirmer, TerminalPrompter};
use crate::run::inputs::Binding;
use crate::run::{self, Context, Mode, Reporter, RunStatus};
use crate::runbook::{self, Runbook};
use crate::secret::{ExposeSecret, Redactor};
use crate::session::{self, Earlier, Options, Session};

/// Runs the steps inside a session and ends it: the lock, the resume hint, the exit code.
pub async fn execute(
    runbook: &Runbook,
    context: &Context,
    binding: Binding,
    session: Session,
    format: Format,
    output: &Output,
) -> u8 {
    for note in &session.notes {
        output.err(&format!("runbook: {note}\n"));
    }
    let mut session = session;
    let durability = std::mem::take(&mut session.durability);
    let mut reporter: Box<dyn Reporter> = match format {
        Format::Text => Box::new(HumanReporter::new(output.clone(), runbook)),
        Format::Json => Box::new(JsonReporter::new(output.clone())),
    };
    let confirmer = Arc::new(TerminalConfirmer::new(output.clone()));
    let interrupt = interrupt_on_signals();
    let journaled = durability.journal.is_some();
    let summary = run::run(
        runbook,
        context,
        binding,
        reporter.as_mut(),
        confirmer,
        interrupt,
        durability,
    )
    .await;
    let completed = summary.status == RunStatus::Completed;
    if let Some(problem) = &summary.journal_problem {
        output.err(&format!("runbook: {problem}\n"));
    }
    let emulated = session.emulated;
    if let Some(note) = session.finish(completed, summary.mutated, journaled) {
        output.err(&format!("runbook: {note}\n"));
    }
    if !completed && emulated && format == Format::Text {
        output.err(
            "runbook: an --emulate rehearsal cannot be resumed (its emulator ended with it): fix what stopped it and run it again\n",
        );
    } else if !completed && journaled && format == Format::Text {
        output.err(&format!(
            "runbook: to continue this run from where it stopped: {}\n",
            session::resume_command(context, &context.run_id)
        ));
    }
    match summary.status {
        RunStatus::Completed => exit::OK,
        RunStatus::Failed => exit::STEP_FAILED,
        RunStatus::Refused => exit::NOT_CONFIRMED,
        RunStatus::Aborted => exit::INTERRUPTED,
    }
}

/// A flag that turns true on Ctrl-C or SIGTERM. The engine stops at the next safe point.
pub fn interrupt_on_signals() -> run::Interrupt {
    let (sender, receiver) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut terminate = match signal(SignalKind::terminate()) {
                Ok(terminate) => terminate,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    let _ = sender.send(true);
                    return;
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        let _ = sender.send(true);
    });
    receiver
}

fn state_dir(args: &StateArgs, env: &HashMap<String, String>) -> std::path::PathBuf {
    args.state_dir
        .clone()
        .unwrap_or_else(|| crate::run::context::default_state_dir(env))
}

/// The single-threaded async runtime every verb that does I/O runs on.
pub(crate) fn runtime(output: &Output) -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            output.err(&format!(
                "runbook: cannot start the async runtime: {error}\n"
            ));
            exit::INTERNAL
        })
}

/// `runbook resume RUN`.
pub fn resume(
    args: ResumeArgs,
    environment: crate::run::context::Environment,
    redactor: Arc<Redactor>,
    output: &Output,
    color: bool,
) -> u8 {
    let mut context = Context::from_environment(environment, redactor);
    context.state_dir = state_dir(&args.state, &context.env);
    context.interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    context.assume_yes = args.yes;
    context.deadline = args.durable.deadline;
    let earlier = match Earlier::load(&context, &args.run) {
        Ok(earlier) => earlier,
        Err(refusal) => {
            output.err(&format!("runbook: {}\n", refusal.message));
            return refusal.code;
        }
    };
    let view = &earlier.view;
    let path = std::path::PathBuf::from(&view.runbook.file);
    let runbook = match runbook::load(&path) {
        Ok(runbook) => runbook,
        Err(diagnostics) => {
            output.err(&diagnostics.render(color));
            return exit::INVALID_RUNBOOK;
        }
    };
    if runbook.source.digest != view.runbook.digest && !args.allow_changed {
        output.err(&format!(
            "runbook: {} changed since run {} started ({} then, {} now); resuming would run steps that may not match what already happened. Check the change, then pass --allow-changed to resume anyway\n",
            path.display(),
            view.run_id,
            view.runbook.digest,
            runbook.source.digest
        ));
        return exit::NOT_CONFIRMED;
    }
    // The run's own clock and id: `today` and names built from it must not change on resume.
    context.run_id = view.run_id.clone();
    if let Ok(started) = view.started_at.parse::<jiff::Timestamp>() {
        context.started_at = started;
    }
    context.actor = view.actor.clone();
    context.vars = earlier.plain_inputs();
    context.services = view
        .services
        .iter()
        .map(|(name, url)| (name.clone(), url.clone()))
        .filter(|(name, _)| runbook.services.contains_key(name))
        .collect();
    context.services.extend(args.services.iter().cloned());
    let prompter = TerminalPrompter::new(output.clone());
    let prompter: Option<&dyn run::Prompter> = context.interactive.then_some(&prompter as _);
    let mut binding = match run::bind(&runbook, &context, Mode::Exec, prompter) {
        Ok(binding) => binding,
        Err(diagnostics) => {
            output.err(&diagnostics.render(color));
            return exit::INPUT;
        }
    };
    let mut decisions: HashMap<String, bool> = HashMap::new();
    for step in &args.repeat {
        decisions.insert(step.clone(), true);
    }
    for step in &args.skip {
        decisions.insert(step.clone(), false);
    }
    let plan = match earlier.restore(&runbook, &context, &mut binding, decisions) {
        Ok(plan) => plan,
        Err(refusal) => {
            output.err(&format!("runbook: {}\n", refusal.message));
            return refusal.code;
        }
    };
    let options = Options {
        no_journal: false,
        seal_to: args.durable.seal_to.clone(),
        force_unlock: args.durable.force_unlock,
        emulated: false,
    };
    let session = match earlier.reopen(&runbook, &context, &options, args.allow_changed, plan) {
        Ok(session) => session,
        Err(refusal) => {
            output.err(&format!("runbook: {}\n", refusal.message));
            return refusal.code;
        }
    };
    output.err(&format!(
        "runbook: resuming run {} ({}, {})\n",
        view.run_id,
        view.runbook.name,
        view.state().describe()
    ));
    let runtime = match runtime(output) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let code = runtime.block_on(execute(
        &runbook,
        &context,
        binding,
        session,
        args.state.output,
        output,
    ));
    leave(runtime);
    code
}

/// Drops the runtime without waiting for its blocking threads: one may still be reading an
/// answer the operator never gave (Ctrl-C at a prompt), and the run is over.
pub(crate) fn leave(runtime: tokio::runtime::Runtime) {
    runtime.shutdown_background();
}

/// `runbook runs`.
pub fn list(args: &StateArgs, env: &HashMap<String, String>, output: &Output) -> u8 {
    let dir = state_dir(args, env);
    let runs = match runs::list(&dir) {
        Ok(runs) => runs,
        Err(error) => {
            output.err(&format!("runbook: {error}\n"));
            return exit::INPUT;
        }
    };
    if args.output == Format::Json {
        for run in &runs {
            match run {
                Ok(run) => emit(
                    output,
                    &serde_json::json!({
                        "run_id": run.run_id,
                        "runbook": run.runbook.name,
                        "file": run.runbook.file,
                        "started_at": run.started_at,
                        "actor": run.actor,
                        "state": run.state().describe(),
                        "resumable": run.state().resumable(),
                    }),
                ),
                Err(error) => emit(output, &serde_json::json!({"error": error})),
            }
        }
        return exit::OK;
    }
    // Rehearsals (`exec --emulate`) keep their runs apart: say where, without listing them.
    let rehearsals = crate::run::context::rehearsal_dir(&dir);
    let rehearsed = runs::run_ids(&rehearsals).map_or(0, |ids| ids.len());
    let rehearsed = (rehearsed > 0).then(|| {
        format!(
            "({rehearsed} --emulate rehearsal(s) are kept apart: runbook runs --state-dir {})\n",
            rehearsals.display()
        )
    });
    if runs.is_empty() {
        output.out(&format!("no runs in {}\n", dir.display()));
        if let Some(rehearsed) = &rehearsed {
            output.out(rehearsed);
        }
        return exit::OK;
    }
    let mut text = String::new();
    for run in runs {
        match run {
            Ok(run) => text.push_str(&format!(
                "{}  {:<34}  {:<14}  {}\n",
                run.run_id,
                run.runbook.name,
                run.actor,
                run.state().describe()
            )),
            Err(error) => text.push_str(&format!("(unreadable) {error}\n")),
        }
    }
    if let Some(rehearsed) = &rehearsed {
        text.push_str(rehearsed);
    }
    output.out(&text);
    exit::OK
}

/// `runbook show RUN`.
pub fn show(args: &ShowArgs, env: &HashMap<String, String>, output: &Output) -> u8 {
    let dir = state_dir(&args.state, env);
    let run = match runs::load(&dir, &args.run) {
        Ok(run) => run,
        Err(error) => {
            output.err(&format!("runbook: {error}\n"));
            return exit::INPUT;
        }
    };
    if args.state.output == Format::Json {
        let steps: Vec<serde_json::Value> = run
            .steps
            .iter()
            .map(|(id, step)| {
                serde_json::json!({
                    "step": id,
                    "status": step.status,
                    "pending": step.pending,
                    "failures": step.failures,
                    "note": step.note,
                    "retries": step.retries,
                    // Positions from 1, as the text shows them.
                    "items_through": step.items_finished.iter().map(|item| item + 1).collect::<Vec<_>>(),
                })
            })
            .collect();
        let captures: Vec<serde_json::Value> = run
            .captures
            .iter()
            .map(|(name, capture)| {
                serde_json::json!({
                    "name": name,
                    "step": capture.step,
                    "secret": capture.secret,
                    "value": if capture.secret { serde_json::Value::Null } else { capture.value.clone().unwrap_or_default() },
                    "sealed": capture.sealed.is_some(),
                    "fingerprint": capture.fingerprint,
                })
            })
            .collect();
        emit(
            output,
            &serde_json::json!({
                "run_id": run.run_id,
                "runbook": run.runbook,
                "started_at": run.started_at,
                "actor": run.actor,
                "host": run.host,
                "state": run.state().describe(),
                "inputs": run.inputs,
                "steps": steps,
                "captures": captures,
                "resumes": run.resumes,
            }),
        );
        return exit::OK;
    }
    let mut text = format!(
        "run {}: {} ({})\nstarted {} by {} on {}; {}\nrunbook {} ({})\n",
        run.run_id,
        run.runbook.name,
        run.state().describe(),
        run.started_at,
        run.actor,
        run.host,
        if run.resumes == 0 {
            "never resumed".to_string()
        } else {
            format!("resumed {} time(s)", run.resumes)
        },
        run.runbook.file,
        run.runbook.digest
    );
    text.push_str("\ninputs:\n");
    for input in &run.inputs {
        let shown = match (&input.value, &input.fingerprint) {
            (Some(value), _) => value.clone(),
            (None, Some(print)) => format!("(secret, fingerprint {print})"),
            _ => "(none)".into(),
        };
        text.push_str(&format!(
            "  {:<24} {shown}  [{}]\n",
            input.name, input.source
        ));
    }
    text.push_str("\nsteps:\n");
    for (id, step) in &run.steps {
        let status = match (&step.status, &step.pending) {
            (_, Some(pending)) => format!("IN DOUBT: sent {pending}, no answer recorded"),
            (Some(status), None) => status.clone(),
            (None, None) => "started".into(),
        };
        text.push_str(&format!("  {id:<28} {status}"));
        if step.retries > 0 {
            text.push_str(&format!("  ({} retries)", step.retries));
        }
        if step.status.as_deref() != Some("ok") && !step.items_finished.is_empty() {
            let items: Vec<String> = step
                .items_finished
                .iter()
                .map(|item| (item + 1).to_string())
                .collect();
            text.push_str(&format!("  (items through: {})", items.join(", ")));
        }
        text.push('\n');
        for failure in &step.failures {
            text.push_str(&format!("      {failure}\n"));
        }
    }
    if !run.captures.is_empty() {
        text.push_str("\ncaptures:\n");
        for (name, capture) in &run.captures {
            let shown = if capture.secret {
                format!(
                    "(secret, fingerprint {}{})",
                    capture.fingerprint.as_deref().unwrap_or("?"),
                    if capture.sealed.is_some() {
                        ", sealed: `runbook recover` prints it"
                    } else {
                        ""
                    }
                )
            } else {
                capture
                    .value
                    .as_ref()
                    .map(|value| value.to_string())
                    .unwrap_or_default()
            };
            text.push_str(&format!("  {name:<24} {shown}  [{}]\n", capture.step));
        }
    }
    output.out(&text);
    exit::OK
}

/// `runbook recover RUN --capture NAME`: the one way a sealed value is ever shown, and only to
/// a person at a terminal who confirmed they mean it.
pub fn recover(args: &RecoverArgs, env: &HashMap<String, String>, output: &Output) -> u8 {
    let dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| crate::run::context::default_state_dir(env));
    if !(std::io::stdout().is_terminal() && std::io::stdin().is_terminal()) {
        output.err("runbook: recover prints a secret, so only to a terminal (stdin and stdout); it refuses to write it to a pipe or a file\n");
        return exit::NOT_CONFIRMED;
    }
    let run = match runs::load(&dir, &args.run) {
        Ok(run) => run,
        Err(error) => {
            output.err(&format!("runbook: {error}\n"));
            return exit::INPUT;
        }
    };
    let Some(capture) = run.captures.get(&args.capture) else {
        let names: Vec<&String> = run.captures.keys().collect();
        output.err(&format!(
            "runbook: run {} has no capture `{}`; its captures: {}\n",
            run.run_id,
            args.capture,
            names
                .iter()
                .map(|name| name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return exit::INPUT;
    };
    if !capture.secret {
        let value = capture
            .value
            .as_ref()
            .map(|value| value.to_string())
            .unwrap_or_default();
        output.out(&format!("{value}\n"));
        return exit::OK;
    }
    let (Some(sealed), Some(sealed_key)) = (&capture.sealed, &run.sealed_run_key) else {
        output.err(&format!(
            "runbook: `{}` was not sealed (no key was set up, or the run completed and its sealed values were removed)\n",
            args.capture
        ));
        return exit::INPUT;
    };
    let keys = match seal::unseal_keys(env) {
        Ok(keys) => keys,
        Err(error) => {
            output.err(&format!("runbook: {error}\n"));
            return exit::INPUT;
        }
    };
    output.err(&format!(
        "WARNING: this prints the secret `{}` of run {} in clear on this terminal.\nMake sure nobody can see the screen and nothing records it, use it to finish by hand, then clear the terminal.\nType yes to print it: ",
        args.capture, run.run_id
    ));
    crate::report::terminal::discard_typed_ahead();
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() || line.trim() != "yes" {
        output.err("runbook: not printed\n");
        return exit::NOT_CONFIRMED;
    }
    let value = match Opener::from_sealed_run_key(sealed_key, &keys)
        .and_then(|opener| opener.open(sealed))
    {
        Ok(value) => value,
        Err(error) => {
            output.err(&format!("runbook: {error}\n"));
            return exit::INPUT;
        }
    };
    // Straight to the terminal: the whole point is to show it, so not through the redactor.
    use std::io::Write as _;
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{}", value.expose_secret());
    let _ = stdout.flush();
    exit::OK
}

/// `runbook keygen`.
pub fn keygen(args: &KeygenArgs, env: &HashMap<String, String>, output: &Output) -> u8 {
    let path = args
        .output
        .clone()
        .or_else(|| {
            env.get("RUNBOOK_IDENTITY")
                .filter(|value| !value.is_empty())
                .map(std::path::PathBuf::from)
        })
        .or_else(|| seal::default_identity_path(env));
    let Some(path) = path else {
        output.err("runbook: no place for the identity: set $HOME or pass --output FILE\n");
        return exit::INPUT;
    };
    match seal::keygen(&path, args.force) {
        Ok(recipient) => {
            output.out(&format!(
                "wrote an age identity to {} (readable only by you)\npublic key: {recipient}\nRuns now seal shown-once secrets to it; keep the file (and a backup) as long as a run may need resuming.\n",
                path.display()
            ));
            exit::OK
        }
        Err(error) => {
            output.err(&format!("runbook: {error}\n"));
            exit::INPUT
        }
    }
}

/// Reports a refusal of the session and returns its exit code.
pub fn refused(refusal: session::Refusal, output: &Output) -> u8 {
    output.err(&format!("runbook: {}\n", refusal.message));
    refusal.code
}
