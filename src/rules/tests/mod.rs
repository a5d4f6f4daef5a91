//! Rule evaluation tests on real Rhai, real sled and canned lookups.

mod functions;
mod limits;
mod loading;
mod memory;
