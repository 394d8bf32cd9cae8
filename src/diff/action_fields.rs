//! The fields of the step kinds that are not one request: where a `propagate` step writes
//! what, and what an `audit` step records and where it sends it.

use std::collections::BTreeSet;

use super::fields::{Fields, Place, http, names};
use crate::render::source::normalize_template;
use crate::runbook::model::{Audit, InfisicalAuth, Propagate, TargetKind};

/// Targets are known by their provider and rank among the step's targets of that provider
/// (`target heroku`, `target heroku #2`), so that a changed app or path reads as a change of
/// that target rather than one target removed and another added.
pub(super) fn propagate(fields: &mut Fields, propagate: &Propagate) {
    let providers: Vec<&str> = propagate
        .targets
        .iter()
        .map(|target| target.kind.provider())
        .collect();
    let mut order = Vec::new();
    for (index, target) in propagate.targets.iter().enumerate() {
        let provider = providers[index];
        let rank = providers[..=index]
            .iter()
            .filter(|seen| **seen == provider)
            .count();
        let several = providers.iter().filter(|seen| **seen == provider).count() > 1;
        let identity = if several {
            format!("{provider} #{rank}")
        } else {
            provider.to_string()
        };
        order.push(identity.clone());
        let mut target_fields = Fields {
            prefix: format!("target `{identity}`"),
            list: Vec::new(),
        };
        let value_uses: BTreeSet<String> = target
            .values
            .iter()
            .flat_map(|value| names(value.value.uses()))
            .collect();
        let name_uses: BTreeSet<String> = target
            .values
            .iter()
            .flat_map(|value| names(value.name.uses()))
            .collect();
        for value in &target.values {
            let key = format!("writes `{}`", normalize_template(value.name.source()));
            let mut uses = names(value.value.uses());
            uses.extend(names(value.name.uses()));
            target_fields.push(
                &key,
                normalize_template(value.value.source()),
                uses,
                Place::Propagate,
            );
        }
        match &target.kind {
            TargetKind::Infisical {
                service,
                project,
                environment,
                path,
                auth,
            } => {
                target_fields.plain("service", service.clone());
                target_fields.template("project", project, Place::Propagate);
                target_fields.template("environment", environment, Place::Propagate);
                target_fields.template("path", path, Place::Propagate);
                match auth {
                    InfisicalAuth::Token(token) => {
                        target_fields.template("token", token, Place::Header)
                    }
                    InfisicalAuth::Universal {
                        client_id,
                        client_secret,
                    } => {
                        target_fields.template("client id", client_id, Place::Body);
                        target_fields.template("client secret", client_secret, Place::Body);
                    }
                }
            }
            TargetKind::Heroku {
                service,
                app,
                token,
            } => {
                target_fields.plain("service", service.clone());
                target_fields.template("app", app, Place::Url);
                target_fields.template("token", token, Place::Header);
            }
            TargetKind::Github {
                service,
                repository,
                environment,
                token,
            } => {
                target_fields.plain("service", service.clone());
                target_fields.template("repository", repository, Place::Url);
                if let Some(environment) = environment {
                    target_fields.template("environment", environment, Place::Url);
                }
                target_fields.template("token", token, Place::Header);
            }
            TargetKind::Http(request) => {
                http(&mut target_fields, request);
                // `value` and `name` stand for what is written.
                for field in &mut target_fields.list {
                    if field.uses.remove("value") {
                        field.uses.extend(value_uses.iter().cloned());
                    }
                    if field.uses.remove("name") {
                        field.uses.extend(name_uses.iter().cloned());
                    }
                }
            }
        }
        fields.list.extend(target_fields.list);
    }
    fields.plain("targets", order.join(", then "));
}

pub(super) fn audit(fields: &mut Fields, audit: &Audit) {
    fields.plain("audit action", audit.action.clone());
    let start = fields.list.len();
    fields.json("audit context", &audit.context, Place::Audit);
    // `{{ secret | fingerprint }}` is what an audit record should hold: not a secret flowing.
    for field in &mut fields.list[start..] {
        field
            .uses
            .retain(|name| !crate::template::only_fingerprinted(&field.value, name));
    }
    if let Some(file) = &audit.file {
        fields.template("audit file", file, Place::Audit);
    }
    if let Some(callback) = &audit.callback {
        fields.http_under("audit callback", callback);
    }
}
