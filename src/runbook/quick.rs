//! A quick reader for the plain shape nearly every runbook has, tried before serde-saphyr.
//!
//! serde-saphyr spends about as long on its own bookkeeping (anchors, merge keys, tags,
//! comments, its budget) as the YAML parser under it spends on the text. A runbook that uses
//! none of that can be read straight from the parser's events ([`granit_parser`], the same
//! parser serde-saphyr drives) in less than half the time.
//!
//! The rule is that this reader either gives exactly what serde-saphyr would give, spans
//! included, or gives up: anything outside the shape below, anything it is not sure how
//! serde-saphyr would read, and every error is a [`Bail`], after which the caller parses the
//! file with serde-saphyr (which then also words any diagnostic). So it has no messages of its
//! own, and what it accepts is a subset of what serde-saphyr accepts, with the same meaning.
//!
//! The shape: one document without directives; no anchors, aliases, tags or merge keys; keys
//! that are strings, none written twice in a map; and scalars whose reading is unambiguous.
//! A plain scalar that could be a number, a boolean or null in some YAML dialect is read
//! only in the simple forms (`201`, `-3`, `1.5`, `true`, `null`); an unusual spelling (`0x1F`,
//! `1e3`, `.inf`, `007`, `1_000`) gives up. A budget like serde-saphyr's, with room to spare,
//! bounds the depth, the number of nodes and the bytes of scalars.

use std::borrow::Cow;
use std::collections::HashSet;

use granit_parser::{Event, Parser, ScalarStyle, Span as EventSpan, StrInput};
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::span;

/// What the quick reader may use of the budget; past any of these it gives up (and
/// serde-saphyr, given the same file, applies its own budget and reports).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub depth: usize,
    pub nodes: usize,
    pub scalar_bytes: usize,
}

/// Outside the quick reader's shape, or not valid: parse with serde-saphyr instead.
#[derive(Debug)]
pub struct Bail;

impl std::fmt::Display for Bail {
    fn fmt(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("outside the quick reader's shape")
    }
}

impl std::error::Error for Bail {}

impl de::Error for Bail {
    fn custom<T: std::fmt::Display>(_message: T) -> Bail {
        Bail
    }
}

/// Reads `text` as a `T` when it has the plain shape; `None` when serde-saphyr must.
pub fn from_str<T: DeserializeOwned>(text: &str, limits: Limits) -> Option<T> {
    let options = granit_parser::options! {
        emit_comments: false,
    };
    let mut reader = Reader {
        parser: Parser::with_options(StrInput::new(text), options),
        peeked: None,
        depth: 0,
        nodes: 0,
        scalar_bytes: 0,
        limits,
    };
    span::quickly(|| reader.document()).ok()
}

struct Reader<'a> {
    parser: Parser<'a, StrInput<'a>>,
    peeked: Option<(Event<'a>, EventSpan)>,
    depth: usize,
    nodes: usize,
    scalar_bytes: usize,
    limits: Limits,
}

type Result<T> = std::result::Result<T, Bail>;

impl<'a> Reader<'a> {
    fn document<T: DeserializeOwned>(&mut self) -> Result<T> {
        if !matches!(self.next()?, Event::StreamStart) {
            return Err(Bail);
        }
        // A `%YAML` directive may change how scalars read: leave it to serde-saphyr.
        if !matches!(self.next()?, Event::DocumentStart(_, None)) {
            return Err(Bail);
        }
        let value = T::deserialize(&mut *self)?;
        if !matches!(self.next()?, Event::DocumentEnd) || !matches!(self.next()?, Event::StreamEnd)
        {
            return Err(Bail);
        }
        Ok(value)
    }

    /// The next event, without taking it. Anything outside the shape gives up here, so the
    /// rest of the reader sees only scalars, sequences and maps.
    fn peek(&mut self) -> Result<&Event<'a>> {
        if self.peeked.is_none() {
            let (event, event_span) = self.parser.next_event().ok_or(Bail)?.map_err(|_| Bail)?;
            match &event {
                Event::Scalar(value, _, anchor, tag) => {
                    self.scalar_bytes += value.len();
                    self.node(*anchor, tag.is_some())?;
                }
                Event::SequenceStart(_, anchor, tag) | Event::MappingStart(_, anchor, tag) => {
                    self.node(*anchor, tag.is_some())?;
                }
                Event::StreamStart
                | Event::StreamEnd
                | Event::DocumentStart(..)
                | Event::DocumentEnd
                | Event::SequenceEnd
                | Event::MappingEnd => {}
                _ => return Err(Bail),
            }
            if self.scalar_bytes > self.limits.scalar_bytes {
                return Err(Bail);
            }
            self.peeked = Some((event, event_span));
        }
        Ok(&self.peeked.as_ref().ok_or(Bail)?.0)
    }

    fn node(&mut self, anchor: usize, tagged: bool) -> Result<()> {
        self.nodes += 1;
        if anchor != 0 || tagged || self.nodes > self.limits.nodes {
            return Err(Bail);
        }
        Ok(())
    }

    fn next(&mut self) -> Result<Event<'a>> {
        self.peek()?;
        let (event, _) = self.peeked.take().ok_or(Bail)?;
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                self.depth += 1;
                if self.depth > self.limits.depth {
                    return Err(Bail);
                }
            }
            Event::SequenceEnd | Event::MappingEnd => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
        Ok(event)
    }

    /// Where the next node is, as serde-saphyr reports it: its event's span, in bytes.
    fn next_span(&mut self) -> Result<(usize, usize)> {
        self.peek()?;
        let (_, event_span) = self.peeked.as_ref().ok_or(Bail)?;
        let start = event_span.start.byte_offset().ok_or(Bail)?;
        let end = event_span.end.byte_offset().ok_or(Bail)?;
        Ok((start, end.saturating_sub(start)))
    }

    /// The next node's scalar, with its style; a sequence or a map gives up.
    fn scalar(&mut self) -> Result<(Cow<'a, str>, ScalarStyle)> {
        match self.next()? {
            Event::Scalar(value, style, ..) => Ok((value, style)),
            _ => Err(Bail),
        }
    }

    /// A scalar read as a string: anything but a plain null.
    fn string(&mut self) -> Result<Cow<'a, str>> {
        let (value, style) = self.scalar()?;
        if is_null(&value, style) {
            return Err(Bail);
        }
        Ok(value)
    }

    /// Skips the next node whole.
    fn skip(&mut self) -> Result<()> {
        let depth = self.depth;
        loop {
            self.next()?;
            if self.depth == depth {
                return Ok(());
            }
        }
    }
}

fn visit_text<'de, V: Visitor<'de>>(value: Cow<'_, str>, visitor: V) -> Result<V::Value> {
    match value {
        Cow::Borrowed(text) => visitor.visit_str(text),
        Cow::Owned(text) => visitor.visit_string(text),
    }
}

/// A plain empty, `~` or `null` scalar: serde-saphyr's null.
fn is_null(value: &str, style: ScalarStyle) -> bool {
    style == ScalarStyle::Plain && matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

/// serde-saphyr's YAML 1.2 booleans (it trims the padding a quoted scalar may have).
fn boolean(value: &str) -> Option<bool> {
    match value.trim_matches([' ', '\t', '\r', '\n']) {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// A number in one of its simplest spellings.
enum Number {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
}

/// `0`, `201`, `-3`, `1.5`, `-0.25`: digits without a leading zero, an optional minus, an
/// optional fraction. Any other spelling is `None`, whatever it would mean.
fn simple_number(value: &str) -> Option<Number> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let all_digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || (whole.len() > 1 && whole.starts_with('0')) {
        return None;
    }
    match fraction {
        Some(fraction) if all_digits(fraction) => value.parse().ok().map(Number::Float),
        Some(_) => None,
        None if value.starts_with('-') => {
            if whole == "0" {
                return None;
            }
            value.parse().ok().map(Number::Signed)
        }
        None => value.parse().ok().map(Number::Unsigned),
    }
}

/// Whether a plain scalar that is not null, a boolean or a simple number is certainly a
/// string to serde-saphyr: it cannot be a number in any spelling YAML or Rust accepts.
fn certainly_text(value: &str) -> bool {
    match value.bytes().next() {
        // Could begin a number (`+1`, `.5`, `1e3`, `1_000`, `0x1F`, `-.inf`). Past a radix
        // prefix, the only letters a number has are an exponent's `e` and those of `inf` and
        // `nan`; any other makes it text (`8760h`, `30s`, `2xx`).
        Some(first) if first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.') => {
            let unsigned = value.strip_prefix(['+', '-']).unwrap_or(value).as_bytes();
            let radix =
                unsigned.len() > 1 && unsigned[0] == b'0' && b"xXoObB".contains(&unsigned[1]);
            let lower = value.to_ascii_lowercase();
            let special = lower.contains("inf") || lower.contains("nan");
            let other_letter = lower.bytes().any(|b| b.is_ascii_lowercase() && b != b'e');
            !radix && !special && other_letter
        }
        // Rust reads these as floats, whatever YAML says.
        _ => !["inf", "infinity", "nan"]
            .iter()
            .any(|word| value.eq_ignore_ascii_case(word)),
    }
}

/// An integer of the target's type from a scalar in the simplest spelling.
fn integer<T: TryFrom<u64> + TryFrom<i64>>(value: &str) -> Result<T> {
    match simple_number(value) {
        Some(Number::Unsigned(number)) => T::try_from(number).map_err(|_| Bail),
        Some(Number::Signed(number)) => T::try_from(number).map_err(|_| Bail),
        _ => Err(Bail),
    }
}

macro_rules! integers {
    ($($method:ident $visit:ident $type:ty),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
                let (value, _) = self.scalar()?;
                visitor.$visit(integer::<$type>(&value)?)
            }
        )*
    };
}

macro_rules! bail {
    ($($method:ident),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
                Err(Bail)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for &mut Reader<'_> {
    type Error = Bail;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek()? {
            Event::SequenceStart(..) => return self.deserialize_seq(visitor),
            Event::MappingStart(..) => return self.deserialize_map(visitor),
            _ => {}
        }
        let (value, style) = self.scalar()?;
        if style != ScalarStyle::Plain {
            return visit_text(value, visitor);
        }
        if is_null(&value, style) {
            return visitor.visit_unit();
        }
        if let Some(flag) = boolean(&value) {
            return visitor.visit_bool(flag);
        }
        match simple_number(&value) {
            Some(Number::Unsigned(number)) => visitor.visit_u64(number),
            Some(Number::Signed(number)) => visitor.visit_i64(number),
            Some(Number::Float(number)) => visitor.visit_f64(number),
            None if certainly_text(&value) => visit_text(value, visitor),
            None => Err(Bail),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let (value, _) = self.scalar()?;
        visitor.visit_bool(boolean(&value).ok_or(Bail)?)
    }

    integers! {
        deserialize_i8 visit_i8 i8,
        deserialize_i16 visit_i16 i16,
        deserialize_i32 visit_i32 i32,
        deserialize_i64 visit_i64 i64,
        deserialize_u8 visit_u8 u8,
        deserialize_u16 visit_u16 u16,
        deserialize_u32 visit_u32 u32,
        deserialize_u64 visit_u64 u64,
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let (value, _) = self.scalar()?;
        match simple_number(&value).ok_or(Bail)? {
            Number::Float(number) => visitor.visit_f64(number),
            Number::Unsigned(number) => visitor.visit_f64(number as f64),
            Number::Signed(number) => visitor.visit_f64(number as f64),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let value = self.string()?;
        visit_text(value, visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek()? {
            Event::Scalar(value, style, ..) if is_null(value, *style) => {
                self.next()?;
                visitor.visit_none()
            }
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..) => {
                visitor.visit_some(self)
            }
            _ => Err(Bail),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        if name == span::QUICK_SPANNED {
            let (offset, len) = self.next_span()?;
            span::set_next(offset, len);
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if !matches!(self.next()?, Event::SequenceStart(..)) {
            return Err(Bail);
        }
        let value = visitor.visit_seq(Items(&mut *self))?;
        match self.next()? {
            Event::SequenceEnd => Ok(value),
            _ => Err(Bail),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if !matches!(self.next()?, Event::MappingStart(..)) {
            return Err(Bail);
        }
        let value = visitor.visit_map(Entries {
            reader: &mut *self,
            keys: HashSet::default(),
        })?;
        match self.next()? {
            Event::MappingEnd => Ok(value),
            _ => Err(Bail),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_map(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.skip()?;
        visitor.visit_unit()
    }

    bail! {
        deserialize_i128, deserialize_u128, deserialize_f32, deserialize_char,
        deserialize_bytes, deserialize_byte_buf, deserialize_unit,
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _visitor: V,
    ) -> Result<V::Value> {
        Err(Bail)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value> {
        Err(Bail)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value> {
        Err(Bail)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value> {
        Err(Bail)
    }
}

struct Items<'r, 'a>(&'r mut Reader<'a>);

impl<'de> SeqAccess<'de> for Items<'_, '_> {
    type Error = Bail;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if matches!(self.0.peek()?, Event::SequenceEnd) {
            return Ok(None);
        }
        seed.deserialize(&mut *self.0).map(Some)
    }
}

struct Entries<'r, 'a> {
    reader: &'r mut Reader<'a>,
    keys: HashSet<Cow<'a, str>, foldhash::fast::RandomState>,
}

impl<'de, 'a> MapAccess<'de> for Entries<'_, 'a> {
    type Error = Bail;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let key = match self.reader.peek()? {
            Event::MappingEnd => return Ok(None),
            Event::Scalar(key, style, ..) => {
                // A key that could read as something other than its text (null, a boolean, a
                // number other than plain digits), or the merge key: serde-saphyr decides.
                let plain = *style == ScalarStyle::Plain;
                if plain
                    && (is_null(key, *style)
                        || boolean(key).is_some()
                        || key == "<<"
                        || !(matches!(simple_number(key), Some(Number::Unsigned(_)))
                            || certainly_text(key)))
                {
                    return Err(Bail);
                }
                key.clone()
            }
            _ => return Err(Bail),
        };
        // A key written twice (`a` and `"a"` count as the same): serde-saphyr reports it.
        if !self.keys.insert(key) {
            return Err(Bail);
        }
        seed.deserialize(&mut *self.reader).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        seed.deserialize(&mut *self.reader)
    }
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;
    use serde::Deserialize;

    use super::super::load::{limits, options};
    use super::super::raw::RawRunbook;
    use super::super::span::Spanned;
    use crate::testing::{cases, generator};

    /// The quick reading and serde-saphyr's, as text (spans included): `None` when the quick
    /// reader gives up.
    fn both<T: serde::de::DeserializeOwned + std::fmt::Debug>(
        text: &str,
    ) -> (Option<String>, Result<String, String>) {
        let quick = super::from_str::<T>(text, limits(1)).map(|value| format!("{value:?}"));
        let saphyr = serde_saphyr::from_str_with_options::<T>(text, options(1))
            .map(|value| format!("{value:?}"))
            .map_err(|error| error.to_string());
        (quick, saphyr)
    }

    /// Whatever the quick reader gives, serde-saphyr gives too. Returns whether it read it.
    fn agrees<T: serde::de::DeserializeOwned + std::fmt::Debug>(text: &str) -> bool {
        let (quick, saphyr) = both::<T>(text);
        if let Some(quick) = &quick {
            assert_eq!(Ok(quick), saphyr.as_ref(), "read differently:\n{text}");
        }
        quick.is_some()
    }

    #[test]
    fn the_shipped_runbooks_are_read_quickly_and_exactly() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks");
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for text in [text.clone(), text.replace('\n', "\r\n")] {
                assert!(agrees::<RawRunbook>(&text), "given up on:\n{text}");
            }
        }
    }

    /// Every YAML file of the test fixtures (most of them broken on purpose): whatever the quick
    /// reader reads of them, serde-saphyr reads the same way.
    #[test]
    fn the_test_fixtures_read_as_serde_saphyr_reads_them_or_not_at_all() {
        fn files(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    files(&path, found);
                } else if path
                    .extension()
                    .is_some_and(|extension| extension == "yaml")
                {
                    found.push(path);
                }
            }
        }
        let mut found = Vec::new();
        files(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
            &mut found,
        );
        assert!(found.len() > 10, "fixtures: {found:?}");
        for path in found {
            let bytes = std::fs::read(&path).unwrap();
            if let Ok(text) = String::from_utf8(bytes) {
                agrees::<RawRunbook>(&text);
            }
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Typed {
        #[serde(default)]
        text: Option<Spanned<String>>,
        #[serde(default)]
        flag: Option<bool>,
        #[serde(default)]
        status: Option<u16>,
        #[serde(default)]
        offset: Option<i32>,
        #[serde(default)]
        factor: Option<Spanned<f64>>,
        #[serde(default)]
        any: Option<Spanned<serde_json::Value>>,
        #[serde(default)]
        list: Vec<Spanned<String>>,
        #[serde(default)]
        map: IndexMap<String, Spanned<String>>,
        #[serde(default)]
        json: IndexMap<String, serde_json::Value>,
    }

    const SCALARS: &[&str] = &[
        "",
        "~",
        "null",
        "Null",
        "NULL",
        "nULL",
        "true",
        "True",
        "TRUE",
        "tRUE",
        "false",
        "False",
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "0",
        "7",
        "201",
        "007",
        "00",
        "-0",
        "-3",
        "+3",
        "1.5",
        "-0.25",
        "0.1",
        "-0.0",
        "1.",
        ".5",
        "0.",
        "1.5.6",
        "1e3",
        "1E3",
        "1e",
        "2.5e-3",
        "0x1F",
        "0o17",
        "0b101",
        "0xg",
        "1_000",
        ".inf",
        "-.inf",
        "+.inf",
        ".nan",
        ".NaN",
        "inf",
        "-inf",
        "Infinity",
        "+infinity",
        "nan",
        "NaN",
        "8760h",
        "30s",
        "1h30m",
        "5m",
        "v1",
        "1a",
        "2xx",
        "1ea",
        "-0x1F",
        "+0b1",
        "1e3x",
        "-a",
        "+a",
        ".a",
        "-",
        "abc",
        "a b",
        "infisical",
        "info",
        "nano",
        "$.result.id",
        "2024-01-01",
        "2001-12-14t21:59:43.10-05:00",
        "12:30",
        "1:30:00",
        "65536",
        "4294967296",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "1.7976931348623157e309",
        "3.14159265358979323846264338327950288",
        "'quoted'",
        "\"double\"",
        "\"true\"",
        "'201'",
        "\" 201\"",
        "\" true \"",
        "\"\"",
        "''",
        "'null'",
        "\"1.5\"",
        "\"a\\tb\\u00e9\"",
        "'it''s'",
        "|\n  block\n",
        ">\n  folded\n  text\n",
        "|-\n  kept\n",
        "<<",
        "'<<'",
        "\"<<\"",
        "é",
        "\"{{ token }}\"",
        "x # a comment",
    ];

    #[test]
    fn scalars_read_as_serde_saphyr_reads_them_or_not_at_all() {
        let mut read = 0;
        for scalar in SCALARS {
            for field in ["text", "flag", "status", "offset", "factor", "any"] {
                read += usize::from(agrees::<Typed>(&format!("{field}: {scalar}\n")));
            }
            for text in [
                format!("list:\n  - {scalar}\n  - x\n"),
                format!("list: [{scalar}, x]\n"),
                format!("map:\n  key: {scalar}\n"),
                format!("json:\n  {scalar}: 1\n"),
                format!("json: {{ {scalar}: 1, other: [{scalar}] }}\n"),
                format!("any:\n  nested:\n    - {scalar}\n"),
            ] {
                read += usize::from(agrees::<Typed>(&text));
            }
        }
        // Not a vacuous agreement: the common spellings are read quickly.
        assert!(read > SCALARS.len() * 4, "read only {read}");
        // A quoted `<<` is an ordinary key, not a merge.
        for text in [
            "json:\n  '<<': {a: 1}\n  b: 2\n",
            "json:\n  \"<<\": {a: 1}\n  b: 2\n",
        ] {
            assert!(agrees::<Typed>(text), "{text}");
        }
        for (text, expected) in [
            ("status: 201\n", "status: Some(201)"),
            ("flag: true\n", "flag: Some(true)"),
            ("any: 8760h\n", "String(\"8760h\")"),
            ("any: 1.5\n", "Number(1.5)"),
            ("any: -3\n", "Number(-3)"),
            ("any: [~]\n", "[Null]"),
            ("text: '{{ a }}'\n", "\"{{ a }}\""),
        ] {
            let (quick, _) = both::<Typed>(text);
            let quick = quick.unwrap_or_else(|| panic!("gave up on {text}"));
            assert!(quick.contains(expected), "{quick}");
        }
    }

    #[test]
    fn what_only_serde_saphyr_knows_is_left_to_it() {
        for text in [
            // Anchors, aliases, merge keys and tags.
            "text: &a x\nlist: [*a]\n",
            "json:\n  base: &b {x: 1}\n  copy:\n    <<: *b\n",
            "text: !!str 1\n",
            "any: !custom x\n",
            // A key written twice, also once quoted.
            "map:\n  a: x\n  a: y\n",
            "map:\n  a: x\n  'a': y\n",
            "text: x\ntext: y\n",
            // Keys that are not plain text.
            "json:\n  1.5: x\n",
            "json:\n  true: x\n",
            "json:\n  ~: x\n",
            "json:\n  ? [a]\n  : x\n",
            // More than one document, directives.
            "text: x\n---\ntext: y\n",
            "%YAML 1.2\n---\ntext: x\n",
            // Not YAML, or not this type.
            "text: [x\n",
            "status: x\n",
            "unknown: x\n",
            "text:\n  - x\n",
        ] {
            let (quick, _) = both::<Typed>(text);
            assert_eq!(quick, None, "{text}");
        }
        // Deeper than the budget allows: given up, whatever serde-saphyr then says.
        let deep = format!("any: {}{}\n", "[".repeat(70), "]".repeat(70));
        assert_eq!(both::<Typed>(&deep).0, None);
    }

    /// Random documents built from the spellings above, in block and flow style, with comments,
    /// CRLF, odd indentation and stray characters: whatever the quick reader reads, it reads as
    /// serde-saphyr does. `RUNBOOK_QUICK_CASES` sets how many (the suite runs 400).
    #[test]
    fn random_documents_read_as_serde_saphyr_reads_them_or_not_at_all() {
        let cases = cases("RUNBOOK_QUICK_CASES", 400);
        let mut next = generator(0x9e37_79b9_7f4a_7c15);
        const FIELDS: &[&str] = &[
            "text", "flag", "status", "offset", "factor", "any", "list", "map", "json", "other",
        ];
        const NOISE: &[&str] = &[
            " # note", "\t", " ", "'", "\"", "- ", ": ", "[", "]", "{", "}", ",", "&a ", "*a",
            "!!str ", "? ", "|", ">", "\r\n", "\n  ", "---\n", "...\n", "%", "@", "`",
        ];
        let (mut read, mut valid) = (0, 0);
        for _ in 0..cases {
            let mut text = String::new();
            let mut fields: Vec<&str> = FIELDS.to_vec();
            for _ in 0..1 + next(4) {
                // Mostly distinct fields, each mostly given a value of its shape.
                let field = if next(8) == 0 {
                    FIELDS[next(FIELDS.len())]
                } else {
                    fields.remove(next(fields.len()))
                };
                let scalar = SCALARS[next(SCALARS.len())];
                let other = SCALARS[next(SCALARS.len())];
                let shape = match (field, next(4)) {
                    (_, 0) => next(6),
                    ("text" | "flag" | "status" | "offset" | "factor", _) => 0,
                    ("list", _) => 1 + next(2),
                    ("map" | "json", _) => 3 + next(2),
                    _ => next(6),
                };
                let value = match shape {
                    0 => format!(" {scalar}\n"),
                    1 => format!("\n  - {scalar}\n  - {other}\n"),
                    2 => format!(" [{scalar}, {other}]\n"),
                    3 => format!("\n  {other}: {scalar}\n"),
                    4 => format!(" {{ k: {scalar}, {other}: [{scalar}] }}\n"),
                    _ => format!("\n  nested:\n    {other}: {scalar}\n"),
                };
                text.push_str(field);
                text.push(':');
                text.push_str(&value);
                if fields.is_empty() {
                    break;
                }
            }
            if next(3) == 0 {
                let mut at = next(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.insert_str(at, NOISE[next(NOISE.len())]);
            }
            if next(5) == 0 {
                text = text.replace('\n', "\r\n");
            }
            let (quick, saphyr) = both::<Typed>(&text);
            if let Some(quick) = &quick {
                assert_eq!(Ok(quick), saphyr.as_ref(), "read differently:\n{text}");
                read += 1;
            }
            valid += usize::from(saphyr.is_ok());
        }
        // Most random documents are not valid at all; of those that are, a good share is read
        // quickly (the rest use a spelling the quick reader leaves to serde-saphyr).
        assert!(read * 3 > valid, "read {read} of {valid} valid documents");
    }
}
