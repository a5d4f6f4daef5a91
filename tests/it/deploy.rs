//! The files in deploy/ are what operators install: the production config must pass
//! `cardbot check`, the Dockerfile must copy what exists, and the systemd unit must
//! verify where systemd-analyze is present.

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
            let words: Vec<&str> = line.split_whitespace().collect();
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
fn the_systemd_unit_verifies() {
    let Ok(analyze) = which("systemd-analyze") else {
        eprintln!("systemd-analyze not found: the unit was not verified");
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
