//! `GET /healthz`: 200 while the server can accept events, 503 once the store has
//! failed, with the inbox depth for a quick look.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::AppState;

/// Liveness, and how many accepted events wait to be handled.
///
/// sled counts a tree by walking it, so the count runs on the blocking pool, not on
/// the thread that answers callbacks.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store.clone();
    let inbox = match web::block(move || store.inbox_len()).await {
        Ok(inbox) => inbox,
        Err(err) => {
            return HttpResponse::InternalServerError().json(json!({
                "status": "error",
                "error": format!("failed to count the inbox: {err}"),
            }))
        }
    };
    match state.store.failure() {
        None => HttpResponse::Ok().json(json!({ "status": "ok", "inbox": inbox })),
        // Reads still work after sled's I/O error; only writes are refused.
        Some(reason) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "store_failed",
            "error": reason,
            "inbox": inbox,
        })),
    }
}
