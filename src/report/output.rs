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
            color,
        }
    }

    pub fn redactor(&self) -> &Arc<Redactor> {
        &self.redactor
    }

    /// Writes to stdout, masked. A closed pipe is not an error worth dying for.
    pub fn out(&self, text: &str) {
        Self::write(&self.stdout, &self.redactor.redact(text));
    }

    /// Writes to stderr, masked.
    pub fn err(&self, text: &str) {
        Self::write(&self.stderr, &self.redactor.redact(text));
    }

    fn write(target: &Mutex<Box<dyn Write + Send>>, text: &str) {
        let mut target = target
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = target.write_all(text.as_bytes());
        let _ = target.flush();
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
