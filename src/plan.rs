//! The plan: what `exec` would do, worked out without touching the network. Every step in
//! order with its resolved request, what it uses and captures, and whether it is read-only,
//! mutating, manual or irreversible. Values not known yet (missing inputs, captures of earlier
//! steps) show as `<name>` placeholders; secrets show as the mask.

use minijinja::Value;
use serde::Serialize;

use crate::run::inputs::{Binding, Bound};
use crate::runbook::model::{Action, Effect, ForEach, SecretKind, Step, TargetKind};
use crate::runbook::{Runbook, check::BUILTINS};
use crate::step::judge;

#[derive(Debug, Serialize)]
pub struct Plan {
    pub runbook: String,
    pub title: String,
    pub file: String,
    pub digest: String,
    pub inputs: Vec<Bound>,
    pub services: Vec<(String, String)>,
    pub steps: Vec<PlannedStep>,
}

#[derive(Debug, Serialize)]
pub struct PlannedStep {
    pub index: usize,
    pub id: String,
    pub title: String,
    pub effect: Effect,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub irreversible: Option<String>,
    /// The condition, and its value when it can be worked out now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<PlannedCondition>,
    /// `METHOD URL` per item (one without `for_each`).
    pub requests: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual: Option<String>,
    pub uses: Vec<Use>,
    pub captures: Vec<PlannedCapture>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PlannedCondition {
    pub expression: String,
    pub holds: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct Use {
    pub name: String,
    pub kind: &'static str,
    pub secret: bool,
}

#[derive(Debug, Serialize)]
pub struct PlannedCapture {
    pub name: String,
    pub secret: SecretKind,
}

/// Works out the plan from bound values (bound in [`crate::run::Mode::Plan`]).
pub fn plan(runbook: &Runbook, binding: &Binding) -> Plan {
    let steps = runbook
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| plan_step(runbook, binding, index, step))
        .collect();
    Plan {
        runbook: runbook.name.clone(),
        title: runbook.title.clone(),
        file: runbook.source.name(),
        digest: runbook.source.digest.clone(),
        inputs: binding.bound.clone(),
        services: binding
            .services
            .iter()
            .map(|(name, url)| (name.clone(), url.clone()))
            .collect(),
        steps,
    }
}

fn plan_step(runbook: &Runbook, binding: &Binding, index: usize, step: &Step) -> PlannedStep {
    let uses = step.uses();
    let values = binding.values.with_placeholders(uses.iter().copied());
    let scope = values.scope();
    let templates = &runbook.templates;
    let when = step.when.as_ref().map(|when| PlannedCondition {
        expression: when.source().to_string(),
        holds: if uses_unknown(when.uses(), binding) {
            None
        } else {
            when.is_true(templates, &scope).ok()
        },
    });
    let items: Vec<Option<Value>> = match &step.for_each {
        None => vec![None],
        Some(ForEach::Items(items)) => items
            .iter()
            .map(|item| {
                Some(match judge::render_json(item, templates, &scope) {
                    Ok(value) => crate::template::to_value(&value),
                    Err(_) => Value::from("<item>"),
                })
            })
            .collect(),
        Some(ForEach::Expression(expression)) => match expression.eval(templates, &scope) {
            Ok(value) if value.try_iter().is_ok() && !uses_unknown(expression.uses(), binding) => {
                value
                    .try_iter()
                    .map(|items| items.map(Some).collect())
                    .unwrap_or_default()
            }
            _ => vec![Some(Value::from("<item>"))],
        },
    };
    let mut requests = Vec::new();
    let mut manual = None;
    match &step.action {
        Action::Http(request) => {
            for item in &items {
                let item_scope = match item {
                    Some(item) => scope.with("item", item.clone()),
                    None => scope.clone(),
                };
                let url = request
                    .url
                    .render(templates, &item_scope)
                    .unwrap_or_else(|_| request.url.source().to_string());
                requests.push(format!("{} {url}", request.method.as_str()));
            }
        }
        Action::Manual(instructions) => {
            manual = Some(
                instructions
                    .instructions
                    .render(templates, &scope)
                    .unwrap_or_else(|_| instructions.instructions.source().to_string()),
            );
        }
        Action::Propagate(propagate) => {
            let render = |template: &crate::template::Template| {
                template
                    .render(templates, &scope)
                    .unwrap_or_else(|_| template.source().to_string())
            };
            for target in &propagate.targets {
                let names: Vec<String> = target
                    .values
                    .iter()
                    .map(|value| render(&value.name))
                    .collect();
                let place = match &target.kind {
                    TargetKind::Infisical {
                        environment, path, ..
                    } => format!("infisical {} {}", render(environment), render(path)),
                    TargetKind::Heroku { app, .. } => format!("heroku app {}", render(app)),
                    TargetKind::Github {
                        repository,
                        environment,
                        ..
                    } => match environment {
                        Some(environment) => format!(
                            "github {} environment {}",
                            render(repository),
                            render(environment)
                        ),
                        None => format!("github {}", render(repository)),
                    },
                    TargetKind::Http(request) => {
                        format!("http {} {}", request.method.as_str(), request.url.source())
                    }
                };
                requests.push(format!("write {} to {place}", names.join(", ")));
            }
        }
        Action::Audit(audit) => {
            let file = audit
                .file
                .as_ref()
                .map(|file| {
                    file.render(templates, &scope)
                        .unwrap_or_else(|_| file.source().to_string())
                })
                .unwrap_or_else(|| "the state directory's audit.jsonl".to_string());
            requests.push(format!("record {} in {file}", audit.action));
            if let Some(callback) = &audit.callback {
                let url = callback
                    .url
                    .render(templates, &scope)
                    .unwrap_or_else(|_| callback.url.source().to_string());
                requests.push(format!("{} {url} (the record)", callback.method.as_str()));
            }
        }
    }
    let own: Vec<&str> = step
        .captures
        .iter()
        .map(|capture| capture.name.as_str())
        .collect();
    let uses = uses
        .iter()
        .filter(|name| {
            !BUILTINS.contains(*name)
                && !matches!(**name, "item" | "response")
                && !own.contains(*name)
        })
        .map(|name| Use {
            name: name.to_string(),
            kind: if runbook.input(name).is_some() {
                "input"
            } else if runbook.vars.iter().any(|var| var.name == *name) {
                "var"
            } else {
                "capture"
            },
            secret: runbook.is_secret(name),
        })
        .collect();
    PlannedStep {
        index: index + 1,
        id: step.id.clone(),
        title: step.title.clone(),
        effect: step.effect(),
        irreversible: step.irreversible.clone(),
        when,
        requests,
        manual,
        uses,
        captures: step
            .captures
            .iter()
            .map(|capture| PlannedCapture {
                name: capture.name.clone(),
                secret: capture.secret,
            })
            .collect(),
        retry: step.retry.as_ref().map(|retry| {
            let mut text = format!(
                "up to {} attempts, {} apart",
                retry.attempts,
                crate::step::http::humanize(retry.interval)
            );
            if retry.backoff > 1.0 {
                text.push_str(&format!(" (x{} each time)", retry.backoff));
            }
            if let Some(until) = &retry.until {
                text.push_str(&format!(", until {}", until.source()));
            }
            text
        }),
    }
}

/// Whether an expression reads a value that is not known at plan time.
fn uses_unknown(uses: &std::collections::BTreeSet<String>, binding: &Binding) -> bool {
    uses.iter().any(|name| {
        let top = name.split('.').next().unwrap_or(name);
        !binding.values.contains(top)
            || binding.bound.iter().any(|bound| {
                bound.name == top && bound.source == crate::run::inputs::Source::Missing
            })
    })
}
