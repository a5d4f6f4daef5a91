//! What `window(openid)` tells a rule: whether WeChat would accept a customer-service
//! message to the user now, behind a trait so the rules need not know the tracker.

use serde::{Deserialize, Serialize};

/// A user's customer-service window as the tracker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WindowInfo {
    pub open: bool,
    /// Messages WeChat would still accept.
    pub remaining: u32,
    /// When the last open window closes, unix seconds; 0 when none is open.
    pub expires_at: i64,
}

/// The window tracker, as the rules read it.
pub trait WindowView: Send + Sync {
    /// The user's window at `now` (unix seconds).
    fn window(&self, openid: &str, now: i64) -> Result<WindowInfo, String>;
}
