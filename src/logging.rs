//! Logs (`RUST_LOG`) and panics, both masked: a log line or a panic message passes through the
//! redactor like every other output, so `RUST_LOG=trace` cannot leak a secret.

use std::io::Write;
use std::sync::Arc;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::secret::Redactor;

/// Installs the log subscriber (off unless `RUST_LOG` is set) and the panic hook.
pub fn install(redactor: Arc<Redactor>, rust_log: Option<&str>) {
    if let Some(filter) = rust_log.filter(|filter| !filter.is_empty()) {
        let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(RedactingWriter {
                redactor: redactor.clone(),
            })
            .with_ansi(false)
            .try_init();
    }
    std::panic::set_hook(Box::new(move |info| {
        let message = redactor.redact(&info.to_string()).into_owned();
        let _ = writeln!(
            std::io::stderr(),
            "runbook: internal error (this is a bug, please report it): {message}"
        );
    }));
}

/// Hands tracing a buffer per event and writes it to stderr, masked, when the event is done.
struct RedactingWriter {
    redactor: Arc<Redactor>,
}

impl<'a> MakeWriter<'a> for RedactingWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine {
            redactor: self.redactor.clone(),
            buffer: Vec::new(),
        }
    }
}

struct LogLine {
    redactor: Arc<Redactor>,
    buffer: Vec<u8>,
}

impl Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let text = self.redactor.redact_lossy(&self.buffer);
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}
