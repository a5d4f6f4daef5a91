//! A real HTTP server on 127.0.0.1:0 standing in for WeChat's API: scripted answers
//! per path, delays, hit counters, and every request recorded for inspection.
//!
//! Without a script, the token endpoints hand out `fake-token-1`, `fake-token-2`, ...
//! (one new token per fetch) and every other path answers `{"errcode":0,"errmsg":"ok"}`.

// A panic in a test helper is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

/// Paths answered with a fresh token by default.
const TOKEN_PATHS: [&str; 2] = ["/cgi-bin/stable_token", "/cgi-bin/token"];

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// HTTP 200 with this JSON body.
    Json(Value),
    /// This HTTP status with an empty body.
    Status(u16),
}

impl From<Value> for Reply {
    fn from(body: Value) -> Self {
        Reply::Json(body)
    }
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub query: HashMap<String, String>,
    /// The body as received, byte for byte.
    pub raw_body: String,
    /// The body parsed as JSON, or `Value::Null`.
    pub body: Value,
}

impl Recorded {
    /// The access_token the request carried.
    pub fn access_token(&self) -> Option<&str> {
        self.query.get("access_token").map(String::as_str)
    }
}

#[derive(Default)]
struct State {
    fixed: HashMap<String, Reply>,
    sequences: HashMap<String, VecDeque<Reply>>,
    delays: HashMap<String, Duration>,
    requests: HashMap<String, Vec<Recorded>>,
    tokens_issued: usize,
    /// While set, every path answers this, as WeChat does in an outage.
    outage: Option<Reply>,
    /// Requests answered with the outage reply, kept apart from `requests`.
    refused: usize,
}

/// The running fake; stops when dropped.
pub struct FakeWechat {
    url: String,
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

/// Serves `state` on `listener` until the returned handle stops it.
fn serve(listener: TcpListener, state: Arc<Mutex<State>>) -> actix_web::dev::ServerHandle {
    let shared = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .app_data(web::PayloadConfig::new(1 << 20))
            .default_service(web::to(answer))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(0)
    .listen(listener)
    .expect("listen on the bound port")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    handle
}

impl FakeWechat {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> FakeWechat {
        let state = Arc::new(Mutex::new(State::default()));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let handle = serve(listener, Arc::clone(&state));

        FakeWechat {
            url: format!("http://{addr}"),
            addr,
            state,
            handle,
        }
    }

    /// Stops listening, so that every connection is refused, as when WeChat's API is
    /// unreachable; what was recorded is kept.
    pub async fn go_offline(&self) {
        self.handle.stop(false).await;
    }

    /// Listens again on the same address, with the same scripts and records.
    pub fn come_back(&mut self) {
        let listener = TcpListener::bind(self.addr).expect("bind the same port again");
        self.handle = serve(listener, Arc::clone(&self.state));
    }

    /// The base URL, for `wechat.api_base`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Answers `path` with `body` whenever no sequence is pending.
    pub fn respond(&self, path: &str, body: impl Into<Reply>) {
        self.lock().fixed.insert(path.to_string(), body.into());
    }

    /// Answers the next requests to `path` with `replies` in order, then falls back.
    pub fn respond_seq(&self, path: &str, replies: Vec<Reply>) {
        self.lock()
            .sequences
            .entry(path.to_string())
            .or_default()
            .extend(replies);
    }

    /// Answers the next requests to `path` with these errcodes in order (0 is success).
    pub fn respond_errcodes(&self, path: &str, errcodes: &[i64]) {
        let replies = errcodes
            .iter()
            .map(|code| Reply::Json(json!({"errcode": code, "errmsg": format!("fake {code}")})))
            .collect();
        self.respond_seq(path, replies);
    }

    /// Waits `delay` before answering each request to `path`.
    pub fn delay(&self, path: &str, delay: Duration) {
        self.lock().delays.insert(path.to_string(), delay);
    }

    /// Answers every path with `reply` until [`FakeWechat::end_outage`]: HTTP 502 or
    /// 503 from a gateway, or errcode -1 "system busy". Such requests are counted in
    /// [`FakeWechat::refused`], not recorded with the answered ones.
    pub fn start_outage(&self, reply: Reply) {
        self.lock().outage = Some(reply);
    }

    /// Answers as before the outage.
    pub fn end_outage(&self) {
        self.lock().outage = None;
    }

    /// How many requests the outage refused.
    pub fn refused(&self) -> usize {
        self.lock().refused
    }

    /// How many requests `path` received.
    pub fn hits(&self, path: &str) -> usize {
        self.lock().requests.get(path).map_or(0, Vec::len)
    }

    /// Every request `path` received, oldest first.
    pub fn requests(&self, path: &str) -> Vec<Recorded> {
        self.lock().requests.get(path).cloned().unwrap_or_default()
    }

    /// The last request `path` received.
    pub fn last_request(&self, path: &str) -> Recorded {
        self.requests(path)
            .pop()
            .unwrap_or_else(|| panic!("no request reached {path}"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("fake wechat state")
    }
}

impl Drop for FakeWechat {
    fn drop(&mut self) {
        // The stop command is sent at once; waiting for it is not needed.
        drop(self.handle.stop(false));
    }
}

async fn answer(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<Mutex<State>>>,
) -> HttpResponse {
    let path = request.path().to_string();
    let recorded = Recorded {
        method: request.method().to_string(),
        query: web::Query::<HashMap<String, String>>::from_query(request.query_string())
            .map(|query| query.into_inner())
            .unwrap_or_default(),
        raw_body: String::from_utf8_lossy(&body).into_owned(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };

    let (reply, delay) = {
        let mut state = state.lock().expect("fake wechat state");
        if let Some(reply) = state.outage.clone() {
            state.refused += 1;
            return respond(reply);
        }
        state
            .requests
            .entry(path.clone())
            .or_default()
            .push(recorded);
        let reply = next_reply(&mut state, &path);
        (reply, state.delays.get(&path).copied())
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }

    respond(reply)
}

fn respond(reply: Reply) -> HttpResponse {
    match reply {
        Reply::Json(body) => HttpResponse::Ok()
            .content_type("application/json; charset=utf-8")
            .body(body.to_string()),
        Reply::Status(status) => {
            let status = actix_web::http::StatusCode::from_u16(status).expect("valid status");
            HttpResponse::build(status).finish()
        }
    }
}

fn next_reply(state: &mut State, path: &str) -> Reply {
    if let Some(reply) = state.sequences.get_mut(path).and_then(VecDeque::pop_front) {
        return reply;
    }
    if let Some(reply) = state.fixed.get(path) {
        return reply.clone();
    }
    if TOKEN_PATHS.contains(&path) {
        state.tokens_issued += 1;
        let token = format!("fake-token-{}", state.tokens_issued);
        return Reply::Json(json!({"access_token": token, "expires_in": 7200}));
    }
    Reply::Json(json!({"errcode": 0, "errmsg": "ok"}))
}
