//! Running the step kinds beyond a plain request: propagation to stores, audit records, and
//! values a manual step asks of the operator.

use std::io::Write as _;
use std::time::Instant;

use super::engine::{Engine, Request};
use super::event::{AuditWritten, StepResult, StepStatus, TargetRecord, TargetStatus};
use crate::runbook::model::{
    Audit, Body, InfisicalAuth, Manual, Propagate, SecretKind, Target, TargetKind,
};
use crate::secret::{ExposeSecret, SecretString};
use crate::step::http;
use crate::step::judge::{self, Captured};
use crate::step::propagate::{self, InfisicalLogin, Provider};
use crate::template::{Scope, Template};

type Outcome = Result<Vec<(String, Captured)>, StepStatus>;

impl Engine<'_> {
    /// Writes every target in order; the first failure ends the step, with what was written
    /// listed in the failure and in the per-target report.
    pub(super) async fn propagate(
        &mut self,
        step: &crate::runbook::model::Step,
        propagate: &Propagate,
        scope: &Scope,
        result: &mut StepResult,
    ) -> Outcome {
        let mut resolved = Vec::new();
        for target in &propagate.targets {
            match self.resolve(target, scope) {
                Ok(target) => resolved.push(target),
                Err(error) => {
                    result.failures.push(error);
                    return Err(StepStatus::Failed);
                }
            }
        }
        for (index, target) in resolved.iter().enumerate() {
            // A write that has started is let finish, like any change (the journal must know
            // what happened); Ctrl-C stops before the next target.
            if self.interrupted() {
                result.failures.push(format!(
                    "interrupted before writing to {}",
                    target.description
                ));
                return Err(StepStatus::Interrupted);
            }
            let started = Instant::now();
            let names: Vec<String> = target.values.iter().map(|(name, _)| name.clone()).collect();
            let action = format!("write {} to {}", names.join(", "), target.description);
            if let Err(error) = self.intent(step, None, 1, || action) {
                result.failures.push(error);
                return Err(StepStatus::Failed);
            }
            let written = match &target.kind {
                Some(provider) => {
                    propagate::write(
                        &self.client,
                        provider,
                        &target.base_url,
                        &target.values,
                        target.timeout,
                    )
                    .await
                }
                None => {
                    self.write_http(&propagate.targets[index], target, scope, result)
                        .await
                }
            };
            match written {
                Ok(detail) => result.targets.push(TargetRecord {
                    target: target.description.clone(),
                    status: TargetStatus::Written,
                    names,
                    detail: format!("{detail} ({})", http::humanize(started.elapsed())),
                }),
                Err(failure) => {
                    result.targets.push(TargetRecord {
                        target: target.description.clone(),
                        status: TargetStatus::Failed,
                        names: failure.written.clone(),
                        detail: failure.message.clone(),
                    });
                    for later in &resolved[index + 1..] {
                        result.targets.push(TargetRecord {
                            target: later.description.clone(),
                            status: TargetStatus::NotReached,
                            names: Vec::new(),
                            detail: "not written: an earlier target failed".into(),
                        });
                    }
                    result
                        .failures
                        .push(format!("{}: {}", target.description, failure.message));
                    let mut done: Vec<String> = result
                        .targets
                        .iter()
                        .filter(|record| record.status == TargetStatus::Written)
                        .map(|record| format!("{} ({})", record.target, record.names.join(", ")))
                        .collect();
                    if !failure.written.is_empty() {
                        done.push(format!(
                            "{} ({}, before the failure)",
                            target.description,
                            failure.written.join(", ")
                        ));
                    }
                    result.failures.push(if done.is_empty() {
                        "nothing was written".into()
                    } else {
                        format!("already written: {}", done.join("; "))
                    });
                    return Err(StepStatus::Failed);
                }
            }
        }
        Ok(Vec::new())
    }

    /// Renders a target's configuration and values; a secret value is registered at once.
    fn resolve(&self, target: &Target, scope: &Scope) -> Result<ResolvedTarget, String> {
        let templates = &self.runbook.templates;
        let render = |template: &Template, what: &str| {
            template.render(templates, scope).map_err(|error| {
                format!(
                    "cannot render the {what} of a {} target: {error}",
                    target.kind.provider()
                )
            })
        };
        // Credentials for the stores: masked from the moment they are known.
        let secret = |template: &Template, what: &str| {
            render(template, what).map(|value| {
                let secret = SecretString::from(value);
                self.context.redactor.register(&secret);
                secret
            })
        };
        let mut values = Vec::new();
        for value in &target.values {
            let name = render(&value.name, "value name")?;
            if name.trim().is_empty() {
                return Err(format!(
                    "a {} target got an empty name",
                    target.kind.provider()
                ));
            }
            let text = SecretString::from(render(&value.value, &format!("value of {name}"))?);
            if value.secret {
                self.context.redactor.register(&text);
            }
            values.push((name, text));
        }
        let base = |service: &str| self.service_url(service);
        let timeout = crate::runbook::check::DEFAULT_TIMEOUT;
        let (description, base_url, kind) = match &target.kind {
            TargetKind::Infisical {
                service,
                project,
                environment,
                path,
                auth,
            } => {
                let environment = render(environment, "environment")?;
                let path = normalize_folder(&render(path, "path")?);
                let auth = match auth {
                    InfisicalAuth::Token(token) => InfisicalLogin::Token(secret(token, "token")?),
                    InfisicalAuth::Universal {
                        client_id,
                        client_secret,
                    } => InfisicalLogin::Universal {
                        client_id: secret(client_id, "client id")?,
                        client_secret: secret(client_secret, "client secret")?,
                    },
                };
                (
                    format!("infisical {environment} {path}"),
                    base(service)?,
                    Some(Provider::Infisical {
                        project: render(project, "project")?,
                        environment,
                        path,
                        auth,
                    }),
                )
            }
            TargetKind::Heroku {
                service,
                app,
                token,
            } => {
                let app = render(app, "app")?;
                (
                    format!("heroku app {app}"),
                    base(service)?,
                    Some(Provider::Heroku {
                        app,
                        token: secret(token, "token")?,
                    }),
                )
            }
            TargetKind::Github {
                service,
                repository,
                environment,
                token,
            } => {
                let repository = render(repository, "repository")?;
                let environment = match environment {
                    Some(environment) => Some(render(environment, "environment")?),
                    None => None,
                };
                let description = match &environment {
                    Some(environment) => format!("github {repository} environment {environment}"),
                    None => format!("github {repository}"),
                };
                (
                    description,
                    base(service)?,
                    Some(Provider::Github {
                        repository,
                        environment,
                        token: secret(token, "token")?,
                    }),
                )
            }
            TargetKind::Http(request) => {
                let url = request.url.source().to_string();
                (
                    format!("http {} {url}", request.method.as_str()),
                    String::new(),
                    None,
                )
            }
        };
        Ok(ResolvedTarget {
            description,
            base_url,
            kind,
            values,
            timeout,
        })
    }

    fn service_url(&self, service: &str) -> Result<String, String> {
        self.services
            .get(service)
            .cloned()
            .ok_or_else(|| format!("the service `{service}` has no URL"))
    }

    /// A generic HTTP target: one request per value, `name` and `value` in its templates.
    async fn write_http(
        &self,
        target: &Target,
        resolved: &ResolvedTarget,
        scope: &Scope,
        result: &mut StepResult,
    ) -> Result<String, propagate::Failure> {
        let TargetKind::Http(request) = &target.kind else {
            return Err(propagate::Failure {
                message: "not an HTTP target".into(),
                written: Vec::new(),
            });
        };
        let mut written = Vec::new();
        for (name, value) in &resolved.values {
            let value_scope = scope
                .with("name", minijinja::Value::from(name.as_str()))
                .with("value", minijinja::Value::from(value.expose_secret()));
            let prepared =
                self.prepare(request, &value_scope)
                    .map_err(|message| propagate::Failure {
                        message,
                        written: written.clone(),
                    })?;
            let (url, sent) = self.send_recorded(request, prepared, result).await;
            match sent {
                Ok(response) if (200..300).contains(&response.status) => written.push(name.clone()),
                Ok(response) => {
                    return Err(propagate::Failure {
                        message: format!("writing {name}: {}", judge::unexpected(&response)),
                        written,
                    });
                }
                Err(error) => {
                    return Err(propagate::Failure {
                        message: format!("writing {name}: {}", error.describe(&url)),
                        written,
                    });
                }
            }
        }
        Ok(format!("{} request(s) answered 2xx", written.len()))
    }

    /// Appends the audit record to its JSON Lines file (flushed to disk), then sends it to the
    /// callback if there is one. A context value that carries a secret is masked: the record
    /// must never hold one (a `fingerprint` may).
    pub(super) async fn audit(
        &mut self,
        step: &crate::runbook::model::Step,
        audit: &Audit,
        scope: &Scope,
        result: &mut StepResult,
    ) -> Outcome {
        let templates = &self.runbook.templates;
        let context = match judge::render_json(&audit.context, templates, scope) {
            Ok(context) => context,
            Err(error) => {
                result
                    .failures
                    .push(format!("cannot render the audit context: {error}"));
                return Err(StepStatus::Failed);
            }
        };
        let record = serde_json::json!({
            "time": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "action": audit.action,
            "actor": self.context.actor,
            "context": context,
            "run_id": self.context.run_id,
            "runbook": {
                "name": self.runbook.name,
                "file": self.runbook.source.name(),
                "digest": self.runbook.source.digest,
            },
        });
        // Masked string by string, keys included: the record stays valid JSON.
        let (record, masked) =
            self.context
                .redactor
                .redact_json(record, &[], crate::secret::Scalars::Whole);
        if masked {
            result.note = Some(
                "a context value carried a secret and was masked; record a `| fingerprint` instead"
                    .into(),
            );
        }
        let file = match &audit.file {
            Some(file) => match file.render(templates, scope) {
                Ok(file) if file.trim().is_empty() => {
                    result.failures.push(
                        "the audit file name is empty: name a file, or leave `file:` out for the state directory's audit.jsonl".into(),
                    );
                    return Err(StepStatus::Failed);
                }
                // A rehearsal writes nothing outside its own state directory.
                Ok(file) if self.context.reachable.is_some() => {
                    let name = std::path::Path::new(&file)
                        .file_name()
                        .map_or_else(|| "audit.jsonl".into(), |name| name.to_os_string());
                    self.context.state_dir.join(name)
                }
                Ok(file) => std::path::PathBuf::from(file),
                Err(error) => {
                    result
                        .failures
                        .push(format!("cannot render the audit file name: {error}"));
                    return Err(StepStatus::Failed);
                }
            },
            None => self.context.state_dir.join("audit.jsonl"),
        };
        if let Err(error) = self.intent(step, None, 1, || {
            format!("record {} in {}", audit.action, file.display())
        }) {
            result.failures.push(error);
            return Err(StepStatus::Failed);
        }
        if let Err(error) = append_line(&file, &record) {
            result.failures.push(format!(
                "cannot append the audit record to {}: {error}",
                file.display()
            ));
            return Err(StepStatus::Failed);
        }
        result.audit = Some(AuditWritten {
            file: file.display().to_string(),
            record: record.clone(),
        });
        if let Some(callback) = &audit.callback {
            let mut prepared = match self.prepare(callback, scope) {
                Ok(prepared) => prepared,
                Err(error) => {
                    result.failures.push(format!("audit callback: {error}"));
                    return Err(StepStatus::Failed);
                }
            };
            if !matches!(
                callback.body,
                Some(Body::Json(_)) | Some(Body::Form(_)) | Some(Body::Raw(_))
            ) {
                prepared.body = Some(record.to_string().into_bytes());
                prepared.content_type = Some("application/json");
            }
            let (url, sent) = self.send_recorded(callback, prepared, result).await;
            match sent {
                Ok(response) if (200..300).contains(&response.status) => {}
                Ok(response) => {
                    result.failures.push(format!(
                        "the audit callback answered {} (the record is in {})",
                        judge::unexpected(&response),
                        file.display()
                    ));
                    return Err(StepStatus::Failed);
                }
                Err(error) => {
                    result.failures.push(format!(
                        "the audit callback failed: {} (the record is in {})",
                        error.describe(&url),
                        file.display()
                    ));
                    return Err(StepStatus::Failed);
                }
            }
        }
        Ok(Vec::new())
    }

    /// The values a manual step asks for: from their environment variables, else typed in at
    /// the terminal (hidden when secret).
    pub(super) async fn ask(
        &mut self,
        step: &crate::runbook::model::Step,
        manual: &Manual,
        result: &mut StepResult,
    ) -> Outcome {
        let mut captured = Vec::new();
        for ask in &manual.ask {
            let from_env = ask
                .env
                .iter()
                .find_map(|name| self.context.env_var(name).map(str::to_string));
            let value = match from_env {
                Some(value) => Some(value),
                None if self.context.interactive => {
                    let request = Request {
                        step_id: step.id.clone(),
                        name: ask.name.clone(),
                        description: ask.description.clone(),
                        secret: ask.secret.is_secret(),
                    };
                    self.prompt(move |confirmer| confirmer.ask(&request), "a value", result)
                        .await?
                        .flatten()
                }
                None => None,
            };
            let Some(value) = value.filter(|value| !value.is_empty()) else {
                let env = if ask.env.is_empty() {
                    String::new()
                } else {
                    let names: Vec<String> =
                        ask.env.iter().map(|name| format!("${name}")).collect();
                    format!(", or set {}", names.join(" or "))
                };
                result.failures.push(format!(
                    "step `{}` needs `{}` from the operator: run at a terminal to type it in{env}",
                    step.id, ask.name
                ));
                return Err(StepStatus::Refused);
            };
            if let Some(pattern) = &ask.pattern
                && !pattern.is_match(&value)
            {
                result.failures.push(format!(
                    "the value given for `{}` does not match the expected pattern",
                    ask.name
                ));
                return Err(StepStatus::Failed);
            }
            captured.push((
                ask.name.clone(),
                match ask.secret {
                    SecretKind::No => Captured::Plain(serde_json::Value::String(value)),
                    SecretKind::Yes | SecretKind::Once => {
                        let secret = SecretString::from(value);
                        self.context.redactor.register(&secret);
                        Captured::Secret(secret)
                    }
                },
            ));
        }
        // A value typed in once (a token rolled in a dashboard) must survive a crash like a
        // captured one: sealed into the journal before the run goes on.
        if let Err(error) = self.journal_captures(step, &captured) {
            result.failures.push(error);
            return Err(StepStatus::Failed);
        }
        Ok(captured)
    }
}

/// A target ready to write: a native provider (`kind`) or a generic HTTP target (`None`).
struct ResolvedTarget {
    description: String,
    base_url: String,
    kind: Option<Provider>,
    values: Vec<(String, SecretString)>,
    timeout: std::time::Duration,
}

/// Infisical strips a trailing slash from folder paths (`/app/` is `/app`); so do we, so the
/// record and the read-back agree.
fn normalize_folder(path: &str) -> String {
    let trimmed = path.trim();
    if trimmed.is_empty() || trimmed == "/" {
        return "/".to_string();
    }
    let with_root = if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    };
    with_root.trim_end_matches('/').to_string()
}

/// Appends one JSON line and flushes it to disk: an audit record must survive a crash right
/// after the step. Files and directories are created private to the user.
fn append_line(path: &std::path::Path, record: &serde_json::Value) -> std::io::Result<()> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        crate::journal::private_dir(parent)?;
    }
    let mut file = crate::journal::open_append(path)?;
    let mut line = record.to_string();
    line.push('\n');
    file.write_all(line.as_bytes())?;
    file.sync_data()
}
