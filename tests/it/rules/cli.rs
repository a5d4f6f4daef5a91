//! `cardbot rules list|rollback`, `log` and `stats` talk to the server's admin API with
//! the admin token, and need nothing else from the config.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use cardbot::cli::rules::AdminClient;
use cardbot::config::Config;

use crate::support::pipeline::Rig;
use crate::support::server::THANK_ON_RECEIPT;

/// Answers one HTTP request with `body` and hands back what was asked.
fn answer_once(status: &str, body: &'static str) -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let status = status.to_string();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body_in = vec![0; length];
        reader.read_exact(&mut body_in).unwrap();
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        );
        reader.get_mut().write_all(response.as_bytes()).unwrap();
        format!("{head}{}", String::from_utf8(body_in).unwrap())
    });
    (base_url, server)
}

fn client(base_url: String) -> AdminClient {
    AdminClient {
        base_url,
        token: "admin-secret".to_string(),
    }
}

#[tokio::test]
async fn list_asks_the_server_with_the_bearer_token() {
    let body = r#"{"status":{},"revisions":[{"revision":"0123456789ab","activated_at":1700000000,"rules":["greet"],"active":true}]}"#;
    let (base_url, server) = answer_once("200 OK", body);

    let revisions = client(base_url).list().await.unwrap();

    let request = server.join().unwrap();
    assert!(
        request.starts_with("GET /admin/rules HTTP/1.1"),
        "{request}"
    );
    assert!(request
        .to_ascii_lowercase()
        .contains("authorization: bearer admin-secret"));
    assert_eq!(revisions[0].revision, "0123456789ab");
}

#[tokio::test]
async fn rollback_posts_the_revision_and_reports_a_refusal() {
    let (base_url, server) = answer_once("404 Not Found", r#"{"error":"no kept revision"}"#);

    let err = client(base_url).rollback(Some("abc")).await.unwrap_err();

    let request = server.join().unwrap();
    assert!(
        request.starts_with("POST /admin/rules/rollback"),
        "{request}"
    );
    assert!(request.ends_with(r#"{"revision":"abc"}"#), "{request}");
    assert!(format!("{err:#}").contains("404"), "{err:#}");
}

#[tokio::test]
async fn no_server_answering_is_a_clear_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let err = client(format!("http://127.0.0.1:{port}"))
        .list()
        .await
        .unwrap_err();

    assert!(
        err.to_string().contains("is `cardbot serve` running?"),
        "{err}"
    );
}

#[test]
fn no_admin_token_is_a_clear_error() {
    let config = Config::from_toml("[wechat]\ntoken = \"t\"\n").unwrap();

    let err = AdminClient::from_config(&config).unwrap_err();

    assert!(err.to_string().contains("no admin token is set"), "{err}");
}

/// An operator's config for the admin commands: where the server listens and its admin
/// token, with no WeChat token, AppSecret or EncodingAESKey.
fn operator_config(dir: &std::path::Path, addr: std::net::SocketAddr) -> std::path::PathBuf {
    let path = dir.join("operator.toml");
    let text = format!("[server]\nlisten = \"{addr}\"\n\n[admin]\ntoken = \"test-admin-token\"\n");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the real binary on `config`, with no secret in its environment either.
async fn cardbot(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_cardbot"));
    command.arg("--config").arg(config).args(args);
    for name in [
        cardbot::config::ENV_APP_SECRET,
        cardbot::config::ENV_TOKEN,
        cardbot::config::ENV_ENCODING_AES_KEY,
        cardbot::config::ENV_ADMIN_TOKEN,
    ] {
        command.env_remove(name);
    }
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_commands_run_on_a_config_without_wechat_secrets() {
    let rig = Rig::start(false, &[("thanks.rhai", THANK_ON_RECEIPT)], |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let config = operator_config(dir.path(), rig.server.addr);
    let active = rig.server.app.rules.active().revision.clone();

    let list = cardbot(&config, &["rules", "list"]).await;
    let log = cardbot(&config, &["log", "--openid", "o-nobody"]).await;
    let stats = cardbot(&config, &["stats", "--format", "csv"]).await;

    for (name, output) in [("rules list", &list), ("log", &log), ("stats", &stats)] {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "cardbot {name} failed: {stderr}");
    }
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(listed.contains(&format!("* {active}")), "{listed}");
    let logged = String::from_utf8_lossy(&log.stdout);
    assert!(
        logged.contains("no decisions logged for o-nobody"),
        "{logged}"
    );
}

#[tokio::test]
async fn an_admin_command_without_the_admin_token_says_which_key_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("operator.toml");
    std::fs::write(&config, "[server]\nlisten = \"127.0.0.1:9\"\n").unwrap();

    let output = cardbot(&config, &["rules", "list"]).await;

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("no admin token is set"), "{stderr}");
    assert!(!stderr.contains("wechat.token"), "{stderr}");
}
