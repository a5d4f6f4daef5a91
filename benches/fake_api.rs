//! A stand-in for WeChat's API for the pipeline benchmark: issues tokens, accepts every
//! message after a fixed delay, and counts what it accepted.
//!
//! Usage: fake_api LISTEN DELAY_MS; `GET /count` answers `{"messages": N, "first_ms",
//! "last_ms"}`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::json;

#[derive(Default)]
struct Counter {
    messages: AtomicU64,
    first_ms: AtomicI64,
    last_ms: AtomicI64,
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:18091".to_string());
    let delay_ms: u64 = args.next().and_then(|d| d.parse().ok()).unwrap_or(20);
    let counter = web::Data::new(Arc::new(Counter::default()));

    HttpServer::new(move || {
        App::new()
            .app_data(counter.clone())
            .route("/count", web::get().to(count))
            .route(
                "/cgi-bin/stable_token",
                web::post().to(|| async {
                    HttpResponse::Ok()
                        .json(json!({"access_token": "bench-token", "expires_in": 7200}))
                }),
            )
            .default_service(
                web::post().to(move |counter: web::Data<Arc<Counter>>| async move {
                    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    let now = cardbot::clock::now_ms();
                    if counter.messages.fetch_add(1, Ordering::SeqCst) == 0 {
                        counter.first_ms.store(now, Ordering::SeqCst);
                    }
                    counter.last_ms.store(now, Ordering::SeqCst);
                    HttpResponse::Ok().json(json!({"errcode": 0, "errmsg": "ok"}))
                }),
            )
    })
    .workers(2)
    .bind(listen)?
    .run()
    .await
}

async fn count(counter: web::Data<Arc<Counter>>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "messages": counter.messages.load(Ordering::SeqCst),
        "first_ms": counter.first_ms.load(Ordering::SeqCst),
        "last_ms": counter.last_ms.load(Ordering::SeqCst),
    }))
}
