//! The terminal sink: everything the program prints goes through here, and through the
//! redactor, whatever it is (a step line, an error message, a JSON event, a plan).

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::secret::Redactor;

/// Where output goes. Cloneable so the reporter, error paths and prompts share it.
#[derive(Clone)]
pub struct Output {
    redactor: Arc<Redactor>,
    stdout: Arc<Mutex<Box<dyn Write + Send>>>,
    stderr: Arc<Mutex<Box<dyn Write + Send>>>,
    /// Why stdout stopped taking output: the reason the first write to it failed, and whether
    /// that was its reader going away (a closed pipe). Nothing more is written there after it
    /// (what would follow has a hole in it).
    stdout_failure: Arc<Mutex<Option<(String, bool)>>>,
    /// Whether to say so on stderr the moment stdout fails: a run goes on without its viewer.
    warn_when_stdout_fails: bool,
    /// Whether ANSI colours may be used on stdout.
    pub color: bool,
}

impl Output {
    /// The process's stdout and stderr.
    pub fn terminal(redactor: Arc<Redactor>, color: bool) -> Output {
        Output::new(
            redactor,
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
            color,
        )
    }

    pub fn new(
        redactor: Arc<Redactor>,
        stdout: Box<dyn Write + Send>,
        stderr: Box<dyn Write + Send>,
        color: bool,
    ) -> Output {
        Output {
            redactor,
            stdout: Arc::new(Mutex::new(stdout)),
            stderr: Arc::new(Mutex::new(stderr)),
            stdout_failure: Arc::default(),
            warn_when_stdout_fails: false,
            color,
        }
    }

    /// For a run (`exec`, `resume`), which completes even when stdout fails (a viewer that went
    /// away must not leave a rotation half done): say so once on stderr, when it happens.
    pub fn warning_when_stdout_fails(mut self) -> Output {
        self.warn_when_stdout_fails = true;
        self
    }

    /// Why writing to stdout failed, if it did, and whether its reader had gone away.
    pub fn stdout_failure(&self) -> Option<(String, bool)> {
        lock(&self.stdout_failure).clone()
    }

    pub fn redactor(&self) -> &Arc<Redactor> {
        &self.redactor
    }

    /// Writes to stdout, masked. A write that fails (a full disk, a closed pipe) is remembered
    /// for [`Output::stdout_failure`], not fatal here: the caller decides what it means.
    pub fn out(&self, text: &str) {
        let mut failure = lock(&self.stdout_failure);
        if failure.is_some() {
            return;
        }
        if let Err(error) = Self::write(&self.stdout, &self.shown(text)) {
            let reason = crate::files::reason(&error);
            if self.warn_when_stdout_fails {
                self.err(&format!(
                    "runbook: cannot write the output: {reason}; the run goes on without showing its progress there\n"
                ));
            }
            let closed = error.kind() == std::io::ErrorKind::BrokenPipe;
            *failure = Some((reason, closed));
        }
    }

    /// Writes to stderr, masked. A failure is ignored: there is nowhere left to report it.
    pub fn err(&self, text: &str) {
        let _ = Self::write(&self.stderr, &self.shown(text));
    }

    /// `text` as it may reach a terminal: masked, then with every control character that is
    /// not a line break or a tab written out visibly (see [`visible`]), so that an answer's
    /// body, a captured value or a runbook's text cannot clear the screen, move the cursor,
    /// retitle the window or hide the line an operator is asked to confirm. Only this
    /// program's own colours pass as they are.
    fn shown<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        match self.redactor.redact(text) {
            std::borrow::Cow::Borrowed(text) => visible(text, self.color),
            std::borrow::Cow::Owned(text) => {
                std::borrow::Cow::Owned(visible(&text, self.color).into_owned())
            }
        }
    }

    fn write(target: &Mutex<Box<dyn Write + Send>>, text: &str) -> std::io::Result<()> {
        let mut target = lock(target);
        target.write_all(text.as_bytes())?;
        target.flush()
    }

    /// Wraps `text` in an ANSI style when colours are on.
    pub fn paint(&self, style: Style, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match style {
            Style::Good => "32",
            Style::Bad => "1;31",
            Style::Warn => "33",
            Style::Dim => "2",
            Style::Bold => "1",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

/// The escape sequences [`Output::paint`] writes: the only ones let through, and only when
/// colours are on.
const OWN_STYLES: [&str; 6] = [
    "\x1b[32m",
    "\x1b[1;31m",
    "\x1b[33m",
    "\x1b[2m",
    "\x1b[1m",
    "\x1b[0m",
];

/// Whether a character would be acted on by a terminal rather than shown: C0 and C1 controls
/// (but a line break and a tab), DEL, and the bidirectional overrides and isolates that reorder
/// what is displayed.
fn hidden_effect(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || reorders_display(c)
}

/// The bidirectional overrides and isolates, which make a terminal or a Markdown viewer show
/// the text after them in another order than it is written.
pub fn reorders_display(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with each character a terminal would act on written as `\u001b` (which also reads
/// back as that character inside a JSON string, so JSON output stays valid and means the same);
/// a carriage return before a line break is dropped (a file with CRLF line ends).
pub fn visible(text: &str, color: bool) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(hidden_effect) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\x1b'
            && color
            && let Some(style) = OWN_STYLES.iter().find(|style| rest.starts_with(**style))
        {
            shown.push_str(style);
            rest = &rest[style.len()..];
            continue;
        }
        if c == '\r' && rest[1..].starts_with('\n') {
            rest = &rest[1..];
            continue;
        }
        if hidden_effect(c) {
            for unit in c.encode_utf16(&mut [0; 2]) {
                shown.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            shown.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    std::borrow::Cow::Owned(shown)
}

/// Locks a mutex, poisoned or not: what it guards stays usable after a panic elsewhere.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::visible;

    #[test]
    fn what_a_terminal_would_act_on_is_written_out() {
        assert_eq!(
            visible("plain text\n\tindented", false),
            "plain text\n\tindented"
        );
        assert_eq!(
            visible("bad \x1b[2J\x1b]0;title\x07 \r fake", false),
            "bad \\u001b[2J\\u001b]0;title\\u0007 \\u000d fake"
        );
        assert_eq!(visible("crlf\r\nline", false), "crlf\nline");
        assert_eq!(visible("\u{202e}abc \u{9b}x", false), "\\u202eabc \\u009bx");
        // This program's own colours pass when colours are on; nothing else does.
        assert_eq!(
            visible("\x1b[1;31mFAILED\x1b[0m \x1b[8mhidden", true),
            "\x1b[1;31mFAILED\x1b[0m \\u001b[8mhidden"
        );
        assert_eq!(
            visible("\x1b[32mok\x1b[0m", false),
            "\\u001b[32mok\\u001b[0m"
        );
        // Inside a JSON string the written-out form reads back as the same character.
        let json = serde_json::to_string("a\u{9b}b\u{7f}").unwrap();
        let shown = visible(&json, false);
        assert_eq!(
            serde_json::from_str::<String>(&shown).unwrap(),
            "a\u{9b}b\u{7f}"
        );
    }
}

#[derive(Clone, Copy)]
pub enum Style {
    Good,
    Bad,
    Warn,
    Dim,
    Bold,
}

/// A writer that keeps what is written, for tests and for capturing output in-process.
#[derive(Clone, Default)]
pub struct Buffer(pub Arc<Mutex<Vec<u8>>>);

impl Buffer {
    pub fn contents(&self) -> String {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
