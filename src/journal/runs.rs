//! Reading journals back: what a run did, where it stopped, and its state for `runbook runs`,
//! `runbook show` and `runbook resume`.

use std::path::Path;

use indexmap::IndexMap;

use super::lock::process_alive;
use super::{InputRecord, Record, RunbookRef, hostname, journal_path, read};
use super::{check_is_directory, unusable_in_state_dir};

/// A run as its journal tells it.
#[derive(Debug)]
pub struct RunView {
    /// The journal's format version (see [`crate::journal::FORMAT`]).
    pub format: u32,
    pub run_id: String,
    pub runbook: RunbookRef,
    pub started_at: String,
    pub actor: String,
    pub host: String,
    pub pid: u32,
    pub inputs: Vec<InputRecord>,
    pub services: IndexMap<String, String>,
    pub lock: Option<String>,
    pub sealed_run_key: Option<String>,
    pub sealed_for: Option<String>,
    /// Steps in the order they were first recorded.
    pub steps: IndexMap<String, StepView>,
    /// The latest capture of each name; a `for_each` item's as `name[item]`.
    pub captures: IndexMap<String, CaptureView>,
    /// How the latest attempt at the run ended, if it did.
    pub finished: Option<(String, Option<String>)>,
    pub resumes: usize,
    /// Whether anything mutating was ever sent.
    pub mutated: bool,
}

#[derive(Debug, Default, Clone)]
pub struct StepView {
    /// The status of its last `step_finished`.
    pub status: Option<String>,
    pub failures: Vec<String>,
    pub note: Option<String>,
    /// The last mutating request announced after the step last finished: set means the process
    /// died (or stopped) between sending it and recording the answer.
    pub pending: Option<String>,
    pub retries: usize,
    /// The `for_each` items its mutating requests were sent for, each once, by position (in
    /// journals without positions, equal items once).
    pub items_sent: Vec<serde_json::Value>,
    /// The positions of its `for_each` items that went through (journal format 2 on).
    pub items_finished: std::collections::BTreeSet<usize>,
}

impl StepView {
    /// How many of its `for_each` items went through one after the other from the first.
    pub fn items_finished_in_order(&self) -> usize {
        (0..)
            .take_while(|item| self.items_finished.contains(item))
            .count()
    }
}

#[derive(Debug, Clone)]
pub struct CaptureView {
    pub step: String,
    /// The capture's name (the view's key adds `[item]` for a `for_each` item's).
    pub name: String,
    pub item: Option<usize>,
    pub secret: bool,
    pub value: Option<serde_json::Value>,
    pub sealed: Option<String>,
    pub fingerprint: Option<String>,
}

/// A run's state, as `runbook runs` shows it.
#[derive(Debug, PartialEq, Eq)]
pub enum RunState {
    /// Its process is alive on this host.
    Running,
    Completed,
    /// Ended on its own: failed, refused or aborted, at a step.
    Ended {
        status: String,
        step: Option<String>,
    },
    /// No end recorded and the process is gone: it was killed or crashed. `step` is the one
    /// with a request in flight (`during`), else the last one that finished: the journal
    /// records a step when it finishes, and a mutating request before it goes out.
    Died {
        step: Option<String>,
        during: bool,
    },
}

impl RunState {
    pub fn describe(&self) -> String {
        match self {
            RunState::Running => "running".into(),
            RunState::Completed => "completed".into(),
            RunState::Ended {
                status,
                step: Some(step),
            } => format!("{status} at step {step}"),
            RunState::Ended { status, step: None } => status.clone(),
            RunState::Died {
                step: Some(step),
                during: true,
            } => format!("died during step {step}"),
            RunState::Died {
                step: Some(step),
                during: false,
            } => format!("died after step {step}"),
            RunState::Died { step: None, .. } => "died".into(),
        }
    }

    /// Whether `resume` can continue it.
    pub fn resumable(&self) -> bool {
        !matches!(self, RunState::Running | RunState::Completed)
    }
}

impl RunView {
    pub fn state(&self) -> RunState {
        match &self.finished {
            Some((status, _)) if status == "completed" => RunState::Completed,
            Some((status, step)) => RunState::Ended {
                status: status.clone(),
                step: step.clone(),
            },
            None if self.host == hostname() && process_alive(self.pid) => RunState::Running,
            None => {
                let stopped = self.where_it_stopped();
                RunState::Died {
                    during: stopped.as_ref().is_some_and(|(_, during)| *during),
                    step: stopped.map(|(step, _)| step),
                }
            }
        }
    }

    /// Where the run stopped: the step with a request in flight (`true`), else the last one
    /// recorded, which had finished (`false`).
    pub fn where_it_stopped(&self) -> Option<(String, bool)> {
        self.steps
            .iter()
            .rev()
            .find(|(_, step)| step.pending.is_some())
            .map(|(id, _)| (id.clone(), true))
            .or_else(|| {
                self.steps
                    .iter()
                    .next_back()
                    .map(|(id, step)| (id.clone(), step.status.is_none()))
            })
    }
}

/// Whether `text` can name a run: one file name of letters, digits, `-`, `_` and `.`, not
/// starting with a dot. Anything else (`../other/runs/x`, `/tmp/x`) would reach a journal
/// outside the state directory, whose privacy was checked, and is refused before any path is
/// built from it.
pub fn is_run_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && !text.starts_with('.')
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
}

/// Reads one run's journal.
pub fn load(state_dir: &Path, run_id: &str) -> Result<RunView, String> {
    if !is_run_id(run_id) {
        return Err(format!(
            "`{run_id}` is not a run id: run ids look like 20261123T204403974Z-0b295bcf, a \
             name inside the state directory, never a path (`runbook runs` lists them)"
        ));
    }
    let path = journal_path(state_dir, run_id);
    if let Err(error) = std::fs::metadata(&path) {
        if error.kind() != std::io::ErrorKind::NotFound {
            // Not "no such run": the state directory is not one, or may not be read.
            check_is_directory(state_dir)?;
            // Name the directory that stops the reading, not the journal inside it.
            let runs = state_dir.join("runs");
            let (path, error) = [runs.clone(), runs.join(run_id)]
                .into_iter()
                .find_map(|dir| match std::fs::read_dir(&dir) {
                    Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                        Some((dir, error))
                    }
                    _ => None,
                })
                .unwrap_or((path, error));
            return Err(unusable_in_state_dir(state_dir, &path, &error, "read"));
        }
        return Err(format!(
            "no run {run_id} in {} (`runbook runs` lists the runs there)",
            state_dir.display()
        ));
    }
    let records =
        read(&path).map_err(|error| match error.kind() {
            // It names the file and line already.
            std::io::ErrorKind::InvalidData => format!(
                "{error}. The journal is damaged (edited, or its disk failed): keep a copy of it, then move that line out of it and try again"
            ),
            _ => format!("cannot read {}: {}", path.display(), crate::files::reason(&error)),
        })?;
    let view = view(records).ok_or_else(|| {
        format!(
            "{} does not start with a run_started record",
            path.display()
        )
    })?;
    if view.run_id != run_id {
        return Err(format!(
            "{} is the journal of run {}, not of run {run_id} whose directory holds it: it was moved or copied there. Put it back in runs/{}/",
            path.display(),
            view.run_id,
            view.run_id
        ));
    }
    Ok(view)
}

fn view(records: Vec<Record>) -> Option<RunView> {
    let mut records = records.into_iter();
    let Some(Record::RunStarted {
        format,
        run_id,
        runbook,
        inputs,
        services,
        started_at,
        host,
        pid,
        actor,
        lock,
        sealed_run_key,
        sealed_for,
        ..
    }) = records.next()
    else {
        return None;
    };
    let mut run = RunView {
        format,
        run_id,
        runbook,
        started_at,
        actor,
        host,
        pid,
        inputs,
        services,
        lock,
        sealed_run_key,
        sealed_for,
        steps: IndexMap::new(),
        captures: IndexMap::new(),
        finished: None,
        resumes: 0,
        mutated: false,
    };
    for record in records {
        match record {
            Record::Resumed { host, pid, .. } => {
                run.resumes += 1;
                run.host = host;
                run.pid = pid;
                run.finished = None;
            }
            Record::Intent {
                step,
                action,
                item,
                position,
                ..
            } => {
                run.mutated = true;
                let view = run.steps.entry(step).or_default();
                view.pending = Some(action);
                match (item, position) {
                    (Some(item), Some(position)) if position == view.items_sent.len() => {
                        view.items_sent.push(item);
                    }
                    // A gap runbook never writes (a damaged journal): one null, which matches
                    // no item, so a resume asks the operator. Never sized by the file's number.
                    (Some(item), Some(position)) if position > view.items_sent.len() => {
                        view.items_sent.push(serde_json::Value::Null);
                        view.items_sent.push(item);
                    }
                    // A retry of an item already sent adds nothing.
                    (Some(_), Some(_)) | (None, _) => {}
                    // Written before positions were: equal items cannot be told apart.
                    (Some(item), None) => {
                        if !view.items_sent.contains(&item) {
                            view.items_sent.push(item);
                        }
                    }
                }
            }
            Record::Retry { step, .. } => run.steps.entry(step).or_default().retries += 1,
            Record::ItemFinished { step, item } => {
                run.steps
                    .entry(step)
                    .or_default()
                    .items_finished
                    .insert(item);
            }
            Record::Capture {
                step,
                name,
                item,
                secret,
                value,
                sealed,
                fingerprint,
            } => {
                run.steps.entry(step.clone()).or_default();
                let key = match item {
                    Some(item) => format!("{name}[{item}]"),
                    None => name.clone(),
                };
                run.captures.insert(
                    key,
                    CaptureView {
                        step,
                        name,
                        item,
                        secret,
                        value,
                        sealed,
                        fingerprint,
                    },
                );
            }
            Record::StepFinished {
                step,
                status,
                failures,
                note,
                pending,
            } => {
                let view = run.steps.entry(step).or_default();
                view.status = Some(status);
                view.failures = failures;
                view.note = note;
                view.pending = pending;
            }
            Record::Settled { step, .. } => {
                run.steps.entry(step).or_default().pending = None;
            }
            Record::RunFinished {
                status,
                failed_step,
                ..
            } => run.finished = Some((status, failed_step)),
            Record::RunStarted { .. } | Record::UnlockForced { .. } => {}
        }
    }
    Some(run)
}

/// Every run under the state directory, oldest first (run ids sort by start time); an error
/// when the state directory cannot be read (a missing one holds no runs).
pub fn list(state_dir: &Path) -> Result<Vec<Result<RunView, String>>, String> {
    Ok(run_ids(state_dir)?
        .iter()
        .map(|id| load(state_dir, id))
        .collect())
}

/// The ids of the runs under the state directory, sorted, without reading their journals; an
/// error when the state directory cannot be read (a missing one holds no runs).
pub fn run_ids(state_dir: &Path) -> Result<Vec<String>, String> {
    check_is_directory(state_dir)?;
    let runs = state_dir.join("runs");
    let entries = match std::fs::read_dir(&runs) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(unusable_in_state_dir(state_dir, &runs, &error, "read")),
    };
    let mut ids: Vec<String> = entries
        .flatten()
        // A run whose journal cannot even be looked at (a directory others made unreadable)
        // is listed too: reading it then says why, where skipping it would hide a run.
        .filter(|entry| {
            let path = entry.path();
            path.is_dir() && !matches!(path.join("journal.jsonl").try_exists(), Ok(false))
        })
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}
