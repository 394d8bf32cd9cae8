//! Exit codes, by category. Documented in `--help` and the README; scripts rely on them.

/// Everything worked: the files are valid, the plan was printed, the run completed.
pub const OK: u8 = 0;
/// A step failed at run time: an HTTP error, a failed expectation, a capture that found nothing.
pub const STEP_FAILED: u8 = 1;
/// The command line is wrong (unknown flag, missing argument).
pub const USAGE: u8 = 2;
/// A runbook file is missing, unreadable or invalid.
pub const INVALID_RUNBOOK: u8 = 3;
/// An input is missing or invalid, a `--var`/`--service` names nothing in the runbook, the
/// state directory cannot be used (not a directory, not writable, not private), an output path
/// cannot be written (`render --out`, `keygen --output`), or another run holds the lock.
pub const INPUT: u8 = 4;
/// An irreversible or manual step was not confirmed (declined, or no terminal and no `--yes`).
pub const NOT_CONFIRMED: u8 = 5;
/// Something outside the runbook failed: the HTTP client, the terminal, stdout (a full disk,
/// a closed pipe; except for a run, which finishes), a bug.
pub const INTERNAL: u8 = 6;
/// Stopped by Ctrl-C or SIGTERM (128 + SIGINT).
pub const INTERRUPTED: u8 = 130;

/// The table shown in `--help`.
pub const TABLE: &str = "\
Exit codes:
  0    success
  1    a step failed (HTTP error, failed expectation, capture found nothing)
  2    usage error (bad flags or arguments)
  3    a runbook file is missing, unreadable or invalid
  4    an input is missing or invalid, --var/--service names nothing, the state directory or an output path is unusable, or another run holds the lock
  5    an irreversible or manual step was not confirmed
  6    internal error, or stdout cannot be written
  130  interrupted (Ctrl-C or SIGTERM)";
