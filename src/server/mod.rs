//! The HTTP server: the WeChat callback, health, metrics, and the admin endpoints.

pub(crate) mod admin;
mod callback;
mod dashboard;
mod error;
mod health;
pub mod inbound;
mod scrape;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::{web, App, HttpServer};

pub use error::CallbackError;
pub use inbound::CallbackQuery;

use tokio::sync::Notify;

use crate::config::{AdminConfig, Config, MetricsConfig};
use crate::pipeline::outbox::Outbox;
use crate::pipeline::replies::ReplyWaiters;
use crate::pipeline::DecisionLog;
use crate::rules::Rules;
use crate::store::Store;
use crate::wechat::crypto::Keyring;

/// How many refused callbacks a second are logged; the rest are counted on the next
/// line logged, and every one in the metrics.
pub const REFUSAL_LINES_PER_SEC: u32 = 10;

/// How long in-flight requests may take to finish after a stop signal.
const SHUTDOWN_GRACE_SECS: u64 = 30;

/// What the callback needs from the configuration, decoded once.
pub struct CallbackSettings {
    pub token: String,
    pub app_id: String,
    pub keyring: Option<Keyring>,
    pub max_body_bytes: usize,
    pub max_clock_skew_secs: u64,
    /// How long a callback waits for its event's passive reply.
    pub reply_budget: std::time::Duration,
}

impl std::fmt::Debug for CallbackSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackSettings")
            .field("app_id", &self.app_id)
            .field("encrypted", &self.keyring.is_some())
            .finish_non_exhaustive()
    }
}

impl CallbackSettings {
    /// Takes the callback's settings from a validated config.
    pub fn from_config(config: &Config) -> CallbackSettings {
        let keyring = config
            .wechat
            .aes_key()
            .map(|current| Keyring::new(current, config.wechat.previous_aes_key()));
        CallbackSettings {
            token: config.wechat.token.clone(),
            app_id: config.wechat.app_id.clone(),
            keyring,
            max_body_bytes: config.server.max_body_bytes,
            max_clock_skew_secs: config.server.max_clock_skew_secs,
            reply_budget: std::time::Duration::from_millis(config.worker.reply_budget_ms),
        }
    }
}

/// The parts of the processing stage the HTTP side talks to.
#[derive(Debug, Clone)]
pub struct PipelineHandles {
    pub rules: Rules,
    pub outbox: Outbox,
    pub decisions: DecisionLog,
    /// Callback requests waiting for their event's passive reply.
    pub replies: ReplyWaiters,
    /// Channel statistics, for `/admin/stats`.
    pub stats: crate::stats::Stats,
    /// Wakes the worker when an event was stored.
    pub worker: Arc<Notify>,
    /// Wakes the dispatcher when a dead letter is retried.
    pub dispatcher: Arc<Notify>,
}

/// The metrics endpoint's settings and the recorder it renders.
#[derive(Debug, Clone)]
pub struct MetricsEndpoint {
    pub config: MetricsConfig,
    /// `None` when `[metrics] enabled = false`: nothing is recorded, /metrics is 404.
    pub handle: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

/// Everything a request handler reaches.
#[derive(Debug)]
pub struct AppState {
    pub callback: CallbackSettings,
    pub admin: AdminConfig,
    pub metrics: MetricsEndpoint,
    pub store: Store,
    pub pipeline: PipelineHandles,
    /// The stand-in for WeChat's API, told about every accepted event; `None` in
    /// production.
    pub sandbox: Option<crate::sandbox::Sandbox>,
    /// Caps the lines logged for refused callbacks.
    pub refusal_log: crate::telemetry::LogThrottle,
    /// Caps the lines logged for admin and metrics requests with a wrong token, apart
    /// from the callbacks' so that a flood of one cannot hide the other.
    pub token_refusal_log: crate::telemetry::LogThrottle,
}

/// A server bound to its addresses, not yet running: the main listener, and the admin
/// listener when `[admin] listen` gives /admin a port of its own.
pub struct Server {
    addr: SocketAddr,
    server: actix_web::dev::Server,
    admin: Option<(SocketAddr, actix_web::dev::Server)>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("admin_addr", &self.admin_addr())
            .finish()
    }
}

/// Stops both listeners of a [`Server`].
#[derive(Debug, Clone)]
pub struct ServerHandle {
    main: actix_web::dev::ServerHandle,
    admin: Option<actix_web::dev::ServerHandle>,
}

impl ServerHandle {
    /// Stops accepting; with `graceful`, lets the requests in flight finish first.
    pub async fn stop(&self, graceful: bool) {
        let admin = async {
            if let Some(admin) = &self.admin {
                admin.stop(graceful).await;
            }
        };
        futures::join!(self.main.stop(graceful), admin);
    }
}

impl Server {
    /// Binds `config.server.listen` (and `config.admin.listen` when set) and prepares
    /// the routes.
    ///
    /// The server stops gracefully on SIGTERM and ctrl-c: it stops accepting, lets the
    /// requests in flight finish, and [`Server::run`] returns.
    pub fn bind(config: &Config, state: AppState) -> std::io::Result<Server> {
        let sandbox = state.sandbox.clone();
        let state = web::Data::from(Arc::new(state));
        let callback_path = config.server.callback_path.clone();
        let workers = match config.server.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let admin_here = config.admin.listen.is_none();

        let main_state = state.clone();
        let http = HttpServer::new(move || {
            App::new()
                .app_data(main_state.clone())
                .route("/healthz", web::get().to(health::healthz))
                .route("/metrics", web::get().to(scrape::metrics))
                .route(&callback_path, web::get().to(callback::verify_url))
                .route(&callback_path, web::post().to(callback::receive))
                .configure(|routes| {
                    if let Some(sandbox) = &sandbox {
                        routes.service(sandbox.scope());
                        routes.service(crate::sandbox::admin::scope());
                    }
                    if admin_here {
                        routes.service(admin::scope());
                    }
                })
        })
        .workers(workers)
        .shutdown_timeout(SHUTDOWN_GRACE_SECS)
        .bind(config.server.listen)?;
        let addr = first_addr(http.addrs())?;

        let admin = match config.admin.listen {
            None => None,
            Some(listen) => Some(bind_admin(listen, state)?),
        };
        Ok(Server {
            addr,
            server: http.run(),
            admin,
        })
    }

    /// The address the server listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the admin listener, when /admin has one of its own.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|(addr, _)| *addr)
    }

    /// A handle that stops the server from elsewhere.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            main: self.server.handle(),
            admin: self.admin.as_ref().map(|(_, admin)| admin.handle()),
        }
    }

    /// Serves until stopped.
    pub async fn run(self) -> std::io::Result<()> {
        let Some((_, admin)) = self.admin else {
            return self.server.await;
        };
        futures::try_join!(self.server, admin).map(|_| ())
    }
}

/// The admin listener: /admin and the dashboard, nothing else. One worker is plenty
/// for an operator's requests.
fn bind_admin(
    listen: SocketAddr,
    state: web::Data<AppState>,
) -> std::io::Result<(SocketAddr, actix_web::dev::Server)> {
    let http = HttpServer::new(move || App::new().app_data(state.clone()).service(admin::scope()))
        .workers(1)
        .shutdown_timeout(SHUTDOWN_GRACE_SECS)
        .bind(listen)?;
    let addr = first_addr(http.addrs())?;
    Ok((addr, http.run()))
}

fn first_addr(addrs: Vec<SocketAddr>) -> std::io::Result<SocketAddr> {
    addrs.first().copied().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "no address bound")
    })
}
