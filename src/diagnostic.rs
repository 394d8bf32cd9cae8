//! Diagnostics about a runbook file: what is wrong, where (file, line, column, with the line
//! shown and a caret under the spot), and what to do about it.
//!
//! Every layer that finds a problem in a runbook (YAML parsing, validation, input resolution)
//! produces [`Diagnostic`]s against a [`SourceFile`]; rendering is done here once, with miette's
//! graphical handler in its ASCII theme so that the caret is a real `^` in any terminal or log.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, ThemeStyles};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A runbook file as read from disk: its name as the user gave it, its text and its digest.
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    /// `sha256:<hex>` of the file's bytes: what a journal or audit record pins a run to.
    pub digest: String,
    /// The byte offset where each line starts, worked out the first time a position is asked
    /// for: thousands of diagnostics then cost a lookup each, not a scan of the file.
    line_starts: OnceLock<Vec<usize>>,
}

impl fmt::Debug for SourceFile {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SourceFile")
            .field("path", &self.path)
            .field("text", &self.text)
            .field("digest", &self.digest)
            .finish()
    }
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: String) -> SourceFile {
        let digest = format!("sha256:{:x}", Sha256::digest(text.as_bytes()));
        SourceFile {
            path: path.into(),
            text,
            digest,
            line_starts: OnceLock::new(),
        }
    }

    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// The byte offset where each line starts (lines end at `\n`); the first is 0.
    fn line_starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(memchr::memchr_iter(b'\n', self.text.as_bytes()).map(|newline| newline + 1))
                .collect()
        })
    }

    /// The 0-based line that holds a byte offset (clamped to the text).
    fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        // The number of line starts at or before `offset`, less the first.
        self.line_starts()
            .partition_point(|start| *start <= offset)
            .saturating_sub(1)
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let line = self.line_of(offset);
        let line_start = self.line_starts()[line];
        let column = self.text[line_start..offset].chars().count() + 1;
        (line + 1, column)
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

pub(crate) fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
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
        // One view of the file for all of them: each report reads only the lines it shows.
        let code = Excerpts::new(&self.source);
        items
            .into_iter()
            .map(|item| render_with(&code, item, color))
            .collect()
    }

    /// The diagnostics as plain data, for `--format json`.
    pub fn to_json(&self) -> Vec<serde_json::Value> {
        let file = self.source.name();
        self.items
            .iter()
            .map(|item| {
                let (line, column) = item
                    .span
                    .map(|span| self.source.line_column(span.offset))
                    .unwrap_or((0, 0));
                serde_json::json!({
                    "file": file,
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

/// The file as miette reads it: by the lines around a span, found with the file's line index,
/// instead of a scan from the start of the file for every read (which made rendering thousands
/// of diagnostics quadratic).
struct Excerpts<'a> {
    source: &'a SourceFile,
    name: String,
    /// Whether the file has a carriage return that does not start a CRLF: miette ends a line
    /// there and the line index does not, so such a file is read whole, as miette would.
    lone_cr: bool,
}

impl<'a> Excerpts<'a> {
    fn new(source: &'a SourceFile) -> Excerpts<'a> {
        let bytes = source.text.as_bytes();
        let lone_cr = memchr::memchr_iter(b'\r', bytes).any(|at| bytes.get(at + 1) != Some(&b'\n'));
        Excerpts {
            source,
            name: source.name(),
            lone_cr,
        }
    }
}

impl miette::SourceCode for Excerpts<'_> {
    fn read_span<'b>(
        &'b self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'b> + 'b>, miette::MietteError> {
        let text = self.source.text.as_str();
        let (offset, len) = (span.offset(), span.len());
        // From the start of the first line shown to past the last one (with lines to spare),
        // so that miette's own reading of the excerpt ends where it would in the whole file.
        let (start, first_line, end) = if self.lone_cr || offset + len > text.len() {
            (0, 0, text.len())
        } else {
            let starts = self.source.line_starts();
            // A line more before than shown: miette looks at the character before an empty
            // span, the end of the line above when the span starts a line.
            let first_line = self
                .source
                .line_of(offset)
                .saturating_sub(context_lines_before + 1);
            let last_line = self.source.line_of(offset + len.saturating_sub(1));
            let end = starts
                .get(last_line + context_lines_after + 2)
                .copied()
                .unwrap_or(text.len());
            (starts[first_line], first_line, end)
        };
        let within = miette::SourceSpan::new((offset - start).into(), len);
        let excerpt =
            text[start..end].read_span(&within, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            excerpt.data(),
            miette::SourceSpan::new(
                (excerpt.span().offset() + start).into(),
                excerpt.span().len(),
            ),
            excerpt.line() + first_line,
            excerpt.column(),
            excerpt.line_count() + first_line,
        )))
    }
}

/// The adapter miette renders: one diagnostic with its file.
struct Report<'a> {
    diagnostic: &'a Diagnostic,
    source: &'a Excerpts<'a>,
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
            .map(|_| self.source as &dyn miette::SourceCode)
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
    render_with(&Excerpts::new(source), diagnostic, color)
}

fn render_with(code: &Excerpts<'_>, diagnostic: &Diagnostic, color: bool) -> String {
    let source = code.source;
    let kind = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let message = shorten(&diagnostic.message);
    // With a span, miette's box header names the file, line and column.
    let title = match diagnostic.span {
        Some(_) => format!("{kind}[{}]: {message}", diagnostic.code),
        None => format!("{kind}[{}]: {}: {message}", diagnostic.code, code.name),
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
    // A line too long to draw (a minified document, a pasted blob) is named, not printed:
    // miette would print all of it, and the lines around it.
    let (span, title) = match span.and_then(|span| too_long_to_show(source, span)) {
        Some((line, length)) => {
            let (at_line, at_column) = source.line_column(span.map_or(0, |span| span.offset));
            let label = diagnostic
                .label
                .as_ref()
                .map(|label| format!(": {}", shorten(label)))
                .unwrap_or_default();
            (
                None,
                format!(
                    "{kind}[{}]: {}:{at_line}:{at_column}: {message}{label} (line {} is {length} bytes long, too long to show)",
                    diagnostic.code,
                    code.name,
                    line + 1,
                ),
            )
        }
        None => (span, title),
    };
    let adjusted = Diagnostic {
        span,
        label: diagnostic.label.as_deref().map(shorten),
        help: diagnostic.help.as_deref().map(shorten),
        ..diagnostic.clone()
    };
    let report = Report {
        diagnostic: &adjusted,
        source: code,
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

/// The longest message, label or help a diagnostic shows, in bytes. They quote what the file
/// says (a key, a variable's name, a value), which can be any length.
const LONGEST_TEXT_SHOWN: usize = 2000;

/// `text`, or its start and end around a note of how much was left out when it is longer than
/// [`LONGEST_TEXT_SHOWN`].
fn shorten(text: &str) -> String {
    if text.len() <= LONGEST_TEXT_SHOWN {
        return text.to_string();
    }
    let head = floor_char_boundary(text, LONGEST_TEXT_SHOWN * 3 / 4);
    let mut tail = text.len() - LONGEST_TEXT_SHOWN / 4;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{}[... {} bytes left out ...]{}",
        &text[..head],
        tail - head,
        &text[tail..]
    )
}

/// The longest line a diagnostic shows, in bytes.
const LONGEST_LINE_SHOWN: usize = 1000;

/// The first of the lines a diagnostic at `span` would show (the span's own, and one on each
/// side) that is too long to show, with its length in bytes.
fn too_long_to_show(source: &SourceFile, span: Span) -> Option<(usize, usize)> {
    let starts = source.line_starts();
    let first = source.line_of(span.offset).saturating_sub(1);
    let last = source.line_of(span.offset + span.len.saturating_sub(1)) + 1;
    (first..=last.min(starts.len() - 1))
        .map(|line| {
            let end = starts.get(line + 1).copied().unwrap_or(source.text.len());
            (line, end - starts[line])
        })
        .find(|(_, length)| *length > LONGEST_LINE_SHOWN)
}

/// A problem with a file as a whole (missing, unreadable, not UTF-8, too big).
pub fn file_problem(path: &Path, code: &'static str, message: String, help: &str) -> Diagnostics {
    let source = Arc::new(SourceFile::new(path, String::new()));
    Diagnostics::single(source, Diagnostic::error(code, message).help(help))
}

#[cfg(test)]
mod tests {
    use miette::SourceCode;

    use super::*;

    #[test]
    fn long_texts_keep_their_ends_and_cut_on_character_boundaries() {
        assert_eq!(shorten("short"), "short");
        let long = "é".repeat(3000);
        let shortened = shorten(&long);
        assert!(shortened.starts_with("éé") && shortened.ends_with("éé"));
        assert!(
            shortened.len() < LONGEST_TEXT_SHOWN + 40,
            "{}",
            shortened.len()
        );
        let kept = shortened.replace(|c| c != 'é', "").len();
        let left_out: usize = shortened
            .split("[... ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(kept + left_out, long.len());
    }

    #[test]
    fn line_column_round_trips() {
        let source = SourceFile::new("x.yaml", "ab\nc\u{e9}d\n".to_string());
        let offset = source.offset_of(2, 3);
        assert_eq!(&source.text[offset..offset + 1], "d");
        assert_eq!(source.line_column(offset), (2, 3));
        assert_eq!(source.line_column(0), (1, 1));
        assert_eq!(source.line_column(3), (2, 1));
        assert_eq!(source.line_column(source.text.len()), (3, 1));
        assert_eq!(source.line_column(usize::MAX), (3, 1));
    }

    /// Reading by lines gives miette exactly what reading the whole file does.
    #[test]
    fn excerpts_read_like_the_whole_file() {
        for text in [
            "a: 1\nb: 2\n\nc: \u{e9}t\u{e9}\nd: 4",
            "a: 1\r\nb: 2\r\n\r\nc: 3\r\n",
            "a\rb\nc\r\nd\n",
            "\n\n\nx\n",
        ] {
            let source = SourceFile::new("x.yaml", text.to_string());
            let excerpts = Excerpts::new(&source);
            let whole = miette::NamedSource::new("x.yaml", text.to_string());
            for offset in 0..=text.len() {
                for len in 0..=text.len() - offset {
                    for context in [0, 1, 2] {
                        let span = miette::SourceSpan::new(offset.into(), len);
                        let ours = excerpts.read_span(&span, context, context);
                        let theirs = whole.read_span(&span, context, context);
                        match (ours, theirs) {
                            (Ok(ours), Ok(theirs)) => {
                                let what = format!("{text:?} {offset}+{len} ({context})");
                                assert_eq!(ours.data(), theirs.data(), "{what}");
                                assert_eq!(ours.span(), theirs.span(), "{what}");
                                assert_eq!(ours.line(), theirs.line(), "{what}");
                                assert_eq!(ours.column(), theirs.column(), "{what}");
                                assert_eq!(ours.line_count(), theirs.line_count(), "{what}");
                                assert_eq!(ours.name(), theirs.name(), "{what}");
                            }
                            (Err(_), Err(_)) => {}
                            (ours, theirs) => panic!(
                                "{text:?} {offset}+{len}: {:?} vs {:?}",
                                ours.is_ok(),
                                theirs.is_ok()
                            ),
                        }
                    }
                }
            }
        }
    }
}
