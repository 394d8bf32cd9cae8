//! Checking steps: ids, actions, requests, loops, retries and the names each template uses.

use std::collections::HashSet;
use std::time::Duration;

use indexmap::IndexMap;

use super::names::StepLocals;
use super::{Checker, is_identifier, is_slug};
use crate::diagnostic::{Diagnostic, Span};
use crate::runbook::codes;
use crate::runbook::model::{
    Action, Body, ForEach, HttpRequest, JsonTemplate, Manual, Method, Resume, ResumeCheck, Retry,
    Step,
};
use crate::runbook::raw::{RawForEach, RawHttp, RawManual, RawResume, RawRetry, RawStep};
use crate::runbook::span::Spanned;
use crate::template::{Expression, Template};

/// The time an HTTP request may take unless the step says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl Checker {
    /// Checks the steps in order. Each raw step is dropped once checked, so the memory it held
    /// serves the checked ones.
    pub(super) fn steps(&mut self, raw_steps: Vec<Spanned<RawStep>>) -> Vec<Step> {
        for (index, step) in raw_steps.iter().enumerate() {
            for name in step_capture_names(&step.value) {
                self.names
                    .capture_sites
                    .entry(name.clone())
                    .or_default()
                    .push((index, step.value.id.value.clone()));
            }
        }
        let mut ids: HashSet<String> = HashSet::new();
        let mut steps = Vec::with_capacity(raw_steps.len());
        for (position, spanned) in raw_steps.into_iter().enumerate() {
            let spanned = &spanned;
            let raw = &spanned.value;
            self.names.position = position;
            let id_ok = self.step_id(&raw.id, &mut ids);
            if let Some(step) = self.step(spanned)
                && id_ok
            {
                steps.push(step);
            }
            for name in step_capture_names(raw) {
                self.names.captured.insert(name);
            }
            for name in secret_capture_names(raw) {
                self.names.secrets.insert(name);
            }
        }
        steps
    }

    fn step_id(&mut self, id: &Spanned<String>, ids: &mut HashSet<String>) -> bool {
        if !is_slug(&id.value) {
            self.error(
                Diagnostic::error(
                    codes::INVALID_NAME,
                    format!("invalid step id `{}`", id.value),
                )
                .at(id.span)
                .label("lowercase letters, digits and dashes")
                .help("step ids are lowercase words joined by dashes, e.g. `delete-old-token`"),
            );
            return false;
        }
        if !ids.insert(id.value.clone()) {
            self.error(
                Diagnostic::error(
                    codes::DUPLICATE_NAME,
                    format!("duplicate step id `{}`", id.value),
                )
                .at(id.span)
                .label("used by an earlier step")
                .help("step ids must be unique; rename this one"),
            );
            return false;
        }
        true
    }

    fn step(&mut self, spanned: &Spanned<RawStep>) -> Option<Step> {
        let raw = &spanned.value;
        let errors_before = self.diagnostics.error_count();
        self.plain_text(&raw.title, "the step's title", false);
        if let Some(description) = &raw.description {
            self.plain_text(description, "the step's description", true);
        }
        // Shown at the terminal (the irreversible question quotes its reason) and in the SOP.
        if let Some(reason) = &raw.irreversible {
            self.plain_text(reason, "the irreversible reason", true);
        }
        if let Some(rollback) = &raw.rollback {
            self.plain_text(rollback, "the rollback note", true);
        }
        for hint in raw.hints.values() {
            self.plain_text(hint, "a hint", true);
        }
        if let Some(manual) = &raw.manual
            && let super::super::raw::RawManual::Spec(spec) = &manual.value
        {
            self.plain_text(&spec.instructions, "the manual step's text", true);
            if let Some(confirm) = &spec.confirm {
                self.plain_text(confirm, "the manual question", false);
            }
        }
        let own_captures: Vec<String> = step_capture_names(raw);
        let base = StepLocals {
            item: raw.for_each.is_some(),
            ..StepLocals::default()
        };
        let judging = StepLocals {
            response: true,
            own_captures: own_captures.clone(),
            ..base.clone()
        };
        let for_each = raw
            .for_each
            .as_ref()
            .and_then(|for_each| self.for_each(for_each));
        let when = raw
            .when
            .as_ref()
            .and_then(|when| self.expression(when, &StepLocals::default()));
        let action = self.action(spanned, &base);
        let captures = self.captures(raw);
        let expect = match &raw.expect {
            Some(expect) => self.expect(expect, &judging, &base),
            None => Default::default(),
        };
        let retry = raw
            .retry
            .as_ref()
            .and_then(|retry| self.retry(retry, &judging));
        let rollback_locals = StepLocals {
            own_captures,
            ..base.clone()
        };
        let rollback = raw
            .rollback
            .as_ref()
            .and_then(|note| self.template(note, &rollback_locals));
        if let Some(irreversible) = &raw.irreversible
            && irreversible.value.trim().is_empty()
        {
            self.error(
                Diagnostic::error(codes::SHAPE, "`irreversible` needs the reason")
                    .at(irreversible.span)
                    .label("empty")
                    .help("say what cannot be undone, e.g. `Revokes all access for the old token immediately.`"),
            );
        } else if let Some(irreversible) = &raw.irreversible
            && ["false", "no", "off", "true", "yes", "on"]
                .iter()
                .any(|word| irreversible.value.trim().eq_ignore_ascii_case(word))
        {
            // `irreversible: false` made the step irreversible, with "false" as its reason.
            self.error(
                Diagnostic::error(
                    codes::SHAPE,
                    format!("`irreversible` takes the reason, not `{}`", irreversible.value.trim()),
                )
                .at(irreversible.span)
                .label("a reason is expected")
                .help("for a step that can be undone, leave `irreversible` out; otherwise say what cannot be undone, e.g. `Revokes the old token immediately.`"),
            );
        }
        let hints = self.hints(&raw.hints, &rollback_locals);
        let timeout = raw
            .timeout
            .as_ref()
            .and_then(|timeout| self.duration(timeout, "step timeout"));
        if let (Some(duration), Some(written)) = (timeout, &raw.timeout)
            && duration.is_zero()
        {
            self.error(
                Diagnostic::error(codes::INVALID_DURATION, "the step timeout is zero")
                    .at(written.span)
                    .label("must be positive")
                    .help("give the step time to finish, e.g. 5m, or leave `timeout` out"),
            );
        }
        let resume = raw
            .resume
            .as_ref()
            .and_then(|resume| self.resume(resume, &base));
        if self.diagnostics.error_count() > errors_before {
            return None;
        }
        Some(Step {
            id: raw.id.value.clone(),
            title: raw.title.value.clone(),
            description: raw.description.as_ref().map(|text| text.value.clone()),
            span: raw.id.span,
            when,
            for_each,
            retry,
            irreversible: raw
                .irreversible
                .as_ref()
                .map(|text| text.value.trim().to_string()),
            rollback,
            action: action?,
            captures: captures?,
            expect,
            hints,
            timeout,
            retryable: raw.retryable.unwrap_or(false),
            resume,
            allow: self.allow(&raw.allow),
        })
    }

    fn resume(&mut self, spanned: &Spanned<RawResume>, locals: &StepLocals) -> Option<Resume> {
        match &spanned.value {
            RawResume::Repeat => Some(Resume::Repeat),
            RawResume::Check(check) => {
                let request = self.http_request(&check.check, locals)?;
                if !request.read_only {
                    self.error(
                        Diagnostic::error(codes::INVALID_RETRY, "a resume check must be read-only")
                            .at(self.locate_key(check.check.span, "check"))
                            .label("changes something")
                            .help("use a GET (or a POST marked `read_only: true`) that tells whether the step took effect"),
                    );
                    return None;
                }
                let judging = StepLocals {
                    response: true,
                    ..locals.clone()
                };
                let took_effect = self.expression(&check.took_effect, &judging)?;
                let undo = match &check.undo {
                    Some(undo) => Some(self.http_request(undo, &judging)?),
                    None => None,
                };
                Some(Resume::Check(Box::new(ResumeCheck {
                    check: request,
                    took_effect,
                    undo,
                })))
            }
        }
    }

    /// Compiles a template and checks the names it uses.
    pub(crate) fn template(
        &mut self,
        spanned: &Spanned<String>,
        locals: &StepLocals,
    ) -> Option<Template> {
        let template = self.compile_template(spanned)?;
        self.check_uses(spanned, template.uses(), locals)
            .then_some(template)
    }

    /// Compiles an expression and checks the names it uses.
    pub(crate) fn expression(
        &mut self,
        spanned: &Spanned<String>,
        locals: &StepLocals,
    ) -> Option<Expression> {
        let expression = self.compile_expression(spanned)?;
        self.check_uses(spanned, expression.uses(), locals)
            .then_some(expression)
    }

    /// Compiles a JSON value whose strings are templates, written at `span`.
    pub(crate) fn json_template(
        &mut self,
        value: &serde_json::Value,
        span: Span,
        locals: &StepLocals,
    ) -> Option<JsonTemplate> {
        let mut oversized = Vec::new();
        oversized_integers(value, &mut oversized);
        if !oversized.is_empty() && !self.oversized_integers(oversized, span) {
            return None;
        }
        self.json_template_part(value, span, locals)
    }

    /// Reports each integer written in the value at `span` that 64 bits cannot hold, which the
    /// YAML reader has made a float (`12345678901234567890123` would go out as
    /// `1.2345678901234568e22`). `floats` are the candidates, found in the value; only those
    /// written as plain digits in the file are reported. Whether none was.
    fn oversized_integers(&mut self, mut floats: Vec<f64>, span: Span) -> bool {
        let source = self.source.clone();
        let text = &source.text;
        let bytes = text.as_bytes();
        let mut at = span.offset.min(bytes.len());
        // The value ends at a line indented less than a block value's first line, or no more
        // than the line of a value written after its key (`json: { … }`).
        let line_start = text[..at].rfind('\n').map_or(0, |newline| newline + 1);
        let indent = |line: &[u8]| line.iter().take_while(|byte| **byte == b' ').count();
        let block = indent(&bytes[line_start..]) == at - line_start;
        // A line indented less than this is past the value.
        let own_indent = indent(&bytes[line_start..]) + usize::from(!block);
        let mut clean = true;
        while at < bytes.len() && !floats.is_empty() {
            if bytes[at] == b'\n' {
                let next = &bytes[at + 1..];
                let line_end = next
                    .iter()
                    .position(|byte| *byte == b'\n')
                    .unwrap_or(next.len());
                let line = &next[..line_end];
                let blank = line.iter().all(|byte| byte.is_ascii_whitespace());
                if !blank && indent(line) < own_indent {
                    break;
                }
            }
            if !bytes[at].is_ascii_digit() {
                at += 1;
                continue;
            }
            let digits = at;
            while at < bytes.len() && bytes[at].is_ascii_digit() {
                at += 1;
            }
            let start = if digits > 0 && bytes[digits - 1] == b'-' {
                digits - 1
            } else {
                digits
            };
            let part_of_word = |byte: Option<&u8>| {
                byte.is_some_and(|byte| byte.is_ascii_alphanumeric() || b"_.+-\"'".contains(byte))
            };
            if part_of_word(start.checked_sub(1).and_then(|before| bytes.get(before)))
                || part_of_word(bytes.get(at))
            {
                continue;
            }
            let written = &text[start..at];
            if written.parse::<i64>().is_ok() || written.parse::<u64>().is_ok() {
                continue;
            }
            let Ok(float) = written.parse::<f64>() else {
                continue;
            };
            if let Some(found) = floats.iter().position(|candidate| *candidate == float) {
                floats.swap_remove(found);
                clean = false;
                self.error(
                    Diagnostic::error(
                        codes::SHAPE,
                        format!(
                            "`{written}` does not fit in a 64-bit integer, so it would be sent \
                             as the approximation {}",
                            serde_json::Value::from(float)
                        ),
                    )
                    .at(Span::new(start, at - start))
                    .label("more than 64 bits")
                    .help("quote it to send it as text, as APIs take large ids; or write it with a decimal point if an approximate number is meant"),
                );
            }
        }
        clean
    }

    fn json_template_part(
        &mut self,
        value: &serde_json::Value,
        span: Span,
        locals: &StepLocals,
    ) -> Option<JsonTemplate> {
        if !contains_template(value) {
            return Some(JsonTemplate::Literal(value.clone()));
        }
        match value {
            serde_json::Value::String(text) => {
                let spanned = Spanned::new(text.clone(), span);
                match self.compile_native(&spanned) {
                    Some(Some(expression)) => self
                        .check_uses(&spanned, expression.uses(), locals)
                        .then_some(JsonTemplate::Native(expression)),
                    // Not a valid lone expression: compile as a template for its error.
                    _ => self.template(&spanned, locals).map(JsonTemplate::Text),
                }
            }
            serde_json::Value::Array(items) => {
                let compiled: Vec<Option<JsonTemplate>> = items
                    .iter()
                    .map(|item| self.json_template_part(item, span, locals))
                    .collect();
                compiled
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(JsonTemplate::Array)
            }
            serde_json::Value::Object(entries) => {
                let mut compiled = Vec::new();
                let mut ok = true;
                for (key, item) in entries {
                    let key_template = self.template(&Spanned::new(key.clone(), span), locals);
                    let item_template = self.json_template_part(item, span, locals);
                    match (key_template, item_template) {
                        (Some(key), Some(item)) => compiled.push((key, item)),
                        _ => ok = false,
                    }
                }
                ok.then_some(JsonTemplate::Object(compiled))
            }
            other => Some(JsonTemplate::Literal(other.clone())),
        }
    }

    fn for_each(&mut self, spanned: &Spanned<RawForEach>) -> Option<ForEach> {
        // Items and the expression are evaluated before the loop: no `item` yet.
        let locals = StepLocals::default();
        match &spanned.value {
            RawForEach::Items(items) => {
                if items.is_empty() {
                    self.error(
                        Diagnostic::error(codes::SHAPE, "`for_each` has no items")
                            .at(spanned.span)
                            .label("empty list")
                            .help("list at least one item, or remove `for_each`"),
                    );
                    return None;
                }
                let compiled: Vec<Option<JsonTemplate>> = items
                    .iter()
                    .map(|item| self.json_template(item, spanned.span, &locals))
                    .collect();
                compiled
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(ForEach::Items)
            }
            RawForEach::Expression(source) => {
                let source = source
                    .trim()
                    .strip_prefix("{{")
                    .and_then(|inner| inner.strip_suffix("}}"))
                    .unwrap_or(source)
                    .trim()
                    .to_string();
                self.expression(&Spanned::new(source, spanned.span), &locals)
                    .map(ForEach::Expression)
            }
        }
    }

    fn action(&mut self, spanned: &Spanned<RawStep>, locals: &StepLocals) -> Option<Action> {
        let raw = &spanned.value;
        let given: Vec<(&str, crate::diagnostic::Span)> = [
            ("http", raw.http.as_ref().map(|http| http.span)),
            ("manual", raw.manual.as_ref().map(|manual| manual.span)),
            (
                "propagate",
                raw.propagate.as_ref().map(|propagate| propagate.span),
            ),
            ("audit", raw.audit.as_ref().map(|audit| audit.span)),
        ]
        .into_iter()
        .filter_map(|(key, span)| span.map(|span| (key, span)))
        .collect();
        match given.as_slice() {
            [] => {
                self.error(
                    Diagnostic::error(codes::STEP_ACTION, format!("step `{}` has no action", raw.id.value))
                        .at(raw.id.span)
                        .label("needs an action")
                        .help("give the step exactly one of `http:` (a request), `manual:` (instructions the operator confirms), `propagate:` (write values to stores) or `audit:` (an audit record)"),
                );
                None
            }
            [_] => {
                if let Some(http) = &raw.http {
                    self.http_request(http, locals).map(Action::Http)
                } else if let Some(manual) = &raw.manual {
                    self.manual(manual, locals).map(Action::Manual)
                } else if let Some(propagate) = &raw.propagate {
                    self.propagate(propagate, locals).map(Action::Propagate)
                } else if let Some(audit) = &raw.audit {
                    self.audit(audit, locals).map(Action::Audit)
                } else {
                    None
                }
            }
            [(first, _), (second, span), ..] => {
                self.error(
                    Diagnostic::error(
                        codes::STEP_ACTION,
                        format!(
                            "step `{}` has two actions, `{first}` and `{second}`",
                            raw.id.value
                        ),
                    )
                    .at(self.locate_key(*span, second))
                    .label("second action")
                    .help("a step does one thing: split it into one step per action"),
                );
                None
            }
        }
    }

    pub(super) fn http_request(
        &mut self,
        spanned: &Spanned<RawHttp>,
        locals: &StepLocals,
    ) -> Option<HttpRequest> {
        let raw = &spanned.value;
        let methods = [
            (Method::Get, &raw.get, "get"),
            (Method::Post, &raw.post, "post"),
            (Method::Put, &raw.put, "put"),
            (Method::Patch, &raw.patch, "patch"),
            (Method::Delete, &raw.delete, "delete"),
            (Method::Head, &raw.head, "head"),
        ];
        let given: Vec<(Method, &Spanned<String>, &str)> = methods
            .iter()
            .filter_map(|(method, url, key)| url.as_ref().map(|url| (*method, url, *key)))
            .collect();
        let (method, url_source) = match given.as_slice() {
            [(method, url, _)] => (*method, *url),
            [] => {
                self.error(
                    Diagnostic::error(codes::HTTP_METHOD, "the request has no method and URL")
                        .at(self.locate_key(spanned.span, "http"))
                        .label("needs one of get, post, put, patch, delete, head")
                        .help("write the method as the key and the URL as its value, e.g. `get: \"{{ services.cloudflare }}/user/tokens/verify\"`"),
                );
                return None;
            }
            [_, (_, url, key), ..] => {
                self.error(
                    Diagnostic::error(codes::HTTP_METHOD, "the request has more than one method")
                        .at(self.locate_key(url.span, key))
                        .label("second method")
                        .help("a request has exactly one of get, post, put, patch, delete, head"),
                );
                return None;
            }
        };
        let url = self.template(url_source, locals);
        if let Some(url) = &url
            && url.is_literal()
            && reqwest::Url::parse(url.source()).is_err()
        {
            self.error(
                Diagnostic::error(
                    codes::INVALID_URL,
                    format!("`{}` is not an absolute URL", url.source()),
                )
                .at(url_source.span)
                .label("not a URL")
                .help(
                    "start from a service: \"{{ services.NAME }}/path\", or write the URL in full",
                ),
            );
        }
        let query = self.template_pairs(&raw.query, locals);
        let mut headers = Vec::new();
        for (name, value) in &raw.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.error(
                    Diagnostic::error(codes::SHAPE, format!("`{name}` is not a valid header name"))
                        .at(self.locate_key(value.span, name))
                        .label("invalid header name")
                        .help(
                            "header names are letters, digits and dashes, e.g. CF-Access-Client-Id",
                        ),
                );
                continue;
            }
            if let Some(template) = self.template(value, locals) {
                headers.push((name.clone(), template));
            }
        }
        if let Some(bearer) = &raw.bearer {
            if headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
            {
                self.error(
                    Diagnostic::error(
                        codes::BODY_CONFLICT,
                        "both `bearer` and an Authorization header are set",
                    )
                    .at(bearer.span)
                    .label("sets Authorization too")
                    .help("keep one of them"),
                );
            }
            let with_scheme = Spanned::new(bearer.value.clone(), bearer.span);
            if let Some(token) = self.template(&with_scheme, locals) {
                let authorization = if token.is_literal() {
                    Template::literal(&format!("Bearer {}", token.source())).at(bearer.span)
                } else {
                    self.compile_template(&Spanned::new(
                        format!("Bearer {}", bearer.value),
                        bearer.span,
                    ))?
                };
                headers.push(("Authorization".into(), authorization));
            }
        }
        let bodies = [raw.json.is_some(), raw.form.is_some(), raw.body.is_some()];
        let body = if bodies.iter().filter(|given| **given).count() > 1 {
            self.error(
                Diagnostic::error(codes::BODY_CONFLICT, "the request has more than one body")
                    .at(self.locate_key(spanned.span, "http"))
                    .label("json, form and body are exclusive")
                    .help("keep one of `json:`, `form:` or `body:`"),
            );
            None
        } else if let Some(json) = &raw.json {
            self.json_template(&json.value, json.span, locals)
                .map(Body::Json)
        } else if let Some(form) = &raw.form {
            Some(Body::Form(self.template_pairs(&form.value, locals)))
        } else if let Some(body) = &raw.body {
            self.template(body, locals).map(Body::Raw)
        } else {
            None
        };
        let timeout = match &raw.timeout {
            Some(timeout) => {
                let duration = self.duration(timeout, "timeout")?;
                if duration.is_zero() {
                    self.error(
                        Diagnostic::error(codes::INVALID_DURATION, "the timeout is zero")
                            .at(timeout.span)
                            .label("must be positive")
                            .help("give the request time to answer, e.g. 30s"),
                    );
                }
                duration
            }
            None => DEFAULT_TIMEOUT,
        };
        Some(HttpRequest {
            method,
            url: url?,
            query,
            headers,
            body,
            timeout,
            read_only: method.is_safe() || raw.read_only.unwrap_or(false),
        })
    }

    fn template_pairs(
        &mut self,
        pairs: &IndexMap<String, Spanned<String>>,
        locals: &StepLocals,
    ) -> Vec<(String, Template)> {
        pairs
            .iter()
            .filter_map(|(name, value)| {
                self.template(value, locals)
                    .map(|template| (name.clone(), template))
            })
            .collect()
    }

    fn manual(&mut self, spanned: &Spanned<RawManual>, locals: &StepLocals) -> Option<Manual> {
        let (instructions, confirm) = match &spanned.value {
            RawManual::Instructions(text) => (Spanned::new(text.clone(), spanned.span), None),
            RawManual::Spec(spec) => (spec.instructions.clone(), spec.confirm.clone()),
        };
        if instructions.value.trim().is_empty() {
            self.error(
                Diagnostic::error(codes::SHAPE, "the manual step has no instructions")
                    .at(instructions.span)
                    .label("empty")
                    .help("write what the operator must do, in Markdown"),
            );
            return None;
        }
        let instructions = self.template(&instructions, locals)?;
        let ask = match &spanned.value {
            RawManual::Spec(spec) => self.asks(&spec.ask)?,
            RawManual::Instructions(_) => Vec::new(),
        };
        Some(Manual {
            instructions,
            confirm: confirm.map_or_else(|| "Done?".to_string(), |text| text.value),
            ask,
        })
    }

    fn retry(&mut self, spanned: &Spanned<RawRetry>, judging: &StepLocals) -> Option<Retry> {
        let raw = &spanned.value;
        let mut ok = true;
        if raw.attempts.value == 0 || raw.attempts.value > 1000 {
            self.error(
                Diagnostic::error(
                    codes::INVALID_RETRY,
                    format!("{} attempts", raw.attempts.value),
                )
                .at(raw.attempts.span)
                .label("between 1 and 1000")
                .help("`attempts` counts every try, the first included"),
            );
            ok = false;
        }
        let interval = match &raw.interval {
            Some(interval) => self.duration(interval, "interval"),
            None => Some(Duration::from_secs(1)),
        };
        let max_interval = match &raw.max_interval {
            Some(max) => self.duration(max, "max_interval"),
            None => Some(Duration::from_secs(60)),
        };
        let backoff = raw.backoff.as_ref().map_or(1.0, |backoff| backoff.value);
        if !(1.0..=10.0).contains(&backoff) {
            let span = raw
                .backoff
                .as_ref()
                .map_or(spanned.span, |backoff| backoff.span);
            self.error(
                Diagnostic::error(codes::INVALID_RETRY, format!("backoff {backoff}"))
                    .at(span)
                    .label("between 1 and 10")
                    .help("the wait is multiplied by `backoff` after each attempt: 1 keeps it constant, 2 doubles it"),
            );
            ok = false;
        }
        if let (Some(interval), Some(max), Some(raw_max)) =
            (interval, max_interval, &raw.max_interval)
            && max < interval
        {
            // Retries then ran every `max_interval`, shorter than the interval asked for.
            self.error(
                Diagnostic::error(
                    codes::INVALID_RETRY,
                    format!("max_interval {} is shorter than the interval", raw_max.value),
                )
                .at(raw_max.span)
                .label("caps the wait below the interval")
                .help("`max_interval` caps a growing wait; make it at least the interval, or leave it out"),
            );
            ok = false;
        }
        let until = match &raw.until {
            Some(until) => Some(self.expression(until, judging)?),
            None => None,
        };
        (ok).then_some(())?;
        Some(Retry {
            attempts: raw.attempts.value,
            interval: interval?,
            backoff,
            max_interval: max_interval?,
            until,
        })
    }

    pub(super) fn capture_name_ok(&mut self, name: &str, span: Span) -> bool {
        if !is_identifier(name) || super::BUILTINS.contains(&name) {
            self.error(
                Diagnostic::error(
                    codes::INVALID_NAME,
                    format!("invalid capture name `{name}`"),
                )
                .at(self.locate_key(span, name))
                .label("letters, digits and underscores, not a reserved name")
                .help("templates refer to a capture as `{{ NAME }}`, so it must be an identifier"),
            );
            return false;
        }
        if self.names.values.contains(name) {
            self.error(
                Diagnostic::error(
                    codes::DUPLICATE_NAME,
                    format!("capture `{name}` has the name of an input or var"),
                )
                .at(self.locate_key(span, name))
                .label("already an input or var")
                .help("rename the capture"),
            );
            return false;
        }
        true
    }
}

/// The names a step captures: from the response, or asked of the operator.
pub(super) fn step_capture_names(raw: &RawStep) -> Vec<String> {
    let mut names: Vec<String> = raw.capture.keys().cloned().collect();
    if let Some(manual) = &raw.manual
        && let RawManual::Spec(spec) = &manual.value
    {
        names.extend(spec.ask.keys().cloned());
    }
    names
}

/// The names among them that hold secrets.
fn secret_capture_names(raw: &RawStep) -> Vec<String> {
    let mut names: Vec<String> = raw
        .capture
        .iter()
        .filter(|(_, capture)| match &capture.value {
            crate::runbook::raw::RawCapture::Spec(spec) => {
                spec.secret != crate::runbook::raw::RawSecretFlag::No
            }
            crate::runbook::raw::RawCapture::Path(_) => false,
        })
        .map(|(name, _)| name.clone())
        .collect();
    if let Some(manual) = &raw.manual
        && let RawManual::Spec(spec) = &manual.value
    {
        names.extend(
            spec.ask
                .iter()
                .filter(|(_, ask)| ask.value.secret != crate::runbook::raw::RawSecretFlag::No)
                .map(|(name, _)| name.clone()),
        );
    }
    names
}

fn contains_template(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => {
            text.contains("{{") || text.contains("{%") || text.contains("{#")
        }
        serde_json::Value::Array(items) => items.iter().any(contains_template),
        serde_json::Value::Object(entries) => entries
            .iter()
            .any(|(key, item)| key.contains("{{") || key.contains("{%") || contains_template(item)),
        _ => false,
    }
}

/// The floats in `value` that are whole numbers outside what 64 bits hold, signed or not: the
/// ones an integer written in the runbook may have become.
fn oversized_integers(value: &serde_json::Value, found: &mut Vec<f64>) {
    match value {
        serde_json::Value::Number(number) => {
            found.extend(crate::runbook::model::integer_beyond_64_bits(number));
        }
        serde_json::Value::Array(items) => items
            .iter()
            .for_each(|item| oversized_integers(item, found)),
        serde_json::Value::Object(entries) => entries
            .values()
            .for_each(|item| oversized_integers(item, found)),
        _ => {}
    }
}
