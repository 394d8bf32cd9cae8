//! The validated runbook: built by `check` only after the whole file has been read, with every
//! template compiled, every JSONPath and regex parsed and every name resolved. Code after
//! `check` never re-validates and never sees a raw string where one of these belongs.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use regex::Regex;
use serde::Serialize;
use serde_json_path::JsonPath;

use crate::diagnostic::{SourceFile, Span};
use crate::template::{Expression, Template, Templates};

#[derive(Debug)]
pub struct Runbook {
    pub name: String,
    pub title: String,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub applies_to: Vec<AppliesTo>,
    /// Base URLs by name, without a trailing slash.
    pub services: IndexMap<String, String>,
    pub inputs: Vec<Input>,
    pub vars: Vec<Var>,
    /// Inputs and vars in an order where each comes after the values its templates use.
    pub resolution_order: Vec<ValueRef>,
    pub steps: Vec<Step>,
    /// Every name that holds a secret (see [`secret_names`]), worked out once by `check`.
    pub secrets: BTreeSet<String>,
    /// The lock key's template (inputs and vars only); `None` locks on the runbook's name.
    pub lock: Option<Template>,
    pub rollback: Option<String>,
    pub gotchas: Vec<String>,
    pub source: Arc<SourceFile>,
    pub templates: Templates,
    /// Warnings `check` found (errors stop the check); allowed ones are left out.
    pub warnings: Vec<crate::diagnostic::Diagnostic>,
    /// Warnings accepted for the whole runbook: code and reason.
    pub allow: Vec<(String, String)>,
}

impl Runbook {
    pub fn input(&self, name: &str) -> Option<&Input> {
        self.inputs.iter().find(|input| input.name == name)
    }

    /// Whether a name (input, var, capture or value asked of the operator) holds a secret.
    pub fn is_secret(&self, name: &str) -> bool {
        self.secrets.contains(name)
    }
}

/// Every name that holds a secret: secret inputs, vars that read one, secret captures and
/// values asked of the operator. `check` works it out once, for [`Runbook::secrets`].
pub fn secret_names(inputs: &[Input], vars: &[Var], steps: &[Step]) -> BTreeSet<String> {
    let inputs = inputs
        .iter()
        .filter(|input| input.secret)
        .map(|input| input.name.clone());
    let vars = vars
        .iter()
        .filter(|var| var.secret)
        .map(|var| var.name.clone());
    let captured = steps.iter().flat_map(|step| {
        let asked = match &step.action {
            Action::Manual(manual) => manual.ask.as_slice(),
            _ => &[],
        };
        step.captures
            .iter()
            .filter(|capture| capture.secret.is_secret())
            .map(|capture| capture.name.clone())
            .chain(
                asked
                    .iter()
                    .filter(|ask| ask.secret.is_secret())
                    .map(|ask| ask.name.clone()),
            )
    });
    inputs.chain(vars).chain(captured).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueRef {
    Input(usize),
    Var(usize),
}

#[derive(Debug, Default, Serialize)]
pub struct Metadata {
    pub mode: Option<String>,
    pub last_validated: Option<String>,
    pub validation_method: Option<String>,
    pub average_duration: Option<String>,
    pub required_role: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AppliesTo {
    pub name: String,
    pub legacy: Vec<String>,
    pub description: Option<String>,
}

#[derive(Debug)]
pub struct Input {
    pub name: String,
    pub description: Option<String>,
    /// Environment variable names, tried in order; templates over other values.
    pub env: Vec<Template>,
    pub default: Option<Template>,
    pub secret: bool,
    pub required: bool,
    pub pattern: Option<Arc<Regex>>,
    pub choices: Vec<String>,
    pub example: Option<String>,
    pub span: Span,
}

impl Input {
    /// The default, unless the input is secret: a secret's value is never shown.
    pub fn public_default(&self) -> Option<&Template> {
        self.default.as_ref().filter(|_| !self.secret)
    }

    /// The example, unless the input is secret.
    pub fn public_example(&self) -> Option<&str> {
        self.example.as_deref().filter(|_| !self.secret)
    }
}

/// A pattern as its author wrote it: `check` anchors every pattern as `^(?:…)$`.
pub fn written_pattern(regex: &Regex) -> &str {
    let anchored = regex.as_str();
    anchored
        .strip_prefix("^(?:")
        .and_then(|rest| rest.strip_suffix(")$"))
        .unwrap_or(anchored)
}

#[derive(Debug)]
pub struct Var {
    pub name: String,
    pub template: Template,
    /// Whether the template reads a secret, which makes the var a secret too.
    pub secret: bool,
    pub span: Span,
}

#[derive(Debug)]
pub struct Step {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub span: Span,
    pub when: Option<Expression>,
    pub for_each: Option<ForEach>,
    pub retry: Option<Retry>,
    /// Why the step cannot be undone; `exec` confirms before it runs.
    pub irreversible: Option<String>,
    pub rollback: Option<Template>,
    pub action: Action,
    pub captures: Vec<Capture>,
    pub expect: Expect,
    /// Messages for the operator by failure status.
    pub hints: Vec<(u16, Template)>,
    /// The longest the whole step may take, retries and polling included.
    pub timeout: Option<Duration>,
    /// Whether a POST/PATCH may be retried on transport errors, 429 and 5xx.
    pub retryable: bool,
    pub resume: Option<Resume>,
    /// Warnings accepted on this step: code and reason.
    pub allow: Vec<(String, String)>,
}

/// How `runbook resume` settles a step whose request a crash left unanswered.
#[derive(Debug)]
pub enum Resume {
    Repeat,
    Check(Box<ResumeCheck>),
}

/// A read-only request telling whether a step took effect, and how to undo it if its answer was
/// lost.
#[derive(Debug)]
pub struct ResumeCheck {
    pub check: HttpRequest,
    pub took_effect: Expression,
    pub undo: Option<HttpRequest>,
}

impl Step {
    /// Whether a request of this step may be sent again after a transport error, a 429 or a
    /// 5xx: the idempotent methods (RFC 9110), or a step declared `retryable`.
    pub fn retry_transport(&self, method: Method) -> bool {
        self.retryable || !matches!(method, Method::Post | Method::Patch)
    }

    pub fn effect(&self) -> Effect {
        if self.irreversible.is_some() {
            return Effect::Irreversible;
        }
        match &self.action {
            Action::Manual(_) => Effect::Manual,
            Action::Http(request) if request.read_only => Effect::ReadOnly,
            Action::Http(_) | Action::Propagate(_) | Action::Audit(_) => Effect::Mutating,
        }
    }
}

/// What running a step does to the world, as the plan shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    ReadOnly,
    Mutating,
    Irreversible,
    Manual,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::ReadOnly => "read-only",
            Effect::Mutating => "mutating",
            Effect::Irreversible => "irreversible",
            Effect::Manual => "manual",
        }
    }
}

#[derive(Debug)]
pub enum ForEach {
    Items(Vec<JsonTemplate>),
    Expression(Expression),
}

#[derive(Debug)]
pub struct Retry {
    pub attempts: u32,
    pub interval: Duration,
    pub backoff: f64,
    pub max_interval: Duration,
    pub until: Option<Expression>,
}

impl Retry {
    /// The wait after attempt number `attempt` (1-based) failed.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = self.backoff.powi(attempt.saturating_sub(1).min(64) as i32);
        let seconds = self.interval.as_secs_f64() * factor;
        Duration::from_secs_f64(seconds.min(self.max_interval.as_secs_f64()))
    }
}

#[derive(Debug)]
pub enum Action {
    Http(HttpRequest),
    Manual(Manual),
    Propagate(Propagate),
    Audit(Audit),
}

/// Values written to targets in order; the first failure stops the step.
#[derive(Debug)]
pub struct Propagate {
    pub targets: Vec<Target>,
}

#[derive(Debug)]
pub struct Target {
    pub kind: TargetKind,
    pub values: Vec<PropagatedValue>,
}

#[derive(Clone, Debug)]
pub struct PropagatedValue {
    pub name: Template,
    pub value: Template,
    /// Whether the value's template reads a secret: then it is handled as one.
    pub secret: bool,
}

#[derive(Debug)]
pub enum TargetKind {
    Infisical {
        service: String,
        project: Template,
        environment: Template,
        path: Template,
        auth: InfisicalAuth,
    },
    Heroku {
        service: String,
        app: Template,
        token: Template,
    },
    Github {
        service: String,
        repository: Template,
        environment: Option<Template>,
        token: Template,
    },
    /// One request per value, with `name` and `value` in its templates.
    Http(HttpRequest),
}

impl TargetKind {
    pub fn provider(&self) -> &'static str {
        match self {
            TargetKind::Infisical { .. } => "infisical",
            TargetKind::Heroku { .. } => "heroku",
            TargetKind::Github { .. } => "github",
            TargetKind::Http(_) => "http",
        }
    }
}

#[derive(Debug)]
pub enum InfisicalAuth {
    Token(Template),
    Universal {
        client_id: Template,
        client_secret: Template,
    },
}

#[derive(Debug)]
pub struct Audit {
    pub action: String,
    /// A JSON object whose strings are templates.
    pub context: JsonTemplate,
    pub file: Option<Template>,
    pub callback: Option<HttpRequest>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
        }
    }

    /// GET and HEAD change nothing on the server (RFC 9110 safe methods).
    pub fn is_safe(self) -> bool {
        matches!(self, Method::Get | Method::Head)
    }
}

#[derive(Debug)]
pub struct HttpRequest {
    pub method: Method,
    pub url: Template,
    pub query: Vec<(String, Template)>,
    pub headers: Vec<(String, Template)>,
    pub body: Option<Body>,
    pub timeout: Duration,
    /// A safe method, or a mutating one declared `read_only`.
    pub read_only: bool,
}

#[derive(Debug)]
pub enum Body {
    Json(JsonTemplate),
    Form(Vec<(String, Template)>),
    Raw(Template),
}

/// A JSON value whose strings are templates.
#[derive(Clone, Debug)]
pub enum JsonTemplate {
    /// A value without templates, sent as written.
    Literal(serde_json::Value),
    /// A string with templates, rendered to a string.
    Text(Template),
    /// A string that is one `{{ expression }}`: the expression's value, with its type.
    Native(Expression),
    Array(Vec<JsonTemplate>),
    Object(Vec<(Template, JsonTemplate)>),
}

impl JsonTemplate {
    /// Every string in it that holds templates, keys included, as written (an expression as
    /// `{{ … }}`), with the names it uses and where it stands.
    pub fn texts(&self) -> Vec<(String, &BTreeSet<String>, Span)> {
        let mut leaves = Vec::new();
        self.collect_texts(&mut leaves);
        leaves
    }

    fn collect_texts<'a>(&'a self, leaves: &mut Vec<(String, &'a BTreeSet<String>, Span)>) {
        match self {
            JsonTemplate::Literal(_) => {}
            JsonTemplate::Text(text) => {
                leaves.push((text.source().to_string(), text.uses(), text.span()))
            }
            JsonTemplate::Native(expression) => leaves.push((
                format!("{{{{ {} }}}}", expression.source()),
                expression.uses(),
                expression.span(),
            )),
            JsonTemplate::Array(items) => {
                for item in items {
                    item.collect_texts(leaves);
                }
            }
            JsonTemplate::Object(entries) => {
                for (key, value) in entries {
                    leaves.push((key.source().to_string(), key.uses(), key.span()));
                    value.collect_texts(leaves);
                }
            }
        }
    }

    /// Every template and expression in it, for use analysis.
    pub fn uses(&self) -> Vec<&BTreeSet<String>> {
        match self {
            JsonTemplate::Literal(_) => Vec::new(),
            JsonTemplate::Text(template) => vec![template.uses()],
            JsonTemplate::Native(expression) => vec![expression.uses()],
            JsonTemplate::Array(items) => items.iter().flat_map(JsonTemplate::uses).collect(),
            JsonTemplate::Object(entries) => entries
                .iter()
                .flat_map(|(key, value)| std::iter::once(key.uses()).chain(value.uses()))
                .collect(),
        }
    }
}

#[derive(Debug)]
pub struct Manual {
    pub instructions: Template,
    pub confirm: String,
    pub ask: Vec<Ask>,
}

/// A value the operator enters at a manual step; a capture like any other.
#[derive(Debug)]
pub struct Ask {
    pub name: String,
    pub description: Option<String>,
    pub secret: SecretKind,
    pub env: Vec<String>,
    pub pattern: Option<Arc<Regex>>,
}

#[derive(Debug)]
pub struct Capture {
    pub name: String,
    pub source: CaptureSource,
    pub secret: SecretKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretKind {
    No,
    Yes,
    /// The API shows the value once; losing it means redoing the step.
    Once,
}

impl From<crate::runbook::raw::RawSecretFlag> for SecretKind {
    fn from(flag: crate::runbook::raw::RawSecretFlag) -> SecretKind {
        use crate::runbook::raw::RawSecretFlag;
        match flag {
            RawSecretFlag::No => SecretKind::No,
            RawSecretFlag::Yes => SecretKind::Yes,
            RawSecretFlag::Once => SecretKind::Once,
        }
    }
}

impl SecretKind {
    pub fn is_secret(self) -> bool {
        self != SecretKind::No
    }

    /// How readers are told what kind of secret a value is; `None` for a plain value.
    pub fn describe(self) -> Option<&'static str> {
        match self {
            SecretKind::No => None,
            SecretKind::Yes => Some("secret"),
            SecretKind::Once => Some("secret, shown once"),
        }
    }
}

#[derive(Debug)]
pub enum CaptureSource {
    Json(Path),
    /// A response header, by lowercase name.
    Header(String),
    Body,
}

/// A parsed JSONPath with the text it was parsed from (shared: a runbook repeats its paths).
#[derive(Debug)]
pub struct Path {
    pub text: String,
    pub path: Arc<JsonPath>,
}

#[derive(Debug, Default)]
pub struct Expect {
    pub status: Option<StatusExpectation>,
    pub json: Vec<JsonAssertion>,
    pub headers: Vec<HeaderAssertion>,
    pub that: Vec<Expression>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusExpectation {
    Codes(Vec<u16>),
    /// `2xx`: the hundreds digit.
    Class(u16),
}

impl StatusExpectation {
    pub fn accepts(&self, status: u16) -> bool {
        match self {
            StatusExpectation::Codes(codes) => codes.contains(&status),
            StatusExpectation::Class(class) => status / 100 == *class,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            StatusExpectation::Codes(codes) if codes.len() == 1 => codes[0].to_string(),
            StatusExpectation::Codes(codes) => {
                let codes: Vec<String> = codes.iter().map(u16::to_string).collect();
                format!("one of {}", codes.join(", "))
            }
            StatusExpectation::Class(class) => format!("{class}xx"),
        }
    }
}

#[derive(Debug)]
pub struct JsonAssertion {
    pub path: Path,
    pub conditions: Vec<Condition>,
}

#[derive(Debug)]
pub struct HeaderAssertion {
    /// Lowercase header name.
    pub name: String,
    pub conditions: Vec<Condition>,
}

#[derive(Debug)]
pub enum Condition {
    Compare(Comparison, JsonTemplate),
    Exists(bool),
    Length(Vec<Condition>),
    /// Shared: a clone of a `Regex` carries its own match cache.
    Matches(Arc<Regex>),
    Contains(JsonTemplate),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Comparison {
    pub fn from_operator(operator: &str) -> Option<Comparison> {
        Some(match operator {
            "==" => Comparison::Equal,
            "!=" => Comparison::NotEqual,
            "<" => Comparison::Less,
            "<=" => Comparison::LessOrEqual,
            ">" => Comparison::Greater,
            ">=" => Comparison::GreaterOrEqual,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Equal => "==",
            Comparison::NotEqual => "!=",
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
        }
    }
}

impl Step {
    /// Every top-level name the step's templates and expressions read (inputs, vars, captures,
    /// builtins, `item`, `response`), for the plan and the safety checks.
    pub fn uses(&self) -> BTreeSet<&str> {
        let mut sets: Vec<&BTreeSet<String>> = Vec::new();
        sets.extend(self.when.iter().map(Expression::uses));
        match &self.for_each {
            Some(ForEach::Items(items)) => sets.extend(items.iter().flat_map(JsonTemplate::uses)),
            Some(ForEach::Expression(expression)) => sets.push(expression.uses()),
            None => {}
        }
        match &self.action {
            Action::Http(request) => request.collect_uses(&mut sets),
            Action::Manual(manual) => sets.push(manual.instructions.uses()),
            Action::Propagate(propagate) => {
                for target in &propagate.targets {
                    for value in &target.values {
                        sets.push(value.name.uses());
                        sets.push(value.value.uses());
                    }
                    match &target.kind {
                        TargetKind::Infisical {
                            project,
                            environment,
                            path,
                            auth,
                            ..
                        } => {
                            sets.extend([project.uses(), environment.uses(), path.uses()]);
                            match auth {
                                InfisicalAuth::Token(token) => sets.push(token.uses()),
                                InfisicalAuth::Universal {
                                    client_id,
                                    client_secret,
                                } => sets.extend([client_id.uses(), client_secret.uses()]),
                            }
                        }
                        TargetKind::Heroku { app, token, .. } => {
                            sets.extend([app.uses(), token.uses()])
                        }
                        TargetKind::Github {
                            repository,
                            environment,
                            token,
                            ..
                        } => {
                            sets.extend([repository.uses(), token.uses()]);
                            sets.extend(environment.iter().map(Template::uses));
                        }
                        TargetKind::Http(request) => request.collect_uses(&mut sets),
                    }
                }
            }
            Action::Audit(audit) => {
                sets.extend(audit.context.uses());
                sets.extend(audit.file.iter().map(Template::uses));
                if let Some(callback) = &audit.callback {
                    callback.collect_uses(&mut sets);
                }
            }
        }
        // A resume runs the step's check (and undo) with the values the step reads.
        if let Some(Resume::Check(check)) = &self.resume {
            check.check.collect_uses(&mut sets);
            sets.push(check.took_effect.uses());
            if let Some(undo) = &check.undo {
                undo.collect_uses(&mut sets);
            }
        }
        sets.extend(self.hints.iter().map(|(_, hint)| hint.uses()));
        for assertion in &self.expect.json {
            for condition in &assertion.conditions {
                condition.collect_uses(&mut sets);
            }
        }
        for assertion in &self.expect.headers {
            for condition in &assertion.conditions {
                condition.collect_uses(&mut sets);
            }
        }
        sets.extend(self.expect.that.iter().map(Expression::uses));
        if let Some(until) = self.retry.as_ref().and_then(|retry| retry.until.as_ref()) {
            sets.push(until.uses());
        }
        sets.into_iter()
            .flatten()
            .map(String::as_str)
            .filter(|name| !name.contains('.'))
            .collect()
    }
}

impl HttpRequest {
    pub(crate) fn collect_uses<'a>(&'a self, sets: &mut Vec<&'a BTreeSet<String>>) {
        sets.push(self.url.uses());
        sets.extend(self.query.iter().map(|(_, value)| value.uses()));
        sets.extend(self.headers.iter().map(|(_, value)| value.uses()));
        match &self.body {
            Some(Body::Json(json)) => sets.extend(json.uses()),
            Some(Body::Form(fields)) => sets.extend(fields.iter().map(|(_, value)| value.uses())),
            Some(Body::Raw(text)) => sets.push(text.uses()),
            None => {}
        }
    }
}

impl Condition {
    /// The names the condition's operands read, nested `length` conditions included.
    pub fn uses(&self) -> Vec<&BTreeSet<String>> {
        let mut sets = Vec::new();
        self.collect_uses(&mut sets);
        sets
    }

    fn collect_uses<'a>(&'a self, sets: &mut Vec<&'a BTreeSet<String>>) {
        match self {
            Condition::Compare(_, operand) | Condition::Contains(operand) => {
                sets.extend(operand.uses())
            }
            Condition::Length(conditions) => {
                for condition in conditions {
                    condition.collect_uses(sets);
                }
            }
            Condition::Exists(_) | Condition::Matches(_) => {}
        }
    }
}

/// The float a JSON number holds when it is a whole number 64 bits cannot hold, signed or not:
/// what an integer written that large became when it was read (`12345678901234567890123` as
/// `1.2345678901234568e22`). -2^63 itself counts: an integer just below `i64::MIN` rounds to it.
pub fn integer_beyond_64_bits(number: &serde_json::Number) -> Option<f64> {
    let float = number.as_f64().filter(|_| number.is_f64())?;
    (float.fract() == 0.0 && (float <= -(2f64.powi(63)) || float >= 2f64.powi(64))).then_some(float)
}
