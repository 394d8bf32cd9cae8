//! Shell words: the pieces of a command argument (literal text, a `$VARIABLE`, a `$(command)`)
//! and the two quoting schemes the rendered SOP uses, so that every command in it is valid bash
//! and passes values through untouched.
//!
//! - Double quotes (`"https://host/accounts/$CF_ACCOUNT_ID/tokens"`) for URLs, headers and
//!   assignments: the most readable form, as in the original SOPs.
//! - Single quotes with double-quoted splices (`'{"name":"'"$NAME"'"}'`) for JSON bodies, whose
//!   text is full of double quotes, and for any text with a `!`, which an interactive bash would
//!   take for history expansion inside double quotes.

/// One piece of a shell word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Literal text, passed through as written.
    Text(String),
    /// A shell variable, by name: `$NAME`.
    Variable(String),
    /// Shell code that expands to a value inside double quotes: `${NAME,,}`, `$(date -u +%F)`.
    Expansion(String),
}

/// A shell word: pieces concatenated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Word {
    pub pieces: Vec<Piece>,
}

impl Word {
    pub fn text(text: &str) -> Word {
        Word {
            pieces: vec![Piece::Text(text.to_string())],
        }
    }

    pub fn variable(name: &str) -> Word {
        Word {
            pieces: vec![Piece::Variable(name.to_string())],
        }
    }

    pub fn push_text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if let Some(Piece::Text(last)) = self.pieces.last_mut() {
            last.push_str(text);
        } else {
            self.pieces.push(Piece::Text(text.to_string()));
        }
    }

    pub fn push(&mut self, piece: Piece) {
        match piece {
            Piece::Text(text) => self.push_text(&text),
            other => self.pieces.push(other),
        }
    }

    pub fn append(&mut self, other: Word) {
        for piece in other.pieces {
            self.push(piece);
        }
    }

    /// The literal text, when the word has no variables.
    pub fn as_literal(&self) -> Option<String> {
        let mut text = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(part) => text.push_str(part),
                _ => return None,
            }
        }
        Some(text)
    }

    /// The word in double quotes, or spliced when its text holds a `!`.
    pub fn quoted(&self) -> String {
        let has_bang = self
            .pieces
            .iter()
            .any(|piece| matches!(piece, Piece::Text(text) if text.contains('!')));
        if has_bang {
            return self.spliced();
        }
        let mut out = String::from("\"");
        for (index, piece) in self.pieces.iter().enumerate() {
            match piece {
                Piece::Text(text) => out.push_str(&escape_double_quoted(text)),
                Piece::Variable(name) => {
                    out.push_str(&variable_reference(name, self.pieces.get(index + 1)))
                }
                Piece::Expansion(code) => out.push_str(code),
            }
        }
        out.push('"');
        out
    }

    /// The word as bare text when it needs no quotes (`raxx-api-prod`), quoted otherwise.
    pub fn bare_or_quoted(&self) -> String {
        match self.as_literal() {
            Some(text) if !text.is_empty() && text.chars().all(is_bare_safe) => text,
            _ => self.quoted(),
        }
    }

    /// Literal text in single quotes, variables spliced in double quotes between them:
    /// `'{"name":"'"$NAME"'"}'`. Text between two variables that is safe in double quotes stays
    /// inside the splice (`'"$ID:$SECRET"'`), which keeps JSON bodies readable.
    pub fn spliced(&self) -> String {
        if self.pieces.is_empty() {
            return "''".to_string();
        }
        let mut out = String::new();
        let mut index = 0;
        while index < self.pieces.len() {
            match &self.pieces[index] {
                Piece::Text(text) => {
                    out.push_str(&single_quote(text));
                    index += 1;
                }
                _ => {
                    // A splice runs from this expansion to the last one reachable through
                    // text that needs no escaping in double quotes.
                    let mut end = index;
                    let mut probe = index + 1;
                    while probe < self.pieces.len() {
                        match &self.pieces[probe] {
                            Piece::Text(text) if is_splice_safe(text) => probe += 1,
                            Piece::Text(_) => break,
                            _ => {
                                end = probe;
                                probe += 1;
                            }
                        }
                    }
                    out.push('"');
                    for position in index..=end {
                        match &self.pieces[position] {
                            Piece::Text(text) => out.push_str(text),
                            Piece::Variable(name) => out
                                .push_str(&variable_reference(name, self.pieces.get(position + 1))),
                            Piece::Expansion(code) => out.push_str(code),
                        }
                    }
                    out.push('"');
                    index = end + 1;
                }
            }
        }
        out
    }
}

/// `$NAME`, or `${NAME}` when the next character would otherwise extend the name.
fn variable_reference(name: &str, next: Option<&Piece>) -> String {
    let extends = match next {
        Some(Piece::Text(text)) => text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_'),
        _ => false,
    };
    if extends {
        format!("${{{name}}}")
    } else {
        format!("${name}")
    }
}

/// Escapes text for the inside of double quotes: `\`, `"`, `$` and the backquote.
pub fn escape_double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Text in single quotes; a single quote inside becomes `'\''`.
pub fn single_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A word for a shell command line: as it is when nothing in it is special to the shell,
/// single-quoted otherwise (a path with a space, a `$`).
pub fn shell_word(text: &str) -> String {
    if !text.is_empty() && text.chars().all(is_bare_safe) {
        text.to_string()
    } else {
        single_quote(text)
    }
}

fn is_bare_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':' | '@' | '%' | '+' | ',')
}

fn is_splice_safe(text: &str) -> bool {
    !text
        .chars()
        .any(|c| matches!(c, '\\' | '"' | '$' | '`' | '!' | '\''))
}

/// Whether a name can be a shell variable.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A comment line for shell code; every line of a multi-line text gets its own `#`.
pub fn comment(text: &str) -> Vec<String> {
    text.trim_end()
        .lines()
        .map(|line| format!("# {line}").trim_end().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(pieces: &[Piece]) -> Word {
        Word {
            pieces: pieces.to_vec(),
        }
    }

    #[test]
    fn double_quotes_brace_a_variable_followed_by_a_name_character() {
        let word = word(&[
            Piece::Variable("NAME".into()),
            Piece::Text("__CLIENT_ID and $5".into()),
        ]);
        assert_eq!(word.quoted(), r#""${NAME}__CLIENT_ID and \$5""#);
    }

    #[test]
    fn splices_keep_safe_text_between_variables_inside_one_splice() {
        let word = word(&[
            Piece::Text(r#"{"v":""#.into()),
            Piece::Variable("ID".into()),
            Piece::Text(":".into()),
            Piece::Variable("SECRET".into()),
            Piece::Text(r#"","it's":1}"#.into()),
        ]);
        assert_eq!(word.spliced(), r#"'{"v":"'"$ID:$SECRET"'","it'\''s":1}'"#);
    }

    #[test]
    fn a_bang_is_never_inside_double_quotes() {
        assert_eq!(Word::text("Hello!").quoted(), "'Hello!'");
    }
}
