//! Running a runbook: binding its values, executing its steps, reporting what happened.

mod actions;
pub mod context;
pub mod durable;
pub mod engine;
pub mod event;
pub mod inputs;
pub mod values;

pub use context::Context;
pub use durable::{Durability, ResumePlan};
pub use engine::{Answer, Confirmer, Interrupt, Question, QuestionKind, Reporter, Request, run};
pub use event::{Event, RunStatus, RunSummary, StepResult, StepStatus};
pub use inputs::{Binding, Mode, Prompter, bind};
