//! The WeChat API client against a fake WeChat on loopback and sled on a temp dir.

// A panic in a test helper is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod card;
mod error;
mod message;
mod token;

use cardbot::api::Client;
use cardbot::config::WechatConfig;
use serde_json::Value;
use tempfile::TempDir;

use crate::support::fake_wechat::FakeWechat;
use crate::support::fixture_json;

pub const APP_SECRET: &str = "test-app-secret-0123456789";

/// A fake WeChat, a sled dir and a client pointed at the fake.
pub struct Harness {
    pub fake: FakeWechat,
    pub dir: TempDir,
    pub db: sled::Db,
    pub client: Client,
}

impl Harness {
    /// The default setup: stable_token mode, 1 s timeout.
    pub async fn start() -> Harness {
        Harness::start_with(|_| {}).await
    }

    /// The default setup with `adjust` applied to the config.
    pub async fn start_with(adjust: impl FnOnce(&mut WechatConfig)) -> Harness {
        let fake = FakeWechat::start().await;
        let mut config = config_for(&fake.url());
        adjust(&mut config);
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();

        let client = Client::new(&config, &db).unwrap();

        Harness {
            fake,
            dir,
            db,
            client,
        }
    }
}

/// A config for the account under test, talking to `api_base`.
pub fn config_for(api_base: &str) -> WechatConfig {
    WechatConfig {
        app_id: "wx-test-app".to_string(),
        app_secret: APP_SECRET.to_string(),
        api_base: api_base.to_string(),
        request_timeout_secs: 1,
        ..WechatConfig::default()
    }
}

/// A fixture of tests/fixtures/wechat/api.
pub fn api_fixture(name: &str) -> Value {
    fixture_json(&format!("wechat/api/{name}.json"))
}
