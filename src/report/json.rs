//! `--output json`: one JSON object per line, for machines. The events are the engine's own
//! data; the redactor masks secrets in them like in any other output.

use serde::Serialize;

use super::output::Output;
use crate::run::{Event, Reporter};

pub struct JsonReporter {
    output: Output,
}

impl JsonReporter {
    pub fn new(output: Output) -> JsonReporter {
        JsonReporter { output }
    }
}

impl Reporter for JsonReporter {
    fn event(&mut self, event: &Event) {
        emit(&self.output, event);
    }
}

/// Prints one value as a line of JSON.
pub fn emit(output: &Output, value: &impl Serialize) {
    match serde_json::to_string(value) {
        Ok(line) => output.out(&format!("{line}\n")),
        Err(error) => output.err(&format!(
            "runbook: cannot encode an event as JSON: {error}\n"
        )),
    }
}
