//! The JSON Schema of the runbook format, generated from the raw model so the two never drift.
//! `schemas/runbook.schema.json` is this output, committed; a test fails when they differ.

use super::raw::RawRunbook;

/// The schema as pretty-printed JSON with a trailing newline.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(RawRunbook);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
