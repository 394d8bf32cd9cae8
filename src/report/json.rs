//! `--output json`: one JSON object per line, for machines. The events are the engine's own
//! data; the redactor masks secrets in them like in any other output.

use serde::Serialize;

use super::output::Output;
use crate::run::{Event, Reporter};
use crate::secret::Scalars;

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

/// Prints one value as a line of JSON. Secrets are masked value by value first, so the line stays
/// JSON whatever a secret looks like (a short one, one that is all digits); the text pass of
/// [`Output::out`] stays as the last guard.
pub fn emit(output: &Output, value: &impl Serialize) {
    match serde_json::to_value(value) {
        Ok(value) => {
            let (value, _) = output.redactor().redact_json(value, &[], Scalars::Within);
            output.out(&format!("{value}\n"));
        }
        Err(error) => output.err(&format!(
            "runbook: cannot encode an event as JSON: {error}\n"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::output::Buffer;
    use crate::secret::{Redactor, SecretString};

    #[test]
    fn a_line_stays_json_when_a_secret_is_short_or_all_digits() {
        let redactor = Redactor::new();
        redactor.register(&SecretString::from("4711".to_string()));
        let stdout = Buffer::default();
        let output = Output::new(
            redactor,
            Box::new(stdout.clone()),
            Box::new(Buffer::default()),
            false,
        );
        emit(
            &output,
            &serde_json::json!({"pin": 4711, "note": "x4711y", "status": 200, "items": [4711, 47110, true]}),
        );
        let line = stdout.contents();
        assert!(!line.contains("4711"), "{line}");
        let parsed: serde_json::Value = serde_json::from_str(&line).expect("the line is JSON");
        assert_eq!(
            parsed,
            serde_json::json!({"pin": "***", "note": "x***y", "status": 200, "items": ["***", "***0", true]})
        );
    }
}
