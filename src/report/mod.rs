//! Reports: the human view, JSON lines, and the terminal questions. All output goes through
//! [`output::Output`], which masks secrets.

pub mod human;
pub mod json;
pub mod output;
pub mod terminal;

pub use output::Output;
