//! The baseline of the load benchmark: an actix-web handler that answers `success` to
//! every POST and does nothing else. cardbot's ingest rate is compared with this one,
//! measured in the same run on the same machine.

use actix_web::{web, App, HttpResponse, HttpServer};

async fn success(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain")
        .body("success")
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".to_string());
    HttpServer::new(|| App::new().default_service(web::post().to(success)))
        .bind(listen)?
        .run()
        .await
}
