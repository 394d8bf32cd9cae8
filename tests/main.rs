//! The integration tests: one binary, a module per feature.

mod support;

mod check;
mod durable;
mod emulator;
mod exec;
mod plan;
mod readme;
mod rotation;
mod schema;
