//! The safety checks: what `runbook check` finds in a runbook that is valid but unsafe or
//! sloppy. Secrets flowing where they can leak, revocation before the new credential works,
//! irreversible steps without confirmation, a shown-once secret nobody stores, mutating steps
//! without a rollback note, values nobody uses, steps that cannot run, plain-http services.
//!
//! Each rule has a stable code (README, "For authors", lists them). Errors fail the check;
//! warnings do not, and one can be accepted on a step (or the whole runbook) with
//! `allow: { RB120: "the reason" }`.

use std::collections::{BTreeSet, HashMap};

use super::model::{
    Action, CaptureSource, Effect, ForEach, HttpRequest, InfisicalAuth, JsonTemplate, Method,
    Resume, Runbook, SecretKind, Step, TargetKind,
};
use crate::diagnostic::{Diagnostic, Span};
use crate::template::{Expression, Scope, Template};

pub const CAPTURE_MAY_BE_UNSET: &str = "RB101";
pub const SECRET_IN_URL: &str = "RB102";
pub const SECRET_IN_TEXT: &str = "RB103";
pub const SECRET_CAPTURE_NOT_MARKED: &str = "RB104";
pub const LITERAL_CREDENTIAL: &str = "RB105";
pub const IRREVERSIBLE_UNMARKED: &str = "RB110";
pub const REVOKE_BEFORE_VERIFY: &str = "RB111";
pub const RETRY_REPEATS_CHANGE: &str = "RB112";
pub const LOOP_RESUME_CHECK: &str = "RB113";
pub const NO_ROLLBACK_NOTE: &str = "RB120";
pub const SHOWN_ONCE_NOT_STORED: &str = "RB121";
pub const UNUSED_VALUE: &str = "RB130";
pub const UNUSED_CAPTURE: &str = "RB131";
pub const UNREACHABLE_STEP: &str = "RB132";
pub const CAPTURE_OVERWRITTEN: &str = "RB133";
pub const PLAIN_HTTP: &str = "RB140";

/// Every rule: code, severity (`true` for an error), and what it catches.
pub const RULES: &[(&str, bool, &str)] = &[
    (
        CAPTURE_MAY_BE_UNSET,
        false,
        "a capture is used where the step that takes it may have been skipped by its `when`",
    ),
    (
        SECRET_IN_URL,
        true,
        "a secret in a URL or query string (they end up in logs, proxies and browser history)",
    ),
    (
        SECRET_IN_TEXT,
        true,
        "a secret in text meant to be read: manual instructions, rollback notes, hints, the audit context (use `| fingerprint`), the lock key, a `for_each` list, the name of a propagated value",
    ),
    (
        LITERAL_CREDENTIAL,
        true,
        "a credential written into the runbook (a bearer, an Authorization header, a store's token or client secret) instead of read from a secret input",
    ),
    (
        SECRET_CAPTURE_NOT_MARKED,
        false,
        "a capture takes a secret-looking field (client_secret, token, password…) without `secret: true`",
    ),
    (
        IRREVERSIBLE_UNMARKED,
        false,
        "a request that revokes or rolls (DELETE, …/value, …/rotate, …/revoke) is not marked `irreversible`, so nobody confirms it",
    ),
    (
        REVOKE_BEFORE_VERIFY,
        false,
        "an irreversible step revokes before the new credential has been verified (a read-only request using it) and propagated",
    ),
    (
        RETRY_REPEATS_CHANGE,
        false,
        "`retry` repeats a request that is neither read-only nor idempotent",
    ),
    (
        LOOP_RESUME_CHECK,
        false,
        "a `for_each` step has a `resume: check`, which a resume never uses: a loop left in doubt answers for several items, so the operator decides",
    ),
    (
        NO_ROLLBACK_NOTE,
        false,
        "a step that changes something has no `rollback` note",
    ),
    (
        SHOWN_ONCE_NOT_STORED,
        false,
        "a secret shown once is never stored by a later `propagate` step",
    ),
    (UNUSED_VALUE, false, "an input or var is never used"),
    (UNUSED_CAPTURE, false, "a capture is never used"),
    (UNREACHABLE_STEP, false, "a step's `when` is always false"),
    (
        CAPTURE_OVERWRITTEN,
        false,
        "two steps that always run capture the same name: the second silently replaces the first",
    ),
    (
        PLAIN_HTTP,
        false,
        "a request goes over plain http to a host that is not this machine",
    ),
];

/// Whether a code names a rule that can be allowed (a warning).
pub fn allowable(code: &str) -> Option<bool> {
    RULES
        .iter()
        .find(|(rule, _, _)| *rule == code)
        .map(|(_, error, _)| !error)
}

/// Whether a JSONPath's last name looks like a secret's (`$.result.secret`, `$..api_key`): it
/// contains one of a few words, ASCII case aside.
fn names_a_secret(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let tail_start = lower.rfind(['.', '[', ']']).map_or(0, |at| at + 1);
    let tail = &lower[tail_start..];
    if ["secret", "token", "passw", "private", "credential"]
        .iter()
        .any(|word| tail.contains(word))
    {
        return true;
    }
    // `api_key`, `apikey`, `access-key`: the word, at most one character, then `key`.
    tail.match_indices("key").any(|(at, _)| {
        let before = &lower[..tail_start + at];
        let one_less = before
            .char_indices()
            .next_back()
            .map_or("", |(last, _)| &before[..last]);
        ["api", "access"]
            .iter()
            .any(|word| before.ends_with(word) || one_less.ends_with(word))
    })
}

/// Whether a URL's path ends in a segment that revokes or rolls (`…/roll`, `…/value/`), before
/// the query if there is one.
fn revokes_or_rolls(url: &str) -> bool {
    url.match_indices('?')
        .map(|(at, _)| at)
        .chain([url.len()])
        .any(|end| {
            let path = &url[..end];
            let path = path.strip_suffix('/').unwrap_or(path);
            path.rsplit_once('/').is_some_and(|(_, last)| {
                matches!(last, "value" | "rotate" | "roll" | "revoke" | "revocation")
            })
        })
}

/// Runs every rule: the errors, and the warnings that neither the runbook nor their step allows.
pub fn lint(runbook: &Runbook) -> Vec<Diagnostic> {
    let mut capturers: HashMap<&str, Vec<usize>, foldhash::fast::RandomState> = HashMap::default();
    for (index, step) in runbook.steps.iter().enumerate() {
        for (name, _) in captured(step) {
            capturers.entry(name).or_default().push(index);
        }
    }
    let mut lint = Lint {
        runbook,
        found: Vec::new(),
        secrets: &runbook.secrets,
        uses: runbook.steps.iter().map(Step::uses).collect(),
        capturers,
    };
    lint.plain_http_services();
    for (index, step) in runbook.steps.iter().enumerate() {
        lint.step(index, step);
    }
    lint.unused_values();
    lint.found
}

struct Lint<'a> {
    runbook: &'a Runbook,
    found: Vec<Diagnostic>,
    /// Inputs, vars and captures that hold secrets.
    secrets: &'a BTreeSet<String>,
    /// What each step uses, worked out once.
    uses: Vec<BTreeSet<&'a str>>,
    /// For each captured name, the steps that capture it, in order.
    capturers: HashMap<&'a str, Vec<usize>, foldhash::fast::RandomState>,
}

/// The names a step captures (from the response, or asked of the operator).
fn captured(step: &Step) -> Vec<(&str, SecretKind)> {
    let mut names: Vec<(&str, SecretKind)> = step
        .captures
        .iter()
        .map(|capture| (capture.name.as_str(), capture.secret))
        .collect();
    if let Action::Manual(manual) = &step.action {
        names.extend(manual.ask.iter().map(|ask| (ask.name.as_str(), ask.secret)));
    }
    names
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

impl Lint<'_> {
    fn report(&mut self, diagnostic: Diagnostic) {
        self.found.push(diagnostic);
    }

    /// Whether a warning with this code is wanted here: not when the runbook, or the step,
    /// allows it. An allowed warning is never shown, so it is not worded either (a long runbook
    /// that allows RB120 would otherwise build a message for each of its hundreds of steps).
    fn wants(&self, step: Option<usize>, code: &str) -> bool {
        let allows = |allow: &[(String, String)]| allow.iter().any(|(allowed, _)| allowed == code);
        !(allows(&self.runbook.allow)
            || step.is_some_and(|index| allows(&self.runbook.steps[index].allow)))
    }

    fn secrets_in<'b>(&self, uses: impl IntoIterator<Item = &'b String>) -> Vec<String> {
        uses.into_iter()
            .filter(|name| self.secrets.contains(*name))
            .cloned()
            .collect()
    }

    fn plain_http_services(&mut self) {
        for (name, url) in &self.runbook.services {
            if let Ok(parsed) = reqwest::Url::parse(url)
                && parsed.scheme() == "http"
                && !parsed.host_str().is_some_and(is_loopback)
            {
                let span = self.find(&format!("{name}:"));
                if self.wants(None, PLAIN_HTTP) {
                    self.report(
                        Diagnostic::warning(PLAIN_HTTP, format!("service `{name}` is plain http: {url}"))
                            .at_opt(span)
                            .label("not encrypted")
                            .help("use https; plain http is for loopback only (a local emulator, `--service NAME=http://127.0.0.1:…`)"),
                    );
                }
            }
        }
    }

    /// The first place `needle` is written in the file, for findings with no template span.
    fn find(&self, needle: &str) -> Option<Span> {
        self.runbook
            .source
            .text
            .find(needle)
            .map(|offset| Span::new(offset, needle.len()))
    }

    fn step(&mut self, index: usize, step: &Step) {
        let at = Some(index);
        let step_span = step.span;
        // Where secrets must not go.
        let mut texts: Vec<(&Template, &str)> = Vec::new();
        if let Some(rollback) = &step.rollback {
            texts.push((rollback, "the rollback note"));
        }
        for (_, hint) in &step.hints {
            texts.push((hint, "a hint"));
        }
        if let Action::Manual(manual) = &step.action {
            texts.push((&manual.instructions, "the manual instructions"));
        }
        if let Action::Audit(audit) = &step.action
            && let Some(file) = &audit.file
        {
            texts.push((file, "the audit file name"));
        }
        for (template, place) in texts {
            let secrets = self.secrets_in(template.uses());
            if !secrets.is_empty() {
                self.report(
                    Diagnostic::error(SECRET_IN_TEXT, format!("secret `{}` flows into {place} of step `{}`", secrets.join("`, `"), step.id))
                        .at(template.span())
                        .label("shown to people")
                        .help("text for people never carries a secret; name it (`the new token`) or show its `| fingerprint`"),
                );
            }
        }
        if let Action::Audit(audit) = &step.action {
            self.audit_context(step, &audit.context);
        }
        if let Some(for_each) = &step.for_each {
            self.for_each(step, for_each);
        }
        self.literal_credentials(step);
        // A propagated value's name is shown on the target's line and journaled, and goes
        // into the store's URL.
        if let Action::Propagate(propagate) = &step.action {
            let names = propagate
                .targets
                .iter()
                .flat_map(|target| &target.values)
                .map(|value| &value.name);
            let mut seen = std::collections::HashSet::new();
            for name in names.filter(|name| seen.insert(name.span())) {
                let secrets = self.secrets_in(name.uses());
                if !secrets.is_empty() {
                    self.report(
                        Diagnostic::error(SECRET_IN_TEXT, format!("secret `{}` flows into the name of a value propagated by step `{}`", secrets.join("`, `"), step.id))
                            .at(name.span())
                            .label("names are shown, journaled and sent in URLs")
                            .help("name values after what they hold (`CF_API_TOKEN`); the secret goes in the value"),
                    );
                }
            }
        }
        for (request, value_is_secret) in requests(step) {
            self.request(at, step, request, value_is_secret);
        }
        // A request that revokes or rolls needs a confirmation.
        if step.irreversible.is_none()
            && let Action::Http(request) = &step.action
            && !request.read_only
            && (request.method == Method::Delete || revokes_or_rolls(request.url.source()))
            && self.wants(at, IRREVERSIBLE_UNMARKED)
        {
            self.report(
                    Diagnostic::warning(IRREVERSIBLE_UNMARKED, format!("step `{}` looks like it revokes or rolls ({} {}) but is not marked irreversible", step.id, request.method.as_str(), request.url.source()))
                        .at(request.url.span())
                        .label("nobody confirms this")
                        .help("add `irreversible: <what cannot be undone>` so `exec` asks before it runs; or `allow: { RB110: <why it is harmless> }`"),
                );
        }
        if let (Some(_), Action::Http(request)) = (&step.retry, &step.action)
            && !request.read_only
            && matches!(request.method, Method::Post | Method::Patch)
            && self.wants(at, RETRY_REPEATS_CHANGE)
        {
            self.report(
                    Diagnostic::warning(RETRY_REPEATS_CHANGE, format!("step `{}` retries a {} that changes something", step.id, request.method.as_str()))
                        .at(step_span)
                        .label("each attempt sends it again")
                        .help("poll with a separate read-only step; or mark the step `retryable: true` if repeating it is harmless, and allow RB112 with why"),
                );
        }
        if step.for_each.is_some()
            && let Some(Resume::Check(check)) = &step.resume
            && self.wants(at, LOOP_RESUME_CHECK)
        {
            self.report(
                    Diagnostic::warning(LOOP_RESUME_CHECK, format!("step `{}` runs once per item, so its resume check is never used", step.id))
                        .at(check.took_effect.span())
                        .label("answers for one item, not for the loop")
                        .help("a loop left in doubt is put to the operator (`--repeat` runs every item again, `--skip` leaves the rest to them); drop the check, or run the items as separate steps that each have one"),
                );
        }
        if step.rollback.is_none()
            && (matches!(step.effect(), Effect::Mutating | Effect::Irreversible))
            && !matches!(step.action, Action::Audit(_))
            && self.wants(at, NO_ROLLBACK_NOTE)
        {
            self.report(
                    Diagnostic::warning(NO_ROLLBACK_NOTE, format!("step `{}` changes something and has no rollback note", step.id))
                        .at(step_span)
                        .label("what if it has to be undone?")
                        .help("add `rollback:` saying how to undo it (it is shown with live values when the run fails)"),
                );
        }
        for capture in &step.captures {
            if capture.secret.is_secret() {
                continue;
            }
            if let CaptureSource::Json(path) = &capture.source
                && names_a_secret(&path.text)
                && self.wants(at, SECRET_CAPTURE_NOT_MARKED)
            {
                self.report(
                        Diagnostic::warning(SECRET_CAPTURE_NOT_MARKED, format!("capture `{}` takes {} but is not marked secret", capture.name, path.text))
                            .at(capture.span)
                            .label("looks like a secret")
                            .help("write `{ json: …, secret: true }` (or `once` if the API shows it only once)"),
                    );
            }
        }
        self.captures_after(index, step);
        self.when_constant(index, step);
        self.revoke_before_verify(index, step);
        self.capture_uses(index, step);
    }

    fn audit_context(&mut self, step: &Step, context: &JsonTemplate) {
        for (source, uses, span) in context.texts() {
            for secret in self.secrets_in(uses.iter()) {
                if !crate::template::only_fingerprinted(&source, &secret) {
                    self.report(
                        Diagnostic::error(SECRET_IN_TEXT, format!("secret `{secret}` flows into the audit context of step `{}`", step.id))
                            .at(span)
                            .label("an audit record is kept and shared")
                            .help(format!("record `{{{{ {secret} | fingerprint }}}}` instead: 8 hex digits that tell values apart")),
                    );
                }
            }
        }
    }

    /// Credentials come from secret inputs: one written into the file is in every copy and
    /// every diff of it, and masking a short one garbles all output.
    fn literal_credentials(&mut self, step: &Step) {
        let mut credentials: Vec<(&Template, &str)> = Vec::new();
        let requests: Vec<&HttpRequest> = match &step.action {
            Action::Http(request) => vec![request],
            Action::Propagate(propagate) => propagate
                .targets
                .iter()
                .filter_map(|target| match &target.kind {
                    TargetKind::Http(request) => Some(request),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        for request in requests {
            for (name, value) in &request.headers {
                if name.eq_ignore_ascii_case("authorization") {
                    credentials.push((value, "the Authorization header"));
                }
            }
        }
        if let Action::Propagate(propagate) = &step.action {
            for target in &propagate.targets {
                match &target.kind {
                    TargetKind::Heroku { token, .. } | TargetKind::Github { token, .. } => {
                        credentials.push((token, "the store's token"));
                    }
                    TargetKind::Infisical { auth, .. } => match auth {
                        InfisicalAuth::Token(token) => {
                            credentials.push((token, "the store's token"))
                        }
                        InfisicalAuth::Universal { client_secret, .. } => {
                            credentials.push((client_secret, "the store's client secret"));
                        }
                    },
                    TargetKind::Http(_) => {}
                }
            }
        }
        for (template, place) in credentials {
            // A bearer becomes `Bearer {{ … }}`: literal only when the token is.
            if template.is_literal() {
                self.report(
                    Diagnostic::error(LITERAL_CREDENTIAL, format!("{place} of step `{}` is written into the runbook", step.id))
                        .at(template.span())
                        .label("a credential in the file")
                        .help("declare an input with `secret: true` and an `env:` to read it from, and write `{{ name }}` here"),
                );
            }
        }
    }

    /// A loop's items carry no secret: each is shown on its step line, in `--output json` and
    /// in `runbook show`, and written to the journal, which a resume compares them with.
    fn for_each(&mut self, step: &Step, for_each: &ForEach) {
        let places: Vec<(String, &BTreeSet<String>, Span)> = match for_each {
            ForEach::Expression(expression) => vec![(
                expression.source().to_string(),
                expression.uses(),
                expression.span(),
            )],
            ForEach::Items(items) => items.iter().flat_map(JsonTemplate::texts).collect(),
        };
        for (source, uses, span) in places {
            // `| fingerprint` shows 8 hex digits that tell values apart, as in the audit context.
            let secrets: Vec<String> = self
                .secrets_in(uses.iter())
                .into_iter()
                .filter(|secret| !crate::template::only_fingerprinted(&source, secret))
                .collect();
            if !secrets.is_empty() {
                self.report(
                    Diagnostic::error(SECRET_IN_TEXT, format!("secret `{}` flows into the `for_each` items of step `{}`", secrets.join("`, `"), step.id))
                        .at(span)
                        .label("each item is shown on the step's line and written to the journal")
                        .help("loop over names or ids, and use the secret inside the step (in a header or the body)"),
                );
            }
        }
    }

    /// A request's URL and query carry no secret. `value_is_secret`: the request is a
    /// propagate step's HTTP target, sent once per value with the value as `{{ value }}`, and
    /// some value it writes is a secret.
    fn request(
        &mut self,
        at: Option<usize>,
        step: &Step,
        request: &HttpRequest,
        value_is_secret: bool,
    ) {
        let places =
            std::iter::once(&request.url).chain(request.query.iter().map(|(_, value)| value));
        let mut secrets: Vec<String> = Vec::new();
        let mut span = request.url.span();
        for template in places {
            let mut found = self.secrets_in(template.uses());
            if value_is_secret
                && template.uses().contains("value")
                && !found.iter().any(|name| name == "value")
            {
                found.push("value".to_string());
            }
            if !found.is_empty() && secrets.is_empty() {
                span = template.span();
            }
            secrets.extend(found);
        }
        if !secrets.is_empty() {
            self.report(
                Diagnostic::error(SECRET_IN_URL, format!("secret `{}` flows into a URL in step `{}`", secrets.join("`, `"), step.id))
                    .at(span)
                    .label("URLs are logged everywhere")
                    .help("send secrets in a header (`bearer:` or `headers:`) or the body, never in the URL or query string"),
            );
        }
        let literal = request.url.source();
        if let Ok(parsed) = reqwest::Url::parse(literal)
            && parsed.scheme() == "http"
            && !parsed.host_str().is_some_and(is_loopback)
            && self.wants(at, PLAIN_HTTP)
        {
            self.report(
                Diagnostic::warning(
                    PLAIN_HTTP,
                    format!("step `{}` calls {literal} over plain http", step.id),
                )
                .at(request.url.span())
                .label("not encrypted")
                .help("use https; plain http is for loopback only"),
            );
        }
    }

    /// A shown-once secret must be stored by a later propagate step.
    fn captures_after(&mut self, index: usize, step: &Step) {
        for (name, kind) in captured(step) {
            if kind != SecretKind::Once {
                continue;
            }
            let stored = self.runbook.steps[index + 1..]
                .iter()
                .any(|later| match &later.action {
                    Action::Propagate(propagate) => propagate.targets.iter().any(|target| {
                        target
                            .values
                            .iter()
                            .any(|value| value.value.uses().contains(name))
                    }),
                    _ => false,
                });
            if !stored {
                let span = step
                    .captures
                    .iter()
                    .find(|capture| capture.name == name)
                    .map_or(step.span, |capture| capture.span);
                if self.wants(Some(index), SHOWN_ONCE_NOT_STORED) {
                    self.report(
                        Diagnostic::warning(SHOWN_ONCE_NOT_STORED, format!("`{name}` is shown only once and no later step stores it"))
                            .at(span)
                            .label("lost when the run ends")
                            .help("add a `propagate` step that writes it to a secret store (Infisical, Heroku, GitHub…) before anything can go wrong"),
                    );
                }
            }
        }
    }

    fn when_constant(&mut self, index: usize, step: &Step) {
        let Some(when) = &step.when else {
            return;
        };
        if !when.uses().is_empty() {
            return;
        }
        if matches!(
            when.is_true(&self.runbook.templates, &Scope::default()),
            Ok(false)
        ) && self.wants(Some(index), UNREACHABLE_STEP)
        {
            self.report(
                Diagnostic::warning(
                    UNREACHABLE_STEP,
                    format!(
                        "step `{}` never runs: `when: {}` is always false",
                        step.id,
                        when.source()
                    ),
                )
                .at(when.span())
                .label("always false")
                .help("remove the step, or give `when` a condition over inputs or captures"),
            );
        }
    }

    /// Revoking (an irreversible step that does not itself produce the new credential) must
    /// come after the new credential was verified and propagated.
    fn revoke_before_verify(&mut self, index: usize, step: &Step) {
        if step.irreversible.is_none() || captured(step).iter().any(|(_, kind)| kind.is_secret()) {
            return;
        }
        let before = &self.runbook.steps[..index];
        let new_credentials: Vec<&str> = before
            .iter()
            .flat_map(|earlier| captured(earlier))
            .filter(|(_, kind)| kind.is_secret())
            .map(|(name, _)| name)
            .collect();
        if new_credentials.is_empty() {
            return;
        }
        // What each earlier step uses was worked out once, in `self.uses`.
        let uses_new = |earlier: usize| {
            new_credentials
                .iter()
                .any(|name| self.uses[earlier].contains(*name))
        };
        let verified = before.iter().enumerate().any(|(earlier, step)| {
            matches!(&step.action, Action::Http(request) if request.read_only) && uses_new(earlier)
        });
        let propagated = before.iter().enumerate().any(|(earlier, step)| {
            matches!(&step.action, Action::Propagate(_)) && uses_new(earlier)
        });
        if verified && propagated {
            return;
        }
        let missing = match (verified, propagated) {
            (false, false) => "verified or propagated",
            (false, true) => "verified",
            _ => "propagated",
        };
        if self.wants(Some(index), REVOKE_BEFORE_VERIFY) {
            self.report(
                Diagnostic::warning(REVOKE_BEFORE_VERIFY, format!("step `{}` is irreversible and runs before the new credential ({}) is {missing}", step.id, new_credentials.join(", ")))
                    .at(step.span)
                    .label("revokes too early")
                    .help("move it after a read-only step that proves the new credential works and a `propagate` step that stores it"),
            );
        }
    }

    /// Captures used where the capturing step may have been skipped, and captures overwritten.
    /// The steps before `index` that capture `name`.
    fn capturers_before(&self, name: &str, index: usize) -> Vec<&'_ Step> {
        self.capturers
            .get(name)
            .map(|indices| {
                indices
                    .iter()
                    .take_while(|capturer| **capturer < index)
                    .map(|capturer| &self.runbook.steps[*capturer])
                    .collect()
            })
            .unwrap_or_default()
    }

    fn capture_uses(&mut self, index: usize, step: &Step) {
        let uses: Vec<&str> = self.uses[index].iter().copied().collect();
        let own: Vec<&str> = captured(step).iter().map(|(name, _)| *name).collect();
        for name in &uses {
            if own.contains(name) {
                continue;
            }
            let definers: Vec<&Step> = self.capturers_before(name, index);
            if definers.is_empty() || definers.iter().any(|definer| definer.when.is_none()) {
                continue;
            }
            if self.always_defined(&definers, step) {
                continue;
            }
            if self.wants(Some(index), CAPTURE_MAY_BE_UNSET) {
                self.report(
                    Diagnostic::warning(CAPTURE_MAY_BE_UNSET, format!("step `{}` uses `{name}`, which is captured only when {}", step.id, definers.iter().filter_map(|definer| definer.when.as_ref().map(Expression::source)).collect::<Vec<_>>().join(" or ")))
                        .at(step.span)
                        .label("may be undefined here")
                        .help(format!("give this step the same `when`, or make sure some step always captures `{name}`")),
                );
            }
        }
        for (name, _) in captured(step) {
            if step.when.is_some() {
                continue;
            }
            if let Some(earlier) = self
                .capturers_before(name, index)
                .into_iter()
                .find(|earlier| earlier.when.is_none())
            {
                let span = step
                    .captures
                    .iter()
                    .find(|capture| capture.name == name)
                    .map_or(step.span, |capture| capture.span);
                if self.wants(Some(index), CAPTURE_OVERWRITTEN) {
                    self.report(
                        Diagnostic::warning(
                            CAPTURE_OVERWRITTEN,
                            format!(
                                "step `{}` captures `{name}` again (step `{}` did already)",
                                step.id, earlier.id
                            ),
                        )
                        .at(span)
                        .label("replaces the earlier value")
                        .help("give the capture its own name"),
                    );
                }
            }
        }
    }

    /// Whether, for every value of the inputs their conditions read (all with `choices`), a
    /// step that captures runs whenever `user` runs.
    fn always_defined(&self, definers: &[&Step], user: &Step) -> bool {
        if let Some(when) = &user.when
            && definers.iter().any(|definer| {
                definer
                    .when
                    .as_ref()
                    .is_some_and(|other| other.source() == when.source())
            })
        {
            return true;
        }
        let mut names: BTreeSet<&String> = BTreeSet::new();
        for definer in definers {
            if let Some(when) = &definer.when {
                names.extend(when.uses());
            }
        }
        if let Some(when) = &user.when {
            names.extend(when.uses());
        }
        let mut domains: Vec<(&String, &Vec<String>)> = Vec::new();
        for name in names {
            match self.runbook.input(name) {
                Some(input) if !input.choices.is_empty() => domains.push((name, &input.choices)),
                _ => return false,
            }
        }
        let total: usize = domains.iter().map(|(_, choices)| choices.len()).product();
        if total == 0 || total > 256 {
            return false;
        }
        for combination in 0..total {
            let mut rest = combination;
            let mut bindings: HashMap<String, minijinja::Value> = HashMap::new();
            for (name, choices) in &domains {
                bindings.insert(
                    (*name).clone(),
                    minijinja::Value::from(choices[rest % choices.len()].as_str()),
                );
                rest /= choices.len();
            }
            let scope = Scope::new(std::sync::Arc::new(bindings));
            let holds = |when: &Option<Expression>| match when {
                None => Some(true),
                Some(when) => when.is_true(&self.runbook.templates, &scope).ok(),
            };
            match holds(&user.when) {
                Some(false) => continue,
                Some(true) => {}
                None => return false,
            }
            let mut covered = false;
            for definer in definers {
                match holds(&definer.when) {
                    Some(true) => covered = true,
                    Some(false) => {}
                    None => return false,
                }
            }
            if !covered {
                return false;
            }
        }
        true
    }

    fn unused_values(&mut self) {
        let mut used: BTreeSet<&str> = BTreeSet::new();
        for (index, step) in self.runbook.steps.iter().enumerate() {
            used.extend(self.uses[index].iter().copied());
            if let Some(rollback) = &step.rollback {
                used.extend(rollback.uses().iter().map(String::as_str));
            }
        }
        for var in &self.runbook.vars {
            used.extend(var.template.uses().iter().map(String::as_str));
        }
        for input in &self.runbook.inputs {
            for template in input.env.iter().chain(&input.default) {
                used.extend(template.uses().iter().map(String::as_str));
            }
        }
        if let Some(lock) = &self.runbook.lock {
            used.extend(lock.uses().iter().map(String::as_str));
            let secrets = self.secrets_in(lock.uses());
            if !secrets.is_empty() {
                self.report(
                    Diagnostic::error(
                        SECRET_IN_TEXT,
                        format!("secret `{}` flows into the lock key", secrets.join("`, `")),
                    )
                    .at(lock.span())
                    .label("lock keys are written to files and messages")
                    .help("lock on a name, not a value"),
                );
            }
        }
        let unused_inputs: Vec<(String, Span)> = self
            .runbook
            .inputs
            .iter()
            .filter(|input| !used.contains(input.name.as_str()))
            .map(|input| (input.name.clone(), input.span))
            .chain(
                self.runbook
                    .vars
                    .iter()
                    .filter(|var| !used.contains(var.name.as_str()))
                    .map(|var| (var.name.clone(), var.span)),
            )
            .collect();
        for (name, span) in unused_inputs {
            if self.wants(None, UNUSED_VALUE) {
                self.report(
                    Diagnostic::warning(UNUSED_VALUE, format!("`{name}` is never used"))
                        .at(span)
                        .label("unused")
                        .help("remove it, or use it where it belongs"),
                );
            }
        }
        let mut unused_captures = Vec::new();
        for (index, step) in self.runbook.steps.iter().enumerate() {
            for capture in &step.captures {
                if !used.contains(capture.name.as_str()) {
                    unused_captures.push((index, capture.name.clone(), capture.span));
                }
            }
        }
        for (index, name, span) in unused_captures {
            if self.wants(Some(index), UNUSED_CAPTURE) {
                self.report(
                    Diagnostic::warning(UNUSED_CAPTURE, format!("capture `{name}` is never used"))
                        .at(span)
                        .label("unused")
                        .help(
                            "remove it, or use it in a later step, an expectation or a rollback note",
                        ),
                );
            }
        }
    }
}

/// Every request a step sends: its own, a propagate step's HTTP targets, an audit callback, its
/// resume check and undo. With each, whether its `{{ value }}` is a secret: true for an HTTP
/// target that writes a secret value (it is sent once per value, with that value as `value`).
fn requests(step: &Step) -> Vec<(&HttpRequest, bool)> {
    let mut requests = Vec::new();
    match &step.action {
        Action::Http(request) => requests.push((request, false)),
        Action::Propagate(propagate) => {
            for target in &propagate.targets {
                if let TargetKind::Http(request) = &target.kind {
                    let secret = target.values.iter().any(|value| value.secret);
                    requests.push((request, secret));
                }
            }
        }
        Action::Audit(audit) => {
            requests.extend(audit.callback.iter().map(|callback| (callback, false)))
        }
        Action::Manual(_) => {}
    }
    if let Some(Resume::Check(check)) = &step.resume {
        requests.push((&check.check, false));
        requests.extend(check.undo.iter().map(|undo| (undo, false)));
    }
    requests
}

#[cfg(test)]
mod tests {
    use super::{names_a_secret, revokes_or_rolls};

    /// The rules as regular expressions, which they replace (a regex costs half a millisecond
    /// to compile at every start): both must agree everywhere.
    #[test]
    fn the_name_rules_agree_with_their_regular_expressions() {
        let secret = regex::Regex::new(
            r"(?i)(secret|token|passw|private|credential|api.?key|access.?key)[^.\[\]]*$",
        )
        .unwrap();
        let revoking =
            regex::Regex::new(r"/(value|rotate|roll|revoke|revocation)/?($|\?)").unwrap();
        let parts = [
            "",
            "$",
            ".",
            "[",
            "]",
            "/",
            "?",
            "_",
            "-",
            "é",
            "x",
            "result",
            "Secret",
            "TOKEN",
            "passw",
            "private",
            "credential",
            "api",
            "access",
            "key",
            "KEY",
            "value",
            "roll",
            "rotate",
            "revoke",
            "revocation",
            "id",
        ];
        let mut checked = 0;
        for a in parts {
            for b in parts {
                for c in parts {
                    for d in ["", ".", "/", "?", "_", "key"] {
                        let text = format!("{a}{b}{c}{d}");
                        assert_eq!(names_a_secret(&text), secret.is_match(&text), "{text:?}");
                        assert_eq!(
                            revokes_or_rolls(&text),
                            revoking.is_match(&text),
                            "{text:?}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 100_000);
        assert!(names_a_secret("$.result.secret"));
        assert!(names_a_secret("$..api_key"));
        assert!(!names_a_secret("$.result.id"));
        assert!(revokes_or_rolls("{{ services.api }}/tokens/{{ id }}/value"));
        assert!(revokes_or_rolls("/roll/?force=true"));
        assert!(!revokes_or_rolls("/tokens/{{ id }}"));
    }
}
