//! The process's one access token: cached in sled across restarts, refreshed ahead of
//! expiry by a single fetch that every waiting caller shares, and expired only by
//! comparison, so a token someone else just fetched is never thrown away.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::token_source::TokenSource;
use super::transport::Transport;
use crate::metrics::{self, FetchCause};

/// The sled tree holding the cached token, keyed by [`TokenSource::cache_key`].
pub const TOKEN_TREE: &str = "api.token";

/// An access token and the times, in unix seconds, that bound its use.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AccessToken {
    pub(crate) value: String,
    /// WeChat stops accepting the token at this time.
    pub(crate) expires_at: u64,
    /// A new token is fetched from this time on.
    pub(crate) refresh_at: u64,
}

impl std::fmt::Debug for AccessToken {
    /// The value is a secret and never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

impl AccessToken {
    /// A token valid for `expires_in` seconds from `now`, refreshed `margin_secs`
    /// early; the margin is capped at half the lifetime so that a short-lived token
    /// is still used for a while instead of being fetched on every call.
    pub(crate) fn new(value: String, expires_in: u64, margin_secs: u64, now: u64) -> Self {
        let margin = margin_secs.min(expires_in / 2);
        AccessToken {
            value,
            expires_at: now + expires_in,
            refresh_at: now + expires_in - margin,
        }
    }

    /// Whether the token can be used without fetching a new one.
    pub(crate) fn is_fresh(&self, now: u64) -> bool {
        now < self.refresh_at
    }

    /// Whether WeChat still accepts the token.
    pub(crate) fn is_valid(&self, now: u64) -> bool {
        now < self.expires_at
    }
}

#[derive(Debug, Default)]
struct State {
    current: Option<AccessToken>,
    /// The last token WeChat rejected: a fetch answering it again must be forced.
    rejected: Option<String>,
}

/// The token cache shared by every clone of the client.
#[derive(Debug)]
pub(crate) struct TokenCache {
    source: TokenSource,
    state: Mutex<State>,
    /// Held for the whole of a fetch: callers queue here and share its result.
    fetching: tokio::sync::Mutex<()>,
    tree: sled::Tree,
    key: String,
    margin_secs: u64,
}

impl TokenCache {
    /// Opens the cache, taking over a token an earlier run stored.
    pub(crate) fn open(
        source: TokenSource,
        db: &sled::Db,
        margin_secs: u64,
    ) -> Result<TokenCache, ApiError> {
        let tree = db.open_tree(TOKEN_TREE).map_err(store_error)?;
        let key = source.cache_key();

        let stored = tree.get(&key).map_err(store_error)?;
        let current = stored.and_then(|bytes| match serde_json::from_slice(&bytes) {
            Ok(token) => Some(token),
            Err(err) => {
                tracing::warn!(error = %err, "ignoring an unreadable cached access token");
                None
            }
        });

        let state = Mutex::new(State {
            current,
            rejected: None,
        });
        Ok(TokenCache {
            source,
            state,
            fetching: tokio::sync::Mutex::new(()),
            tree,
            key,
            margin_secs,
        })
    }

    /// A fresh token, fetched once however many callers ask at the same time.
    pub(crate) async fn get(&self, transport: &Transport) -> Result<AccessToken, ApiError> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }

        let _fetching = self.fetching.lock().await;
        if let Some(token) = self.fresh() {
            return Ok(token);
        }

        match self.fetch(transport).await {
            Ok(token) => {
                self.store(&token).await;
                Ok(token)
            }
            Err(err) => self.still_valid().ok_or(err),
        }
    }

    /// Drops `failed` if it is still the current token; a newer one stays.
    pub(crate) fn expire(&self, failed: &str) -> bool {
        let mut state = self.lock_state();
        if state
            .current
            .as_ref()
            .is_none_or(|token| token.value != failed)
        {
            return false;
        }
        state.current = None;
        state.rejected = Some(failed.to_string());
        drop(state);

        self.unstore(failed);
        tracing::info!("dropped the access token wechat rejected");
        true
    }

    fn fresh(&self) -> Option<AccessToken> {
        let now = unix_now();
        self.lock_state()
            .current
            .clone()
            .filter(|token| token.is_fresh(now))
    }

    /// A token past its refresh time but still accepted, used while fetching fails.
    fn still_valid(&self) -> Option<AccessToken> {
        let now = unix_now();
        let token = self.lock_state().current.clone()?;
        token.is_valid(now).then(|| {
            tracing::warn!("failed to refresh the access token, using the current one");
            token
        })
    }

    async fn fetch(&self, transport: &Transport) -> Result<AccessToken, ApiError> {
        let (rejected, cause) = {
            let state = self.lock_state();
            (state.rejected.clone(), fetch_cause(&state))
        };
        let answer = self.source.fetch(transport, false).await;
        metrics::record_token_fetch(cause, answer.is_ok());
        let mut answer = answer?;

        // stable_token hands out the live token until it expires, even one WeChat has
        // just refused; only a forced refresh replaces it.
        if rejected.as_deref() == Some(answer.access_token.as_str())
            && self.source.can_force_refresh()
        {
            tracing::warn!("the token endpoint answered the rejected token, forcing a refresh");
            let forced = self.source.fetch(transport, true).await;
            metrics::record_token_fetch(FetchCause::Forced, forced.is_ok());
            answer = forced?;
        }

        tracing::info!(expires_in = answer.expires_in, "fetched a new access token");
        let now = unix_now();
        Ok(AccessToken::new(
            answer.access_token,
            answer.expires_in,
            self.margin_secs,
            now,
        ))
    }

    async fn store(&self, token: &AccessToken) {
        {
            let mut state = self.lock_state();
            state.current = Some(token.clone());
            state.rejected = None;
        }

        // The cache only saves fetches after a restart: a failure to write it is logged
        // and the token is used all the same.
        let written = match serde_json::to_vec(token) {
            Ok(bytes) => self.tree.insert(&self.key, bytes).map(drop),
            Err(err) => {
                tracing::warn!(error = %err, "failed to encode the access token for sled");
                return;
            }
        };
        if let Err(err) = written {
            tracing::warn!(error = %err, "failed to cache the access token in sled");
        } else if let Err(err) = self.tree.flush_async().await {
            tracing::warn!(error = %err, "failed to flush the access token cache");
        }
    }

    /// Removes the stored token only while it is still `failed`.
    fn unstore(&self, failed: &str) {
        let Ok(Some(bytes)) = self.tree.get(&self.key) else {
            return;
        };
        let holds_failed =
            serde_json::from_slice::<AccessToken>(&bytes).is_ok_and(|token| token.value == failed);
        if holds_failed {
            let swapped = self
                .tree
                .compare_and_swap(&self.key, Some(bytes), None::<&[u8]>);
            if let Err(err) = swapped {
                tracing::warn!(error = %err, "failed to drop the cached access token");
            }
        }
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        // The state is replaced whole under the lock, so a panic elsewhere cannot leave
        // it half-written: a poisoned lock is safe to keep using.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why a token is about to be fetched, read from the state before the fetch.
fn fetch_cause(state: &State) -> FetchCause {
    match (&state.current, &state.rejected) {
        (_, Some(_)) => FetchCause::Invalidated,
        (Some(_), None) => FetchCause::Expired,
        (None, None) => FetchCause::Startup,
    }
}

fn store_error(err: sled::Error) -> ApiError {
    ApiError::Store {
        detail: err.to_string(),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_refreshed_the_margin_before_it_expires() {
        let token = AccessToken::new("t".to_string(), 7200, 300, 1_000);

        assert!(token.is_fresh(1_000 + 6_899));
        assert!(!token.is_fresh(1_000 + 6_900));
        assert!(token.is_valid(1_000 + 7_199));
        assert!(!token.is_valid(1_000 + 7_200));
    }

    #[test]
    fn a_short_lived_token_is_used_for_half_its_life() {
        let token = AccessToken::new("t".to_string(), 120, 300, 1_000);

        assert!(token.is_fresh(1_059));
        assert!(!token.is_fresh(1_060));
    }

    #[test]
    fn the_token_value_is_not_in_debug_output() {
        let token = AccessToken::new("secret-token".to_string(), 7200, 300, 0);

        assert!(!format!("{token:?}").contains("secret-token"));
    }
}
