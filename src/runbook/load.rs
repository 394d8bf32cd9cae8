//! Reading a runbook file: bytes to text to the raw model, within a budget.
//!
//! Everything that can be wrong with the file before its meaning is considered is reported
//! here: missing, unreadable, oversized, empty, not UTF-8, not YAML, an alias bomb, an unknown
//! key (with the nearest valid one), a value of the wrong type.

use std::path::Path;
use std::sync::Arc;

use serde_saphyr::{DefaultMessageFormatter, Error as YamlError, MessageFormatter};

use super::codes;
use super::raw::{RawRunbook, RawStep};
use super::span::Spanned;
use crate::diagnostic::{Diagnostic, Diagnostics, SourceFile, Span, file_problem};
use crate::suggest::did_you_mean;

/// The largest runbook file accepted. The shipped runbooks are a few KiB; a 1,000-step runbook
/// is well under 1 MiB.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Reads and parses a runbook file.
pub fn load_file(path: &Path) -> Result<(Arc<SourceFile>, RawRunbook), Diagnostics> {
    let source = read_source(path)?;
    let raw = parse(&source)?;
    Ok((source, raw))
}

/// Reads a file into a [`SourceFile`], rejecting what cannot be a runbook before parsing.
pub fn read_source(path: &Path) -> Result<Arc<SourceFile>, Diagnostics> {
    let metadata = std::fs::metadata(path).map_err(|error| {
        let help = if error.kind() == std::io::ErrorKind::NotFound {
            "check the path; runbooks usually live in runbooks/*.yaml"
        } else {
            "check that the file exists and that you may read it"
        };
        file_problem(
            path,
            codes::FILE_UNREADABLE,
            format!("cannot read the file: {}", io_reason(&error)),
            help,
        )
    })?;
    if metadata.is_dir() {
        return Err(file_problem(
            path,
            codes::FILE_UNREADABLE,
            "this is a directory, not a runbook file".into(),
            "pass the runbook's .yaml file, e.g. runbooks/name.yaml",
        ));
    }
    // Bounded while reading: a pipe has no size to check first.
    let bytes = crate::files::read_at_most(path, MAX_FILE_BYTES)
        .map_err(|error| match crate::files::NotAFile::of(&error) {
            Some(not_a_file) => file_problem(
                path,
                codes::FILE_UNREADABLE,
                not_a_file.to_string(),
                "pass the runbook's .yaml file; a pipe is read only while a program writes the runbook into it, as with <(command)",
            ),
            None => file_problem(
                path,
                codes::FILE_UNREADABLE,
                format!("cannot read the file: {}", io_reason(&error)),
                "check that you may read the file",
            ),
        })?
        .ok_or_else(|| {
            let size = match metadata.is_file() {
                true => format!("{} bytes", metadata.len()),
                false => "longer than the limit".into(),
            };
            too_large(path, size)
        })?;
    source_from_bytes(path, bytes)
}

/// The diagnostic for a file over [`MAX_FILE_BYTES`]; `size` says how large it is.
pub fn too_large(path: &Path, size: String) -> Diagnostics {
    file_problem(
        path,
        codes::TOO_LARGE,
        format!("the file is {size}; runbooks are limited to {MAX_FILE_BYTES} bytes"),
        "split the procedure into several runbooks",
    )
}

/// Builds a [`SourceFile`] from bytes: UTF-8 (an optional BOM is dropped), not empty.
pub fn source_from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Arc<SourceFile>, Diagnostics> {
    if let Some(encoding) = unicode_other_than_utf8(&bytes) {
        return Err(file_problem(
            path,
            codes::NOT_UTF8,
            format!(
                "the file is {encoding} (it starts with a {encoding} byte-order mark), not UTF-8"
            ),
            "save the file as UTF-8 (in most editors: Save with Encoding, UTF-8)",
        ));
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let valid = error.utf8_error().valid_up_to();
            let bytes = error.into_bytes();
            let prefix = String::from_utf8_lossy(&bytes[..valid]).into_owned();
            let line = prefix.matches('\n').count() + 1;
            let column = prefix
                .rsplit('\n')
                .next()
                .map_or(0, |tail| tail.chars().count())
                + 1;
            return Err(file_problem(
                path,
                codes::NOT_UTF8,
                format!(
                    "the file is not valid UTF-8: invalid byte 0x{:02x} at line {line}, column {column} (byte {valid})",
                    bytes[valid]
                ),
                "save the file as UTF-8",
            ));
        }
    };
    let text = text
        .strip_prefix('\u{feff}')
        .map(str::to_string)
        .unwrap_or(text);
    if text.trim().is_empty() {
        return Err(file_problem(
            path,
            codes::EMPTY,
            "the file is empty".into(),
            "a runbook needs at least `runbook`, `title` and `steps`; `runbook schema` prints the format",
        ));
    }
    if text
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
    {
        return Err(file_problem(
            path,
            codes::EMPTY,
            "the file holds only comments".into(),
            "a runbook needs at least `runbook`, `title` and `steps`; `runbook schema` prints the format",
        ));
    }
    Ok(Arc::new(SourceFile::new(path, text)))
}

/// The encoding a byte-order mark says the file is in, when that is UTF-16 or UTF-32.
fn unicode_other_than_utf8(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0xFF, 0xFE, 0, 0, ..] | [0, 0, 0xFE, 0xFF, ..] => Some("UTF-32"),
        [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..] => Some("UTF-16"),
        _ => None,
    }
}

fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => error.to_string(),
    }
}

/// Parses the text into the raw model, within a budget that stops alias bombs and runaway
/// nesting long before they cost real memory.
///
/// A long `steps:` list is parsed on two cores (see [`super::split`]); when that does not work
/// out, the file is parsed whole, which also reports what is wrong with it.
pub fn parse(source: &Arc<SourceFile>) -> Result<RawRunbook, Diagnostics> {
    // Only for a file long enough to hold a list worth splitting (asking for the cores reads
    // cgroup files), and with a second core to run on: the process may be confined to one.
    if source.text.len() >= super::split::MIN_SPLIT_BYTES
        && std::thread::available_parallelism().map_or(1, usize::from) >= 2
        && let Some(raw) =
            super::split::split(&source.text).and_then(|split| parse_split(source, &split))
    {
        return Ok(raw);
    }
    read::<RawRunbook>(&source.text, 1)
        .map_err(|error| Diagnostics::single(source.clone(), yaml_diagnostic(source, &error)))
}

/// Reads a whole file or a part of one: quickly when it has the plain shape (see
/// [`super::quick`]), with serde-saphyr otherwise, which also words what is wrong.
fn read<T: serde::de::DeserializeOwned>(text: &str, parts: usize) -> Result<T, YamlError> {
    if let Some(value) = super::quick::from_str(text, limits(parts)) {
        return Ok(value);
    }
    serde_saphyr::from_str_with_options::<T>(text, options(parts))
}

/// One half of the steps, its spans pointing into the whole file.
fn parse_half(text: &str, range: &std::ops::Range<usize>) -> Option<Vec<Spanned<RawStep>>> {
    super::span::shifted(0, range.start, || {
        read::<Vec<Spanned<RawStep>>>(&text[range.clone()], 3).ok()
    })
}

/// The rest of the file here, the halves of the steps on this thread and another. Each part
/// gets a third of the budget (and one level less of nesting, which the list itself takes), so
/// parts that pass together are within the budget of the whole.
fn parse_split(source: &Arc<SourceFile>, split: &super::split::Split) -> Option<RawRunbook> {
    let second = {
        let source = source.clone();
        let range = split.halves[1].clone();
        std::thread::Builder::new()
            .spawn(move || parse_half(&source.text, &range))
            .ok()?
    };
    #[cfg(target_os = "linux")]
    let allowed = run_elsewhere(&second);
    let rest = super::span::shifted(split.rest_from, split.rest_shift, || {
        read::<RawRunbook>(&split.rest, 3).ok()
    });
    let first = parse_half(&source.text, &split.halves[0]);
    // This thread only waits from here on: its core is the helper's to use again.
    #[cfg(target_os = "linux")]
    if let Some(allowed) = allowed {
        run_on(&second, &allowed);
    }
    let second = second.join().ok().flatten();
    let mut raw = rest?;
    if !raw.steps.is_empty() {
        return None;
    }
    raw.steps = first?;
    raw.steps.extend(second?);
    Some(raw)
}

/// Moves a helper thread just spawned off the calling thread's core, when the process may use
/// another. Left to itself, the scheduler may queue the helper behind the calling thread for
/// milliseconds (measured here: 2-4 ms of a 5 ms parse, in half the runs), which undoes the
/// split. Returns every core the helper may use, for [`run_on`] to give back once the calling
/// thread only waits for it (so a busy other core cannot hold the helper up either).
#[cfg(target_os = "linux")]
fn run_elsewhere<T>(helper: &std::thread::JoinHandle<T>) -> Option<libc::cpu_set_t> {
    // SAFETY: sched_getaffinity and sched_getcpu read this thread's own placement into a plain
    // cpu_set_t and an integer; the CPU_ macros work on that set alone.
    let (allowed, elsewhere) = unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut allowed) != 0 {
            return None;
        }
        let here = usize::try_from(libc::sched_getcpu()).ok()?;
        let mut elsewhere = allowed;
        libc::CPU_CLR(here, &mut elsewhere);
        if libc::CPU_COUNT(&elsewhere) == 0 {
            return None;
        }
        (allowed, elsewhere)
    };
    run_on(helper, &elsewhere);
    Some(allowed)
}

/// Lets a thread of this process run on the cores in `cores`.
#[cfg(target_os = "linux")]
fn run_on<T>(thread: &std::thread::JoinHandle<T>, cores: &libc::cpu_set_t) {
    use std::os::unix::thread::JoinHandleExt;
    // SAFETY: the thread's pthread_t stays valid until it is joined, which its owner does after
    // this returns; the set is a plain cpu_set_t.
    unsafe {
        libc::pthread_setaffinity_np(
            thread.as_pthread_t(),
            std::mem::size_of::<libc::cpu_set_t>(),
            cores,
        );
    }
}

/// Nesting allowed in a part of the file: the list that holds the parts takes one level.
fn max_depth(parts: usize) -> usize {
    if parts > 1 { 63 } else { 64 }
}

/// The quick reader's budget: half of serde-saphyr's, so that it gives up well before
/// serde-saphyr would refuse, whatever the two count differently.
pub(super) fn limits(parts: usize) -> super::quick::Limits {
    super::quick::Limits {
        depth: max_depth(parts) - 2,
        nodes: MAX_NODES / parts / 2,
        scalar_bytes: MAX_FILE_BYTES as usize / parts / 2,
    }
}

/// The most nodes a runbook may have (serde-saphyr's budget).
const MAX_NODES: usize = 250_000;

/// The parser's options, with the budget shared by `parts` parts parsed separately.
pub(super) fn options(parts: usize) -> serde_saphyr::Options {
    let share = |limit: usize| limit / parts;
    let depth = max_depth(parts);
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: 1,
            max_depth: depth,
            max_nodes: share(MAX_NODES),
            max_events: share(1_000_000),
            max_aliases: share(1_000),
            max_anchors: share(1_000),
            max_total_scalar_bytes: share(MAX_FILE_BYTES as usize),
            max_merge_keys: share(1_000),
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: share(100_000),
            max_replay_stack_depth: 32,
            max_alias_expansions_per_anchor: 1_000,
        },
        with_snippet: false,
        strict_booleans: true,
    }
}

fn yaml_diagnostic(source: &SourceFile, error: &YamlError) -> Diagnostic {
    let inner = error.without_snippet();
    let inner = match inner {
        YamlError::AliasError { error, .. } => error.as_ref(),
        other => other,
    };
    let span = error.location().and_then(|location| {
        if location.line() == 0 {
            return None;
        }
        let byte_span = location.span();
        let offset = byte_span
            .byte_offset()
            .map(|offset| offset as usize)
            .unwrap_or_else(|| {
                source.offset_of(location.line() as usize, location.column() as usize)
            });
        let len = byte_span.byte_len().map_or(1, |len| len as usize);
        Some(Span::new(offset, len))
    });
    let message = DefaultMessageFormatter.format_message(inner).into_owned();
    let diagnostic = match inner {
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => {
            let mut diagnostic = Diagnostic::error(codes::UNKNOWN_KEY, format!("unknown key `{field}`"));
            diagnostic = match did_you_mean(field, expected.iter().copied()) {
                Some(suggestion) => diagnostic.label(format!("did you mean `{suggestion}`?")),
                None => diagnostic.label("not a key of this section"),
            };
            diagnostic.help(format!("valid keys here: {}", expected.join(", ")))
        }
        YamlError::SerdeMissingField { field, .. } => {
            Diagnostic::error(codes::SHAPE, format!("missing required key `{field}`"))
                .label(format!("the section this key belongs to lacks `{field}`"))
                .help(format!("add `{field}:`; `runbook schema` describes every key"))
        }
        YamlError::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => Diagnostic::error(
            codes::SHAPE,
            format!("wrong type: found {unexpected}, expected {expected}"),
        )
        .label(format!("expected {expected}"))
        .help("fix the value's type; quote it if it is meant as text"),
        YamlError::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => Diagnostic::error(
            codes::SHAPE,
            format!("invalid value: found {unexpected}, expected {expected}"),
        )
        .label(format!("expected {expected}"))
        .help("change the value to one the format accepts; `runbook schema` lists them"),
        YamlError::NullIntoString { .. } => Diagnostic::error(codes::SHAPE, "this value is empty")
            .label("expected text here")
            .help("write a value, or quote it (\"\") if it is meant to be empty"),
        YamlError::Unexpected { expected, .. } => {
            Diagnostic::error(codes::SHAPE, format!("wrong type: expected {expected}"))
                .label(format!("expected {expected}"))
                .help("fix the value's type; `runbook schema` describes every key")
        }
        YamlError::DuplicateMappingKey { key, .. } => Diagnostic::error(
            codes::DUPLICATE_KEY,
            match key {
                Some(key) => format!("the key `{key}` appears twice in this mapping"),
                None => "a key appears twice in this mapping".into(),
            },
        )
        .label("second occurrence")
        .help("remove or rename one of them"),
        YamlError::Budget {
            breach: serde_saphyr::budget::BudgetBreach::Documents { .. },
            ..
        } => Diagnostic::error(codes::YAML_SYNTAX, "the file holds more than one YAML document")
            .label("a second document starts here")
            .help("a runbook file holds one document; remove the `---` separator or split the file"),
        YamlError::Budget { .. }
        | YamlError::AliasReplayLimitExceeded { .. }
        | YamlError::AliasExpansionLimitExceeded { .. }
        | YamlError::AliasReplayStackDepthExceeded { .. }
        | YamlError::AliasReplayCounterOverflow { .. } => Diagnostic::error(
            codes::TOO_LARGE,
            format!(
                "the YAML exceeds the reader's budget: {}",
                match inner {
                    YamlError::Budget { breach, .. } => budget_words(breach),
                    _ => message.clone(),
                }
            ),
        )
        .label("the limit was reached here")
        .help("runbooks need no deep nesting or repeated aliases; write the values out, or split the runbook"),
        YamlError::NonFiniteFloat { value, .. } => Diagnostic::error(
            codes::SHAPE,
            format!("`{value}` is infinite or not a number (NaN), which JSON cannot carry"),
        )
        .label("not a finite number")
        .help("write a finite number, or quote the value to send it as text"),
        YamlError::MultipleDocuments { .. } => Diagnostic::error(
            codes::YAML_SYNTAX,
            "the file holds more than one YAML document",
        )
        .label("a second document starts here")
        .help("a runbook file holds one document; remove the `---` separator or split the file"),
        YamlError::Eof { .. } => Diagnostic::error(codes::YAML_SYNTAX, "the YAML ends early")
            .label("unexpected end of input")
            .help("close every bracket and quote; a runbook is a mapping with `runbook`, `title` and `steps`"),
        YamlError::InvalidBooleanStrict { .. } => Diagnostic::error(codes::SHAPE, "expected true or false")
            .label("not a boolean")
            .help("write true or false (yes/no/on/off are not accepted, to avoid surprises)"),
        // The parser reports a tab where the scalar before it ended (the line above, often):
        // point at the tab itself, and say what to do about it.
        _ if is_syntax_error(inner) && message.contains("found a tab") => {
            let tab = span.and_then(|span| {
                source.text.get(span.offset..).and_then(|rest| rest.find('\t')).map(|at| Span::new(span.offset + at, 1))
            });
            return Diagnostic::error(codes::YAML_SYNTAX, format!("invalid YAML: {message}"))
                .label("a tab")
                .help("YAML indents with spaces only: replace the tab with spaces")
                .at_opt(tab.or(span).map(|span| clamp(source, span)));
        }
        _ if is_syntax_error(inner) => Diagnostic::error(codes::YAML_SYNTAX, format!("invalid YAML: {message}"))
            .label("here")
            .help("fix the YAML syntax: check indentation, colons, quotes and brackets"),
        _ => Diagnostic::error(codes::SHAPE, message.clone())
            .label("here")
            .help("`runbook schema` describes every key and its type"),
    };
    diagnostic.at_opt(span.map(|span| clamp(source, span)))
}

fn is_syntax_error(error: &YamlError) -> bool {
    matches!(
        error,
        YamlError::ExternalMessage { .. }
            | YamlError::UnexpectedSequenceEnd { .. }
            | YamlError::UnexpectedMappingEnd { .. }
            | YamlError::ContainerEndMismatch { .. }
            | YamlError::UnknownAnchor { .. }
            | YamlError::FoldedBlockScalarMustIndentContent { .. }
    )
}

fn clamp(source: &SourceFile, span: Span) -> Span {
    let offset = span.offset.min(source.text.len());
    Span::new(offset, span.len.min(source.text.len() - offset).max(1))
}

/// What a breach of the YAML budget means, in the words of someone writing a runbook (the
/// parser's own message is its Rust type, `Nodes { nodes: 250001 }`).
fn budget_words(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach::*;
    match breach {
        Nodes { nodes } => format!("more than {} values", nodes.saturating_sub(1)),
        Events { events } => format!("more than {} YAML events", events.saturating_sub(1)),
        Depth { depth } => format!("nested {depth} levels deep"),
        Aliases { aliases } => format!("{aliases} aliases (`*name`)"),
        Anchors { anchors } => format!("{anchors} anchors (`&name`)"),
        AliasAnchorRatio { aliases, anchors } => {
            format!("{aliases} aliases for {anchors} anchors")
        }
        ScalarBytes { total_scalar_bytes } => {
            format!("{total_scalar_bytes} bytes of text in values")
        }
        MergeKeys { merge_keys } => format!("{merge_keys} merge keys (`<<`)"),
        Documents { documents } => format!("{documents} documents"),
        InputBytes { input_bytes } => format!("{input_bytes} bytes"),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests_support {
    use super::*;

    /// A shipped runbook with its steps repeated until the list is long enough to be split.
    pub fn long(name: &str, copies: usize) -> String {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("runbooks")
                .join(name),
        )
        .expect("a shipped runbook");
        let start = text.find("\nsteps:\n").expect("a steps list") + "\nsteps:\n".len();
        let end = start + text[start..].find("\nrollback:").expect("a key after it") + 1;
        format!(
            "{}{}{}",
            &text[..start],
            text[start..end].repeat(copies),
            &text[end..]
        )
    }

    pub fn source(text: &str) -> Arc<SourceFile> {
        Arc::new(SourceFile::new("long.yaml", text.to_string()))
    }

    pub fn whole(text: &str) -> Result<String, String> {
        let source = source(text);
        serde_saphyr::from_str_with_options::<RawRunbook>(text, options(1))
            .map(|raw| format!("{raw:?}"))
            .map_err(|error| {
                Diagnostics::single(source.clone(), yaml_diagnostic(&source, &error)).render(false)
            })
    }

    pub fn split_parse(text: &str) -> Option<String> {
        let split = super::super::split::split(text).expect("long enough to split");
        parse_split(&source(text), &split).map(|raw| format!("{raw:?}"))
    }

    pub fn parsed(text: &str) -> Result<String, String> {
        parse(&source(text))
            .map(|raw| format!("{raw:?}"))
            .map_err(|diagnostics| diagnostics.render(false))
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;

    #[test]
    fn a_split_parse_gives_what_a_whole_parse_gives_spans_included() {
        for name in [
            "cloudflare-user-api-token.yaml",
            "cloudflare-access-service-token.yaml",
        ] {
            for text in [long(name, 40), long(name, 40).replace('\n', "\r\n")] {
                let expected = whole(&text).expect("the long runbook parses");
                assert_eq!(split_parse(&text).as_ref(), Some(&expected), "{name}");
                assert_eq!(parsed(&text), Ok(expected));
            }
        }
    }

    /// The helper may run on any core the process may use but the spawning thread's.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_helper_thread_is_moved_off_the_spawning_threads_core_and_back() {
        use std::os::unix::thread::JoinHandleExt;
        let size = std::mem::size_of::<libc::cpu_set_t>();
        let allowed = || {
            // SAFETY: reads this thread's affinity into a plain cpu_set_t.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                assert_eq!(libc::sched_getaffinity(0, size, &mut set), 0);
                libc::CPU_COUNT(&set)
            }
        };
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let helper = std::thread::spawn(move || wait.recv().ok());
        let before = allowed();
        let given_back = super::run_elsewhere(&helper);
        // SAFETY: reads the helper's affinity, which is alive until it is joined below.
        let helper_allowed = || unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(
                libc::pthread_getaffinity_np(helper.as_pthread_t(), size, &mut set),
                0
            );
            libc::CPU_COUNT(&set)
        };
        let expected = if before > 1 { before - 1 } else { before };
        assert_eq!(helper_allowed(), expected);
        // Given back: every core the process may use.
        assert_eq!(given_back.is_some(), before > 1);
        if let Some(cores) = given_back {
            super::run_on(&helper, &cores);
        }
        assert_eq!(helper_allowed(), before);
        release.send(()).unwrap();
        helper.join().unwrap();
    }

    #[test]
    fn what_one_half_cannot_parse_alone_is_parsed_whole() {
        let text = long("cloudflare-user-api-token.yaml", 40);
        // An anchor in the first step, its alias in the last one.
        let anchored = text.replacen("    title: ", "    title: &first ", 1);
        let at = anchored.rfind("    title: ").unwrap();
        let end = at + anchored[at..].find('\n').unwrap();
        let aliased = format!("{}    title: *first{}", &anchored[..at], &anchored[end..]);
        assert_eq!(split_parse(&aliased), None);
        let expected = whole(&aliased).expect("the whole file parses");
        assert_eq!(parsed(&aliased), Ok(expected));
        // An unknown key in the last step: the whole parse's diagnostic, at the right line.
        let at = text.rfind("    title: ").unwrap();
        let broken = format!(
            "{}    titel: {}",
            &text[..at],
            &text[at + "    title: ".len()..]
        );
        assert_eq!(split_parse(&broken), None);
        let expected = whole(&broken).expect_err("an unknown key");
        assert!(expected.contains("titel"), "{expected}");
        assert_eq!(parsed(&broken), Err(expected));
    }
}

#[cfg(test)]
mod mutations {
    use super::tests_support::*;
    use crate::testing::{cases, generator};

    /// Random edits of a long runbook (dashes, colons, quotes, brackets, anchors, aliases, tabs,
    /// indentation): the split parse and the whole parse always agree, value or diagnostic, and
    /// so do the quick reader and serde-saphyr.
    #[test]
    fn split_and_whole_parses_agree_on_edited_files() {
        let cases = cases("RUNBOOK_SPLIT_CASES", 40);
        let base = long("cloudflare-user-api-token.yaml", 10);
        let mut next = generator(0x2545_f491_4f6c_dd1d);
        let pieces = [
            "-", "- ", ":", ": ", "\"", "'", "[", "]", "{", "}", "&a ", "*a", "\t", "\n", "\n  ",
            "\n- ", "#", "|", ">", "!!str ", "? ", ",", "steps:\n", "\r",
        ];
        let mut split_used = 0;
        let mut read_quickly = 0;
        for _ in 0..cases {
            let mut text = if next(4) == 0 {
                base.replace('\n', "\r\n")
            } else {
                base.clone()
            };
            for _ in 0..1 + next(3) {
                let mut at = next(text.len());
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                match next(3) {
                    0 => text.insert_str(at, pieces[next(pieces.len())]),
                    1 => {
                        let mut end = (at + 1 + next(4)).min(text.len());
                        while !text.is_char_boundary(end) {
                            end += 1;
                        }
                        text.replace_range(at..end, "");
                    }
                    _ => {
                        let line = text[..at].rfind('\n').map_or(0, |start| start + 1);
                        text.insert_str(line, if next(2) == 0 { " " } else { "  " });
                    }
                }
            }
            if super::super::split::split(&text)
                .is_some_and(|split| super::parse_split(&source(&text), &split).is_some())
            {
                split_used += 1;
            }
            if super::super::quick::from_str::<super::RawRunbook>(&text, super::limits(1)).is_some()
            {
                read_quickly += 1;
            }
            assert_eq!(parsed(&text), whole(&text), "edited file:\n{text}");
        }
        assert!(split_used > 0, "no edited file was parsed split");
        assert!(read_quickly > 0, "no edited file was read quickly");
    }
}
