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
        if let Err(error) = Self::write(&self.stdout, &self.redactor.redact(text)) {
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
        let _ = Self::write(&self.stderr, &self.redactor.redact(text));
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

/// Locks a mutex, poisoned or not: what it guards stays usable after a panic elsewhere.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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
