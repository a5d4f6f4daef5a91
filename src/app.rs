//! The running product assembled: the store, the API client, the rules, the worker and
//! the dispatcher, and the HTTP server in front. `cardbot serve` and the integration
//! tests both start it here.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::api::Client;
use crate::clock;
use crate::config::Config;
use crate::metrics;
use crate::pipeline::dispatcher::{Dispatcher, DispatcherParts};
use crate::pipeline::lookups::ApiLookups;
use crate::pipeline::outbox::Outbox;
use crate::pipeline::replies::ReplyWaiters;
use crate::pipeline::worker::{Worker, WorkerParts};
use crate::pipeline::{DecisionLog, HeldCards, Pressure, PressurePolicy, Windows};
use crate::rules::{history, memory, Rules};
use crate::sandbox::Sandbox;
use crate::server::{AppState, CallbackSettings, MetricsEndpoint, PipelineHandles, Server};
use crate::stats::Stats;
use crate::store::Store;
use crate::telemetry::LogThrottle;

/// How often the worker rescans the inbox when nothing wakes it.
const WORKER_POLL: Duration = Duration::from_millis(500);
/// How often expired dedup keys, decisions, windows and counters are pruned.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// A started cardbot: its parts, for the serve command and for tests to inspect.
#[derive(Debug)]
pub struct App {
    pub store: Store,
    pub client: Client,
    pub rules: Rules,
    pub outbox: Outbox,
    pub decisions: DecisionLog,
    pub windows: Windows,
    pub held_cards: HeldCards,
    pub stats: Stats,
    /// Sends what the rules chose; stopped before the process exits.
    pub dispatcher: Arc<Dispatcher>,
    pub server: Server,
    /// The stand-in for WeChat's API, when `[sandbox] enabled`.
    pub sandbox: Option<Sandbox>,
    /// Keeps the rules directory watched while the app lives.
    _watcher: Option<crate::rules::watch::RulesWatcher>,
}

impl App {
    /// Opens everything `config` names, starts the background tasks and binds the
    /// server (which runs once [`Server::run`] is awaited).
    pub async fn start(config: &Config) -> anyhow::Result<App> {
        let metrics = MetricsEndpoint {
            config: config.metrics.clone(),
            handle: config.metrics.enabled.then(metrics::install).transpose()?,
        };
        let sandbox = start_sandbox(config)?;
        let store = Store::open(&config.store.path)?;
        let db = store.db().clone();
        let client = Client::new(&config.wechat, &db).context("failed to set up the API client")?;

        let held_cards = HeldCards::open(&db)?;
        let windows = Windows::open(&db, &config.window)?;
        let policy = PressurePolicy::from_config(&config.pressure)?;
        let pressure = Pressure::open(&db, policy)?;
        let decisions = DecisionLog::open(&db)?;
        let outbox = Outbox::open(&db)?;
        let stats = Stats::open(&db, &config.stats)?;

        let lookups = ApiLookups::new(
            client.clone(),
            held_cards.clone(),
            config.worker.held_cards_fresh_secs,
            tokio::runtime::Handle::current(),
        )
        .with_stats(stats.clone());
        let rules = Rules::open_with_windows(
            &config.rules,
            &db,
            Arc::new(lookups),
            Some(Arc::new(windows.clone())),
        )?;
        let watcher = if config.rules.watch {
            Some(rules.watch()?)
        } else {
            None
        };

        let dispatcher = Dispatcher::new(
            DispatcherParts {
                store: store.clone(),
                outbox: outbox.clone(),
                windows: windows.clone(),
                pressure: pressure.clone(),
                decisions: decisions.clone(),
                stats: stats.clone(),
                client: client.clone(),
            },
            config.dispatcher.clone(),
        );
        let settled = dispatcher.recover()?;
        if settled > 0 {
            tracing::warn!(
                settled,
                "messages interrupted mid-send at the last stop settled"
            );
        }

        let replies = ReplyWaiters::default();
        let worker = Worker::new(
            WorkerParts {
                store: store.clone(),
                rules: rules.clone(),
                outbox: outbox.clone(),
                windows: windows.clone(),
                held_cards: held_cards.clone(),
                decisions: decisions.clone(),
                memory: db.open_tree(memory::MEMORY_TREE)?,
                history: db.open_tree(history::HISTORY_TREE)?,
                replies: replies.clone(),
                stats: stats.clone(),
                dispatcher: dispatcher.waker(),
            },
            config.worker.clone(),
            config.dispatcher.when_window_closed,
        );

        let handles = PipelineHandles {
            rules: rules.clone(),
            outbox: outbox.clone(),
            decisions: decisions.clone(),
            replies,
            stats: stats.clone(),
            worker: worker.waker(),
            dispatcher: dispatcher.waker(),
        };
        let state = AppState {
            callback: CallbackSettings::from_config(config),
            admin: config.admin.clone(),
            metrics: metrics.clone(),
            store: store.clone(),
            pipeline: handles,
            sandbox: sandbox.clone(),
            refusal_log: LogThrottle::new(crate::server::REFUSAL_LINES_PER_SEC),
            token_refusal_log: LogThrottle::new(crate::server::REFUSAL_LINES_PER_SEC),
        };
        let server = Server::bind(config, state).with_context(|| match config.admin.listen {
            None => format!("failed to listen on {}", config.server.listen),
            Some(admin) => format!(
                "failed to listen on {} and {admin} (admin.listen)",
                config.server.listen
            ),
        })?;

        if config.worker.paused {
            tracing::warn!("worker paused: events are stored but not handled");
        } else {
            tokio::spawn(worker.run(WORKER_POLL));
        }
        tokio::spawn(dispatcher.clone().run());
        if let Some(handle) = metrics.handle {
            let every = Duration::from_secs(config.metrics.refresh_secs);
            let refresh =
                metrics::refresh_periodically(store.clone(), outbox.clone(), handle, every);
            tokio::spawn(refresh);
        }
        tokio::spawn(prune(Pruning {
            store: store.clone(),
            decisions: decisions.clone(),
            windows: windows.clone(),
            pressure,
            stats: stats.clone(),
            config: Arc::new(config.clone()),
        }));

        Ok(App {
            store,
            client,
            rules,
            outbox,
            decisions,
            windows,
            held_cards,
            stats,
            dispatcher,
            server,
            sandbox,
            _watcher: watcher,
        })
    }
}

/// The sandbox, when enabled, announced loudly: it answers instead of WeChat.
fn start_sandbox(config: &Config) -> anyhow::Result<Option<Sandbox>> {
    if !config.sandbox.enabled {
        return Ok(None);
    }
    let sandbox = Sandbox::open(config)?;
    tracing::warn!(
        api_base = %config.wechat.api_base,
        seed = %config.sandbox.seed.display(),
        "SANDBOX ENABLED: a local stand-in answers instead of WeChat; no real user gets \
         any message. Set [sandbox] enabled = false in production"
    );
    Ok(Some(sandbox))
}

/// What the periodic pruning touches.
#[derive(Debug, Clone)]
struct Pruning {
    store: Store,
    decisions: DecisionLog,
    windows: Windows,
    pressure: Pressure,
    stats: Stats,
    config: Arc<Config>,
}

/// Drops what has outlived its retention: dedup keys, decisions, windows, counters,
/// statistics receipts. Each pass walks whole trees, so it runs on a blocking thread,
/// off the runtime that answers callbacks.
async fn prune(pruning: Pruning) {
    let mut ticker = tokio::time::interval(PRUNE_INTERVAL);
    loop {
        ticker.tick().await;
        let pass = pruning.clone();
        if let Err(err) = tokio::task::spawn_blocking(move || pass.run_once()).await {
            tracing::warn!(error = %err, "pruning stopped unexpectedly; trying again later");
        }
    }
}

impl Pruning {
    fn run_once(&self) {
        let config = &self.config;
        let now_ms = clock::now_ms();
        let now = now_ms / 1000;
        let dedup_cutoff = now_ms - (config.store.dedup_retention_secs as i64) * 1000;
        let decisions = &config.decisions;
        let results = [
            (
                "dedup keys",
                self.store
                    .prune_seen(dedup_cutoff)
                    .map_err(|e| e.to_string()),
            ),
            (
                "decisions",
                self.decisions
                    .prune(now, decisions.retention_secs, decisions.max_per_user)
                    .map_err(|e| e.to_string()),
            ),
            (
                "windows",
                self.windows.prune(now).map_err(|e| e.to_string()),
            ),
            (
                "contact counters",
                self.pressure
                    .prune(now - 3 * 86_400)
                    .map_err(|e| e.to_string()),
            ),
            (
                "statistics receipts",
                self.stats.prune_receipts(now).map_err(|e| e.to_string()),
            ),
            (
                "statistics counters",
                self.stats.prune_counters(now).map_err(|e| e.to_string()),
            ),
        ];
        for (what, result) in results {
            match result {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(removed, what, "pruned"),
                Err(err) => tracing::warn!(error = %err, what, "failed to prune"),
            }
        }
    }
}
