//! Why a callback was refused, and the one place that turns it into an HTTP answer.

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::store::StoreError;
use crate::telemetry::{LogThrottle, Verdict};
use crate::wechat::crypto::CryptoError;
use crate::wechat::xml::XmlError;

/// A callback request that cardbot refuses. Every variant leaves the store untouched.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("missing query parameter {0}")]
    MissingParameter(&'static str),
    #[error("signature does not match the configured token")]
    BadSignature,
    #[error("msg_signature does not match the configured token and the body")]
    BadMsgSignature,
    #[error("timestamp {timestamp} is more than {max_skew_secs} s away from now")]
    Stale {
        timestamp: String,
        max_skew_secs: u64,
    },
    #[error("body is larger than server.max_body_bytes ({limit} bytes)")]
    TooLarge { limit: usize },
    #[error("failed to read the body: {0}")]
    Body(String),
    #[error("malformed XML: {0}")]
    Xml(#[from] XmlError),
    #[error("encrypted body has no <Encrypt> element")]
    MissingEncrypt,
    #[error("encrypted callback, but wechat.encoding_aes_key is not set")]
    NoKey,
    #[error("failed to decrypt the body: {0}")]
    Decrypt(#[from] CryptoError),
    #[error("failed to store the event: {0}")]
    Store(#[from] StoreError),
}

impl CallbackError {
    /// The HTTP status WeChat gets: 401 for authentication, 4xx for input that will
    /// never be accepted, 500 for our own failures so that WeChat retries.
    pub fn status(&self) -> StatusCode {
        match self {
            CallbackError::MissingParameter(_)
            | CallbackError::BadSignature
            | CallbackError::BadMsgSignature
            | CallbackError::Stale { .. } => StatusCode::UNAUTHORIZED,
            CallbackError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            CallbackError::Body(_)
            | CallbackError::Xml(_)
            | CallbackError::MissingEncrypt
            | CallbackError::NoKey
            | CallbackError::Decrypt(_) => StatusCode::BAD_REQUEST,
            CallbackError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `result` label of `cardbot_callbacks_total` for this refusal.
    pub fn result(&self) -> &'static str {
        match self {
            // Every 401 but a stale timestamp: the request could not be authenticated.
            CallbackError::MissingParameter(_)
            | CallbackError::BadSignature
            | CallbackError::BadMsgSignature => "bad_signature",
            CallbackError::Stale { .. } => "stale",
            CallbackError::TooLarge { .. } => "too_large",
            CallbackError::Body(_)
            | CallbackError::Xml(_)
            | CallbackError::MissingEncrypt
            | CallbackError::Decrypt(_) => "bad_request",
            CallbackError::Store(_) => "store_error",
            CallbackError::NoKey => "other",
        }
    }

    /// Logs the refusal once, at warn for bad input and error for our own failures.
    ///
    /// Bad input is logged within `throttle`'s cap, so that a flood of forged requests
    /// cannot fill the disk; the next line logged counts those left out, and
    /// `cardbot_callbacks_total` counts every one.
    pub fn log(&self, throttle: &LogThrottle) {
        let status = self.status().as_u16();
        if self.status().is_server_error() {
            tracing::error!(status, error = %self, "callback failed");
            return;
        }

        match throttle.check(Instant::now()) {
            Verdict::Suppress => {}
            Verdict::Log { suppressed: 0 } => {
                tracing::warn!(status, reason = %self, "callback rejected");
            }
            Verdict::Log { suppressed } => {
                tracing::warn!(status, reason = %self, suppressed, "callback rejected");
            }
        }
    }

    /// The answer: the status and the reason as plain text.
    pub fn to_response(&self) -> HttpResponse {
        HttpResponse::build(self.status())
            .content_type("text/plain; charset=utf-8")
            .body(self.to_string())
    }
}
