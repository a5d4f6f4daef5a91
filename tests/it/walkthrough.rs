//! The README's walkthrough, command by command, as a new user would type it: start the
//! server on the shipped config, push a redemption, read the decision, edit a rule,
//! watch it reload, push again.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::server::{free_addr, is_healthy};

const WAIT: Duration = Duration::from_secs(20);

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The shipped config.toml with only the address and the store moved, and the rules
/// copied so that editing them leaves the repository alone.
fn walkthrough_config(dir: &Path, addr: std::net::SocketAddr) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    for entry in std::fs::read_dir(repo_path("rules")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, rules.join(path.file_name().unwrap())).unwrap();
        }
    }
    let text = std::fs::read_to_string(repo_path("config.toml"))
        .unwrap()
        .replacen("127.0.0.1:8080", &addr.to_string(), 2)
        .replacen(
            "path = \"data\"",
            &format!("path = {:?}", dir.join("data")),
            1,
        );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn cardbot(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardbot"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn wait_for_output(path: &Path, expected: &str) -> String {
    let started = Instant::now();
    let mut printed = String::new();
    while started.elapsed() < WAIT {
        printed.clear();
        std::fs::File::open(path)
            .unwrap()
            .read_to_string(&mut printed)
            .unwrap();
        if printed.contains(expected) {
            return printed;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the server never printed {expected:?}; it printed:\n{printed}");
}

fn redeem(dir: &Path, code: &str) -> Output {
    cardbot(
        dir,
        &[
            "push",
            "user_consume_card",
            "--openid",
            "o-alice",
            "--card-id",
            "pLtS7jA1x0Wq3ZcN5vGmYkTr2HdE",
            "--code",
            code,
            "--consume-source",
            "FROM_MOBILE_HELPER",
            "--location-name",
            "Lotus Tea Jing'an",
        ],
    )
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_readme_walkthrough_works_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    walkthrough_config(dir.path(), addr);
    let stdout = dir.path().join("server.txt");
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_cardbot"))
            .arg("serve")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while !is_healthy(addr) && started.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(50));
    }

    let pushed = redeem(dir.path(), "100000000001");
    assert_eq!(String::from_utf8_lossy(&pushed.stdout).trim(), "success");
    wait_for_output(&stdout, "[text] Thanks for visiting Lotus Tea Jing'an!");

    let log = cardbot(dir.path(), &["log", "--openid", "o-alice"]);
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(log.contains("user_consume_card"), "{log}");
    assert!(log.contains("rule next_coupon: ok"), "{log}");

    let rule = dir.path().join("rules/next_coupon.rhai");
    let source = std::fs::read_to_string(&rule).unwrap();
    std::fs::write(
        &rule,
        source.replace("Thanks for visiting", "Welcome back to"),
    )
    .unwrap();
    let started = Instant::now();
    loop {
        let list = cardbot(dir.path(), &["rules", "list"]);
        let active = String::from_utf8_lossy(&list.stdout)
            .lines()
            .filter(|l| l.starts_with('*'))
            .count();
        let revisions = String::from_utf8_lossy(&list.stdout).lines().count();
        if active == 1 && revisions >= 2 {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "the edited rule was never reloaded"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let again = redeem(dir.path(), "100000000009");
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), "success");
    wait_for_output(&stdout, "[text] Welcome back to Lotus Tea Jing'an!");
}
