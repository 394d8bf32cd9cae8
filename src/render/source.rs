//! Reading template source for display: which parts are text and which are `{{ expression }}`,
//! and whether an expression is a plain name (`new_token_id`, `services.cloudflare`) or a name
//! through one filter (`scope | lower`). The compiled template keeps this to itself, and the
//! renderer and the diff need it from the source the author wrote.

/// A piece of a template, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part<'a> {
    Text(&'a str),
    /// The inside of `{{ … }}`, trimmed.
    Expression(&'a str),
}

/// Splits a template into text and `{{ expression }}` parts; `None` when it uses blocks,
/// comments or whitespace control (`{% … %}`, `{# … #}`, `{{- … -}}`), which only make sense
/// as a whole.
pub fn parts(source: &str) -> Option<Vec<Part<'_>>> {
    if source.contains("{%") || source.contains("{#") {
        return None;
    }
    let mut parts = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(Part::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        let inside = &after[..end];
        if inside.starts_with('-') || inside.ends_with('-') {
            return None;
        }
        parts.push(Part::Expression(inside.trim()));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest));
    }
    Some(parts)
}

/// What an expression reads, for display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reading<'a> {
    /// `a.b.c`.
    Path(Vec<&'a str>),
    /// `a.b | filter`, one filter without arguments.
    Filtered(Vec<&'a str>, &'a str),
    /// Anything else: shown as written.
    Other,
}

pub fn reading(expression: &str) -> Reading<'_> {
    let expression = expression.trim();
    match expression.split_once('|') {
        None => path(expression).map_or(Reading::Other, Reading::Path),
        Some((base, filter)) => {
            let filter = filter.trim();
            match path(base.trim()) {
                Some(parts) if is_identifier(filter) => Reading::Filtered(parts, filter),
                _ => Reading::Other,
            }
        }
    }
}

fn path(expression: &str) -> Option<Vec<&str>> {
    let parts: Vec<&str> = expression.split('.').collect();
    let keyword = matches!(
        parts.first().copied(),
        Some("true" | "false" | "none" | "True" | "False" | "None" | "not")
    );
    (!keyword && parts.iter().all(|part| is_identifier(part))).then_some(parts)
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The source with `{{x}}` and `{{  x }}` written as `{{ x }}`, and runs of whitespace outside
/// quotes inside an expression made one space: spacing inside the braces is formatting.
pub fn normalize_template(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inside = &after[..end];
        let (open, close, inside) = match (inside.strip_prefix('-'), inside.ends_with('-')) {
            _ if inside.trim().is_empty() => ("{{", "}}", inside),
            (Some(stripped), true) => {
                ("{{-", "-}}", stripped.strip_suffix('-').unwrap_or(stripped))
            }
            (Some(stripped), false) => ("{{-", "}}", stripped),
            (None, true) => ("{{", "-}}", inside.strip_suffix('-').unwrap_or(inside)),
            (None, false) => ("{{", "}}", inside),
        };
        out.push_str(open);
        out.push(' ');
        out.push_str(&normalize_expression(inside));
        out.push(' ');
        out.push_str(close);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// An expression with whitespace outside string literals collapsed and trimmed, and one space
/// on each side of a filter bar.
pub fn normalize_expression(expression: &str) -> String {
    let mut out = String::with_capacity(expression.len());
    let mut quote: Option<char> = None;
    let mut pending_space = false;
    for c in expression.trim().chars() {
        match quote {
            Some(open) => {
                out.push(c);
                if c == open {
                    quote = None;
                }
            }
            None if c.is_whitespace() => pending_space = true,
            // A filter bar reads the same with or without spaces around it.
            None if c == '|' => {
                out.push_str(" | ");
                pending_space = false;
            }
            None => {
                if pending_space && !out.ends_with(' ') {
                    out.push(' ');
                }
                pending_space = false;
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

/// Prose compared by its words: line wrapping, indentation and block style are formatting.
pub fn normalize_prose(text: &str) -> String {
    normalize_template(&text.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_text_and_expressions() {
        assert_eq!(
            parts("{{ services.api }}/x/{{id}}").unwrap(),
            vec![
                Part::Expression("services.api"),
                Part::Text("/x/"),
                Part::Expression("id")
            ]
        );
        assert_eq!(parts("{% if a %}b{% endif %}"), None);
    }

    #[test]
    fn reads_paths_and_single_filters() {
        assert_eq!(reading("a.b"), Reading::Path(vec!["a", "b"]));
        assert_eq!(
            reading("scope | lower"),
            Reading::Filtered(vec!["scope"], "lower")
        );
        assert_eq!(reading("a | default('x')"), Reading::Other);
        assert_eq!(reading("true"), Reading::Other);
    }

    #[test]
    fn spacing_inside_braces_is_formatting() {
        assert_eq!(
            normalize_template("{{x}}/{{  a  |  lower }}"),
            "{{ x }}/{{ a | lower }}"
        );
        assert_eq!(normalize_expression("a  ==  'b  c'"), "a == 'b  c'");
        assert_eq!(normalize_expression("a|lower"), "a | lower");
        assert_eq!(normalize_expression("'x|y' | upper"), "'x|y' | upper");
    }
}
