//! The old side of `runbook diff --git REV FILE`: FILE as it was at REV, read with
//! `git show REV:./NAME` run in FILE's directory, so the path is relative to the repository
//! that holds FILE whatever the current directory.

use std::path::Path;
use std::process::Command;

use super::Problem;
use crate::exit;

/// The text of `file` at `revision`.
pub fn show(revision: &str, file: &Path) -> Result<String, Problem> {
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
        return Err(Problem::new(
            exit::INVALID_RUNBOOK,
            format!(
                "runbook diff: {shown} is not in a git repository, so it has no version at {revision}\n"
            ),
        ));
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
    let content = git(directory, &["show", &relative])?;
    if !content.success {
        return Err(Problem::new(
            exit::INVALID_RUNBOOK,
            format!(
                "runbook diff: {shown} does not exist at revision `{revision}`: {}\n",
                content.stderr.trim().trim_start_matches("fatal: ")
            ),
        ));
    }
    Ok(content.stdout)
}

struct Ran {
    success: bool,
    stdout: String,
    stderr: String,
}

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
