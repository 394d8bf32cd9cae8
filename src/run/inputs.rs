//! Binding inputs, vars and service URLs before a run (or a plan).
//!
//! An input's value comes from, in order: `--var NAME=VALUE` (refused for secrets: argv is
//! visible to every user of the machine), its environment variables in the order listed, its
//! default, and, when running at a terminal, a prompt (hidden for secrets). Vars are then
//! computed from their templates. Every value is validated against its pattern and choices.

use indexmap::IndexMap;
use minijinja::Value;
use serde::Serialize;

use super::context::Context;
use super::values::Values;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::runbook::codes;
use crate::runbook::model::{Input, Runbook, ValueRef};
use crate::secret::{MASK, SecretString};
use crate::suggest::did_you_mean;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Show what would happen: missing values become placeholders, secrets stay masked.
    Plan,
    /// Run: every required value must be there.
    Exec,
}

/// Where a value came from, for the plan and the run's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "from", content = "name")]
pub enum Source {
    /// `--var` on the command line.
    Argument,
    /// An environment variable.
    Env(String),
    Default,
    Prompt,
    /// A var, computed from its template.
    Computed,
    /// Not given; the plan shows a placeholder.
    Missing,
    /// An optional input without a value.
    Unset,
}

#[derive(Clone, Debug, Serialize)]
pub struct Bound {
    pub name: String,
    pub secret: bool,
    pub source: Source,
    /// The value as it may be shown: masked for a secret, a placeholder when missing.
    pub display: String,
    /// The environment variables that were looked at, in order.
    pub tried: Vec<String>,
}

/// Asks the operator for a value nobody supplied.
pub trait Prompter {
    fn ask(&self, input: &Input, tried: &[String]) -> Option<String>;
}

/// The result of binding: the values templates see, a record of each, the services in effect.
pub struct Binding {
    pub values: Values,
    pub bound: Vec<Bound>,
    pub services: IndexMap<String, String>,
}

pub fn bind(
    runbook: &Runbook,
    context: &Context,
    mode: Mode,
    prompter: Option<&dyn Prompter>,
) -> Result<Binding, Diagnostics> {
    let mut diagnostics = Diagnostics::new(runbook.source.clone());
    let services = services(runbook, context, &mut diagnostics);
    check_arguments(runbook, context, &mut diagnostics);
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    let mut values = Values::with_builtins(runbook, context, &services);
    let mut bound = Vec::new();
    for value in &runbook.resolution_order {
        match *value {
            ValueRef::Input(index) => {
                let input = &runbook.inputs[index];
                match bind_input(runbook, input, context, mode, prompter, &mut values) {
                    Ok(record) => bound.push(record),
                    Err(diagnostic) => diagnostics.push(diagnostic),
                }
            }
            ValueRef::Var(index) => {
                let var = &runbook.vars[index];
                let rendered = var.template.render(&runbook.templates, &values.scope());
                let display = match rendered {
                    Ok(text) if var.secret => {
                        bind_secret(&mut values, &var.name, text, context, mode);
                        MASK.to_string()
                    }
                    Ok(text) => {
                        values.set(&var.name, Value::from(text.clone()));
                        text
                    }
                    Err(error) => {
                        if mode == Mode::Exec || diagnostics.has_errors() {
                            diagnostics.push(
                                Diagnostic::error(
                                    codes::INPUT_TEMPLATE,
                                    format!("cannot compute var `{}`: {}", var.name, context.redactor.redact(&error.message)),
                                )
                                .at(var.span)
                                .label("this template failed")
                                .help("check the inputs it uses; their values are listed by `runbook plan`"),
                            );
                        }
                        let placeholder = format!("<{}>", var.name);
                        values.set(&var.name, Value::from(placeholder.clone()));
                        placeholder
                    }
                };
                bound.push(Bound {
                    name: var.name.clone(),
                    secret: var.secret,
                    source: Source::Computed,
                    display,
                    tried: Vec::new(),
                });
            }
        }
    }
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    // Resolved in dependency order; shown in the order the file declares them.
    let declared: Vec<&str> = runbook
        .inputs
        .iter()
        .map(|input| input.name.as_str())
        .chain(runbook.vars.iter().map(|var| var.name.as_str()))
        .collect();
    bound.sort_by_key(|record| declared.iter().position(|name| *name == record.name));
    Ok(Binding {
        values,
        bound,
        services,
    })
}

fn bind_secret(values: &mut Values, name: &str, text: String, context: &Context, mode: Mode) {
    let secret = SecretString::from(text);
    context.redactor.register(&secret);
    match mode {
        Mode::Exec => values.set_secret(name, secret, context),
        // A plan never needs the value: it shows the mask.
        Mode::Plan => values.set(name, Value::from(MASK)),
    }
}

fn bind_input(
    runbook: &Runbook,
    input: &Input,
    context: &Context,
    mode: Mode,
    prompter: Option<&dyn Prompter>,
    values: &mut Values,
) -> Result<Bound, Diagnostic> {
    let mut tried = Vec::new();
    let mut found: Option<(String, Source)> = context
        .vars
        .iter()
        .rev()
        .find(|(name, _)| *name == input.name)
        .map(|(_, value)| (value.clone(), Source::Argument));
    if found.is_none() {
        for template in &input.env {
            let name = template
                .render(&runbook.templates, &values.scope())
                .map_err(|error| {
                    Diagnostic::error(
                        codes::INPUT_TEMPLATE,
                        format!(
                            "cannot work out an environment variable name of input `{}`: {}",
                            input.name, error.message
                        ),
                    )
                    .at(input.span)
                    .label("in this input")
                    .help("check the values the `env` templates use")
                })?;
            tried.push(name.clone());
            if let Some(value) = context.env_var(&name) {
                found = Some((value.to_string(), Source::Env(name)));
                break;
            }
        }
    }
    if found.is_none()
        && let Some(default) = &input.default
    {
        match default.render(&runbook.templates, &values.scope()) {
            Ok(value) => found = Some((value, Source::Default)),
            Err(error) if mode == Mode::Exec => {
                return Err(Diagnostic::error(
                    codes::INPUT_TEMPLATE,
                    format!(
                        "cannot compute the default of input `{}`: {}",
                        input.name, error.message
                    ),
                )
                .at(input.span)
                .label("in this input")
                .help("check the values the default uses"));
            }
            Err(_) => {}
        }
    }
    if found.is_none()
        && input.required
        && mode == Mode::Exec
        && let Some(prompter) = prompter
        && let Some(answer) = prompter.ask(input, &tried)
    {
        found = Some((answer, Source::Prompt));
    }
    let Some((value, source)) = found else {
        if !input.required {
            values.set(&input.name, Value::from(()));
            return Ok(Bound {
                name: input.name.clone(),
                secret: input.secret,
                source: Source::Unset,
                display: "(none)".into(),
                tried,
            });
        }
        if mode == Mode::Plan {
            let placeholder = format!("<{}>", input.name);
            values.set(&input.name, Value::from(placeholder.clone()));
            return Ok(Bound {
                name: input.name.clone(),
                secret: input.secret,
                source: Source::Missing,
                display: placeholder,
                tried,
            });
        }
        return Err(missing(input, &tried, context));
    };
    validate(input, &value, &source)?;
    let display = if input.secret {
        bind_secret(values, &input.name, value, context, mode);
        MASK.to_string()
    } else {
        values.set(&input.name, Value::from(value.clone()));
        value
    };
    Ok(Bound {
        name: input.name.clone(),
        secret: input.secret,
        source,
        display,
        tried,
    })
}

fn missing(input: &Input, tried: &[String], context: &Context) -> Diagnostic {
    let mut ways: Vec<String> = tried.iter().map(|name| format!("${name}")).collect();
    if !input.secret {
        ways.insert(0, format!("--var {}", input.name));
    }
    let mut looked = if ways.is_empty() {
        "it has no environment variables and no default".to_string()
    } else {
        format!("tried {}", ways.join(", "))
    };
    // The environment is read as UTF-8; a variable that is set to anything else is not absent.
    let garbled: Vec<String> = tried
        .iter()
        .filter(|name| context.env_not_utf8.contains(*name))
        .map(|name| format!("${name}"))
        .collect();
    if !garbled.is_empty() {
        looked.push_str(&format!(
            "; {} is set but not valid UTF-8, so it was not used",
            garbled.join(" and ")
        ));
    }
    let help = match (input.secret, tried.first()) {
        (true, Some(first)) => format!(
            "export {first}=… (a secret cannot be passed with --var), or run at a terminal to be asked"
        ),
        (true, None) => {
            "run at a terminal to be asked for it (a secret cannot be passed with --var)"
                .to_string()
        }
        (false, Some(first)) => format!("pass --var {}=VALUE or export {first}=…", input.name),
        (false, None) => format!("pass --var {}=VALUE", input.name),
    };
    let what = input
        .description
        .as_deref()
        .map(|text| {
            format!(
                " ({})",
                text.lines().next().unwrap_or("").trim_end_matches('.')
            )
        })
        .unwrap_or_default();
    Diagnostic::error(
        codes::MISSING_INPUT,
        format!("missing required input `{}`{what}: {looked}", input.name),
    )
    .at(input.span)
    .label("declared here")
    .help(help)
}

fn validate(input: &Input, value: &str, source: &Source) -> Result<(), Diagnostic> {
    let origin = match source {
        Source::Argument => format!("--var {}", input.name),
        Source::Env(name) => format!("${name}"),
        Source::Default => "its default".into(),
        Source::Prompt => "the prompt".into(),
        _ => "its source".into(),
    };
    let shown = if input.secret {
        "the value".to_string()
    } else {
        format!("`{value}`")
    };
    if let Some(pattern) = &input.pattern
        && !pattern.is_match(value)
    {
        let expected = crate::runbook::model::written_pattern(pattern);
        let example = input
            .public_example()
            .map(|example| format!(", e.g. {example}"))
            .unwrap_or_default();
        return Err(Diagnostic::error(
            codes::INPUT_PATTERN,
            format!(
                "input `{}`: {shown} from {origin} does not match the pattern {expected}",
                input.name
            ),
        )
        .at(input.span)
        .label("declared here")
        .help(format!("give a value that matches {expected}{example}")));
    }
    if !input.choices.is_empty() && !input.choices.iter().any(|choice| choice == value) {
        let suggestion = did_you_mean(value, input.choices.iter().map(String::as_str))
            .filter(|_| !input.secret)
            .map(|found| format!(" (did you mean `{found}`?)"))
            .unwrap_or_default();
        return Err(Diagnostic::error(
            codes::INPUT_CHOICE,
            format!(
                "input `{}`: {shown} from {origin} is not one of the choices{suggestion}",
                input.name
            ),
        )
        .at(input.span)
        .label("declared here")
        .help(format!("choose one of: {}", input.choices.join(", "))));
    }
    Ok(())
}

/// Applies `--service NAME=URL` overrides.
fn services(
    runbook: &Runbook,
    context: &Context,
    diagnostics: &mut Diagnostics,
) -> IndexMap<String, String> {
    let mut services = runbook.services.clone();
    for (name, url) in &context.services {
        if !services.contains_key(name) {
            let suggestion = did_you_mean(name, services.keys().map(String::as_str))
                .map(|found| format!(" (did you mean `{found}`?)"))
                .unwrap_or_default();
            let known: Vec<&str> = services.keys().map(String::as_str).collect();
            diagnostics.push(
                Diagnostic::error(
                    codes::UNKNOWN_SERVICE_OVERRIDE,
                    format!("--service {name}=…: the runbook has no service `{name}`{suggestion}"),
                )
                .help(if known.is_empty() {
                    "this runbook declares no services".to_string()
                } else {
                    format!("its services: {}", known.join(", "))
                }),
            );
            continue;
        }
        // The same rules as a base URL in the file: no credentials (never echoed back).
        match crate::runbook::check::validate_base_url(url) {
            Ok(base) => {
                services.insert(name.clone(), base);
            }
            Err(problem @ crate::runbook::check::BaseUrlError::Credentials) => diagnostics.push(
                Diagnostic::error(
                    codes::UNKNOWN_SERVICE_OVERRIDE,
                    format!("--service {name}=…: {problem}"),
                )
                .help(problem.help()),
            ),
            Err(problem) => diagnostics.push(
                Diagnostic::error(
                    codes::UNKNOWN_SERVICE_OVERRIDE,
                    format!("--service {name}={url}: not an absolute http(s) URL ({problem})"),
                )
                .help("write the base URL in full, e.g. --service cloudflare=http://127.0.0.1:8080/client/v4"),
            ),
        }
    }
    services
}

/// Every `--var` must name an input, and never a secret one.
fn check_arguments(runbook: &Runbook, context: &Context, diagnostics: &mut Diagnostics) {
    for (name, _) in &context.vars {
        if let Some(input) = runbook.input(name) {
            if input.secret {
                let env = input
                    .env
                    .first()
                    .map(|template| format!("export {}=… instead", template.source()))
                    .unwrap_or_else(|| "run at a terminal to be asked for it instead".into());
                diagnostics.push(
                    Diagnostic::error(
                        codes::SECRET_IN_ARGV,
                        format!("input `{name}` is secret and cannot be given with --var: the command line is visible to every user of this machine"),
                    )
                    .at(input.span)
                    .label("a secret input")
                    .help(env),
                );
            }
            continue;
        }
        let message = if runbook.vars.iter().any(|var| var.name == *name) {
            format!(
                "--var {name}: `{name}` is computed by the runbook (under `vars:`), not an input"
            )
        } else {
            let suggestion =
                did_you_mean(name, runbook.inputs.iter().map(|input| input.name.as_str()))
                    .map(|found| format!(" (did you mean `{found}`?)"))
                    .unwrap_or_default();
            format!("--var {name}: the runbook has no input `{name}`{suggestion}")
        };
        let inputs: Vec<&str> = runbook
            .inputs
            .iter()
            .map(|input| input.name.as_str())
            .collect();
        diagnostics.push(Diagnostic::error(codes::UNKNOWN_INPUT, message).help(
            if inputs.is_empty() {
                "this runbook has no inputs".to_string()
            } else {
                format!("its inputs: {}", inputs.join(", "))
            },
        ));
    }
}
