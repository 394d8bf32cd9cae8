//! One numbered step of the SOP: its title and prose, the conditions around it (when, for each,
//! retry, irreversible), what to do (a `curl` command, instructions, where values go, the audit
//! record), what to expect and capture, the hints and the rollback note.

use std::fmt::Write as _;

use super::Renderer;
use super::curl::{self, Response};
use super::describe;
use super::jq::jq_path;
use super::markdown::{block, code, join_and};
use super::shell::{Word, comment, single_quote};
use crate::runbook::model::{
    Action, Capture, CaptureSource, ForEach, HttpRequest, JsonTemplate, Manual, SecretKind, Step,
};

impl Renderer<'_> {
    pub(super) fn step(&mut self, number: usize, step: &Step) -> String {
        let mut out = format!("### {number}. {}\n\n", step.title.trim());
        let _ = writeln!(
            out,
            "Step {} · {}\n",
            code(&step.id),
            step.effect().as_str()
        );
        if let Some(when) = &step.when {
            let _ = writeln!(out, "Only when {}.\n", code(when.source().trim()));
        }
        if let Some(reason) = &step.irreversible {
            let _ = writeln!(
                out,
                "> **Irreversible.** {} `runbook exec` asks for confirmation first.\n",
                self.prose(reason).replace('\n', " ")
            );
        }
        if let Some(description) = &step.description {
            let _ = writeln!(out, "{}\n", self.prose(description));
        }
        if let Some(for_each) = &step.for_each {
            let show = |source: &str| self.prose_inline(source);
            let _ = writeln!(
                out,
                "For each of {} (as `$ITEM`):\n",
                describe::for_each(for_each, &show)
            );
        }
        match &step.action {
            Action::Http(request) => out.push_str(&self.http(step, request)),
            Action::Manual(manual) => out.push_str(&self.manual(manual)),
            Action::Propagate(propagate) => out.push_str(&self.propagate(propagate)),
            Action::Audit(audit) => out.push_str(&self.audit(audit)),
        }
        if let Some(retry) = &step.retry {
            let _ = writeln!(out, "{}\n", describe::retry(retry));
        }
        if matches!(step.action, Action::Http(_)) {
            let show = |source: &str| self.prose_inline(source);
            let expectations = describe::expectations(&step.expect, &show);
            let _ = writeln!(out, "Expect: {}.\n", expectations.join(", "));
        }
        if !step.captures.is_empty() {
            let captures: Vec<String> = step.captures.iter().map(capture_text).collect();
            let _ = writeln!(out, "Captures: {}.\n", join_and(&captures));
        }
        for (status, hint) in &step.hints {
            let _ = writeln!(
                out,
                "If it fails with {status}: {}\n",
                self.prose(hint.source()).replace('\n', " ")
            );
        }
        if let Some(rollback) = &step.rollback {
            let _ = writeln!(out, "**Rollback:** {}\n", self.prose(rollback.source()));
        }
        out
    }

    /// A template shown inline, without code spans (the caller puts it in one).
    pub(super) fn prose_inline(&self, source: &str) -> String {
        super::prose::Prose {
            runbook: self.runbook,
            names: &self.names,
        }
        .inline(source)
    }

    fn http(&mut self, step: &Step, request: &HttpRequest) -> String {
        let header_capture = step
            .captures
            .iter()
            .any(|capture| matches!(capture.source, CaptureSource::Header(_)));
        let reads_body = !step.expect.json.is_empty()
            || !step.expect.that.is_empty()
            || step
                .retry
                .as_ref()
                .is_some_and(|retry| retry.until.is_some());
        let response = if !step.captures.is_empty() {
            Response::Keep {
                headers: header_capture,
            }
        } else if reads_body {
            Response::Json
        } else if step.expect.status.is_some() {
            Response::Status
        } else {
            Response::Plain
        };
        let capture_names: Vec<(String, &Capture)> = step
            .captures
            .iter()
            .map(|capture| {
                let variable = self
                    .names
                    .variable(&capture.name)
                    .unwrap_or(&capture.name)
                    .to_string();
                (variable, capture)
            })
            .collect();
        let mut translator = self.translator();
        let loop_items = match &step.for_each {
            Some(ForEach::Items(items)) => items
                .iter()
                .map(|item| match item {
                    JsonTemplate::Literal(serde_json::Value::String(text)) => {
                        Some(Word::text(text).bare_or_quoted())
                    }
                    JsonTemplate::Literal(value @ serde_json::Value::Number(_)) => {
                        Some(value.to_string())
                    }
                    JsonTemplate::Text(template) => {
                        Some(translator.word(template.source(), "item").quoted())
                    }
                    JsonTemplate::Native(expression) => Some(
                        translator
                            .word(&format!("{{{{ {} }}}}", expression.source()), "item")
                            .quoted(),
                    ),
                    _ => None,
                })
                .collect::<Option<Vec<String>>>(),
            _ => None,
        };
        let mut body = curl::command(request, &mut translator, response);
        for (variable, capture) in &capture_names {
            body.extend(capture_lines(variable, capture));
        }
        let mut lines = translator.take_hoisted_lines();
        if header_capture {
            lines.push("HEADERS=$(mktemp)".to_string());
        }
        match loop_items {
            Some(items) => {
                lines.push(format!("for ITEM in {}; do", items.join(" ")));
                lines.extend(body.into_iter().map(|line| format!("  {line}")));
                lines.push("done".to_string());
            }
            None => lines.extend(body),
        }
        format!("{}\n", block("sh", &lines))
    }

    fn manual(&mut self, manual: &Manual) -> String {
        let mut out = format!(
            "By hand:\n\n{}\n\nThen confirm: *{}*\n\n",
            self.prose(manual.instructions.source()),
            manual.confirm.trim()
        );
        if manual.ask.is_empty() {
            return out;
        }
        out.push_str("And enter:\n\n");
        let mut lines = Vec::new();
        for ask in &manual.ask {
            let variable = self
                .names
                .variable(&ask.name)
                .unwrap_or(&ask.name)
                .to_string();
            let mut item = format!("- {} as {}", code(&ask.name), code(&format!("${variable}")));
            if let Some(description) = &ask.description {
                let _ = write!(item, ": {}", description.trim());
            }
            let mut notes = Vec::new();
            match ask.secret {
                SecretKind::No => {}
                SecretKind::Yes => notes.push("secret, typed hidden".to_string()),
                SecretKind::Once => notes.push("secret, shown once: typed hidden".to_string()),
            }
            if let Some(pattern) = &ask.pattern {
                let written = crate::runbook::model::written_pattern(pattern);
                notes.push(format!("must match {}", code(written)));
            }
            if !ask.env.is_empty() {
                let env: Vec<String> = ask
                    .env
                    .iter()
                    .map(|name| code(&format!("${name}")))
                    .collect();
                notes.push(format!("without a terminal, from {}", env.join(" or ")));
            }
            if !notes.is_empty() {
                let _ = write!(item, " ({})", notes.join("; "));
            }
            let _ = writeln!(out, "{item}");
            let prompt = single_quote(&format!("{}: ", ask.name));
            lines.push(if ask.secret.is_secret() {
                format!("read -rsp {prompt} {variable}; echo")
            } else {
                format!("read -rp {prompt} {variable}")
            });
        }
        out.push('\n');
        out.push_str(&block("sh", &lines));
        out.push('\n');
        out
    }
}

/// The shell lines that take a captured value out of `$RESPONSE` (or `$HEADERS`).
fn capture_lines(variable: &str, capture: &Capture) -> Vec<String> {
    let mut lines = Vec::new();
    match &capture.source {
        CaptureSource::Json(path) => match jq_path(&path.text) {
            Some(jq) => lines.push(format!(
                "{variable}=$(echo \"$RESPONSE\" | jq -r {})",
                single_quote(&jq)
            )),
            None => lines.extend(comment(&format!(
                "{variable}: the value at the JSONPath {} in $RESPONSE (no plain jq path for it)",
                path.text
            ))),
        },
        CaptureSource::Header(name) => lines.push(format!(
            "{variable}=$(grep -i {} \"$HEADERS\" | cut -d' ' -f2- | tr -d '\\r')",
            single_quote(&format!("^{name}:"))
        )),
        CaptureSource::Body => lines.push(format!("{variable}=\"$RESPONSE\"")),
    }
    if capture.secret == SecretKind::Once {
        lines.extend(comment(&format!(
            "${variable} is shown once: keep it until it is stored"
        )));
    }
    lines
}

/// "`new_token_id` from `$.result.id`", "`new_client_secret` from … (secret, shown once)".
fn capture_text(capture: &Capture) -> String {
    let source = match &capture.source {
        CaptureSource::Json(path) => code(&path.text),
        CaptureSource::Header(name) => format!("header {}", code(name)),
        CaptureSource::Body => "the body".to_string(),
    };
    let secrecy = capture
        .secret
        .describe()
        .map(|kind| format!(" ({kind})"))
        .unwrap_or_default();
    format!("{} from {source}{secrecy}", code(&capture.name))
}
