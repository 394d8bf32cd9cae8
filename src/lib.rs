//! runbook: a declarative runbook engine. Ops procedures are YAML step graphs; `runbook exec`
//! runs them with secrets masked everywhere, confirmation before anything irreversible, and the
//! rollback notes in front of the operator when something fails.
//!
//! A runbook moves through the program in one direction:
//! file ─[`runbook::load`]▶ raw model ─[`runbook::check`]▶ [`runbook::Runbook`] ─[`plan`]▶ plan
//! ─[`run`]▶ events ─▶ [`report`].

pub mod app;
pub mod cli;
pub mod diagnostic;
pub mod diff;
pub mod emulator;
pub mod exit;
pub mod files;
pub mod journal;
pub mod logging;
pub mod operate;
pub mod plan;
pub mod render;
pub mod report;
pub mod run;
pub mod runbook;
pub mod secret;
pub mod session;
pub mod step;
pub mod suggest;
pub mod template;
#[cfg(test)]
mod testing;
