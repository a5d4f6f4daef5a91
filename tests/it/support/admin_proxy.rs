//! A loopback proxy in front of a cardbot's `/admin`, for the dashboard's failure
//! paths in a real browser: it passes the page and the admin API through, answers
//! chosen API paths with an error or late, and can add a scenario script to the page
//! that uses it as a person would (tests/fixtures/dashboard/scenarios.js).
//!
//! The page and the scenario come from the proxy's origin, so the page's Content
//! Security Policy (scripts and fetch() from this server only) holds unchanged.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::json;

use super::fixture;

/// The headers of cardbot's answer the browser needs to see as they were.
const PASSED_HEADERS: [&str; 4] = [
    "content-type",
    "content-security-policy",
    "cache-control",
    "x-content-type-options",
];

/// How often the idle endpoint looks at the requests in flight.
const IDLE_POLL: Duration = Duration::from_millis(10);

/// Requests of one API path that pass, then fail.
struct Failure {
    path: String,
    passing: usize,
    seen: usize,
    reason: String,
}

/// The first request whose path and query hold `contains` waits `by` first.
struct Delay {
    contains: String,
    by: Duration,
    used: bool,
}

struct State {
    upstream: SocketAddr,
    http: reqwest::Client,
    failures: Vec<Failure>,
    delays: Vec<Delay>,
    in_flight: usize,
}

/// The running proxy; stops when dropped.
pub struct AdminProxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

impl AdminProxy {
    /// Starts a proxy on a free loopback port in front of the cardbot at `upstream`.
    pub fn start(upstream: SocketAddr) -> AdminProxy {
        let state = Arc::new(Mutex::new(State {
            upstream,
            http: reqwest::Client::new(),
            failures: Vec::new(),
            delays: Vec::new(),
            in_flight: 0,
        }));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = web::Data::new(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .route("/harness/scenarios.js", web::get().to(scenarios))
                .route("/harness/idle", web::get().to(idle))
                .default_service(web::to(forward))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        AdminProxy {
            addr,
            state,
            handle,
        }
    }

    /// Lets `passing` requests of `/admin/{path}` through, then answers every later
    /// one `500 {"error": reason}`, as cardbot does when its store fails.
    pub fn fail_after(&self, path: &str, passing: usize, reason: &str) {
        self.lock().failures.push(Failure {
            path: format!("/admin/{path}"),
            passing,
            seen: 0,
            reason: reason.to_string(),
        });
    }

    /// Holds the first request whose path and query hold `contains` for `by`.
    pub fn delay_first(&self, contains: &str, by: Duration) {
        self.lock().delays.push(Delay {
            contains: contains.to_string(),
            by,
            used: false,
        });
    }

    /// The dashboard through the proxy, driven by the scenario `scenario` names (its
    /// name, then any `&name=value` it reads), with `fragment` after `#`.
    pub fn scenario_url(&self, scenario: &str, fragment: &str) -> String {
        format!("http://{}/admin/?scenario={scenario}#{fragment}", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

impl Drop for AdminProxy {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

type Shared = web::Data<Arc<Mutex<State>>>;

/// What the proxy does with one request: fail it, or pass it on after a wait.
enum Plan {
    Fail(String),
    Pass(Duration),
}

fn plan(state: &mut State, path: &str, path_and_query: &str) -> Plan {
    if let Some(failure) = state.failures.iter_mut().find(|f| f.path == path) {
        failure.seen += 1;
        if failure.seen > failure.passing {
            return Plan::Fail(failure.reason.clone());
        }
    }
    let delay = state
        .delays
        .iter_mut()
        .find(|delay| !delay.used && path_and_query.contains(&delay.contains));
    match delay {
        Some(delay) => {
            delay.used = true;
            Plan::Pass(delay.by)
        }
        None => Plan::Pass(Duration::ZERO),
    }
}

async fn forward(req: HttpRequest, state: Shared) -> HttpResponse {
    let path_and_query = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let (upstream, http, wait) = {
        let mut state = state.lock().unwrap();
        match plan(&mut state, req.path(), path_and_query) {
            Plan::Fail(reason) => {
                return HttpResponse::InternalServerError().json(json!({ "error": reason }))
            }
            Plan::Pass(wait) => {
                state.in_flight += 1;
                (state.upstream, state.http.clone(), wait)
            }
        }
    };

    tokio::time::sleep(wait).await;
    let mut request = http.get(format!("http://{upstream}{path_and_query}"));
    for name in ["authorization", "accept"] {
        if let Some(value) = req.headers().get(name) {
            request = request.header(name, value.as_bytes());
        }
    }
    let answer = request.send().await.unwrap();
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let headers = answer.headers().clone();
    let mut body = answer.bytes().await.unwrap().to_vec();
    state.lock().unwrap().in_flight -= 1;

    if req.path() == "/admin/" && req.query_string().starts_with("scenario=") {
        body = with_scenario_script(&body);
    }
    let mut response = HttpResponse::build(status);
    for name in PASSED_HEADERS {
        if let Some(value) = headers.get(name) {
            response.insert_header((name, value.as_bytes()));
        }
    }
    response.body(body)
}

/// The page with the scenario script after its own scripts, which it needs loaded.
fn with_scenario_script(page: &[u8]) -> Vec<u8> {
    let page = String::from_utf8(page.to_vec()).unwrap();
    let script = "  <script src=\"/harness/scenarios.js\" defer></script>\n</head>";
    assert!(page.contains("</head>"), "the page has no head to add to");
    page.replacen("</head>", script, 1).into_bytes()
}

async fn scenarios() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(fixture("dashboard/scenarios.js"))
}

/// Answers once no request is on its way through the proxy, so a scenario knows that
/// every late answer has reached the page.
async fn idle(state: Shared) -> HttpResponse {
    while state.lock().unwrap().in_flight > 0 {
        tokio::time::sleep(IDLE_POLL).await;
    }
    HttpResponse::Ok().json(json!({}))
}
