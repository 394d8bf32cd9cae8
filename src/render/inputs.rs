//! The SOP's prerequisites: every input with its description, environment variables (new name
//! first, legacy fallback), default, pattern or choices and whether it is secret; the computed
//! values; and one shell block that resolves them all, in dependency order, the way the
//! original SOPs did (`MGMT="${CF_ACCESS_MGMT:-$CLOUDFLARE_ACCESS_MGMT_TOKEN}"`).

use std::fmt::Write as _;

use super::Renderer;
use super::markdown::{block, code, join_and};
use super::shell::{Word, comment, is_variable_name};
use crate::runbook::model::{Input, ValueRef, Var};
use crate::template::Template;

/// Where the value of an input is looked for, after its own shell variable.
enum Source {
    /// `$NAME`.
    Named(String),
    /// `${!FROM}`: the variable whose name another variable holds.
    Indirect(String),
}

/// What is left when no source has a value.
enum Tail {
    Default(String),
    Required(String),
    Nothing,
}

impl Renderer<'_> {
    pub(super) fn prerequisites(&mut self) -> String {
        let runbook = self.runbook;
        if runbook.inputs.is_empty() && runbook.vars.is_empty() {
            return String::new();
        }
        let mut out = String::from("## Prerequisites\n\n");
        for input in &runbook.inputs {
            let _ = writeln!(out, "{}", self.input_item(input));
        }
        if !runbook.vars.is_empty() {
            out.push_str("\nComputed from them:\n\n");
            for var in &runbook.vars {
                let variable = self.names.variable(&var.name).unwrap_or(&var.name);
                let secret = if var.secret { " (secret)" } else { "" };
                let _ = writeln!(
                    out,
                    "- {} = {}{secret}",
                    code(&format!("${variable}")),
                    code(var.template.source().trim())
                );
            }
        }
        out.push_str("\nSet them in the shell (or export them beforehand):\n\n");
        out.push_str(&block("sh", &self.setup_lines()));
        out.push('\n');
        out
    }

    fn input_item(&self, input: &Input) -> String {
        let variable = self.names.variable(&input.name).unwrap_or(&input.name);
        let secrecy = if input.secret { "secret" } else { "not secret" };
        let mut item = format!(
            "- **{}**: {secrecy}, as {}.",
            input.name,
            code(&format!("${variable}"))
        );
        if let Some(description) = &input.description {
            let _ = write!(item, " {}", self.prose(description).replace('\n', " "));
        }
        if !input.env.is_empty() {
            let sources: Vec<String> = input.env.iter().map(env_text).collect();
            let _ = write!(item, " Environment: {}.", sources.join(", else "));
        }
        match &input.default {
            Some(_) if input.secret => item.push_str(" Has a default (a secret: not shown)."),
            Some(default) => {
                let _ = write!(item, " Default: {}.", code(default.source()));
            }
            None if !input.required => item.push_str(" Optional."),
            None => {}
        }
        if let Some(pattern) = &input.pattern {
            let _ = write!(
                item,
                " Must match {}.",
                code(crate::runbook::model::written_pattern(pattern))
            );
        }
        if !input.choices.is_empty() {
            let choices: Vec<String> = input.choices.iter().map(|choice| code(choice)).collect();
            let _ = write!(item, " One of {}.", join_and(&choices));
        }
        if let Some(example) = input.public_example() {
            let _ = write!(item, " Example: {}.", code(example));
        }
        item
    }

    /// The setup block: inputs and vars in the order they resolve in.
    fn setup_lines(&mut self) -> Vec<String> {
        let runbook = self.runbook;
        let mut lines = vec!["# Inputs: new name first, legacy fallback".to_string()];
        let uses_run_id = runbook
            .steps
            .iter()
            .any(|step| step.uses().contains("run_id"))
            || runbook
                .vars
                .iter()
                .any(|var| var.template.uses().contains("run_id"))
            || runbook.inputs.iter().any(|input| {
                input
                    .env
                    .iter()
                    .chain(&input.default)
                    .any(|template| template.uses().contains("run_id"))
            });
        if uses_run_id {
            lines.push("RUN_ID=\"$(date -u +%Y%m%dT%H%M%SZ)\"".to_string());
        }
        for value in &runbook.resolution_order {
            match value {
                ValueRef::Input(index) => lines.extend(self.input_lines(&runbook.inputs[*index])),
                ValueRef::Var(index) => lines.extend(self.var_lines(&runbook.vars[*index])),
            }
        }
        lines
    }

    fn input_lines(&mut self, input: &Input) -> Vec<String> {
        let variable = self
            .names
            .variable(&input.name)
            .unwrap_or(&input.name)
            .to_string();
        let mut lines = Vec::new();
        let mut sources = Vec::new();
        let mut alternatives = Vec::new();
        for env in &input.env {
            if env.is_literal() && is_variable_name(env.source()) {
                if env.source() != variable {
                    sources.push(Source::Named(env.source().to_string()));
                }
                alternatives.push(env.source().to_string());
            } else {
                let from = self.names.unique(&format!("{variable}_FROM"));
                let mut translator = self.translator();
                let word = translator.word(env.source(), &from);
                lines.extend(translator.take_hoisted_lines());
                lines.push(format!("{from}={}", word.quoted()));
                sources.push(Source::Indirect(from));
            }
        }
        if !alternatives.contains(&variable) {
            alternatives.insert(0, variable.clone());
        }
        // The message of `${X:?…}` is expanded: it names the variable a name template chose.
        for source in &sources {
            if let Source::Indirect(from) = source {
                alternatives.push(format!("${from}"));
            }
        }
        let mut late_default = None;
        let tail = match &input.default {
            Some(_) if input.secret => {
                lines.extend(comment(&format!(
                    "{variable} has a default in the runbook (a secret: not shown)"
                )));
                Tail::Nothing
            }
            Some(default) if default.is_literal() && is_inline_safe(default.source()) => {
                Tail::Default(default.source().to_string())
            }
            Some(default) => {
                let mut translator = self.translator();
                let word = translator.word(default.source(), &variable);
                lines.extend(translator.take_hoisted_lines());
                late_default = Some(format!(
                    "[ -n \"${variable}\" ] || {variable}={}",
                    word.quoted()
                ));
                Tail::Nothing
            }
            None if input.required => Tail::Required(format!("set {}", alternatives.join(" or "))),
            None => Tail::Nothing,
        };
        let chain = chain(&sources, &tail);
        lines.push(match (chain.is_empty(), &tail) {
            (false, _) => format!("{variable}=\"${{{variable}:-{chain}}}\""),
            (true, Tail::Default(default)) => format!("{variable}=\"${{{variable}:-{default}}}\""),
            (true, Tail::Required(message)) => format!("{variable}=\"${{{variable}:?{message}}}\""),
            (true, Tail::Nothing) => format!("{variable}=\"${{{variable}:-}}\""),
        });
        lines.extend(late_default);
        lines
    }

    fn var_lines(&mut self, var: &Var) -> Vec<String> {
        let variable = self
            .names
            .variable(&var.name)
            .unwrap_or(&var.name)
            .to_string();
        let mut translator = self.translator();
        if translator.is_opaque(var.template.source()) {
            return super::translate::Hoisted {
                variable,
                source: var.template.source().trim().to_string(),
            }
            .lines();
        }
        let word: Word = translator.word(var.template.source(), &variable);
        let mut lines = translator.take_hoisted_lines();
        lines.push(format!("{variable}={}", word.quoted()));
        lines
    }
}

/// The expansion that tries each source in order and ends with the tail: `${A:-${B:-x}}`.
/// When only the shell variable itself is tried, it is empty.
fn chain(sources: &[Source], tail: &Tail) -> String {
    let Some((first, rest)) = sources.split_first() else {
        return String::new();
    };
    let reference = match first {
        Source::Named(name) => name.clone(),
        Source::Indirect(from) => format!("!{from}"),
    };
    let inner = chain(rest, tail);
    if !inner.is_empty() {
        return format!("${{{reference}:-{inner}}}");
    }
    match tail {
        Tail::Default(default) => format!("${{{reference}:-{default}}}"),
        Tail::Required(message) => format!("${{{reference}:?{message}}}"),
        Tail::Nothing => format!("${{{reference}}}"),
    }
}

/// A default that can sit inside `"${NAME:-…}"` as written.
fn is_inline_safe(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _-./:@%+,=".contains(c))
}

/// An environment variable for a reader: `$NAME`, or the name's template.
fn env_text(env: &Template) -> String {
    if env.is_literal() {
        code(&format!("${}", env.source()))
    } else {
        format!("the variable named by {}", code(env.source()))
    }
}
