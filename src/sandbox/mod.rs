//! The sandbox: an in-process stand-in for WeChat's API, so that cardbot runs whole on
//! a machine with no WeChat account. It answers the API the client calls, from a
//! seeded account that the events cardbot accepts keep up to date, and prints every
//! message it delivers. Never enable it in production.

pub mod admin;
mod fault;
mod message;
mod routes;
mod seed;
mod token;
mod window;
mod world;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::{json, Value};

pub use message::Delivery;
pub use seed::Seed;

use crate::clock;
use crate::config::{Config, SandboxFault};
use crate::wechat::event::Event;

/// The path the sandbox is served under on cardbot's own listener.
pub const PATH_PREFIX: &str = "/sandbox";

/// Deliveries kept for `GET /admin/sandbox/messages`; older ones are dropped.
const MAX_DELIVERIES: usize = 1000;

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("failed to read the sandbox seed {path}: {source}; set [sandbox] seed")]
    ReadSeed {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("sandbox seed {path}: {message}")]
    BadSeed { path: PathBuf, message: String },
}

/// An errcode answer, as WeChat sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub errcode: i64,
    pub errmsg: String,
}

impl Failure {
    pub(crate) fn new(errcode: i64, errmsg: impl Into<String>) -> Failure {
        Failure {
            errcode,
            errmsg: errmsg.into(),
        }
    }

    fn to_json(&self) -> Value {
        json!({ "errcode": self.errcode, "errmsg": format!("{} rid: sandbox", self.errmsg) })
    }
}

/// The running sandbox. Clones share one account.
#[derive(Debug, Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    app_id: String,
    app_secret: String,
    latency: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    world: world::World,
    windows: window::Windows,
    tokens: token::Tokens,
    faults: fault::Faults,
    delivered: VecDeque<Delivery>,
    next_msgid: i64,
}

impl Sandbox {
    /// Loads the seed `config` names and builds the sandbox for its account.
    pub fn open(config: &Config) -> Result<Sandbox, SandboxError> {
        let seed = Seed::load(&config.sandbox.seed)?;
        Ok(Sandbox::with_seed(config, seed))
    }

    /// A sandbox for the account in `config`, starting from `seed`.
    pub fn with_seed(config: &Config, seed: Seed) -> Sandbox {
        let sandbox = &config.sandbox;
        let mut faults = fault::Faults::default();
        for fault in &sandbox.faults {
            faults.add(fault.clone());
        }
        let state = State {
            world: world::World::from_seed(seed, clock::now_secs()),
            windows: window::Windows::new(config.window.clone()),
            tokens: token::Tokens::new(sandbox.token_expires_in_secs),
            faults,
            delivered: VecDeque::new(),
            next_msgid: 1,
        };
        let inner = Inner {
            app_id: config.wechat.app_id.clone(),
            app_secret: config.wechat.app_secret.clone(),
            latency: Duration::from_millis(sandbox.latency_ms),
            state: Mutex::new(state),
        };
        Sandbox {
            inner: Arc::new(inner),
        }
    }

    /// Tells the sandbox about an event cardbot accepted, as WeChat would know it:
    /// follows, claimed, gifted, deleted and redeemed codes, and the windows it opens.
    pub fn observe(&self, event: &Event) {
        let now = clock::now_secs();
        let mut state = self.lock();
        state.world.observe(event, now);
        state.windows.observe(event, now);
    }

    /// The messages delivered so far, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lock().delivered.iter().cloned().collect()
    }

    /// Adds a fault behind those pending.
    pub fn add_fault(&self, fault: SandboxFault) {
        tracing::warn!(path = %fault.path, errcode = fault.errcode, times = fault.times,
                       latency_ms = fault.latency_ms, "sandbox fault added");
        self.lock().faults.add(fault);
    }

    /// The faults still pending.
    pub fn faults(&self) -> Vec<SandboxFault> {
        self.lock().faults.list()
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// The actix scope serving the API under [`PATH_PREFIX`].
    pub fn scope(&self) -> actix_web::Scope {
        routes::scope(self.clone())
    }

    /// Records and prints a delivery.
    fn deliver(
        &self,
        state: &mut State,
        openid: &str,
        msgtype: &str,
        summary: String,
        body: Value,
    ) {
        let delivery = Delivery {
            at: clock::now_secs(),
            openid: openid.to_string(),
            nickname: state.world.nickname(openid),
            msgtype: msgtype.to_string(),
            summary,
            body,
        };
        println!("{}", delivery.line());
        let summary = &delivery.summary;
        tracing::info!(openid, msgtype, %summary, "sandbox delivered a message");

        if state.delivered.len() >= MAX_DELIVERIES {
            state.delivered.pop_front();
        }
        state.delivered.push_back(delivery);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change to the state is a few assignments that cannot panic half-way, so
        // a poisoned lock still guards consistent data.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
