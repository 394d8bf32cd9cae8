//! `runbook diff`: what a change to a runbook changes, for the reviewer of a pull request.
//!
//! Both versions are checked into the validated model first, so the comparison sees meaning
//! only: reindenting, reordering keys, quoting, comments and flow or block style are gone
//! before it starts. What matters most comes first: steps that lost their confirmation, new
//! irreversible steps, secrets newly headed for a URL or a note, service URLs that changed.

mod action_fields;
mod compare;
mod comparison;
mod fields;
mod git;
mod items;
mod markdown;

use std::path::Path;

pub use compare::compare;
pub use comparison::Comparison;
pub use markdown::markdown;

use crate::exit;
use crate::runbook::{self, Runbook};

/// Where the old version comes from.
pub enum Old<'a> {
    File(&'a Path),
    Git { revision: &'a str, file: &'a Path },
}

/// Why a comparison could not be made: the message to print, and the exit code.
#[derive(Debug)]
pub struct Problem {
    pub code: u8,
    pub message: String,
}

impl Problem {
    pub fn new(code: u8, message: String) -> Problem {
        Problem { code, message }
    }
}

/// Loads and checks both versions. When both are invalid, both sets of diagnostics are given.
pub fn load(old: Old, new: &Path, color: bool) -> Result<(Runbook, Runbook), Problem> {
    let old = match old {
        Old::File(path) => runbook::load_structure(path),
        Old::Git { revision, file } => {
            let bytes = git::show(revision, file, runbook::MAX_FILE_BYTES)?;
            // Diagnostics name the old version as `REV:FILE`, as git does.
            let label = format!("{revision}:{}", file.display());
            let label = Path::new(&label);
            match bytes {
                Some(bytes) => runbook::structure_from_bytes(label, bytes),
                None => Err(runbook::load::too_large(
                    label,
                    "longer than the limit".into(),
                )),
            }
        }
    };
    let new = runbook::load_structure(new);
    match (old, new) {
        (Ok(old), Ok(new)) => Ok((old, new)),
        (old, new) => {
            let mut message = String::new();
            for diagnostics in [old.err(), new.err()].into_iter().flatten() {
                message.push_str(&diagnostics.render(color));
            }
            Err(Problem::new(exit::INVALID_RUNBOOK, message))
        }
    }
}
