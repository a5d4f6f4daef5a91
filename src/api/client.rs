//! [`Client`]: the handle the rest of cardbot calls WeChat through. Every call carries
//! the shared access token and is retried once with a new one when WeChat rejects it.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::card_info::CardInfoCache;
use super::errcode::ErrorClass;
use super::error::ApiError;
use super::token::TokenCache;
use super::token_source::TokenSource;
use super::transport::{decode, encode, Transport};
use crate::config::WechatConfig;

/// The WeChat API client. Clones are cheap and share the connection pool, the access
/// token and the card cache.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    transport: Transport,
    tokens: TokenCache,
    card_info: CardInfoCache,
}

impl Client {
    /// A client for the account in `config`, reusing a token cached in `db` if any.
    pub fn new(config: &WechatConfig, db: &sled::Db) -> Result<Client, ApiError> {
        let transport = Transport::new(config)?;
        let source = TokenSource::from_config(config)?;
        let tokens = TokenCache::open(source, db, config.token_refresh_margin_secs)?;
        let card_info = CardInfoCache::new(config.card_info_ttl_secs);

        let inner = Inner {
            transport,
            tokens,
            card_info,
        };
        Ok(Client {
            inner: Arc::new(inner),
        })
    }

    /// The current access token, for diagnostics. Never log it.
    pub async fn access_token(&self) -> Result<String, ApiError> {
        let token = self.inner.tokens.get(&self.inner.transport).await?;
        Ok(token.value)
    }

    /// Drops `failed` if it is still the current token, for a caller that saw WeChat
    /// reject it elsewhere; a token fetched since then is kept. Answers whether it
    /// was dropped.
    pub fn expire_token(&self, failed: &str) -> bool {
        self.inner.tokens.expire(failed)
    }

    pub(crate) fn card_info_cache(&self) -> &CardInfoCache {
        &self.inner.card_info
    }

    /// POSTs `body` to `endpoint` and decodes the answer, refreshing the token and
    /// retrying once if WeChat rejects the token (40001, 40014, 42001).
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        body: &impl Serialize,
    ) -> Result<T, ApiError> {
        let body = encode(endpoint, body)?;
        let Inner {
            transport, tokens, ..
        } = &*self.inner;

        let token = tokens.get(transport).await?;
        let answer = match transport.post_json(endpoint, &token.value, &body).await {
            Err(err) if err.class() == ErrorClass::RefreshToken => {
                tracing::warn!(
                    endpoint,
                    errcode = err.errcode(),
                    "access token rejected, retrying"
                );
                tokens.expire(&token.value);
                let token = tokens.get(transport).await?;
                transport.post_json(endpoint, &token.value, &body).await?
            }
            other => other?,
        };

        decode(endpoint, answer)
    }
}
