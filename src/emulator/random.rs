//! Random identifiers and credentials for the seeded world, so that no secret is a constant in the
//! code and two emulators never share a value.

use rand::RngExt;

/// Lowercase hex of `bytes` random bytes (Cloudflare account and token ids are 32 hex digits).
pub(crate) fn hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// A version 4 UUID in its usual text form.
pub(crate) fn uuid() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A URL-safe token of `length` characters, the alphabet Cloudflare API token values use.
pub(crate) fn token(length: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..length)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// A string of `length` decimal digits not starting with 0 (GitHub's key ids look like this).
pub(crate) fn digits(length: usize) -> String {
    let mut rng = rand::rng();
    (0..length)
        .map(|position| {
            let low = if position == 0 { 1 } else { 0 };
            char::from(b'0' + rng.random_range(low..10u8))
        })
        .collect()
}

/// 32 random bytes, for X25519 secret keys.
pub(crate) fn key_bytes() -> [u8; 32] {
    rand::random()
}
