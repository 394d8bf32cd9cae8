//! Templates inside Markdown prose (descriptions, manual instructions, rollback notes, hints):
//! a service becomes its base URL, a named value its `$VARIABLE` as in the commands, and
//! anything else stays as its template source, in code so it reads as a placeholder.

use super::source::{Part, Reading, parts, reading};
use super::translate::Names;
use crate::runbook::Runbook;

pub struct Prose<'a> {
    pub runbook: &'a Runbook,
    pub names: &'a Names,
}

impl Prose<'_> {
    /// Markdown text with its templates shown for a reader.
    pub fn text(&self, text: &str) -> String {
        text.trim_end()
            .split('\n')
            .map(|line| self.line(line))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A template with each value shown bare, for text that goes inside one code span. A
    /// variable followed by a name character is braced, as in the commands: `${NAME}__ID`.
    pub fn inline(&self, source: &str) -> String {
        let Some(parts) = parts(source) else {
            return source.to_string();
        };
        let mut out = String::new();
        for (index, part) in parts.iter().enumerate() {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Expression(expression) => {
                    let (shown, _) = self.expression(expression);
                    let extends = matches!(parts.get(index + 1), Some(Part::Text(next))
                        if next.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'));
                    match shown.strip_prefix('$') {
                        Some(variable) if extends => out.push_str(&format!("${{{variable}}}")),
                        _ => out.push_str(&shown),
                    }
                }
            }
        }
        out
    }

    /// One line: each whitespace-separated word that holds a value goes into one code span
    /// (`https://host/tokens/$TOKEN_ID`, `${NAME}__CLIENT_ID`), its punctuation left outside.
    fn line(&self, line: &str) -> String {
        let Some(parts) = parts(line) else {
            return line.to_string();
        };
        let mut tokens: Vec<Token> = Vec::new();
        let mut word: Vec<Segment> = Vec::new();
        let mut backquotes = 0;
        for part in parts {
            match part {
                Part::Text(text) => {
                    let mut rest = text;
                    while !rest.is_empty() {
                        let split = rest.find(char::is_whitespace).unwrap_or(rest.len());
                        if split > 0 {
                            word.push(Segment::Text(rest[..split].to_string()));
                        }
                        rest = &rest[split..];
                        let space = rest.len() - rest.trim_start().len();
                        if space > 0 {
                            tokens.push(Token::Word(std::mem::take(&mut word)));
                            tokens.push(Token::Space(rest[..space].to_string()));
                            rest = &rest[space..];
                        }
                    }
                    backquotes += text.matches('`').count();
                }
                Part::Expression(expression) => {
                    let (shown, is_url) = self.expression(expression);
                    word.push(Segment::Value {
                        shown,
                        plain: is_url || backquotes % 2 == 1,
                    });
                }
            }
        }
        tokens.push(Token::Word(word));
        tokens
            .into_iter()
            .map(|token| match token {
                Token::Space(space) => space,
                Token::Word(segments) => word_text(&segments),
            })
            .collect()
    }

    /// The expression for a reader, and whether it is a URL (which needs no code span).
    fn expression(&self, expression: &str) -> (String, bool) {
        if let Reading::Path(path) = reading(expression) {
            match path.as_slice() {
                ["services", service] => {
                    if let Some(url) = self.runbook.services.get(*service) {
                        return (url.clone(), true);
                    }
                }
                ["item"] => return ("$ITEM".into(), false),
                [name] => {
                    if let Some(variable) = self.names.variable(name) {
                        return (format!("${variable}"), false);
                    }
                }
                _ => {}
            }
        }
        (format!("{{{{ {expression} }}}}"), false)
    }
}

enum Token {
    Space(String),
    Word(Vec<Segment>),
}

enum Segment {
    Text(String),
    /// A value as shown; `plain` when it needs no code span (a URL, or already inside one).
    Value {
        shown: String,
        plain: bool,
    },
}

/// A word of prose, with one code span around it when it holds a value that needs one.
fn word_text(segments: &[Segment]) -> String {
    let wants_code = segments
        .iter()
        .any(|segment| matches!(segment, Segment::Value { plain: false, .. }));
    let has_backquote = segments
        .iter()
        .any(|segment| matches!(segment, Segment::Text(text) if text.contains('`')));
    if !wants_code || has_backquote {
        return segments
            .iter()
            .map(|segment| match segment {
                Segment::Text(text) => text.clone(),
                Segment::Value { shown, plain: true } => shown.clone(),
                Segment::Value {
                    shown,
                    plain: false,
                } => super::markdown::code(shown),
            })
            .collect();
    }
    let mut inner = String::new();
    for (index, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Text(text) => inner.push_str(text),
            Segment::Value { shown, .. } => {
                let extends = matches!(segments.get(index + 1), Some(Segment::Text(next))
                    if next.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'));
                match shown.strip_prefix('$') {
                    Some(variable) if extends => inner.push_str(&format!("${{{variable}}}")),
                    _ => inner.push_str(shown),
                }
            }
        }
    }
    let leading = inner.len() - inner.trim_start_matches(['(', '"', '\'', '[']).len();
    let body_end = inner
        .trim_end_matches(['.', ',', ';', ':', ')', '!', '?', '"', '\'', ']'])
        .len()
        .max(leading);
    format!(
        "{}{}{}",
        &inner[..leading],
        super::markdown::code(&inner[leading..body_end]),
        &inner[body_end..]
    )
}
