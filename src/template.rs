//! The template environment: every template and expression of a runbook is compiled once, when
//! the runbook is checked, with strict undefined and no auto-escaping.
//!
//! A [`Template`] renders to text (`"{{ services.cloudflare }}/user/tokens"`); an [`Expression`]
//! evaluates to a value (`when: secret_name == 'CF_PAGES_READ'`). Both record the names they use,
//! which is how `check` finds undefined variables, how the plan lists what a step uses, and how
//! a rendered value is known to carry a secret.
//!
//! Expressions are stored as templates of the form `{% set __value = (EXPR) %}` and read back
//! from the template's state: that keeps them in the one compiled environment instead of a
//! self-referential structure borrowing it.
//!
//! Most templates in a runbook are plain substitutions (`{{ services.api }}/tokens/{{ id }}`)
//! and most expressions a bare name (`when: is_pages_read`). Those are compiled to a list of
//! segments and rendered by lookup, with the same strict-undefined rule and the same text for
//! each value, without a minijinja program each: a 1,000-step runbook then checks in a few
//! milliseconds and renders without an interpreter in the loop.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use minijinja::value::{Object, Value};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use sha2::{Digest, Sha256};

use crate::diagnostic::Span;

/// The name expressions assign their value to inside their wrapper template.
const EXPRESSION_SLOT: &str = "__value";
/// The most tokens (names, values, operators and brackets) one `{{ … }}`, `{% … %}` or
/// expression may hold. minijinja's parser bounds the nesting of statements and brackets,
/// but not chains of operators, filters, calls or subscripts (`1+1+…`, `x|f|f…`, `-----1`):
/// its code generator recurses once per link, and a chain of a few thousand overflows the
/// stack, which aborts the process instead of giving an error. Real expressions hold tens.
const MAX_EXPRESSION_TOKENS: usize = 1000;

/// The fuel of one rendering: about one per instruction and one per 64 bytes built, so about
/// a million steps or 64 MB. Real templates use hundreds.
const TEMPLATE_FUEL: u64 = 1_000_000;

const EXPRESSION_PREFIX: &str = "{% set __value = (";

thread_local! {
    /// While a template that reads a secret renders: the text of each `{{ … }}` it writes.
    static EMITTED: std::cell::RefCell<Option<Vec<String>>> = const { std::cell::RefCell::new(None) };
    /// What `| fingerprint` has written: made from a secret, meant to be shown.
    static FINGERPRINTS: std::cell::RefCell<std::collections::HashSet<String>> =
        std::cell::RefCell::new(std::collections::HashSet::new());
}

/// Notes a value a `{{ … }}` writes, if a template that reads a secret is rendering: a string,
/// or the strings in a list or a map.
fn note_emitted(value: &Value) {
    EMITTED.with(|emitted| {
        let mut emitted = emitted.borrow_mut();
        let Some(emitted) = emitted.as_mut() else {
            return;
        };
        strings_of(value, &mut |text| emitted.push(text.to_string()));
    });
}

/// Each string in `value`: itself, or those in a list or map, two levels deep.
fn strings_of(value: &Value, found: &mut impl FnMut(&str)) {
    fn walk(value: &Value, depth: usize, found: &mut impl FnMut(&str)) {
        use minijinja::value::ValueKind;
        match value.kind() {
            ValueKind::String => found(value.as_str().unwrap_or_default()),
            ValueKind::Seq | ValueKind::Map if depth < 2 => {
                if let Ok(items) = value.try_iter() {
                    for item in items {
                        let inner = if value.kind() == ValueKind::Map {
                            value.get_item(&item).unwrap_or_default()
                        } else {
                            item
                        };
                        walk(&inner, depth + 1, found);
                    }
                }
            }
            _ => {}
        }
    }
    walk(value, 0, found);
}

/// Puts back what [`EMITTED`] held before a rendering, also when the rendering panics.
struct RestoreEmitted(Option<Vec<String>>);

impl Drop for RestoreEmitted {
    fn drop(&mut self) {
        let outer = self.0.take();
        EMITTED.with(|emitted| *emitted.borrow_mut() = outer);
    }
}

/// The shortest value made from a secret that is masked: shorter ones (`yes`, `1`) would mask
/// ordinary text everywhere.
const SHORTEST_DERIVED: usize = 4;

/// Where values made from secrets are reported, and which names hold secrets.
struct Watch {
    redactor: Arc<crate::secret::Redactor>,
    secrets: BTreeSet<String>,
}
const EXPRESSION_SUFFIX: &str = ") %}";

/// An error compiling or rendering a template, with the byte range inside the template source
/// when minijinja knows it.
#[derive(Clone, Debug)]
pub struct TemplateError {
    pub message: String,
    pub range: Option<std::ops::Range<usize>>,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl TemplateError {
    fn from_minijinja(error: &minijinja::Error, shift: usize, source_len: usize) -> TemplateError {
        let message = match error.detail() {
            Some(detail) => format!("{}: {detail}", kind_text(error.kind())),
            None => kind_text(error.kind()).to_string(),
        };
        let range = error.range().map(|range| {
            let start = range.start.saturating_sub(shift).min(source_len);
            let end = range.end.saturating_sub(shift).clamp(start, source_len);
            start..end
        });
        TemplateError { message, range }
    }
}

fn kind_text(kind: minijinja::ErrorKind) -> &'static str {
    use minijinja::ErrorKind::*;
    match kind {
        SyntaxError => "syntax error",
        UndefinedError => "undefined value",
        InvalidOperation => "invalid operation",
        UnknownFilter => "unknown filter",
        UnknownTest => "unknown test",
        UnknownFunction => "unknown function",
        UnknownMethod => "unknown method",
        MissingArgument => "missing argument",
        TooManyArguments => "too many arguments",
        BadEscape => "bad string escape",
        CannotUnpack => "cannot unpack",
        BadSerialization => "cannot represent the value",
        OutOfFuel => {
            "the template does too much: one rendering may take about a million steps or build about 64 MB"
        }
        _ => "template error",
    }
}

/// Collects templates while a runbook is checked; [`TemplateSet::finish`] freezes them.
pub struct TemplateSet {
    env: Environment<'static>,
    count: usize,
    globals: BTreeSet<String>,
    /// What each source compiled to: a runbook repeats the same templates (`{{ services.api
    /// }}/...`, `{{ token }}`) and expressions many times, and each is compiled once.
    /// (Hashed with foldhash: looked up for every template of every step.)
    templates: HashMap<String, Template, foldhash::fast::RandomState>,
    expressions: HashMap<String, Expression, foldhash::fast::RandomState>,
    /// Whether each filter (`false`) or test (`true`) name asked about exists.
    known: HashMap<(String, bool), bool, foldhash::fast::RandomState>,
}

impl Default for TemplateSet {
    fn default() -> Self {
        TemplateSet::new()
    }
}

impl TemplateSet {
    pub fn new() -> TemplateSet {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Runbooks render URLs, headers and JSON, never HTML: no escaping, whatever the name.
        env.set_auto_escape_callback(|_| AutoEscape::None);
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        env.set_recursion_limit(64);
        // Bounds each rendering's time and memory: `'a' * 100000000 ~ …` or a loop in a loop
        // would otherwise hold the run (and hundreds of MB) until it is killed.
        env.set_fuel(Some(TEMPLATE_FUEL));
        // Notes what each `{{ … }}` writes while a template that reads a secret renders (see
        // `Templates::watch_secrets`); writes it as the default formatter does.
        env.set_formatter(|out, state, value| {
            note_emitted(value);
            minijinja::escape_formatter(out, state, value)
        });
        env.add_filter("b64encode", |value: String| {
            base64::engine::general_purpose::STANDARD.encode(value)
        });
        env.add_filter("sha256", |value: String| {
            format!("{:x}", Sha256::digest(value.as_bytes()))
        });
        env.add_filter("fingerprint", |value: String| {
            let fingerprint = crate::secret::fingerprint_text(&value);
            FINGERPRINTS.with(|shown| shown.borrow_mut().insert(fingerprint.clone()));
            fingerprint
        });
        let globals = env.globals().map(|(name, _)| name.to_string()).collect();
        TemplateSet {
            env,
            count: 0,
            known: HashMap::default(),
            globals,
            templates: HashMap::default(),
            expressions: HashMap::default(),
        }
    }

    /// Compiles a template. A string without template syntax stays a literal.
    pub fn template(&mut self, source: &str) -> Result<Template, TemplateError> {
        if let Some(template) = self.templates.get(source) {
            return Ok(template.clone());
        }
        let template = self.compile_template(source)?;
        self.templates.insert(source.to_string(), template.clone());
        Ok(template)
    }

    fn compile_template(&mut self, source: &str) -> Result<Template, TemplateError> {
        if !has_template_syntax(source) {
            return Ok(Template {
                source: source.into(),
                body: Body::Literal,
                uses: Arc::default(),
                span: Span::default(),
            });
        }
        if let Some(segments) = simple_segments(source) {
            let uses = Arc::new(segment_uses(&segments));
            return Ok(Template {
                source: source.into(),
                body: Body::Simple(segments.into()),
                uses,
                span: Span::default(),
            });
        }
        let tags = tags(source);
        if let Some(tag) = first_overlong(&tags) {
            return Err(overlong(tag.range.clone(), tag.kind));
        }
        let name = self.next_name("t");
        self.env
            .add_template_owned(name.to_string(), source.to_string())
            .map_err(|error| TemplateError::from_minijinja(&error, 0, source.len()))?;
        for tag in &tags {
            self.check_names(source, &tag.tokens)?;
        }
        let uses = self.uses_of(&name, source);
        Ok(Template {
            source: source.into(),
            body: Body::Compiled(name),
            uses,
            span: Span::default(),
        })
    }

    /// Compiles an expression (no braces).
    pub fn expression(&mut self, source: &str) -> Result<Expression, TemplateError> {
        if let Some(expression) = self.expressions.get(source) {
            return Ok(expression.clone());
        }
        let expression = self.compile_expression(source)?;
        self.expressions
            .insert(source.to_string(), expression.clone());
        Ok(expression)
    }

    fn compile_expression(&mut self, source: &str) -> Result<Expression, TemplateError> {
        if source.trim().is_empty() {
            return Err(TemplateError {
                message: "the expression is empty".into(),
                range: None,
            });
        }
        if let Some(path) = simple_path(source.trim()) {
            let uses = Arc::new(segment_uses(&[Segment::Path(path.clone())]));
            return Ok(Expression {
                source: source.into(),
                body: ExpressionBody::Path(path),
                uses,
                span: Span::default(),
            });
        }
        let mut tokens = Vec::new();
        walk_tokens(source, None, &mut |token| tokens.push(token));
        if tokens.len() > MAX_EXPRESSION_TOKENS {
            return Err(overlong(0..source.len(), "expression"));
        }
        let name = self.next_name("e");
        let wrapped = format!("{EXPRESSION_PREFIX}{source}{EXPRESSION_SUFFIX}");
        self.env
            .add_template_owned(name.to_string(), wrapped.clone())
            .map_err(|error| {
                TemplateError::from_minijinja(&error, EXPRESSION_PREFIX.len(), source.len())
            })?;
        self.check_names(source, &tokens)?;
        let mut uses = self.uses_of(&name, &wrapped);
        Arc::make_mut(&mut uses).remove(EXPRESSION_SLOT);
        Ok(Expression {
            source: source.into(),
            body: ExpressionBody::Compiled(name),
            uses,
            span: Span::default(),
        })
    }

    /// If `source` is exactly one `{{ expression }}`, compiles that expression so a JSON body
    /// keeps the value's type (`count: "{{ n }}"` sends a number).
    pub fn native(&mut self, source: &str) -> Option<Result<Expression, TemplateError>> {
        let trimmed = source.trim();
        let inner = trimmed.strip_prefix("{{")?.strip_suffix("}}")?;
        let inner = inner.strip_prefix('-').unwrap_or(inner);
        let inner = inner.strip_suffix('-').unwrap_or(inner);
        if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
            return None;
        }
        Some(self.expression(inner.trim()))
    }

    pub fn finish(self) -> Templates {
        Templates {
            env: Arc::new(self.env),
            watch: Arc::default(),
        }
    }

    fn next_name(&mut self, prefix: &str) -> Arc<str> {
        self.count += 1;
        format!("{prefix}{}", self.count).into()
    }

    /// Every name the template reads from its context, top-level and dotted (`services.x`),
    /// without the environment's own globals (`range`, `dict`, ...).
    ///
    /// minijinja does not count the value a slice is taken of (`token[:8]`) as read; a copy of
    /// the source with each slice written as an item lookup (`token[((),(8))]`) is analysed
    /// too, so a secret cut short still counts as that secret.
    fn uses_of(&mut self, name: &str, source: &str) -> Arc<BTreeSet<String>> {
        let mut uses = self.names_read(name);
        if let Some(rewritten) = slices_as_items(source) {
            let analysis = self.next_name("slices");
            if self
                .env
                .add_template_owned(analysis.to_string(), rewritten)
                .is_ok()
            {
                uses.extend(self.names_read(&analysis));
                self.env.remove_template(&analysis);
            }
        }
        Arc::new(uses)
    }

    /// Refuses a filter or test minijinja does not have (`| lenght`): it would only fail when
    /// the template renders, in the middle of a run. `tokens` are one tag's or expression's.
    fn check_names(
        &mut self,
        source: &str,
        tokens: &[std::ops::Range<usize>],
    ) -> Result<(), TemplateError> {
        for (at, name, test) in filter_and_test_names(source, tokens) {
            let probe = if test {
                format!("{{{{ none is {name} }}}}")
            } else {
                format!("{{{{ none | {name} }}}}")
            };
            let env = &self.env;
            let exists = *self.known.entry((name.clone(), test)).or_insert_with(|| {
                !env.render_str(&probe, ()).is_err_and(|error| {
                    matches!(
                        error.kind(),
                        minijinja::ErrorKind::UnknownFilter | minijinja::ErrorKind::UnknownTest
                    )
                })
            });
            if !exists {
                let kind = if test { "test" } else { "filter" };
                return Err(TemplateError {
                    message: format!(
                        "unknown {kind} `{name}` (the filters and tests are minijinja's, plus `fingerprint`, `b64encode` and `sha256`)"
                    ),
                    range: Some(at..at + name.len()),
                });
            }
        }
        Ok(())
    }

    fn names_read(&self, name: &str) -> BTreeSet<String> {
        let Ok(template) = self.env.get_template(name) else {
            return BTreeSet::new();
        };
        let top: BTreeSet<String> = template
            .undeclared_variables(false)
            .into_iter()
            .filter(|variable| !self.globals.contains(variable))
            .collect();
        let nested = template
            .undeclared_variables(true)
            .into_iter()
            .filter(|variable| variable.contains('.'));
        top.into_iter().chain(nested).collect()
    }
}

/// Each filter (`| name`, `{% filter name %}`) and test (`is name`, `is not name`) named by
/// `tokens` of `source`, with its offset and whether it is a test.
fn filter_and_test_names(
    source: &str,
    tokens: &[std::ops::Range<usize>],
) -> Vec<(usize, String, bool)> {
    let text = |index: usize| tokens.get(index).map_or("", |range| &source[range.clone()]);
    let is_name = |index: usize| {
        text(index)
            .bytes()
            .next()
            .is_some_and(|byte| byte.is_ascii_alphabetic() || byte == b'_')
    };
    let mut names = Vec::new();
    for index in 0..tokens.len() {
        let (name, test) = match text(index) {
            // `a || b` is no filter (minijinja refuses it anyway).
            "|" if text(index + 1) != "|" && (index == 0 || text(index - 1) != "|") => {
                (index + 1, false)
            }
            "filter" if index == 0 => (index + 1, false),
            "is" if text(index + 1) == "not" => (index + 2, true),
            "is" => (index + 1, true),
            _ => continue,
        };
        if is_name(name) {
            names.push((tokens[name].start, text(name).to_string(), test));
        }
    }
    names
}

fn has_template_syntax(source: &str) -> bool {
    source.contains("{{") || source.contains("{%") || source.contains("{#")
}

/// A piece of a plain-substitution template.
#[derive(Debug)]
enum Segment {
    Text(String),
    /// `{{ a.b.c }}`: a name and attributes.
    Path(Vec<String>),
}

/// Splits a template made only of text and `{{ name.attribute }}` substitutions; `None` when it
/// uses anything else (filters, tests, blocks, comments, whitespace control).
fn simple_segments(source: &str) -> Option<Vec<Segment>> {
    if source.contains("{%") || source.contains("{#") {
        return None;
    }
    let mut segments = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            segments.push(Segment::Text(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        segments.push(Segment::Path(simple_path(after[..end].trim())?));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        segments.push(Segment::Text(rest.to_string()));
    }
    Some(segments)
}

/// `source` with every slice inside `{{ }}` and `{% %}` (`x[a:b]`, `x[:8]`) written as an item
/// lookup with a tuple (`x[((a),(b))]`, `x[((),(8))]`), for name analysis only; `None` when
/// there is no slice.
fn slices_as_items(source: &str) -> Option<String> {
    if !source.contains('[') || !source.contains(':') {
        return None;
    }
    let bytes = source.as_bytes();
    // (position of `[`, positions of its top-level colons) for each slice found.
    let mut slices: Vec<(usize, usize, Vec<usize>)> = Vec::new();
    let mut open: Vec<(u8, usize, Vec<usize>)> = Vec::new();
    let mut in_tag = false;
    let mut quote: Option<u8> = None;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let next = bytes.get(index + 1).copied();
        if !in_tag {
            if byte == b'{' && matches!(next, Some(b'{' | b'%')) {
                in_tag = true;
                index += 1;
            }
        } else if let Some(delimiter) = quote {
            if byte == b'\\' {
                index += 1;
            } else if byte == delimiter {
                quote = None;
            }
        } else {
            match byte {
                b'"' | b'\'' => quote = Some(byte),
                b'[' | b'(' | b'{' => open.push((byte, index, Vec::new())),
                b':' => {
                    if let Some((b'[', _, colons)) = open.last_mut() {
                        colons.push(index);
                    }
                }
                b']' | b')' => {
                    if let Some((kind, start, colons)) = open.pop()
                        && kind == b'['
                        && byte == b']'
                        && !colons.is_empty()
                    {
                        slices.push((start, index, colons));
                    }
                }
                b'}' if open.last().is_some_and(|(kind, _, _)| *kind == b'{') => {
                    open.pop();
                }
                b'}' | b'%' if next == Some(b'}') => {
                    in_tag = false;
                    open.clear();
                    index += 1;
                }
                _ => {}
            }
        }
        index += 1;
    }
    if slices.is_empty() {
        return None;
    }
    // Inner slices end first: rewrite from the last position back, so earlier ones keep theirs.
    let mut cuts: Vec<(usize, &str)> = Vec::new();
    for (start, end, colons) in &slices {
        // Each part in parentheses, so an empty one is an empty tuple: `[:8]` -> `[((),(8))]`.
        cuts.push((*start, "[(("));
        for colon in colons {
            cuts.push((*colon, "),("));
        }
        cuts.push((*end, "))]"));
    }
    cuts.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    let mut rewritten = source.to_string();
    for (at, with) in cuts {
        rewritten.replace_range(at..at + 1, with);
    }
    Some(rewritten)
}

/// `a.b.c` as its parts, when every part is an identifier and the first is not a keyword.
fn simple_path(expression: &str) -> Option<Vec<String>> {
    let parts: Vec<String> = expression.split('.').map(str::to_string).collect();
    let identifier = |part: &String| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let keyword = matches!(
        parts.first().map(String::as_str),
        Some(
            "true"
                | "false"
                | "none"
                | "True"
                | "False"
                | "None"
                | "not"
                | "loop"
                | "self"
                | "super"
                | "range"
                | "dict"
                | "namespace"
        )
    );
    (!keyword && parts.iter().all(identifier)).then_some(parts)
}

/// The names a list of segments reads: each top-level name and each dotted path.
fn segment_uses(segments: &[Segment]) -> BTreeSet<String> {
    let mut uses = BTreeSet::new();
    for segment in segments {
        if let Segment::Path(parts) = segment {
            uses.insert(parts[0].clone());
            if parts.len() > 1 {
                uses.insert(parts.join("."));
            }
        }
    }
    uses
}

/// Looks a path up like minijinja does (an attribute, or an item of a map), strictly.
fn lookup(path: &[String], scope: &Scope) -> Result<Value, TemplateError> {
    let undefined = |shown: &str| TemplateError {
        message: format!("undefined value: `{shown}` is not defined"),
        range: None,
    };
    let mut value = scope.get(&path[0]).ok_or_else(|| undefined(&path[0]))?;
    for (depth, attribute) in path.iter().enumerate().skip(1) {
        value = match value.get_attr(attribute) {
            Ok(found) if !found.is_undefined() => found,
            _ => return Err(undefined(&path[..=depth].join("."))),
        };
    }
    if value.is_undefined() {
        return Err(undefined(&path.join(".")));
    }
    Ok(value)
}

/// The frozen environment holding every compiled template of a runbook.
#[derive(Clone)]
pub struct Templates {
    env: Arc<Environment<'static>>,
    watch: Arc<std::sync::OnceLock<Watch>>,
}

impl Templates {
    /// From now on, every value a template or expression that reads a secret makes of it
    /// (`{{ token | lower }}`, `{{ key | replace('\\n', '') }}`) is masked wherever it is shown,
    /// like the secret itself: a server that echoes it, or an expectation that quotes it,
    /// would show it otherwise. `secrets` are the names that hold secrets.
    pub fn watch_secrets(&self, redactor: Arc<crate::secret::Redactor>, secrets: BTreeSet<String>) {
        let _ = self.watch.set(Watch { redactor, secrets });
    }

    /// The watch, when `uses` reads a secret.
    fn watching(&self, uses: &BTreeSet<String>) -> Option<&Watch> {
        self.watch.get().filter(|watch| {
            uses.iter().any(|name| {
                watch
                    .secrets
                    .contains(name.split('.').next().unwrap_or(name))
            })
        })
    }

    /// Runs `render` noting what its `{{ … }}` write, and masks those values from then on when
    /// `uses` reads a secret (see [`Watch::derived`] for what is left out).
    fn rendering<T>(
        &self,
        uses: &BTreeSet<String>,
        scope: &Scope,
        render: impl FnOnce() -> T,
    ) -> T {
        let Some(watch) = self.watching(uses) else {
            return render();
        };
        let (result, emitted) = {
            let _restore =
                RestoreEmitted(EMITTED.with(|emitted| emitted.replace(Some(Vec::new()))));
            let result = render();
            let emitted = EMITTED
                .with(|emitted| emitted.borrow_mut().take())
                .unwrap_or_default();
            (result, emitted)
        };
        for value in emitted {
            watch.derived(&value, uses, scope);
        }
        result
    }
}

impl Watch {
    /// Masks `value`, written by a template or expression that reads a secret and uses
    /// `uses`, from now on, unless it is plainly not made of the secret: shorter than
    /// [`SHORTEST_DERIVED`]; a number, `true`, `false` or `null` in words; the value of a
    /// plain name the template also reads (`{{ run_id }}`, `{{ services.api }}`); or what
    /// `| fingerprint` wrote, which is meant to be shown.
    fn derived(&self, value: &str, uses: &BTreeSet<String>, scope: &Scope) {
        if value.chars().count() < SHORTEST_DERIVED
            || serde_json::from_str::<serde_json::Value>(value)
                .is_ok_and(|json| !json.is_string() && !json.is_array() && !json.is_object())
            || FINGERPRINTS.with(|shown| shown.borrow().contains(value))
        {
            return;
        }
        let plain = uses
            .iter()
            .filter(|name| {
                !self
                    .secrets
                    .contains(name.split('.').next().unwrap_or(name))
            })
            .any(|name| {
                let path: Vec<String> = name.split('.').map(str::to_string).collect();
                lookup(&path, scope).is_ok_and(|bound| bound.as_str() == Some(value))
            });
        if !plain {
            self.redactor.register_derived(value);
        }
    }
}

impl fmt::Debug for Templates {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Templates")
    }
}

/// A compiled template.
#[derive(Clone, Debug)]
pub struct Template {
    source: Arc<str>,
    body: Body,
    uses: Arc<BTreeSet<String>>,
    /// Where it is written in the runbook file.
    span: Span,
}

#[derive(Clone, Debug)]
enum Body {
    /// No template syntax: renders to its source.
    Literal,
    /// Text and `{{ path }}` substitutions, rendered by lookup.
    Simple(Arc<[Segment]>),
    /// Anything else: a template in the environment, by name.
    Compiled(Arc<str>),
}

impl Template {
    pub fn literal(text: &str) -> Template {
        Template {
            source: text.into(),
            body: Body::Literal,
            uses: Arc::default(),
            span: Span::default(),
        }
    }

    /// The same template, noted as written at `span`.
    pub fn at(mut self, span: Span) -> Template {
        self.span = span;
        self
    }

    /// Where it is written in the runbook file.
    pub fn span(&self) -> Span {
        self.span
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn is_literal(&self) -> bool {
        matches!(self.body, Body::Literal)
    }

    /// Top-level names (`account_id`) and dotted paths (`services.cloudflare`) it reads.
    pub fn uses(&self) -> &BTreeSet<String> {
        &self.uses
    }

    pub fn render(&self, templates: &Templates, scope: &Scope) -> Result<String, TemplateError> {
        let name = match &self.body {
            Body::Literal => return Ok(self.source.to_string()),
            Body::Simple(segments) => {
                let mut text = String::with_capacity(self.source.len() + 32);
                for segment in segments.iter() {
                    match segment {
                        Segment::Text(part) => text.push_str(part),
                        Segment::Path(path) => {
                            use std::fmt::Write as _;
                            let value = lookup(path, scope)?;
                            let _ = write!(text, "{value}");
                        }
                    }
                }
                return Ok(text);
            }
            Body::Compiled(name) => name,
        };
        let template = templates
            .env
            .get_template(name)
            .map_err(|error| TemplateError::from_minijinja(&error, 0, self.source.len()))?;
        templates
            .rendering(&self.uses, scope, || template.render(scope.as_value()))
            .map_err(|error| TemplateError::from_minijinja(&error, 0, self.source.len()))
    }
}

/// A compiled expression.
#[derive(Clone, Debug)]
pub struct Expression {
    source: Arc<str>,
    body: ExpressionBody,
    uses: Arc<BTreeSet<String>>,
    span: Span,
}

#[derive(Clone, Debug)]
enum ExpressionBody {
    /// A bare name or attribute path, evaluated by lookup.
    Path(Vec<String>),
    /// Anything else: a `{% set %}` wrapper template in the environment, by name.
    Compiled(Arc<str>),
}

impl Expression {
    /// The same expression, noted as written at `span`.
    pub fn at(mut self, span: Span) -> Expression {
        self.span = span;
        self
    }

    /// Where it is written in the runbook file.
    pub fn span(&self) -> Span {
        self.span
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn uses(&self) -> &BTreeSet<String> {
        &self.uses
    }

    pub fn eval(&self, templates: &Templates, scope: &Scope) -> Result<Value, TemplateError> {
        let name = match &self.body {
            ExpressionBody::Path(path) => return lookup(path, scope),
            ExpressionBody::Compiled(name) => name,
        };
        let shift = EXPRESSION_PREFIX.len();
        let error = |error: minijinja::Error| {
            TemplateError::from_minijinja(&error, shift, self.source.len())
        };
        let template = templates.env.get_template(name).map_err(error)?;
        let captured = template.render_captured(scope.as_value()).map_err(error)?;
        let value = captured.state().lookup(EXPRESSION_SLOT).unwrap_or_default();
        if value.is_undefined() {
            return Err(TemplateError {
                message: "undefined value: the expression has no value".into(),
                range: None,
            });
        }
        // A string made from a secret (or a list of them) is masked from now on. Not a
        // boolean or a number: `when:` and `until` conditions are made of secrets too.
        if let Some(watch) = templates.watching(&self.uses) {
            strings_of(&value, &mut |text| watch.derived(text, &self.uses, scope));
        }
        Ok(value)
    }

    /// Evaluates to a boolean by Jinja truthiness.
    pub fn is_true(&self, templates: &Templates, scope: &Scope) -> Result<bool, TemplateError> {
        self.eval(templates, scope).map(|value| value.is_true())
    }
}

/// The variables a template sees: the run's bindings plus step-local names (`item`,
/// `response`). Looked up lazily, so rendering never copies the whole set.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    bindings: Arc<HashMap<String, Value>>,
    locals: Vec<(Arc<str>, Value)>,
}

impl Scope {
    pub fn new(bindings: Arc<HashMap<String, Value>>) -> Scope {
        Scope {
            bindings,
            locals: Vec::new(),
        }
    }

    /// The same bindings with a step-local name added or replaced.
    pub fn with(&self, name: &str, value: Value) -> Scope {
        let mut locals = self.locals.clone();
        locals.retain(|(existing, _)| &**existing != name);
        locals.push((name.into(), value));
        Scope {
            bindings: self.bindings.clone(),
            locals,
        }
    }

    pub fn get(&self, name: &str) -> Option<Value> {
        self.locals
            .iter()
            .rev()
            .find(|(local, _)| &**local == name)
            .map(|(_, value)| value.clone())
            .or_else(|| self.bindings.get(name).cloned())
    }

    fn as_value(&self) -> Value {
        Value::from_object(self.clone())
    }
}

impl Object for Scope {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.get(key.as_str()?)
    }
}

/// Whether every mention of `name` in the template text `source` is `{{ name | fingerprint }}`:
/// a fingerprint identifies a secret without being one, so such a text may go where the secret
/// may not (an audit record).
///
/// Written out rather than with two regexes, whose compilation took 0.7 ms of every `check` of a
/// runbook with such a text. A test holds it to the regexes `\{\{-?\s*[A-Za-z_][A-Za-z0-9_]*\s*\|\s*
/// fingerprint\s*-?\}\}` (each replaced by a space) and `\w+` (the words): the same answer on
/// ASCII text; on other text it may count a mention the regexes would not (a letter such as a
/// combining accent right after the name), never the other way round.
pub fn only_fingerprinted(source: &str, name: &str) -> bool {
    if name.is_empty() {
        return true;
    }
    let rest = without_fingerprints(source);
    let rest = rest.as_ref();
    // Some occurrence of `name` that is a whole word (every occurrence, overlapping ones too).
    let word_char = |c: char| c.is_alphabetic() || c.is_ascii_digit() || c == '_';
    let mut from = 0;
    while let Some(found) = rest[from..].find(name) {
        let at = from + found;
        let end = at + name.len();
        if !rest[..at].chars().next_back().is_some_and(word_char)
            && !rest[end..].chars().next().is_some_and(word_char)
        {
            return false;
        }
        from = at + rest[at..].chars().next().map_or(1, char::len_utf8);
    }
    true
}

/// `source` with each `{{ name | fingerprint }}` (whitespace control allowed) replaced by a
/// space, which keeps the words on either side apart.
fn without_fingerprints(source: &str) -> Cow<'_, str> {
    let mut rest = String::new();
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = source[from..].find("{{") {
        let at = from + found;
        match fingerprint_len(&source[at..]) {
            Some(len) => {
                rest.push_str(&source[copied..at]);
                rest.push(' ');
                copied = at + len;
                from = copied;
            }
            None => from = at + 1,
        }
    }
    if copied == 0 {
        return Cow::Borrowed(source);
    }
    rest.push_str(&source[copied..]);
    Cow::Owned(rest)
}

/// The length of the `{{ name | fingerprint }}` that `text` starts with, if it does.
fn fingerprint_len(text: &str) -> Option<usize> {
    // `trim_start` trims Unicode White_Space, as the regex's `\s` matches.
    let rest = text.strip_prefix("{{")?;
    let rest = rest.strip_prefix('-').unwrap_or(rest).trim_start();
    let name_len = rest
        .char_indices()
        .find(|&(index, c)| {
            !(c.is_ascii_alphabetic() || c == '_' || (index > 0 && c.is_ascii_digit()))
        })
        .map_or(rest.len(), |(index, _)| index);
    if name_len == 0 {
        return None;
    }
    let rest = rest[name_len..].trim_start().strip_prefix('|')?;
    let rest = rest.trim_start().strip_prefix("fingerprint")?.trim_start();
    let rest = rest.strip_prefix('-').unwrap_or(rest).strip_prefix("}}")?;
    Some(text.len() - rest.len())
}

/// Any serializable value as a template value.
pub fn to_value<T: serde::Serialize>(value: T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

fn overlong(range: std::ops::Range<usize>, what: &str) -> TemplateError {
    TemplateError {
        message: format!(
            "this {what} is too long: more than {MAX_EXPRESSION_TOKENS} names, values and \
             operators; split it, computing its parts in `vars:`"
        ),
        range: Some(range),
    }
}

/// A `{{ … }}` or `{% … %}` of a template: where it stands, which kind, and its tokens (see
/// [`walk_tokens`]), placed in the whole source.
struct Tag {
    range: std::ops::Range<usize>,
    kind: &'static str,
    tokens: Vec<std::ops::Range<usize>>,
}

/// The tags of a template, in order. Comments and raw blocks are text and are skipped; a tag
/// that is never closed runs to the end (minijinja refuses it anyway).
fn tags(source: &str) -> Vec<Tag> {
    let bytes = source.as_bytes();
    let mut tags = Vec::new();
    let mut at = 0;
    while let Some(found) = source[at..].find('{') {
        let start = at + found;
        let (close, kind) = match bytes.get(start + 1) {
            Some(b'{') => (b'}', "`{{ … }}`"),
            Some(b'%') => (b'%', "`{% … %}`"),
            Some(b'#') => {
                // A comment is not parsed: skip to its end.
                at = source[start + 2..]
                    .find("#}")
                    .map_or(source.len(), |end| start + 2 + end + 2);
                continue;
            }
            _ => {
                at = start + 1;
                continue;
            }
        };
        let body = start + 2;
        let mut tokens = Vec::new();
        let end = body
            + walk_tokens(&source[body..], Some(close), &mut |token| {
                tokens.push(body + token.start..body + token.end);
            });
        at = end;
        if close == b'%' && tag_word(&source[start..end]) == "raw" {
            // A raw block is text: skip to the tag that ends it.
            at = end_of_raw(source, end);
        }
        tags.push(Tag {
            range: start..end,
            kind,
            tokens,
        });
    }
    tags
}

/// The first tag with more than [`MAX_EXPRESSION_TOKENS`] tokens.
fn first_overlong(tags: &[Tag]) -> Option<&Tag> {
    tags.iter()
        .find(|tag| tag.tokens.len() > MAX_EXPRESSION_TOKENS)
}

/// The byte range and kind of the first `{{ … }}` or `{% … %}` of a template that holds more than
/// [`MAX_EXPRESSION_TOKENS`] tokens.
#[cfg(test)]
fn overlong_tag(source: &str) -> Option<(std::ops::Range<usize>, &'static str)> {
    first_overlong(&tags(source)).map(|tag| (tag.range.clone(), tag.kind))
}

/// The word a `{% … %}` tag holds, without its delimiters and whitespace control.
fn tag_word(tag: &str) -> &str {
    let inner = tag.strip_prefix("{%").unwrap_or(tag);
    let inner = inner.strip_suffix("%}").unwrap_or(inner);
    inner.trim_matches(|c: char| c.is_whitespace() || c == '-' || c == '+')
}

/// The offset just after the `{% endraw %}` that ends a raw block whose body starts at `from`,
/// or the end of the source.
fn end_of_raw(source: &str, from: usize) -> usize {
    let mut at = from;
    while let Some(found) = source[at..].find("{%") {
        let start = at + found;
        let Some(close) = source[start..].find("%}") else {
            break;
        };
        let end = start + close + 2;
        if tag_word(&source[start..end]) == "endraw" {
            return end;
        }
        at = start + 2;
    }
    source.len()
}

/// Walks the tokens of an expression up to the closing `close` + `}` of its tag (outside
/// string literals), or to the end, handing `visit` each token's byte range; returns the byte
/// offset just after the tag's end. A run of letters, digits and underscores is one token, a
/// string literal is one, and every other character that is not white space is one.
fn walk_tokens(
    source: &str,
    close: Option<u8>,
    visit: &mut impl FnMut(std::ops::Range<usize>),
) -> usize {
    let bytes = source.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if Some(byte) == close && bytes.get(at + 1) == Some(&b'}') {
            return at + 2;
        }
        if byte.is_ascii_whitespace() {
            at += 1;
            continue;
        }
        let start = at;
        if byte == b'"' || byte == b'\'' {
            at += 1;
            while at < bytes.len() && bytes[at] != byte {
                at += if bytes[at] == b'\\' { 2 } else { 1 };
            }
            at += 1;
        } else if byte.is_ascii_alphanumeric() || byte == b'_' {
            while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_') {
                at += 1;
            }
        } else {
            at += 1;
        }
        visit(start..at.min(bytes.len()));
    }
    bytes.len()
}

/// How many tokens an expression holds up to the end of its tag (see [`walk_tokens`]), and the
/// byte offset just after that end.
#[cfg(test)]
fn tokens_until(source: &str, close: Option<u8>) -> (usize, usize) {
    let mut tokens = 0;
    let end = walk_tokens(source, close, &mut |_| tokens += 1);
    (tokens, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_counted_to_the_end_of_their_tag_not_to_a_brace_in_a_string() {
        let source = "x ~ 'a}}b' ~ \"c\\\"}}\" }} after";
        let (tokens, end) = tokens_until(source, Some(b'}'));
        assert_eq!(tokens, 5);
        assert_eq!(&source[end..], " after");
        assert_eq!(tokens_until("a_1 (b) |c", None), (6, 10));
    }

    /// Names in tags only: not in text, comments, string literals or raw blocks.
    #[test]
    fn filters_and_tests_are_found_in_tags_not_in_text_strings_or_raw_blocks() {
        let source = "a | nosuch {{ x | trim | upper }}{# y | no #}{{ 'z | no' is string }}\
                      {% if x is not defined %}{% endif %}{% filter lower %}b{% endfilter %}\
                      {% raw %}{{ x | raw_no }}{% endraw %}";
        let names: Vec<(String, bool)> = tags(source)
            .iter()
            .flat_map(|tag| filter_and_test_names(source, &tag.tokens))
            .map(|(at, name, test)| {
                assert_eq!(&source[at..at + name.len()], name);
                (name, test)
            })
            .collect();
        let expected = [
            ("trim", false),
            ("upper", false),
            ("string", true),
            ("defined", true),
            ("lower", false),
        ];
        assert_eq!(names, expected.map(|(name, test)| (name.to_string(), test)));
        let mut tokens = Vec::new();
        walk_tokens("a || b | c", None, &mut |token| tokens.push(token));
        let names = filter_and_test_names("a || b | c", &tokens);
        assert_eq!(names, vec![(9, "c".to_string(), false)]);
    }

    #[test]
    fn the_first_overlong_tag_is_found_and_comments_are_skipped() {
        let chain = "+1".repeat(600);
        assert_eq!(
            overlong_tag(&format!("{{# {{{{ 1{chain} }}}} #}} {{{{ x }}}}")),
            None
        );
        let text = format!("ok {{{{ x }}}} {{% if 1{chain} %}}y{{% endif %}}");
        let (range, tag) = overlong_tag(&text).unwrap();
        assert_eq!(tag, "`{% … %}`");
        assert!(text[range].starts_with("{% if 1+1") && tag.len() > 2);
        // A tag never closed is counted to the end.
        assert!(overlong_tag(&format!("{{{{ 1{chain}")).is_some());
        // A raw block is text, even with an unclosed `{{` and a long tail in it.
        let words = "word ".repeat(2000);
        let raw = format!("{{%- raw -%}} {{{{ {words} {{% endraw %}} {{{{ x }}}} {words}");
        assert_eq!(overlong_tag(&raw), None);
        let after = format!("{{% raw %}}{{{{{{% endraw %}} {{{{ 1{chain} }}}}");
        assert!(overlong_tag(&after).is_some());
        // Cut anywhere, with escapes and multi-byte characters, nothing panics.
        let tricky = "é{{ 'é\\é' ~ \"\\\"é\" }}{# é #}{% raw %}é{{{% endraw %}{%- if é -%}";
        for (end, _) in tricky.char_indices() {
            let _ = overlong_tag(&tricky[..end]);
            let _ = tokens_until(&tricky[..end], None);
        }
    }

    #[test]
    fn a_repeated_source_is_compiled_once_and_a_bad_one_fails_each_time() {
        let mut set = TemplateSet::new();
        let first = set.template("{{ name | upper }}-x").unwrap();
        let second = set.template("{{ name | upper }}-x").unwrap();
        let (Body::Compiled(a), Body::Compiled(b)) = (&first.body, &second.body) else {
            panic!("a filter needs minijinja");
        };
        assert_eq!(a, b);
        assert_eq!(set.count, 1);
        let expression = set.expression("name | length > 2").unwrap();
        assert_eq!(
            set.expression("name | length > 2").unwrap().uses(),
            expression.uses()
        );
        assert_eq!(set.count, 2);
        // An error is not remembered: each place that writes it gets its own diagnostic.
        assert!(set.template("{{ name | }}").is_err());
        assert!(set.template("{{ name | }}").is_err());
        let scope = scope(&[("name", Value::from("abc"))]);
        assert_eq!(second.render(&set.finish(), &scope).unwrap(), "ABC-x");
    }

    fn scope(pairs: &[(&str, Value)]) -> Scope {
        Scope::new(Arc::new(
            pairs
                .iter()
                .map(|(name, value)| (name.to_string(), value.clone()))
                .collect(),
        ))
    }

    /// The regexes `only_fingerprinted` was first written with: the oracle it is held to.
    struct Oracle {
        fingerprinted: regex::Regex,
        word: regex::Regex,
    }

    impl Oracle {
        fn new() -> Oracle {
            Oracle {
                fingerprinted: regex::Regex::new(
                    r"\{\{-?\s*[A-Za-z_][A-Za-z0-9_]*\s*\|\s*fingerprint\s*-?\}\}",
                )
                .unwrap(),
                word: regex::Regex::new(r"\w+").unwrap(),
            }
        }

        fn only_fingerprinted(&self, source: &str, name: &str) -> bool {
            let rest = self.fingerprinted.replace_all(source, " ");
            !self.word.find_iter(&rest).any(|word| word.as_str() == name)
        }
    }

    /// Generated texts of template pieces: on ASCII text the answer is the regexes' answer; on
    /// any text, a text the regexes find a mention in is never let through.
    #[test]
    fn only_fingerprinted_agrees_with_the_regexes() {
        const PIECES: &[&str] = &[
            "{{",
            "}}",
            "{{-",
            "-}}",
            " ",
            "\t",
            "\n",
            "\u{a0}",
            "|",
            "fingerprint",
            "token",
            "token_id",
            "my_token",
            "Token",
            "tok",
            "en",
            "_",
            "1",
            "x",
            "-",
            "{",
            "}",
            ".",
            "é",
            "\u{301}",
            "²",
            "٣",
            "\u{200d}",
            "'",
            "~",
            "{{ token | fingerprint }}",
            "{{token|fingerprint}}",
            "{{ other | fingerprint }}",
        ];
        let mut next = crate::testing::generator(0x853c_49e6_748f_ea9b);
        let regexes = Oracle::new();
        let mut mentions = 0;
        for _ in 0..crate::testing::cases("RUNBOOK_FINGERPRINT_CASES", 20_000) {
            let text: String = (0..1 + next(8))
                .map(|_| PIECES[next(PIECES.len())])
                .collect();
            for name in ["token", "tok", "en", "x"] {
                let oracle = regexes.only_fingerprinted(&text, name);
                let ours = only_fingerprinted(&text, name);
                if text.is_ascii() {
                    assert_eq!(ours, oracle, "{text:?} / {name}");
                } else if !oracle {
                    assert!(!ours, "{text:?} / {name}: a mention let through");
                }
                mentions += usize::from(!oracle);
            }
        }
        assert!(mentions > 1_000, "too few mentions: {mentions}");
    }

    #[test]
    fn only_fingerprinted_mentions_pass() {
        assert!(only_fingerprinted("{{ token | fingerprint }}", "token"));
        assert!(only_fingerprinted("{{token|fingerprint}}", "token"));
        assert!(only_fingerprinted("{{- token | fingerprint -}}", "token"));
        assert!(only_fingerprinted(
            "old {{ old | fingerprint }}, new {{ token | fingerprint }}",
            "token"
        ));
        assert!(only_fingerprinted("{{ token_id }}", "token"));
        assert!(only_fingerprinted("{{ my_token }}", "token"));
        assert!(only_fingerprinted("no names here", "token"));
        assert!(!only_fingerprinted("{{ token }}", "token"));
        assert!(!only_fingerprinted("{{ token | upper }}", "token"));
        assert!(!only_fingerprinted(
            "{{ token | fingerprint }} and {{ token }}",
            "token"
        ));
        assert!(!only_fingerprinted(
            "{{ other | fingerprint }}{{ token }}",
            "token"
        ));
        assert!(!only_fingerprinted(
            "{{ token.value | fingerprint }}",
            "token"
        ));
        assert!(!only_fingerprinted(
            "{{ token ~ 'x' | fingerprint }}",
            "token"
        ));
        assert!(!only_fingerprinted(
            "{{ other | fingerprint }}token",
            "token"
        ));
    }

    #[test]
    fn renders_with_strict_undefined() {
        let mut set = TemplateSet::new();
        let template = set.template("{{ a }}/{{ b }}").unwrap();
        let templates = set.finish();
        let full = scope(&[("a", Value::from("x")), ("b", Value::from("y"))]);
        assert_eq!(template.render(&templates, &full).unwrap(), "x/y");
        let error = template
            .render(&templates, &scope(&[("a", Value::from("x"))]))
            .unwrap_err();
        assert!(error.message.starts_with("undefined value"), "{error}");
    }

    #[test]
    fn expressions_keep_their_type_and_report_uses() {
        let mut set = TemplateSet::new();
        let expression = set.expression("n + 1 > limit and services.api").unwrap();
        assert_eq!(
            expression.uses().iter().cloned().collect::<Vec<_>>(),
            ["limit", "n", "services", "services.api"]
        );
        let list = set.native("{{ [1, 2] }}").unwrap().unwrap();
        let templates = set.finish();
        let value = list.eval(&templates, &Scope::default()).unwrap();
        assert_eq!(
            serde_json::to_value(&value).unwrap(),
            serde_json::json!([1, 2])
        );
    }

    /// minijinja leaves out the value a slice is taken of; a secret cut short is still read.
    #[test]
    fn a_sliced_value_counts_as_read() {
        let mut set = TemplateSet::new();
        let uses = |set: &mut TemplateSet, source: &str| -> Vec<String> {
            set.template(source)
                .unwrap()
                .uses()
                .iter()
                .cloned()
                .collect()
        };
        assert_eq!(uses(&mut set, "{{ token[:8] }}"), ["token"]);
        assert_eq!(
            uses(&mut set, "x/{{ a[b:c:2] }}/{{ d[1] }}"),
            ["a", "b", "c", "d"]
        );
        assert_eq!(uses(&mut set, "{{ (t | lower)[2:] }}"), ["t"]);
        assert_eq!(uses(&mut set, "{{ m[k[:1]] }}"), ["k", "m"]);
        assert_eq!(
            uses(&mut set, "{{ services.api[:3] }}"),
            ["services", "services.api"]
        );
        // A loop's own variable is not read from the context; strings and text are not code.
        assert_eq!(
            uses(
                &mut set,
                "[a:b] {% for i in xs %}{{ i[:2] }}{{ 'y[1:2]' }}{% endfor %}"
            ),
            ["xs"]
        );
        let expression = set.expression("secret[-4:] == tail").unwrap();
        assert_eq!(
            expression.uses().iter().cloned().collect::<Vec<_>>(),
            ["secret", "tail"]
        );
        // Rendering is unchanged: the rewrite is for the analysis only.
        let template = set.template("{{ token[:4] }}").unwrap();
        let templates = set.finish();
        let scope = Scope::new(Arc::new(
            [("token".to_string(), Value::from("abcdefgh"))]
                .into_iter()
                .collect(),
        ));
        assert_eq!(template.render(&templates, &scope).unwrap(), "abcd");
    }

    #[test]
    fn syntax_errors_point_inside_the_expression() {
        let mut set = TemplateSet::new();
        let error = set.expression("a ==").unwrap_err();
        assert!(error.message.starts_with("syntax error"), "{error}");
        assert!(error.range.unwrap().start <= 4);
    }

    #[test]
    fn no_html_escaping_even_for_json_names() {
        let mut set = TemplateSet::new();
        let template = set.template("{{ v }}").unwrap();
        let templates = set.finish();
        let rendered = template
            .render(&templates, &scope(&[("v", Value::from("<a&\"b\">"))]))
            .unwrap();
        assert_eq!(rendered, "<a&\"b\">");
    }
}
