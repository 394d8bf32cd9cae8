//! Parsing a large runbook on two cores.
//!
//! YAML is parsed in one pass from the top, and parsing is most of what loading a large runbook
//! costs. When the `steps:` list is long, its items are split in two halves that are parsed at
//! the same time, each on its own: a half is a block sequence of whole items, exactly as written.
//! The rest of the file is parsed with the list replaced by `[]`. The spans found in each part
//! are moved back to where they are in the file (see [`super::span::shifted`]).
//!
//! Anything the halves cannot express on their own (an alias to an anchor in the other half, a
//! tag handle declared at the top, odd indentation) makes one of the parses fail, and then the
//! caller parses the file whole as usual, which also gives the diagnostics. A split parse that
//! succeeds yields what the whole parse would.

use std::ops::Range;

/// Below this, the `steps:` list is parsed with the rest: a thread is not worth it.
pub const MIN_SPLIT_BYTES: usize = 64 * 1024;

/// The parts a split parse reads.
pub struct Split {
    /// The file with the list replaced by `[]`.
    pub rest: String,
    /// Offsets in `rest` from this one on are `shift` bytes further on in the file.
    pub rest_from: usize,
    pub rest_shift: usize,
    /// Each half of the list, as a range of the file: whole lines of whole items.
    pub halves: [Range<usize>; 2],
}

/// Splits `text` when it has a long block-style `steps:` list at the top level, indented by at
/// least one space, whose items start at the same indentation.
pub fn split(text: &str) -> Option<Split> {
    let (list, items) = steps_list(text)?;
    if list.len() < MIN_SPLIT_BYTES || items.len() < 2 {
        return None;
    }
    // The item boundary nearest to the middle of the list.
    let middle = list.start + list.len() / 2;
    let cut = items
        .iter()
        .skip(1)
        .copied()
        .min_by_key(|item| item.start.abs_diff(middle))?;
    // `steps: []`, indented like the items were: more than `steps:`.
    let placeholder = format!("{}[]", " ".repeat(items[0].indent));
    let mut rest = String::with_capacity(text.len() - list.len() + placeholder.len());
    rest.push_str(&text[..list.start]);
    rest.push_str(&placeholder);
    rest.push_str(&text[list.end..]);
    Some(Split {
        rest,
        rest_from: list.start + placeholder.len(),
        rest_shift: list.len() - placeholder.len(),
        halves: [list.start..cut.start, cut.start..list.end],
    })
}

/// One item of the list: where its first line starts, and its dash's column.
#[derive(Clone, Copy)]
struct Item {
    start: usize,
    indent: usize,
}

/// The byte range of the top-level `steps:` list's lines, and where each item starts.
fn steps_list(text: &str) -> Option<(Range<usize>, Vec<Item>)> {
    let mut lines = lines(text);
    // `steps:` at the start of a line, then nothing but spaces or a comment.
    let (_, key_end) = lines.by_ref().find(|&(start, end)| {
        let line = &text[start..end];
        line.strip_prefix("steps:").is_some_and(|after| {
            after.trim_start_matches(' ').is_empty()
                || after.trim_start_matches(' ').starts_with('#')
        })
    })?;
    let mut items: Vec<Item> = Vec::new();
    let mut indent = None;
    let mut end = key_end;
    for (start, line_end) in lines {
        let line = &text[start..line_end];
        let content = line.trim_start_matches(' ');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let column = line.len() - content.len();
        let dash = content
            .strip_prefix('-')
            .is_some_and(|after| after.is_empty() || after.starts_with(' '));
        match indent {
            None if dash && column >= 1 => indent = Some(column),
            None => return None,
            Some(indent) if column < indent => break,
            Some(_) => {}
        }
        if Some(column) == indent {
            if !dash {
                return None;
            }
            items.push(Item {
                start,
                indent: column,
            });
        }
        end = line_end;
    }
    let first = items.first()?.start;
    Some((first..end, items))
}

/// The lines of `text` as byte ranges, without their line break (`\n`, `\r\n` or `\r`).
fn lines(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let bytes = text.as_bytes();
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let line_start = start;
        let end =
            memchr::memchr2(b'\n', b'\r', &bytes[start..]).map_or(bytes.len(), |at| start + at);
        start = end;
        if start < bytes.len() && bytes[start] == b'\r' {
            start += 1;
        }
        if start < bytes.len() && bytes[start] == b'\n' {
            start += 1;
        }
        Some((line_start, end))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(steps: usize) -> String {
        let mut text = String::from("runbook: big\ntitle: Big\nsteps:\n");
        for n in 0..steps {
            text.push_str(&format!(
                "  - id: step-{n}\n    title: Step {n}\n    manual: Do it.\n"
            ));
        }
        text.push_str("gotchas:\n  - none\n");
        text
    }

    #[test]
    fn a_long_list_is_cut_at_an_item_and_the_rest_keeps_everything_else() {
        let text = big(2_000);
        let split = split(&text).expect("a long list splits");
        assert!(
            split
                .rest
                .starts_with("runbook: big\ntitle: Big\nsteps:\n  []\ngotchas:")
        );
        assert!(split.rest.ends_with("gotchas:\n  - none\n"));
        // `gotchas` is where it was, once shifted.
        let in_rest = split.rest.find("gotchas").unwrap();
        assert!(in_rest >= split.rest_from);
        assert_eq!(in_rest + split.rest_shift, text.find("gotchas").unwrap());
        let [first, second] = split.halves.clone();
        assert_eq!(first.end, second.start);
        assert!(text[first.clone()].starts_with("  - id: step-0\n"));
        assert!(text[second.clone()].starts_with("  - id: step-"));
        assert!(text[second.clone()].ends_with("manual: Do it."));
        // Every step is in exactly one half.
        let ids = |range: Range<usize>| text[range].matches("- id: ").count();
        assert_eq!(ids(first) + ids(second), 2_000);
    }

    #[test]
    fn short_flow_or_unindented_lists_are_not_split() {
        assert!(split(&big(10)).is_none());
        let flow = format!("runbook: x\nsteps: [{}]\n", "{id: a}, ".repeat(20_000));
        assert!(split(&flow).is_none());
        let unindented = big(2_000).replace("\n  - id", "\n- id");
        assert!(split(&unindented).is_none());
    }
}
