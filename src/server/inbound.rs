//! A callback request from its query string and body to an event, with no I/O:
//! freshness, signature, decryption and parsing, in the order the handler runs them.

use actix_web::web;
use serde::Deserialize;

use super::error::CallbackError;
use super::CallbackSettings;
use crate::wechat::crypto::AesKey;
use crate::wechat::event::Event;
use crate::wechat::{signature, xml};

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
    /// Decodes a raw query string; a string that is not `key=value` pairs is refused.
    pub fn from_query_string(raw: &str) -> Result<CallbackQuery, CallbackError> {
        web::Query::<CallbackQuery>::from_query(raw)
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

    /// The `echostr` of a URL verification.
    pub fn echostr(&self) -> Result<&str, CallbackError> {
        CallbackQuery::require(&self.echostr, "echostr")
    }
}

/// A verified push: the event, and the key that decrypted it when it was encrypted.
#[derive(Debug)]
pub struct Inbound {
    pub event: Event,
    /// Encrypt the passive reply with this key; `None` for a plaintext push.
    pub key: Option<AesKey>,
}

/// Decodes the query, refuses a stale timestamp and, in plaintext mode, checks the
/// signature; runs before the body is read, so that a replayed or unsigned request
/// costs no more than its headers.
///
/// A plaintext push is signed over the token, timestamp and nonce only, so its
/// signature can be checked before the body is read; in safe mode `msg_signature`
/// covers the body, which must be read first.
pub fn admit(
    settings: &CallbackSettings,
    raw_query: &str,
    now_secs: i64,
) -> Result<CallbackQuery, CallbackError> {
    let query = CallbackQuery::from_query_string(raw_query)?;
    check_freshness(settings, &query, now_secs)?;
    if !query.is_encrypted() {
        verify_signature(settings, &query)?;
    }
    Ok(query)
}

/// Verifies the body against the query, decrypts it when the account encrypts, and
/// parses the event.
pub fn open(
    settings: &CallbackSettings,
    query: &CallbackQuery,
    body: &[u8],
) -> Result<Inbound, CallbackError> {
    if !query.is_encrypted() {
        // Checked by `admit` already; checked again so that `open` alone never lets an
        // unsigned push through.
        verify_signature(settings, query)?;
        let event = Event::parse(body)?;
        return Ok(Inbound { event, key: None });
    }

    // In safe mode only msg_signature covers the body; `signature` covers none of it.
    let envelope = xml::parse_children(body)?;
    let encrypted = envelope
        .get("Encrypt")
        .filter(|value| !value.is_empty())
        .ok_or(CallbackError::MissingEncrypt)?;
    verify_msg_signature(settings, query, encrypted)?;

    let keyring = settings.keyring.as_ref().ok_or(CallbackError::NoKey)?;
    let opened = keyring.open(encrypted, &settings.app_id)?;

    let event = Event::parse(&opened.message)?;
    Ok(Inbound {
        event,
        key: Some(opened.key),
    })
}

/// Checks `signature` over the token, timestamp and nonce: a URL verification, or a
/// plaintext push.
pub fn verify_signature(
    settings: &CallbackSettings,
    query: &CallbackQuery,
) -> Result<(), CallbackError> {
    let given = CallbackQuery::require(&query.signature, "signature")?;
    let timestamp = CallbackQuery::require(&query.timestamp, "timestamp")?;
    let nonce = CallbackQuery::require(&query.nonce, "nonce")?;

    let parts = [settings.token.as_str(), timestamp, nonce];
    if signature::verify(given, &parts) {
        Ok(())
    } else {
        Err(CallbackError::BadSignature)
    }
}

fn verify_msg_signature(
    settings: &CallbackSettings,
    query: &CallbackQuery,
    encrypted: &str,
) -> Result<(), CallbackError> {
    let given = CallbackQuery::require(&query.msg_signature, "msg_signature")?;
    let timestamp = CallbackQuery::require(&query.timestamp, "timestamp")?;
    let nonce = CallbackQuery::require(&query.nonce, "nonce")?;

    let parts = [settings.token.as_str(), timestamp, nonce, encrypted];
    if signature::verify(given, &parts) {
        Ok(())
    } else {
        Err(CallbackError::BadMsgSignature)
    }
}

/// Refuses a timestamp far from now, when `server.max_clock_skew_secs` asks for it.
fn check_freshness(
    settings: &CallbackSettings,
    query: &CallbackQuery,
    now_secs: i64,
) -> Result<(), CallbackError> {
    let max_skew_secs = settings.max_clock_skew_secs;
    if max_skew_secs == 0 {
        return Ok(());
    }

    let timestamp = CallbackQuery::require(&query.timestamp, "timestamp")?;
    let fresh = timestamp
        .parse::<i64>()
        .map(|sent| sent.abs_diff(now_secs) <= max_skew_secs)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::crypto::Keyring;
    use crate::wechat::push::{self, Sealer};

    const TOKEN: &str = "token";
    const APP_ID: &str = "wx1";
    const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
    const NOW: i64 = 1_700_000_000;
    const XML: &str = "<xml><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>\
                       <MsgType>event</MsgType><Event>subscribe</Event></xml>";

    fn settings(max_clock_skew_secs: u64) -> CallbackSettings {
        CallbackSettings {
            token: TOKEN.to_string(),
            app_id: APP_ID.to_string(),
            keyring: Some(Keyring::new(AesKey::parse(KEY).unwrap(), None)),
            max_body_bytes: 1024,
            max_clock_skew_secs,
            reply_budget: std::time::Duration::ZERO,
        }
    }

    fn open_raw(
        settings: &CallbackSettings,
        query: &str,
        body: &str,
    ) -> Result<Inbound, CallbackError> {
        let query = admit(settings, query, NOW)?;
        open(settings, &query, body.as_bytes())
    }

    /// `XML` encrypted under `key` and signed for the test account.
    fn sign_encrypted(key: &AesKey) -> push::SignedPush {
        let sealer = Sealer {
            key,
            token: TOKEN,
            app_id: APP_ID,
            account: "gh",
        };
        push::sign_encrypted(XML, sealer, &NOW.to_string(), "n", &[1; 16])
    }

    #[test]
    fn a_signed_plaintext_push_opens_without_a_key() {
        let signed = push::sign_plaintext(XML, TOKEN, &NOW.to_string(), "n");

        let inbound = open_raw(&settings(0), &signed.query, &signed.body).unwrap();

        assert_eq!(inbound.event.kind, "subscribe");
        assert!(inbound.key.is_none());
    }

    #[test]
    fn an_encrypted_push_opens_with_the_key_that_decrypted_it() {
        let key = AesKey::parse(KEY).unwrap();
        let signed = sign_encrypted(&key);

        let inbound = open_raw(&settings(0), &signed.query, &signed.body).unwrap();

        assert_eq!(inbound.event.openid, "o1");
        assert_eq!(inbound.key, Some(key));
    }

    #[test]
    fn a_body_changed_after_signing_is_refused() {
        let key = AesKey::parse(KEY).unwrap();
        let signed = sign_encrypted(&key);
        let tampered = signed
            .body
            .replacen("<Encrypt><![CDATA[", "<Encrypt><![CDATA[A", 1);

        let refused = open_raw(&settings(0), &signed.query, &tampered);

        assert!(matches!(refused, Err(CallbackError::BadMsgSignature)));
    }

    #[test]
    fn an_unsigned_plaintext_push_is_refused_before_the_body_is_looked_at() {
        let mut signed = push::sign_plaintext(XML, TOKEN, &NOW.to_string(), "n");
        signed.query = signed.query.replace("signature=", "signature=0");

        let refused = admit(&settings(0), &signed.query, NOW);

        assert!(matches!(refused, Err(CallbackError::BadSignature)));
    }

    #[test]
    fn a_stale_timestamp_is_refused_before_the_body_is_looked_at() {
        let signed = push::sign_plaintext(XML, TOKEN, "1", "n");

        let refused = admit(&settings(300), &signed.query, NOW);

        assert!(matches!(refused, Err(CallbackError::Stale { .. })));
    }
}
