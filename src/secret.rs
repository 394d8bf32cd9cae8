//! Secret values and the redactor that masks them at every sink.
//!
//! A secret is a [`SecretString`]: it has no `Display`, its `Debug` prints `[REDACTED]`, and code
//! that needs the value calls `expose_secret()` in the few places that send it. Every value that
//! becomes a secret during a run is registered with the [`Redactor`], which every sink (terminal,
//! logs, JSON events, error messages, panics) passes its text through. Besides the raw value it
//! masks the forms a value takes on its way out: base64 (standard and URL-safe, at every byte
//! alignment, so a secret inside a larger encoded string is caught too), percent-encoding, JSON
//! and HTML escaping and hex, each as the common encoders write it; the value trimmed; and the
//! strings inside a secret that is JSON.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

pub use secrecy::{ExposeSecret, SecretString};

/// What a masked secret looks like in any output.
pub const MASK: &str = "***";

/// What [`Redactor::redact_json`] does with a number or boolean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalars {
    /// Left as it is: the journal, whose records' own fields (a pid, an attempt, a flag) must
    /// stay what they are for a resume to read them. A secret capture is sealed there anyway.
    Kept,
    /// Masked, as a string, when it is a secret as a whole (a PIN): the audit record.
    Whole,
    /// Masked, as a string, when its text shows a secret anywhere: what is shown
    /// (`--output json`), so no later text pass has to break the JSON.
    Within,
}

/// The first 8 hex digits of the value's SHA-256: enough to tell two values apart in a record,
/// far too little to recover or brute-force a high-entropy credential.
pub fn fingerprint(value: &SecretString) -> String {
    fingerprint_text(value.expose_secret())
}

/// [`fingerprint`] of text that is not (or no longer) held as a secret: a template's value, an
/// emulator's stored credential.
pub fn fingerprint_text(value: &str) -> String {
    Sha256::digest(value.as_bytes())[..4]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Masks every registered secret, in all its encoded forms, in text bound for a sink.
///
/// Cheap to share (`Arc`) and safe to use from several threads: the tracing writer, the panic
/// hook and the reporter all hold the same one.
///
/// Secrets arrive one by one during a run (every secret capture adds one), so registering must
/// be cheap however many there are already: a needle (one form of one secret) is filed under
/// its first [`PREFIX`] bytes, and a 64 KiB bitmap of their first two bytes lets a search skip
/// almost every position of a text at the cost of one bit test. Registering is O(forms); a
/// search is O(text) plus a comparison for each needle whose prefix is there. Needles shorter
/// than the prefix (forms of very short secrets) are searched for one by one. Matches of every
/// needle are found on the original text (overlapping ones included) and their union is
/// masked, so one secret inside or across another cannot leave a piece of either visible.
#[derive(Default)]
pub struct Redactor {
    inner: RwLock<Needles>,
}

/// How many leading bytes file a needle.
const PREFIX: usize = 4;

/// The redactor's maps are hashed with foldhash (seeded per process), not SipHash: they are
/// looked up at every candidate position of everything shown, and their keys are the run's own
/// secrets, not input an attacker chooses.
type Hasher = foldhash::fast::RandomState;

/// A needle's bytes, and whether it is only a part of a secret.
type Needle = (Box<[u8]>, bool);

struct Needles {
    /// The secrets registered, as given.
    registered: HashSet<String, Hasher>,
    /// Every needle that is a secret or its form, to file each once.
    known: HashSet<String, Hasher>,
    /// Every needle that is a string inside a JSON secret or a value made from a secret, or
    /// its form (see [`parts`], [`Redactor::register_derived`]).
    known_parts: HashSet<String, Hasher>,
    /// How many values made from secrets were registered.
    derived: usize,
    /// Needles of at least [`PREFIX`] bytes, by their first [`PREFIX`] bytes, each with
    /// whether it is only a part of a secret.
    by_prefix: HashMap<[u8; PREFIX], Vec<Needle>, Hasher>,
    /// One bit per two-byte value: whether some needle starts with those two bytes.
    starts: Box<[u64; 1024]>,
    /// Needles shorter than [`PREFIX`], searched for one by one, each with whether it is only
    /// a part of a secret.
    short: Vec<(memchr::memmem::Finder<'static>, bool)>,
}

impl Default for Needles {
    fn default() -> Needles {
        Needles {
            registered: HashSet::default(),
            known: HashSet::default(),
            known_parts: HashSet::default(),
            derived: 0,
            by_prefix: HashMap::default(),
            starts: Box::new([0; 1024]),
            short: Vec::new(),
        }
    }
}

impl Needles {
    /// Files `form` as a needle once: as a secret's form, or as a part of one, which yields to
    /// a secret's form of the same text.
    fn file(&mut self, form: String, part: bool) {
        if self.known.contains(&form) || (part && self.known_parts.contains(&form)) {
            return;
        }
        self.add(form.as_bytes(), part);
        if part {
            self.known_parts.insert(form);
        } else {
            self.known.insert(form);
        }
    }

    fn add(&mut self, needle: &[u8], part: bool) {
        match needle.first_chunk::<PREFIX>() {
            Some(prefix) => {
                let pair = two_bytes(needle);
                self.starts[pair / 64] |= 1 << (pair % 64);
                self.by_prefix
                    .entry(*prefix)
                    .or_default()
                    .push((needle.into(), part));
            }
            None => self
                .short
                .push((memchr::memmem::Finder::new(needle).into_owned(), part)),
        }
    }

    /// Every (start, end) where a needle occurs in `text`, overlapping ones included; those
    /// that are only parts of a secret when `parts`.
    fn find(&self, text: &[u8], parts: bool) -> Vec<(usize, usize)> {
        let mut ranges = Vec::new();
        for (finder, part) in &self.short {
            if *part && !parts {
                continue;
            }
            let length = finder.needle().len();
            let mut from = 0;
            while let Some(found) = finder.find(&text[from..]) {
                let start = from + found;
                ranges.push((start, start + length));
                // Overlapping occurrences too: continue one byte further.
                from = start + 1;
            }
        }
        if self.by_prefix.is_empty() || text.len() < PREFIX {
            return ranges;
        }
        for start in 0..=text.len() - PREFIX {
            let pair = two_bytes(&text[start..]);
            if self.starts[pair / 64] & (1 << (pair % 64)) == 0 {
                continue;
            }
            let rest = &text[start..];
            let Some(needles) = rest
                .first_chunk::<PREFIX>()
                .and_then(|prefix| self.by_prefix.get(prefix))
            else {
                continue;
            };
            for (needle, part) in needles {
                if (parts || !part) && rest.starts_with(needle) {
                    ranges.push((start, start + needle.len()));
                }
            }
        }
        ranges
    }
}

fn two_bytes(bytes: &[u8]) -> usize {
    usize::from(bytes[0]) << 8 | usize::from(bytes[1])
}

impl Redactor {
    pub fn new() -> Arc<Redactor> {
        Arc::new(Redactor::default())
    }

    /// Registers a secret so that it, and its encodings, are masked from now on.
    pub fn register(&self, secret: &SecretString) {
        let value = secret.expose_secret();
        if value.is_empty() {
            return;
        }
        let mut inner = self
            .inner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Registered already (a captured secret is registered when it is judged, then again
        // when it is bound). Being one of another secret's forms is not enough: its own
        // encodings are not among them.
        if inner.registered.contains(value) {
            return;
        }
        inner.registered.insert(value.to_string());
        let (whole, inside) = parts(value);
        for form in whole.iter().flat_map(|whole| encoded_forms(whole)) {
            inner.file(form, false);
        }
        for form in inside.iter().flat_map(|inside| encoded_forms(inside)) {
            inner.file(form, true);
        }
    }

    /// Registers a value made from a secret (`{{ token | lower }}`) so that it, and its
    /// encodings, are masked wherever they are shown, as the strings inside a JSON secret are
    /// (see [`Redactor::redact_record`]): a plain value the journal keeps that equals it stays.
    pub fn register_derived(&self, value: &str) {
        if value.is_empty() || self.is_secret(value) {
            return;
        }
        let mut inner = self
            .inner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if inner.derived >= MOST_DERIVED
            || inner.known.contains(value)
            || inner.known_parts.contains(value)
        {
            return;
        }
        inner.derived += 1;
        for form in encoded_forms(value) {
            inner.file(form, true);
        }
    }

    /// Returns `text` with every registered secret form replaced by [`MASK`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.redact_with(text, true)
    }

    /// [`Redactor::redact`], masking the strings inside JSON secrets too when `parts`.
    fn redact_with<'a>(&self, text: &'a str, parts: bool) -> Cow<'a, str> {
        let mut ranges = self
            .inner
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .find(text.as_bytes(), parts);
        if ranges.is_empty() {
            return Cow::Borrowed(text);
        }
        ranges.sort_unstable();
        // Ranges fall on character boundaries: every needle is UTF-8 text, matched byte for
        // byte in UTF-8 text.
        let mut masked = String::with_capacity(text.len());
        let mut position = 0;
        let mut current: Option<(usize, usize)> = None;
        for (start, end) in ranges {
            match current {
                Some((_, current_end)) if start <= current_end => {
                    current =
                        current.map(|(current_start, _)| (current_start, current_end.max(end)));
                }
                _ => {
                    if let Some((current_start, current_end)) = current {
                        masked.push_str(&text[position..current_start]);
                        masked.push_str(MASK);
                        position = current_end;
                    }
                    current = Some((start, end));
                }
            }
        }
        if let Some((current_start, current_end)) = current {
            masked.push_str(&text[position..current_start]);
            masked.push_str(MASK);
            position = current_end;
        }
        masked.push_str(&text[position..]);
        Cow::Owned(masked)
    }

    /// Masks every string of a JSON value, object keys included, leaving its structure intact so
    /// it stays JSON; `scalars` says what happens to numbers and booleans. Says whether anything
    /// was masked. `keep` names top-level fields left as they are (opaque sealed values).
    pub fn redact_json(
        &self,
        value: serde_json::Value,
        keep: &[&str],
        scalars: Scalars,
    ) -> (serde_json::Value, bool) {
        let mut masked = false;
        let mut policy = Policy {
            scalars,
            masked: &mut masked,
        };
        let value = self.redact_value(value, keep, &[], &mut policy, true);
        (value, masked)
    }

    /// Masks a journal record (see [`Redactor::redact_json`]; numbers and booleans are kept).
    /// The strings inside a JSON secret are masked only in its free text (failures, notes,
    /// retry reasons, actions): its values (a plain capture, a loop item, an input) are read
    /// back by a resume, and a plain value that equals such a string (an id beside the secret
    /// in the same object) must come back as it was, not as `***`.
    pub fn redact_record(&self, value: serde_json::Value, keep: &[&str]) -> serde_json::Value {
        let mut masked = false;
        let mut policy = Policy {
            scalars: Scalars::Kept,
            masked: &mut masked,
        };
        let text = ["failures", "note", "reason", "action"];
        self.redact_value(value, keep, &text, &mut policy, false)
    }

    /// `keep` and `text` name top-level fields: left as they are, and masked with the parts of
    /// secrets whatever `parts` says.
    fn redact_value(
        &self,
        value: serde_json::Value,
        keep: &[&str],
        text_keys: &[&str],
        policy: &mut Policy<'_>,
        parts: bool,
    ) -> serde_json::Value {
        let text = |text: String, masked: &mut bool| match self.redact_with(&text, parts) {
            Cow::Borrowed(_) => text,
            Cow::Owned(redacted) => {
                *masked = true;
                redacted
            }
        };
        match value {
            serde_json::Value::String(string) => {
                serde_json::Value::String(text(string, policy.masked))
            }
            serde_json::Value::Array(items) => serde_json::Value::Array(
                items
                    .into_iter()
                    .map(|item| self.redact_value(item, &[], &[], policy, parts))
                    .collect(),
            ),
            serde_json::Value::Object(entries) => serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(key, item)| {
                        if keep.contains(&key.as_str()) {
                            return (key, item);
                        }
                        let inner = parts || text_keys.contains(&key.as_str());
                        let item = self.redact_value(item, &[], &[], policy, inner);
                        let key = text(key, policy.masked);
                        (key, item)
                    })
                    .collect(),
            ),
            other => {
                let replaced = match policy.scalars {
                    Scalars::Kept => None,
                    Scalars::Whole => self.is_secret(&other.to_string()).then(|| MASK.to_string()),
                    Scalars::Within => match self.redact(&other.to_string()) {
                        Cow::Borrowed(_) => None,
                        Cow::Owned(redacted) => Some(redacted),
                    },
                };
                match replaced {
                    Some(replaced) => {
                        *policy.masked = true;
                        serde_json::Value::String(replaced)
                    }
                    None => other,
                }
            }
        }
    }

    /// Whether `text` is, as a whole, a registered secret or one of its forms.
    fn is_secret(&self, text: &str) -> bool {
        let inner = self
            .inner
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.known.contains(text) || inner.known_parts.contains(text)
    }

    /// Like [`Redactor::redact`], for bytes that may not be UTF-8 (a response body, a log line).
    pub fn redact_lossy(&self, bytes: &[u8]) -> String {
        self.redact(&String::from_utf8_lossy(bytes)).into_owned()
    }
}

/// Keeps what this process holds in memory, secrets included, from being written out: no core
/// dump (a crash must not leave the run's tokens in `/var/lib/systemd/coredump`), and, on
/// Linux, no debugger attached by another process of the same user (not dumpable). Called first
/// thing; failures are ignored, as there is nothing better to do.
pub fn keep_memory_private() {
    #[cfg(unix)]
    // SAFETY: getrlimit and setrlimit read and write a plain struct for this process.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_CORE, &mut limit) == 0 {
            limit.rlim_cur = 0;
            libc::setrlimit(libc::RLIMIT_CORE, &limit);
        }
    }
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_DUMPABLE takes plain integers and changes only this process.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

/// How [`Redactor::redact_value`] masks a JSON value.
struct Policy<'a> {
    scalars: Scalars,
    /// Set when anything was masked.
    masked: &'a mut bool,
}

/// The shortest string inside a JSON secret that is masked on its own: shorter ones (`id`,
/// `ok`, `1`) would mask ordinary words everywhere.
const SHORTEST_PART: usize = 4;

/// How many strings inside one JSON secret are masked on their own, at most: a key file holds
/// a handful; thousands would only slow every output down.
const MOST_PARTS: usize = 256;

/// How many values made from secrets are masked at most in one run: a template that writes a
/// new one on every request of a long loop would otherwise slow every output down.
const MOST_DERIVED: usize = 1024;

/// What of a secret is masked, each with its encoded forms: as a whole, the value and the value
/// without the spaces or line break around it (a server that echoes it, or a message that
/// quotes a line, may trim them); inside, when the value is a JSON object or list (a capture of
/// `$.result`, a service-account key), every distinct string in it of at least
/// [`SHORTEST_PART`] characters, which a server may echo on its own.
fn parts(value: &str) -> (Vec<String>, Vec<String>) {
    let mut whole = vec![value.to_string()];
    let trimmed = value.trim();
    if !trimmed.is_empty() && trimmed != value {
        whole.push(trimmed.to_string());
    }
    let mut inside = Vec::new();
    if trimmed.starts_with(['{', '['])
        && let Ok(json) = serde_json::from_str::<serde_json::Value>(trimmed)
    {
        let mut strings = Vec::new();
        json_strings(&json, &mut strings);
        let mut seen = HashSet::new();
        for string in strings {
            if inside.len() < MOST_PARTS
                && string.chars().count() >= SHORTEST_PART
                && !whole.contains(&string)
                && seen.insert(string.clone())
            {
                inside.push(string);
            }
        }
    }
    (whole, inside)
}

/// Every string value in `json`, at any depth (not the keys: they are names).
fn json_strings(json: &serde_json::Value, strings: &mut Vec<String>) {
    match json {
        serde_json::Value::String(string) => strings.push(string.clone()),
        serde_json::Value::Array(items) => {
            items.iter().for_each(|item| json_strings(item, strings))
        }
        serde_json::Value::Object(entries) => entries
            .values()
            .for_each(|item| json_strings(item, strings)),
        _ => {}
    }
}

/// RFC 3986 percent-encoding, which leaves the unreserved `-._~` as they are.
const URI_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Python's `urllib.parse.quote` by default: the unreserved characters and `/`.
const URI_PATH: &AsciiSet = &URI_UNRESERVED.remove(b'/');

/// minijinja's `urlencode` filter, which also leaves `/` as it is.
const JINJA_URLENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'.')
    .remove(b'-')
    .remove(b'_');

/// The raw value and the forms it takes on its way out: percent-encoded for a URL or a form,
/// escaped in a JSON string or in HTML, in hex, in base64. Only the forms that differ from the
/// value and from each other are kept: for most secrets most forms are the value itself, and
/// those are not even built (a run registers a secret per capture, so this is on its path).
fn encoded_forms(value: &str) -> Vec<String> {
    let mut forms = vec![value.to_string()];
    let mut push = |form: String| {
        if !form.is_empty() && !forms.contains(&form) {
            forms.push(form);
        }
    };
    let bytes = value.as_bytes();
    // Every way a value is percent-encoded on its way into a URL or a form: strict, RFC 3986,
    // a path, the template filter, and `application/x-www-form-urlencoded` (query pairs, form
    // bodies), which writes a space as `+`; each with upper- or lower-case hex digits. A value
    // of letters and digits alone is the same in all of them.
    if !bytes.iter().all(u8::is_ascii_alphanumeric) {
        let encoded = |set: &'static AsciiSet| match Cow::from(utf8_percent_encode(value, set)) {
            Cow::Borrowed(_) => None,
            Cow::Owned(form) => Some(form),
        };
        // The form encoder leaves `*-._` as they are too; `+` for a space only with a space.
        let form = !bytes
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || b"*-._".contains(byte));
        let space = bytes.contains(&b' ');
        let percent = [
            encoded(NON_ALPHANUMERIC),
            encoded(URI_UNRESERVED),
            encoded(URI_PATH),
            encoded(JINJA_URLENCODE),
            form.then(|| form_urlencoded::byte_serialize(bytes).collect()),
            space.then(|| plus_for_space(value, NON_ALPHANUMERIC)),
            space.then(|| plus_for_space(value, URI_UNRESERVED)),
        ];
        for form in percent.into_iter().flatten() {
            if form.contains('%') {
                push(lower_case_percent(&form));
            }
            push(form);
        }
    }
    // Every byte encoded, and hex: upper- and lower-case digits.
    for digits in [b"0123456789ABCDEF", b"0123456789abcdef"] {
        let mut every_byte = String::with_capacity(bytes.len() * 3);
        let mut hex = String::with_capacity(bytes.len() * 2);
        for &byte in bytes {
            let (high, low) = (
                char::from(digits[usize::from(byte >> 4)]),
                char::from(digits[usize::from(byte & 0xf)]),
            );
            every_byte.extend(['%', high, low]);
            hex.extend([high, low]);
        }
        push(every_byte);
        push(hex);
    }
    // Only a value with a character JSON or HTML escapes has forms of those.
    if bytes
        .iter()
        .any(|&byte| byte < 0x20 || !byte.is_ascii() || b"\"\\/<>&".contains(&byte))
    {
        json_forms(value).into_iter().for_each(&mut push);
    }
    if bytes.iter().any(|byte| b"&<>\"'".contains(byte)) {
        // HTML entities, as Python's `html.escape` and Go's `html.EscapeString` write them.
        for (double, single) in [("&quot;", "&#x27;"), ("&#34;", "&#39;")] {
            let mut escaped = String::with_capacity(value.len());
            for c in value.chars() {
                match c {
                    '&' => escaped.push_str("&amp;"),
                    '<' => escaped.push_str("&lt;"),
                    '>' => escaped.push_str("&gt;"),
                    '"' => escaped.push_str(double),
                    '\'' => escaped.push_str(single),
                    other => escaped.push(other),
                }
            }
            push(escaped);
        }
    }
    let encoded = STANDARD.encode(bytes);
    // MIME base64 (Python's `encodebytes`, `openssl base64`): lines of 76 or 64 characters.
    for width in [76, 64] {
        if encoded.len() > width {
            let lines: Vec<&str> = encoded
                .as_bytes()
                .chunks(width)
                .map(|line| std::str::from_utf8(line).unwrap_or_default())
                .collect();
            push(lines.join("\n"));
            push(lines.join("\r\n"));
        }
    }
    push(encoded);
    push(URL_SAFE.encode(bytes));
    for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        for core in base64_cores(engine, bytes) {
            push(core);
        }
    }
    forms
}

/// `%2F` as `%2f`: some encoders write the hex digits in lower case.
fn lower_case_percent(encoded: &str) -> String {
    let mut lowered = String::with_capacity(encoded.len());
    let mut digits = 0;
    for c in encoded.chars() {
        if digits > 0 {
            lowered.push(c.to_ascii_lowercase());
            digits -= 1;
        } else {
            if c == '%' {
                digits = 2;
            }
            lowered.push(c);
        }
    }
    lowered
}

/// The value inside a JSON string as encoders write it: serde's escapes, and those that also
/// escape every non-ASCII character as `\uXXXX` (lower- or upper-case hex, as Python's
/// `json.dumps` and others), `/` as `\/` (PHP), and `<`, `>` and `&` as `\u003c`… (Go).
fn json_forms(value: &str) -> Vec<String> {
    let Ok(quoted) = serde_json::to_string(value) else {
        return Vec::new();
    };
    let escaped = &quoted[1..quoted.len() - 1];
    let mut forms = Vec::new();
    for ascii in [None, Some(false), Some(true)] {
        for slash in [false, true] {
            for html in [false, true] {
                let mut form = String::with_capacity(escaped.len());
                for c in escaped.chars() {
                    match c {
                        '/' if slash => form.push_str("\\/"),
                        '<' | '>' | '&' if html => form.push_str(&format!("\\u{:04x}", c as u32)),
                        c if !c.is_ascii() && ascii.is_some() => {
                            let mut units = [0u16; 2];
                            for unit in c.encode_utf16(&mut units) {
                                if ascii == Some(true) {
                                    form.push_str(&format!("\\u{unit:04X}"));
                                } else {
                                    form.push_str(&format!("\\u{unit:04x}"));
                                }
                            }
                        }
                        c => form.push(c),
                    }
                }
                forms.push(form);
            }
        }
    }
    forms
}

/// The part of the base64 text that is the same wherever the value sits in a longer encoded
/// string, for each of the three byte alignments. Short values have no stable core.
fn base64_cores(engine: &base64::engine::GeneralPurpose, bytes: &[u8]) -> Vec<String> {
    let mut cores = Vec::new();
    // The value after two filler bytes: shifted by 0, 1 or 2 bytes, it starts 2, 1 or 0 in.
    let mut padded = Vec::with_capacity(bytes.len() + 2);
    padded.extend_from_slice(&[0, 0]);
    padded.extend_from_slice(bytes);
    let mut encoded = String::with_capacity(padded.len() / 3 * 4 + 4);
    for shift in 0..3usize {
        let input = &padded[2 - shift..];
        encoded.clear();
        engine.encode_string(input, &mut encoded);
        // Characters covering the leading filler bytes (and the group they share with the
        // value) depend on what precedes the value; so does the final partial group.
        let skip = if shift == 0 { 0 } else { 4 };
        let whole_groups = input.len() / 3 * 4;
        if whole_groups > skip + 4 {
            cores.push(encoded[skip..whole_groups].to_string());
        }
    }
    cores
}

/// Percent-encoding with `+` for a space, as form encoders write it.
fn plus_for_space(value: &str, set: &'static AsciiSet) -> String {
    value
        .split(' ')
        .map(|part| utf8_percent_encode(part, set).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor_with(value: &str) -> Arc<Redactor> {
        let redactor = Redactor::new();
        redactor.register(&SecretString::from(value.to_string()));
        redactor
    }

    #[test]
    fn json_is_masked_value_by_value_keys_and_numbers_included() {
        let redactor = redactor_with("42");
        let value = serde_json::json!({
            "pid": 42,
            "42": "the key is the secret",
            "list": ["x42y", 42, 420],
            "sealed": "age-42-opaque",
        });
        let (masked, any) = redactor.redact_json(value.clone(), &["sealed"], Scalars::Whole);
        assert!(any);
        assert_eq!(
            masked,
            serde_json::json!({
                // A number that is the secret is hidden too: as the mask, a string.
                "pid": "***",
                "***": "the key is the secret",
                "list": ["x***y", "***", 420],
                "sealed": "age-42-opaque",
            })
        );
        // The journal's way: strings only, so a record's own numbers stay numbers.
        let (kept, _) = redactor.redact_json(value, &["sealed"], Scalars::Kept);
        assert_eq!(
            kept,
            serde_json::json!({
                "pid": 42,
                "***": "the key is the secret",
                "list": ["x***y", 42, 420],
                "sealed": "age-42-opaque",
            })
        );
        let (_, any) =
            redactor.redact_json(serde_json::json!({"plain": "text"}), &[], Scalars::Whole);
        assert!(!any);
    }

    #[test]
    fn masks_every_url_encoding_of_a_value() {
        // `-`, `.`, `_`, `~`, `/` and `*` are left as they are by one encoder or another.
        let secret = "P@ss-word/with.all_of~them*and space";
        let redactor = redactor_with(secret);
        let forms = [
            utf8_percent_encode(secret, URI_UNRESERVED).to_string(),
            utf8_percent_encode(secret, JINJA_URLENCODE).to_string(),
            form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>(),
            reqwest::Url::parse_with_params("https://example.test/", [("k", secret)])
                .unwrap()
                .query()
                .unwrap()
                .trim_start_matches("k=")
                .to_string(),
        ];
        for form in forms {
            let line = format!("GET https://example.test/?k={form}&next=1");
            assert_eq!(
                redactor.redact(&line),
                "GET https://example.test/?k=***&next=1",
                "{form}"
            );
        }
    }

    #[test]
    fn masks_raw_and_encoded_forms() {
        let secret = "s3cr3t/value+with spaces\"";
        let redactor = redactor_with(secret);
        let encoded = STANDARD.encode(secret);
        let url = utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string();
        let json = serde_json::to_string(secret).unwrap();
        for text in [
            secret.to_string(),
            encoded,
            url,
            json,
            plus_for_space(secret, NON_ALPHANUMERIC),
        ] {
            let line = format!("before {text} after");
            let redacted = redactor.redact(&line);
            assert!(!redacted.contains(&text), "{text} survived: {redacted}");
        }
    }

    #[test]
    fn masks_base64_of_a_value_embedded_in_a_longer_string() {
        let secret = "cf-secret-value-0123456789abcdef";
        let redactor = redactor_with(secret);
        for prefix in ["", "a", "ab", "client-id:"] {
            let basic = STANDARD.encode(format!("{prefix}{secret}"));
            let redacted = redactor.redact(&basic);
            assert!(redacted.contains(MASK), "prefix {prefix:?}: {redacted}");
            // Whatever survives is too short to recover the secret from.
            assert!(redacted.len() < basic.len());
        }
    }

    /// The forms other encoders write, as Python 3 and Go write them (computed there, not
    /// here): hex, lower-case percent-encoding, `quote` and `quote_plus`, `json.dumps` with its
    /// ASCII escapes, `\/`, Go's `\u003c`, HTML entities.
    #[test]
    fn masks_what_other_encoders_make_of_a_value() {
        let first = r#"ZQ1kv"PW8\jm/TR4+nb=YH6%2Fcs<&>'~GF3xa!"#;
        let second = "Mw4Rt\"Bq7\\Lp/Dk2+Hs=Vn8%2FJc ä€😀<&>'~Xe5Ug\nKy6Wz";
        let redactor = redactor_with(first);
        redactor.register(&SecretString::from(second.to_string()));
        for form in [
            "5a51316b76225057385c6a6d2f5452342b6e623d59483625324663733c263e277e474633786121",
            "5A51316B76225057385C6A6D2F5452342B6E623D59483625324663733C263E277E474633786121",
            "ZQ1kv%22PW8%5Cjm/TR4%2Bnb%3DYH6%252Fcs%3C%26%3E%27~GF3xa%21",
            "ZQ1kv%22PW8%5Cjm%2FTR4%2Bnb%3DYH6%252Fcs%3C%26%3E%27~GF3xa%21",
            "ZQ1kv%22PW8%5cjm%2fTR4%2bnb%3dYH6%252Fcs%3c%26%3e%27~GF3xa%21",
            r#"ZQ1kv\"PW8\\jm\/TR4+nb=YH6%2Fcs<&>'~GF3xa!"#,
            r#"ZQ1kv\"PW8\\jm/TR4+nb=YH6%2Fcs\u003c\u0026\u003e'~GF3xa!"#,
            "ZQ1kv&quot;PW8\\jm/TR4+nb=YH6%2Fcs&lt;&amp;&gt;&#x27;~GF3xa!",
            "ZQ1kv&#34;PW8\\jm/TR4+nb=YH6%2Fcs&lt;&amp;&gt;&#39;~GF3xa!",
            "Mw4Rt%22Bq7%5CLp/Dk2%2BHs%3DVn8%252FJc%20%C3%A4%E2%82%AC%F0%9F%98%80%3C%26%3E%27~Xe5Ug%0AKy6Wz",
            "Mw4Rt%22Bq7%5CLp%2FDk2%2BHs%3DVn8%252FJc+%C3%A4%E2%82%AC%F0%9F%98%80%3C%26%3E%27~Xe5Ug%0AKy6Wz",
            "%5A%51%31%6B%76%22%50%57%38%5C%6A%6D%2F%54%52%34%2B%6E%62%3D%59%48%36%25%32%46%63%73%3C%26%3E%27%7E%47%46%33%78%61%21",
            r#"Mw4Rt\"Bq7\\Lp/Dk2+Hs=Vn8%2FJc \u00e4\u20ac\ud83d\ude00<&>'~Xe5Ug\nKy6Wz"#,
            r#"Mw4Rt\"Bq7\\Lp\/Dk2+Hs=Vn8%2FJc \u00E4\u20AC\uD83D\uDE00<&>'~Xe5Ug\nKy6Wz"#,
        ] {
            let line = format!("error: invalid token {form} (see the docs)");
            assert_eq!(
                redactor.redact(&line),
                "error: invalid token *** (see the docs)",
                "{form}"
            );
        }
    }

    /// Base64 in lines of 76 characters, as Python's `base64.encodebytes` writes it.
    #[test]
    fn masks_base64_wrapped_in_lines() {
        let secret = "u8jzPde0Ig9xLd6G-a-ninety-character-token-abcdefghijklmnopqrstuvwxyz0123456789-ABCDEFGH";
        let redactor = redactor_with(secret);
        let encoded = STANDARD.encode(secret);
        let wrapped = format!("{}\n{}", &encoded[..76], &encoded[76..]);
        assert_eq!(
            redactor.redact(&format!("bad token {wrapped}\n")),
            "bad token ***\n"
        );
    }

    /// The journal masks the strings inside a JSON secret in its own free text, at the top of
    /// a record, not in the values it keeps for a resume, however they are shaped.
    #[test]
    fn a_journal_record_keeps_values_that_equal_a_part_of_a_secret() {
        let redactor = redactor_with(r#"{"id": "token-id-4711", "secret": "inner-secret-1"}"#);
        let record = serde_json::json!({
            "record": "capture",
            "value": {"id": "token-id-4711", "action": "token-id-4711 created"},
            "failures": ["token-id-4711 was refused", "inner-secret-1 leaked"],
        });
        let masked = redactor.redact_record(record, &[]);
        assert_eq!(
            masked,
            serde_json::json!({
                "record": "capture",
                "value": {"id": "token-id-4711", "action": "token-id-4711 created"},
                "failures": ["*** was refused", "*** leaked"],
            })
        );
    }

    #[test]
    fn a_secret_is_masked_without_the_spaces_around_it_too() {
        let redactor = redactor_with("  TrailQ7wSecretVal99 \n");
        assert_eq!(redactor.redact("token TrailQ7wSecretVal99."), "token ***.");
    }

    /// A secret object (a capture of `$.result`, a service-account key): the strings in it are
    /// masked on their own, and so are their forms; short ones and keys are not.
    #[test]
    fn the_strings_inside_a_json_secret_are_masked_on_their_own() {
        let redactor = redactor_with(
            r#"{"id": "tok-1", "ok": "yes", "client_secret": "ObjInner/Secret-K8fW2qZr", "keys": ["nested-value-1"]}"#,
        );
        assert_eq!(
            redactor.redact("secret ObjInner/Secret-K8fW2qZr rejected"),
            "secret *** rejected"
        );
        assert_eq!(redactor.redact("ObjInner%2FSecret-K8fW2qZr"), "***");
        assert_eq!(redactor.redact("[nested-value-1]"), "[***]");
        assert_eq!(
            redactor.redact("client_secret tok-1 yes"),
            "client_secret *** yes"
        );
    }

    #[test]
    fn overlapping_secrets_are_masked_whole() {
        let redactor = redactor_with("abcd-secret-one");
        redactor.register(&SecretString::from("secret-one-efgh".to_string()));
        let redacted = redactor.redact("x abcd-secret-one-efgh y");
        assert_eq!(redacted, "x *** y");
    }

    #[test]
    fn many_secrets_registered_one_by_one_are_all_masked() {
        let redactor = Redactor::new();
        let secrets: Vec<String> = (0..300)
            .map(|n| format!("secret-value-number-{n:04}"))
            .collect();
        for secret in &secrets {
            redactor.register(&SecretString::from(secret.clone()));
        }
        for secret in &secrets {
            assert_eq!(redactor.redact(&format!("[{secret}]")), "[***]");
        }
    }

    /// A secret that happens to equal another's encoded form still gets its own forms.
    #[test]
    fn a_secret_equal_to_another_secrets_form_is_masked_in_all_its_forms() {
        let redactor = redactor_with("a b");
        let second = "a%20b";
        redactor.register(&SecretString::from(second.to_string()));
        let base64 = STANDARD.encode(second);
        assert_eq!(redactor.redact(&format!("[{base64}]")), "[***]");
        assert_eq!(redactor.redact("a%2520b"), "***");
    }

    #[test]
    fn short_long_and_non_ascii_secrets_are_masked_anywhere_in_the_text() {
        let redactor = redactor_with("ab");
        redactor.register(&SecretString::from("pässwörd-✓".to_string()));
        redactor.register(&SecretString::from("abcd".to_string()));
        // Needles sharing a prefix, at the start, the very end, and repeated back to back.
        redactor.register(&SecretString::from("abcdefgh".to_string()));
        assert_eq!(redactor.redact("ab"), "***");
        assert_eq!(redactor.redact("xab"), "x***");
        assert_eq!(redactor.redact("abcdefgh!"), "***!");
        assert_eq!(redactor.redact("-abcdabcd"), "-***");
        assert_eq!(redactor.redact("é pässwörd-✓"), "é ***");
        assert_eq!(redactor.redact("p%C3%A4ssw%C3%B6rd-%E2%9C%93"), "***");
        assert_eq!(
            redactor.redact("nothing here: a b c"),
            "nothing here: a b c"
        );
        assert_eq!(redactor.redact(""), "");
    }

    #[test]
    fn fingerprint_is_short_and_stable() {
        let value = SecretString::from("abc".to_string());
        assert_eq!(fingerprint(&value), "ba7816bf");
    }
}
