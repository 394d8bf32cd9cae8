//! Judging a response: the status, then the captures, then the assertions (`json`, `headers`,
//! `that`), every failure collected rather than stopping at the first.
//!
//! Values taken from a response are shown in failure messages only in a safe form: scalars as
//! they are unless they sit under a secret-looking key or at a path the step captures as a
//! secret, lists and objects by their size only. A response can carry credentials the runbook
//! never registered (a config-var listing, a freshly created token); they must not reach a
//! terminal because an assertion failed.

use std::sync::LazyLock;

use regex::Regex;

use super::http::{Response, cut};
use crate::runbook::model::{
    Capture, CaptureSource, Comparison, Condition, Expect, JsonTemplate, StatusExpectation,
};
use crate::secret::{MASK, SecretString};
use crate::template::{Scope, Templates};

static SECRET_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)secret|token|passw|private|credential|api.?key|access.?key|authorization|cookie|session|signature")
        .expect("a valid regex")
});

/// A value taken from a response.
#[derive(Debug)]
pub enum Captured {
    Plain(serde_json::Value),
    Secret(SecretString),
}

/// The statuses a step accepts. Without an expectation, any 2xx: a runbook never carries on
/// past an error answer by accident.
pub fn expected_status(expect: &Expect) -> StatusExpectation {
    expect.status.clone().unwrap_or(StatusExpectation::Class(2))
}

/// Why a status the step does not accept fails it, with what the answer says (masked).
pub fn status_failure(expected: &StatusExpectation, response: &Response) -> String {
    let mut message = format!(
        "expected status {}, got {}",
        expected.describe(),
        response.status_text()
    );
    if (300..400).contains(&response.status) {
        // Without its query and fragment: a redirect can carry a code or a token there.
        let location = response.header("location").map_or_else(
            || "(no Location header)".to_string(),
            |location| {
                // Masked whole first: a secret may run across the `?`.
                let masked = response.masked(location);
                let bare = masked.split(['?', '#']).next().unwrap_or_default();
                let elided = if bare.len() < masked.len() {
                    "?…"
                } else {
                    ""
                };
                cut(&format!("{bare}{elided}"), 200)
            },
        );
        message.push_str(&format!(
            ": a redirect to {location}, not followed (requests that may carry credentials never follow redirects)"
        ));
    } else if let Some(summary) = error_summary(response) {
        message.push_str(": ");
        message.push_str(&summary);
    }
    message
}

/// "503 Service Unavailable: [code] message" for an unexpected answer.
pub fn unexpected(response: &Response) -> String {
    let mut text = response.status_text();
    if let Some(summary) = error_summary(response) {
        text.push_str(": ");
        text.push_str(&summary);
    }
    text
}

/// What an error answer says, from the vendors' error shapes: Cloudflare `errors[]`,
/// GitHub/Heroku/Infisical `message` (with Heroku's `id` and Infisical's `error`).
pub fn error_summary(response: &Response) -> Option<String> {
    if response.body.is_empty() {
        return None;
    }
    if let Ok(json) = response.json() {
        if let Some(errors) = json.get("errors").and_then(|errors| errors.as_array()) {
            let messages: Vec<String> = errors
                .iter()
                .filter_map(|error| {
                    let message = error.get("message").and_then(|message| message.as_str())?;
                    Some(match error.get("code") {
                        Some(code) => format!("[{code}] {message}"),
                        None => message.to_string(),
                    })
                })
                .collect();
            if !messages.is_empty() {
                return Some(response.quote(&messages.join("; "), 500));
            }
        }
        let message = json.get("message").and_then(|message| message.as_str());
        let kind = json
            .get("id")
            .or_else(|| json.get("error"))
            .and_then(|kind| kind.as_str());
        return match (kind, message) {
            (Some(kind), Some(message)) => Some(response.quote(&format!("{kind}: {message}"), 500)),
            (None, Some(message)) => Some(response.quote(message, 500)),
            _ => Some(describe_shape(json)),
        };
    }
    // Masked whole before its first line is taken: a secret may run past the line's end or
    // have spaces the trim would take off.
    let text = response.text();
    let masked = response.masked(&text);
    let first = masked
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())?;
    Some(format!("the body says: {}", cut(first, 200)))
}

/// Takes a capture's value from the response.
pub fn capture(capture: &Capture, response: &Response) -> Result<Captured, String> {
    let value = match &capture.source {
        CaptureSource::Json(path) => {
            let json = response
                .json()
                .map_err(|error| format!("capture `{}`: {error}", capture.name))?;
            let nodes = path.path.query(json).all();
            match nodes.as_slice() {
                [serde_json::Value::Number(number)] if rounded_integer(number, &response.body) => {
                    return Err(format!(
                        "capture `{}`: {} is an integer too large for 64 bits, read as the approximation {number}; it cannot be used exactly (capture a field the API gives as a string)",
                        capture.name, path.text
                    ));
                }
                [one] => (*one).clone(),
                [] => {
                    return Err(format!(
                        "capture `{}`: {} matched nothing in the response ({})",
                        capture.name,
                        path.text,
                        describe_shape(json)
                    ));
                }
                many => {
                    return Err(format!(
                        "capture `{}`: {} matched {} values, expected exactly one; narrow the path (e.g. with an index [0] or a filter)",
                        capture.name,
                        path.text,
                        many.len()
                    ));
                }
            }
        }
        CaptureSource::Header(name) => match response.header(name) {
            Some(value) => serde_json::Value::String(value.to_string()),
            None => {
                return Err(format!(
                    "capture `{}`: the response has no `{name}` header",
                    capture.name
                ));
            }
        },
        CaptureSource::Body => serde_json::Value::String(response.text().into_owned()),
    };
    if capture.secret.is_secret() {
        let text = match value {
            serde_json::Value::String(text) => text,
            serde_json::Value::Null => {
                return Err(format!(
                    "capture `{}`: the secret value is null",
                    capture.name
                ));
            }
            other => other.to_string(),
        };
        if text.is_empty() {
            return Err(format!(
                "capture `{}`: the secret value is empty",
                capture.name
            ));
        }
        return Ok(Captured::Secret(SecretString::from(text)));
    }
    Ok(Captured::Plain(value))
}

/// Whether `number` is an integer the JSON parser could only keep as a float: a whole number
/// beyond 64 bits, in a body that writes an integer of 19 digits or more (not `1e22`).
fn rounded_integer(number: &serde_json::Number, body: &[u8]) -> bool {
    crate::runbook::model::integer_beyond_64_bits(number).is_some()
        && body
            .split(|byte| !byte.is_ascii_digit())
            .any(|digits| digits.len() >= 19)
}

/// The context for judging: how to render operands and what to keep out of messages.
pub struct Judge<'a> {
    pub templates: &'a Templates,
    pub scope: &'a Scope,
    /// JSON pointers of values the step captures as secrets.
    pub secret_pointers: &'a [String],
    /// Masks a quoted value before it is cut short.
    pub redactor: &'a crate::secret::Redactor,
}

impl Judge<'_> {
    /// JSON and header assertions and `that` expressions; every failure, in order.
    pub fn assertions(&self, expect: &Expect, response: &Response) -> Vec<String> {
        let mut failures = Vec::new();
        if !expect.json.is_empty() {
            match response.json() {
                Err(error) => failures.push(format!(
                    "{} JSON assertion(s) not checked: {error}",
                    expect.json.len()
                )),
                Ok(json) => {
                    for assertion in &expect.json {
                        let located = assertion.path.path.query_located(json).all();
                        let nodes: Vec<(String, &serde_json::Value)> = located
                            .iter()
                            .map(|node| (node.location().to_json_pointer(), node.node()))
                            .collect();
                        for condition in &assertion.conditions {
                            if let Some(failure) = self.condition(condition, &nodes) {
                                failures.push(format!("{}: {failure}", assertion.path.text));
                            }
                        }
                    }
                }
            }
        }
        for assertion in &expect.headers {
            let values: Vec<serde_json::Value> = response
                .headers
                .iter()
                .filter(|(name, _)| *name == assertion.name)
                .map(|(_, value)| serde_json::Value::String(value.clone()))
                .collect();
            // Named like a pointer, so a secret-looking header (`set-cookie`, `x-api-token`)
            // is never quoted.
            let pointer = format!("/{}", assertion.name);
            let nodes: Vec<(String, &serde_json::Value)> = values
                .iter()
                .map(|value| (pointer.clone(), value))
                .collect();
            for condition in &assertion.conditions {
                if let Some(failure) = self.condition(condition, &nodes) {
                    failures.push(format!("header {}: {failure}", assertion.name));
                }
            }
        }
        for expression in &expect.that {
            match expression.is_true(self.templates, self.scope) {
                Ok(true) => {}
                Ok(false) => failures.push(format!(
                    "expected that {}, which is false",
                    expression.source()
                )),
                Err(error) => failures.push(format!(
                    "cannot evaluate `{}`: {error}",
                    expression.source()
                )),
            }
        }
        failures
    }

    /// `None` when the condition holds on the matched nodes.
    fn condition(
        &self,
        condition: &Condition,
        nodes: &[(String, &serde_json::Value)],
    ) -> Option<String> {
        if let Condition::Exists(expected) = condition {
            return match (nodes.is_empty(), expected) {
                (false, true) | (true, false) => None,
                (true, true) => Some("expected to exist, matched nothing".into()),
                (false, false) => Some(format!(
                    "expected not to exist, matched {} value(s)",
                    nodes.len()
                )),
            };
        }
        let combined;
        let (pointer, actual): (&str, &serde_json::Value) = match nodes {
            [] => return Some("matched nothing".into()),
            [(pointer, value)] => (pointer, value),
            many => {
                combined = serde_json::Value::Array(
                    many.iter().map(|(_, value)| (*value).clone()).collect(),
                );
                ("", &combined)
            }
        };
        let shown = || self.shown(pointer, actual);
        match condition {
            Condition::Exists(_) => None,
            Condition::Compare(comparison, operand) => {
                let expected = match self.operand(operand) {
                    Ok(expected) => expected,
                    Err(error) => return Some(error),
                };
                let holds = match comparison {
                    Comparison::Equal => json_equal(actual, &expected),
                    Comparison::NotEqual => !json_equal(actual, &expected),
                    ordered => match (actual.as_f64(), expected.as_f64()) {
                        (Some(left), Some(right)) => match ordered {
                            Comparison::Less => left < right,
                            Comparison::LessOrEqual => left <= right,
                            Comparison::Greater => left > right,
                            _ => left >= right,
                        },
                        _ => {
                            return Some(format!(
                                "expected a number {} {}, got {}",
                                ordered.as_str(),
                                self.shown("", &expected),
                                shown()
                            ));
                        }
                    },
                };
                (!holds).then(|| {
                    format!(
                        "expected {} {}, got {}",
                        comparison.as_str(),
                        self.shown("", &expected),
                        shown()
                    )
                })
            }
            Condition::Matches(regex) => match actual.as_str() {
                Some(text) if regex.is_match(text) => None,
                Some(_) => Some(format!(
                    "expected to match /{}/, got {}",
                    regex.as_str(),
                    shown()
                )),
                None => Some(format!(
                    "expected a string matching /{}/, got {}",
                    regex.as_str(),
                    shown()
                )),
            },
            Condition::Contains(operand) => {
                let expected = match self.operand(operand) {
                    Ok(expected) => expected,
                    Err(error) => return Some(error),
                };
                let holds = match (actual, &expected) {
                    (serde_json::Value::String(text), serde_json::Value::String(part)) => {
                        text.contains(part.as_str())
                    }
                    (serde_json::Value::Array(items), _) => {
                        items.iter().any(|item| json_equal(item, &expected))
                    }
                    (serde_json::Value::Object(entries), serde_json::Value::String(key)) => {
                        entries.contains_key(key)
                    }
                    _ => false,
                };
                (!holds).then(|| {
                    format!(
                        "expected to contain {}, got {}",
                        self.shown("", &expected),
                        shown()
                    )
                })
            }
            Condition::Length(conditions) => {
                let length = match actual {
                    serde_json::Value::String(text) => text.chars().count(),
                    serde_json::Value::Array(items) => items.len(),
                    serde_json::Value::Object(entries) => entries.len(),
                    _ => return Some(format!("expected something with a length, got {}", shown())),
                };
                let length_value = serde_json::Value::from(length);
                let node = [(String::new(), &length_value)];
                let failures: Vec<String> = conditions
                    .iter()
                    .filter_map(|condition| self.condition(condition, &node))
                    .collect();
                (!failures.is_empty()).then(|| format!("length {}", failures.join("; ")))
            }
        }
    }

    fn operand(&self, operand: &JsonTemplate) -> Result<serde_json::Value, String> {
        render_json(operand, self.templates, self.scope)
            .map_err(|error| format!("cannot render the expected value: {error}"))
    }

    /// A response value as it may appear in a message.
    fn shown(&self, pointer: &str, value: &serde_json::Value) -> String {
        let secret_path = !pointer.is_empty()
            && self
                .secret_pointers
                .iter()
                .any(|secret| pointer == secret || pointer.starts_with(&format!("{secret}/")));
        // Under a secret-looking key at any depth: `/token/value`, `/api_keys/0`.
        let secret_key = pointer.split('/').any(|key| SECRET_KEY.is_match(key));
        match value {
            _ if secret_path || secret_key => MASK.to_string(),
            serde_json::Value::String(text) => {
                format!("\"{}\"", cut(&self.redactor.redact(text), 120))
            }
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => describe_shape(value),
            other => other.to_string(),
        }
    }
}

/// Renders a JSON template into a value.
pub fn render_json(
    template: &JsonTemplate,
    templates: &Templates,
    scope: &Scope,
) -> Result<serde_json::Value, String> {
    Ok(match template {
        JsonTemplate::Literal(value) => value.clone(),
        JsonTemplate::Text(text) => serde_json::Value::String(
            text.render(templates, scope)
                .map_err(|error| error.message)?,
        ),
        JsonTemplate::Native(expression) => {
            let value = expression
                .eval(templates, scope)
                .map_err(|error| error.message)?;
            serde_json::to_value(&value).map_err(|error| error.to_string())?
        }
        JsonTemplate::Array(items) => serde_json::Value::Array(
            items
                .iter()
                .map(|item| render_json(item, templates, scope))
                .collect::<Result<_, _>>()?,
        ),
        JsonTemplate::Object(entries) => {
            let mut object = serde_json::Map::new();
            for (key, value) in entries {
                let key = key
                    .render(templates, scope)
                    .map_err(|error| error.message)?;
                object.insert(key, render_json(value, templates, scope)?);
            }
            serde_json::Value::Object(object)
        }
    })
}

/// Equality where 1 and 1.0 are the same number.
fn json_equal(left: &serde_json::Value, right: &serde_json::Value) -> bool {
    match (left, right) {
        (serde_json::Value::Number(a), serde_json::Value::Number(b)) => a.as_f64() == b.as_f64(),
        (serde_json::Value::Array(a), serde_json::Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_equal(x, y))
        }
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, x)| b.get(key).is_some_and(|y| json_equal(x, y)))
        }
        _ => left == right,
    }
}

/// "an object with keys success, errors, result" / "a list of 3 items": the shape of a value
/// without its content.
pub fn describe_shape(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(entries) => {
            let keys: Vec<&str> = entries.keys().map(String::as_str).take(8).collect();
            let more = if entries.len() > 8 { ", …" } else { "" };
            if keys.is_empty() {
                "an empty object".into()
            } else {
                format!("an object with keys {}{more}", keys.join(", "))
            }
        }
        serde_json::Value::Array(items) => format!("a list of {} item(s)", items.len()),
        serde_json::Value::String(_) => "a string".into(),
        serde_json::Value::Number(_) => "a number".into(),
        serde_json::Value::Bool(_) => "a boolean".into(),
        serde_json::Value::Null => "null".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_under_a_secret_looking_key_or_header_are_never_quoted() {
        let templates = crate::template::TemplateSet::new().finish();
        let scope = Scope::default();
        let redactor = crate::secret::Redactor::default();
        let judge = Judge {
            templates: &templates,
            scope: &scope,
            secret_pointers: &["/result/kept".to_string()],
            redactor: &redactor,
        };
        let value = serde_json::json!("visible-value");
        for pointer in [
            "/token/value",
            "/api_keys/0",
            "/result/client_secret",
            "/set-cookie",
            "/x-api-token",
            "/result/kept/inner",
        ] {
            assert_eq!(judge.shown(pointer, &value), MASK, "{pointer}");
        }
        assert_eq!(judge.shown("/result/id", &value), "\"visible-value\"");
    }
}
