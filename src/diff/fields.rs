//! A runbook flattened into labelled fields, each normalized so that only meaning is left:
//! maps are keyed (their order is formatting), prose is compared by its words, templates with
//! the spacing inside their braces made uniform, status lists sorted. Each field also records
//! the names its templates read and the kind of place it is, which is how the diff tells where
//! a secret newly flows.
//!
//! The label of a field is its key: unique within its owner (a step, an input, the runbook).

use std::collections::BTreeSet;

use serde::Serialize;

use crate::render::describe;
use crate::render::source::{normalize_expression, normalize_prose, normalize_template};
use crate::runbook::model::{
    Action, Body, CaptureSource, Condition, ForEach, HttpRequest, Input, JsonTemplate, Resume,
    SecretKind, StatusExpectation, Step, written_pattern,
};
use crate::step::http::humanize;
use crate::template::{Expression, Template};

/// What kind of place a field is, for secrets: a secret in a URL ends up in logs, one in a
/// header is where credentials belong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    Url,
    Query,
    Header,
    Body,
    Manual,
    Rollback,
    Audit,
    Hint,
    Propagate,
    Condition,
    Other,
}

impl Place {
    /// Places a secret should not reach: URLs and queries are logged by servers and proxies,
    /// manual text, rollback notes and hints are shown to people, audit records are kept.
    pub fn is_risk(self) -> bool {
        matches!(
            self,
            Place::Url
                | Place::Query
                | Place::Manual
                | Place::Rollback
                | Place::Audit
                | Place::Hint
        )
    }
}

#[derive(Clone, Debug)]
pub struct Field {
    pub key: String,
    pub value: String,
    /// Top-level names its templates read.
    pub uses: BTreeSet<String>,
    pub place: Place,
}

/// Collects fields with a common prefix.
#[derive(Default)]
pub(super) struct Fields {
    pub(super) prefix: String,
    pub(super) list: Vec<Field>,
}

impl Fields {
    /// A request's fields, each key under `prefix` (a resume check, an audit callback).
    pub(super) fn http_under(&mut self, prefix: &str, request: &HttpRequest) {
        let mut nested = Fields {
            prefix: prefix.to_string(),
            list: Vec::new(),
        };
        http(&mut nested, request);
        self.list.extend(nested.list);
    }

    pub(super) fn plain(&mut self, key: &str, value: impl Into<String>) {
        self.push(key, value.into(), BTreeSet::new(), Place::Other);
    }

    pub(super) fn template(&mut self, key: &str, template: &Template, place: Place) {
        self.push(
            key,
            normalize_template(template.source()),
            names(template.uses()),
            place,
        );
    }

    pub(super) fn prose(&mut self, key: &str, template: &Template, place: Place) {
        self.push(
            key,
            normalize_prose(template.source()),
            names(template.uses()),
            place,
        );
    }

    pub(super) fn expression(&mut self, key: &str, expression: &Expression, place: Place) {
        self.push(
            key,
            normalize_expression(expression.source()),
            names(expression.uses()),
            place,
        );
    }

    pub(super) fn push(&mut self, key: &str, value: String, uses: BTreeSet<String>, place: Place) {
        let key = if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{} {key}", self.prefix)
        };
        self.list.push(Field {
            key,
            value,
            uses,
            place,
        });
    }

    pub(super) fn json(&mut self, key: &str, json: &JsonTemplate, place: Place) {
        let mut leaves = Vec::new();
        flatten(json, String::new(), &mut leaves);
        for (path, value, uses) in leaves {
            let key = if path.is_empty() {
                key.to_string()
            } else {
                format!("{key} `{path}`")
            };
            self.push(&key, value, uses, place);
        }
    }
}

pub(super) fn names(uses: &BTreeSet<String>) -> BTreeSet<String> {
    uses.iter()
        .filter(|name| !name.contains('.'))
        .cloned()
        .collect()
}

/// A JSON template as leaves (`.name`, `.list[0]`), each shown as JSON with template sources.
fn flatten(
    json: &JsonTemplate,
    path: String,
    leaves: &mut Vec<(String, String, BTreeSet<String>)>,
) {
    match json {
        JsonTemplate::Object(entries) if !entries.is_empty() => {
            for (key, value) in entries {
                flatten(
                    value,
                    format!("{path}.{}", normalize_template(key.source())),
                    leaves,
                );
            }
        }
        JsonTemplate::Array(items) if !items.is_empty() => {
            for (index, item) in items.iter().enumerate() {
                flatten(item, format!("{path}[{index}]"), leaves);
            }
        }
        JsonTemplate::Literal(serde_json::Value::Object(map)) if !map.is_empty() => {
            for (key, value) in map {
                flatten(
                    &JsonTemplate::Literal(value.clone()),
                    format!("{path}.{key}"),
                    leaves,
                );
            }
        }
        JsonTemplate::Literal(serde_json::Value::Array(items)) if !items.is_empty() => {
            for (index, item) in items.iter().enumerate() {
                flatten(
                    &JsonTemplate::Literal(item.clone()),
                    format!("{path}[{index}]"),
                    leaves,
                );
            }
        }
        other => {
            let show = |source: &str| normalize_template(source);
            let uses = other.uses().into_iter().flat_map(names).collect();
            leaves.push((path, describe::json_text(other, &show), uses));
        }
    }
}

/// Every field of a step.
pub fn step(step: &Step) -> Vec<Field> {
    let mut fields = Fields::default();
    fields.plain("title", normalize_prose(&step.title));
    if let Some(description) = &step.description {
        fields.plain("description", normalize_prose(description));
    }
    if let Some(reason) = &step.irreversible {
        fields.plain("irreversible", normalize_prose(reason));
    }
    if let Some(when) = &step.when {
        fields.expression("when", when, Place::Condition);
    }
    match &step.for_each {
        Some(ForEach::Items(items)) => fields.json(
            "for_each",
            &JsonTemplate::Array(items.clone()),
            Place::Condition,
        ),
        Some(ForEach::Expression(expression)) => {
            fields.expression("for_each", expression, Place::Condition)
        }
        None => {}
    }
    let action = match &step.action {
        Action::Http(_) => "http",
        Action::Manual(_) => "manual",
        Action::Propagate(_) => "propagate",
        Action::Audit(_) => "audit",
    };
    fields.plain("action", action);
    match &step.action {
        Action::Http(request) => http(&mut fields, request),
        Action::Manual(manual) => {
            fields.prose("manual instructions", &manual.instructions, Place::Manual);
            fields.plain("manual confirmation", normalize_prose(&manual.confirm));
            for ask in &manual.ask {
                let key = format!("asks `{}`", ask.name);
                fields.plain(&key, secret_text(ask.secret));
                if let Some(description) = &ask.description {
                    fields.plain(&format!("{key} description"), normalize_prose(description));
                }
                if !ask.env.is_empty() {
                    fields.plain(&format!("{key} environment"), ask.env.join(", "));
                }
                if let Some(pattern) = &ask.pattern {
                    fields.plain(
                        &format!("{key} pattern"),
                        written_pattern(pattern).to_string(),
                    );
                }
            }
        }
        Action::Propagate(propagate) => super::action_fields::propagate(&mut fields, propagate),
        Action::Audit(audit) => super::action_fields::audit(&mut fields, audit),
    }
    if matches!(step.action, Action::Http(_)) {
        let status = match &step.expect.status {
            Some(StatusExpectation::Codes(codes)) => {
                let mut codes = codes.clone();
                codes.sort_unstable();
                codes.dedup();
                StatusExpectation::Codes(codes).describe()
            }
            Some(status) => status.describe(),
            None => "2xx".to_string(),
        };
        fields.plain("expect status", status);
    }
    for assertion in &step.expect.json {
        conditions(
            &mut fields,
            &format!("expect `{}`", assertion.path.text),
            &assertion.conditions,
        );
    }
    for assertion in &step.expect.headers {
        conditions(
            &mut fields,
            &format!("expect header `{}`", assertion.name),
            &assertion.conditions,
        );
    }
    for that in &step.expect.that {
        let key = format!("expect that `{}`", normalize_expression(that.source()));
        fields.push(&key, "holds".into(), names(that.uses()), Place::Condition);
    }
    for capture in &step.captures {
        let source = match &capture.source {
            CaptureSource::Json(path) => path.text.clone(),
            CaptureSource::Header(name) => format!("header {name}"),
            CaptureSource::Body => "the body".to_string(),
        };
        let secret = match capture.secret {
            SecretKind::No => String::new(),
            kind => format!(" ({})", secret_text(kind)),
        };
        fields.plain(
            &format!("capture `{}`", capture.name),
            format!("{source}{secret}"),
        );
    }
    if let Some(retry) = &step.retry {
        fields.plain("retry attempts", retry.attempts.to_string());
        fields.plain("retry interval", humanize(retry.interval));
        fields.plain("retry backoff", retry.backoff.to_string());
        fields.plain("retry max interval", humanize(retry.max_interval));
        if let Some(until) = &retry.until {
            fields.expression("retry until", until, Place::Condition);
        }
    }
    if let Some(timeout) = step.timeout {
        fields.plain("step timeout (all attempts)", humanize(timeout));
    }
    if step.retryable {
        fields.plain(
            "retryable",
            "yes (sent again on errors even though it changes something)",
        );
    }
    match &step.resume {
        Some(Resume::Repeat) => fields.plain("resume", "repeat"),
        Some(Resume::Check(check)) => {
            // A resume check and its undo are requests like any other: secrets in their URLs
            // are risks too.
            for (prefix, request) in [
                ("resume check", Some(&check.check)),
                ("resume undo", check.undo.as_ref()),
            ] {
                if let Some(request) = request {
                    fields.http_under(prefix, request);
                }
            }
            fields.expression("resume took effect", &check.took_effect, Place::Condition);
        }
        None => {}
    }
    for (code, reason) in &step.allow {
        fields.plain(&format!("allows {code}"), normalize_prose(reason));
    }
    for (status, hint) in &step.hints {
        fields.prose(&format!("hint {status}"), hint, Place::Hint);
    }
    if let Some(rollback) = &step.rollback {
        fields.prose("rollback note", rollback, Place::Rollback);
    }
    // `item` carries whatever the items are made of.
    if let Some(for_each) = &step.for_each {
        let item_uses: BTreeSet<String> = match for_each {
            ForEach::Items(items) => items
                .iter()
                .flat_map(JsonTemplate::uses)
                .flat_map(names)
                .collect(),
            ForEach::Expression(expression) => names(expression.uses()),
        };
        for field in &mut fields.list {
            if field.uses.remove("item") {
                field.uses.extend(item_uses.iter().cloned());
            }
        }
    }
    fields.list
}

pub(super) fn http(fields: &mut Fields, request: &HttpRequest) {
    fields.plain("method", request.method.as_str());
    fields.template("URL", &request.url, Place::Url);
    for (name, value) in &request.query {
        fields.template(&format!("query `{name}`"), value, Place::Query);
    }
    for (name, value) in &request.headers {
        fields.template(
            &format!("header `{}`", name.to_ascii_lowercase()),
            value,
            Place::Header,
        );
    }
    match &request.body {
        Some(Body::Json(json)) => fields.json("JSON body", json, Place::Body),
        Some(Body::Form(pairs)) => {
            for (name, value) in pairs {
                fields.template(&format!("form field `{name}`"), value, Place::Body);
            }
        }
        Some(Body::Raw(template)) => fields.template("raw body", template, Place::Body),
        None => {}
    }
    fields.plain("timeout", humanize(request.timeout));
    if request.read_only && !request.method.is_safe() {
        fields.plain("declared read-only", "yes");
    }
}

fn conditions(fields: &mut Fields, key: &str, conditions: &[Condition]) {
    let show = |source: &str| normalize_template(source);
    let mut texts: Vec<String> = conditions
        .iter()
        .map(|condition| describe::predicate(condition, &show, false))
        .collect();
    texts.sort();
    let uses = conditions
        .iter()
        .flat_map(Condition::uses)
        .flat_map(names)
        .collect();
    fields.push(key, texts.join(" and "), uses, Place::Condition);
}

/// Every field of an input.
pub fn input(input: &Input) -> Vec<Field> {
    let mut fields = Fields::default();
    if let Some(description) = &input.description {
        fields.plain("description", normalize_prose(description));
    }
    let env: Vec<String> = input
        .env
        .iter()
        .map(|env| normalize_template(env.source()))
        .collect();
    fields.plain("environment", env.join(", "));
    // A secret's default or example is never shown; its fingerprint still shows a change.
    match (&input.default, input.public_default()) {
        (_, Some(default)) => fields.template("default", default, Place::Other),
        (Some(default), None) => fields.plain("default", secret_not_shown(default.source())),
        (None, _) => {}
    }
    fields.plain("secret", if input.secret { "yes" } else { "no" });
    fields.plain("required", if input.required { "yes" } else { "no" });
    if let Some(pattern) = &input.pattern {
        fields.plain("pattern", written_pattern(pattern).to_string());
    }
    if !input.choices.is_empty() {
        fields.plain("choices", input.choices.join(", "));
    }
    match (&input.example, input.public_example()) {
        (_, Some(example)) => fields.plain("example", example),
        (Some(example), None) => fields.plain("example", secret_not_shown(example)),
        (None, _) => {}
    }
    fields.list
}

fn secret_not_shown(text: &str) -> String {
    format!(
        "(secret, not shown; fingerprint {})",
        crate::secret::fingerprint_text(text)
    )
}

fn secret_text(secret: SecretKind) -> &'static str {
    secret.describe().unwrap_or("not secret")
}
