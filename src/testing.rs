//! Helpers for the crate's randomized unit tests.

/// How many generated cases a randomized test runs: `variable` in the environment, or `default`.
pub fn cases(variable: &str, default: usize) -> usize {
    std::env::var(variable)
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (xorshift): each call gives a number below `bound`.
pub fn generator(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |bound: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % bound as u64) as usize
    }
}
