//! The watcher reloads after an editor's save, whichever way it saves.

use std::collections::BTreeMap;
use std::io::Write;

use cardbot::rules::loader::revision_of;

use super::{open_rules, wait_for};

fn revision_with(name: &str, source: &str) -> String {
    revision_of(&BTreeMap::from([(name.to_string(), source.to_string())]))
}

#[test]
fn a_write_in_place_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("greet.rhai");
    std::fs::write(
        &path,
        "fn on_subscribe(e) { send_text(e.openid, \"one\"); }",
    )
    .unwrap();
    let (_db, rules) = open_rules(dir.path(), |_| {});
    let _watcher = rules.watch().unwrap();
    let edited = "fn on_subscribe(e) { send_text(e.openid, \"two\"); }";

    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    file.write_all(edited.as_bytes()).unwrap();
    file.sync_all().unwrap();
    drop(file);

    let expected = revision_with("greet", edited);
    wait_for("the edited rule to load", || {
        rules.status().revision == expected
    });
}

#[test]
fn a_delete_then_create_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("greet.rhai");
    std::fs::write(
        &path,
        "fn on_subscribe(e) { send_text(e.openid, \"one\"); }",
    )
    .unwrap();
    let (_db, rules) = open_rules(dir.path(), |_| {});
    let _watcher = rules.watch().unwrap();
    let recreated = "fn on_subscribe(e) { send_text(e.openid, \"three\"); }";

    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, recreated).unwrap();

    let expected = revision_with("greet", recreated);
    wait_for("the recreated rule to load", || {
        rules.status().revision == expected
    });
}

#[test]
fn a_broken_save_keeps_the_running_set_and_shows_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("greet.rhai");
    std::fs::write(&path, "fn on_subscribe(e) { }").unwrap();
    let (_db, rules) = open_rules(dir.path(), |_| {});
    let before = rules.status().revision;
    let _watcher = rules.watch().unwrap();

    std::fs::write(&path, "fn on_subscribe(e) { ").unwrap();

    wait_for("the failed reload", || rules.status().reloads_failed > 0);
    assert_eq!(rules.status().revision, before);
}

#[test]
fn reading_a_rule_file_does_not_reload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("greet.rhai");
    std::fs::write(&path, "fn on_subscribe(e) { }").unwrap();
    let (_db, rules) = open_rules(dir.path(), |_| {});
    let _watcher = rules.watch().unwrap();

    std::fs::read_to_string(&path).unwrap();
    // Long enough for a reload, and for the reads of that reload to start another.
    std::thread::sleep(std::time::Duration::from_millis(600));
    let after_reading = rules.status();
    std::fs::write(&path, "fn on_subscribe(e) { send_text(e.openid, \"hi\"); }").unwrap();
    wait_for("the edited rule to load", || rules.status().reloads_ok == 1);
    std::thread::sleep(std::time::Duration::from_millis(600));

    assert_eq!(after_reading.reloads_ok + after_reading.reloads_failed, 0);
    assert_eq!(
        rules.status().reloads_ok,
        1,
        "a reload's own reads started another"
    );
}
