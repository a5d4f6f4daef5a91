//! `config.toml` plus environment overrides, validated once at start into typed values.
//!
//! Unknown keys and invalid values stop the start with an error that names the key, so
//! a typo never silently falls back to a default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::NaiveTime;
use chrono_tz::Tz;
use serde::Deserialize;

use crate::wechat::crypto::AesKey;

/// Environment variables that may carry secrets instead of the file.
pub const ENV_APP_SECRET: &str = "CARDBOT_WECHAT_APP_SECRET";
pub const ENV_TOKEN: &str = "CARDBOT_WECHAT_TOKEN";
pub const ENV_ENCODING_AES_KEY: &str = "CARDBOT_WECHAT_ENCODING_AES_KEY";
pub const ENV_ADMIN_TOKEN: &str = "CARDBOT_ADMIN_TOKEN";

/// What went wrong reading or validating the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    fn invalid(key: &str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

/// The whole validated configuration.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub wechat: WechatConfig,
    pub store: StoreConfig,
    pub rules: RulesConfig,
    pub admin: AdminConfig,
    pub log: LogConfig,
    pub worker: WorkerConfig,
    pub window: WindowConfig,
    pub pressure: PressureConfig,
    pub decisions: DecisionsConfig,
    pub dispatcher: DispatcherConfig,
    pub sandbox: SandboxConfig,
}

/// `[server]`: the callback listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub callback_path: String,
    pub max_body_bytes: usize,
    /// Reject callbacks whose timestamp is further than this from now; 0 turns it off.
    pub max_clock_skew_secs: u64,
    /// Worker threads of the HTTP server; 0 means one per core.
    pub workers: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            callback_path: "/wechat".to_string(),
            max_body_bytes: 64 * 1024,
            max_clock_skew_secs: 0,
            workers: 0,
        }
    }
}

/// How the access token is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TokenMode {
    /// `POST /cgi-bin/stable_token` without force_refresh: shares the live token with
    /// every other system of the account instead of invalidating theirs.
    #[default]
    Stable,
    /// `GET /cgi-bin/token`: each fetch invalidates the previous token.
    Classic,
    /// An HTTP URL owned by another system that answers the token.
    External,
}

/// `[wechat]`: the account and its API.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WechatConfig {
    pub app_id: String,
    pub app_secret: String,
    pub token: String,
    pub encoding_aes_key: String,
    pub previous_encoding_aes_key: String,
    pub api_base: String,
    pub token_mode: TokenMode,
    /// With `token_mode = "external"`: the URL that answers `{"access_token", "expires_in"}`.
    pub token_url: String,
    /// Timeout of every API call, in seconds.
    pub request_timeout_secs: u64,
    /// Refresh the access token this many seconds before it expires.
    pub token_refresh_margin_secs: u64,
    /// How long `card/get` answers are cached.
    pub card_info_ttl_secs: u64,
}

impl Default for WechatConfig {
    fn default() -> Self {
        WechatConfig {
            app_id: String::new(),
            app_secret: String::new(),
            token: String::new(),
            encoding_aes_key: String::new(),
            previous_encoding_aes_key: String::new(),
            api_base: "https://api.weixin.qq.com".to_string(),
            token_mode: TokenMode::Stable,
            token_url: String::new(),
            request_timeout_secs: 10,
            token_refresh_margin_secs: 300,
            card_info_ttl_secs: 3600,
        }
    }
}

impl std::fmt::Debug for WechatConfig {
    /// Secrets are never printed, not even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatConfig")
            .field("app_id", &self.app_id)
            .field("app_secret", &redacted(&self.app_secret))
            .field("token", &redacted(&self.token))
            .field("encoding_aes_key", &redacted(&self.encoding_aes_key))
            .field(
                "previous_encoding_aes_key",
                &redacted(&self.previous_encoding_aes_key),
            )
            .field("api_base", &self.api_base)
            .field("token_mode", &self.token_mode)
            .field("token_url", &self.token_url)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .finish()
    }
}

fn redacted(secret: &str) -> &'static str {
    if secret.is_empty() {
        "<unset>"
    } else {
        "<redacted>"
    }
}

impl WechatConfig {
    /// The current EncodingAESKey, if the account uses encryption.
    pub fn aes_key(&self) -> Option<AesKey> {
        AesKey::parse(&self.encoding_aes_key).ok()
    }

    /// The key before the last rotation, tried when the current one fails.
    pub fn previous_aes_key(&self) -> Option<AesKey> {
        AesKey::parse(&self.previous_encoding_aes_key).ok()
    }
}

/// `[store]`: the sled directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// How long a dedup key is kept; WeChat retries within about 15 seconds.
    pub dedup_retention_secs: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("data"),
            dedup_retention_secs: 24 * 3600,
        }
    }
}

/// `[rules]`: where rules live and the limits every script runs under.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    pub dir: PathBuf,
    pub max_operations: u64,
    pub max_call_depth: usize,
    pub max_expr_depth: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    /// Wall-clock deadline of one handler, in milliseconds.
    pub timeout_ms: u64,
    /// Quiet period after a file change before reloading, in milliseconds.
    pub reload_debounce_ms: u64,
    /// Watch the directory for changes.
    pub watch: bool,
    /// How many past revisions are kept for rollback.
    pub keep_revisions: usize,
    /// How long a lookup answer is shared across events, in seconds.
    pub lookup_cache_secs: u64,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            dir: PathBuf::from("rules"),
            max_operations: 100_000,
            max_call_depth: 32,
            max_expr_depth: 64,
            max_string_size: 64 * 1024,
            max_array_size: 10_000,
            max_map_size: 10_000,
            timeout_ms: 200,
            reload_debounce_ms: 300,
            watch: true,
            keep_revisions: 20,
            lookup_cache_secs: 30,
        }
    }
}

/// `[admin]`: the /admin endpoints.
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Bearer token; /admin is off when empty.
    pub token: String,
    /// Serve /admin to non-loopback peers too.
    pub allow_remote: bool,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("token", &redacted(&self.token))
            .field("allow_remote", &self.allow_remote)
            .finish()
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[log]`: what is logged and how.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter such as `info` or `cardbot=debug`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".to_string(),
        }
    }
}

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
    /// After this many attempts an event is set aside as a dead letter.
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

impl Config {
    /// Reads `path`, applies environment overrides and validates the result.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;

        let mut config = Config::from_toml(&text).map_err(|err| match err {
            ConfigError::Syntax { message, .. } => ConfigError::Syntax {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })?;
        config.apply_env(|name| std::env::var(name).ok());

        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text, naming the offending key on an error.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let deserializer = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let key = err.path().to_string();
            let message = err.inner().message().to_string();
            if key.is_empty() || key == "." {
                ConfigError::Syntax {
                    path: PathBuf::new(),
                    message: err.inner().to_string(),
                }
            } else {
                ConfigError::Invalid { key, message }
            }
        })
    }

    /// Secrets from the environment win over the file.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        let overrides: [(&str, &mut String); 4] = [
            (ENV_APP_SECRET, &mut self.wechat.app_secret),
            (ENV_TOKEN, &mut self.wechat.token),
            (ENV_ENCODING_AES_KEY, &mut self.wechat.encoding_aes_key),
            (ENV_ADMIN_TOKEN, &mut self.admin.token),
        ];
        for (name, slot) in overrides {
            if let Some(value) = lookup(name).filter(|value| !value.is_empty()) {
                *slot = value;
            }
        }
    }

    /// Checks every value that serde's types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let server = &self.server;
        if !server.callback_path.starts_with('/') {
            return Err(ConfigError::invalid(
                "server.callback_path",
                "must start with '/', for example \"/wechat\"",
            ));
        }
        if server.callback_path.starts_with("/admin") || server.callback_path == "/healthz" {
            return Err(ConfigError::invalid(
                "server.callback_path",
                "must not overlap /admin or /healthz",
            ));
        }
        if server.max_body_bytes < 1024 {
            return Err(ConfigError::invalid(
                "server.max_body_bytes",
                "must be at least 1024 bytes",
            ));
        }

        let wechat = &self.wechat;
        for (key, value) in [
            ("wechat.encoding_aes_key", &wechat.encoding_aes_key),
            (
                "wechat.previous_encoding_aes_key",
                &wechat.previous_encoding_aes_key,
            ),
        ] {
            if !value.is_empty() && AesKey::parse(value).is_err() {
                return Err(ConfigError::invalid(key, "must be 43 characters of base64"));
            }
        }
        if !wechat.encoding_aes_key.is_empty() && wechat.app_id.is_empty() {
            return Err(ConfigError::invalid(
                "wechat.app_id",
                "must be set when wechat.encoding_aes_key is, since every ciphertext names it",
            ));
        }
        if wechat.token.is_empty() {
            return Err(ConfigError::invalid(
                "wechat.token",
                format!("must be set (in the file or in {ENV_TOKEN}) to verify callbacks"),
            ));
        }
        if !wechat.api_base.starts_with("http://") && !wechat.api_base.starts_with("https://") {
            return Err(ConfigError::invalid(
                "wechat.api_base",
                "must be an http:// or https:// URL",
            ));
        }
        if wechat.token_mode == TokenMode::External && wechat.token_url.is_empty() {
            return Err(ConfigError::invalid(
                "wechat.token_url",
                "must be set when wechat.token_mode is \"external\"",
            ));
        }
        if wechat.request_timeout_secs == 0 {
            return Err(ConfigError::invalid(
                "wechat.request_timeout_secs",
                "must be at least 1",
            ));
        }

        let rules = &self.rules;
        for (key, value) in [
            ("rules.max_operations", rules.max_operations),
            ("rules.timeout_ms", rules.timeout_ms),
            ("rules.max_call_depth", rules.max_call_depth as u64),
            ("rules.max_expr_depth", rules.max_expr_depth as u64),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be at least 1"));
            }
        }

        self.validate_pipeline()?;
        self.validate_sandbox()?;

        if self.worker.reply_budget_ms >= 4000 {
            return Err(ConfigError::invalid(
                "worker.reply_budget_ms",
                "must be under 4000, well inside WeChat's 5 s wait",
            ));
        }

        let dispatcher = &self.dispatcher;
        for (key, value) in [
            ("dispatcher.concurrency", dispatcher.concurrency as u64),
            (
                "dispatcher.max_attempts",
                u64::from(dispatcher.max_attempts),
            ),
            ("dispatcher.backoff_base_ms", dispatcher.backoff_base_ms),
            ("dispatcher.poll_interval_ms", dispatcher.poll_interval_ms),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be at least 1"));
            }
        }

        if self.store.dedup_retention_secs < 60 {
            return Err(ConfigError::invalid(
                "store.dedup_retention_secs",
                "must be at least 60, well past WeChat's retry period",
            ));
        }
        Ok(())
    }

    /// Checks `[sandbox]`, whose faults name API paths.
    fn validate_sandbox(&self) -> Result<(), ConfigError> {
        let sandbox = &self.sandbox;
        if sandbox.token_expires_in_secs == 0 {
            return Err(ConfigError::invalid(
                "sandbox.token_expires_in_secs",
                "must be at least 1",
            ));
        }
        for (index, fault) in sandbox.faults.iter().enumerate() {
            if !fault.path.starts_with('/') {
                return Err(ConfigError::invalid(
                    &format!("sandbox.faults[{index}].path"),
                    "must be an API path starting with '/', \
                     such as \"/cgi-bin/message/custom/send\"",
                ));
            }
        }
        Ok(())
    }

    /// Checks the sections of the processing stage: worker, window, pressure, decisions.
    fn validate_pipeline(&self) -> Result<(), ConfigError> {
        let worker = &self.worker;
        let window = &self.window;
        let decisions = &self.decisions;
        for (key, value) in [
            ("worker.concurrency", worker.concurrency as u64),
            ("worker.retry_base_secs", worker.retry_base_secs),
            ("worker.max_attempts", u64::from(worker.max_attempts)),
            ("window.message_quota", u64::from(window.message_quota)),
            ("window.message_window_secs", window.message_window_secs),
            (
                "window.interaction_quota",
                u64::from(window.interaction_quota),
            ),
            (
                "window.interaction_window_secs",
                window.interaction_window_secs,
            ),
            ("decisions.retention_secs", decisions.retention_secs),
            ("decisions.max_per_user", decisions.max_per_user as u64),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be at least 1"));
            }
        }
        if worker.retry_max_secs < worker.retry_base_secs {
            return Err(ConfigError::invalid(
                "worker.retry_max_secs",
                "must be at least worker.retry_base_secs",
            ));
        }

        self.pressure.time_zone()?;
        self.pressure.quiet_hours()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[wechat]\ntoken = \"t\"\n";

    #[test]
    fn the_shipped_config_toml_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");

        let config = Config::load(&path).unwrap();

        assert_eq!(config.server.callback_path, "/wechat");
    }

    #[test]
    fn a_minimal_config_takes_the_defaults() {
        let config = Config::from_toml(MINIMAL).unwrap();

        config.validate().unwrap();

        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.server.callback_path, "/wechat");
        assert_eq!(config.wechat.api_base, "https://api.weixin.qq.com");
        assert_eq!(config.rules.dir, PathBuf::from("rules"));
    }

    #[test]
    fn an_unknown_key_is_named() {
        let err = Config::from_toml("[server]\nlisten_addr = \"x\"\n").unwrap_err();

        let text = err.to_string();
        assert!(text.starts_with("server.listen_addr"), "{text}");
    }

    #[test]
    fn a_bad_aes_key_is_named_with_what_is_expected() {
        let text = format!("{MINIMAL}app_id = \"wx1\"\nencoding_aes_key = \"short\"\n");
        let config = Config::from_toml(&text).unwrap();

        let err = config.validate().unwrap_err();

        assert_eq!(
            err.to_string(),
            "wechat.encoding_aes_key: must be 43 characters of base64"
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_is_named() {
        let err = Config::from_toml("[server]\nmax_body_bytes = \"big\"\n").unwrap_err();

        assert!(
            err.to_string().starts_with("server.max_body_bytes"),
            "{err}"
        );
    }

    #[test]
    fn environment_secrets_override_the_file() {
        let mut config = Config::from_toml(MINIMAL).unwrap();

        config.apply_env(|name| (name == ENV_TOKEN).then(|| "from-env".to_string()));

        assert_eq!(config.wechat.token, "from-env");
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let text = "[wechat]\ntoken = \"tok-secret\"\napp_secret = \"app-secret\"\n";
        let config = Config::from_toml(text).unwrap();

        let debug = format!("{config:?}");

        assert!(!debug.contains("tok-secret") && !debug.contains("app-secret"));
    }

    #[test]
    fn the_pipeline_sections_take_their_defaults() {
        let config = Config::from_toml(MINIMAL).unwrap();

        config.validate().unwrap();

        assert_eq!(config.window.message_quota, 5);
        assert_eq!(config.window.message_window_secs, 172_800);
        assert_eq!(
            config.pressure.time_zone().unwrap(),
            chrono_tz::Asia::Shanghai
        );
        assert_eq!(config.pressure.quiet_hours().unwrap(), None);
        assert_eq!(config.decisions.max_per_user, 200);
        assert_eq!(config.worker.concurrency, 4);
    }

    #[test]
    fn quiet_hours_and_rule_caps_are_read() {
        let text = format!(
            "{MINIMAL}[pressure]\nquiet_start = \"22:00\"\nquiet_end = \"08:00\"\n\
             [pressure.rule_caps]\nwelcome = 1\n"
        );
        let config = Config::from_toml(&text).unwrap();

        config.validate().unwrap();

        let quiet = config.pressure.quiet_hours().unwrap().unwrap();
        assert_eq!(quiet.start, NaiveTime::from_hms_opt(22, 0, 0).unwrap());
        assert_eq!(quiet.end, NaiveTime::from_hms_opt(8, 0, 0).unwrap());
        assert_eq!(config.pressure.rule_caps.get("welcome"), Some(&1));
    }

    #[test]
    fn a_bad_time_zone_is_named() {
        let text = format!("{MINIMAL}[pressure]\ntimezone = \"Asia/Shanghia\"\n");
        let config = Config::from_toml(&text).unwrap();

        let err = config.validate().unwrap_err();

        assert!(
            err.to_string()
                .starts_with("pressure.timezone: unknown time zone"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_quiet_hour_is_named() {
        let pressure = "[pressure]\nquiet_start = \"25:00\"\nquiet_end = \"08:00\"\n";
        let text = format!("{MINIMAL}{pressure}");
        let config = Config::from_toml(&text).unwrap();

        let err = config.validate().unwrap_err();

        assert!(
            err.to_string()
                .starts_with("pressure.quiet_start: \"25:00\""),
            "{err}"
        );
    }

    #[test]
    fn quiet_hours_need_both_ends() {
        let text = format!("{MINIMAL}[pressure]\nquiet_start = \"22:00\"\n");
        let config = Config::from_toml(&text).unwrap();

        let err = config.validate().unwrap_err();

        assert!(err.to_string().starts_with("pressure.quiet_end"), "{err}");
    }

    #[test]
    fn a_zero_window_quota_is_named() {
        let text = format!("{MINIMAL}[window]\nmessage_quota = 0\n");
        let config = Config::from_toml(&text).unwrap();

        let err = config.validate().unwrap_err();

        assert_eq!(err.to_string(), "window.message_quota: must be at least 1");
    }

    #[test]
    fn an_unknown_window_key_is_named() {
        let err = Config::from_toml("[window]\nquota = 5\n").unwrap_err();

        assert!(err.to_string().starts_with("window.quota"), "{err}");
    }

    #[test]
    fn the_shipped_config_toml_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let text = std::fs::read_to_string(path).unwrap();

        let config = Config::from_toml(&text).unwrap();

        config.validate_pipeline().unwrap();
        assert_eq!(config.window.message_quota, 5);
    }
}
