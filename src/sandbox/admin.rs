//! `/admin/sandbox`: the messages the sandbox delivered, and faults added at run time.
//! Behind the admin token like the rest of /admin.

use actix_web::{web, HttpRequest, HttpResponse, Scope};
use serde::Deserialize;
use serde_json::json;

use super::Sandbox;
use crate::config::SandboxFault;
use crate::server::admin::authorize;
use crate::server::AppState;

/// The routes under /admin/sandbox; registered before /admin so they are reached.
pub fn scope() -> Scope {
    web::scope("/admin/sandbox")
        .route("/messages", web::get().to(messages))
        .route("/faults", web::get().to(faults))
        .route("/faults", web::post().to(add_faults))
        .route("/faults", web::delete().to(clear_faults))
}

/// A fault or several, as `POST /admin/sandbox/faults` takes them.
#[derive(Deserialize)]
#[serde(untagged)]
enum FaultsBody {
    One(SandboxFault),
    Many(Vec<SandboxFault>),
}

#[derive(Deserialize)]
struct MessagesQuery {
    openid: Option<String>,
}

/// The sandbox, once the request is authorized and the sandbox is on.
fn sandbox<'a>(req: &HttpRequest, state: &'a AppState) -> Result<&'a Sandbox, Box<HttpResponse>> {
    authorize(req, state)?;
    state.sandbox.as_ref().ok_or_else(|| {
        Box::new(
            HttpResponse::NotFound()
                .json(json!({ "error": "the sandbox is off: set [sandbox] enabled" })),
        )
    })
}

async fn messages(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<MessagesQuery>,
) -> HttpResponse {
    let sandbox = match sandbox(&req, &state) {
        Ok(sandbox) => sandbox,
        Err(refused) => return *refused,
    };
    let messages: Vec<_> = sandbox
        .deliveries()
        .into_iter()
        .filter(|delivery| {
            query
                .openid
                .as_ref()
                .is_none_or(|openid| &delivery.openid == openid)
        })
        .collect();
    HttpResponse::Ok().json(json!({ "messages": messages }))
}

async fn faults(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match sandbox(&req, &state) {
        Ok(sandbox) => HttpResponse::Ok().json(json!({ "faults": sandbox.faults() })),
        Err(refused) => *refused,
    }
}

async fn add_faults(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let sandbox = match sandbox(&req, &state) {
        Ok(sandbox) => sandbox,
        Err(refused) => return *refused,
    };
    let added = match serde_json::from_slice::<FaultsBody>(&body) {
        Ok(FaultsBody::One(fault)) => vec![fault],
        Ok(FaultsBody::Many(faults)) => faults,
        Err(err) => return bad_request(format!("expected a fault or a list of faults: {err}")),
    };
    if let Some(fault) = added.iter().find(|fault| !fault.path.starts_with('/')) {
        return bad_request(format!(
            "fault path {:?} must start with '/', such as \"/cgi-bin/message/custom/send\"",
            fault.path
        ));
    }

    for fault in added {
        sandbox.add_fault(fault);
    }
    HttpResponse::Ok().json(json!({ "faults": sandbox.faults() }))
}

async fn clear_faults(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match sandbox(&req, &state) {
        Ok(sandbox) => {
            sandbox.clear_faults();
            HttpResponse::Ok().json(json!({ "faults": [] }))
        }
        Err(refused) => *refused,
    }
}

fn bad_request(message: String) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({ "error": message }))
}
