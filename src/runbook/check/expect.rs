//! Checking what a step takes from a response (captures) and what it expects of it.

use std::sync::Arc;

use serde_json_path::JsonPath;

use super::names::StepLocals;
use super::{Checker, invalid_regex};
use crate::diagnostic::{Diagnostic, Span};
use crate::runbook::codes;
use crate::runbook::model::{
    Capture, CaptureSource, Comparison, Condition, Expect, HeaderAssertion, JsonAssertion, Path,
    StatusExpectation,
};
use crate::runbook::raw::{RawCapture, RawExpect, RawSecretFlag, RawStatus, RawStep};
use crate::runbook::span::Spanned;

const OPERATORS: &[&str] = &[
    "==", "!=", "<", "<=", ">", ">=", "exists", "length", "matches", "contains",
];

impl Checker {
    pub(super) fn captures(&mut self, raw: &RawStep) -> Option<Vec<Capture>> {
        let mut captures = Vec::new();
        let mut ok = true;
        for (name, spanned) in &raw.capture {
            if !self.capture_name_ok(name, spanned.span) {
                ok = false;
                continue;
            }
            match self.capture(name, spanned) {
                Some(capture) => captures.push(capture),
                None => ok = false,
            }
        }
        if !captures.is_empty() && raw.manual.is_some() {
            self.error(
                Diagnostic::error(
                    codes::INVALID_CAPTURE,
                    "a manual step has no response to capture from",
                )
                .at(self.locate_key(captures[0].span, &captures[0].name))
                .label("nothing to capture")
                .help("capture values in an `http` step"),
            );
            ok = false;
        }
        ok.then_some(captures)
    }

    fn capture(&mut self, name: &str, spanned: &Spanned<RawCapture>) -> Option<Capture> {
        let (source, secret) = match &spanned.value {
            RawCapture::Path(path) => {
                let path = self.json_path(&Spanned::new(path.clone(), spanned.span))?;
                (CaptureSource::Json(path), RawSecretFlag::No)
            }
            RawCapture::Spec(spec) => {
                let given = [
                    spec.json.is_some(),
                    spec.header.is_some(),
                    spec.body == Some(true),
                ];
                if given.iter().filter(|given| **given).count() != 1 {
                    self.error(
                        Diagnostic::error(
                            codes::INVALID_CAPTURE,
                            format!("capture `{name}` needs exactly one source"),
                        )
                        .at(spanned.span)
                        .label("one of json, header, body")
                        .help("say where the value comes from: `json: $.result.id`, `header: ETag` or `body: true`"),
                    );
                    return None;
                }
                let source = if let Some(path) = &spec.json {
                    CaptureSource::Json(self.json_path(path)?)
                } else if let Some(header) = &spec.header {
                    if reqwest::header::HeaderName::from_bytes(header.value.as_bytes()).is_err() {
                        self.error(
                            Diagnostic::error(
                                codes::INVALID_CAPTURE,
                                format!("`{}` is not a valid header name", header.value),
                            )
                            .at(header.span)
                            .label("invalid header name")
                            .help("header names are letters, digits and dashes"),
                        );
                        return None;
                    }
                    CaptureSource::Header(header.value.to_ascii_lowercase())
                } else {
                    CaptureSource::Body
                };
                (source, spec.secret)
            }
        };
        Some(Capture {
            name: name.to_string(),
            source,
            secret: secret.into(),
            span: spanned.span,
        })
    }

    pub(super) fn json_path(&mut self, spanned: &Spanned<String>) -> Option<Path> {
        if let Some(path) = self.json_paths.get(&spanned.value) {
            return Some(Path {
                text: spanned.value.clone(),
                path: path.clone(),
            });
        }
        let (depth, filters) = nesting(&spanned.value);
        if depth > MAX_JSONPATH_NESTING || filters > MAX_JSONPATH_FILTERS {
            let message = if filters > MAX_JSONPATH_FILTERS {
                format!(
                    "this JSONPath nests filters (`[?…]` in `[?…]`) more than {MAX_JSONPATH_FILTERS} deep"
                )
            } else {
                format!(
                    "this JSONPath nests brackets and parentheses more than {MAX_JSONPATH_NESTING} deep"
                )
            };
            self.error(
                Diagnostic::error(codes::INVALID_JSONPATH, message)
                    .at(spanned.span)
                    .label("nested too deep")
                    .help(
                        "write the path flatter, or capture a part first and test it with `that:`",
                    ),
            );
            return None;
        }
        if let Some((pattern, reason)) = bad_function_regex(&spanned.value) {
            // RFC 9535 makes match() and search() false for a pattern that is not valid:
            // the path would then match nothing, silently.
            self.error(
                Diagnostic::error(
                    codes::INVALID_REGEX,
                    format!("the pattern `{pattern}` in this JSONPath is not a valid regex: {reason}"),
                )
                .at(spanned.span)
                .label("match() or search() would be false for every value")
                .help("fix the pattern (no look-around or back-references; see https://docs.rs/regex)"),
            );
            return None;
        }
        match JsonPath::parse(&spanned.value) {
            Ok(path) => {
                let path = Arc::new(path);
                self.json_paths.insert(spanned.value.clone(), path.clone());
                Some(Path {
                    text: spanned.value.clone(),
                    path,
                })
            }
            Err(error) => {
                let reason = error.to_string();
                let reason = reason.lines().next().unwrap_or("").to_string();
                self.error(
                    Diagnostic::error(codes::INVALID_JSONPATH, format!("invalid JSONPath `{}`: {reason}", spanned.value))
                        .at(spanned.span)
                        .label("not a JSONPath")
                        .help("JSONPaths follow RFC 9535 and start at `$`, e.g. `$.result.id` or `$.result[0].name`"),
                );
                None
            }
        }
    }

    pub(super) fn expect(
        &mut self,
        spanned: &Spanned<RawExpect>,
        judging: &StepLocals,
        base: &StepLocals,
    ) -> Expect {
        let raw = &spanned.value;
        let status = raw.status.as_ref().and_then(|status| self.status(status));
        let mut json = Vec::new();
        for (path, condition) in &raw.json {
            let path_span = self.locate_key(condition.span, path);
            let Some(path) = self.json_path(&Spanned::new(path.clone(), path_span)) else {
                continue;
            };
            if let Some(conditions) = self.conditions(condition, base) {
                json.push(JsonAssertion { path, conditions });
            }
        }
        let mut headers = Vec::new();
        for (name, condition) in &raw.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.error(
                    Diagnostic::error(
                        codes::INVALID_CONDITION,
                        format!("`{name}` is not a valid header name"),
                    )
                    .at(self.locate_key(condition.span, name))
                    .label("invalid header name")
                    .help("header names are letters, digits and dashes"),
                );
                continue;
            }
            if let Some(conditions) = self.conditions(condition, base) {
                headers.push(HeaderAssertion {
                    name: name.to_ascii_lowercase(),
                    conditions,
                });
            }
        }
        let that = raw
            .that
            .iter()
            .filter_map(|expression| self.expression(expression, judging))
            .collect();
        Expect {
            status,
            json,
            headers,
            that,
        }
    }

    fn status(&mut self, spanned: &Spanned<RawStatus>) -> Option<StatusExpectation> {
        let valid = |code: i64| (100..=599).contains(&code);
        let invalid = |checker: &mut Checker, what: String| {
            checker.error(
                Diagnostic::error(
                    codes::INVALID_STATUS,
                    format!("invalid expected status {what}"),
                )
                .at(spanned.span)
                .label("not an HTTP status")
                .help("write a code (201), a list ([200, 204]) or a class (2xx)"),
            );
            None
        };
        match &spanned.value {
            RawStatus::Code(code) if valid(*code) => {
                Some(StatusExpectation::Codes(vec![*code as u16]))
            }
            RawStatus::Code(code) => invalid(self, code.to_string()),
            RawStatus::Codes(codes)
                if !codes.is_empty() && codes.iter().all(|code| valid(*code)) =>
            {
                Some(StatusExpectation::Codes(
                    codes.iter().map(|code| *code as u16).collect(),
                ))
            }
            RawStatus::Codes(codes) => invalid(self, format!("{codes:?}")),
            RawStatus::Class(class) => {
                let lower = class.to_ascii_lowercase();
                match lower
                    .strip_suffix("xx")
                    .and_then(|digit| digit.parse::<u16>().ok())
                {
                    Some(digit) if (1..=5).contains(&digit) => {
                        Some(StatusExpectation::Class(digit))
                    }
                    _ => invalid(self, format!("`{class}`")),
                }
            }
        }
    }

    /// A condition: a plain value means equality; a map holds operators.
    fn conditions(
        &mut self,
        spanned: &Spanned<serde_json::Value>,
        locals: &StepLocals,
    ) -> Option<Vec<Condition>> {
        match &spanned.value {
            serde_json::Value::Object(operators) => self.operators(operators, spanned.span, locals),
            other => self
                .json_template(other, spanned.span, locals)
                .map(|operand| vec![Condition::Compare(Comparison::Equal, operand)]),
        }
    }

    fn operators(
        &mut self,
        operators: &serde_json::Map<String, serde_json::Value>,
        span: Span,
        locals: &StepLocals,
    ) -> Option<Vec<Condition>> {
        if operators.is_empty() {
            self.error(
                Diagnostic::error(codes::INVALID_CONDITION, "the condition is empty")
                    .at(span)
                    .label("no operator")
                    .help("write a value to compare with, or operators such as {\"==\": 1} or {exists: true}"),
            );
            return None;
        }
        let mut conditions = Vec::new();
        let mut ok = true;
        for (operator, operand) in operators {
            let condition = self.operator(operator, operand, span, locals);
            match condition {
                Some(condition) => conditions.push(condition),
                None => ok = false,
            }
        }
        ok.then_some(conditions)
    }

    fn operator(
        &mut self,
        operator: &str,
        operand: &serde_json::Value,
        span: Span,
        locals: &StepLocals,
    ) -> Option<Condition> {
        // The operator is a key inside the mapping that starts at `span`.
        let here = self
            .source
            .text
            .get(span.offset..)
            .and_then(|rest| rest.find(operator))
            .map_or(span, |found| Span::new(span.offset + found, operator.len()));
        let wrong = |checker: &mut Checker, message: String, help: &str| {
            checker.error(
                Diagnostic::error(codes::INVALID_CONDITION, message)
                    .at(here)
                    .label("here")
                    .help(help.to_string()),
            );
            None
        };
        if let Some(comparison) = Comparison::from_operator(operator) {
            let ordered = !matches!(comparison, Comparison::Equal | Comparison::NotEqual);
            if ordered
                && !(operand.is_number()
                    || operand.as_str().is_some_and(|text| text.contains("{{")))
            {
                return wrong(
                    self,
                    format!("`{operator}` compares numbers, not {operand}"),
                    "give a number, e.g. {\">\": 0}",
                );
            }
            return self
                .json_template(operand, span, locals)
                .map(|operand| Condition::Compare(comparison, operand));
        }
        match operator {
            "exists" => match operand.as_bool() {
                Some(exists) => Some(Condition::Exists(exists)),
                None => wrong(
                    self,
                    "`exists` takes true or false".into(),
                    "write exists: true (the path matches) or exists: false",
                ),
            },
            "length" => {
                let nested = Spanned::new(operand.clone(), span);
                match operand {
                    serde_json::Value::Number(_) | serde_json::Value::Object(_) => {
                        self.conditions(&nested, locals).map(Condition::Length)
                    }
                    _ => wrong(
                        self,
                        "`length` takes a number or a condition".into(),
                        "write length: 1, or length: {\">\": 0}",
                    ),
                }
            }
            "matches" => match operand.as_str() {
                Some(pattern) => match self.regex(pattern) {
                    Ok(regex) => Some(Condition::Matches(regex)),
                    Err(error) => {
                        let diagnostic =
                            invalid_regex(&Spanned::new(pattern.to_string(), here), &error);
                        self.error(diagnostic);
                        None
                    }
                },
                None => wrong(
                    self,
                    "`matches` takes a regular expression".into(),
                    "write matches: \"^raxx-\"",
                ),
            },
            "contains" => self
                .json_template(operand, span, locals)
                .map(Condition::Contains),
            other => {
                let suggestion = crate::suggest::did_you_mean(other, OPERATORS.iter().copied())
                    .map(|found| format!(" (did you mean `{found}`?)"))
                    .unwrap_or_default();
                wrong(
                    self,
                    format!("unknown operator `{other}`{suggestion}"),
                    &format!(
                        "operators: {}; to compare with an object, write {{\"==\": {{...}}}}",
                        OPERATORS.join(", ")
                    ),
                )
            }
        }
    }
}

/// How deep a JSONPath may nest `[…]` and `(…)`. Its parser recurses once per level, and some
/// hundreds of levels overflow the stack, which aborts the process instead of giving an error;
/// real paths nest two or three deep.
const MAX_JSONPATH_NESTING: usize = 64;

/// How deep a JSONPath may nest filters (`[?…]` inside `[?…]`). Its parser backtracks over
/// each nested filter, so the time to parse one grows fourfold per level: 22 levels take
/// seconds, 30 would take days.
const MAX_JSONPATH_FILTERS: usize = 8;

/// The first pattern given to `match()` or `search()` as a string literal in `path` that is
/// not a valid regex, with why.
fn bad_function_regex(path: &str) -> Option<(String, String)> {
    let bytes = path.as_bytes();
    let mut at = 0;
    let mut quote: Option<u8> = None;
    while at < bytes.len() {
        let byte = bytes[at];
        match quote {
            Some(open) => {
                if byte == b'\\' {
                    at += 1;
                } else if byte == open {
                    quote = None;
                }
            }
            None if byte == b'\'' || byte == b'"' => quote = Some(byte),
            None => {
                let rest = &path[at..];
                let call = ["match(", "search("]
                    .iter()
                    .find(|name| rest.starts_with(**name));
                let word_start =
                    at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
                if let Some(name) = call.filter(|_| word_start)
                    && let Some(pattern) = second_string_argument(&rest[name.len()..])
                    && let Err(error) = regex::Regex::new(&pattern)
                {
                    let reason = error.to_string();
                    let reason = reason.lines().last().unwrap_or_default().trim();
                    let reason = reason.trim_start_matches("error: ").to_string();
                    return Some((pattern, reason));
                }
            }
        }
        at += 1;
    }
    None
}

/// The second argument of a function call whose arguments start `arguments`, when it is a
/// string literal, unescaped.
fn second_string_argument(arguments: &str) -> Option<String> {
    let bytes = arguments.as_bytes();
    let (mut depth, mut quote, mut at) = (0usize, None::<u8>, 0);
    // Past the first argument: the comma outside strings and brackets.
    while at < bytes.len() {
        let byte = bytes[at];
        match quote {
            Some(_) if byte == b'\\' => at += 1,
            Some(open) if byte == open => quote = None,
            Some(_) => {}
            None => match byte {
                b'\'' | b'"' => quote = Some(byte),
                b'(' | b'[' => depth += 1,
                b')' | b']' if depth == 0 => return None,
                b')' | b']' => depth -= 1,
                b',' if depth == 0 => break,
                _ => {}
            },
        }
        at += 1;
    }
    let rest = arguments.get(at + 1..)?.trim_start();
    let open = *rest.as_bytes().first()?;
    if open != b'\'' && open != b'"' {
        return None;
    }
    let mut pattern = String::new();
    let mut chars = rest[1..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                'n' => pattern.push('\n'),
                't' => pattern.push('\t'),
                other @ ('\'' | '"' | '/' | '\\') => pattern.push(other),
                other => {
                    pattern.push('\\');
                    pattern.push(other);
                }
            },
            c if c as u32 == u32::from(open) => return Some(pattern),
            c => pattern.push(c),
        }
    }
    None
}

/// How deep a JSONPath nests, outside its string literals: (brackets and parentheses, filters).
fn nesting(path: &str) -> (usize, usize) {
    // One entry per open bracket or parenthesis: whether it holds a filter.
    let mut open: Vec<bool> = Vec::new();
    let (mut deepest, mut filters, mut deepest_filters) = (0, 0, 0);
    let mut quote = None;
    let mut escaped = false;
    for character in path.chars() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if character == '\\' => escaped = true,
            Some(close) if character == close => quote = None,
            Some(_) => {}
            None => match character {
                '\'' | '"' => quote = Some(character),
                '[' | '(' => {
                    open.push(false);
                    deepest = deepest.max(open.len());
                }
                ']' | ')' if open.pop() == Some(true) => filters -= 1,
                '?' => {
                    if let Some(innermost) = open.last_mut()
                        && !*innermost
                    {
                        *innermost = true;
                        filters += 1;
                        deepest_filters = deepest_filters.max(filters);
                    }
                }
                _ => {}
            },
        }
    }
    (deepest, deepest_filters)
}

#[cfg(test)]
mod tests {
    use super::nesting;

    #[test]
    fn nesting_counts_brackets_and_filters_outside_strings() {
        assert_eq!(nesting("$.result.id"), (0, 0));
        assert_eq!(nesting("$.a[0][1]"), (1, 0));
        assert_eq!(nesting("$[?@.a[?(@.b == 1)]]"), (3, 2));
        assert_eq!(nesting("$[?@.a][?@.b][?@.c]"), (1, 1));
        assert_eq!(nesting("$['[[[?', \"]]\\\"[[\"]"), (1, 0));
        // Unbalanced closers do not underflow.
        assert_eq!(nesting("$]]])[?@.a]"), (1, 1));
    }
}
