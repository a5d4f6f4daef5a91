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
pub const ENV_METRICS_TOKEN: &str = "CARDBOT_METRICS_TOKEN";

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
    pub metrics: MetricsConfig,
    pub log: LogConfig,
    pub worker: WorkerConfig,
    pub window: WindowConfig,
    pub pressure: PressureConfig,
    pub decisions: DecisionsConfig,
    pub dispatcher: DispatcherConfig,
    pub sandbox: SandboxConfig,
    pub stats: StatsConfig,
}

mod delivery;
mod sections;

pub use delivery::*;
pub use sections::*;

impl Config {
    /// Reads `path`, applies environment overrides and validates the result.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let config = Config::read(path)?;

        config.validate()?;
        Ok(config)
    }

    /// Reads `path` and applies environment overrides for a command that only asks the
    /// running server through `/admin`: it needs `server.listen` and `admin.token`, not
    /// the account's secrets, so an operator's config without them is enough. Unknown
    /// keys and ill-typed values still fail; the admin client checks the token.
    pub fn load_for_admin(path: &Path) -> Result<Config, ConfigError> {
        Config::read(path)
    }

    /// Parses `path` into typed values and applies the environment, checking nothing
    /// beyond what serde's types express.
    fn read(path: &Path) -> Result<Config, ConfigError> {
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
        let overrides: [(&str, &mut String); 5] = [
            (ENV_APP_SECRET, &mut self.wechat.app_secret),
            (ENV_TOKEN, &mut self.wechat.token),
            (ENV_ENCODING_AES_KEY, &mut self.wechat.encoding_aes_key),
            (ENV_ADMIN_TOKEN, &mut self.admin.token),
            (ENV_METRICS_TOKEN, &mut self.metrics.token),
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
        let reserved = ["/healthz", "/metrics"];
        if server.callback_path.starts_with("/admin")
            || reserved.contains(&server.callback_path.as_str())
        {
            return Err(ConfigError::invalid(
                "server.callback_path",
                "must not overlap /admin, /healthz or /metrics",
            ));
        }
        if self.metrics.enabled && self.metrics.allow_remote && self.metrics.token.is_empty() {
            return Err(ConfigError::invalid(
                "metrics.token",
                format!(
                    "must be set when metrics.allow_remote = true, or anyone who reaches the \
                     port reads the metrics: set it (in the file or in {ENV_METRICS_TOKEN}), \
                     or set metrics.allow_remote = false"
                ),
            ));
        }
        // Port 0 asks for a free port each time, so two of them never clash.
        let clash = |admin: SocketAddr| admin == server.listen && admin.port() != 0;
        if self.admin.listen.is_some_and(clash) {
            return Err(ConfigError::invalid(
                "admin.listen",
                "must differ from server.listen; leave it empty (\"\") to serve /admin there",
            ));
        }
        if self.metrics.refresh_secs == 0 {
            return Err(ConfigError::invalid(
                "metrics.refresh_secs",
                "must be at least 1",
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
        self.stats.time_zone()?;
        if self.stats.receipt_retention_days == 0 {
            return Err(ConfigError::invalid(
                "stats.receipt_retention_days",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
