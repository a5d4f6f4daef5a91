//! Tracing setup: human-readable or JSON lines, filtered by config or RUST_LOG.
