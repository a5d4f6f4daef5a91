//! The cardbot server under test: in-process on 127.0.0.1:0 with a temp sled dir, or
//! the real binary as a child process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use cardbot::app::App;
use cardbot::config::Config;
use cardbot::store::Store;

use super::push::Push;

/// The account every callback test signs for.
pub const TOKEN: &str = "test-callback-token";
pub const APP_ID: &str = "wx5823bf96d3bd56c7";
pub const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
pub const OLD_AES_KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";

/// A config for tests: loopback port 0, a temp store and rules dir, the test account,
/// the worker paused (tests of the pipeline turn it on), and an API base where nothing
/// listens (tests of the pipeline point it at a fake WeChat).
pub fn test_config(dir: &Path, encrypted: bool) -> Config {
    let mut config = Config::default();
    config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.server.workers = 2;
    config.store.path = dir.join("store");
    config.rules.dir = dir.join("rules");
    config.rules.watch = false;
    config.worker.paused = true;
    config.wechat.api_base = "http://127.0.0.1:9".to_string();
    std::fs::create_dir_all(&config.rules.dir).unwrap();
    config.wechat.token = TOKEN.to_string();
    config.wechat.app_id = APP_ID.to_string();
    if encrypted {
        config.wechat.encoding_aes_key = AES_KEY.to_string();
    }
    config
}

/// A running in-process cardbot and its parts.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The admin listener, when `[admin] listen` is set.
    pub admin_addr: Option<SocketAddr>,
    pub store: Store,
    pub app: AppParts,
    pub config: Config,
    handle: cardbot::server::ServerHandle,
    _dir: Option<tempfile::TempDir>,
}

/// The parts of the app a test inspects.
pub struct AppParts {
    pub rules: cardbot::rules::Rules,
    pub outbox: cardbot::pipeline::outbox::Outbox,
    pub decisions: cardbot::pipeline::DecisionLog,
    pub windows: cardbot::pipeline::Windows,
}

impl TestServer {
    /// Starts a server on a fresh temp store, the config adjusted by `adjust`.
    pub async fn start(encrypted: bool, adjust: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path(), encrypted);
        adjust(&mut config);
        config.validate().unwrap();
        let mut server = TestServer::start_with(config).await;
        server._dir = Some(dir);
        server
    }

    /// Starts a server on exactly this config.
    pub async fn start_with(config: Config) -> TestServer {
        let app = App::start(&config).await.unwrap();
        let addr = app.server.local_addr();
        let admin_addr = app.server.admin_addr();
        let handle = app.server.handle();
        let store = app.store.clone();
        let parts = AppParts {
            rules: app.rules.clone(),
            outbox: app.outbox.clone(),
            decisions: app.decisions.clone(),
            windows: app.windows.clone(),
        };
        tokio::spawn(app.server.run());
        TestServer {
            addr,
            admin_addr,
            store,
            app: parts,
            config,
            handle,
            _dir: None,
        }
    }

    /// The callback URL with `query` appended.
    pub fn callback_url(&self, query: &str) -> String {
        format!(
            "http://{}{}?{}",
            self.addr, self.config.server.callback_path, query
        )
    }

    /// Posts `push` to the callback: the answer's status and body.
    pub async fn post(&self, push: &Push) -> (reqwest::StatusCode, String) {
        let response = reqwest::Client::new()
            .post(self.callback_url(&push.query))
            .header("content-type", "text/xml")
            .body(push.body.clone())
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    /// Posts `push` and checks that the callback took it.
    pub async fn post_ok(&self, push: &Push) {
        let (status, body) = self.post(push).await;
        assert_eq!((status.as_u16(), body.as_str()), (200, "success"));
    }

    /// Stops the server, letting requests in flight finish.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// The real `cardbot` binary running `serve` as a child process. Dropping it kills the
/// process, so a test that fails half-way leaves none behind.
pub struct ChildServer {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        // Already gone after kill() or an exit the test waited for; both are fine.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ChildServer {
    /// Writes `config_text` to `dir/config.toml`, starts the binary on it and waits
    /// until /healthz answers.
    pub fn start(dir: &Path, config_text: &str, addr: SocketAddr) -> ChildServer {
        ChildServer::start_logging(dir, config_text, addr, Stdio::null())
    }

    /// [`ChildServer::start`], with the process's log output (stderr) sent to `log`.
    pub fn start_logging(
        dir: &Path,
        config_text: &str,
        addr: SocketAddr,
        log: impl Into<Stdio>,
    ) -> ChildServer {
        let config_path = dir.join("config.toml");
        std::fs::write(&config_path, config_text).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_cardbot"))
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let server = ChildServer { child, addr };
        server.wait_healthy(Duration::from_secs(20));
        server
    }

    fn wait_healthy(&self, limit: Duration) {
        let started = Instant::now();
        while started.elapsed() < limit {
            if is_healthy(self.addr) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("cardbot did not become healthy at {}", self.addr);
    }

    /// Kills the process with SIGKILL: no shutdown, no flush.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and waits for the process to exit, failing the test (and killing
    /// it) when it is still running after `limit`.
    pub fn terminate(mut self, limit: Duration) -> ExitStatus {
        // The shell's own `kill`, so that no procps package is needed.
        let signalled = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.child.id())])
            .status()
            .unwrap();
        assert!(signalled.success(), "failed to signal cardbot");
        self.wait_for_exit(limit)
            .unwrap_or_else(|| panic!("cardbot still ran {limit:?} after SIGTERM"))
    }

    /// Waits up to `limit` for the process to exit on its own: its status, or `None`
    /// when it still runs (it is killed when `self` is dropped).
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if started.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A free loopback port, for a child server that must be told its address.
pub fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A path inside a temp dir that outlives the returned handle's scope.
pub fn temp_path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// Whether `GET /healthz` answers 200, over a plain TcpStream so no runtime is needed.
pub fn is_healthy(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};

    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(stream, "GET /healthz HTTP/1.0\r\nHost: {addr}\r\n\r\n").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

/// A rule that sends one message per received card: the crash and fault tests count
/// those messages.
pub const THANK_ON_RECEIPT: &str = r#"
fn on_user_get_card(event) {
    send_text(event.openid, `card ${event.code}`);
}
"#;

/// A temp dir holding [`THANK_ON_RECEIPT`] as its rules, and the config text of a child
/// server at `addr` that stores there and talks to the fake WeChat at `api`; with an
/// admin token when one is given.
pub fn receipt_server(
    addr: SocketAddr,
    api: &str,
    admin: Option<&str>,
) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/thanks.rhai"), THANK_ON_RECEIPT).unwrap();

    let admin = admin
        .map(|token| format!("[admin]\ntoken = \"{token}\"\n\n"))
        .unwrap_or_default();
    let text = format!(
        "[server]\nlisten = \"{addr}\"\n\n\
         [wechat]\ntoken = \"{TOKEN}\"\napp_id = \"{APP_ID}\"\napp_secret = \"s\"\n\
         api_base = \"{api}\"\n\n\
         [store]\npath = \"{store}\"\n\n[rules]\ndir = \"{rules}\"\nwatch = false\n\n\
         [window]\ncard_events_open_window = true\ninteraction_quota = 1000\n\n\
         [dispatcher]\npoll_interval_ms = 20\n\n\
         {admin}[log]\nlevel = \"error\"\n",
        store = dir.path().join("store").display(),
        rules = dir.path().join("rules").display(),
    );
    (dir, text)
}
