//! runbook: a declarative runbook engine.
