//! Where access tokens come from: `cgi-bin/stable_token`, `cgi-bin/token` or a URL
//! owned by another system of the account.

use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::transport::{decode, Transport};
use crate::config::{TokenMode, WechatConfig};

const STABLE_ENDPOINT: &str = "cgi-bin/stable_token";
const CLASSIC_ENDPOINT: &str = "cgi-bin/token";
const EXTERNAL_ENDPOINT: &str = "external token_url";

/// A token as an endpoint hands it out.
#[derive(Deserialize)]
pub(crate) struct TokenAnswer {
    pub(crate) access_token: String,
    /// Seconds the token stays valid from now; WeChat answers 7200 or less.
    pub(crate) expires_in: u64,
}

/// The configured way of getting a token.
#[derive(Clone)]
pub(crate) enum TokenSource {
    /// `POST cgi-bin/stable_token`: every caller gets the same live token, so another
    /// system of the account keeps its own working. Doc: `/doc/offiaccount/
    /// Basic_Information/getStableAccessToken.html`.
    Stable { app_id: String, app_secret: String },
    /// `GET cgi-bin/token`: each fetch invalidates the previous token after about five
    /// minutes. Doc: `/doc/offiaccount/Basic_Information/Get_access_token.html`.
    Classic { app_id: String, app_secret: String },
    /// `GET token_url`, which must answer `{"access_token": "...", "expires_in": N}` with
    /// N the seconds the token has left, for accounts whose token another system owns.
    External {
        url: String,
        /// What of the URL may be a secret (a password, query values), cut out of
        /// every error about the fetch.
        secrets: Vec<String>,
    },
    /// No way to get a token is configured: callbacks still work, every API call fails
    /// with a configuration error naming the missing key.
    Unconfigured { key: &'static str },
}

impl std::fmt::Debug for TokenSource {
    /// The app secret is never printed; an external URL may carry one too.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Stable { app_id, .. } => write!(f, "Stable {{ app_id: {app_id:?} }}"),
            TokenSource::Classic { app_id, .. } => write!(f, "Classic {{ app_id: {app_id:?} }}"),
            TokenSource::External { .. } => f.write_str("External"),
            TokenSource::Unconfigured { key } => write!(f, "Unconfigured {{ missing: {key} }}"),
        }
    }
}

impl TokenSource {
    /// The source `config` asks for, once its settings are checked.
    pub(crate) fn from_config(config: &WechatConfig) -> Result<TokenSource, ApiError> {
        if config.token_mode == TokenMode::External {
            if reqwest::Url::parse(&config.token_url).is_err() {
                return Err(ApiError::Config {
                    key: "wechat.token_url",
                    message: "must be an http:// or https:// URL in external token mode"
                        .to_string(),
                });
            }
            return Ok(TokenSource::External {
                url: config.token_url.clone(),
                secrets: url_secrets(&config.token_url),
            });
        }

        for (key, value) in [
            ("wechat.app_id", &config.app_id),
            ("wechat.app_secret", &config.app_secret),
        ] {
            if value.is_empty() {
                return Ok(TokenSource::Unconfigured { key });
            }
        }
        let (app_id, app_secret) = (config.app_id.clone(), config.app_secret.clone());
        Ok(match config.token_mode {
            TokenMode::Classic => TokenSource::Classic { app_id, app_secret },
            _ => TokenSource::Stable { app_id, app_secret },
        })
    }

    /// Whether a refresh can be forced past a token WeChat keeps handing out.
    pub(crate) fn can_force_refresh(&self) -> bool {
        matches!(self, TokenSource::Stable { .. })
    }

    /// A name for the token's cache key, so a changed account never reuses a token.
    pub(crate) fn cache_key(&self) -> String {
        match self {
            TokenSource::Stable { app_id, .. } => format!("stable:{app_id}"),
            TokenSource::Classic { app_id, .. } => format!("classic:{app_id}"),
            TokenSource::External { url, .. } => format!("external:{url}"),
            TokenSource::Unconfigured { key } => format!("unconfigured:{key}"),
        }
    }

    /// Fetches a token; `force` asks stable_token for a new one (WeChat limits how often).
    pub(crate) async fn fetch(
        &self,
        transport: &Transport,
        force: bool,
    ) -> Result<TokenAnswer, ApiError> {
        let http = transport.http();
        let (endpoint, request, secret) = match self {
            TokenSource::Stable { app_id, app_secret } => {
                let body = json!({
                    "grant_type": "client_credential",
                    "appid": app_id,
                    "secret": app_secret,
                    "force_refresh": force,
                });
                let request = http.post(transport.url(STABLE_ENDPOINT)).json(&body);
                (STABLE_ENDPOINT, request, app_secret.as_str())
            }
            TokenSource::Classic { app_id, app_secret } => {
                let query = [
                    ("grant_type", "client_credential"),
                    ("appid", app_id),
                    ("secret", app_secret),
                ];
                let request = http.get(transport.url(CLASSIC_ENDPOINT)).query(&query);
                (CLASSIC_ENDPOINT, request, app_secret.as_str())
            }
            TokenSource::External { url, secrets } => {
                let body = transport
                    .execute(EXTERNAL_ENDPOINT, http.get(url), &borrowed(secrets))
                    .await
                    .map_err(into_token_error)?;
                return decode(EXTERNAL_ENDPOINT, body).map_err(into_token_error);
            }
            TokenSource::Unconfigured { key } => {
                return Err(ApiError::Config {
                    key,
                    message: "must be set to fetch access tokens".to_string(),
                })
            }
        };

        let body = transport
            .execute(endpoint, request, &[secret])
            .await
            .map_err(into_token_error)?;
        decode(endpoint, body).map_err(into_token_error)
    }
}

/// The parts of a token URL that may be secrets: the whole URL, its password, and
/// every query value long enough to be a key (short ones such as `v=1` would cut
/// ordinary digits out of messages).
fn url_secrets(url: &str) -> Vec<String> {
    const MIN_SECRET_CHARS: usize = 6;

    let mut secrets = vec![url.to_string()];
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return secrets;
    };
    secrets.extend(parsed.password().map(str::to_string));
    let values = parsed.query_pairs().map(|(_, value)| value.into_owned());
    secrets.extend(values.filter(|value| value.chars().count() >= MIN_SECRET_CHARS));
    if let Some(query) = parsed.query() {
        secrets.push(query.to_string());
    }
    secrets
}

fn borrowed(secrets: &[String]) -> Vec<&str> {
    secrets.iter().map(String::as_str).collect()
}

/// A failed token fetch means the caller's own request was never sent, so it is never
/// an unknown outcome, and an errcode here concerns the account, not the token.
fn into_token_error(err: ApiError) -> ApiError {
    match err {
        ApiError::Wechat {
            endpoint,
            errcode,
            errmsg,
        } => ApiError::TokenRejected {
            endpoint,
            errcode,
            errmsg,
        },
        ApiError::UnknownOutcome { endpoint, detail } | ApiError::Decode { endpoint, detail } => {
            ApiError::TokenUnavailable { endpoint, detail }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_url_gives_up_its_password_and_long_query_values() {
        let url = "https://ops:pw-secret@tokens.example/t?key=q-secret-1&v=1";

        let secrets = url_secrets(url);

        assert_eq!(
            secrets,
            [url, "pw-secret", "q-secret-1", "key=q-secret-1&v=1"]
        );
    }
}
