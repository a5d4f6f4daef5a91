//! `config.toml` plus environment overrides, validated once at start into typed values.
//!
//! Unknown keys and invalid values stop the start with an error that names the key, so
//! a typo never silently falls back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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

        if self.store.dedup_retention_secs < 60 {
            return Err(ConfigError::invalid(
                "store.dedup_retention_secs",
                "must be at least 60, well past WeChat's retry period",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[wechat]\ntoken = \"t\"\n";

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
}
