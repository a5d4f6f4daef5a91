//! The sections of `config.toml` about the service itself: the listener, the account,
//! the store, the rules, the admin API, the metrics and the logs.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::wechat::crypto::AesKey;

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
            .field("token_url", &redacted_url(&self.token_url))
            .field("request_timeout_secs", &self.request_timeout_secs)
            .finish()
    }
}

/// Where a URL points (scheme, host, port) without its path, query or credentials,
/// any of which may carry a secret.
fn redacted_url(url: &str) -> String {
    if url.is_empty() {
        return "<unset>".to_string();
    }
    match reqwest::Url::parse(url) {
        Ok(parsed) => format!("{}/<redacted>", parsed.origin().ascii_serialization()),
        Err(_) => "<redacted>".to_string(),
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
    /// A listener of its own for /admin and the dashboard, so that they need not share
    /// a port with the callback; `None` (an empty string in the file) serves them on
    /// `server.listen`.
    #[serde(deserialize_with = "optional_addr")]
    pub listen: Option<SocketAddr>,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("token", &redacted(&self.token))
            .field("allow_remote", &self.allow_remote)
            .field("listen", &self.listen)
            .finish()
    }
}

/// An address such as `"127.0.0.1:8081"`, or `None` for an empty string.
fn optional_addr<'de, D>(deserializer: D) -> Result<Option<SocketAddr>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let text = String::deserialize(deserializer)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    text.trim().parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "{text:?} is not an address; use host:port such as \"127.0.0.1:8081\", or \"\" \
             to serve /admin on server.listen"
        ))
    })
}

/// `[metrics]`: the Prometheus endpoint `GET /metrics` on the callback listener.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve /metrics and record metrics at all.
    pub enabled: bool,
    /// Serve /metrics to peers other than loopback too.
    pub allow_remote: bool,
    /// Bearer token a scrape must carry; empty means none is asked for.
    pub token: String,
    /// How often the queue gauges (inbox, outbox, dead letters) are refreshed, in
    /// seconds; a scrape refreshes them too.
    pub refresh_secs: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            allow_remote: false,
            token: String::new(),
            refresh_secs: 15,
        }
    }
}

impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("enabled", &self.enabled)
            .field("allow_remote", &self.allow_remote)
            .field("token", &redacted(&self.token))
            .field("refresh_secs", &self.refresh_secs)
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

/// `[stats]`: the channel statistics counted as events are handled.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatsConfig {
    /// The IANA time zone whose calendar days the counters are bucketed in.
    pub timezone: String,
    /// How long a receipt (which channel a code came from, and when) is remembered to
    /// attribute later views and redemptions to that channel, in days.
    pub receipt_retention_days: u64,
    /// How many days of counters are kept, today included; 0 keeps them for ever.
    pub counter_retention_days: u64,
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            timezone: "Asia/Shanghai".to_string(),
            receipt_retention_days: 180,
            counter_retention_days: 0,
        }
    }
}

impl StatsConfig {
    /// The time zone, or an error naming `stats.timezone`.
    pub fn time_zone(&self) -> Result<chrono_tz::Tz, super::ConfigError> {
        self.timezone.parse().map_err(|_| {
            super::ConfigError::invalid(
                "stats.timezone",
                format!(
                    "unknown time zone {:?}; use an IANA name such as \"Asia/Shanghai\"",
                    self.timezone
                ),
            )
        })
    }
}
