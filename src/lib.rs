//! runbook: a declarative runbook engine.
pub mod emulator;
