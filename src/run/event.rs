//! What a run produces: plain, documented data. The engine never prints; the reporters (human,
//! JSON), and later the journal and the audit sink, consume these. Secret values never appear
//! in them: a secret capture is recorded as a mask and a fingerprint.

use serde::Serialize;

use crate::runbook::model::Effect;
pub use crate::step::propagate::{TargetRecord, TargetStatus};

/// An audit record as written.
#[derive(Clone, Debug, Serialize)]
pub struct AuditWritten {
    pub file: String,
    pub record: serde_json::Value,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        runbook: String,
        title: String,
        file: String,
        digest: String,
        steps: usize,
        started_at: String,
    },
    StepStarted {
        index: usize,
        id: String,
        title: String,
        effect: Effect,
    },
    /// The instructions of a manual step, before the operator is asked to confirm.
    ManualInstructions {
        id: String,
        instructions: String,
    },
    /// An attempt failed and the step will try again after `wait_ms`.
    StepRetrying {
        id: String,
        attempt: u32,
        attempts: u32,
        wait_ms: u64,
        reason: String,
    },
    /// Ctrl-C came while a change was in flight: the run lets it finish (the journal must
    /// know what happened) and stops once it has an answer.
    FinishingRequest {
        id: String,
        request: String,
    },
    StepFinished(StepResult),
    RunFinished(RunSummary),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Ok,
    Failed,
    Skipped,
    /// The operator declined (or could not be asked) to confirm.
    Refused,
    /// Stopped by Ctrl-C or SIGTERM.
    Interrupted,
}

#[derive(Clone, Debug, Serialize)]
pub struct StepResult {
    /// 1-based position in the runbook.
    pub index: usize,
    pub id: String,
    pub title: String,
    pub effect: Effect,
    pub status: StepStatus,
    pub duration_ms: u64,
    pub requests: Vec<RequestRecord>,
    pub captures: Vec<CaptureRecord>,
    /// What a `propagate` step did at each target.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetRecord>,
    /// The record an `audit` step wrote, and where.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditWritten>,
    /// Why the step failed, one sentence each.
    pub failures: Vec<String>,
    /// Why it was skipped, refused or how it was confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// A request that changes something was sent and no answer came (a timeout, a dropped
    /// connection): it may or may not have taken effect. A resume settles it before going on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_doubt: Option<String>,
}

impl StepResult {
    /// The result of step `index` (0-based) before anything has happened: ok, nothing sent.
    pub fn new(index: usize, step: &crate::runbook::model::Step) -> Self {
        Self {
            index: index + 1,
            id: step.id.clone(),
            title: step.title.clone(),
            effect: step.effect(),
            status: StepStatus::Ok,
            duration_ms: 0,
            requests: Vec::new(),
            captures: Vec::new(),
            targets: Vec::new(),
            audit: None,
            failures: Vec::new(),
            note: None,
            in_doubt: None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RequestRecord {
    pub method: &'static str,
    pub url: String,
    /// `None` when no response came (refused, timed out).
    pub status: Option<u16>,
    pub duration_ms: u64,
    pub attempt: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CaptureRecord {
    pub name: String,
    /// The value, or the mask for a secret.
    pub value: serde_json::Value,
    pub secret: bool,
    /// First 8 hex digits of the secret's SHA-256, to tell values apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Completed,
    Failed,
    /// The operator declined a confirmation.
    Refused,
    /// Stopped by a signal.
    Aborted,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub status: RunStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
    pub duration_ms: u64,
    /// The failed step's rollback note first, then those of completed steps in reverse order.
    pub rollback: Vec<RollbackNote>,
    /// Whether anything mutating was sent.
    pub mutated: bool,
    /// The run's journal, if it kept one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal: Option<String>,
    /// A problem with the journal the operator must know about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal_problem: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RollbackNote {
    pub step: String,
    pub title: String,
    /// Whether this is the step that failed (or was interrupted).
    pub failed: bool,
    pub note: String,
}
