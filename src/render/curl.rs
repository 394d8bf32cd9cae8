//! A request as the `curl` command an operator would type, in the original SOPs' style: one
//! option per line, `-H` headers, the URL in double quotes, a JSON body in single quotes with
//! the values spliced in, and the response kept in `$RESPONSE` when something is captured.
//!
//! A header or body that carries a secret is not given to curl as an argument, where `ps` and
//! `/proc/PID/cmdline` show it to every local user: curl reads it from a process substitution
//! that the shell's built-in `printf` writes (`-H @<(printf …)`), which no other process sees.

use super::shell::{Piece, Word};
use super::translate::Translator;
use crate::runbook::check::DEFAULT_TIMEOUT;
use crate::runbook::model::{Body, HttpRequest, JsonTemplate, Method};

/// What the command does with the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// Kept in `$RESPONSE` for the captures (and the headers in `$HEADERS` when asked for).
    Keep { headers: bool },
    /// Shown through `jq .`: the expectations read the body.
    Json,
    /// Only the status code is printed: nothing reads the body.
    Status,
    /// Printed as it comes.
    Plain,
}

/// The lines of the command, continued with backslashes. Hoisted values stay in the
/// translator for the caller to print above the command.
pub fn command(
    request: &HttpRequest,
    translator: &mut Translator,
    response: Response,
) -> Vec<String> {
    let mut first = String::from("curl -sS");
    match request.method {
        Method::Get => {}
        Method::Head => first.push_str(" -I"),
        method => first.push_str(&format!(" -X {}", method.as_str())),
    }
    if let Response::Keep { headers: true } = response {
        first.push_str(" -D \"$HEADERS\"");
    }
    if response == Response::Status && request.method != Method::Head {
        first.push_str(" -o /dev/null -w '%{http_code}\\n'");
    }
    if request.timeout != DEFAULT_TIMEOUT {
        first.push_str(&format!(" --max-time {}", seconds(request.timeout)));
    }
    let mut options = vec![first];
    let mut has_content_type = false;
    for (name, value) in &request.headers {
        has_content_type |= name.eq_ignore_ascii_case("content-type");
        let mut word = Word::text(&format!("{name}: "));
        word.append(translator.word(value.source(), name));
        options.push(header(&word, translator));
    }
    let body = request
        .body
        .as_ref()
        .map(|body| body_options(body, translator));
    if matches!(request.body, Some(Body::Json(_))) && !has_content_type {
        options.push("-H \"Content-Type: application/json\"".to_string());
    }
    let mut url = translator.word(request.url.source(), "url");
    let query: Vec<(String, Word)> = request
        .query
        .iter()
        .map(|(name, value)| (name.clone(), translator.word(value.source(), name)))
        .collect();
    let literal_query: Option<Vec<(String, String)>> = query
        .iter()
        .map(|(name, word)| word.as_literal().map(|value| (name.clone(), value)))
        .collect();
    match literal_query {
        Some(pairs) if !pairs.is_empty() => {
            let encoded = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
            let separator = if request.url.source().contains('?') {
                "&"
            } else {
                "?"
            };
            url.push_text(&format!("{separator}{encoded}"));
            options.push(url.quoted());
        }
        _ => {
            options.push(url.quoted());
            for (name, word) in query {
                let mut pair = Word::text(&format!("{name}="));
                pair.append(word);
                options.push(format!("--url-query {}", pair.quoted()));
            }
        }
    }
    options.extend(body.unwrap_or_default());
    assemble(options, response)
}

/// Options one per line, continued with backslashes, and the response handled as asked.
pub fn assemble(options: Vec<String>, response: Response) -> Vec<String> {
    // A short command reads best on one line.
    let one_line = options.join(" ");
    let options = if options.len() <= 2 && one_line.len() <= 100 {
        vec![one_line]
    } else {
        options
    };
    let last = options.len().saturating_sub(1);
    let mut lines: Vec<String> = options
        .into_iter()
        .enumerate()
        .map(|(index, option)| {
            let indent = if index == 0 { "" } else { "  " };
            let continuation = if index == last { "" } else { " \\" };
            format!("{indent}{option}{continuation}")
        })
        .collect();
    if lines.is_empty() {
        return lines;
    }
    match response {
        Response::Keep { .. } => {
            lines[0] = format!("RESPONSE=$({}", lines[0]);
            lines[last].push(')');
        }
        Response::Json => lines[last].push_str(" | jq ."),
        Response::Status | Response::Plain => {}
    }
    lines
}

/// A `-H` option; read by curl from the shell's own `printf` when it carries a secret.
pub fn header(word: &Word, translator: &Translator) -> String {
    if translator.reads_secret(word) {
        format!("-H @<(printf '%s\\n' {})", word.quoted())
    } else {
        format!("-H {}", word.quoted())
    }
}

/// The option that sends a JSON body; read by curl from the shell's own `printf` when it
/// carries a secret.
pub fn json_data(word: &Word, translator: &Translator) -> String {
    if translator.reads_secret(word) {
        format!("--data-binary @<(printf '%s' {})", word.spliced())
    } else {
        format!("--data {}", word.spliced())
    }
}

fn body_options(body: &Body, translator: &mut Translator) -> Vec<String> {
    match body {
        Body::Json(json) => {
            let mut word = Word::default();
            json_word(json, "body", translator, &mut word);
            vec![json_data(&word, translator)]
        }
        Body::Form(fields) => fields
            .iter()
            .map(|(name, value)| {
                let value = translator.word(value.source(), name);
                if translator.reads_secret(&value) {
                    // `name@file`: curl reads the value from the file and encodes it.
                    format!(
                        "--data-urlencode {}<(printf '%s' {})",
                        Word::text(&format!("{name}@")).quoted(),
                        value.quoted()
                    )
                } else {
                    let mut pair = Word::text(&format!("{name}="));
                    pair.append(value);
                    format!("--data-urlencode {}", pair.quoted())
                }
            })
            .collect(),
        Body::Raw(template) => {
            let word = translator.word(template.source(), "body");
            if translator.reads_secret(&word) {
                vec![format!("--data-binary @<(printf '%s' {})", word.quoted())]
            } else {
                vec![format!("--data-binary {}", word.quoted())]
            }
        }
    }
}

/// A JSON body as one shell word: its text, with each template's value spliced in as a JSON
/// string. (A `{{ expression }}` that keeps its type in the engine is a string here: inputs
/// and vars are strings anyway.) The splice passes any value through the shell untouched, but
/// does not JSON-escape it: a value holding `"` or `\` would need that, and the tokens, ids
/// and names a runbook sends do not hold them.
pub fn json_word(json: &JsonTemplate, hint: &str, translator: &mut Translator, word: &mut Word) {
    match json {
        JsonTemplate::Literal(value) => word.push_text(&value.to_string()),
        JsonTemplate::Text(template) => {
            string_word(template.source(), hint, translator, word);
        }
        JsonTemplate::Native(expression) => {
            string_word(
                &format!("{{{{ {} }}}}", expression.source()),
                hint,
                translator,
                word,
            );
        }
        JsonTemplate::Array(items) => {
            word.push_text("[");
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    word.push_text(",");
                }
                json_word(item, hint, translator, word);
            }
            word.push_text("]");
        }
        JsonTemplate::Object(entries) => {
            word.push_text("{");
            for (index, (key, value)) in entries.iter().enumerate() {
                if index > 0 {
                    word.push_text(",");
                }
                string_word(key.source(), "key", translator, word);
                word.push_text(":");
                json_word(value, key.source(), translator, word);
            }
            word.push_text("}");
        }
    }
}

/// A JSON string whose text is a template: literal parts escaped for JSON, values spliced.
fn string_word(source: &str, hint: &str, translator: &mut Translator, word: &mut Word) {
    word.push_text("\"");
    for piece in translator.word(source, hint).pieces {
        match piece {
            Piece::Text(text) => {
                let escaped = serde_json::Value::from(text).to_string();
                word.push_text(&escaped[1..escaped.len() - 1]);
            }
            other => word.push(other),
        }
    }
    word.push_text("\"");
}

fn seconds(duration: std::time::Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds.fract() == 0.0 {
        format!("{}", duration.as_secs())
    } else {
        format!("{seconds}")
    }
}
