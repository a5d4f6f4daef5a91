//! The customer-service windows as WeChat keeps them: opened by what the user does,
//! each with a quota and an end, and spent by `message/custom/send` (PROTOCOL §3.8).

use std::collections::BTreeMap;

use super::Failure;
use crate::config::WindowConfig;
use crate::wechat::event::{Event, WindowOpening};

/// The typing indicator needs a message from the user this recently, in seconds.
const TYPING_WINDOW_SECS: i64 = 30;

/// One open window.
#[derive(Debug, Clone, Copy)]
struct Window {
    ends_at: i64,
    remaining: u32,
}

/// Every user's windows, and when each last wrote.
#[derive(Debug)]
pub(crate) struct Windows {
    config: WindowConfig,
    open: BTreeMap<String, Vec<Window>>,
    last_message_at: BTreeMap<String, i64>,
}

impl Windows {
    pub(crate) fn new(config: WindowConfig) -> Windows {
        Windows {
            config,
            open: BTreeMap::new(),
            last_message_at: BTreeMap::new(),
        }
    }

    /// Opens the window `event` opens, if any, at `now`.
    pub(crate) fn observe(&mut self, event: &Event, now: i64) {
        let config = &self.config;
        let (quota, secs) = match event.window_opening() {
            Some(WindowOpening::Message) => {
                self.last_message_at.insert(event.openid.clone(), now);
                (config.message_quota, config.message_window_secs)
            }
            Some(WindowOpening::Interaction) => {
                (config.interaction_quota, config.interaction_window_secs)
            }
            Some(WindowOpening::UserCardEvent) if config.card_events_open_window => {
                (config.interaction_quota, config.interaction_window_secs)
            }
            _ => {
                if event.kind == "unsubscribe" {
                    self.open.remove(&event.openid);
                }
                return;
            }
        };

        let window = Window {
            ends_at: now + secs as i64,
            remaining: quota,
        };
        let windows = self.open.entry(event.openid.clone()).or_default();
        windows.retain(|window| window.ends_at > now);
        windows.push(window);
    }

    /// Spends one send of the window that closes first: 45015 when none is open,
    /// 45047 when the open ones have no quota left.
    pub(crate) fn spend(&mut self, openid: &str, now: i64) -> Result<(), Failure> {
        let windows = self.open.entry(openid.to_string()).or_default();
        windows.retain(|window| window.ends_at > now);
        if windows.is_empty() {
            return Err(Failure::new(
                45015,
                "response out of time limit or subscription is canceled",
            ));
        }

        windows.sort_by_key(|window| window.ends_at);
        match windows.iter_mut().find(|window| window.remaining > 0) {
            Some(window) => {
                window.remaining -= 1;
                Ok(())
            }
            None => Err(Failure::new(45047, "out of response count limit")),
        }
    }

    /// Whether the typing indicator is allowed: 45080 unless the user wrote lately.
    pub(crate) fn check_typing(&self, openid: &str, now: i64) -> Result<(), Failure> {
        match self.last_message_at.get(openid) {
            Some(at) if now - at <= TYPING_WINDOW_SECS => Ok(()),
            _ => Err(Failure::new(
                45080,
                "typing is allowed only within 30 seconds of a message from the user",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, msg_type: &str) -> Event {
        Event {
            kind: kind.to_string(),
            msg_type: msg_type.to_string(),
            openid: "o1".to_string(),
            ..Event::default()
        }
    }

    #[test]
    fn a_text_message_allows_the_message_quota_then_45047() {
        let mut windows = Windows::new(WindowConfig::default());

        windows.observe(&event("text", "text"), 1_000);

        for _ in 0..5 {
            windows.spend("o1", 1_001).unwrap();
        }
        assert_eq!(windows.spend("o1", 1_001).unwrap_err().errcode, 45047);
    }

    #[test]
    fn a_click_window_closes_after_its_length_with_45015() {
        let mut windows = Windows::new(WindowConfig::default());

        windows.observe(&event("click", "event"), 1_000);

        windows.spend("o1", 1_059).unwrap();
        assert_eq!(windows.spend("o1", 1_060).unwrap_err().errcode, 45015);
    }

    #[test]
    fn card_events_open_a_window_only_when_configured() {
        let mut off = Windows::new(WindowConfig::default());
        let mut on = Windows::new(WindowConfig {
            card_events_open_window: true,
            ..WindowConfig::default()
        });

        off.observe(&event("user_consume_card", "event"), 1_000);
        on.observe(&event("user_consume_card", "event"), 1_000);

        assert_eq!(off.spend("o1", 1_001).unwrap_err().errcode, 45015);
        on.spend("o1", 1_001).unwrap();
    }
}
