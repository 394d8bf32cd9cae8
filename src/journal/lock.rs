//! Locks: two runs of the same runbook for the same target cannot overlap, and an unfinished
//! rotation blocks a second one (the AWS Secrets Manager rule), until it is resumed or the
//! operator deliberately breaks the lock with `--force-unlock` (which is journaled).
//!
//! A lock is a file under `<state dir>/locks/`, created exclusively, holding who took it, when,
//! from which host and process, for which run. A lock whose process is gone on this host is
//! reported as stale, with the way forward.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::private_dir;

/// Who holds a lock.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Holder {
    pub key: String,
    pub run_id: String,
    pub runbook: String,
    pub host: String,
    pub pid: u32,
    pub since: String,
    pub actor: String,
}

impl Holder {
    /// Whether the holding process is known to be gone: same host, no such process.
    pub fn is_stale(&self, this_host: &str) -> bool {
        self.host == this_host && !process_alive(self.pid)
    }

    pub fn describe(&self) -> String {
        format!(
            "run {} of {} by {} on {} (process {}), since {}",
            self.run_id, self.runbook, self.actor, self.host, self.pid, self.since
        )
    }
}

/// A held lock. It is released explicitly: a run that stops halfway keeps it.
pub struct Lock {
    path: PathBuf,
    pub holder: Holder,
}

pub enum LockError {
    /// Someone holds it (or held it and died: see [`Holder::is_stale`]).
    Held(Box<Holder>),
    /// The lock's file is there but does not say who holds it (damaged, or not readable by
    /// this user): held, by nobody this run can name.
    Unreadable {
        path: PathBuf,
        reason: String,
    },
    Io(String),
}

/// What the file of a held lock says.
pub enum Found {
    Holder(Holder),
    Unreadable { path: PathBuf, reason: String },
}

/// The file of a lock key: readable, and unique through a digest of the key.
pub fn lock_path(state_dir: &Path, key: &str) -> PathBuf {
    let readable: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    let digest = Sha256::digest(key.as_bytes());
    let short: String = digest[..4]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    state_dir
        .join("locks")
        .join(format!("{readable}-{short}.lock"))
}

/// Reads who holds a lock, if anyone. A lock file is written whole before it takes its name
/// (see [`acquire`]), so one that cannot be read as a holder is damaged or unreadable, never
/// half-written.
pub fn holder(state_dir: &Path, key: &str) -> Option<Found> {
    let path = lock_path(state_dir, key);
    let text = match crate::files::read_regular(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => {
            return Some(Found::Unreadable {
                path,
                reason: crate::files::reason(&error),
            });
        }
    };
    Some(match serde_json::from_slice(&text) {
        Ok(holder) => Found::Holder(holder),
        Err(_) => Found::Unreadable {
            path,
            reason: "it does not say who holds the lock (damaged, or written by something else)"
                .into(),
        },
    })
}

/// Takes the lock, or says who holds it.
pub fn acquire(state_dir: &Path, holder: Holder) -> Result<Lock, LockError> {
    let path = lock_path(state_dir, &holder.key);
    let io = |path: &Path, error: std::io::Error| {
        LockError::Io(super::unusable_in_state_dir(
            state_dir, path, &error, "write",
        ))
    };
    if let Some(parent) = path.parent() {
        private_dir(parent).map_err(|error| io(parent, error))?;
    }
    // Written whole under a name of its own, then linked to the lock's name, which fails if
    // the lock exists: whoever finds the lock finds who holds it, never an empty file.
    let text = serde_json::to_string(&holder).map_err(|error| LockError::Io(error.to_string()))?;
    let draft = path.with_extension(format!("lock.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    // Not synced: a lock guards against another process, and a machine that lost power has no
    // process holding it.
    let written = options
        .open(&draft)
        .and_then(|mut file| file.write_all(text.as_bytes()));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&draft);
        return Err(io(&draft, error));
    }
    let linked = link(&draft, &path, state_dir, &holder.key).map_err(|error| match error {
        Linking::Failed(error) => io(&path, error),
        Linking::Taken(found) => (*found).into(),
    });
    let _ = std::fs::remove_file(&draft);
    linked.map(|()| Lock { path, holder })
}

/// Why a draft could not take the lock's name.
enum Linking {
    Taken(Box<Found>),
    Failed(std::io::Error),
}

impl From<Found> for LockError {
    fn from(found: Found) -> LockError {
        match found {
            Found::Holder(holder) => LockError::Held(Box::new(holder)),
            Found::Unreadable { path, reason } => LockError::Unreadable { path, reason },
        }
    }
}

/// Gives the written draft the lock's name, unless the lock exists. A lock released between
/// the failed link and the reading of its holder is tried again, a few times.
fn link(draft: &Path, path: &Path, state_dir: &Path, key: &str) -> Result<(), Linking> {
    for _ in 0..3 {
        match std::fs::hard_link(draft, path) {
            Ok(()) => return Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                if let Some(found) = holder(state_dir, key) {
                    return Err(Linking::Taken(Box::new(found)));
                }
            }
            Err(error) => return Err(Linking::Failed(error)),
        }
    }
    Err(Linking::Failed(std::io::Error::other(
        "taken and released again and again by other runs; try again",
    )))
}

/// Removes a lock whatever holds it; returns the previous holder, when its file said.
pub fn break_lock(state_dir: &Path, key: &str) -> Option<Holder> {
    let previous = match holder(state_dir, key) {
        Some(Found::Holder(holder)) => Some(holder),
        _ => None,
    };
    let _ = std::fs::remove_file(lock_path(state_dir, key));
    previous
}

impl Lock {
    /// Gives the lock up.
    pub fn release(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether a process exists on this host.
pub fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        if pid <= 0 {
            return false;
        }
        // SAFETY: signal 0 only checks that the process exists and may be signalled.
        let result = unsafe { libc::kill(pid, 0) };
        result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}
