//! The WeChat callback: URL verification on GET, pushed events on POST.
//!
//! A POST is verified, decrypted, parsed, deduplicated and stored, and only then
//! answered `success`: an answered event must survive a crash, and an unanswered one
//! is retried by WeChat. The steps before storing are [`super::inbound`], without I/O.

use actix_web::{web, HttpRequest, HttpResponse};
use futures::StreamExt;

use std::time::{Duration, Instant};

use rand::RngCore;

use super::error::CallbackError;
use super::inbound::{self, CallbackQuery, Inbound};
use super::AppState;
use crate::clock;
use crate::metrics;
use crate::rules::{Reply, ReplyBody};
use crate::store::Enqueued;
use crate::wechat::crypto::AesKey;
use crate::wechat::event::Event;
use crate::wechat::reply;

/// `GET {callback_path}`: answers the echostr when the signature matches the token.
pub async fn verify_url(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let started = Instant::now();
    let (response, result) = match echo(&req, &state) {
        Ok(echostr) => (
            HttpResponse::Ok()
                .content_type("text/plain; charset=utf-8")
                .body(echostr),
            "verified",
        ),
        Err(err) => {
            err.log(&state.refusal_log);
            (err.to_response(), err.result())
        }
    };

    metrics::record_callback(result, started.elapsed());
    response
}

fn echo(req: &HttpRequest, state: &AppState) -> Result<String, CallbackError> {
    let query = CallbackQuery::from_query_string(req.query_string())?;
    let echostr = query.echostr()?;

    inbound::verify_signature(&state.callback, &query)?;

    tracing::info!("callback URL verified");
    Ok(echostr.to_string())
}

/// `POST {callback_path}`: accepts one pushed message or event.
pub async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let (response, result) = match accept(&req, payload, &state).await {
        Ok((answer, outcome)) => (answer.into_response(), metrics::record_enqueued(outcome)),
        Err(err) => {
            err.log(&state.refusal_log);
            (err.to_response(), err.result())
        }
    };

    metrics::record_callback(result, started.elapsed());
    response
}

/// What the callback answers WeChat.
enum Answer {
    /// The literal `success`: nothing to say on this request.
    Success,
    /// A passive reply the rules chose, as XML (encrypted in safe mode).
    Reply(String),
}

impl Answer {
    fn into_response(self) -> HttpResponse {
        match self {
            Answer::Success => HttpResponse::Ok()
                .content_type("text/plain; charset=utf-8")
                .body("success"),
            Answer::Reply(xml) => HttpResponse::Ok()
                .content_type("application/xml; charset=utf-8")
                .body(xml),
        }
    }
}

/// How long a callback whose reply the worker has taken may still wait for it; the
/// worker answers right after its commit.
const REPLY_GRACE: Duration = Duration::from_millis(2500);

async fn accept(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<(Answer, Enqueued), CallbackError> {
    let query = inbound::admit(&state.callback, req.query_string(), clock::now_secs())?;

    let body = read_body(payload, state.callback.max_body_bytes).await?;

    let Inbound { event, key } = inbound::open(&state.callback, &query, &body)?;

    // Registered before the event is stored, so the worker cannot decide before it.
    let ticket = may_reply(&event).then(|| state.pipeline.replies.register(&event.dedup_key()));
    let outcome = match state.store.enqueue(&event, clock::now_ms()).await {
        Ok(outcome) => outcome,
        Err(err) => {
            if let Some(ticket) = ticket {
                ticket.cancel();
            }
            return Err(err.into());
        }
    };
    log_accepted(&event, outcome);
    if let (Some(sandbox), Enqueued::New(_)) = (&state.sandbox, outcome) {
        sandbox.observe(&event);
    }
    state.pipeline.worker.notify_one();

    let Some(ticket) = ticket else {
        return Ok((Answer::Success, outcome));
    };
    if matches!(outcome, Enqueued::Duplicate(_)) {
        ticket.cancel();
        return Ok((Answer::Success, outcome));
    }
    let replies = ticket.wait(state.callback.reply_budget, REPLY_GRACE).await;
    let answer = match replies.first() {
        Some(reply) => Answer::Reply(render_reply(state, &query, &event, reply, key.as_ref())),
        None => Answer::Success,
    };
    Ok((answer, outcome))
}

/// WeChat shows a passive reply to a user's message, menu click, follow or scan.
fn may_reply(event: &Event) -> bool {
    event.is_message() || matches!(event.kind.as_str(), "click" | "subscribe" | "scan")
}

/// The reply XML, encrypted with the key that opened the request when it was encrypted.
fn render_reply(
    state: &AppState,
    query: &CallbackQuery,
    event: &Event,
    reply: &Reply,
    key: Option<&AesKey>,
) -> String {
    let now = clock::now_secs();
    let plaintext = match &reply.body {
        ReplyBody::Text { content } => reply::text(&event.openid, &event.account, now, content),
        ReplyBody::News { article } => {
            let article = reply::Article {
                title: article.title.clone(),
                description: article.description.clone(),
                url: article.url.clone(),
                picurl: article.picurl.clone(),
            };
            reply::news(&event.openid, &event.account, now, &[article])
        }
    };
    let Some(key) = key else {
        return plaintext;
    };

    let mut random = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut random);
    let timestamp = now.to_string();
    let nonce = query.nonce.clone().unwrap_or_else(|| now.to_string());
    let settings = &state.callback;
    reply::encrypt(
        key,
        &settings.token,
        &settings.app_id,
        &plaintext,
        &timestamp,
        &nonce,
        &random,
    )
}

/// Reads the body, refusing it as soon as it passes `limit` bytes.
async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, CallbackError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|err| CallbackError::Body(err.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(CallbackError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn log_accepted(event: &Event, outcome: Enqueued) {
    match outcome {
        Enqueued::New(id) => tracing::info!(
            inbox_id = id,
            openid = %event.openid,
            event = %event.kind,
            card_id = event.card_id.as_deref().unwrap_or(""),
            "event accepted"
        ),
        Enqueued::Duplicate(id) => tracing::info!(
            inbox_id = id,
            openid = %event.openid,
            event = %event.kind,
            "retry of an accepted event dropped"
        ),
    }
}
