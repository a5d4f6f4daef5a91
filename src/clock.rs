//! Wall-clock time as unix seconds and milliseconds, the units WeChat and the store use.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

/// Now, in unix seconds.
pub fn now_secs() -> i64 {
    now_ms() / 1000
}
