//! The sections of `config.toml` about handling events and delivering messages: the
//! worker, the customer-service window, contact pressure, the dispatcher, the decision
//! log and the sandbox.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveTime;
use chrono_tz::Tz;
use serde::Deserialize;

use super::ConfigError;

/// `[worker]`: the tasks that take events from the inbox and run the rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Events handled at the same time; events of one user are still handled in order.
    pub concurrency: usize,
    /// First delay before retrying an event whose lookups failed, in seconds; it doubles
    /// with every attempt.
    pub retry_base_secs: u64,
    /// The doubling stops at this delay, in seconds.
    pub retry_max_secs: u64,
    /// After this many attempts the event is handled without the actions of the rule
    /// whose lookup kept failing, and an error is logged; events are never dead letters.
    pub max_attempts: u32,
    /// How long a user's card list synced from `card/user/getcardlist`, or one code's
    /// status learnt from an event, is trusted without asking the API again, in seconds.
    pub held_cards_fresh_secs: u64,
    /// How long a callback for a text message, a menu click or a subscribe waits for the
    /// rules' passive reply (`reply_text`), in milliseconds. WeChat waits 5 s in all;
    /// a reply not ready in time goes as a customer-service message instead.
    pub reply_budget_ms: u64,
    /// Accept and store events but handle none, for maintenance: they wait in the
    /// inbox until the worker runs again.
    pub paused: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 4,
            retry_base_secs: 5,
            retry_max_secs: 300,
            max_attempts: 20,
            held_cards_fresh_secs: 600,
            reply_budget_ms: 1000,
            paused: false,
        }
    }
}

/// `[window]`: WeChat's customer-service window, which the user's own actions open.
///
/// The numbers come from the official customer-service message page and have changed
/// over the years (unlimited, then 20, now 5 per 48 hours), hence config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowConfig {
    /// Messages allowed after the user sends a message (text, image, voice, ...).
    pub message_quota: u32,
    /// How long the window a user's message opens stays open, in seconds.
    pub message_window_secs: u64,
    /// Messages allowed after a menu click, a follow or a parameter QR scan.
    pub interaction_quota: u32,
    /// How long the window of a click, follow or scan stays open, in seconds.
    pub interaction_window_secs: u64,
    /// Treat the user's own card events (`user_get_card`, `user_view_card`, ...) as
    /// interactions. WeChat does not document them as opening a window, so this is off
    /// unless the account has seen them work.
    pub card_events_open_window: bool,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            message_quota: 5,
            message_window_secs: 48 * 3600,
            interaction_quota: 3,
            interaction_window_secs: 60,
            card_events_open_window: false,
        }
    }
}

/// `[pressure]`: how often one user may be contacted, whatever the rules want.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PressureConfig {
    /// Messages one user may receive per local day across all rules; 0 is unlimited.
    pub daily_cap: u32,
    /// Messages one rule may send one user per local day, by rule name; 0 is unlimited.
    pub rule_caps: BTreeMap<String, u32>,
    /// Start of the quiet hours, local `HH:MM`; empty turns quiet hours off.
    pub quiet_start: String,
    /// End of the quiet hours, local `HH:MM`; before `quiet_start` means past midnight.
    pub quiet_end: String,
    /// The IANA time zone days and quiet hours are counted in.
    pub timezone: String,
}

impl Default for PressureConfig {
    fn default() -> Self {
        PressureConfig {
            daily_cap: 0,
            rule_caps: BTreeMap::new(),
            quiet_start: String::new(),
            quiet_end: String::new(),
            timezone: "Asia/Shanghai".to_string(),
        }
    }
}

/// Local quiet hours, validated: start and end differ, and may wrap midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl PressureConfig {
    /// The time zone, or an error naming `pressure.timezone`.
    pub fn time_zone(&self) -> Result<Tz, ConfigError> {
        self.timezone.parse::<Tz>().map_err(|_| {
            ConfigError::invalid(
                "pressure.timezone",
                format!(
                    "unknown time zone {:?}; use an IANA name such as \"Asia/Shanghai\"",
                    self.timezone
                ),
            )
        })
    }

    /// The quiet hours, `None` when both ends are empty.
    pub fn quiet_hours(&self) -> Result<Option<QuietHours>, ConfigError> {
        match (self.quiet_start.is_empty(), self.quiet_end.is_empty()) {
            (true, true) => return Ok(None),
            (false, true) => {
                return Err(ConfigError::invalid(
                    "pressure.quiet_end",
                    "must be set when pressure.quiet_start is",
                ))
            }
            (true, false) => {
                return Err(ConfigError::invalid(
                    "pressure.quiet_start",
                    "must be set when pressure.quiet_end is",
                ))
            }
            (false, false) => {}
        }

        let start = parse_local_time("pressure.quiet_start", &self.quiet_start)?;
        let end = parse_local_time("pressure.quiet_end", &self.quiet_end)?;
        if start == end {
            return Err(ConfigError::invalid(
                "pressure.quiet_end",
                "must differ from pressure.quiet_start; leave both empty to turn quiet hours off",
            ));
        }
        Ok(Some(QuietHours { start, end }))
    }
}

fn parse_local_time(key: &str, value: &str) -> Result<NaiveTime, ConfigError> {
    NaiveTime::parse_from_str(value, "%H:%M").map_err(|_| {
        ConfigError::invalid(
            key,
            format!("{value:?} is not a time of day; write HH:MM, for example \"22:00\""),
        )
    })
}

/// `[dispatcher]`: how queued messages are sent to WeChat.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatcherConfig {
    /// Messages sent at the same time; one user's messages still go out in order.
    pub concurrency: usize,
    /// Messages per second at most, across all users; 0 means no limit.
    pub rate_per_sec: u32,
    /// Attempts for a message WeChat refused for a passing reason (busy, minute quota).
    pub max_attempts: u32,
    /// First retry delay in milliseconds; it doubles per attempt, with jitter.
    pub backoff_base_ms: u64,
    /// The doubling stops at this delay, in seconds.
    pub backoff_max_secs: u64,
    /// Resend a message whose request timed out after it left. WeChat may have
    /// delivered it, so the user may get it twice; off by default.
    pub resend_unknown: bool,
    /// A customer-service message to a user with no open window: "hold" it until the
    /// user opens one, send the rule's "template" fallback, or "drop" it. A rule may
    /// choose per message.
    pub when_window_closed: crate::pipeline::outbox::WhenClosed,
    /// How long a held message waits for a window before it is dropped, in seconds.
    pub hold_max_secs: u64,
    /// How often the outbox is scanned when nothing wakes the dispatcher, in ms.
    pub poll_interval_ms: u64,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            concurrency: 8,
            rate_per_sec: 0,
            max_attempts: 8,
            backoff_base_ms: 1000,
            backoff_max_secs: 600,
            resend_unknown: false,
            when_window_closed: crate::pipeline::outbox::WhenClosed::Hold,
            hold_max_secs: 48 * 3600,
            poll_interval_ms: 500,
        }
    }
}

/// `[decisions]`: how long the log of what the rules decided per event is kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionsConfig {
    /// Entries older than this are pruned, in seconds.
    pub retention_secs: u64,
    /// Only this many newest entries are kept per user.
    pub max_per_user: usize,
}

impl Default for DecisionsConfig {
    fn default() -> Self {
        DecisionsConfig {
            retention_secs: 30 * 24 * 3600,
            max_per_user: 200,
        }
    }
}

/// `[sandbox]`: an in-process stand-in for WeChat's API, for running cardbot with no
/// account. Off unless enabled; never enable it in production.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// Serve the sandbox under /sandbox on the callback's own listener.
    pub enabled: bool,
    /// The TOML file of users, cards and codes the sandbox starts from.
    pub seed: PathBuf,
    /// Added to every sandbox answer, in milliseconds.
    pub latency_ms: u64,
    /// Lifetime of the access tokens the sandbox issues, in seconds.
    pub token_expires_in_secs: u64,
    /// Errors or delays the sandbox answers instead of the real answer.
    pub faults: Vec<SandboxFault>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            enabled: false,
            seed: PathBuf::from("rules/sandbox_seed.toml"),
            latency_ms: 0,
            token_expires_in_secs: 7200,
            faults: Vec::new(),
        }
    }
}

/// One injected fault: the next `times` calls of `path` answer `errcode` (when not 0)
/// after waiting `latency_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxFault {
    /// The API path, such as `/cgi-bin/message/custom/send`.
    pub path: String,
    /// The errcode answered; 0 answers normally, after the latency.
    #[serde(default)]
    pub errcode: i64,
    /// How many calls the fault hits; 0 means every call.
    #[serde(default = "one")]
    pub times: u32,
    /// Extra wait before answering, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
}

fn one() -> u32 {
    1
}
