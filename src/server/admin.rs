//! `/admin`: rules status, reload and rollback, the outbox and its dead letters, the
//! decision log, the statistics and the dashboard. Off unless `[admin] token` is set;
//! loopback only unless `allow_remote`; every data request carries the bearer token.

use std::net::IpAddr;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, Scope};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{dashboard, AppState};
use crate::clock;
use crate::pipeline::outbox::{EntryState, OutboxEntry};
use crate::stats::query::QueryParams;
use crate::stats::StatsQuery;
use crate::telemetry::Verdict;

/// How many entries a listing answers unless asked for fewer.
const DEFAULT_LIMIT: usize = 100;

/// The routes under /admin.
pub fn scope() -> Scope {
    let scope = web::scope("/admin");
    dashboard::routes(scope)
        .route("/rules", web::get().to(rules_status))
        .route("/rules/reload", web::post().to(rules_reload))
        .route("/rules/rollback", web::post().to(rules_rollback))
        .route("/outbox", web::get().to(outbox))
        .route("/dead_letters", web::get().to(dead_letters))
        .route(
            "/dead_letters/{id}/retry",
            web::post().to(retry_dead_letter),
        )
        .route("/decisions", web::get().to(decisions))
        .route("/stats", web::get().to(stats))
}

/// Why an admin request is refused: [`check_reachable`], then the bearer token.
pub(crate) fn authorize(req: &HttpRequest, state: &AppState) -> Result<(), Box<HttpResponse>> {
    check_reachable(req, state)?;

    if bearer_matches(req, &state.admin.token) {
        Ok(())
    } else {
        log_token_refusal(req, state, "admin request with a wrong or missing token");
        Err(Box::new(refuse(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token",
        )))
    }
}

/// Logs a request refused for its token, within the cap of `token_refusal_log`; the
/// next line logged counts those left out.
pub(crate) fn log_token_refusal(req: &HttpRequest, state: &AppState, message: &'static str) {
    let peer = req.peer_addr();
    match state.token_refusal_log.check(Instant::now()) {
        Verdict::Suppress => {}
        Verdict::Log { suppressed: 0 } => tracing::warn!(?peer, "{message}"),
        Verdict::Log { suppressed } => tracing::warn!(?peer, suppressed, "{message}"),
    }
}

/// Why a request may not even reach /admin: admin is off (404), or the peer is not
/// loopback and `allow_remote` is off (403). The dashboard's static files need no more.
pub(crate) fn check_reachable(
    req: &HttpRequest,
    state: &AppState,
) -> Result<(), Box<HttpResponse>> {
    let admin = &state.admin;
    if admin.token.is_empty() {
        return Err(Box::new(refuse(
            StatusCode::NOT_FOUND,
            "admin is off: set [admin] token",
        )));
    }
    if !request_allowed(req, admin.allow_remote) {
        return Err(Box::new(refuse(
            StatusCode::FORBIDDEN,
            "admin answers direct loopback requests only (not relayed by a proxy) unless \
             [admin] allow_remote = true",
        )));
    }
    Ok(())
}

/// Whether a request may reach an operator endpoint: from loopback always, from others
/// only when the endpoint's `allow_remote` is set.
pub(crate) fn request_allowed(req: &HttpRequest, allow_remote: bool) -> bool {
    let peer = req.peer_addr().map(|peer| peer.ip());
    peer_allowed(peer, forwarded(req), allow_remote)
}

/// A request relayed by a proxy on the same machine arrives from loopback, yet comes
/// from whoever reached the proxy: it counts as remote.
///
/// An IPv4 peer on a dual-stack socket shows as `::ffff:127.0.0.1`, which is loopback
/// too once made canonical.
pub(crate) fn peer_allowed(peer: Option<IpAddr>, forwarded: bool, allow_remote: bool) -> bool {
    allow_remote || (!forwarded && peer.is_some_and(|ip| ip.to_canonical().is_loopback()))
}

/// Whether a proxy says it relayed the request (any of the usual headers).
fn forwarded(req: &HttpRequest) -> bool {
    ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|name| req.headers().contains_key(*name))
}

/// Whether the request carries `Authorization: Bearer <token>`.
pub(crate) fn bearer_matches(req: &HttpRequest, token: &str) -> bool {
    let given = req
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    tokens_match(given, token)
}

/// Compares the SHA-256 digests of the two tokens in constant time: the digests have
/// one length whatever the tokens', so the answer's timing tells neither how much of
/// the token matched nor how long it is.
fn tokens_match(given: &str, expected: &str) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    given.as_slice().ct_eq(expected.as_slice()).into()
}

pub(crate) fn refuse(status: StatusCode, reason: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": reason }))
}

fn failed(err: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::InternalServerError().json(json!({ "error": err.to_string() }))
}

async fn rules_status(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(refused) = authorize(&req, &state) {
        return *refused;
    }
    match state.pipeline.rules.admin_view() {
        Ok(view) => HttpResponse::Ok().json(view),
        Err(err) => failed(err),
    }
}

async fn rules_reload(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(refused) = authorize(&req, &state) {
        return *refused;
    }
    match state.pipeline.rules.reload_async().await {
        Ok(outcome) => HttpResponse::Ok().json(outcome),
        Err(err) => HttpResponse::UnprocessableEntity().json(json!({ "error": err.to_string() })),
    }
}

#[derive(Debug, Default, Deserialize)]
struct RollbackRequest {
    revision: Option<String>,
}

async fn rules_rollback(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(refused) = authorize(&req, &state) {
        return *refused;
    }
    let request: RollbackRequest = if body.is_empty() {
        RollbackRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(err) => return refuse(StatusCode::BAD_REQUEST, &format!("bad JSON: {err}")),
        }
    };
    match state.pipeline.rules.rollback_async(request.revision).await {
        Ok(outcome) => HttpResponse::Ok().json(outcome),
        Err(err) => HttpResponse::UnprocessableEntity().json(json!({ "error": err.to_string() })),
    }
}

#[derive(Debug, Deserialize)]
struct Listing {
    limit: Option<usize>,
}

async fn outbox(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<Listing>,
) -> HttpResponse {
    if let Err(refused) = authorize(&req, &state) {
        return *refused;
    }
    let outbox = state.pipeline.outbox.clone();
    // The listing decodes the whole outbox: on the blocking pool.
    let listed = web::block(move || outbox.entries().map(|entries| (entries, outbox.dead_len())));
    match listed.await {
        Ok(Ok((entries, dead_letters))) => {
            let oldest_ms = entries.iter().map(|entry| entry.created_at_ms).min();
            let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
            HttpResponse::Ok().json(json!({
                "pending": entries.len(),
                "dead_letters": dead_letters,
                "oldest_pending_age_secs": oldest_ms.map(|ms| (clock::now_ms() - ms) / 1000),
                "by_state": count_by_state(&entries),
                "entries": entries.into_iter().take(limit).collect::<Vec<_>>(),
            }))
        }
        Ok(Err(err)) => failed(err),
        Err(err) => failed(err),
    }
}

/// How many pending entries are ready, held for a window, or in an unknown outcome.
fn count_by_state(entries: &[OutboxEntry]) -> serde_json::Value {
    let (mut ready, mut held, mut sending) = (0, 0, 0);
    for entry in entries {
        match entry.state {
            EntryState::Ready => ready += 1,
            EntryState::Held { .. } => held += 1,
            EntryState::Sending => sending += 1,
        }
    }
    json!({ "ready": ready, "held": held, "sending": sending })
}

async fn dead_letters(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<Listing>,
) -> HttpResponse {
    if let Err(refused) = authorize(&req, &state) {
        return *refused;
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    match state.pipeline.outbox.dead_letters(limit) {
        Ok(letters) => HttpResponse::Ok().json(json!({ "dead_letters": letters })),
        Err(err) => failed(err),
    }
}

async fn retry_dead_letter(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<u64>,
) -> HttpResponse {
    if let Err(refused) = authorize(&req, &state) {
        return *refused;
    }
    match state.pipeline.outbox.revive(*id, clock::now_ms()) {
        Ok(Some(entry)) => {
            tracing::info!(
                outbox_id = entry.id,
                "dead letter queued again by an operator"
            );
            state.pipeline.dispatcher.notify_one();
            HttpResponse::Ok().json(json!({ "queued": entry }))
        }
        Ok(None) => refuse(StatusCode::NOT_FOUND, "no dead letter with that id"),
        Err(err) => failed(err),
    }
}

#[derive(Debug, Deserialize)]
struct DecisionQuery {
    openid: Option<String>,
    limit: Option<usize>,
}

async fn decisions(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<DecisionQuery>,
) -> HttpResponse {
    if let Err(refused) = authorize(&req, &state) {
        return *refused;
    }
    let Some(openid) = query.openid.as_deref().filter(|openid| !openid.is_empty()) else {
        return refuse(StatusCode::BAD_REQUEST, "give ?openid=");
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    match state.pipeline.decisions.by_openid(openid, limit) {
        Ok(entries) => HttpResponse::Ok().json(json!({ "openid": openid, "decisions": entries })),
        Err(err) => failed(err),
    }
}

/// `GET /admin/stats`: the counters by channel, source, staff, location, day or rule.
async fn stats(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(refused) = authorize(&req, &state) {
        return *refused;
    }
    // Parsed by hand rather than by an extractor, so a bad parameter answers JSON.
    let params = match web::Query::<QueryParams>::from_query(req.query_string()) {
        Ok(params) => params.into_inner(),
        Err(err) => return refuse(StatusCode::BAD_REQUEST, &format!("bad query: {err}")),
    };
    let stats = &state.pipeline.stats;
    let today = stats.day_of(clock::now_secs());
    let query = match StatsQuery::parse(&params, today) {
        Ok(query) => query,
        Err(err) => return refuse(StatusCode::BAD_REQUEST, &err.to_string()),
    };

    let stats = stats.clone();
    match web::block(move || stats.query(&query)).await {
        Ok(Ok(report)) => HttpResponse::Ok().json(report),
        Ok(Err(err)) => failed(err),
        Err(err) => failed(err),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn only_direct_loopback_peers_are_allowed_unless_remote_is() {
        let remote = Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)));
        let loopback = Some(IpAddr::V6(Ipv6Addr::LOCALHOST));
        let mapped_loopback = Some(IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()));
        let mapped_remote = Some(IpAddr::V6(Ipv4Addr::new(203, 0, 113, 7).to_ipv6_mapped()));

        let allowed = [
            peer_allowed(remote, false, false),
            peer_allowed(None, false, false),
            peer_allowed(loopback, false, false),
            peer_allowed(loopback, true, false),
            peer_allowed(remote, false, true),
            peer_allowed(mapped_loopback, false, false),
            peer_allowed(mapped_loopback, true, false),
            peer_allowed(mapped_remote, false, false),
        ];

        assert_eq!(
            allowed,
            [false, false, true, false, true, true, false, false]
        );
    }

    #[test]
    fn only_the_exact_bearer_token_matches() {
        let with = |value: &str| {
            TestRequest::default()
                .insert_header(("authorization", value))
                .to_http_request()
        };

        let matches = [
            bearer_matches(&with("Bearer s3cret"), "s3cret"),
            bearer_matches(&with("Bearer s3cre"), "s3cret"),
            bearer_matches(&with("Bearer s3cret!"), "s3cret"),
            bearer_matches(&with("bearer s3cret"), "s3cret"),
            bearer_matches(&TestRequest::default().to_http_request(), "s3cret"),
        ];

        assert_eq!(matches, [true, false, false, false, false]);
    }

    #[test]
    fn tokens_of_any_length_are_compared_by_digest() {
        let long = "s".repeat(10_000);

        let matches = [
            tokens_match("", ""),
            tokens_match("", "s3cret"),
            tokens_match("s3cret", ""),
            tokens_match(&long, &long),
            tokens_match(&long, &long[1..]),
        ];

        assert_eq!(matches, [true, false, false, true, false]);
    }
}
