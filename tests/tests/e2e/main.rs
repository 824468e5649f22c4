//! The end-to-end tests in one binary: each binary links WebRTC and OpenH264, so one
//! link here instead of one per file. Each former test file is a module, so a test
//! keeps a readable name (`stream::...`, `access::...`); shared setup is in the
//! library (`streamtracer_tests`).
//!
//! None of these sets process-wide state (environment variables, signal handlers,
//! rlimits, a global subscriber): each test starts its own server, in process or as
//! the binary, so they can share a process.
//!
//! The browser tests are a binary of their own (`tests/browser.rs`): each runs
//! Chromium beside the server, and two of them already fill two cores. Alone, they run
//! two at a time beside each other only, as they always have; here libtest's pool
//! would put some of them beside other tests, and the rest of the suite beside
//! Chromium, a pairing neither was tuned for, for the gain of one link.

mod access;
mod bad_edits;
mod bad_inputs;
mod credentials;
mod durability;
mod edits;
mod faults;
mod link;
mod resume;
mod signaling;
mod soak;
mod stream;
mod uploads;
mod views;
