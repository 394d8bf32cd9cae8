//! A value with the place in the runbook file it came from.
//!
//! serde-saphyr records where each node was; this wrapper keeps that as a byte [`Span`] so a
//! later stage can point at the exact spot, and forwards the JSON Schema to the inner type so
//! the published schema describes the format, not the wrapper.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};

use crate::diagnostic::Span;

thread_local! {
    /// Offsets from `.0` on are moved `.1` bytes further: see [`shifted`].
    static SHIFT: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((usize::MAX, 0)) };
}

/// Runs `parse` with every span at or after `from` moved `by` bytes further on: for a part of a
/// file parsed on its own (see [`super::split`]), so its spans point into the whole file.
pub fn shifted<T>(from: usize, by: usize, parse: impl FnOnce() -> T) -> T {
    let before = SHIFT.replace((from, by));
    let parsed = parse();
    SHIFT.set(before);
    parsed
}

#[derive(Clone, Debug)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Spanned<T> {
        Spanned { value, span }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        let location = spanned.referenced;
        let span = location.span();
        let span = match (span.byte_offset(), span.byte_len()) {
            (Some(offset), Some(len)) => {
                let offset = offset as usize;
                let (from, by) = SHIFT.get();
                Span::new(
                    if offset >= from { offset + by } else { offset },
                    len as usize,
                )
            }
            _ => Span::default(),
        };
        Ok(Spanned::new(spanned.value, span))
    }
}

impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}
