//! Small request and response helpers shared by every emulated service: the vendors disagree on
//! error shapes, but they all read headers, JSON bodies and timestamps the same way.

use axum::http::{HeaderMap, header};
use jiff::Timestamp;
use serde_json::Value;

/// The credential of an `Authorization: <scheme> <credential>` header when the scheme is one of
/// `schemes` (compared case-insensitively, as RFC 9110 says schemes are).
pub(crate) fn authorization<'a>(headers: &'a HeaderMap, schemes: &[&str]) -> Option<&'a str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, credential) = value.split_once(' ')?;
    let credential = credential.trim();
    let known = schemes
        .iter()
        .any(|expected| scheme.eq_ignore_ascii_case(expected));
    (known && !credential.is_empty()).then_some(credential)
}

/// The `Bearer` credential of the request, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    authorization(headers, &["Bearer"])
}

/// A header's value as text, if it is present and printable.
pub(crate) fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

/// How a request body failed to be a JSON document.
pub(crate) enum BodyError {
    Missing,
    Malformed,
}

/// Parses a request body as JSON; an empty body is `Missing`, anything unparsable `Malformed`.
pub(crate) fn json_body(body: &[u8]) -> Result<Value, BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Missing);
    }
    serde_json::from_slice(body).map_err(|_| BodyError::Malformed)
}

/// The base URL the client used to reach us, rebuilt from `Host`, so that absolute URLs in
/// responses (GitHub's `url` fields) point back at the emulator whatever port it is on.
pub(crate) fn request_base_url(headers: &HeaderMap) -> String {
    let host = header_text(headers, "host").unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// RFC 3339 in UTC with whole seconds, as GitHub and Heroku print timestamps.
pub(crate) fn seconds(timestamp: Timestamp) -> String {
    timestamp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// RFC 3339 in UTC with milliseconds, as Infisical (JavaScript `Date`) prints timestamps.
pub(crate) fn milliseconds(timestamp: Timestamp) -> String {
    timestamp.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// RFC 3339 in UTC with microseconds, as Cloudflare prints timestamps.
pub(crate) fn microseconds(timestamp: Timestamp) -> String {
    timestamp.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}
