//! Expectations, retries and loops in words, for the rendered SOP and the semantic diff alike.
//! Where a template appears, the caller says how to show it: the SOP shows `$VARIABLES`, the
//! diff the normalized template source.

use crate::runbook::model::{
    Condition, Expect, ForEach, HeaderAssertion, JsonAssertion, JsonTemplate, Retry,
    StatusExpectation,
};
use crate::step::http::humanize;

use super::markdown::code;

/// How a template (given by its source) is shown, without Markdown around it.
pub type Show<'a> = &'a dyn Fn(&str) -> String;

/// A JSON value whose strings are templates, as text: JSON, with each template shown.
pub fn json_text(json: &JsonTemplate, show: Show) -> String {
    match json {
        JsonTemplate::Literal(value) => value.to_string(),
        JsonTemplate::Text(template) => {
            serde_json::Value::from(show(template.source())).to_string()
        }
        JsonTemplate::Native(expression) => show(&format!("{{{{ {} }}}}", expression.source())),
        JsonTemplate::Array(items) => {
            let items: Vec<String> = items.iter().map(|item| json_text(item, show)).collect();
            format!("[{}]", items.join(","))
        }
        JsonTemplate::Object(entries) => {
            let entries: Vec<String> = entries
                .iter()
                .map(|(key, value)| {
                    format!(
                        "{}:{}",
                        serde_json::Value::from(show(key.source())),
                        json_text(value, show)
                    )
                })
                .collect();
            format!("{{{}}}", entries.join(","))
        }
    }
}

/// An operand as a reader wants it: a string without JSON quotes when it is a template.
fn operand(json: &JsonTemplate, show: Show) -> String {
    match json {
        JsonTemplate::Text(template) => show(template.source()),
        other => json_text(other, show),
    }
}

/// Conditions on one subject (a JSONPath or a header), in Markdown: "`$.success` == `true`".
pub fn conditions(subject: &str, conditions: &[Condition], show: Show) -> Vec<String> {
    conditions
        .iter()
        .map(|condition| format!("{} {}", code(subject), predicate(condition, show, true)))
        .collect()
}

/// What a condition requires of its subject: "== `true`", "exists", "has length > `0`";
/// operands in code spans when `spans`, as plain text otherwise.
pub fn predicate(condition: &Condition, show: Show, spans: bool) -> String {
    let code = |text: &str| if spans { code(text) } else { text.to_string() };
    match condition {
        Condition::Compare(comparison, value) => {
            format!("{} {}", comparison.as_str(), code(&operand(value, show)))
        }
        Condition::Exists(true) => "exists".to_string(),
        Condition::Exists(false) => "does not exist".to_string(),
        Condition::Length(inner) => {
            let parts: Vec<String> = inner
                .iter()
                .map(|condition| predicate(condition, show, spans))
                .collect();
            format!("has length {}", parts.join(" and "))
        }
        Condition::Matches(regex) => format!("matches {}", code(regex.as_str())),
        Condition::Contains(value) => format!("contains {}", code(&operand(value, show))),
    }
}

/// Every expectation of a step, in Markdown; the status first (2xx when none is given).
pub fn expectations(expect: &Expect, show: Show) -> Vec<String> {
    let mut parts = vec![match &expect.status {
        Some(StatusExpectation::Codes(codes)) => {
            let codes: Vec<String> = codes.iter().map(u16::to_string).collect();
            codes.join(" or ")
        }
        Some(status) => status.describe(),
        None => "2xx".to_string(),
    }];
    parts.extend(json_assertions(&expect.json, show));
    parts.extend(header_assertions(&expect.headers, show));
    parts.extend(
        expect
            .that
            .iter()
            .map(|expression| code(expression.source().trim())),
    );
    parts
}

pub fn json_assertions(assertions: &[JsonAssertion], show: Show) -> Vec<String> {
    assertions
        .iter()
        .flat_map(|assertion| conditions(&assertion.path.text, &assertion.conditions, show))
        .collect()
}

pub fn header_assertions(assertions: &[HeaderAssertion], show: Show) -> Vec<String> {
    assertions
        .iter()
        .flat_map(|assertion| {
            conditions(&assertion.name, &assertion.conditions, show)
                .into_iter()
                .map(|text| format!("header {text}"))
        })
        .collect()
}

/// "Repeat up to 30 times, every 1s (×1.2 each time, at most 5s), until `…`."
pub fn retry(retry: &Retry) -> String {
    let mut text = format!(
        "Repeat up to {} times, every {}",
        retry.attempts,
        humanize(retry.interval)
    );
    if retry.backoff > 1.0 {
        text.push_str(&format!(
            " (×{} each time, at most {})",
            retry.backoff,
            humanize(retry.max_interval)
        ));
    }
    match &retry.until {
        Some(until) => text.push_str(&format!(", until {}", code(until.source().trim()))),
        None => text.push_str(", until the expectations hold"),
    }
    text.push('.');
    text
}

/// The items of a `for_each`, in Markdown.
pub fn for_each(for_each: &ForEach, show: Show) -> String {
    match for_each {
        ForEach::Items(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|item| match item {
                    JsonTemplate::Literal(serde_json::Value::String(text)) => code(text),
                    other => code(&operand(other, show)),
                })
                .collect();
            super::markdown::join_and(&items)
        }
        ForEach::Expression(expression) => {
            format!("the items of {}", code(expression.source().trim()))
        }
    }
}
