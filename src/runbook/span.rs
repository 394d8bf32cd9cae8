//! A value with the place in the runbook file it came from.
//!
//! serde-saphyr records where each node was; this wrapper keeps that as a byte [`Span`] so a
//! later stage can point at the exact spot, and forwards the JSON Schema to the inner type so
//! the published schema describes the format, not the wrapper.

use std::borrow::Cow;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::Visitor;
use serde::{Deserialize, Deserializer};

use crate::diagnostic::Span;

thread_local! {
    /// Offsets from `.0` on are moved `.1` bytes further: see [`shifted`].
    static SHIFT: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((usize::MAX, 0)) };
    /// Whether the quick reader ([`super::quick`]) is reading on this thread.
    static QUICK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The byte offset and length of the node the quick reader reads next.
    static NEXT: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
}

/// The name under which a [`Spanned`] asks the quick reader where its node is.
pub(super) const QUICK_SPANNED: &str = "__runbook_quick_spanned";

/// Runs `run` with `cell` set to `value`, and sets it back afterwards, also when `run` panics:
/// a thread that outlives a caught panic must not keep reading the wrong way.
fn scoped<V: Copy + 'static, T>(
    cell: &'static std::thread::LocalKey<std::cell::Cell<V>>,
    value: V,
    run: impl FnOnce() -> T,
) -> T {
    struct Restore<V: Copy + 'static>(&'static std::thread::LocalKey<std::cell::Cell<V>>, V);
    impl<V: Copy + 'static> Drop for Restore<V> {
        fn drop(&mut self) {
            self.0.set(self.1);
        }
    }
    let _restore = Restore(cell, cell.replace(value));
    run()
}

/// Runs `read` with every [`Spanned`] read by the quick reader rather than serde-saphyr.
pub(super) fn quickly<T>(read: impl FnOnce() -> T) -> T {
    scoped(&QUICK, true, read)
}

/// Called by the quick reader just before a [`Spanned`] reads its node.
pub(super) fn set_next(offset: usize, len: usize) {
    NEXT.set((offset, len));
}

/// A span of the part being parsed, moved to where it is in the whole file.
fn in_file(offset: usize, len: usize) -> Span {
    let (from, by) = SHIFT.get();
    Span::new(if offset >= from { offset + by } else { offset }, len)
}

/// Runs `parse` with every span at or after `from` moved `by` bytes further on: for a part of a
/// file parsed on its own (see [`super::split`]), so its spans point into the whole file.
pub fn shifted<T>(from: usize, by: usize, parse: impl FnOnce() -> T) -> T {
    scoped(&SHIFT, (from, by), parse)
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
        if QUICK.get() {
            return deserializer
                .deserialize_newtype_struct(QUICK_SPANNED, QuickVisitor(PhantomData));
        }
        let spanned = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        let span = spanned.referenced.span();
        let span = match (span.byte_offset(), span.byte_len()) {
            (Some(offset), Some(len)) => in_file(offset as usize, len as usize),
            _ => Span::default(),
        };
        Ok(Spanned::new(spanned.value, span))
    }
}

/// Reads a [`Spanned`] from the quick reader, which has just told where its node is.
struct QuickVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for QuickVisitor<T> {
    type Value = Spanned<T>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a value")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Spanned<T>, D::Error> {
        // Before the value is read: a Spanned inside it sets its own.
        let (offset, len) = NEXT.get();
        let span = in_file(offset, len);
        T::deserialize(deserializer).map(|value| Spanned::new(value, span))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_and_the_quick_switch_are_undone_even_after_a_panic() {
        let panicked = std::panic::catch_unwind(|| {
            shifted(10, 5, || quickly(|| panic!("a reader that panics")))
        });
        assert!(panicked.is_err());
        assert_eq!(SHIFT.get(), (usize::MAX, 0));
        assert!(!QUICK.get());
        // Nested: the inner shift applies inside, the outer one again after it.
        shifted(10, 5, || {
            assert_eq!(in_file(12, 1), Span::new(17, 1));
            shifted(0, 1, || assert_eq!(in_file(12, 1), Span::new(13, 1)));
            assert_eq!(in_file(12, 1), Span::new(17, 1));
            assert_eq!(in_file(9, 1), Span::new(9, 1));
        });
        assert_eq!(in_file(12, 1), Span::new(12, 1));
    }
}
