//! The server crate's integration tests in one binary (one link instead of one per
//! file); each former test file is a module, so tests keep their names (`cli::...`,
//! `schema::...`). `idle.rs` stays a binary of its own: it measures the CPU time of
//! every thread named `encode` in the process, which only works where no other test
//! (`still`'s view, for one) runs an encode thread beside it.

mod cli;
mod denoise_runtime;
mod schema;
mod still;

use std::process::Command;

/// The `streamtracer` binary of this build, as a user runs it.
fn streamtracer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_streamtracer"))
}
