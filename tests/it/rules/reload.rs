//! Reload and rollback: a good change goes live, a bad one keeps the running set, a
//! rollback restores disk and set together, and evaluations never straddle two sets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use cardbot::rules::RulesError;

use super::{event, install_rule, open_rules, texts};

#[test]
fn a_valid_change_takes_effect_on_reload() {
    let dir = tempfile::tempdir().unwrap();
    install_rule(dir.path(), "greet_v1.rhai", "greet");
    let (_db, rules) = open_rules(dir.path(), |_| {});
    let before = rules.status().revision;

    install_rule(dir.path(), "greet_v2.rhai", "greet");
    let outcome = rules.reload().unwrap();

    assert!(outcome.changed);
    assert_ne!(outcome.revision, before);
    assert_eq!(
        texts(&rules.evaluate(&event("subscribe"))),
        vec!["welcome v2"]
    );
    assert!(rules.status().last_reload.unwrap().ok);
}

#[test]
fn a_broken_file_keeps_the_running_set_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    install_rule(dir.path(), "greet_v1.rhai", "greet");
    let (_db, rules) = open_rules(dir.path(), |_| {});
    let before = rules.status().revision;

    install_rule(dir.path(), "broken.rhai", "greet");
    let err = rules.reload().unwrap_err();

    assert!(matches!(err, RulesError::Load(_)));
    let status = rules.status();
    assert_eq!(status.revision, before);
    assert_eq!(status.reloads_failed, 1);
    let last = status.last_reload.unwrap();
    assert!(!last.ok && last.error.unwrap().contains("greet.rhai:4:1"));
    assert_eq!(
        texts(&rules.evaluate(&event("subscribe"))),
        vec!["welcome v1"]
    );
}

#[test]
fn a_misspelt_handler_is_refused_on_reload() {
    let dir = tempfile::tempdir().unwrap();
    install_rule(dir.path(), "greet_v1.rhai", "greet");
    let (_db, rules) = open_rules(dir.path(), |_| {});

    install_rule(dir.path(), "typo.rhai", "card_welcome");
    let err = rules.reload().unwrap_err().to_string();

    assert!(
        err.contains("card_welcome.rhai:2:1: on_user_get_crad is not a known handler"),
        "{err}"
    );
    assert!(err.contains("did you mean on_user_get_card?"), "{err}");
    assert_eq!(rules.status().rules.len(), 1);
}

#[test]
fn a_rollback_restores_the_previous_files_and_set() {
    let dir = tempfile::tempdir().unwrap();
    install_rule(dir.path(), "greet_v1.rhai", "greet");
    let (_db, rules) = open_rules(dir.path(), |_| {});
    let first = rules.status().revision;
    install_rule(dir.path(), "greet_v2.rhai", "greet");
    install_rule(dir.path(), "typo.rhai", "extra");
    std::fs::remove_file(dir.path().join("extra.rhai")).unwrap();
    install_rule(dir.path(), "greet_v2.rhai", "another");
    rules.reload().unwrap();

    let outcome = rules.rollback(None).unwrap();

    assert_eq!(outcome.revision, first);
    let on_disk: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(on_disk, vec!["greet.rhai"]);
    assert_eq!(
        texts(&rules.evaluate(&event("subscribe"))),
        vec!["welcome v1"]
    );
    let kept = rules.revisions().unwrap();
    assert_eq!(kept[0].revision, first);
    assert!(kept[0].active);
}

#[test]
fn a_rollback_to_a_named_revision_and_to_an_unknown_one() {
    let dir = tempfile::tempdir().unwrap();
    install_rule(dir.path(), "greet_v1.rhai", "greet");
    let (_db, rules) = open_rules(dir.path(), |_| {});
    let first = rules.status().revision;
    install_rule(dir.path(), "greet_v2.rhai", "greet");
    rules.reload().unwrap();

    let restored = rules.rollback(Some(&first[..6])).unwrap();
    let unknown = rules.rollback(Some("ffffffffffff")).unwrap_err();

    assert_eq!(restored.revision, first);
    assert!(matches!(unknown, RulesError::UnknownRevision(_)));
}

#[test]
fn only_the_last_revisions_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, rules) = open_rules(dir.path(), |config| config.keep_revisions = 2);

    for version in 0..4 {
        let source = format!("fn on_text(e) {{ send_text(e.openid, \"{version}\"); }}");
        std::fs::write(dir.path().join("count.rhai"), source).unwrap();
        rules.reload().unwrap();
    }

    assert_eq!(rules.revisions().unwrap().len(), 2);
}

#[test]
fn evaluations_during_reloads_each_run_on_exactly_one_set() {
    let dir = tempfile::tempdir().unwrap();
    let write_version = |version: usize| {
        let source = format!(
            "fn on_subscribe(e) {{ send_text(e.openid, \"v{version}\"); }}\n\
             fn on_event(e) {{ send_text(e.openid, \"v{version} again\"); }}"
        );
        std::fs::write(dir.path().join("versioned.rhai"), source).unwrap();
    };
    write_version(0);
    let (_db, rules) = open_rules(dir.path(), |_| {});
    let versions = Arc::new(Mutex::new(HashMap::from([(rules.status().revision, 0)])));
    let stop = Arc::new(AtomicBool::new(false));

    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (rules, stop) = (rules.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut decisions = Vec::new();
                while !stop.load(Ordering::Relaxed) || decisions.len() < 50 {
                    decisions.push(rules.evaluate(&event("subscribe")));
                }
                decisions
            })
        })
        .collect();
    for version in 1..=10 {
        write_version(version);
        let outcome = rules.reload().unwrap();
        versions.lock().unwrap().insert(outcome.revision, version);
    }
    stop.store(true, Ordering::Relaxed);
    let decisions: Vec<_> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();

    let versions = versions.lock().unwrap();
    for decision in &decisions {
        let version = versions[&decision.revision];
        assert_eq!(
            texts(decision),
            vec![format!("v{version}"), format!("v{version} again")]
        );
    }
    assert!(decisions.len() >= 100);
}
