//! The merchant's Rhai rules: loading, limits, the functions rules call, hot reload.
