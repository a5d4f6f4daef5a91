//! The integration tests: one binary, real servers on loopback, real sled on temp dirs.

mod api;
mod callback;
mod crash;
mod rules;
mod support;
