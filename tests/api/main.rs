//! Integration tests: one binary, so the crate links once. Every test starts the real server.

mod cli;
mod foundation;
mod helpers;
