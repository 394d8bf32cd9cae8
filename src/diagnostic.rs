//! Diagnostics about a runbook file: what is wrong, where (file, line, column, with the line
//! shown and a caret under the spot), and what to do about it.
//!
//! Every layer that finds a problem in a runbook (YAML parsing, validation, input resolution)
//! produces [`Diagnostic`]s against a [`SourceFile`]; rendering is done here once, with miette's
//! graphical handler in its ASCII theme so that the caret is a real `^` in any terminal or log.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, ThemeStyles};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A runbook file as read from disk: its name as the user gave it, its text and its digest.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    /// `sha256:<hex>` of the file's bytes: what a journal or audit record pins a run to.
    pub digest: String,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: String) -> SourceFile {
        let digest = format!("sha256:{:x}", Sha256::digest(text.as_bytes()));
        SourceFile {
            path: path.into(),
            text,
            digest,
        }
    }

    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    /// Byte offset of a 1-based line and character column; clamps to the end of the text.
    pub fn offset_of(&self, line: usize, column: usize) -> usize {
        let mut offset = 0;
        for (index, text_line) in self.text.split_inclusive('\n').enumerate() {
            if index + 1 == line {
                let within: usize = text_line
                    .chars()
                    .take(column.saturating_sub(1))
                    .map(char::len_utf8)
                    .sum();
                return offset + within;
            }
            offset += text_line.len();
        }
        self.text.len()
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// A byte range in a [`SourceFile`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
}

impl Span {
    pub const fn new(offset: usize, len: usize) -> Span {
        Span { offset, len }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a runbook.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable code (`RB012`) that documentation and `allow` lists refer to.
    pub code: &'static str,
    pub message: String,
    pub span: Option<Span>,
    /// What the caret points at, shown under the line.
    pub label: Option<String>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: None,
            label: None,
            help: None,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn at(mut self, span: Span) -> Diagnostic {
        self.span = Some(span);
        self
    }

    pub fn at_opt(mut self, span: Option<Span>) -> Diagnostic {
        self.span = span;
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Diagnostics for one file. The error type of loading and checking a runbook.
#[derive(Debug)]
pub struct Diagnostics {
    pub source: Arc<SourceFile>,
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new(source: Arc<SourceFile>) -> Diagnostics {
        Diagnostics {
            source,
            items: Vec::new(),
        }
    }

    pub fn single(source: Arc<SourceFile>, diagnostic: Diagnostic) -> Diagnostics {
        Diagnostics {
            source,
            items: vec![diagnostic],
        }
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|item| item.is_error()).count()
    }

    /// Renders every diagnostic, in file order, for a terminal or a log.
    pub fn render(&self, color: bool) -> String {
        let mut items: Vec<&Diagnostic> = self.items.iter().collect();
        items.sort_by_key(|item| item.span.map_or(0, |span| span.offset));
        items
            .into_iter()
            .map(|item| render(&self.source, item, color))
            .collect()
    }

    /// The diagnostics as plain data, for `--format json`.
    pub fn to_json(&self) -> Vec<serde_json::Value> {
        self.items
            .iter()
            .map(|item| {
                let (line, column) = item
                    .span
                    .map(|span| self.source.line_column(span.offset))
                    .unwrap_or((0, 0));
                serde_json::json!({
                    "file": self.source.name(),
                    "line": line,
                    "column": column,
                    "severity": item.severity,
                    "code": item.code,
                    "message": item.message,
                    "label": item.label,
                    "help": item.help,
                })
            })
            .collect()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.render(false))
    }
}

impl std::error::Error for Diagnostics {}

/// The adapter miette renders: one diagnostic with its file.
struct Report<'a> {
    diagnostic: &'a Diagnostic,
    source: NamedSource<String>,
    title: String,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.title)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.title)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        None
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.diagnostic
            .span
            .map(|_| &self.source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.diagnostic.span?;
        let label = LabeledSpan::new_primary_with_span(
            self.diagnostic.label.clone(),
            (span.offset, span.len),
        );
        Some(Box::new(std::iter::once(label)))
    }
}

/// Renders one diagnostic: `error[RB002]: message`, then `file:line:column`, the line with a
/// caret, and the help.
pub fn render(source: &SourceFile, diagnostic: &Diagnostic, color: bool) -> String {
    let kind = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    // With a span, miette's box header names the file, line and column.
    let title = match diagnostic.span {
        Some(_) => format!("{kind}[{}]: {}", diagnostic.code, diagnostic.message),
        None => format!(
            "{kind}[{}]: {}: {}",
            diagnostic.code,
            source.name(),
            diagnostic.message
        ),
    };
    let mut span = diagnostic.span;
    if let Some(found) = span.as_mut() {
        // miette draws nothing for an empty span at the very end; point at the last character.
        found.offset = floor_char_boundary(&source.text, found.offset.min(source.text.len()));
        if found.offset == source.text.len() && found.offset > 0 {
            found.offset = floor_char_boundary(&source.text, found.offset - 1);
        }
        found.len = found.len.min(source.text.len() - found.offset);
    }
    let adjusted = Diagnostic {
        span,
        ..diagnostic.clone()
    };
    let report = Report {
        diagnostic: &adjusted,
        source: NamedSource::new(source.name(), source.text.clone()),
        title,
    };
    let theme = GraphicalTheme {
        characters: miette::ThemeCharacters::ascii(),
        styles: if color {
            ThemeStyles::ansi()
        } else {
            ThemeStyles::none()
        },
    };
    let mut out = String::new();
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_wrap_lines(false)
        .with_links(false)
        .with_context_lines(1);
    if handler.render_report(&mut out, &report).is_err() {
        out = format!("{}\n", report.title);
    }
    out
}

/// A problem with a file as a whole (missing, unreadable, not UTF-8, too big).
pub fn file_problem(path: &Path, code: &'static str, message: String, help: &str) -> Diagnostics {
    let source = Arc::new(SourceFile::new(path, String::new()));
    Diagnostics::single(source, Diagnostic::error(code, message).help(help))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_round_trips() {
        let source = SourceFile::new("x.yaml", "ab\nc\u{e9}d\n".to_string());
        let offset = source.offset_of(2, 3);
        assert_eq!(&source.text[offset..offset + 1], "d");
        assert_eq!(source.line_column(offset), (2, 3));
    }
}
