//! `GET /metrics`: the Prometheus text format, rendered on request from the process's
//! recorder. Loopback only unless `[metrics] allow_remote`; a bearer token when set.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::admin::{bearer_matches, log_token_refusal, refuse, request_allowed};
use super::AppState;

/// The content type Prometheus expects of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`: the queue gauges recomputed, then every metric rendered.
pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let config = &state.metrics.config;
    let Some(handle) = &state.metrics.handle else {
        return refuse(
            StatusCode::NOT_FOUND,
            "metrics are off: set [metrics] enabled",
        );
    };
    if !request_allowed(&req, config.allow_remote) {
        return refuse(
            StatusCode::FORBIDDEN,
            "metrics answer direct loopback requests only (not relayed by a proxy) unless \
             [metrics] allow_remote = true",
        );
    }
    if !config.token.is_empty() && !bearer_matches(&req, &config.token) {
        log_token_refusal(&req, &state, "metrics scrape with a wrong or missing token");
        return refuse(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    }

    // The gauges walk the inbox and the outbox: on the blocking pool, not on the
    // thread that answers callbacks.
    let (store, outbox) = (state.store.clone(), state.pipeline.outbox.clone());
    let refreshed = web::block(move || crate::metrics::refresh_queue_gauges(&store, &outbox));
    let failure = match refreshed.await {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(err.to_string()),
        Err(err) => Some(err.to_string()),
    };
    if let Some(err) = failure {
        // The last values stay; the rest of the scrape is still worth answering.
        tracing::warn!(error = %err, "failed to refresh the queue gauges for a scrape");
    }
    let mut body = handle.render();
    let active = state.pipeline.rules.active().revision.clone();
    body.push_str(&crate::metrics::render_revision_info(&active));
    HttpResponse::Ok().content_type(CONTENT_TYPE).body(body)
}
