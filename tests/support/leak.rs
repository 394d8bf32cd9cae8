//! The leak scan: no secret, in any form a program might write it in, in an output or a file.
//! A failure says where a secret leaked and in which form, and shows the place with every
//! secret masked: it never prints a secret.

use std::path::Path;

use base64::Engine as _;

/// Every form a secret must never appear in, each with what it is: the raw value, standard and
/// URL-safe base64, percent-encoded and JSON-escaped (the same form twice is listed once).
pub fn secret_forms(secret: &str) -> Vec<(&'static str, String)> {
    let standard = base64::engine::general_purpose::STANDARD;
    let url_safe = base64::engine::general_purpose::URL_SAFE;
    let candidates = [
        ("raw", secret.to_string()),
        ("base64", standard.encode(secret)),
        ("URL-safe base64", url_safe.encode(secret)),
        (
            "percent-encoded",
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
        ),
        (
            "JSON-escaped",
            serde_json::to_string(secret)
                .expect("a string serializes")
                .trim_matches('"')
                .to_string(),
        ),
    ];
    let mut forms: Vec<(&'static str, String)> = Vec::new();
    for (kind, form) in candidates {
        if !forms.iter().any(|(_, known)| *known == form) {
            forms.push((kind, form));
        }
    }
    forms
}

/// Every file under `dir`, recursively, as (its path, its text); none when `dir` does not exist.
pub fn files_under(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                files.push((
                    path.display().to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                ));
            }
        }
    }
    files.sort();
    files
}

/// Asserts that no secret appears, in any of its [`secret_forms`], in any of the texts, given as
/// (where it comes from, the text). The failure lists every leak by place, secret number and form,
/// with an excerpt of the place in which every secret is masked.
#[track_caller]
pub fn assert_no_secret_in<P, T, S>(texts: &[(P, T)], secrets: &[S])
where
    P: AsRef<str>,
    T: AsRef<str>,
    S: AsRef<str>,
{
    let forms: Vec<(usize, &'static str, String)> = secrets
        .iter()
        .enumerate()
        .filter(|(_, secret)| !secret.as_ref().is_empty())
        .flat_map(|(number, secret)| {
            secret_forms(secret.as_ref())
                .into_iter()
                .map(move |(kind, form)| (number + 1, kind, form))
        })
        .collect();
    let mut leaks = Vec::new();
    for (place, text) in texts {
        let text = text.as_ref();
        for (number, kind, form) in &forms {
            if text.contains(form.as_str()) {
                leaks.push(format!(
                    "secret #{number} leaked into {} ({kind}):\n{}",
                    place.as_ref(),
                    masked_excerpt(text, &forms, *number, kind)
                ));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "{} secret leak(s):\n\n{}",
        leaks.len(),
        leaks.join("\n\n")
    );
}

/// The text around the first place secret `number` leaked in form `kind`, with every form of
/// every secret replaced by a marker; nothing when masking left any secret behind.
fn masked_excerpt(
    text: &str,
    forms: &[(usize, &'static str, String)],
    number: usize,
    kind: &str,
) -> String {
    // The longest forms first, so that a form holding a shorter one is masked whole.
    let mut by_length: Vec<&(usize, &'static str, String)> = forms.iter().collect();
    by_length.sort_by_key(|(_, _, form)| std::cmp::Reverse(form.len()));
    let mut masked = text.to_string();
    for (each, each_kind, form) in by_length {
        masked = masked.replace(form.as_str(), &format!("«secret #{each}, {each_kind}»"));
    }
    if forms
        .iter()
        .any(|(_, _, form)| masked.contains(form.as_str()))
    {
        return "    (no excerpt: masking left a secret behind)".to_string();
    }
    let marker = format!("«secret #{number}, {kind}»");
    let at = masked.find(&marker).unwrap_or(0);
    let start = masked.floor_char_boundary(at.saturating_sub(200));
    let end = masked.ceil_char_boundary((at + marker.len() + 200).min(masked.len()));
    format!("    …{}…", &masked[start..end])
}
