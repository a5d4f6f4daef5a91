//! A whole cardbot with rules, its worker and dispatcher running, talking to a fake
//! WeChat on loopback.

use std::time::{Duration, Instant};

use cardbot::config::Config;

use super::fake_wechat::FakeWechat;
use super::server::{test_config, TestServer};

/// The path messages are sent to.
pub const CUSTOM_SEND: &str = "/cgi-bin/message/custom/send";

/// cardbot and the fake WeChat it talks to.
pub struct Rig {
    pub server: TestServer,
    pub wechat: FakeWechat,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// Starts cardbot with `rules` (file name, source) and the config adjusted.
    pub async fn start(
        encrypted: bool,
        rules: &[(&str, &str)],
        adjust: impl FnOnce(&mut Config),
    ) -> Rig {
        let wechat = FakeWechat::start().await;
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path(), encrypted);
        for (name, source) in rules {
            std::fs::write(config.rules.dir.join(name), source).unwrap();
        }
        config.wechat.api_base = wechat.url();
        config.wechat.app_secret = "test-app-secret".to_string();
        config.worker.paused = false;
        config.dispatcher.poll_interval_ms = 20;
        config.dispatcher.backoff_base_ms = 20;
        config.admin.token = "test-admin-token".to_string();
        adjust(&mut config);
        config.validate().unwrap();

        let server = TestServer::start_with(config).await;
        Rig {
            server,
            wechat,
            _dir: dir,
        }
    }

    /// The contents of every text message sent so far.
    pub fn sent_texts(&self) -> Vec<String> {
        self.wechat
            .requests(CUSTOM_SEND)
            .iter()
            .filter_map(|request| request.body["text"]["content"].as_str().map(String::from))
            .collect()
    }

    /// An admin GET, answered as JSON.
    pub async fn admin_get(&self, path: &str) -> serde_json::Value {
        super::admin::get_json(self.server.addr, "test-admin-token", path).await
    }

    /// `GET path` of the admin API, the body as the server wrote it.
    pub async fn admin_get_text(&self, path: &str) -> String {
        super::admin::get_text(self.server.addr, "test-admin-token", path).await
    }
}

/// Polls `condition` until it holds, failing the test after `limit`.
pub async fn eventually(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < limit, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A text message from `openid`: it opens the customer-service window.
pub fn text_message(openid: &str, content: &str, msg_id: u64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_test]]></ToUserName>\
         <FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
         <Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>",
        cardbot::clock::now_secs()
    )
}
