//! The files in deploy/ are what operators install: the production config must pass
//! `cardbot check`, the Dockerfile must copy what exists and give the rules to its user,
//! the systemd unit must let a rollback write the rules and verify with systemd-analyze.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo(relative)).unwrap()
}

/// The production config with its absolute paths moved into `dir`, so that `check` runs
/// on this machine exactly as it would on the server.
fn production_config(dir: &Path) -> PathBuf {
    let text = read("deploy/config.toml");
    assert!(text.contains("dir = \"/etc/cardbot/rules\""));
    let text = text.replace(
        "dir = \"/etc/cardbot/rules\"",
        &format!("dir = {:?}", repo("rules")),
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_production_config_passes_check_with_secrets_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = production_config(dir.path());

    let output = Command::new(env!("CARGO_BIN_EXE_cardbot"))
        .current_dir(dir.path())
        .arg("--config")
        .arg(&config)
        .arg("check")
        .env("CARDBOT_WECHAT_APP_SECRET", "deploy-test-secret")
        .env("CARDBOT_WECHAT_TOKEN", "deploy-test-token")
        .env(
            "CARDBOT_WECHAT_ENCODING_AES_KEY",
            "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
        )
        .env("CARDBOT_ADMIN_TOKEN", "deploy-test-admin-token")
        .output()
        .unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "check failed:\n{stdout}\n{stderr}");
    assert!(!stdout.contains("deploy-test") && !stderr.contains("deploy-test"));
}

#[test]
fn the_production_config_turns_the_sandbox_off_and_talks_to_wechat() {
    let text = read("deploy/config.toml");

    let config = cardbot::config::Config::from_toml(&text).unwrap();

    assert!(!config.sandbox.enabled);
    assert_eq!(config.wechat.api_base, "https://api.weixin.qq.com");
    assert!(
        config.wechat.app_secret.is_empty(),
        "secrets belong in the environment"
    );
    assert!(
        config.admin.token.is_empty(),
        "secrets belong in the environment"
    );
}

#[test]
fn the_dockerfile_copies_only_what_the_repository_has() {
    let dockerfile = read("deploy/Dockerfile");

    let sources: Vec<&str> = dockerfile
        .lines()
        .filter(|line| line.starts_with("COPY ") && !line.contains("--from="))
        .flat_map(|line| {
            let words: Vec<&str> = line
                .split_whitespace()
                .filter(|word| !word.starts_with("--"))
                .collect();
            words[1..words.len() - 1].to_vec()
        })
        .collect();

    assert!(sources.len() >= 5, "{sources:?}");
    for source in sources {
        assert!(
            repo(source).exists(),
            "the Dockerfile copies {source}, which is missing"
        );
    }
    // The image rewrites the listener line; it must be there to rewrite.
    assert!(read("deploy/config.toml").contains("\nlisten = \"127.0.0.1:8080\"\n"));
}

#[test]
fn the_docker_build_context_leaves_out_builds_and_stores() {
    let ignored = read(".dockerignore");

    let patterns: Vec<&str> = ignored.lines().map(str::trim).collect();

    for needed in ["target", "data", ".git"] {
        assert!(
            patterns.contains(&needed),
            ".dockerignore must leave out {needed}"
        );
    }
}

#[test]
fn the_image_gives_the_rules_to_the_user_it_runs_as_since_a_rollback_writes_them() {
    let dockerfile = read("deploy/Dockerfile");

    let user = dockerfile
        .lines()
        .find_map(|line| line.strip_prefix("USER "))
        .expect("the image names its runtime user");
    let rules = dockerfile
        .lines()
        .find(|line| line.starts_with("COPY ") && line.contains(" rules "))
        .expect("the image copies the rules");

    assert_ne!(user.trim(), "root");
    assert!(
        rules.contains(&format!("--chown={0}:{0}", user.trim())),
        "the rules are not owned by {user}: {rules}"
    );
}

/// The values of `key=` in the unit, every occurrence, split on whitespace.
fn unit_values(key: &str) -> Vec<String> {
    read("deploy/cardbot.service")
        .lines()
        .filter_map(|line| line.strip_prefix(&format!("{key}=")))
        .flat_map(|value| value.split_whitespace().map(String::from))
        .collect()
}

#[test]
fn the_systemd_unit_lets_a_rollback_write_the_rules_dir_and_nothing_else_of_etc() {
    let config = cardbot::config::Config::from_toml(&read("deploy/config.toml")).unwrap();
    let rules = config.rules.dir.display().to_string();

    let writable = unit_values("ReadWritePaths");
    let read_only = unit_values("ReadOnlyPaths");

    assert_eq!(unit_values("ProtectSystem"), ["strict"]);
    assert_eq!(
        writable,
        std::slice::from_ref(&rules),
        "ReadWritePaths must be the rules dir"
    );
    assert!(
        read_only
            .iter()
            .all(|path| !rules.starts_with(path.as_str())),
        "{read_only:?} makes {rules} read-only"
    );
}

#[test]
fn the_systemd_unit_keeps_restarting_a_process_whose_store_failed() {
    let restart = unit_values("Restart");

    let start_limit = unit_values("StartLimitIntervalSec");

    assert_eq!(restart, ["always"]);
    assert_eq!(
        start_limit,
        ["0"],
        "systemd would give up after five quick failures"
    );
}

#[test]
fn the_systemd_unit_verifies() {
    let Ok(analyze) = which("systemd-analyze") else {
        if crate::support::on_ci() {
            panic!(
                "systemd-analyze not found, and this is CI: install Debian's systemd \
                 package (apt-get install -y systemd), as .ci/run does"
            );
        }
        // libtest captures eprintln! of a passing test; a write to the stderr handle
        // itself is not, so the skip shows in every run.
        let _ = writeln!(
            std::io::stderr().lock(),
            "deploy::the_systemd_unit_verifies: did not run, systemd-analyze not found \
             (apt-get install systemd)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // systemd-analyze checks that the binary exists: point the unit at the built one.
    let unit = read("deploy/cardbot.service")
        .replace("/usr/local/bin/cardbot", env!("CARGO_BIN_EXE_cardbot"));
    let path = dir.path().join("cardbot.service");
    std::fs::write(&path, unit).unwrap();

    let output = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    let problems: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("cardbot.service"))
        .collect();
    assert!(problems.is_empty(), "systemd-analyze verify:\n{stderr}");
}

fn which(program: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .ok_or(())
}
