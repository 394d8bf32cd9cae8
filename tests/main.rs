//! Integration tests.

mod emulator;
