//! Checking the step kinds beyond a plain request: propagation to secret stores, audit records,
//! values asked of the operator, and failure hints.

use indexmap::IndexMap;

use super::Checker;
use super::names::StepLocals;
use crate::diagnostic::{Diagnostic, Span};
use crate::runbook::codes;
use crate::runbook::model::{
    Ask, Audit, InfisicalAuth, JsonTemplate, Propagate, PropagatedValue, Target, TargetKind,
};
use crate::runbook::raw::{RawAsk, RawAudit, RawPropagate, RawTarget};
use crate::runbook::span::Spanned;
use crate::template::Template;

impl Checker {
    pub(super) fn propagate(
        &mut self,
        spanned: &Spanned<RawPropagate>,
        locals: &StepLocals,
    ) -> Option<Propagate> {
        let raw = &spanned.value;
        if raw.targets.is_empty() {
            self.error(
                Diagnostic::error(codes::PROPAGATE, "`propagate` has no targets")
                    .at(spanned.span)
                    .label("nowhere to write")
                    .help("list targets, e.g. `targets: [{ heroku: { app: raxx-api-prod, token: \"{{ heroku_api_key }}\" } }]`"),
            );
            return None;
        }
        let shared = self.values(&raw.values, locals);
        let mut targets = Vec::new();
        let mut ok = shared.is_some();
        for target in &raw.targets {
            match self.target(target, shared.as_deref(), locals) {
                Some(target) => targets.push(target),
                None => ok = false,
            }
        }
        ok.then_some(Propagate { targets })
    }

    /// Name → value templates; a value that reads a secret is handled as one.
    fn values(
        &mut self,
        raw: &IndexMap<String, Spanned<String>>,
        locals: &StepLocals,
    ) -> Option<Vec<PropagatedValue>> {
        let mut values = Vec::new();
        let mut ok = true;
        for (name, value) in raw {
            let name_span = self.locate_key(value.span, name);
            let name_template = self.template(&Spanned::new(name.clone(), name_span), locals);
            let value_template = self.template(value, locals);
            match (name_template, value_template) {
                (Some(name), Some(value)) => {
                    let secret = value
                        .uses()
                        .iter()
                        .any(|used| self.names.secrets.contains(used));
                    values.push(PropagatedValue {
                        name,
                        value,
                        secret,
                    });
                }
                _ => ok = false,
            }
        }
        ok.then_some(values)
    }

    fn target(
        &mut self,
        spanned: &Spanned<RawTarget>,
        shared: Option<&[PropagatedValue]>,
        locals: &StepLocals,
    ) -> Option<Target> {
        let raw = &spanned.value;
        let given = [
            raw.infisical.is_some(),
            raw.heroku.is_some(),
            raw.github.is_some(),
            raw.http.is_some(),
        ];
        if given.iter().filter(|given| **given).count() != 1 {
            self.error(
                Diagnostic::error(codes::PROPAGATE, "a target needs exactly one of infisical, heroku, github, http")
                    .at(spanned.span)
                    .label("one provider per target")
                    .help("write one target per store, e.g. `- heroku: { app: raxx-api-prod, token: \"{{ heroku_api_key }}\" }`"),
            );
            return None;
        }
        let own = if raw.values.is_empty() {
            None
        } else {
            Some(self.values(&raw.values, locals)?)
        };
        let values = match (own, shared) {
            (Some(own), _) => own,
            (None, Some(shared)) if !shared.is_empty() => shared.to_vec(),
            _ => {
                self.error(
                    Diagnostic::error(codes::PROPAGATE, "this target has no values to write")
                        .at(spanned.span)
                        .label("no values")
                        .help("give the step `values:` (name → value) or the target its own `values:`"),
                );
                return None;
            }
        };
        let kind = if let Some(infisical) = &raw.infisical {
            let config = &infisical.value;
            let service =
                self.provider_service(config.service.as_ref(), "infisical", infisical.span)?;
            let auth = match (&config.token, &config.client_id, &config.client_secret) {
                (Some(token), None, None) => InfisicalAuth::Token(self.template(token, locals)?),
                (None, Some(client_id), Some(client_secret)) => InfisicalAuth::Universal {
                    client_id: self.template(client_id, locals)?,
                    client_secret: self.template(client_secret, locals)?,
                },
                _ => {
                    self.error(
                        Diagnostic::error(codes::PROPAGATE, "Infisical needs either `token`, or `client_id` and `client_secret`")
                            .at(infisical.span)
                            .label("no way to log in")
                            .help("give a machine identity's universal-auth `client_id` and `client_secret`, or an access `token`"),
                    );
                    return None;
                }
            };
            let path = match &config.path {
                Some(path) => self.template(path, locals)?,
                None => Template::literal("/"),
            };
            TargetKind::Infisical {
                service,
                project: self.template(&config.project, locals)?,
                environment: self.template(&config.environment, locals)?,
                path,
                auth,
            }
        } else if let Some(heroku) = &raw.heroku {
            let config = &heroku.value;
            TargetKind::Heroku {
                service: self.provider_service(config.service.as_ref(), "heroku", heroku.span)?,
                app: self.template(&config.app, locals)?,
                token: self.template(&config.token, locals)?,
            }
        } else if let Some(github) = &raw.github {
            let config = &github.value;
            let environment = match &config.environment {
                Some(environment) => Some(self.template(environment, locals)?),
                None => None,
            };
            TargetKind::Github {
                service: self.provider_service(config.service.as_ref(), "github", github.span)?,
                repository: self.template(&config.repository, locals)?,
                environment,
                token: self.template(&config.token, locals)?,
            }
        } else if let Some(http) = &raw.http {
            let mut with_value = locals.clone();
            with_value.own_captures.push("name".into());
            with_value.own_captures.push("value".into());
            TargetKind::Http(self.http_request(http, &with_value)?)
        } else {
            return None;
        };
        Some(Target { kind, values })
    }

    /// The service a provider talks to: named, or the provider's own name by default.
    fn provider_service(
        &mut self,
        named: Option<&Spanned<String>>,
        default: &str,
        span: Span,
    ) -> Option<String> {
        let (name, span) = match named {
            Some(named) => (named.value.clone(), named.span),
            None => (default.to_string(), span),
        };
        if self.names.services.contains(&name) {
            return Some(name);
        }
        let hint = if named.is_none() {
            format!(
                "declare `{default}:` under `services:` (its base URL), or name another with `service:`"
            )
        } else {
            "declare it under `services:`, or fix the name".to_string()
        };
        self.error(
            Diagnostic::error(codes::UNKNOWN_SERVICE, format!("unknown service `{name}`"))
                .at(span)
                .label("not declared under `services:`")
                .help(hint),
        );
        None
    }

    pub(super) fn audit(
        &mut self,
        spanned: &Spanned<RawAudit>,
        locals: &StepLocals,
    ) -> Option<Audit> {
        let raw = &spanned.value;
        if raw.action.value.trim().is_empty() {
            self.error(
                Diagnostic::error(codes::SHAPE, "the audit record has no action")
                    .at(raw.action.span)
                    .label("empty")
                    .help("say what happened, e.g. `secret.rotate.completed`"),
            );
            return None;
        }
        let context = match &raw.context {
            Some(context) if !context.value.is_object() => {
                self.error(
                    Diagnostic::error(codes::SHAPE, "the audit context must be a map")
                        .at(context.span)
                        .label("not a map")
                        .help("write the details as `name: value` pairs"),
                );
                return None;
            }
            Some(context) => self.json_template(&context.value, context.span, locals)?,
            None => JsonTemplate::Literal(serde_json::json!({})),
        };
        let file = match &raw.file {
            Some(file) => Some(self.template(file, locals)?),
            None => None,
        };
        let callback = match &raw.callback {
            Some(callback) => Some(self.http_request(callback, locals)?),
            None => None,
        };
        Some(Audit {
            action: raw.action.value.trim().to_string(),
            context,
            file,
            callback,
        })
    }

    pub(super) fn asks(&mut self, raw: &IndexMap<String, Spanned<RawAsk>>) -> Option<Vec<Ask>> {
        let mut asks = Vec::new();
        let mut ok = true;
        for (name, spanned) in raw {
            if !self.capture_name_ok(name, spanned.span) {
                ok = false;
                continue;
            }
            let ask = &spanned.value;
            let pattern = match &ask.pattern {
                Some(pattern) => {
                    let regex = self.pattern(pattern);
                    ok &= regex.is_some();
                    regex
                }
                None => None,
            };
            asks.push(Ask {
                name: name.clone(),
                description: ask.description.as_ref().map(|text| text.value.clone()),
                secret: ask.secret.into(),
                env: ask.env.iter().map(|name| name.value.clone()).collect(),
                pattern,
            });
        }
        ok.then_some(asks)
    }

    pub(super) fn hints(
        &mut self,
        raw: &IndexMap<String, Spanned<String>>,
        locals: &StepLocals,
    ) -> Vec<(u16, Template)> {
        let mut hints = Vec::new();
        for (status, text) in raw {
            match status.parse::<u16>() {
                Ok(code) if (100..=599).contains(&code) => {
                    if let Some(template) = self.template(text, locals) {
                        hints.push((code, template));
                    }
                }
                _ => self.error(
                    Diagnostic::error(codes::INVALID_STATUS, format!("`{status}` is not an HTTP status"))
                        .at(self.locate_key(text.span, status))
                        .label("not a status code")
                        .help("key each hint by the status it explains, e.g. `403: The policy does not admit the token.`"),
                ),
            }
        }
        hints
    }
}
