//! Heroku's `Range` paging for list endpoints (`version ..; order=desc, max=1`), answered with
//! 206 and `Next-Range` when more items remain.

use std::cmp::Ordering;

/// Heroku's default page size and its ceiling.
const DEFAULT_MAX: usize = 200;
const MAX_MAX: usize = 1000;

/// A sort key: numbers (release versions) compare as numbers, anything else as text.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Key {
    Number(u64),
    Text(String),
}

impl Key {
    fn parse_like(text: &str, example: &Key) -> Option<Key> {
        match example {
            Key::Number(_) => text.parse().ok().map(Key::Number),
            Key::Text(_) => Some(Key::Text(text.to_owned())),
        }
    }

    fn text(&self) -> String {
        match self {
            Key::Number(number) => number.to_string(),
            Key::Text(text) => text.clone(),
        }
    }
}

/// A parsed `Range` header.
#[derive(Debug)]
pub(crate) struct Range {
    pub(crate) field: String,
    start: Option<(String, bool)>,
    end: Option<String>,
    descending: bool,
    max: usize,
}

impl Range {
    /// The whole list in ascending order of `default_field`, as when no header is sent.
    pub(crate) fn everything(default_field: &str) -> Range {
        Range {
            field: default_field.to_owned(),
            start: None,
            end: None,
            descending: false,
            max: DEFAULT_MAX,
        }
    }

    /// Parses `<field> [[]start]..[end][; order=asc|desc, max=N]`. `None` when malformed.
    pub(crate) fn parse(header: &str) -> Option<Range> {
        let (bounds, parameters) = header.split_once(';').unwrap_or((header, ""));
        let (field, span) = bounds.trim().split_once(char::is_whitespace)?;
        let (start, end) = span.trim().split_once("..")?;
        let start = start.trim();
        let start = match start.strip_prefix(']') {
            Some(exclusive) => Some((exclusive.to_owned(), true)),
            None if start.is_empty() => None,
            None => Some((start.to_owned(), false)),
        };
        let end = Some(end.trim().to_owned()).filter(|end| !end.is_empty());
        let mut range = Range {
            field: field.to_owned(),
            start,
            end,
            descending: false,
            max: DEFAULT_MAX,
        };
        for parameter in parameters
            .split(',')
            .map(str::trim)
            .filter(|text| !text.is_empty())
        {
            let (name, value) = parameter.split_once('=')?;
            match (name.trim(), value.trim()) {
                ("order", "asc") => range.descending = false,
                ("order", "desc") => range.descending = true,
                ("max", number) => range.max = number.parse::<usize>().ok()?.clamp(1, MAX_MAX),
                _ => return None,
            }
        }
        Some(range)
    }

    /// The items of this page in order, and the `Next-Range` header when more remain. `None`
    /// when a bound does not parse as the field's kind of value.
    pub(crate) fn apply<T>(
        &self,
        mut items: Vec<T>,
        key: impl Fn(&T) -> Key,
    ) -> Option<(Vec<T>, Option<String>)> {
        items.sort_by_key(|item| key(item));
        if self.descending {
            items.reverse();
        }
        let Some(example) = items.first().map(&key) else {
            return Some((items, None));
        };
        let in_order = |left: &Key, right: &Key| {
            let ordering = left.cmp(right);
            if self.descending {
                ordering.reverse()
            } else {
                ordering
            }
        };
        let start = match &self.start {
            Some((text, exclusive)) => Some((Key::parse_like(text, &example)?, *exclusive)),
            None => None,
        };
        let end = match &self.end {
            Some(text) => Some(Key::parse_like(text, &example)?),
            None => None,
        };
        let mut selected: Vec<T> = items
            .into_iter()
            .filter(|item| {
                let item_key = key(item);
                let after_start = start.as_ref().is_none_or(|(start, exclusive)| {
                    match in_order(&item_key, start) {
                        Ordering::Greater => true,
                        Ordering::Equal => !exclusive,
                        Ordering::Less => false,
                    }
                });
                let before_end = end
                    .as_ref()
                    .is_none_or(|end| in_order(&item_key, end) != Ordering::Greater);
                after_start && before_end
            })
            .collect();
        if selected.len() <= self.max {
            return Some((selected, None));
        }
        selected.truncate(self.max);
        let last = selected.last().map(&key)?;
        let order = if self.descending { "desc" } else { "asc" };
        let next = format!(
            "{} ]{}..; order={order}, max={}",
            self.field,
            last.text(),
            self.max
        );
        Some((selected, Some(next)))
    }
}
