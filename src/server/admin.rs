//! `/admin`: rules status, reload and rollback, the outbox and its dead letters, and
//! the decision log. Off unless `[admin] token` is set; loopback only unless
//! `allow_remote`; every request carries the token as a bearer token.

use std::net::IpAddr;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, Scope};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::AppState;
use crate::clock;

/// How many entries a listing answers unless asked for fewer.
const DEFAULT_LIMIT: usize = 100;

/// The routes under /admin.
pub fn scope() -> Scope {
    web::scope("/admin")
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
}

/// Why an admin request is refused.
pub(crate) fn authorize(req: &HttpRequest, state: &AppState) -> Result<(), Box<HttpResponse>> {
    let admin = &state.admin;
    if admin.token.is_empty() {
        return Err(Box::new(refuse(
            StatusCode::NOT_FOUND,
            "admin is off: set [admin] token",
        )));
    }
    if !peer_allowed(req.peer_addr().map(|peer| peer.ip()), admin.allow_remote) {
        return Err(Box::new(refuse(
            StatusCode::FORBIDDEN,
            "admin answers loopback only unless [admin] allow_remote = true",
        )));
    }

    if bearer_matches(req, &admin.token) {
        Ok(())
    } else {
        tracing::warn!(peer = ?req.peer_addr(), "admin request with a wrong or missing token");
        Err(Box::new(refuse(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token",
        )))
    }
}

/// Whether a peer may reach an operator endpoint: loopback always, others only when
/// the endpoint's `allow_remote` is set.
pub(crate) fn peer_allowed(peer: Option<IpAddr>, allow_remote: bool) -> bool {
    allow_remote || peer.is_some_and(|ip| ip.is_loopback())
}

/// Whether the request carries `Authorization: Bearer <token>`, compared in constant
/// time so that the answer's timing tells nothing about the token.
pub(crate) fn bearer_matches(req: &HttpRequest, token: &str) -> bool {
    let given = req
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    given.as_bytes().ct_eq(token.as_bytes()).into()
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
    let outbox = &state.pipeline.outbox;
    match outbox.entries() {
        Ok(entries) => {
            let oldest_ms = entries.iter().map(|entry| entry.created_at_ms).min();
            let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
            HttpResponse::Ok().json(json!({
                "pending": entries.len(),
                "dead_letters": outbox.dead_len(),
                "oldest_pending_age_secs": oldest_ms.map(|ms| (clock::now_ms() - ms) / 1000),
                "entries": entries.into_iter().take(limit).collect::<Vec<_>>(),
            }))
        }
        Err(err) => failed(err),
    }
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

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn only_loopback_peers_are_allowed_unless_remote_is() {
        let remote = Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)));
        let loopback = Some(IpAddr::V6(Ipv6Addr::LOCALHOST));

        let allowed = [
            peer_allowed(remote, false),
            peer_allowed(None, false),
            peer_allowed(loopback, false),
            peer_allowed(remote, true),
        ];

        assert_eq!(allowed, [false, false, true, true]);
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
}
