//! [`ApiError`]: every way a WeChat API call can fail, each mapped to an [`ErrorClass`]
//! that tells the caller whether to retry, drop or call a person.

use super::errcode::{classify_errcode, classify_token_errcode, describe_errcode, ErrorClass};

/// A failed WeChat API call. Messages never carry the access token or the app secret.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// WeChat answered a non-zero errcode; errmsg is kept as WeChat wrote it.
    #[error("wechat {endpoint} answered errcode {errcode}: {errmsg}{}", meaning(*.errcode))]
    Wechat {
        endpoint: &'static str,
        errcode: i64,
        errmsg: String,
    },

    /// The token endpoint refused to hand out a token.
    #[error(
        "failed to fetch the access token: {endpoint} answered errcode {errcode}: \
         {errmsg}{}; check wechat.app_id, wechat.app_secret and the IP whitelist",
        meaning(*.errcode)
    )]
    TokenRejected {
        endpoint: &'static str,
        errcode: i64,
        errmsg: String,
    },

    /// No token could be fetched for a passing reason; the caller's call was not sent.
    #[error("failed to fetch the access token from {endpoint}: {detail}")]
    TokenUnavailable {
        endpoint: &'static str,
        detail: String,
    },

    /// An HTTP status other than 2xx.
    #[error("wechat {endpoint} answered http status {status}")]
    HttpStatus { endpoint: &'static str, status: u16 },

    /// The connection failed before the request was written: nothing was delivered.
    #[error("failed to connect for {endpoint}, the request was not sent: {detail}")]
    NotSent {
        endpoint: &'static str,
        detail: String,
    },

    /// The request was sent but no complete answer came back: it may have been acted on.
    #[error(
        "no complete answer from {endpoint} after sending, it may have been delivered: \
         {detail}"
    )]
    UnknownOutcome {
        endpoint: &'static str,
        detail: String,
    },

    /// An answer that is not the JSON the endpoint documents.
    #[error("failed to read the answer of {endpoint}: {detail}")]
    Decode {
        endpoint: &'static str,
        detail: String,
    },

    /// The client cannot work with these settings.
    #[error("invalid api client configuration: {key}: {message}")]
    Config { key: &'static str, message: String },

    /// The token cache in sled failed.
    #[error("failed to use the access token cache in sled: {detail}")]
    Store { detail: String },

    /// The caller passed a request WeChat would reject.
    #[error("invalid {endpoint} request: {message}")]
    InvalidRequest {
        endpoint: &'static str,
        message: String,
    },
}

/// HTTP 429 Too Many Requests: a gateway asking to slow down.
const HTTP_TOO_MANY_REQUESTS: u16 = 429;

impl ApiError {
    /// What the caller should do about this error.
    pub fn class(&self) -> ErrorClass {
        use ErrorClass::{Configuration, Permanent, RetryLater, UnknownOutcome};

        match self {
            ApiError::Wechat { errcode, .. } => classify_errcode(*errcode),
            ApiError::TokenRejected { errcode, .. } => classify_token_errcode(*errcode),
            ApiError::HttpStatus { status, .. } => {
                if *status >= 500 || *status == HTTP_TOO_MANY_REQUESTS {
                    RetryLater
                } else {
                    // Any other status means the request never reached a WeChat API
                    // (a wrong api_base, a proxy refusing us): a person must fix it.
                    Configuration
                }
            }
            ApiError::NotSent { .. } | ApiError::TokenUnavailable { .. } => RetryLater,
            // An unreadable answer says nothing about whether WeChat acted on the call.
            ApiError::UnknownOutcome { .. } | ApiError::Decode { .. } => UnknownOutcome,
            ApiError::Config { .. } | ApiError::Store { .. } => Configuration,
            ApiError::InvalidRequest { .. } => Permanent,
        }
    }

    /// WeChat's errcode, when WeChat answered one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            ApiError::Wechat { errcode, .. } | ApiError::TokenRejected { errcode, .. } => {
                Some(*errcode)
            }
            _ => None,
        }
    }

    /// WeChat's errmsg, when WeChat answered one.
    pub fn errmsg(&self) -> Option<&str> {
        match self {
            ApiError::Wechat { errmsg, .. } | ApiError::TokenRejected { errmsg, .. } => {
                Some(errmsg)
            }
            _ => None,
        }
    }
}

fn meaning(errcode: i64) -> String {
    describe_errcode(errcode).map_or_else(String::new, |text| format!(" ({text})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wechat_error_names_the_endpoint_the_code_and_its_meaning() {
        let err = ApiError::Wechat {
            endpoint: "cgi-bin/message/custom/send",
            errcode: 45015,
            errmsg: "response out of time limit".to_string(),
        };

        assert_eq!(
            err.to_string(),
            "wechat cgi-bin/message/custom/send answered errcode 45015: \
             response out of time limit (reply window passed or user unsubscribed)"
        );
        assert_eq!(err.class(), ErrorClass::Permanent);
        assert_eq!(err.errcode(), Some(45015));
    }

    #[test]
    fn server_errors_and_throttling_are_retried_but_other_statuses_are_not() {
        let status = |status| ApiError::HttpStatus {
            endpoint: "card/get",
            status,
        };

        assert_eq!(status(503).class(), ErrorClass::RetryLater);
        assert_eq!(status(429).class(), ErrorClass::RetryLater);
        assert_eq!(status(404).class(), ErrorClass::Configuration);
    }
}
