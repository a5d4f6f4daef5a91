//! The integration tests: one binary, real servers on loopback, real sled on temp dirs.

// Helpers of tests panic on purpose: a failed unwrap there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod callback;
mod crash;
mod crash_pipeline;
mod crash_stats;
mod dashboard;
mod deploy;
mod faults;
mod fuzz_regressions;
mod logs;
mod metrics;
mod pipeline;
mod rules;
mod sandbox;
mod secrets;
mod stats;
mod store_failure;
mod support;
mod tools;
mod walkthrough;
