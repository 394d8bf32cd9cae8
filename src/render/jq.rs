//! JSONPath to jq, for the captures of a rendered SOP: `$.result.id` is `.result.id`,
//! `$.errors[0].code` is `.errors[0].code`, `$['cf-ray']` is `.["cf-ray"]`. Wildcards, filters,
//! slices and descendants have no one-to-one jq form and are left to a comment.

/// The jq path of a JSONPath made only of names and indexes.
pub fn jq_path(path: &str) -> Option<String> {
    let mut rest = path.trim().strip_prefix('$')?;
    let mut out = String::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            if after.starts_with('.') {
                return None;
            }
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let name = &after[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return None;
            }
            out.push_str(&key(name));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = closing_bracket(after)?;
            let inside = after[..end].trim();
            out.push_str(&selector(inside)?);
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(if out.is_empty() { ".".to_string() } else { out })
}

/// `.name` when jq accepts it bare, else `.["name"]`.
fn key(name: &str) -> String {
    let bare = name
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if bare {
        format!(".{name}")
    } else {
        format!(".[{}]", serde_json::Value::from(name))
    }
}

/// The inside of `[…]`: an index or one quoted name.
fn selector(inside: &str) -> Option<String> {
    if let Ok(index) = inside.parse::<i64>() {
        return Some(format!("[{index}]"));
    }
    let quote = inside.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let body = inside.strip_prefix(quote)?.strip_suffix(quote)?;
    if body.contains('\\') || body.contains(quote) {
        return None;
    }
    Some(key(body))
}

/// Where the bracket closes, outside quotes.
fn closing_bracket(text: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (index, c) in text.char_indices() {
        match quote {
            Some(open) if c == open => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == ']' => return Some(index),
            None => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::jq_path;

    #[test]
    fn names_and_indexes_translate() {
        assert_eq!(jq_path("$.result.id").as_deref(), Some(".result.id"));
        assert_eq!(jq_path("$").as_deref(), Some("."));
        assert_eq!(
            jq_path("$.errors[0].code").as_deref(),
            Some(".errors[0].code")
        );
        assert_eq!(jq_path("$['cf-ray']").as_deref(), Some(r#".["cf-ray"]"#));
    }

    #[test]
    fn wildcards_filters_and_descendants_do_not() {
        assert_eq!(jq_path("$.result[*].id"), None);
        assert_eq!(jq_path("$..id"), None);
        assert_eq!(jq_path("$.result[?@.id == 'x']"), None);
        assert_eq!(jq_path("$.result[0:2]"), None);
    }
}
