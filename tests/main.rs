//! The integration tests: one binary, a module per feature.

mod support;

mod check;
mod checker_hardening;
mod diff;
mod durable;
mod emulator;
mod exec;
mod hardening;
mod interactive;
mod lint;
mod output;
mod plan;
mod readme;
mod render;
mod rotation;
mod schema;
mod sdk;
