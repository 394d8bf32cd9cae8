//! From templates to shell words: every input, var and capture becomes a shell variable, every
//! service its base URL, and the few filters with a shell equivalent (`lower`, `b64encode`,
//! `fingerprint`, …) that equivalent. What has no plain shell form is hoisted into a variable
//! of its own, set by hand, with the template source in a comment above the command.
//!
//! Secrets never need special care here: a template names values, it never holds them, so a
//! secret always comes out as its `$VARIABLE`.

use std::collections::{HashMap, HashSet};

use super::shell::{Piece, Word, comment, is_variable_name};
use super::source::{Part, Reading, parts, reading};
use crate::runbook::Runbook;
use crate::runbook::model::{Action, Input};

/// Shell variables that a rendered SOP must not overwrite, and the ones it uses itself.
const RESERVED: &[&str] = &[
    "PATH", "HOME", "IFS", "PWD", "OLDPWD", "UID", "EUID", "PPID", "RANDOM", "SECONDS", "LINENO",
    "SHELL", "USER", "TERM", "LANG", "HOSTNAME", "RESPONSE", "HEADERS", "ITEM", "RUN_ID",
];

/// The shell variable of every named value of a runbook.
pub struct Names {
    by_value: HashMap<String, String>,
    taken: HashSet<String>,
}

impl Names {
    /// Inputs take their first environment variable (`mgmt_token` → `CF_ACCESS_MGMT`) when it
    /// is a plain name, else their name upper-cased; vars, captures and asked values their name
    /// upper-cased. A capture and an asked value of the same name are one value, one variable.
    pub fn new(runbook: &Runbook) -> Names {
        let mut names = Names {
            by_value: HashMap::new(),
            taken: RESERVED.iter().map(|name| name.to_string()).collect(),
        };
        for input in &runbook.inputs {
            let preferred = first_env_name(input).unwrap_or_else(|| input.name.to_uppercase());
            names.assign(&input.name, &preferred);
        }
        for var in &runbook.vars {
            names.assign(&var.name, &var.name.to_uppercase());
        }
        for step in &runbook.steps {
            for capture in &step.captures {
                names.assign(&capture.name, &capture.name.to_uppercase());
            }
            if let Action::Manual(manual) = &step.action {
                for ask in &manual.ask {
                    names.assign(&ask.name, &ask.name.to_uppercase());
                }
            }
        }
        names
    }

    fn assign(&mut self, value: &str, preferred: &str) {
        if self.by_value.contains_key(value) {
            return;
        }
        let name = self.unique(preferred);
        self.by_value.insert(value.to_string(), name);
    }

    /// `preferred`, or it with a suffix when another value or the shell already has it.
    pub fn unique(&mut self, preferred: &str) -> String {
        let mut name = preferred.to_string();
        if !is_variable_name(&name) {
            name = format!(
                "V_{}",
                name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            );
        }
        if RESERVED.contains(&name.as_str()) {
            name = format!("{name}_VALUE");
        }
        let base = name.clone();
        let mut counter = 2;
        while self.taken.contains(&name) {
            name = format!("{base}_{counter}");
            counter += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    /// The shell variable of an input, var, capture or asked value.
    pub fn variable(&self, value: &str) -> Option<&str> {
        self.by_value.get(value).map(String::as_str)
    }
}

/// The input's first environment variable when it is written as a plain name.
pub fn first_env_name(input: &Input) -> Option<String> {
    let first = input.env.first()?;
    (first.is_literal() && is_variable_name(first.source())).then(|| first.source().to_string())
}

/// A value that has no plain shell form: the operator sets it by hand.
#[derive(Clone, Debug)]
pub struct Hoisted {
    pub variable: String,
    pub source: String,
}

impl Hoisted {
    /// The lines that go before the command: the template in a comment, then a check that
    /// stops a copy-pasted command from running with the value unset.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = comment(&format!(
            "{}: set by hand to the value of the template {}",
            self.variable, self.source
        ));
        lines.push(format!(
            ": \"${{{}:?set {} by hand, see the comment above}}\"",
            self.variable, self.variable
        ));
        lines
    }
}

/// Translates the templates of one command (or one block of commands).
pub struct Translator<'a> {
    runbook: &'a Runbook,
    names: &'a mut Names,
    /// Step-local names: `item`, and `name`/`value` in an HTTP propagation target.
    locals: Vec<(String, Word)>,
    pub hoisted: Vec<Hoisted>,
}

impl<'a> Translator<'a> {
    pub fn new(runbook: &'a Runbook, names: &'a mut Names) -> Translator<'a> {
        Translator {
            runbook,
            names,
            locals: Vec::new(),
            hoisted: Vec::new(),
        }
    }

    /// Whether `word` carries a secret's value: a secret's variable, a shell form of it
    /// (`${TOKEN,,}`, a pipe from `"$TOKEN"`), or a hoisted value whose template reads one. Such
    /// a word must not become a command's argument, where `ps` shows it to every local user.
    pub fn reads_secret(&self, word: &Word) -> bool {
        let secret_variables: Vec<&str> = self
            .runbook
            .secrets
            .iter()
            .filter_map(|name| self.names.variable(name))
            .collect();
        word.pieces.iter().any(|piece| match piece {
            Piece::Text(_) => false,
            Piece::Variable(variable) => {
                secret_variables.contains(&variable.as_str())
                    || self.hoisted.iter().any(|hoisted| {
                        &hoisted.variable == variable
                            && self.runbook.secrets.iter().any(|name| {
                                names(&hoisted.source, name, |before| {
                                    !before.is_some_and(is_name_character)
                                })
                            })
                    })
            }
            Piece::Expansion(code) => secret_variables
                .iter()
                .any(|variable| names(code, variable, |before| matches!(before, Some('$' | '{')))),
        })
    }

    pub fn with_local(mut self, name: &str, word: Word) -> Translator<'a> {
        self.locals.push((name.to_string(), word));
        self
    }

    pub fn set_local(&mut self, name: &str, word: Word) {
        self.locals.retain(|(existing, _)| existing != name);
        self.locals.push((name.to_string(), word));
    }

    /// The hoisted lines collected so far, emptied.
    pub fn take_hoisted_lines(&mut self) -> Vec<String> {
        std::mem::take(&mut self.hoisted)
            .iter()
            .flat_map(Hoisted::lines)
            .collect()
    }

    /// A template as a shell word. `hint` names a hoisted variable (`method` → `METHOD`).
    pub fn word(&mut self, source: &str, hint: &str) -> Word {
        let Some(parts) = parts(source) else {
            return self.hoist(source, hint);
        };
        let mut word = Word::default();
        let mut before = "";
        for part in parts {
            match part {
                Part::Text(text) => {
                    word.push_text(text);
                    before = text;
                }
                Part::Expression(expression) => match self.expression(expression) {
                    Some(translated) => word.append(translated),
                    None => {
                        // `signature={{ … }}` is best called SIGNATURE.
                        let label = label_before(before);
                        let hint = if label.is_empty() { hint } else { label };
                        word.append(self.hoist(&format!("{{{{ {expression} }}}}"), hint));
                    }
                },
            }
        }
        word
    }

    /// Whether the whole template has no shell form (a var like `legacy_name`).
    pub fn is_opaque(&mut self, source: &str) -> bool {
        match parts(source) {
            None => true,
            Some(parts) => parts.iter().any(|part| match part {
                Part::Expression(expression) => self.expression(expression).is_none(),
                Part::Text(_) => false,
            }),
        }
    }

    fn hoist(&mut self, source: &str, hint: &str) -> Word {
        if let Some(existing) = self.hoisted.iter().find(|hoisted| hoisted.source == source) {
            return Word::variable(&existing.variable);
        }
        let preferred: String = hint
            .to_uppercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let preferred = if preferred.is_empty() {
            "VALUE".to_string()
        } else {
            preferred
        };
        let variable = self.names.unique(&preferred);
        self.hoisted.push(Hoisted {
            variable: variable.clone(),
            source: source.trim().to_string(),
        });
        Word::variable(&variable)
    }

    /// One `{{ expression }}` as shell, when it has a plain form.
    fn expression(&mut self, expression: &str) -> Option<Word> {
        match reading(expression) {
            Reading::Path(path) => self.path(&path),
            Reading::Filtered(path, filter) => {
                let base = self.path(&path)?;
                let variable = match base.pieces.as_slice() {
                    [Piece::Variable(name)] => name.clone(),
                    _ => return None,
                };
                filtered(&variable, filter)
            }
            Reading::Other => None,
        }
    }

    fn path(&mut self, path: &[&str]) -> Option<Word> {
        let (first, rest) = path.split_first()?;
        if let Some((_, word)) = self.locals.iter().find(|(name, _)| name == first) {
            return rest.is_empty().then(|| word.clone());
        }
        match (*first, rest) {
            ("services", [service]) => self
                .runbook
                .services
                .get(*service)
                .map(|url| Word::text(url)),
            ("today", []) => Some(expansion("$(date -u +%F)")),
            ("now", []) => Some(expansion("$(date -u +%FT%TZ)")),
            ("run_id", []) => Some(Word::variable("RUN_ID")),
            ("runbook", ["name"]) => Some(Word::text(&self.runbook.name)),
            ("runbook", ["title"]) => Some(Word::text(&self.runbook.title)),
            (name, []) => self.names.variable(name).map(Word::variable),
            // An attribute of a captured JSON value: jq takes it out.
            (name, attributes) if self.is_capture(name) => {
                let variable = self.names.variable(name)?;
                let jq_path: String = attributes.iter().map(|part| format!(".{part}")).collect();
                Some(expansion(&format!(
                    "$(echo \"${variable}\" | jq -r '{jq_path}')"
                )))
            }
            _ => None,
        }
    }

    fn is_capture(&self, name: &str) -> bool {
        self.runbook
            .steps
            .iter()
            .any(|step| step.captures.iter().any(|capture| capture.name == name))
    }
}

fn expansion(code: &str) -> Word {
    Word {
        pieces: vec![Piece::Expansion(code.to_string())],
    }
}

/// Whether `text` holds `name` as a whole name (not inside a longer one), right after a
/// character `before` accepts.
fn names(text: &str, name: &str, before: impl Fn(Option<char>) -> bool) -> bool {
    text.match_indices(name).any(|(at, _)| {
        before(text[..at].chars().next_back())
            && !text[at + name.len()..]
                .chars()
                .next()
                .is_some_and(is_name_character)
    })
}

fn is_name_character(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The shell form of `{{ variable | filter }}`, for the filters that have one.
fn filtered(variable: &str, filter: &str) -> Option<Word> {
    let code = match filter {
        "lower" => format!("${{{variable},,}}"),
        "upper" => format!("${{{variable}^^}}"),
        "b64encode" => format!("$(printf '%s' \"${variable}\" | base64 | tr -d '\\n')"),
        "sha256" => format!("$(printf '%s' \"${variable}\" | sha256sum | cut -d' ' -f1)"),
        "fingerprint" => format!("$(printf '%s' \"${variable}\" | sha256sum | cut -c1-8)"),
        // Through a pipe from the shell's own printf, not as jq's argument: the value may be
        // a secret, and a command's arguments are visible to every local user.
        "urlencode" => format!("$(printf '%s' \"${variable}\" | jq -sRr @uri)"),
        _ => return None,
    };
    Some(expansion(&code))
}

/// The name just before a value in a template: `signature` in `…\nsignature=`.
fn label_before(text: &str) -> &str {
    let trimmed = text.trim_end_matches(['=', ':', ' ']);
    let start = trimmed
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |index| index + 1);
    let label = &trimmed[start..];
    if label.starts_with(|c: char| c.is_ascii_alphabetic()) {
        label
    } else {
        ""
    }
}
