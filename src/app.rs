//! The verbs: what each subcommand does with the library, and which exit code it ends with.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Arc;

use clap::CommandFactory;

use crate::cli::{CheckArgs, Cli, ColorChoice, Command, EmulatorArgs, ExecArgs, Format, RunArgs};
use crate::cli::{DiffArgs, DiffFormat, RenderArgs};
use crate::diagnostic::Diagnostics;
use crate::emulator::{Emulator, EmulatorConfig};
use crate::exit;
use crate::plan;
use crate::report::Output;
use crate::report::human::render_plan;
use crate::report::json::emit;
use crate::report::terminal::TerminalPrompter;
use crate::run::context::Environment;
use crate::run::{self, Context, Mode};
use crate::runbook::{self, Runbook};
use crate::secret::ExposeSecret;
use crate::secret::Redactor;

/// Runs one command line. `environment` is the process environment, read once by `main`.
pub fn main(cli: Cli, environment: Environment, redactor: Arc<Redactor>) -> u8 {
    let env = &environment.vars;
    let color_out = use_color(cli.color, std::io::stdout().is_terminal(), env);
    let color_err = use_color(cli.color, std::io::stderr().is_terminal(), env);
    let mut output = Output::terminal(redactor.clone(), color_out);
    let run = matches!(cli.command, Command::Exec(_) | Command::Resume(_));
    if run {
        output = output.warning_when_stdout_fails();
    }
    let code = match cli.command {
        Command::Check(args) => check(&args, &output, color_err),
        Command::Plan(args) => plan(&args, environment, redactor, &output, color_err),
        Command::Exec(args) => exec(args, environment, redactor, &output, color_err),
        Command::Schema => {
            output.out(&runbook::schema::schema_json());
            exit::OK
        }
        Command::Emulator(args) => emulator(&args, &output),
        Command::Resume(args) => {
            crate::operate::resume(args, environment, redactor, &output, color_err)
        }
        Command::Runs(args) => crate::operate::list(&args, env, &output),
        Command::Show(args) => crate::operate::show(&args, env, &output),
        Command::Recover(args) => crate::operate::recover(&args, env, &output),
        Command::Keygen(args) => crate::operate::keygen(&args, env, &output),
        Command::Completions { shell } => {
            let mut buffer = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "runbook", &mut buffer);
            output.out(&String::from_utf8_lossy(&buffer));
            exit::OK
        }
        Command::Render(args) => render(&args, &output, color_err),
        Command::Diff(args) => diff(&args, &output, color_err),
    };
    if run {
        code
    } else {
        fail_on_lost_output(code, &output)
    }
}

/// The exit code of a verb whose output could not all be written to stdout (a full disk, a
/// file it may not write): a script must not take a truncated schema, plan or list for a whole
/// one. The verb's own failure code stands; a success becomes [`exit::INTERNAL`], with the
/// reason on stderr. A reader that went away (`runbook runs | head -1`) took what it wanted:
/// that is no failure, and says nothing, as `ls | head -1` does.
fn fail_on_lost_output(code: u8, output: &Output) -> u8 {
    let Some((reason, closed)) = output.stdout_failure() else {
        return code;
    };
    if closed {
        return code;
    }
    output.err(&format!("runbook: cannot write the output: {reason}\n"));
    if code == exit::OK {
        exit::INTERNAL
    } else {
        code
    }
}

fn use_color(choice: ColorChoice, terminal: bool, env: &HashMap<String, String>) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            terminal
                && !env.contains_key("NO_COLOR")
                && env.get("TERM").is_none_or(|term| term != "dumb")
        }
    }
}

fn check(args: &CheckArgs, output: &Output, color: bool) -> u8 {
    let mut valid = 0;
    for file in &args.files {
        let result = runbook::load(file);
        // Warnings, as diagnostics of the file: they are reported like errors, but do not fail
        // the check unless --deny-warnings.
        let warnings = result.as_ref().ok().map(|runbook| Diagnostics {
            source: runbook.source.clone(),
            items: runbook.warnings.clone(),
        });
        let warned = warnings
            .as_ref()
            .is_some_and(|warnings| !warnings.items.is_empty());
        let passed = result.is_ok() && !(args.deny_warnings && warned);
        match args.format {
            Format::Json => {
                let diagnostics = match (&result, &warnings) {
                    (Err(diagnostics), _) => diagnostics.to_json(),
                    (Ok(_), Some(warnings)) => warnings.to_json(),
                    (Ok(_), None) => Vec::new(),
                };
                emit(
                    output,
                    &serde_json::json!({
                        "file": file.display().to_string(),
                        "valid": passed,
                        "diagnostics": diagnostics,
                    }),
                );
            }
            Format::Text => match &result {
                Ok(runbook) => {
                    if let Some(warnings) = warnings.as_ref().filter(|_| warned) {
                        output.err(&warnings.render(color));
                    }
                    let count = runbook.warnings.len();
                    let noted = match count {
                        0 => String::new(),
                        1 => ", 1 warning".into(),
                        _ => format!(", {count} warnings"),
                    };
                    output.out(&format!(
                        "{}  {} ({} step{}{noted})\n",
                        if passed { "ok" } else { "FAILED" },
                        file.display(),
                        runbook.steps.len(),
                        if runbook.steps.len() == 1 { "" } else { "s" }
                    ));
                }
                Err(diagnostics) => output.err(&diagnostics.render(color)),
            },
        }
        if passed {
            valid += 1;
        }
        // A checked runbook is a large tree of small allocations; the process is about to
        // exit, so let the OS reclaim it instead of freeing it piece by piece.
        std::mem::forget(result);
    }
    if args.format == Format::Text && args.files.len() > 1 {
        output.out(&format!("{valid} of {} files valid\n", args.files.len()));
    }
    if valid == args.files.len() {
        exit::OK
    } else {
        exit::INVALID_RUNBOOK
    }
}

/// Prints diagnostics the way the chosen output format wants them.
fn report_diagnostics(diagnostics: &Diagnostics, format: Format, output: &Output, color: bool) {
    if format == Format::Json {
        emit(
            output,
            &serde_json::json!({"event": "error", "diagnostics": diagnostics.to_json()}),
        );
    }
    output.err(&diagnostics.render(color));
}

fn load(args: &RunArgs, output: &Output, color: bool) -> Result<Runbook, u8> {
    runbook::load(&args.file).map_err(|diagnostics| {
        report_diagnostics(&diagnostics, args.output, output, color);
        exit::INVALID_RUNBOOK
    })
}

fn context(args: &RunArgs, environment: Environment, redactor: Arc<Redactor>) -> Context {
    let mut context = Context::from_environment(environment, redactor);
    context.vars = args.vars.clone();
    context.services = args.services.clone();
    context.interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    context
}

fn plan(
    args: &RunArgs,
    environment: Environment,
    redactor: Arc<Redactor>,
    output: &Output,
    color: bool,
) -> u8 {
    let runbook = match load(args, output, color) {
        Ok(runbook) => runbook,
        Err(code) => return code,
    };
    let context = context(args, environment, redactor);
    let binding = match run::bind(&runbook, &context, Mode::Plan, None) {
        Ok(binding) => binding,
        Err(diagnostics) => {
            report_diagnostics(&diagnostics, args.output, output, color);
            return exit::INPUT;
        }
    };
    let plan = plan::plan(&runbook, &binding);
    match args.output {
        Format::Text => output.out(&render_plan(&plan, output)),
        Format::Json => {
            emit(
                output,
                &serde_json::json!({
                    "event": "plan",
                    "runbook": plan.runbook,
                    "title": plan.title,
                    "file": plan.file,
                    "digest": plan.digest,
                    "inputs": plan.inputs,
                    "services": plan.services,
                }),
            );
            for step in &plan.steps {
                let mut event = serde_json::to_value(step).unwrap_or_default();
                if let Some(object) = event.as_object_mut() {
                    object.insert("event".into(), "plan_step".into());
                }
                emit(output, &event);
            }
        }
    }
    exit::OK
}

fn exec(
    args: ExecArgs,
    environment: Environment,
    redactor: Arc<Redactor>,
    output: &Output,
    color: bool,
) -> u8 {
    let runbook = match load(&args.run, output, color) {
        // The process exits right after the run: freeing a large runbook piece by piece would
        // only delay the exit.
        Ok(runbook) => std::mem::ManuallyDrop::new(runbook),
        Err(code) => return code,
    };
    let runtime = match crate::operate::runtime(output) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let code = runtime.block_on(async {
        let mut context = context(&args.run, environment, redactor);
        context.assume_yes = args.yes;
        if let Some(state_dir) = &args.state_dir {
            context.state_dir = state_dir.clone();
        } else if args.emulate {
            // A rehearsal keeps its journal, lock and audit record apart from real runs': a
            // failed one must never hold up a real rotation, nor read as one in the audit log.
            context.state_dir = crate::run::context::rehearsal_dir(&context.state_dir);
        }
        if let Some(actor) = &args.actor {
            context.actor = actor.clone();
        }
        context.deadline = args.durable.deadline;
        // Kept alive for the whole run: dropping it stops the emulator.
        let _emulator = if args.emulate {
            match emulate(&runbook, &mut context, output).await {
                Ok(emulator) => Some(emulator),
                Err(code) => return code,
            }
        } else {
            None
        };
        let prompter = TerminalPrompter::new(output.clone());
        let prompter: Option<&dyn run::Prompter> = context.interactive.then_some(&prompter as _);
        let binding = match run::bind(&runbook, &context, Mode::Exec, prompter) {
            Ok(binding) => binding,
            Err(diagnostics) => {
                report_diagnostics(&diagnostics, args.run.output, output, color);
                return exit::INPUT;
            }
        };
        let options = crate::session::Options {
            no_journal: args.durable.no_journal,
            seal_to: args.durable.seal_to.clone(),
            force_unlock: args.durable.force_unlock,
            emulated: args.emulate,
        };
        let session = match crate::session::start(&runbook, &context, &binding, &options) {
            Ok(session) => session,
            Err(refusal) => return crate::operate::refused(refusal, output),
        };
        crate::operate::execute(
            &runbook,
            &context,
            binding,
            session,
            args.run.output,
            output,
        )
        .await
    });
    crate::operate::leave(runtime);
    code
}

/// `exec --emulate`: starts the emulator and points the run at it. Its credentials replace the
/// environment's (a real token must never be sent to a local fake); `--service` still wins.
async fn emulate(
    runbook: &Runbook,
    context: &mut Context,
    output: &Output,
) -> Result<Emulator, u8> {
    let emulator = match Emulator::start(EmulatorConfig::default()).await {
        Ok(emulator) => emulator,
        Err(error) => {
            output.err(&format!("runbook: cannot start the emulator: {error}\n"));
            return Err(exit::INTERNAL);
        }
    };
    let served: HashMap<&str, String> = emulator.service_urls().into_iter().collect();
    let overridden = |name: &str| context.services.iter().any(|(given, _)| given == name);
    let unknown: Vec<&str> = runbook
        .services
        .keys()
        .map(String::as_str)
        .filter(|name| !served.contains_key(name) && !overridden(name))
        .collect();
    if !unknown.is_empty() {
        output.err(&format!(
            "runbook: --emulate: the emulator does not serve {}; point {} elsewhere with --service NAME=URL\n",
            unknown.join(", "),
            if unknown.len() == 1 { "it" } else { "them" }
        ));
        return Err(exit::INPUT);
    }
    let added: Vec<(String, String)> = served
        .iter()
        .filter(|(name, _)| runbook.services.contains_key(**name) && !overridden(name))
        .map(|(name, url)| (name.to_string(), url.clone()))
        .collect();
    context.services.extend(added);
    // A URL written out in full (`https://api.cloudflare.com/…`) would reach the real service,
    // with whatever credential the environment holds: only the services are reachable.
    context.reachable = Some(
        context
            .services
            .iter()
            .filter_map(|(_, url)| reqwest::Url::parse(url).ok())
            .map(|url| url.origin().ascii_serialization())
            .collect(),
    );
    // Which of these are secrets is the runbook's call (its `secret:` inputs), as with real
    // environment variables: account and token ids must stay readable in the output.
    for (name, value) in emulator.credentials() {
        context.env.insert(name, value.expose_secret().to_string());
    }
    output.err(&format!(
        "runbook: emulating every service at {} (fake credentials; nothing real is touched); the run's journal and audit record go to {}\n",
        emulator.url(),
        context.state_dir.display()
    ));
    Ok(emulator)
}

fn emulator(args: &EmulatorArgs, output: &Output) -> u8 {
    let runtime = match crate::operate::runtime(output) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let config = EmulatorConfig {
        port: args.port,
        restart_window: args.restart_window,
    };
    match runtime.block_on(crate::emulator::run_standalone(config)) {
        Ok(()) => exit::OK,
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
            output.err(&format!(
                "runbook: cannot listen on 127.0.0.1:{}: another program uses that port; pick another with --port, or --port 0 for any free one\n",
                args.port
            ));
            exit::INTERNAL
        }
        Err(error) => {
            output.err(&format!("runbook: the emulator stopped: {error}\n"));
            exit::INTERNAL
        }
    }
}

// Reviewer verbs: `render` and `diff`.

fn render(args: &RenderArgs, output: &Output, color: bool) -> u8 {
    // Before anything is read: a path that cannot take the SOP is the user's to fix.
    if let Some(path) = &args.out
        && let Err(problem) = check_render_out(path, &args.file)
    {
        output.err(&format!("runbook: {problem}\n"));
        return exit::INPUT;
    }
    let runbook = match runbook::load_structure(&args.file) {
        Ok(runbook) => runbook,
        Err(diagnostics) => {
            output.err(&diagnostics.render(color));
            return exit::INVALID_RUNBOOK;
        }
    };
    let sop = crate::render::render(&runbook);
    let Some(path) = &args.out else {
        output.out(&sop);
        return exit::OK;
    };
    // The file is a sink like the terminal: masked the same way.
    match std::fs::write(path, output.redactor().redact(&sop).as_bytes()) {
        Ok(()) => {
            output.err(&format!("runbook: wrote {}\n", path.display()));
            exit::OK
        }
        Err(error) => {
            output.err(&format!("runbook: {}\n", cannot_write(path, &error)));
            // A path the user can fix is an input error; a full disk or an I/O error is not.
            match error.kind() {
                std::io::ErrorKind::NotFound
                | std::io::ErrorKind::NotADirectory
                | std::io::ErrorKind::PermissionDenied
                | std::io::ErrorKind::IsADirectory
                | std::io::ErrorKind::ReadOnlyFilesystem => exit::INPUT,
                _ => exit::INTERNAL,
            }
        }
    }
}

/// Refuses an `--out` path that is not a regular file to write (a directory, a FIFO that
/// would block with no reader, a device), or that is the runbook itself, which the SOP would
/// replace.
fn check_render_out(out: &std::path::Path, file: &std::path::Path) -> Result<(), String> {
    let Ok(metadata) = std::fs::metadata(out) else {
        return Ok(());
    };
    let suggestion = file
        .file_stem()
        .map_or_else(|| "sop".into(), |stem| stem.to_string_lossy().into_owned())
        + ".md";
    if metadata.is_dir() {
        return Err(format!(
            "cannot write {}: it is a directory; give --out the path of a file, e.g. {}",
            out.display(),
            out.join(suggestion).display()
        ));
    }
    if !metadata.is_file() {
        return Err(format!(
            "cannot write {}: it is {}, not a regular file; give --out the path of a file, or leave --out out to print the SOP",
            out.display(),
            crate::files::kind_of(&metadata.file_type())
        ));
    }
    if crate::files::same_file(out, file) {
        return Err(format!(
            "cannot write {}: it is the runbook being rendered, and the SOP would replace it; give --out another file, e.g. {suggestion}",
            out.display()
        ));
    }
    Ok(())
}

/// Why a file could not be written, and what to do.
fn cannot_write(path: &std::path::Path, error: &std::io::Error) -> String {
    let parent = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    match error.kind() {
        std::io::ErrorKind::NotFound => format!(
            "cannot write {}: the directory {} does not exist; create it, or give a path in an existing directory",
            path.display(),
            parent.display()
        ),
        std::io::ErrorKind::NotADirectory => format!(
            "cannot write {}: {} is not a directory; give a path in an existing directory",
            path.display(),
            parent.display()
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "cannot write {}: permission denied; give a path you may write",
            path.display()
        ),
        _ => format!(
            "cannot write {}: {}",
            path.display(),
            crate::files::reason(error)
        ),
    }
}

fn diff(args: &DiffArgs, output: &Output, color: bool) -> u8 {
    let old = match (&args.git, args.files.as_slice()) {
        (None, [old, _]) => crate::diff::Old::File(old),
        (Some(revision), [file]) => crate::diff::Old::Git { revision, file },
        (None, _) => {
            output.err("runbook diff: give two files, OLD and NEW, or --git REV and one FILE\n");
            return exit::USAGE;
        }
        (Some(_), _) => {
            output.err(
                "runbook diff: with --git REV, give one FILE (compared with its version at REV)\n",
            );
            return exit::USAGE;
        }
    };
    let new = &args.files[args.files.len() - 1];
    let (old, new) = match crate::diff::load(old, new, color) {
        Ok(pair) => pair,
        Err(problem) => {
            output.err(&problem.message);
            return problem.code;
        }
    };
    let comparison = crate::diff::compare(&old, &new);
    match args.format {
        DiffFormat::Markdown => output.out(&crate::diff::markdown(&comparison)),
        DiffFormat::Json => emit(output, &comparison),
    }
    exit::OK
}
