//! The rules against real files, real sled and canned lookups: the example rules, reload
//! and rollback, the watcher and the `cardbot rules` admin client.

// Helpers outside #[test] functions may unwrap too: a panic there fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod examples;
mod reload;
mod watch;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cardbot::config::RulesConfig;
use cardbot::rules::{CannedLookups, Decision, Message, Rules};
use cardbot::wechat::event::Event;

use crate::support::fixture_path;

/// Rules over `dir` with a temp sled and the example canned lookups.
pub fn open_rules(dir: &Path, adjust: impl FnOnce(&mut RulesConfig)) -> (sled::Db, Rules) {
    let mut config = RulesConfig {
        dir: dir.to_path_buf(),
        timeout_ms: 2_000,
        reload_debounce_ms: 50,
        ..RulesConfig::default()
    };
    adjust(&mut config);
    let db = sled::Config::new().temporary(true).open().unwrap();
    let canned = CannedLookups::load(&fixture_path("rules/canned.toml")).unwrap();
    let rules = Rules::open(&config, &db, Arc::new(canned)).unwrap();
    (db, rules)
}

/// Copies a fixture under tests/fixtures/rules/reload into `dir` as `name.rhai`.
pub fn install_rule(dir: &Path, fixture: &str, name: &str) {
    let source = fixture_path(&format!("rules/reload/{fixture}"));
    std::fs::copy(source, dir.join(format!("{name}.rhai"))).unwrap();
}

/// An event from the example customer.
pub fn event(kind: &str) -> Event {
    Event {
        kind: kind.to_string(),
        msg_type: "event".to_string(),
        account: "gh_3f2a1b0c9d8e".to_string(),
        openid: "oLotusAlice".to_string(),
        create_time: 1_700_000_000,
        ..Default::default()
    }
}

/// The texts of a decision's text messages and replies, in order.
pub fn texts(decision: &Decision) -> Vec<String> {
    let sent = decision
        .actions
        .iter()
        .filter_map(|action| match &action.message {
            Message::Text { content } => Some(content.clone()),
            _ => None,
        });
    sent.collect()
}

/// Polls `condition` every 20 ms for up to 10 s; a bound, not a timing assertion.
pub fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < give_up, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
