//! The rule author's tools run as the binary: `simulate`, `test` and `rules definitions`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::fixture_path;

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A config in a temp dir whose rules are the repo's examples; the store path is one
/// the tools must never create.
fn config(dir: &Path) -> PathBuf {
    let path = dir.join("config.toml");
    let text = format!(
        "[wechat]\ntoken = \"t\"\n[store]\npath = {:?}\n[rules]\ndir = {:?}\nwatch = false\n",
        dir.join("server-data"),
        repo("rules"),
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn cardbot(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardbot"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_example_rules_pass_their_own_tests() {
    let dir = tempfile::tempdir().unwrap();

    let output = cardbot(&config(dir.path()), &["test"]);

    let text = stdout(&output);
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("PASS win_back.toml: deleting a coupon offers a free drink"));
    assert!(text.contains(" 0 failed"), "{text}");
}

#[test]
fn a_failing_suite_exits_non_zero_with_a_diff() {
    let dir = tempfile::tempdir().unwrap();
    let suites = fixture_path("rules/failing_tests");

    let output = cardbot(&config(dir.path()), &["test", suites.to_str().unwrap()]);

    let text = stdout(&output);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("FAIL win_back.toml: a wrong expectation is reported with a diff"));
    assert!(
        text.contains(r#"- {"rule":"win_back","type":"news"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"+ {"rule":"win_back","type":"text"}"#),
        "{text}"
    );
    assert!(text.contains("0 passed, 2 failed"), "{text}");
}

#[test]
fn simulate_explains_a_redemption_without_touching_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let canned = fixture_path("rules/canned.toml");
    let args = [
        "simulate",
        "user_consume_card",
        "--openid",
        "oLotusAlice",
        "--card-id",
        "pLtS7jA1x0Wq3ZcN5vGmYkTr2HdE",
        "--code",
        "110201201245",
        "--consume-source",
        "FROM_MOBILE_HELPER",
        "--location-name",
        "Nanjing Road",
        "--now",
        "1700000000",
        "--canned",
        canned.to_str().unwrap(),
    ];

    let output = cardbot(&config(dir.path()), &args);

    let text = stdout(&output);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("next_coupon (on_user_consume_card"), "{text}");
    assert!(
        text.contains(r#"text "Thanks for visiting Nanjing Road!"#),
        "{text}"
    );
    assert!(
        text.contains("held: no open customer-service window"),
        "{text}"
    );
    assert!(!dir.path().join("server-data").exists());
}

#[test]
fn simulate_from_a_push_file_reports_lookups_and_a_passive_reply_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let push = dir.path().join("push.xml");
    let xml = "<xml><ToUserName><![CDATA[gh_x]]></ToUserName>\
        <FromUserName><![CDATA[oLotusAlice]]></FromUserName><CreateTime>1700000000</CreateTime>\
        <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[user_enter_session_from_card]]></Event>\
        <CardId><![CDATA[pLtS7jA1x0Wq3ZcN5vGmYkTr2HdE]]></CardId>\
        <UserCardCode><![CDATA[110201201245]]></UserCardCode></xml>";
    std::fs::write(&push, xml).unwrap();
    let canned = fixture_path("rules/canned.toml");
    let args = [
        "simulate",
        "--file",
        push.to_str().unwrap(),
        "--now",
        "1700000000",
    ];

    let output = cardbot(
        &config,
        &[&args[..], &["--canned", canned.to_str().unwrap()]].concat(),
    );
    let json_output = cardbot(
        &config,
        &[
            &args[..],
            &["--format", "json", "--canned", canned.to_str().unwrap()],
        ]
        .concat(),
    );

    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains(r#"card_status("pLtS7jA1x0Wq3ZcN5vGmYkTr2HdE", "110201201245")"#));
    assert!(text.contains(r#""status":"NORMAL""#), "{text}");
    let json: serde_json::Value = serde_json::from_slice(&json_output.stdout).unwrap();
    assert_eq!(json["decision"]["replies"][0]["rule"], "card_reminder");
    assert_eq!(json["answers"][1]["title"], "20 yuan off any tea");
    assert_eq!(json["deliveries"][0]["source"], "reply");
}

#[test]
fn a_rule_failure_is_shown_at_its_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("broken.rhai"),
        "fn on_user_del_card(event) {\n    let x = 1;\n    throw \"boom\";\n}\n",
    )
    .unwrap();
    let config_path = dir.path().join("config.toml");
    let text = format!("[wechat]\ntoken = \"t\"\n[rules]\ndir = {rules:?}\nwatch = false\n");
    std::fs::write(&config_path, text).unwrap();

    let output = cardbot(
        &config_path,
        &["simulate", "user_del_card", "--openid", "oA"],
    );

    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("broken.rhai:3:5"), "{text}");
    assert!(text.contains("boom"), "{text}");
}

#[test]
fn rules_definitions_writes_the_rule_api_for_editors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("defs");

    let output = cardbot(
        &config(dir.path()),
        &["rules", "definitions", "--out", out.to_str().unwrap()],
    );

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let api = std::fs::read_to_string(out.join("__static__.d.rhai")).unwrap();
    let event = std::fs::read_to_string(out.join("event.d.rhai")).unwrap();
    assert!(
        api.contains("fn send_text(openid: string, text: string);"),
        "{api}"
    );
    assert!(api.contains("fn user_cards(openid: string) -> array;"));
    assert!(api.contains("fn once_per(openid: string, key: string, seconds: int) -> bool;"));
    assert!(event.contains("event.outer_str"));
}

#[test]
fn definitions_and_tests_inside_the_rules_dir_do_not_disturb_loading() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    for name in ["win_back.rhai", "next_coupon.rhai"] {
        std::fs::copy(repo("rules").join(name), rules.join(name)).unwrap();
    }
    std::fs::create_dir(rules.join("tests")).unwrap();
    std::fs::copy(
        repo("rules/tests/win_back.toml"),
        rules.join("tests/win_back.toml"),
    )
    .unwrap();
    let config_path = dir.path().join("config.toml");
    let text = format!("[wechat]\ntoken = \"t\"\n[rules]\ndir = {rules:?}\nwatch = false\n");
    std::fs::write(&config_path, text).unwrap();

    let written = cardbot(&config_path, &["rules", "definitions"]);
    let checked = cardbot(&config_path, &["check"]);
    let tested = cardbot(&config_path, &["test"]);

    assert!(written.status.success());
    assert!(rules.join(".definitions/__static__.d.rhai").exists());
    let check = stdout(&checked);
    assert!(checked.status.success(), "{check}");
    assert!(check.contains("2 rules"), "{check}");
    assert!(tested.status.success(), "{}", stdout(&tested));
}
