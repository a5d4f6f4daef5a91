//! Rule evaluation per event (the example set; ten rules with no lookup) and the reload
//! time of a 1,000-file rules directory.
//!
//! Run with `cargo bench --bench rules`.

// A benchmark's setup may unwrap: a failure there is a broken benchmark, not a crash.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cardbot::config::RulesConfig;
use cardbot::rules::{CannedLookups, Rules};
use cardbot::wechat::event::Event;
use criterion::{criterion_group, criterion_main, Criterion};

fn open(dir: &Path) -> (sled::Db, Rules) {
    let config = RulesConfig {
        dir: dir.to_path_buf(),
        ..RulesConfig::default()
    };
    let db = sled::Config::new().temporary(true).open().unwrap();
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rules/canned.toml");
    let canned = CannedLookups::load(&fixture).unwrap();
    let rules = Rules::open(&config, &db, Arc::new(canned)).unwrap();
    (db, rules)
}

fn event(kind: &str) -> Event {
    Event {
        kind: kind.to_string(),
        msg_type: "event".to_string(),
        account: "gh_3f2a1b0c9d8e".to_string(),
        openid: "oLotusAlice".to_string(),
        create_time: 1_700_000_000,
        card_id: Some("pLtS7jA1x0Wq3ZcN5vGmYkTr2HdE".to_string()),
        code: Some("110201201245".to_string()),
        consume_source: Some("FROM_MOBILE_HELPER".to_string()),
        location_name: Some("Lotus Tea House, Jing'an".to_string()),
        ..Default::default()
    }
}

fn example_set(c: &mut Criterion) {
    let (_db, rules) = open(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules"));
    let mut group = c.benchmark_group("examples");
    for kind in [
        "user_consume_card",
        "user_enter_session_from_card",
        "user_del_card",
    ] {
        let event = event(kind);
        group.bench_function(kind, |b| {
            b.iter(|| rules.evaluate_at(&event, 1_700_000_000))
        });
    }
    group.finish();
}

fn ten_rules_without_lookups(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    for n in 0..10 {
        let source = format!(
            "const KEYWORD = \"menu{n}\";\n\
             fn on_text(event) {{\n\
                 if event.content == () {{ return; }}\n\
                 if event.content.contains(global::KEYWORD) {{\n\
                     send_text(event.openid, `Here is menu {n}`);\n\
                 }} else if event.content.len() > 40 {{\n\
                     reply_text(\"Thanks, we'll get back to you.\");\n\
                 }}\n\
             }}\n"
        );
        std::fs::write(dir.path().join(format!("rule_{n:02}.rhai")), source).unwrap();
    }
    let (_db, rules) = open(dir.path());
    let text = Event {
        kind: "text".to_string(),
        msg_type: "text".to_string(),
        content: Some("do you have menu7 today?".to_string()),
        ..event("text")
    };

    c.bench_function("ten_rules_no_lookup/with_constants", |b| {
        b.iter(|| rules.evaluate_at(&text, 1_700_000_000))
    });
    for n in 0..10 {
        let path = dir.path().join(format!("rule_{n:02}.rhai"));
        let source = std::fs::read_to_string(&path).unwrap();
        let source = source
            .replace("const KEYWORD = \"menu", "// keyword: menu")
            .replace("global::KEYWORD", "\"menu1\"");
        std::fs::write(&path, source).unwrap();
    }
    rules.reload().unwrap();
    c.bench_function("ten_rules_no_lookup/without_constants", |b| {
        b.iter(|| rules.evaluate_at(&text, 1_700_000_000))
    });
}

fn reload_thousand_files(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    for n in 0..1000 {
        let source = format!(
            "//! Rule {n}.\nfn on_user_get_card(event) {{\n\
                 if event.outer_str == \"channel_{n}\" {{ send_card(event.openid, \"pCard{n}\"); }}\n\
             }}\n"
        );
        std::fs::write(dir.path().join(format!("rule_{n:04}.rhai")), source).unwrap();
    }
    let (_db, rules) = open(dir.path());

    let mut group = c.benchmark_group("reload");
    group.sample_size(10);
    group.bench_function("1000_files", |b| b.iter(|| rules.reload().unwrap()));
    group.finish();
}

criterion_group!(
    benches,
    example_set,
    ten_rules_without_lookups,
    reload_thousand_files
);
criterion_main!(benches);
