//! One pooled HTTP client for every WeChat call: timeouts, raw UTF-8 JSON bodies, the
//! errcode envelope, and errors stripped of URLs that carry the access token.

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::errcode::describe_errcode;
use super::error::ApiError;
use crate::config::WechatConfig;

/// What replaces a secret found in a message.
const REDACTED: &str = "<redacted>";

/// A request that takes longer than this share of the whole timeout to connect gives
/// up while still connecting, so a dead host is a "not sent" error and never an
/// unknown outcome.
const CONNECT_TIMEOUT_DIVISOR: u32 = 2;

/// The shared HTTP side of the API client.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    base: String,
}

impl Transport {
    /// Builds the pooled client with the configured timeout and base URL.
    pub(crate) fn new(config: &WechatConfig) -> Result<Transport, ApiError> {
        let base = config.api_base.trim_end_matches('/').to_string();
        if reqwest::Url::parse(&base).is_err() {
            return Err(ApiError::Config {
                key: "wechat.api_base",
                message: "must be an http:// or https:// URL".to_string(),
            });
        }

        let timeout = Duration::from_secs(config.request_timeout_secs.max(1));
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout / CONNECT_TIMEOUT_DIVISOR)
            // A redirect would carry the access token to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("cardbot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| ApiError::Config {
                key: "wechat",
                message: format!("failed to build the http client: {}", describe(&err)),
            })?;
        Ok(Transport { http, base })
    }

    /// The pooled client, for the token fetch that talks to other URLs.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The full URL of an API path such as `card/code/get`.
    pub(crate) fn url(&self, endpoint: &str) -> String {
        format!("{}/{endpoint}", self.base)
    }

    /// POSTs a JSON body to an API path with the access token in the query.
    pub(crate) async fn post_json(
        &self,
        endpoint: &'static str,
        access_token: &str,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let request = self
            .http
            .post(self.url(endpoint))
            .query(&[("access_token", access_token)])
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .body(body.to_vec());

        self.execute(endpoint, request, &[access_token]).await
    }

    /// Sends a request and returns the JSON answer, or the error WeChat's errcode names.
    ///
    /// `secrets` are cut out of every message this call produces.
    pub(crate) async fn execute(
        &self,
        endpoint: &'static str,
        request: reqwest::RequestBuilder,
        secrets: &[&str],
    ) -> Result<Value, ApiError> {
        let started = Instant::now();
        let result = send(endpoint, request, secrets).await;

        let elapsed = started.elapsed();
        crate::metrics::record_api_call(endpoint, errcode_label(&result), elapsed);
        let elapsed_ms = elapsed.as_millis() as u64;
        match &result {
            Ok(_) => tracing::debug!(endpoint, errcode = 0, elapsed_ms, "wechat api call"),
            Err(err) => tracing::debug!(
                endpoint,
                errcode = err.errcode(),
                class = ?err.class(),
                elapsed_ms,
                error = %err,
                "wechat api call failed"
            ),
        }
        result
    }
}

async fn send(
    endpoint: &'static str,
    request: reqwest::RequestBuilder,
    secrets: &[&str],
) -> Result<Value, ApiError> {
    let response = request
        .send()
        .await
        .map_err(|err| map_send_error(endpoint, err, secrets))?;

    let status = response.status();
    if !status.is_success() {
        return Err(ApiError::HttpStatus {
            endpoint,
            status: status.as_u16(),
        });
    }

    let bytes = response
        .bytes()
        .await
        .map_err(|err| ApiError::UnknownOutcome {
            endpoint,
            detail: redact(&describe(&err.without_url()), secrets),
        })?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|err| ApiError::Decode {
        endpoint,
        detail: format!("not json: {err}"),
    })?;

    match read_errcode(&body) {
        Ok(None | Some(0)) => Ok(body),
        Ok(Some(errcode)) => {
            let errmsg = body
                .get("errmsg")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Err(ApiError::Wechat {
                endpoint,
                errcode,
                errmsg: redact(errmsg, secrets),
            })
        }
        Err(found) => Err(ApiError::Decode {
            endpoint,
            detail: format!("errcode is not a number: {found}"),
        }),
    }
}

/// The `errcode` label of a call: WeChat's number, "0" on success, or the kind of
/// failure that left no errcode.
fn errcode_label(result: &Result<Value, ApiError>) -> String {
    let err = match result {
        Ok(_) => return "0".to_string(),
        Err(err) => err,
    };
    if let Some(errcode) = err.errcode() {
        // The errcode comes from the network: only the codes this crate knows become
        // label values, so a proxy or API answering arbitrary numbers cannot grow the
        // series without bound. The log line keeps the code itself.
        return match describe_errcode(errcode) {
            Some(_) => errcode.to_string(),
            None => "other".to_string(),
        };
    }
    match err {
        ApiError::HttpStatus { .. } => "http",
        ApiError::Decode { .. } => "decode",
        _ => "transport",
    }
    .to_string()
}

/// Reads `errcode`, which WeChat sends as a number and some proxies as a string.
fn read_errcode(body: &Value) -> Result<Option<i64>, String> {
    match body.get("errcode") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => number.as_i64().map(Some).ok_or(number.to_string()),
        Some(Value::String(text)) => text.trim().parse().map(Some).map_err(|_| text.clone()),
        Some(other) => Err(other.to_string()),
    }
}

/// Decodes a successful answer into its typed form.
pub(crate) fn decode<T: DeserializeOwned>(
    endpoint: &'static str,
    body: Value,
) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|err| ApiError::Decode {
        endpoint,
        detail: err.to_string(),
    })
}

/// Serializes a request body as raw UTF-8 JSON: WeChat rejects `\u` escapes (40033).
pub(crate) fn encode<T: serde::Serialize>(
    endpoint: &'static str,
    body: &T,
) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(body).map_err(|err| ApiError::InvalidRequest {
        endpoint,
        message: format!("cannot be encoded as json: {err}"),
    })
}

/// A connection that failed is "not sent"; anything later may have reached WeChat.
fn map_send_error(endpoint: &'static str, err: reqwest::Error, secrets: &[&str]) -> ApiError {
    let err = err.without_url();
    let detail = redact(&describe(&err), secrets);
    if err.is_connect() {
        ApiError::NotSent { endpoint, detail }
    } else if err.is_builder() {
        ApiError::Config {
            key: "wechat.api_base",
            message: detail,
        }
    } else {
        ApiError::UnknownOutcome { endpoint, detail }
    }
}

/// An error and its causes on one line, as `outer: inner: innermost`.
pub(crate) fn describe(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `text` with every non-empty secret replaced.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .fold(text.to_string(), |text, secret| {
            text.replace(secret, REDACTED)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_errcode_may_be_a_number_a_string_or_absent() {
        assert_eq!(
            read_errcode(&serde_json::json!({"errcode": 40001})),
            Ok(Some(40001))
        );
        assert_eq!(
            read_errcode(&serde_json::json!({"errcode": "-1"})),
            Ok(Some(-1))
        );
        assert_eq!(
            read_errcode(&serde_json::json!({"access_token": "x"})),
            Ok(None)
        );
        assert!(read_errcode(&serde_json::json!({"errcode": "busy"})).is_err());
    }

    #[test]
    fn secrets_are_cut_out_of_messages() {
        let text = redact("token abc rejected, secret s3 too", &["abc", "s3", ""]);

        assert_eq!(text, "token <redacted> rejected, secret <redacted> too");
    }
}
