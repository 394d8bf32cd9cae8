//! The step kinds that are not one request: `propagate` (where each value goes, in words, with
//! Heroku's PATCH as a `curl` and GitHub's as the `gh` command that does the same sealing) and
//! `audit` (the record's action and context). Values are always `$VARIABLES`, never values.

use std::fmt::Write as _;

use super::Renderer;
use super::curl::{self, Response};
use super::describe;
use super::markdown::{block, code, join_and};
use super::shell::Word;
use crate::runbook::model::{Audit, InfisicalAuth, JsonTemplate, Propagate, Target, TargetKind};

impl Renderer<'_> {
    pub(super) fn propagate(&mut self, propagate: &Propagate) -> String {
        let mut out = String::new();
        let first = propagate.targets.first().map(value_sources);
        let shared = propagate
            .targets
            .iter()
            .all(|target| Some(value_sources(target)) == first);
        if shared && let Some(target) = propagate.targets.first() {
            out.push_str("Values to write:\n\n");
            out.push_str(&self.value_list(target, ""));
            out.push_str("\nTo each of these, in order (the first failure stops the step):\n\n");
        } else {
            out.push_str("To each of these, in order (the first failure stops the step):\n\n");
        }
        for target in &propagate.targets {
            out.push_str(&self.target(target, !shared));
        }
        out
    }

    fn value_list(&self, target: &Target, indent: &str) -> String {
        let mut out = String::new();
        for value in &target.values {
            let secret = if value.secret { " (secret)" } else { "" };
            let _ = writeln!(
                out,
                "{indent}- {} = {}{secret}",
                code(&self.prose_inline(value.name.source())),
                code(&self.prose_inline(value.value.source()))
            );
        }
        out
    }

    fn target(&mut self, target: &Target, own_values: bool) -> String {
        let names: Vec<String> = target
            .values
            .iter()
            .map(|value| code(&self.prose_inline(value.name.source())))
            .collect();
        let names = join_and(&names);
        let show =
            |template: &crate::template::Template| code(&self.prose_inline(template.source()));
        let service_url = |service: &str| {
            self.runbook
                .services
                .get(service)
                .cloned()
                .unwrap_or_default()
        };
        let mut out = match &target.kind {
            TargetKind::Infisical {
                service,
                project,
                environment,
                path,
                auth,
            } => {
                let login = match auth {
                    InfisicalAuth::Token(token) => format!("an access token ({})", show(token)),
                    InfisicalAuth::Universal {
                        client_id,
                        client_secret,
                    } => format!(
                        "universal auth ({} and {})",
                        show(client_id),
                        show(client_secret)
                    ),
                };
                format!(
                    "- **Infisical** {} {}: {names}. In project {} at {}, logged in with {login}: \
                     each secret is created or updated (by hand: the web UI, which keeps the value \
                     off any command line), then read back and compared. Infisical keeps the previous versions.\n",
                    show(environment),
                    show(path),
                    show(project),
                    service_url(service),
                )
            }
            TargetKind::Heroku {
                service,
                app,
                token,
            } => {
                let mut text = format!(
                    "- **Heroku** app {}: {names}. One PATCH of its config vars sets them all (one \
                     release, one restart), then a GET reads them back. The answer holds the app's \
                     whole config, so it is not printed:\n\n",
                    show(app)
                );
                let lines = self.heroku_command(&service_url(service), target, app, token);
                text.push_str(&indent(&block("sh", &lines), "  "));
                text
            }
            TargetKind::Github {
                service,
                repository,
                environment,
                token,
            } => {
                let place = match environment {
                    Some(environment) => {
                        format!("environment {} of {}", show(environment), show(repository))
                    }
                    None => show(repository),
                };
                let mut text = format!(
                    "- **GitHub Actions** secrets of {place}: {names}. Each value is sealed with \
                     the repository's public key (a libsodium sealed box) and PUT with the key's id \
                     through {}; the GitHub CLI does the same, reading the value from stdin:\n\n",
                    service_url(service)
                );
                let lines = self.github_commands(target, repository, environment.as_ref(), token);
                text.push_str(&indent(&block("sh", &lines), "  "));
                text
            }
            TargetKind::Http(request) => {
                let mut text = format!(
                    "- **HTTP** {} {}: {names}, one request per value:\n\n",
                    request.method.as_str(),
                    code(&self.prose_inline(request.url.source()))
                );
                let mut lines = Vec::new();
                for value in &target.values {
                    let mut translator = self.translator();
                    let name = translator.word(value.name.source(), "name");
                    let written = translator.word(value.value.source(), "value");
                    translator.set_local("name", name);
                    translator.set_local("value", written);
                    let command = curl::command(request, &mut translator, Response::Status);
                    lines.extend(translator.take_hoisted_lines());
                    lines.extend(command);
                }
                text.push_str(&indent(&block("sh", &lines), "  "));
                text
            }
        };
        if own_values {
            out.push_str("\n  Values:\n\n");
            out.push_str(&self.value_list(target, "  "));
        }
        out.push('\n');
        out
    }

    fn heroku_command(
        &mut self,
        base: &str,
        target: &Target,
        app: &crate::template::Template,
        token: &crate::template::Template,
    ) -> Vec<String> {
        let mut translator = self.translator();
        let mut url = Word::text(base);
        url.push_text("/apps/");
        url.append(translator.word(app.source(), "app"));
        url.push_text("/config-vars");
        let mut authorization = Word::text("Authorization: Bearer ");
        authorization.append(translator.word(token.source(), "token"));
        let mut body = Word::text("{");
        for (index, value) in target.values.iter().enumerate() {
            if index > 0 {
                body.push_text(",");
            }
            let name = JsonTemplate::Text(value.name.clone());
            super::curl::json_word(&name, "name", &mut translator, &mut body);
            body.push_text(":");
            let written = JsonTemplate::Text(value.value.clone());
            super::curl::json_word(&written, "value", &mut translator, &mut body);
        }
        body.push_text("}");
        let options = vec![
            "curl -sS -X PATCH -o /dev/null -w '%{http_code}\\n'".to_string(),
            curl::header(&authorization, &translator),
            "-H \"Accept: application/vnd.heroku+json; version=3\"".to_string(),
            "-H \"Content-Type: application/json\"".to_string(),
            url.quoted(),
            curl::json_data(&body, &translator),
        ];
        let mut lines = translator.take_hoisted_lines();
        lines.extend(curl::assemble(options, Response::Status));
        lines
    }

    fn github_commands(
        &mut self,
        target: &Target,
        repository: &crate::template::Template,
        environment: Option<&crate::template::Template>,
        token: &crate::template::Template,
    ) -> Vec<String> {
        let mut translator = self.translator();
        let repository = translator.word(repository.source(), "repository").quoted();
        let environment = environment.map(|environment| {
            format!(
                " --env {}",
                translator
                    .word(environment.source(), "environment")
                    .quoted()
            )
        });
        let token = translator.word(token.source(), "token").quoted();
        let mut commands = Vec::new();
        for value in &target.values {
            let name = translator.word(value.name.source(), "name").quoted();
            let written = translator.word(value.value.source(), "value").quoted();
            commands.push(format!(
                "printf '%s' {written} | GH_TOKEN={token} gh secret set {name} --repo {repository}{}",
                environment.as_deref().unwrap_or("")
            ));
        }
        let mut lines = translator.take_hoisted_lines();
        lines.extend(commands);
        lines
    }

    pub(super) fn audit(&mut self, audit: &Audit) -> String {
        let file = match &audit.file {
            Some(file) => format!("the file {}", code(&self.prose_inline(file.source()))),
            None => "`audit.jsonl` in the state directory".to_string(),
        };
        let mut out = format!(
            "Append one record to {file}: action {}, with the actor, the time, the run id and \
             the runbook's name, file and digest",
            code(&audit.action)
        );
        let show = |source: &str| self.prose_inline(source);
        match &audit.context {
            JsonTemplate::Object(entries) if !entries.is_empty() => {
                out.push_str(", and the context:\n\n");
                for (key, value) in entries {
                    let shown = match value {
                        JsonTemplate::Text(template) => show(template.source()),
                        JsonTemplate::Literal(serde_json::Value::String(text)) => text.clone(),
                        other => describe::json_text(other, &show),
                    };
                    let _ = writeln!(out, "- {}: {}", code(&show(key.source())), code(&shown));
                }
            }
            JsonTemplate::Literal(serde_json::Value::Object(entries)) if !entries.is_empty() => {
                out.push_str(", and the context:\n\n");
                for (key, value) in entries {
                    let shown = match value {
                        serde_json::Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    let _ = writeln!(out, "- {}: {}", code(key), code(&shown));
                }
            }
            _ => out.push_str(".\n"),
        }
        let masked: Vec<String> = match &audit.context {
            JsonTemplate::Object(entries) => entries
                .iter()
                // A fingerprint identifies a secret without being one: the record keeps it.
                .filter(|(_, value)| {
                    value.texts().iter().any(|(source, uses, _)| {
                        uses.iter().any(|name| {
                            self.runbook.is_secret(name)
                                && !crate::template::only_fingerprinted(source, name)
                        })
                    })
                })
                .map(|(key, _)| code(key.source()))
                .collect(),
            _ => Vec::new(),
        };
        if !masked.is_empty() {
            let _ = writeln!(
                out,
                "\n{} {} a secret: the record holds {} masked (a `| fingerprint` is kept).",
                join_and(&masked),
                if masked.len() == 1 { "reads" } else { "read" },
                if masked.len() == 1 { "it" } else { "them" }
            );
        }
        if let Some(callback) = &audit.callback {
            let _ = writeln!(
                out,
                "\nThen send the record, as JSON, with {} to {}.",
                callback.method.as_str(),
                code(&self.prose_inline(callback.url.source()))
            );
        }
        out.push('\n');
        out
    }
}

/// The (name, value) template sources of a target, to see whether targets share them.
fn value_sources(target: &Target) -> Vec<(String, String)> {
    target
        .values
        .iter()
        .map(|value| {
            (
                value.name.source().to_string(),
                value.value.source().to_string(),
            )
        })
        .collect()
}

/// Indents every non-empty line of a block, so it belongs to a list item.
fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|line| {
            if line.is_empty() {
                String::new()
            } else {
                format!("{prefix}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}
