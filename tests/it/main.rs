//! The integration tests: one binary, real servers on loopback, real sled on temp dirs.

mod rules;
mod support;
