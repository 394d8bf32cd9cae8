//! From the raw model to a validated [`Runbook`]: every name resolved, every template, JSONPath,
//! regex and duration compiled, every problem reported (all of them, not just the first) with
//! the file, line and column and what to do.

mod actions;
mod expect;
mod names;
mod step;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use regex::Regex;

use super::codes;
use super::model::{AppliesTo, Input, Metadata, Runbook, ValueRef, Var};
use super::raw::{RawInput, RawRunbook};
use super::span::Spanned;
use crate::diagnostic::{Diagnostic, Diagnostics, SourceFile, Span};
use crate::suggest::did_you_mean;
use crate::template::{Expression, Template, TemplateSet};
pub use names::{BUILTINS, is_identifier};
use names::{Names, StepLocals};
pub use step::DEFAULT_TIMEOUT;

/// Checks a parsed runbook's structure only: names, templates, paths, types. No safety checks.
pub fn check_structure(source: Arc<SourceFile>, raw: RawRunbook) -> Result<Runbook, Diagnostics> {
    let mut checker = Checker {
        source: source.clone(),
        diagnostics: Diagnostics::new(source.clone()),
        templates: TemplateSet::new(),
        names: Names::default(),
        regexes: HashMap::new(),
        json_paths: HashMap::new(),
    };
    let runbook = checker.runbook(raw);
    if checker.diagnostics.has_errors() {
        return Err(checker.diagnostics);
    }
    runbook.ok_or(checker.diagnostics)
}

/// Checks a parsed runbook: its structure, then the safety checks (`super::lint`). Errors fail
/// the check; warnings are kept on the runbook.
pub fn check(source: Arc<SourceFile>, raw: RawRunbook) -> Result<Runbook, Diagnostics> {
    let mut runbook = check_structure(source.clone(), raw)?;
    let mut errors = Diagnostics::new(source);
    // The safety checks: errors fail the check like any other; warnings stay on the runbook
    // (those a step, or the runbook, allows with a reason are not reported at all).
    for diagnostic in super::lint::lint(&runbook) {
        if diagnostic.is_error() {
            errors.push(diagnostic);
        } else {
            runbook.warnings.push(diagnostic);
        }
    }
    if errors.has_errors() {
        return Err(errors);
    }
    Ok(runbook)
}

pub(crate) struct Checker {
    source: Arc<SourceFile>,
    pub(crate) diagnostics: Diagnostics,
    templates: TemplateSet,
    names: Names,
    /// Compiled regexes by pattern: a runbook repeats the same `matches` many times.
    regexes: HashMap<String, Arc<Regex>>,
    /// Parsed JSONPaths by text, for the same reason.
    json_paths: HashMap<String, Arc<serde_json_path::JsonPath>>,
}

impl Checker {
    fn runbook(&mut self, mut raw: RawRunbook) -> Option<Runbook> {
        if !is_slug(&raw.runbook) {
            self.error(
                Diagnostic::error(
                    codes::INVALID_NAME,
                    format!("invalid runbook name `{}`", raw.runbook.value),
                )
                .at(raw.runbook.span)
                .label("lowercase letters, digits and dashes")
                .help("name the runbook like its file, e.g. `cloudflare-access-service-token`"),
            );
        }
        let services = self.services(&raw.services);
        // Every declared service, its URL valid or not: a bad URL is reported once, not again
        // at each use.
        self.names.services = raw.services.keys().cloned().collect();
        self.names.values = raw.inputs.keys().chain(raw.vars.keys()).cloned().collect();
        let inputs: Vec<Input> = raw
            .inputs
            .iter()
            .filter_map(|(name, input)| self.input(name, input))
            .collect();
        let vars: Vec<Var> = raw
            .vars
            .iter()
            .filter_map(|(name, template)| self.var(name, template, &raw.inputs))
            .collect();
        let resolution_order = self.resolution_order(&inputs, &vars)?;
        let mut vars = vars;
        for (input, template, secret) in mark_secret_vars(&inputs, &mut vars, &resolution_order) {
            self.error(
                Diagnostic::error(
                    codes::INVALID_DEFAULT,
                    format!(
                        "input `{}` is not secret, but its value comes from the secret `{secret}`",
                        inputs[input].name
                    ),
                )
                .at(template.span())
                .label("reads a secret")
                .help(format!(
                    "add `secret: true` to `{}`, so its value is masked and never taken from --var",
                    inputs[input].name
                )),
            );
        }
        self.names.secrets = inputs
            .iter()
            .filter(|input| input.secret)
            .map(|input| input.name.clone())
            .chain(
                vars.iter()
                    .filter(|var| var.secret)
                    .map(|var| var.name.clone()),
            )
            .collect();
        if raw.steps.is_empty() {
            self.error(
                Diagnostic::error(codes::NO_STEPS, "the runbook has no steps")
                    .at(raw.runbook.span)
                    .help("add at least one step under `steps:`"),
            );
        }
        let steps = self.steps(std::mem::take(&mut raw.steps));
        let metadata = raw.metadata.map(|metadata| Metadata {
            mode: metadata.mode.map(|value| value.value),
            last_validated: metadata.last_validated.map(|value| value.value),
            validation_method: metadata.validation_method.map(|value| value.value),
            average_duration: metadata.average_duration.map(|value| value.value),
            required_role: metadata.required_role.map(|value| value.value),
        });
        let applies_to = raw
            .applies_to
            .into_iter()
            .map(|entry| AppliesTo {
                name: entry.value.name.value,
                legacy: entry
                    .value
                    .legacy
                    .into_iter()
                    .map(|name| name.value)
                    .collect(),
                description: entry.value.description.map(|text| text.value),
            })
            .collect();
        let lock = raw
            .lock
            .as_ref()
            .and_then(|lock| self.value_template(lock, ""));
        self.plain_text(&raw.title, "the title", false);
        if let Some(description) = &raw.description {
            self.plain_text(description, "the description", true);
        }
        if let Some(rollback) = &raw.rollback {
            self.plain_text(rollback, "the runbook's rollback", true);
        }
        for gotcha in &raw.gotchas {
            self.plain_text(gotcha, "a gotcha", true);
        }
        let templates = std::mem::take(&mut self.templates).finish();
        let secrets = super::model::secret_names(&inputs, &vars, &steps);
        Some(Runbook {
            name: raw.runbook.value,
            title: raw.title.value,
            description: raw.description.map(|text| text.value),
            metadata: metadata.unwrap_or_default(),
            applies_to,
            services,
            inputs,
            vars,
            resolution_order,
            steps,
            secrets,
            lock,
            rollback: raw.rollback.map(|text| text.value),
            gotchas: raw.gotchas.into_iter().map(|text| text.value).collect(),
            source: self.source.clone(),
            templates,
            warnings: Vec::new(),
            allow: self.allow(&raw.allow),
        })
    }

    pub(crate) fn error(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// An allow-list: warning codes with the reason each is accepted.
    pub(crate) fn allow(
        &mut self,
        raw: &IndexMap<String, Spanned<String>>,
    ) -> Vec<(String, String)> {
        let mut allowed = Vec::new();
        for (code, reason) in raw {
            let span = self.locate_key(reason.span, code);
            match super::lint::allowable(code) {
                Some(true) if !reason.value.trim().is_empty() => {
                    allowed.push((code.clone(), reason.value.trim().to_string()));
                }
                Some(true) => self.error(
                    Diagnostic::error(
                        codes::INVALID_ALLOW,
                        format!("allowing {code} needs a reason"),
                    )
                    .at(reason.span)
                    .label("empty")
                    .help("say why the warning does not apply here; reviewers read it"),
                ),
                Some(false) => self.error(
                    Diagnostic::error(
                        codes::INVALID_ALLOW,
                        format!("{code} is an error and cannot be allowed"),
                    )
                    .at(span)
                    .label("not a warning")
                    .help("fix what the error says; only warnings can be accepted with a reason"),
                ),
                None => {
                    let codes: Vec<&str> = super::lint::RULES
                        .iter()
                        .map(|(code, _, _)| *code)
                        .collect();
                    let suggestion = did_you_mean(code, codes.iter().copied())
                        .map(|found| format!(" (did you mean `{found}`?)"))
                        .unwrap_or_default();
                    self.error(
                        Diagnostic::error(
                            codes::INVALID_ALLOW,
                            format!("`{code}` is not a check's code{suggestion}"),
                        )
                        .at(span)
                        .label("unknown code")
                        .help("`runbook check` prints each warning's code, e.g. RB120"),
                    );
                }
            }
        }
        allowed
    }

    pub(crate) fn regex(&mut self, pattern: &str) -> Result<Arc<Regex>, regex::Error> {
        if let Some(regex) = self.regexes.get(pattern) {
            return Ok(regex.clone());
        }
        let regex = Arc::new(Regex::new(pattern)?);
        self.regexes.insert(pattern.to_string(), regex.clone());
        Ok(regex)
    }

    /// A `pattern:` the whole value must match: compiled anchored, as `^(?:…)$` (see
    /// [`super::model::written_pattern`]); an invalid one is reported.
    pub(crate) fn pattern(&mut self, pattern: &Spanned<String>) -> Option<Arc<Regex>> {
        match self.regex(&format!("^(?:{})$", pattern.value)) {
            Ok(regex) => Some(regex),
            Err(error) => {
                self.error(invalid_regex(pattern, &error));
                None
            }
        }
    }

    fn services(&mut self, raw: &IndexMap<String, Spanned<String>>) -> IndexMap<String, String> {
        let mut services = IndexMap::new();
        for (name, url) in raw {
            if !is_identifier(name) {
                self.error(
                    Diagnostic::error(
                        codes::INVALID_NAME,
                        format!("invalid service name `{name}`"),
                    )
                    .at(self.locate_key(url.span, name))
                    .label("letters, digits and underscores, not starting with a digit")
                    .help("templates use it as `{{ services.NAME }}`, so it must be an identifier"),
                );
            }
            match validate_base_url(&url.value) {
                Ok(base) => {
                    services.insert(name.clone(), base);
                }
                Err(problem) => self.error(
                    Diagnostic::error(
                        codes::INVALID_URL,
                        format!("service `{name}` has an invalid base URL: {problem}"),
                    )
                    .at(url.span)
                    .label(problem.label())
                    .help(problem.help()),
                ),
            }
        }
        services
    }

    fn value_name(&mut self, kind: &str, name: &str, span: Span) -> bool {
        if !is_identifier(name) {
            self.error(
                Diagnostic::error(codes::INVALID_NAME, format!("invalid {kind} name `{name}`"))
                    .at(self.locate_key(span, name))
                    .label("letters, digits and underscores, not starting with a digit")
                    .help(format!("templates refer to it as `{{{{ NAME }}}}`, so the {kind} name must be an identifier")),
            );
            return false;
        }
        if BUILTINS.contains(&name) || name.starts_with("__") {
            self.error(
                Diagnostic::error(codes::INVALID_NAME, format!("`{name}` is a reserved name"))
                    .at(self.locate_key(span, name))
                    .label("reserved")
                    .help(format!(
                        "reserved names: {}; choose another name",
                        BUILTINS.join(", ")
                    )),
            );
            return false;
        }
        true
    }

    fn input(&mut self, name: &str, spanned: &Spanned<RawInput>) -> Option<Input> {
        let raw = &spanned.value;
        if let Some(description) = &raw.description {
            self.plain_text(description, "the input's description", true);
        }
        let mut ok = self.value_name("input", name, spanned.span);
        let mut env = Vec::new();
        for variable in &raw.env {
            if let Some(template) = self.value_template(variable, name) {
                if template.is_literal() && !is_env_name(template.source()) {
                    self.error(
                        Diagnostic::error(
                            codes::INVALID_NAME,
                            format!("`{}` is not an environment variable name", template.source()),
                        )
                        .at(variable.span)
                        .label("letters, digits and underscores")
                        .help("list environment variable names, new name first, e.g. [CF_ACCESS_MGMT, CLOUDFLARE_ACCESS_MGMT_TOKEN]"),
                    );
                    ok = false;
                }
                env.push(template);
            } else {
                ok = false;
            }
        }
        let default = match &raw.default {
            Some(default) => match self.value_template(default, name) {
                Some(template) => Some(template),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let pattern = match &raw.pattern {
            Some(pattern) => {
                let regex = self.pattern(pattern);
                ok &= regex.is_some();
                regex
            }
            None => None,
        };
        let choices: Vec<String> = raw
            .choices
            .iter()
            .map(|choice| choice.value.clone())
            .collect();
        if let Some(default_value) = raw
            .default
            .as_ref()
            .filter(|_| default.as_ref().is_some_and(Template::is_literal))
        {
            if let Some(regex) = &pattern
                && !regex.is_match(&default_value.value)
            {
                self.error(
                    Diagnostic::error(
                        codes::INVALID_DEFAULT,
                        format!("the default of `{name}` does not match its pattern"),
                    )
                    .at(default_value.span)
                    .label(format!(
                        "must match {}",
                        raw.pattern.as_ref().map_or("", |p| p.value.as_str())
                    ))
                    .help("fix the default or the pattern"),
                );
                ok = false;
            }
            if !choices.is_empty() && !choices.contains(&default_value.value) {
                self.error(
                    Diagnostic::error(
                        codes::INVALID_DEFAULT,
                        format!("the default of `{name}` is not one of its choices"),
                    )
                    .at(default_value.span)
                    .label(format!("choices: {}", choices.join(", ")))
                    .help("make the default one of the choices"),
                );
                ok = false;
            }
        }
        ok.then(|| Input {
            name: name.to_string(),
            description: raw.description.as_ref().map(|text| text.value.clone()),
            required: raw.required.unwrap_or(default.is_none()),
            env,
            default,
            secret: raw.secret,
            pattern,
            choices,
            example: raw.example.as_ref().map(|text| text.value.clone()),
            span: self.locate_key(spanned.span, name),
        })
    }

    fn var(
        &mut self,
        name: &str,
        spanned: &Spanned<String>,
        inputs: &IndexMap<String, Spanned<RawInput>>,
    ) -> Option<Var> {
        if inputs.contains_key(name) {
            self.error(
                Diagnostic::error(
                    codes::DUPLICATE_NAME,
                    format!("`{name}` is both an input and a var"),
                )
                .at(self.locate_key(spanned.span, name))
                .label("defined again here")
                .help("rename one of them"),
            );
            return None;
        }
        let ok = self.value_name("var", name, spanned.span);
        let template = self.value_template(spanned, name)?;
        ok.then(|| Var {
            name: name.to_string(),
            template,
            secret: false,
            span: spanned.span,
        })
    }

    /// A template of an input or var: it may use other inputs and vars and the builtins that
    /// exist before any step runs.
    fn value_template(&mut self, spanned: &Spanned<String>, owner: &str) -> Option<Template> {
        let template = self.compile_template(spanned)?;
        let locals = StepLocals::values();
        let uses = template.uses().clone();
        if uses.contains(owner) {
            self.error(
                Diagnostic::error(
                    codes::DEPENDENCY_CYCLE,
                    format!("`{owner}` is defined in terms of itself"),
                )
                .at(self.locate_name(spanned, owner))
                .label("uses itself")
                .help("a value cannot depend on itself; give it a literal value or another source"),
            );
            return None;
        }
        self.check_uses(spanned, &uses, &locals).then_some(template)
    }

    /// Orders inputs and vars so that each comes after the values it uses.
    fn resolution_order(&mut self, inputs: &[Input], vars: &[Var]) -> Option<Vec<ValueRef>> {
        let mut nodes: Vec<(String, ValueRef, BTreeSet<String>, Span)> = Vec::new();
        for (index, input) in inputs.iter().enumerate() {
            let uses = input
                .env
                .iter()
                .chain(&input.default)
                .flat_map(|template| template.uses().iter().cloned())
                .collect();
            nodes.push((input.name.clone(), ValueRef::Input(index), uses, input.span));
        }
        for (index, var) in vars.iter().enumerate() {
            nodes.push((
                var.name.clone(),
                ValueRef::Var(index),
                var.template.uses().clone(),
                var.span,
            ));
        }
        let names: HashSet<String> = nodes.iter().map(|node| node.0.clone()).collect();
        let mut done: HashSet<String> = HashSet::new();
        let mut order = Vec::new();
        while order.len() < nodes.len() {
            let ready: Vec<usize> = (0..nodes.len())
                .filter(|&index| {
                    let (name, _, uses, _) = &nodes[index];
                    !done.contains(name)
                        && uses
                            .iter()
                            .all(|used| !names.contains(used) || done.contains(used))
                })
                .collect();
            if ready.is_empty() {
                let stuck: Vec<&(String, ValueRef, BTreeSet<String>, Span)> = nodes
                    .iter()
                    .filter(|node| !done.contains(&node.0))
                    .collect();
                let members: Vec<String> =
                    stuck.iter().map(|node| format!("`{}`", node.0)).collect();
                self.error(
                    Diagnostic::error(
                        codes::DEPENDENCY_CYCLE,
                        format!(
                            "these values depend on each other in a cycle: {}",
                            members.join(", ")
                        ),
                    )
                    .at(stuck[0].3)
                    .label("part of the cycle")
                    .help("break the cycle: one of them must not use the others"),
                );
                return None;
            }
            for index in ready {
                done.insert(nodes[index].0.clone());
                order.push(nodes[index].1);
            }
        }
        Some(order)
    }

    /// Compiles a template, reporting a syntax error at its place in the file.
    pub(crate) fn compile_template(&mut self, spanned: &Spanned<String>) -> Option<Template> {
        match self.templates.template(&spanned.value) {
            Ok(template) => Some(template.at(spanned.span)),
            Err(error) => {
                let span = self.locate_in(spanned, error.range.clone());
                self.error(
                    Diagnostic::error(codes::TEMPLATE_SYNTAX, format!("invalid template: {}", error.message))
                        .at(span)
                        .label("here")
                        .help("templates are minijinja (Jinja2): `{{ name }}`, `{{ name | filter }}`, `{% if cond %}…{% endif %}`"),
                );
                None
            }
        }
    }

    pub(crate) fn compile_expression(&mut self, spanned: &Spanned<String>) -> Option<Expression> {
        match self.templates.expression(&spanned.value) {
            Ok(expression) => Some(expression.at(spanned.span)),
            Err(error) => {
                let span = self.locate_in(spanned, error.range.clone());
                self.error(
                    Diagnostic::error(codes::TEMPLATE_SYNTAX, format!("invalid expression: {}", error.message))
                        .at(span)
                        .label("here")
                        .help("an expression is written without braces, e.g. `secret_name == 'CF_PAGES_READ'` or `response.json.result | length > 0`"),
                );
                None
            }
        }
    }

    pub(crate) fn compile_native(
        &mut self,
        spanned: &Spanned<String>,
    ) -> Option<Option<Expression>> {
        match self.templates.native(&spanned.value)? {
            Ok(expression) => Some(Some(expression.at(spanned.span))),
            Err(_) => Some(None),
        }
    }

    /// Reports every name a template uses that does not exist at this point of the runbook.
    /// Returns whether all were known.
    pub(crate) fn check_uses(
        &mut self,
        spanned: &Spanned<String>,
        uses: &BTreeSet<String>,
        locals: &StepLocals,
    ) -> bool {
        let mut ok = true;
        for used in uses {
            if let Some(service) = used.strip_prefix("services.") {
                let service = service.split('.').next().unwrap_or(service);
                if !self.names.services.contains(service) {
                    let suggestion =
                        did_you_mean(service, self.names.services.iter().map(String::as_str))
                            .map(|found| format!(" (did you mean `{found}`?)"))
                            .unwrap_or_default();
                    let known = if self.names.services.is_empty() {
                        "the runbook declares no services".to_string()
                    } else {
                        format!(
                            "declared services: {}",
                            self.names
                                .services
                                .iter()
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    self.error(
                        Diagnostic::error(
                            codes::UNKNOWN_SERVICE,
                            format!("unknown service `{service}`{suggestion}"),
                        )
                        .at(self.locate_name(spanned, service))
                        .label("not declared under `services:`")
                        .help(format!("{known}; add it under `services:` or fix the name")),
                    );
                    ok = false;
                }
                continue;
            }
            if used.contains('.') || locals.allows(used) || self.names.is_known(used, locals) {
                continue;
            }
            ok = false;
            let span = self.locate_name(spanned, used);
            if let Some(step) = self.names.captured_later(used).map(str::to_string) {
                self.error(
                    Diagnostic::error(
                        codes::USED_BEFORE_CAPTURE,
                        format!("`{used}` is used before it is captured: step `{step}` captures it later"),
                    )
                    .at(span)
                    .label("not captured yet here")
                    .help(format!("move this use after step `{step}`, or capture the value earlier")),
                );
                continue;
            }
            if locals.is_value_template() && self.names.is_capture(used) {
                self.error(
                    Diagnostic::error(
                        codes::USED_BEFORE_CAPTURE,
                        format!("`{used}` is a capture; inputs and vars are resolved before any step runs"),
                    )
                    .at(span)
                    .label("not available here")
                    .help("use the capture in a step instead"),
                );
                continue;
            }
            let candidates = self.names.candidates(locals);
            let suggestion = did_you_mean(used, candidates.iter().map(String::as_str))
                .map(|found| format!(" (did you mean `{found}`?)"))
                .unwrap_or_default();
            let help = match used.as_str() {
                "item" => "`item` exists only in steps with `for_each`".to_string(),
                "response" => {
                    "`response` exists only in `expect.that` and `retry.until`".to_string()
                }
                _ => format!(
                    "define `{used}` under `inputs:` or `vars:`, capture it in an earlier step, or fix the name; known here: {}",
                    candidates.join(", ")
                ),
            };
            self.error(
                Diagnostic::error(
                    codes::UNDEFINED_VARIABLE,
                    format!("undefined variable `{used}`{suggestion}"),
                )
                .at(span)
                .label("not defined here")
                .help(help),
            );
        }
        ok
    }

    /// The file position of a byte range inside a template written at `spanned`.
    pub(crate) fn locate_in(
        &self,
        spanned: &Spanned<String>,
        range: Option<std::ops::Range<usize>>,
    ) -> Span {
        let Some(range) = range else {
            return spanned.span;
        };
        let template = &spanned.value;
        let start = range.start.min(template.len());
        let line_start = template[..start]
            .rfind('\n')
            .map_or(0, |newline| newline + 1);
        let line_end = template[start..]
            .find('\n')
            .map_or(template.len(), |newline| start + newline);
        let line = &template[line_start..line_end];
        let text = &self.source.text;
        let from = spanned.span.offset.min(text.len());
        if !line.is_empty()
            && let Some(found) = text[from..].find(line)
        {
            let offset = from + found + (start - line_start);
            let len = (range.end - range.start)
                .max(1)
                .min(line_end - start)
                .max(1);
            return Span::new(offset, len);
        }
        spanned.span
    }

    /// The file position of the first use of `name` inside the template written at `spanned`.
    pub(crate) fn locate_name(&self, spanned: &Spanned<String>, name: &str) -> Span {
        let template = &spanned.value;
        let position = find_identifier(template, name);
        match position {
            Some(start) => self.locate_in(spanned, Some(start..start + name.len())),
            None => spanned.span,
        }
    }

    /// Text shown to people (a title, a description) holds no control characters: a carriage
    /// return or an escape sequence can make a terminal show a step as something else (a
    /// DELETE titled to read as a harmless check). A description may hold line breaks and
    /// tabs; a title is one line.
    pub(crate) fn plain_text(&mut self, text: &Spanned<String>, what: &str, lines: bool) {
        // Control characters (a carriage return included: Markdown reads a lone one as a line
        // break, so `\r<!--` in one line of a rendered SOP hides everything after it), and the
        // invisible characters that reorder or hide what is displayed: bidirectional overrides
        // and isolates, zero-width spaces, the byte-order mark.
        let invisible = |c: char| {
            crate::report::output::reorders_display(c)
                || matches!(c, '\u{200b}' | '\u{2060}' | '\u{feff}')
        };
        let Some((at, found)) = text.value.char_indices().find(|(_, c)| {
            (c.is_control() && !(lines && matches!(c, '\n' | '\t'))) || invisible(*c)
        }) else {
            return;
        };
        let (kind, label, shown) = if invisible(found) {
            (
                "invisible character",
                "an invisible character",
                format!("\\u{{{:x}}}", u32::from(found)),
            )
        } else {
            let debug = format!("{:?}", found.to_string());
            (
                "control character",
                "a control character",
                debug.trim_matches('"').to_string(),
            )
        };
        let span = self.locate_in(text, Some(at..at + found.len_utf8()));
        self.error(
            Diagnostic::error(codes::SHAPE, format!("{what} holds the {kind} {shown}"))
                .at(span)
                .label(label)
                .help(if lines {
                    "write plain text: such a character can make a terminal or a rendered SOP show something other than what is written"
                } else {
                    "write it on one line of plain text: such a character can make a terminal or a rendered SOP show something other than what is written"
                }),
        );
    }

    /// The position of a mapping key written before a value at `value_span`.
    pub(crate) fn locate_key(&self, value_span: Span, key: &str) -> Span {
        let text = &self.source.text;
        let end = crate::diagnostic::floor_char_boundary(text, value_span.offset.min(text.len()));
        match text[..end].rfind(key) {
            Some(found) => Span::new(found, key.len()),
            None => value_span,
        }
    }

    pub(crate) fn duration(&mut self, spanned: &Spanned<String>, what: &str) -> Option<Duration> {
        match parse_duration(&spanned.value) {
            Ok(duration) if duration > LONGEST_WAIT => {
                self.error(
                    Diagnostic::error(
                        codes::INVALID_DURATION,
                        format!("the {what} `{}` is longer than a day", spanned.value),
                    )
                    .at(spanned.span)
                    .label("at most 24h")
                    .help("a step waits at most a day; for longer, end the runbook here and start a second one when the time comes"),
                );
                None
            }
            Ok(duration) => Some(duration),
            Err(reason) => {
                self.error(
                    Diagnostic::error(
                        codes::INVALID_DURATION,
                        format!("invalid {what} `{}`: {reason}", spanned.value),
                    )
                    .at(spanned.span)
                    .label("not a duration")
                    .help("write a duration like 500ms, 30s, 2m or 1h30m"),
                );
                None
            }
        }
    }
}

pub(crate) fn invalid_regex(spanned: &Spanned<String>, error: &regex::Error) -> Diagnostic {
    let reason = error.to_string();
    let reason = reason.lines().last().unwrap_or("").trim();
    let reason = reason.strip_prefix("error: ").unwrap_or(reason).to_string();
    Diagnostic::error(
        codes::INVALID_REGEX,
        format!("invalid regular expression: {reason}"),
    )
    .at(spanned.span)
    .label("does not compile")
    .help("fix the regular expression (Rust regex syntax; no look-around or backreferences)")
}

/// The longest timeout or interval a runbook may give a step: a wait of more than a day is a
/// schedule, not a step, and one of years would hold the run (and its lock) for ever.
const LONGEST_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// Parses `500ms`, `30s`, `2m`, `1h30m`, or ISO 8601 (`PT30S`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration: jiff::SignedDuration = text.trim().parse().map_err(|error: jiff::Error| {
        let message = error.to_string();
        if message.contains("calendar units") {
            // jiff's own words suggest one of its types; say what to write instead.
            return "days, weeks, months and years are not durations here: write hours, e.g. 12h"
                .to_string();
        }
        message.split(": ").last().unwrap_or(&message).to_string()
    })?;
    if duration.is_negative() {
        return Err("a duration cannot be negative".into());
    }
    Duration::try_from(duration).map_err(|error| error.to_string())
}

/// Why a base URL (a service under `services:`, or a `--service NAME=URL` override) is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseUrlError {
    /// Not an absolute http(s) URL, or one with a query or fragment.
    Invalid(String),
    /// A user name or password in the URL: it would be printed by `plan` and `render` and
    /// recorded in journals.
    Credentials,
}

impl BaseUrlError {
    /// What the caret under the URL says.
    pub fn label(&self) -> &'static str {
        match self {
            BaseUrlError::Invalid(_) => "not an absolute http(s) URL",
            BaseUrlError::Credentials => "credentials in the URL",
        }
    }

    /// What to do about it.
    pub fn help(&self) -> &'static str {
        match self {
            BaseUrlError::Invalid(_) => {
                "write the base URL in full, e.g. https://api.cloudflare.com/client/v4"
            }
            BaseUrlError::Credentials => {
                "remove `user:password@`; the plan, the SOP and the journal show base URLs as written"
            }
        }
    }
}

impl std::fmt::Display for BaseUrlError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BaseUrlError::Invalid(reason) => formatter.write_str(reason),
            BaseUrlError::Credentials => formatter.write_str(
                "a base URL carries no credentials; put the credential in an input with `secret: true` and send it in a header",
            ),
        }
    }
}

impl std::error::Error for BaseUrlError {}

/// Checks a service's base URL: absolute http(s), no credentials, no query or fragment. Returns
/// it without a trailing slash.
pub fn validate_base_url(url: &str) -> Result<String, BaseUrlError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|error| BaseUrlError::Invalid(error.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(BaseUrlError::Invalid(format!(
            "the scheme is `{}`, not http or https",
            parsed.scheme()
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(BaseUrlError::Credentials);
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(BaseUrlError::Invalid(
            "a base URL has no query or fragment".into(),
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Lowercase letters, digits and dashes, not starting with a dash: a runbook name or a step id,
/// as the schema's `^[a-z0-9][a-z0-9-]*$`.
pub(crate) fn is_slug(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The byte offset of `name` as a whole identifier in `text`.
fn find_identifier(text: &str, name: &str) -> Option<usize> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(found) = text[from..].find(name) {
        let start = from + found;
        let end = start + name.len();
        let before_ok = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !is_ident(c));
        let after_ok = text[end..].chars().next().is_none_or(|c| !is_ident(c));
        if before_ok && after_ok {
            return Some(start);
        }
        from = end;
    }
    None
}

/// A var that reads a secret is a secret. Follows the resolution order, so a var built from
/// a secret var is one too. An input must say so itself (`secret: true` also refuses `--var`
/// and hides the prompt): each one that is not secret but whose default or environment name
/// reads a secret is returned, with that template and the secret's name.
fn mark_secret_vars<'a>(
    inputs: &'a [Input],
    vars: &mut [Var],
    order: &[ValueRef],
) -> Vec<(usize, &'a Template, String)> {
    let mut secret: HashMap<String, bool> = inputs
        .iter()
        .map(|input| (input.name.clone(), input.secret))
        .collect();
    let reads_secret = |template: &Template, secret: &HashMap<String, bool>| {
        template
            .uses()
            .iter()
            .find(|used| secret.get(*used).copied().unwrap_or(false))
            .cloned()
    };
    let mut exposed = Vec::new();
    for value in order {
        match value {
            ValueRef::Var(index) => {
                let var = &mut vars[*index];
                var.secret = reads_secret(&var.template, &secret).is_some();
                secret.insert(var.name.clone(), var.secret);
            }
            ValueRef::Input(index) if !inputs[*index].secret => {
                let input = &inputs[*index];
                exposed.extend(input.env.iter().chain(&input.default).find_map(|template| {
                    reads_secret(template, &secret).map(|name| (*index, template, name))
                }));
            }
            ValueRef::Input(_) => {}
        }
    }
    exposed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-5s").is_err());
        assert_eq!(
            parse_duration("2d").unwrap_err(),
            "days, weeks, months and years are not durations here: write hours, e.g. 12h"
        );
    }

    #[test]
    fn identifiers_are_found_whole() {
        assert_eq!(find_identifier("{{ ab }}{{ a }}", "a"), Some(11));
        assert_eq!(find_identifier("{{ ab }}", "a"), None);
    }
}
