//! The WeChat callback: URL verification on GET, pushed events on POST.
//!
//! A POST is verified, decrypted, parsed, deduplicated and stored, and only then
//! answered `success`: an answered event must survive a crash, and an unanswered one
//! is retried by WeChat.

use actix_web::{web, HttpRequest, HttpResponse};
use futures::StreamExt;
use serde::Deserialize;

use std::time::{Duration, Instant};

use rand::RngCore;

use super::error::CallbackError;
use super::AppState;
use crate::clock;
use crate::metrics;
use crate::rules::{Reply, ReplyBody};
use crate::store::Enqueued;
use crate::wechat::crypto::AesKey;
use crate::wechat::event::Event;
use crate::wechat::{reply, signature, xml};

/// The query WeChat sends with every callback; all of it is optional on the wire.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    pub signature: Option<String>,
    pub timestamp: Option<String>,
    pub nonce: Option<String>,
    pub echostr: Option<String>,
    pub encrypt_type: Option<String>,
    pub msg_signature: Option<String>,
}

impl CallbackQuery {
    fn parse(req: &HttpRequest) -> Result<CallbackQuery, CallbackError> {
        web::Query::<CallbackQuery>::from_query(req.query_string())
            .map(web::Query::into_inner)
            .map_err(|_| CallbackError::MissingParameter("signature"))
    }

    fn require<'a>(
        value: &'a Option<String>,
        name: &'static str,
    ) -> Result<&'a str, CallbackError> {
        value
            .as_deref()
            .ok_or(CallbackError::MissingParameter(name))
    }

    fn is_encrypted(&self) -> bool {
        self.encrypt_type.as_deref() == Some("aes")
    }
}

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
            err.log();
            (err.to_response(), err.result())
        }
    };

    metrics::record_callback(result, started.elapsed());
    response
}

fn echo(req: &HttpRequest, state: &AppState) -> Result<String, CallbackError> {
    let query = CallbackQuery::parse(req)?;
    let echostr = CallbackQuery::require(&query.echostr, "echostr")?;

    verify_signature(state, &query)?;

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
            err.log();
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
    let query = CallbackQuery::parse(req)?;
    check_freshness(state, &query)?;

    let body = read_body(payload, state.callback.max_body_bytes).await?;

    let opened = open_body(state, &query, &body)?;
    let event = Event::parse(&opened.message)?;

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
        Some(reply) => Answer::Reply(render_reply(state, &query, &event, reply, &opened)),
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
    opened: &OpenedBody,
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
    let Some(key) = &opened.key else {
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

/// A verified request's message XML, and the key that decrypted it, if any.
struct OpenedBody {
    message: Vec<u8>,
    key: Option<AesKey>,
}

/// Verifies the request and returns the message XML, decrypted when the account
/// encrypts.
fn open_body(
    state: &AppState,
    query: &CallbackQuery,
    body: &[u8],
) -> Result<OpenedBody, CallbackError> {
    if !query.is_encrypted() {
        verify_signature(state, query)?;
        return Ok(OpenedBody {
            message: body.to_vec(),
            key: None,
        });
    }

    // In safe mode only msg_signature covers the body; `signature` covers none of it.
    let envelope = xml::parse_children(body)?;
    let encrypted = envelope
        .get("Encrypt")
        .filter(|value| !value.is_empty())
        .ok_or(CallbackError::MissingEncrypt)?;
    verify_msg_signature(state, query, encrypted)?;

    let keyring = state
        .callback
        .keyring
        .as_ref()
        .ok_or(CallbackError::NoKey)?;
    let opened = keyring.open(encrypted, &state.callback.app_id)?;
    Ok(OpenedBody {
        message: opened.message,
        key: Some(opened.key),
    })
}

fn verify_signature(state: &AppState, query: &CallbackQuery) -> Result<(), CallbackError> {
    let given = CallbackQuery::require(&query.signature, "signature")?;
    let timestamp = CallbackQuery::require(&query.timestamp, "timestamp")?;
    let nonce = CallbackQuery::require(&query.nonce, "nonce")?;

    let parts = [state.callback.token.as_str(), timestamp, nonce];
    if signature::verify(given, &parts) {
        Ok(())
    } else {
        Err(CallbackError::BadSignature)
    }
}

fn verify_msg_signature(
    state: &AppState,
    query: &CallbackQuery,
    encrypted: &str,
) -> Result<(), CallbackError> {
    let given = CallbackQuery::require(&query.msg_signature, "msg_signature")?;
    let timestamp = CallbackQuery::require(&query.timestamp, "timestamp")?;
    let nonce = CallbackQuery::require(&query.nonce, "nonce")?;

    let parts = [state.callback.token.as_str(), timestamp, nonce, encrypted];
    if signature::verify(given, &parts) {
        Ok(())
    } else {
        Err(CallbackError::BadMsgSignature)
    }
}

/// Refuses a timestamp far from now, when `server.max_clock_skew_secs` asks for it.
fn check_freshness(state: &AppState, query: &CallbackQuery) -> Result<(), CallbackError> {
    let max_skew_secs = state.callback.max_clock_skew_secs;
    if max_skew_secs == 0 {
        return Ok(());
    }

    let timestamp = CallbackQuery::require(&query.timestamp, "timestamp")?;
    let fresh = timestamp
        .parse::<i64>()
        .map(|sent| sent.abs_diff(clock::now_secs()) <= max_skew_secs)
        .unwrap_or(false);
    if fresh {
        Ok(())
    } else {
        Err(CallbackError::Stale {
            timestamp: timestamp.to_string(),
            max_skew_secs,
        })
    }
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
