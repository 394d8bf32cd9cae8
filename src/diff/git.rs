//! The old side of `runbook diff --git REV FILE`: FILE as it was at REV, read with
//! `git cat-file blob REV:./NAME` run in FILE's directory, so the path is relative to the
//! repository that holds FILE whatever the current directory. The blob's bytes are read as
//! they are stored (no textconv, no filters) and no more of them than a runbook file may hold.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use super::Problem;
use crate::exit;

/// The bytes of `file` at `revision`; `Ok(None)` when they are more than `limit`.
pub fn show(revision: &str, file: &Path, limit: u64) -> Result<Option<Vec<u8>>, Problem> {
    let directory = match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let Some(name) = file.file_name() else {
        return Err(Problem::new(
            exit::INVALID_RUNBOOK,
            format!("runbook diff: `{}` is not a file name\n", file.display()),
        ));
    };
    let shown = file.display();
    if !directory.is_dir() {
        return Err(Problem::new(
            exit::INVALID_RUNBOOK,
            format!(
                "runbook diff: cannot read {shown} at {revision}: the directory {} does not exist\n",
                directory.display()
            ),
        ));
    }
    if revision.starts_with('-') {
        return Err(Problem::new(
            exit::USAGE,
            format!("runbook diff: `{revision}` is not a revision\n"),
        ));
    }
    let repository = git(directory, &["rev-parse", "--show-toplevel"])?;
    if !repository.success {
        let said = repository.stderr.trim();
        // Any other refusal is git's to word: a repository another user owns ("dubious
        // ownership") is one, and is not "no repository".
        let message = if said.is_empty() || said.contains("not a git repository") {
            format!(
                "runbook diff: {shown} is not in a git repository, so it has no version at {revision}\n"
            )
        } else {
            let mut lines = said.lines().map(str::trim).filter(|line| !line.is_empty());
            let first = lines
                .next()
                .unwrap_or_default()
                .trim_start_matches("fatal: ");
            let remedy = lines
                .find(|line| line.starts_with("git config"))
                .map(|line| format!("; if you trust it: `{line}`"))
                .unwrap_or_default();
            format!("runbook diff: git cannot read the repository of {shown}: {first}{remedy}\n")
        };
        return Err(Problem::new(exit::INVALID_RUNBOOK, message));
    }
    let commit = git(
        directory,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{revision}^{{commit}}"),
        ],
    )?;
    if !commit.success {
        return Err(Problem::new(
            exit::INVALID_RUNBOOK,
            format!(
                "runbook diff: the revision `{revision}` does not exist in the repository of {shown} ({})\n",
                repository.stdout.trim()
            ),
        ));
    }
    let relative = format!("{revision}:./{}", name.to_string_lossy());
    let blob = blob(directory, &relative, limit)?;
    if !blob.success {
        return Err(Problem::new(
            exit::INVALID_RUNBOOK,
            format!(
                "runbook diff: {shown} does not exist at revision `{revision}`: {}\n",
                blob.stderr.trim().trim_start_matches("fatal: ")
            ),
        ));
    }
    Ok(blob.bytes)
}

struct Blob {
    success: bool,
    /// `None` when the blob is longer than the limit.
    bytes: Option<Vec<u8>>,
    stderr: String,
}

/// Reads a blob, stopping after `limit` bytes: an old revision may hold a file of any size.
fn blob(directory: &Path, object: &str, limit: u64) -> Result<Blob, Problem> {
    let cannot_run = |error: std::io::Error| {
        Problem::new(
            exit::INTERNAL,
            format!("runbook diff: cannot run git: {error}\n"),
        )
    };
    let mut child = Command::new("git")
        .arg("-C")
        .arg(directory)
        .args(["cat-file", "blob", object])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(cannot_run)?;
    let bytes = match child.stdout.take() {
        Some(stdout) => crate::files::read_bounded(stdout, limit, 0).map_err(cannot_run)?,
        None => Some(Vec::new()),
    };
    if bytes.is_none() {
        // The rest is not wanted: stop git rather than read it to the end.
        let _ = child.kill();
    }
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let mut raw = Vec::new();
        let _ = pipe.by_ref().take(64 * 1024).read_to_end(&mut raw);
        stderr = String::from_utf8_lossy(&raw).into_owned();
    }
    let status = child.wait().map_err(cannot_run)?;
    Ok(Blob {
        success: bytes.is_none() || status.success(),
        bytes,
        stderr,
    })
}

struct Ran {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs a git command whose answer is a line or two (`rev-parse`).
fn git(directory: &Path, arguments: &[&str]) -> Result<Ran, Problem> {
    let output = Command::new("git")
        .arg("-C")
        .arg(directory)
        .args(arguments)
        .output()
        .map_err(|error| {
            Problem::new(
                exit::INTERNAL,
                format!("runbook diff: cannot run git: {error}\n"),
            )
        })?;
    Ok(Ran {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}
