//! The command line: one subcommand per verb, each with `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit;

#[derive(Debug, Parser)]
#[command(
    name = "runbook",
    version,
    about = "Run standard operating procedures written as YAML runbooks: plan them, run them, never leak a secret.",
    after_help = exit::TABLE,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// When to use colours.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate runbook files: syntax, names, templates, JSONPaths, regexes.
    #[command(after_help = exit::TABLE)]
    Check(CheckArgs),
    /// Show what `exec` would do, step by step, without touching the network.
    #[command(after_help = exit::TABLE)]
    Plan(RunArgs),
    /// Run a runbook.
    #[command(after_help = exit::TABLE)]
    Exec(ExecArgs),
    /// Continue a run that stopped (crashed, interrupted, failed) from its first unfinished step.
    #[command(after_help = exit::TABLE)]
    Resume(ResumeArgs),
    /// List the runs in the state directory with their state.
    Runs(StateArgs),
    /// Show one run's steps and results, from its journal.
    Show(ShowArgs),
    /// Print a sealed capture of a run, to a terminal only, for an operator who must finish by hand.
    Recover(RecoverArgs),
    /// Create the key that seals shown-once secrets into run journals (an age identity).
    Keygen(KeygenArgs),
    /// Print the JSON Schema of the runbook format.
    Schema,
    /// Serve a local emulator of every API the shipped runbooks call, on 127.0.0.1.
    Emulator(EmulatorArgs),
    /// Print shell completions.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    // Reviewer verbs: what a runbook says, and what a change to it changes.
    /// Write a runbook as a Markdown SOP, with copy-pasteable curl commands.
    #[command(after_help = RENDER_HELP)]
    Render(RenderArgs),
    /// Show what a change to a runbook changes, in Markdown, for a pull request.
    #[command(
        after_help = DIFF_HELP,
        override_usage = "runbook diff [OPTIONS] OLD NEW\n       runbook diff [OPTIONS] --git REV FILE"
    )]
    Diff(DiffArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Runbook files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// How to print the findings.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Fail (exit 3) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The runbook file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Set an input (repeatable). Secret inputs cannot be set here: use their environment variables.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_pair)]
    pub vars: Vec<(String, String)>,
    /// Point a service at another base URL (repeatable), e.g. staging or a local emulator.
    #[arg(long = "service", value_name = "NAME=URL", value_parser = parse_pair)]
    pub services: Vec<(String, String)>,
    /// Print human text or one JSON event per line.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Confirm irreversible and manual steps without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Start the local emulator in-process and point every service and credential at it.
    #[arg(long)]
    pub emulate: bool,
    /// Where runs keep their records (the audit log by default). Default: $RUNBOOK_STATE_DIR,
    /// else $XDG_STATE_HOME/runbook, else ~/.local/state/runbook.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Who runs it, for the audit record. Default: $RUNBOOK_ACTOR, else the OS user.
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
    #[command(flatten)]
    pub durable: DurableArgs,
}

/// Flags of the journal, the lock and the clock, shared by `exec` and `resume`.
#[derive(Debug, Args)]
pub struct DurableArgs {
    /// Seal shown-once secrets to this age recipient (age1…), whatever the environment says.
    /// Default: $RUNBOOK_SEAL_PASSPHRASE, $RUNBOOK_SEAL_RECIPIENT, or the key `runbook keygen`
    /// made, in that order.
    #[arg(long, value_name = "RECIPIENT")]
    pub seal_to: Option<String>,
    /// Do not keep a journal (no resume; refused for runbooks with shown-once secrets).
    #[arg(long)]
    pub no_journal: bool,
    /// Break the lock another run holds on this rotation (journaled).
    #[arg(long)]
    pub force_unlock: bool,
    /// Stop the run if it takes longer than this (`30m`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub deadline: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// The state directory. Default: $RUNBOOK_STATE_DIR, else $XDG_STATE_HOME/runbook, else
    /// ~/.local/state/runbook.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Print human text or JSON lines.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The run to continue (`runbook runs` lists them).
    #[arg(value_name = "RUN")]
    pub run: String,
    #[command(flatten)]
    pub state: StateArgs,
    /// Continue even though the runbook file changed since the run started.
    #[arg(long)]
    pub allow_changed: bool,
    /// Confirm irreversible and manual steps without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// A step a crash left in doubt: send its request again (repeatable).
    #[arg(long, value_name = "STEP")]
    pub repeat: Vec<String>,
    /// A step a crash left in doubt: it took effect, do not send it again (repeatable).
    #[arg(long, value_name = "STEP")]
    pub skip: Vec<String>,
    /// Point a service at another base URL than the run used (repeatable).
    #[arg(long = "service", value_name = "NAME=URL", value_parser = parse_pair)]
    pub services: Vec<(String, String)>,
    #[command(flatten)]
    pub durable: DurableArgs,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run to show.
    #[arg(value_name = "RUN")]
    pub run: String,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The run.
    #[arg(value_name = "RUN")]
    pub run: String,
    /// The capture to print.
    #[arg(long, value_name = "NAME")]
    pub capture: String,
    /// The state directory.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the identity. Default: $RUNBOOK_IDENTITY, else
    /// $XDG_CONFIG_HOME/runbook/identity.txt, else ~/.config/runbook/identity.txt.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace an existing identity (runs sealed to it can then no longer be resumed).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// The port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// How long a Heroku app restarts after a config change (its health checks fail meanwhile).
    #[arg(long, default_value = "1500ms", value_parser = parse_duration)]
    pub restart_window: std::time::Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::runbook::check::parse_duration(text)
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("expected NAME=VALUE, got `{text}`")),
    }
}

// Reviewer verbs: `render` and `diff`.

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The runbook file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Write the SOP to this file instead of stdout.
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// OLD NEW: two runbook files. With --git: one FILE, compared with its version at REV.
    #[arg(value_name = "FILE", required = true, num_args = 1..=2)]
    pub files: Vec<PathBuf>,
    /// Compare FILE as it is now with FILE at this git revision (HEAD, main, a commit).
    #[arg(long = "git", value_name = "REV")]
    pub git: Option<String>,
    /// Markdown for a pull request comment, or JSON for tools.
    #[arg(long, value_enum, default_value_t = DiffFormat::Markdown)]
    pub format: DiffFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Markdown,
    Json,
}

const RENDER_HELP: &str = "\
Every input, var and capture is shown as a shell variable ($CF_ACCESS_MGMT), never a value;
service URLs are substituted. The output is deterministic: commit it next to the runbook.

Examples:
  runbook render runbooks/cloudflare-user-api-token.yaml
  runbook render runbooks/cloudflare-user-api-token.yaml -o docs/cloudflare-user-api-token.md

Exit codes:
  0    the SOP was written
  3    the runbook file is missing, unreadable or invalid
  4    --out names no place for it: a directory, a device, the runbook itself, a missing
       directory, or one that may not be written
  6    the output cannot be written (stdout is full or closed)";

const DIFF_HELP: &str = "\
Compares meaning, not text: reindenting, reordering keys, quoting and comments change nothing.
Steps that lost their confirmation (no longer irreversible or manual), service URLs that
changed and secrets that newly reach a URL, a query, manual text, a rollback note or an audit
record are listed first, under \"Needs attention\".

Examples:
  runbook diff old.yaml new.yaml
  runbook diff --git main runbooks/cloudflare-access-service-token.yaml
  runbook diff --git HEAD~1 runbooks/cloudflare-user-api-token.yaml --format json

Exit codes:
  0    compared (whether or not anything changed: the diff is information)
  2    usage error (two files without --git, one with it)
  3    a file is missing or invalid, or the revision or path does not exist in git
  6    git cannot be run";
