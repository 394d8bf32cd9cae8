//! The runbook format: the raw model as written, loading it (YAML with spans and a budget),
//! checking it into a validated [`Runbook`], and its JSON Schema.

pub mod check;
pub mod codes;
pub mod lint;
pub mod load;
pub mod model;
mod quick;
pub mod raw;
pub mod schema;
pub mod span;
pub mod split;

use std::path::Path;

pub use load::MAX_FILE_BYTES;
pub use model::Runbook;

use crate::diagnostic::Diagnostics;

/// Reads, parses and checks a runbook file.
pub fn load(path: &Path) -> Result<Runbook, Diagnostics> {
    let (source, raw) = load::load_file(path)?;
    check::check(source, raw)
}

/// Parses and checks runbook text (tests, benchmarks).
pub fn from_text(path: &Path, text: &str) -> Result<Runbook, Diagnostics> {
    let source = load::source_from_bytes(path, text.as_bytes().to_vec())?;
    let raw = load::parse(&source)?;
    check::check(source, raw)
}

/// Reads and checks a runbook's structure only, without the safety checks: for the verbs that
/// show a runbook to a reviewer (`render`, `diff`), which must work on an unsafe one too, to show
/// what makes it unsafe.
pub fn load_structure(path: &Path) -> Result<Runbook, Diagnostics> {
    let (source, raw) = load::load_file(path)?;
    check::check_structure(source, raw)
}

/// Like [`load_structure`], from the bytes of a file read elsewhere (an old revision in git),
/// at most [`MAX_FILE_BYTES`] of them.
pub fn structure_from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Runbook, Diagnostics> {
    let source = load::source_from_bytes(path, bytes)?;
    let raw = load::parse(&source)?;
    check::check_structure(source, raw)
}
