//! What the customer-service window and the contact caps would do with each message a
//! decision chose, judged on a scratch store as the worker and dispatcher would.

use serde::Serialize;

use crate::config::Config;
use crate::pipeline::outbox::WhenClosed;
use crate::pipeline::{Pressure, PressurePolicy, SuppressReason, Verdict, Windows};
use crate::rules::{Decision, Message};
use crate::wechat::event::Event;

const SECS_PER_HOUR: u64 = 3600;

/// The fate of one chosen message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// It would go out now.
    WouldSend,
    /// It rides on WeChat's request as a passive reply, if the rules finish in time.
    PassiveReply,
    /// It waits for the user to open a customer-service window.
    Held,
    /// It would never be sent.
    Dropped,
    /// A daily cap stops it.
    Suppressed,
    /// Quiet hours: it waits until they end.
    Waits,
}

/// One message and what would happen to it, with the reason in words.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// `action` or `reply`, and its index in the decision's list of those.
    pub source: &'static str,
    pub index: usize,
    pub rule: String,
    pub fate: Fate,
    pub detail: String,
}

/// Judges every action, then every reply, in the order the worker queues them.
pub fn preview(
    config: &Config,
    db: &sled::Db,
    event: &Event,
    decision: &Decision,
    now: i64,
) -> anyhow::Result<Vec<Delivery>> {
    let windows = Windows::open(db, &config.window)?;
    let pressure = Pressure::open(db, PressurePolicy::from_config(&config.pressure)?)?;
    windows.observe(event, now)?;
    let judge = Judge {
        config,
        windows,
        pressure,
        openid: &decision.openid,
        now,
    };

    let mut deliveries = Vec::new();
    for (index, action) in decision.actions.iter().enumerate() {
        let uses_window = !matches!(action.message, Message::Template { .. });
        let (fate, detail) = judge.message(&action.rule, uses_window)?;
        deliveries.push(Delivery {
            source: "action",
            index,
            rule: action.rule.clone(),
            fate,
            detail,
        });
    }
    for (index, reply) in decision.replies.iter().enumerate() {
        let (fate, detail) = if index == 0 && may_reply(event) {
            let budget = config.worker.reply_budget_ms;
            let detail = format!(
                "answers WeChat's request if the rules finish within {budget} ms; \
                 otherwise it goes as a customer-service message"
            );
            (Fate::PassiveReply, detail)
        } else {
            judge.message(&reply.rule, true)?
        };
        deliveries.push(Delivery {
            source: "reply",
            index,
            rule: reply.rule.clone(),
            fate,
            detail,
        });
    }
    Ok(deliveries)
}

/// WeChat shows a passive reply only to a user's message, menu click, follow or scan.
fn may_reply(event: &Event) -> bool {
    event.is_message() || matches!(event.kind.as_str(), "click" | "subscribe" | "scan")
}

struct Judge<'a> {
    config: &'a Config,
    windows: Windows,
    pressure: Pressure,
    openid: &'a str,
    now: i64,
}

impl Judge<'_> {
    /// Caps first, then the window, as the dispatcher checks them; a send counts.
    fn message(&self, rule: &str, uses_window: bool) -> anyhow::Result<(Fate, String)> {
        match self.pressure.check(self.openid, rule, self.now)? {
            Verdict::Allow => {}
            Verdict::Suppress(reason) => return Ok((Fate::Suppressed, suppressed(&reason))),
            Verdict::WaitUntil(until) => {
                let at = chrono::DateTime::from_timestamp(until, 0)
                    .map_or_else(|| until.to_string(), |at| at.to_rfc3339());
                return Ok((Fate::Waits, format!("quiet hours: waits until {at}")));
            }
        }

        if !uses_window {
            self.pressure.record(self.openid, rule, self.now)?;
            return Ok((Fate::WouldSend, "template message: needs no window".into()));
        }
        if !self.windows.consume(self.openid, self.now)? {
            return Ok(self.window_closed());
        }
        self.pressure.record(self.openid, rule, self.now)?;
        let status = self.windows.status(self.openid, self.now)?;
        let until = chrono::DateTime::from_timestamp(status.expires_at, 0)
            .map_or_else(|| status.expires_at.to_string(), |at| at.to_rfc3339());
        let detail = format!(
            "inside the customer-service window ({} more allowed until {until})",
            status.remaining
        );
        Ok((Fate::WouldSend, detail))
    }

    fn window_closed(&self) -> (Fate, String) {
        let window = &self.config.window;
        let opens = format!(
            "a text from the user would open {} messages for {} h",
            window.message_quota,
            window.message_window_secs / SECS_PER_HOUR
        );
        match self.config.dispatcher.when_window_closed {
            WhenClosed::Hold => {
                let hours = self.config.dispatcher.hold_max_secs / SECS_PER_HOUR;
                let detail =
                    format!("no open customer-service window ({opens}); kept up to {hours} h");
                (Fate::Held, detail)
            }
            WhenClosed::Template => {
                let detail = format!("no open window and no template fallback ({opens})");
                (Fate::Dropped, detail)
            }
            WhenClosed::Drop => {
                let detail = format!("no open window, and when_window_closed = \"drop\" ({opens})");
                (Fate::Dropped, detail)
            }
        }
    }
}

fn suppressed(reason: &SuppressReason) -> String {
    format!("{reason} ([pressure] caps)")
}
