//! The run journal: an append-only JSON Lines file per run, under the state directory, that
//! lets a run that died halfway be continued without repeating what it already did and without
//! losing a secret the API showed once.
//!
//! `<state dir>/runs/<run id>/journal.jsonl` records the runbook (path and digest), the inputs
//! (secret ones as fingerprints), each mutating step's intent before its request is sent and its
//! result after, every capture (secret ones sealed, see [`seal`]), retries, and how the run ended.
//! Every record is written to the file at once, so a killed process loses none. A record that
//! resume depends on is flushed to the disk itself (fdatasync) before the next mutating request
//! (an intent is synced before its request is sent), before the run waits (to retry, for an
//! operator) and when it ends; a sealed secret is synced the moment it arrives. A journal that
//! cannot be written stops the run before anything else changes. Every
//! line passes through the redactor like any other sink; sealed values are the only opaque part.

pub mod lock;
pub mod runs;
pub mod seal;

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::secret::Redactor;

/// The journal's format version, in its first record. Version 2 added `item_finished`: from
/// it on, a `for_each` step's finished items are recorded, not inferred.
pub const FORMAT: u32 = 2;

/// One line of the journal.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    RunStarted {
        format: u32,
        run_id: String,
        runbook: RunbookRef,
        inputs: Vec<InputRecord>,
        /// Base URLs in effect (with `--service` overrides), so a resume talks to the same places.
        services: IndexMap<String, String>,
        started_at: String,
        host: String,
        pid: u32,
        actor: String,
        /// The lock key the run holds, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lock: Option<String>,
        /// The run's own key, sealed to the operator (see [`seal`]); absent without sealing.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sealed_run_key: Option<String>,
        /// Where the operator's key is, in words.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sealed_for: Option<String>,
    },
    Resumed {
        at: String,
        host: String,
        pid: u32,
        digest: String,
        allow_changed: bool,
    },
    /// A mutating request is about to be sent.
    Intent {
        step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item: Option<serde_json::Value>,
        /// The `for_each` item's position (from 0), so that equal items stay apart; absent
        /// outside a loop, and in journals written before it was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        position: Option<usize>,
        attempt: u32,
        action: String,
        at: String,
    },
    Retry {
        step: String,
        attempt: u32,
        wait_ms: u64,
        reason: String,
    },
    /// A value a step captured. Secret values are sealed, or only fingerprinted when no key is
    /// set up (then a resume cannot restore them).
    Capture {
        step: String,
        name: String,
        /// The `for_each` item (from 0) that captured it; absent outside a loop.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item: Option<usize>,
        secret: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<serde_json::Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sealed: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fingerprint: Option<String>,
    },
    /// One item of a `for_each` step went through (answered as expected).
    ItemFinished {
        step: String,
        /// The item's position in the list (from 0).
        item: usize,
    },
    StepFinished {
        step: String,
        status: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        failures: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        /// A request sent without an answer (a timeout): the step is in doubt.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pending: Option<String>,
    },
    /// How a step left in doubt by a crash was settled on resume.
    Settled {
        step: String,
        decision: String,
        by: String,
    },
    RunFinished {
        status: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failed_step: Option<String>,
        at: String,
    },
    UnlockForced {
        key: String,
        previous: String,
        at: String,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunbookRef {
    pub name: String,
    /// Absolute path, so a resume from another directory finds it.
    pub file: String,
    pub digest: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InputRecord {
    pub name: String,
    pub secret: bool,
    /// The value of a non-secret input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The fingerprint of a secret input: a resume checks the value it is given again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    pub source: String,
}

/// Appends to one run's journal.
pub struct Journal {
    path: PathBuf,
    file: File,
    /// The file's length after the last whole line.
    length: u64,
    /// Whether lines were written since the last fdatasync.
    unsynced: bool,
    redactor: Arc<Redactor>,
}

/// The directory of a run's files.
pub fn run_dir(state_dir: &Path, run_id: &str) -> PathBuf {
    state_dir.join("runs").join(run_id)
}

pub fn journal_path(state_dir: &Path, run_id: &str) -> PathBuf {
    run_dir(state_dir, run_id).join("journal.jsonl")
}

/// Creates a directory (and its parents) readable only by the user.
pub fn private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// Makes sure a run can keep its files in the state directory: one that is a directory, is
/// this user's, cannot be written by others (see [`check_private`]) and can be written by this
/// user; one that does not exist yet is created for this user alone. Says what is wrong and
/// what to do otherwise.
pub fn prepare_state_dir(dir: &Path) -> Result<(), String> {
    check_is_directory(dir)?;
    private_dir(dir).map_err(|error| unusable_state_dir(dir, &error, "write"))?;
    // After creating it: one that another user made in the meantime is refused too.
    check_private(dir)?;
    check_writable(dir)
}

/// What is wrong with a state directory that an operation on it (`doing`: "read", "write")
/// failed with `error`, and what to do.
pub fn unusable_state_dir(dir: &Path, error: &std::io::Error, doing: &str) -> String {
    unusable_in_state_dir(dir, dir, error, doing)
}

/// The same for `path`, the state directory itself or something in it (its `runs/`, a
/// journal): the message names what could not be used.
pub fn unusable_in_state_dir(
    dir: &Path,
    path: &Path,
    error: &std::io::Error,
    doing: &str,
) -> String {
    let what = if path == dir {
        format!("the state directory {}", dir.display())
    } else {
        format!("{} in the state directory", path.display())
    };
    match error.kind() {
        std::io::ErrorKind::NotADirectory if path == dir => not_a_directory(dir),
        std::io::ErrorKind::PermissionDenied => format!(
            "cannot {doing} {what}: permission denied; use a state directory you own (--state-dir DIR) or fix its permissions"
        ),
        _ => format!("cannot {doing} {what}: {}", crate::files::reason(error)),
    }
}

fn not_a_directory(dir: &Path) -> String {
    format!(
        "the state directory {} is not a directory: pass --state-dir a directory (or leave it out for the default)",
        dir.display()
    )
}

/// Refuses a state directory path that exists and is not a directory (a file, `/dev/null`).
pub fn check_is_directory(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(metadata) if !metadata.is_dir() => Err(not_a_directory(dir)),
        Err(error) if error.kind() == std::io::ErrorKind::NotADirectory => {
            Err(not_a_directory(dir))
        }
        _ => Ok(()),
    }
}

/// Refuses a state directory this user cannot create files in. Checked up front: otherwise
/// the run fails at its lock with a bare "Permission denied".
fn check_writable(dir: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let Ok(name) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
            return Ok(());
        };
        // SAFETY: a valid, NUL-terminated path; AT_EACCESS checks as the effective user.
        let allowed = unsafe {
            libc::faccessat(
                libc::AT_FDCWD,
                name.as_ptr(),
                libc::W_OK | libc::X_OK,
                libc::AT_EACCESS,
            )
        };
        if allowed != 0 {
            return Err(unusable_state_dir(
                dir,
                &std::io::Error::last_os_error(),
                "write",
            ));
        }
    }
    Ok(())
}

/// Refuses a state directory that another user could write to: they could change a run's
/// journal before it is resumed, or put a link where the audit log is appended. A directory
/// that does not exist yet is fine: it is created for this user alone. A path that is not a
/// directory is refused first (its mode says nothing about who could write runs there).
pub fn check_private(dir: &Path) -> Result<(), String> {
    check_is_directory(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let Ok(metadata) = std::fs::metadata(dir) else {
            return Ok(());
        };
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        let mode = metadata.mode() & 0o7777;
        if metadata.uid() != me {
            return Err(format!(
                "the state directory {} belongs to user id {}, not to you (user id {me}): it holds journals a resume trusts. Use a directory of your own: --state-dir DIR, or leave it out",
                dir.display(),
                metadata.uid()
            ));
        }
        if mode & 0o022 != 0 {
            return Err(format!(
                "the state directory {} can be written by other users (mode {mode:o}): they could change a run's journal or redirect its audit log. Run `chmod go-w {}`, or use a directory only you can write",
                dir.display(),
                dir.display()
            ));
        }
    }
    Ok(())
}

pub(crate) fn open_append(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

impl Journal {
    /// Creates the journal of a new run.
    pub fn create(
        state_dir: &Path,
        run_id: &str,
        redactor: Arc<Redactor>,
    ) -> std::io::Result<Journal> {
        let dir = run_dir(state_dir, run_id);
        private_dir(&dir)?;
        let path = dir.join("journal.jsonl");
        let file = open_append(&path)?;
        // The new file's name must survive a power cut too: sync the directories that gained
        // an entry.
        sync_dir(&dir)?;
        if let Some(runs) = dir.parent() {
            sync_dir(runs)?;
        }
        let length = file.metadata()?.len();
        Ok(Journal {
            path,
            file,
            length,
            unsynced: false,
            redactor,
        })
    }

    /// Opens an existing run's journal to continue it.
    pub fn reopen(
        state_dir: &Path,
        run_id: &str,
        redactor: Arc<Redactor>,
    ) -> std::io::Result<Journal> {
        let path = journal_path(state_dir, run_id);
        if !path.exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no journal at {}", path.display()),
            ));
        }
        let mut file = open_append(&path)?;
        let length = end_whole_lines(&path, &mut file)?;
        Ok(Journal {
            path,
            file,
            length,
            unsynced: false,
            redactor,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a record; `durable` ones are on disk (fdatasync) before this returns, and with
    /// them everything written before. Any record is in the file (written, so a killed process
    /// cannot lose it) before this returns; the others reach the disk itself with the next
    /// sync.
    ///
    /// A line that could not be written whole (a full disk) is cut off again, so the journal
    /// never holds a torn line before later ones: it stays readable for a resume.
    pub fn append(&mut self, record: &Record, durable: bool) -> std::io::Result<()> {
        let line = self.line(record)?;
        if let Err(error) = self.file.write_all(line.as_bytes()) {
            let _ = self.file.set_len(self.length);
            return Err(error);
        }
        self.length += line.len() as u64;
        self.unsynced = true;
        if durable {
            self.sync()?;
        }
        Ok(())
    }

    /// Flushes what was written since the last sync to the disk (fdatasync); nothing to do when
    /// nothing was.
    pub fn sync(&mut self) -> std::io::Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// A record as a line with every secret masked: string by string, so the line stays valid
    /// JSON whatever a secret happens to equal. Sealed values are opaque and left as they are.
    fn line(&self, record: &Record) -> std::io::Result<String> {
        let value = serde_json::to_value(record).map_err(std::io::Error::other)?;
        let masked = self
            .redactor
            .redact_record(value, &["sealed", "sealed_run_key"]);
        let mut text = serde_json::to_string(&masked).map_err(std::io::Error::other)?;
        text.push('\n');
        Ok(text)
    }

    /// Rewrites the journal without its sealed values (kept: their fingerprints), once the run
    /// has completed and nothing can need them again: a new file, synced, renamed over the old.
    pub fn scrub_sealed(&mut self) -> std::io::Result<()> {
        let records = read(&self.path)?;
        let temporary = self.path.with_extension("jsonl.tmp");
        {
            let mut options = std::fs::OpenOptions::new();
            options.create(true).write(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&temporary)?;
            for mut record in records {
                match &mut record {
                    Record::Capture { sealed, .. } => *sealed = None,
                    Record::RunStarted { sealed_run_key, .. } => *sealed_run_key = None,
                    _ => {}
                }
                let line = self.line(&record)?;
                file.write_all(line.as_bytes())?;
            }
            file.sync_all()?;
        }
        std::fs::rename(&temporary, &self.path)?;
        if let Some(dir) = self.path.parent() {
            sync_dir(dir)?;
        }
        self.file = open_append(&self.path)?;
        self.length = self.file.metadata()?.len();
        self.unsynced = false;
        Ok(())
    }
}

/// Makes a journal end with a whole line before anything is appended to it, and returns its
/// length. A process that died mid-write (a power cut) may have left the last line torn; [`read`]
/// ignores such a line, but a record appended right after it would be glued to it, and the
/// journal could not be read again. A last line that is a whole record without its line break
/// gets the line break; anything else after the last line break is cut off.
fn end_whole_lines(path: &Path, file: &mut File) -> std::io::Result<u64> {
    // The resume has just read the whole journal; only a torn one is read again.
    let length = file.metadata()?.len();
    if length == 0 || last_byte(path, length)? == b'\n' {
        return Ok(length);
    }
    let bytes = crate::files::read_regular(path)?;
    let cut = memchr::memrchr(b'\n', &bytes).map_or(0, |newline| newline + 1);
    let length = if serde_json::from_slice::<Record>(&bytes[cut..]).is_ok() {
        file.write_all(b"\n")?;
        bytes.len() as u64 + 1
    } else {
        tracing::warn!(
            journal = %path.display(),
            bytes = bytes.len() - cut,
            "cut off a torn last line of the journal"
        );
        file.set_len(cut as u64)?;
        cut as u64
    };
    file.sync_data()?;
    Ok(length)
}

/// The last byte of a journal `length` bytes long.
fn last_byte(path: &Path, length: u64) -> std::io::Result<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(length - 1))?;
    let mut byte = [0u8];
    file.read_exact(&mut byte)?;
    Ok(byte[0])
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads a journal. A torn last line (the process died mid-write) is ignored; any other bad
/// line is an error.
pub fn read(path: &Path) -> std::io::Result<Vec<Record>> {
    let bytes = crate::files::read_regular(path)?;
    let text = String::from_utf8(bytes).map_err(|error| {
        let valid = error.utf8_error().valid_up_to();
        let line = 1 + memchr::memchr_iter(b'\n', &error.as_bytes()[..valid]).count();
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{}:{line}: not UTF-8 text, as every journal line is",
                path.display()
            ),
        )
    })?;
    // Numbered as an editor numbers them, blank lines included.
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .collect();
    let mut records = Vec::with_capacity(lines.len());
    for (index, (number, line)) in lines.iter().enumerate() {
        match serde_json::from_str::<Record>(line) {
            Ok(record) => records.push(record),
            Err(_) if index + 1 == lines.len() && !text.ends_with('\n') => break,
            Err(error) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{}:{}: not a journal record: {error}",
                        path.display(),
                        number + 1
                    ),
                ));
            }
        }
    }
    Ok(records)
}

/// This machine's name, for locks and records.
pub fn hostname() -> String {
    #[cfg(unix)]
    {
        let mut buffer = [0u8; 256];
        // SAFETY: gethostname writes at most `len` bytes into the buffer we own.
        let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
        if result == 0 {
            let end = buffer
                .iter()
                .position(|byte| *byte == 0)
                .unwrap_or(buffer.len());
            if let Ok(name) = std::str::from_utf8(&buffer[..end])
                && !name.is_empty()
            {
                return name.to_string();
            }
        }
    }
    std::env::var("HOSTNAME").unwrap_or_else(|_| "unknown-host".into())
}

pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(step: &str) -> Record {
        Record::Retry {
            step: step.into(),
            attempt: 1,
            wait_ms: 10,
            reason: "503".into(),
        }
    }

    /// A record that waits for the next sync is still in the file at once: a killed process
    /// (the page cache survives it) loses nothing; only the fdatasync is deferred.
    #[test]
    fn every_record_is_in_the_file_at_once_and_syncs_are_only_done_when_needed() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::create(dir.path(), "run-1", Redactor::new()).unwrap();
        assert!(!journal.unsynced);
        journal.append(&retry("one"), false).unwrap();
        assert!(journal.unsynced, "a deferred record waits for a sync");
        let text = std::fs::read_to_string(journal.path()).unwrap();
        assert!(text.contains(r#""step":"one""#), "{text}");
        journal.sync().unwrap();
        assert!(!journal.unsynced);
        journal.append(&retry("two"), true).unwrap();
        assert!(
            !journal.unsynced,
            "a durable record is synced with everything before it"
        );
        assert_eq!(read(journal.path()).unwrap().len(), 2);
    }

    /// A journal whose last line was torn by a crash is continued on a line of its own: what is
    /// appended on resume is not glued to the fragment, and the journal stays readable.
    #[test]
    fn a_torn_last_line_is_cut_before_a_resume_appends() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::create(dir.path(), "run-1", Redactor::new()).unwrap();
        journal.append(&retry("one"), true).unwrap();
        journal.append(&retry("two"), true).unwrap();
        let path = journal.path().to_path_buf();
        drop(journal);
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() - 10]).unwrap();
        let mut journal = Journal::reopen(dir.path(), "run-1", Redactor::new()).unwrap();
        journal.append(&retry("three"), true).unwrap();
        let steps: Vec<String> = read(&path)
            .unwrap()
            .into_iter()
            .map(|record| match record {
                Record::Retry { step, .. } => step,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(steps, ["one", "three"]);
        // A last record that lacks only its line break is kept.
        drop(journal);
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() - 1]).unwrap();
        let mut journal = Journal::reopen(dir.path(), "run-1", Redactor::new()).unwrap();
        journal.append(&retry("four"), true).unwrap();
        assert_eq!(read(&path).unwrap().len(), 3);
        assert_eq!(journal.length, std::fs::metadata(&path).unwrap().len());
    }
}
