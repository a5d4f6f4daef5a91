//! `GET /healthz`: answers 200 while the server runs, with the inbox depth for a quick
//! look.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::AppState;

/// Liveness, and how many accepted events wait to be handled.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let inbox = state.store.inbox_len();
    HttpResponse::Ok().json(json!({ "status": "ok", "inbox": inbox }))
}
