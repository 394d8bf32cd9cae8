//! Everything a run reads from its surroundings, read once: the environment, the command-line
//! values, whether a person is at a terminal, the clock. Passed down instead of re-read, so a
//! test can hand the engine any world it likes.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::secret::Redactor;

/// The process environment as `main` reads it, once.
pub struct Environment {
    /// The variables whose name and value are UTF-8.
    pub vars: HashMap<String, String>,
    /// The variables that are set to something that is not UTF-8: left out of `vars`, and
    /// named when an input that reads them is missing.
    pub not_utf8: BTreeSet<String>,
}

impl Environment {
    pub fn read() -> Environment {
        let mut environment = Environment {
            vars: HashMap::new(),
            not_utf8: BTreeSet::new(),
        };
        for (name, value) in std::env::vars_os() {
            let Ok(name) = name.into_string() else {
                continue;
            };
            match value.into_string() {
                Ok(value) => {
                    environment.vars.insert(name, value);
                }
                Err(_) => {
                    environment.not_utf8.insert(name);
                }
            }
        }
        environment
    }
}

#[derive(Clone)]
pub struct Context {
    /// Environment variables (the process's, with any overlay such as the emulator's).
    pub env: HashMap<String, String>,
    /// Environment variables set to something that is not UTF-8 (see [`Environment`]).
    pub env_not_utf8: BTreeSet<String>,
    /// `--var NAME=VALUE`, in the order given.
    pub vars: Vec<(String, String)>,
    /// `--service NAME=URL`, in the order given.
    pub services: Vec<(String, String)>,
    /// Whether questions can be asked: stdin and stderr are terminals.
    pub interactive: bool,
    /// `--yes`: confirmations are answered yes.
    pub assume_yes: bool,
    pub redactor: Arc<Redactor>,
    pub started_at: jiff::Timestamp,
    pub run_id: String,
    /// Where runs keep their records (the audit log by default, journals later).
    pub state_dir: PathBuf,
    /// Who runs it, for the audit record.
    pub actor: String,
    /// The longest the whole run may take (`--deadline`).
    pub deadline: Option<std::time::Duration>,
    /// The only origins (`http://127.0.0.1:41234`) requests may go to, when set: an
    /// `--emulate` rehearsal reaches its emulator and the `--service` URLs given, nothing else.
    pub reachable: Option<Vec<String>>,
}

impl Context {
    /// A context for a run started now in the environment `main` read.
    pub fn from_environment(environment: Environment, redactor: Arc<Redactor>) -> Context {
        let mut context = Context::new(environment.vars, redactor);
        context.env_not_utf8 = environment.not_utf8;
        context
    }

    /// A context for a run started now, with a fresh run id.
    pub fn new(env: HashMap<String, String>, redactor: Arc<Redactor>) -> Context {
        let started_at = jiff::Timestamp::now();
        let state_dir = default_state_dir(&env);
        let actor = default_actor(&env);
        Context {
            env,
            env_not_utf8: BTreeSet::new(),
            vars: Vec::new(),
            services: Vec::new(),
            interactive: false,
            assume_yes: false,
            redactor,
            run_id: new_run_id(started_at),
            started_at,
            state_dir,
            actor,
            deadline: None,
            reachable: None,
        }
    }

    /// The value of an environment variable, if set and not empty.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }
}

/// Where `exec --emulate` rehearsals keep their runs, lock and audit record, under a state
/// directory: apart from real runs'.
pub fn rehearsal_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("emulated")
}

/// `$RUNBOOK_STATE_DIR`, else `$XDG_STATE_HOME/runbook`, else `~/.local/state/runbook` (the XDG
/// base-directory default), else `.runbook` in the current directory.
pub fn default_state_dir(env: &HashMap<String, String>) -> PathBuf {
    let set = |name: &str| env.get(name).filter(|value| !value.is_empty());
    if let Some(dir) = set("RUNBOOK_STATE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = set("XDG_STATE_HOME") {
        return PathBuf::from(dir).join("runbook");
    }
    if let Some(home) = set("HOME") {
        return PathBuf::from(home).join(".local/state/runbook");
    }
    PathBuf::from(".runbook")
}

/// `$RUNBOOK_ACTOR`, else the OS user (`$USER`, `$LOGNAME`, `$USERNAME`), else `unknown`.
pub fn default_actor(env: &HashMap<String, String>) -> String {
    ["RUNBOOK_ACTOR", "USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|name| env.get(*name).filter(|value| !value.is_empty()))
        .cloned()
        .unwrap_or_else(|| "unknown".to_string())
}

/// A run id that sorts by start time and is unique across hosts: the UTC time to the
/// millisecond and 32 random bits, e.g. `20261123T004512345Z-3fa9c2d1`.
pub fn new_run_id(at: jiff::Timestamp) -> String {
    let time = at.strftime("%Y%m%dT%H%M%S%3fZ");
    format!("{time}-{:08x}", rand::random::<u32>())
}
