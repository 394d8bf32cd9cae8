//! What `runbook diff` found, as plain data: the Markdown and JSON views are made from it.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Comparison {
    pub old: String,
    pub new: String,
    /// Whether anything but formatting changed.
    pub changed: bool,
    /// What a reviewer must not miss, loudest first.
    pub attention: Vec<Attention>,
    pub steps: StepChanges,
    pub inputs: Vec<ItemChange>,
    pub vars: Vec<ItemChange>,
    pub services: Vec<ItemChange>,
    /// Title, description, metadata, applies-to, rollback, gotchas.
    pub runbook: Vec<Change>,
    /// Templates that read a secret they did not read before, by place.
    pub secret_flows: Vec<SecretFlow>,
}

#[derive(Debug, Serialize)]
pub struct Attention {
    pub kind: AttentionKind,
    /// The step, input, var or service it is about.
    pub subject: String,
    /// What happened, in a sentence (Markdown).
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttentionKind {
    LostConfirmation,
    BecameIrreversible,
    NewIrreversibleStep,
    SecretAtRisk,
    NoLongerSecret,
    ServiceUrlChanged,
}

impl AttentionKind {
    pub fn headline(self) -> &'static str {
        match self {
            AttentionKind::LostConfirmation => "Lost its confirmation",
            AttentionKind::BecameIrreversible => "Became irreversible",
            AttentionKind::NewIrreversibleStep => "New irreversible step",
            AttentionKind::SecretAtRisk => "Secret at risk",
            AttentionKind::NoLongerSecret => "No longer secret",
            AttentionKind::ServiceUrlChanged => "Service URL changed",
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct StepChanges {
    pub added: Vec<StepRef>,
    pub removed: Vec<StepRef>,
    pub moved: Vec<Move>,
    pub changed: Vec<ChangedStep>,
}

#[derive(Debug, Serialize)]
pub struct StepRef {
    pub id: String,
    pub title: String,
    /// 1-based, in the file it is in.
    pub position: usize,
}

#[derive(Debug, Serialize)]
pub struct Move {
    pub id: String,
    pub from: usize,
    pub to: usize,
}

#[derive(Debug, Serialize)]
pub struct ChangedStep {
    pub id: String,
    pub title: String,
    pub changes: Vec<Change>,
}

#[derive(Debug, Serialize)]
pub struct Change {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ItemChange {
    pub name: String,
    pub status: ItemStatus,
    pub changes: Vec<Change>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Added,
    Removed,
    Changed,
}

#[derive(Debug, Serialize)]
pub struct SecretFlow {
    pub step: String,
    pub field: String,
    pub secrets: Vec<String>,
    /// A URL, query, manual text, rollback note, hint or audit record.
    pub risk: bool,
}
