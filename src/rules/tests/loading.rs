//! What a rule file must be to load: known handlers, one parameter, no eval, no
//! imports, no state functions at the top level, no undefined variables.

use crate::rules::engine::build_engine;
use crate::rules::loader::load_dir;
use crate::rules::set::StatsRegistry;
use crate::rules::testing::test_config;
use crate::rules::LoadErrors;

fn load(files: &[(&str, &str)]) -> Result<crate::rules::RuleSet, LoadErrors> {
    let dir = tempfile::tempdir().unwrap();
    for (name, source) in files {
        std::fs::write(dir.path().join(format!("{name}.rhai")), source).unwrap();
    }
    let config = test_config(dir.path());
    let engine = build_engine(&config);
    load_dir(
        &engine,
        dir.path(),
        std::time::Duration::from_secs(2),
        &StatsRegistry::default(),
    )
}

fn first_error(files: &[(&str, &str)]) -> String {
    load(files).unwrap_err().0[0].to_string()
}

#[test]
fn a_misspelt_handler_is_a_load_error_with_a_hint() {
    let err = first_error(&[("typo", "fn on_user_get_crad(e) { }")]);

    assert!(
        err.contains("typo.rhai:1:1: on_user_get_crad is not a known handler"),
        "{err}"
    );
    assert!(err.contains("did you mean on_user_get_card?"), "{err}");
}

#[test]
fn a_syntax_error_is_reported_at_file_line_and_column() {
    let err = first_error(&[("broken", "fn on_text(e) {\n  send_text(e.openid, \"x\"\n}")]);

    assert!(err.contains("broken.rhai:3:1: "), "{err}");
}

#[test]
fn an_undefined_variable_is_a_load_error() {
    let err = first_error(&[("undefined", "fn on_text(e) { send_text(openid, \"x\"); }")]);

    assert!(err.contains("undefined.rhai:1:27"), "{err}");
    assert!(err.contains("openid"), "{err}");
}

#[test]
fn eval_and_import_are_refused() {
    let eval = first_error(&[("ev", "fn on_text(e) { eval(\"1\"); }")]);
    let import = first_error(&[("im", "import \"secrets\" as s;")]);

    assert!(eval.contains("ev.rhai:1:"), "{eval}");
    assert!(
        import.contains("im.rhai:1:") && import.contains("secrets"),
        "{import}"
    );
}

#[test]
fn state_functions_at_the_top_level_are_refused() {
    let err = first_error(&[("top", "send_text(\"oAlice\", \"hi\");")]);

    assert!(
        err.contains("send_text: can only be called inside a handler"),
        "{err}"
    );
}

#[test]
fn every_broken_file_is_reported_not_just_the_first() {
    let errors = load(&[
        ("a", "fn on_textt(e) {}"),
        ("b", "let x = ;"),
        ("c", "fn on_text(e) {}"),
    ])
    .unwrap_err();

    assert_eq!(errors.0.len(), 2);
}

#[test]
fn an_empty_directory_is_a_valid_empty_set_and_hidden_files_are_skipped() {
    let set = load(&[(".swap", "this is not rhai")]).unwrap();

    assert!(set.rules.is_empty());
    assert_eq!(set.revision.len(), 12);
}

#[test]
fn the_revision_depends_on_names_and_sources() {
    let a = load(&[("a", "fn on_text(e) {}")]).unwrap().revision;
    let same = load(&[("a", "fn on_text(e) {}")]).unwrap().revision;
    let renamed = load(&[("b", "fn on_text(e) {}")]).unwrap().revision;

    assert_eq!(a, same);
    assert_ne!(a, renamed);
}
