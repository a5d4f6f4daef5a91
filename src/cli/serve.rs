//! `cardbot serve`: load the config, start everything, and run until SIGTERM or ctrl-c.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::app::App;
use crate::config::Config;
use crate::rules::Rules;
use crate::telemetry;

/// How much longer than one API request the stop waits for the sends under way: a send
/// also waits for the rate limit and a flush.
const SEND_DRAIN_MARGIN: Duration = Duration::from_secs(5);

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
    catch_file_size_signal();
    let app = App::start(&config).await?;
    tokio::spawn(reload_on_sighup(app.rules.clone()));
    tracing::info!(
        addr = %app.server.local_addr(),
        callback_path = %config.server.callback_path,
        encrypted = config.wechat.aes_key().is_some(),
        revision = %app.rules.active().revision,
        "cardbot listening"
    );
    if let Some(admin) = app.server.admin_addr() {
        tracing::info!(addr = %admin, "admin API and dashboard listening");
    }

    let store = app.store.clone();
    let handle = app.server.handle();
    let mut serving = tokio::spawn(app.server.run());
    tokio::select! {
        served = &mut serving => served.context("server task failed")?.context("server failed")?,
        reason = store.failed() => {
            // sled 0.34 refuses every write after an I/O error, and every part of the
            // app holds the same handle; a new process opens the store afresh. Requests
            // in flight answer 500, so WeChat retries them after the restart.
            handle.stop(true).await;
            anyhow::bail!(
                "store failed: {reason}; cardbot exits so that its supervisor \
                 (systemd Restart=always) restarts it"
            );
        }
    }

    let drain = Duration::from_secs(config.wechat.request_timeout_secs) + SEND_DRAIN_MARGIN;
    if !app.dispatcher.stop(drain).await {
        tracing::warn!(
            waited_secs = drain.as_secs(),
            "sends still under way at shutdown; the next start records them as unknown outcomes"
        );
    }
    store
        .flush()
        .context("failed to flush the store at shutdown")?;
    tracing::info!("cardbot stopped");
    Ok(())
}

/// SIGHUP reloads the rules, as editing a file does.
async fn reload_on_sighup(rules: Rules) {
    use tokio::signal::unix::{signal, SignalKind};

    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reload rules through /admin/rules/reload");
        return;
    };
    while hangups.recv().await.is_some() {
        match rules.reload_async().await {
            Ok(outcome) => tracing::info!(?outcome, "rules reloaded on SIGHUP"),
            Err(err) => tracing::error!(error = %err, "rules reload on SIGHUP failed"),
        }
    }
}

/// Turns a file-size limit (`ulimit -f`) into an EFBIG error from the write, which the
/// store reports and the callback answers 500, instead of killing the process mid-write.
fn catch_file_size_signal() {
    use tokio::signal::unix::{signal, SignalKind};

    match signal(SignalKind::from_raw(libc::SIGXFSZ)) {
        // The handler stays installed for the life of the process, even once the
        // stream is dropped; the write that crossed the limit fails with EFBIG.
        Ok(stream) => drop(stream),
        Err(err) => tracing::warn!(error = %err, "cannot catch SIGXFSZ"),
    }
}
