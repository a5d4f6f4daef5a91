//! `cardbot serve`: load the config and run the server until SIGTERM or ctrl-c.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::clock;
use crate::config::Config;
use crate::server::{AppState, CallbackSettings, Server};
use crate::store::Store;
use crate::telemetry;

/// How often expired dedup keys are pruned.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// Runs the server on the config at `path`.
pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    telemetry::init(&config.log);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(serve(config))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let store = Store::open(&config.store.path)?;
    tokio::spawn(prune_dedup_keys(
        store.clone(),
        config.store.dedup_retention_secs,
    ));

    let state = AppState {
        callback: CallbackSettings::from_config(&config),
        store: store.clone(),
    };
    let server = Server::bind(&config, state)
        .with_context(|| format!("failed to listen on {}", config.server.listen))?;
    tracing::info!(
        addr = %server.local_addr(),
        callback_path = %config.server.callback_path,
        encrypted = config.wechat.aes_key().is_some(),
        "cardbot listening"
    );

    server.run().await.context("server failed")?;

    store
        .flush()
        .context("failed to flush the store at shutdown")?;
    tracing::info!("cardbot stopped");
    Ok(())
}

async fn prune_dedup_keys(store: Store, retention_secs: u64) {
    let mut ticker = tokio::time::interval(PRUNE_INTERVAL);
    loop {
        ticker.tick().await;
        let cutoff_ms = clock::now_ms() - (retention_secs as i64) * 1000;
        match store.prune_seen(cutoff_ms) {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "pruned expired dedup keys"),
            Err(err) => tracing::warn!(error = %err, "failed to prune dedup keys"),
        }
    }
}
