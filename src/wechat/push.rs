//! Pushes built the way WeChat sends them: the event XML, and the signed (and, in
//! safe mode, encrypted) request that carries it to a callback. `cardbot push` and the
//! tests use it; it does no I/O.

use std::fmt::Write;

use super::crypto::{self, AesKey};
use super::event::CARD_EVENT_KINDS;
use super::reply::push_cdata_element;
use super::signature;

/// The non-card kinds a push can be built for.
pub const OTHER_KINDS: &[&str] = &["text", "subscribe", "unsubscribe", "scan", "click", "view"];

/// What an event push carries beyond its kind.
#[derive(Debug, Clone, Default)]
pub struct EventPush {
    /// `ToUserName`: the account's original id.
    pub account: String,
    /// `FromUserName`: the user's openid.
    pub openid: String,
    pub create_time: i64,
    /// Further elements in order, such as `("CardId", "p...")`; empty values are left out.
    pub fields: Vec<(String, String)>,
}

/// Why a push cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("unknown event type {0:?}; use one of: {1}")]
    UnknownKind(String, String),
}

/// Every kind a push can be built for, card events first.
pub fn kinds() -> Vec<&'static str> {
    CARD_EVENT_KINDS
        .iter()
        .chain(OTHER_KINDS)
        .copied()
        .collect()
}

/// The XML of a `kind` push: a text message gets `MsgType` text and a `MsgId`, other
/// kinds are events (`SCAN`, `CLICK` and `VIEW` upper case on the wire, as WeChat
/// sends them).
pub fn event_xml(kind: &str, push: &EventPush, msg_id: u64) -> Result<String, PushError> {
    if !kinds().contains(&kind) {
        return Err(PushError::UnknownKind(kind.to_string(), kinds().join(", ")));
    }

    let mut xml = String::from("<xml>");
    push_cdata_element(&mut xml, "ToUserName", &push.account);
    push_cdata_element(&mut xml, "FromUserName", &push.openid);
    let _ = write!(xml, "<CreateTime>{}</CreateTime>", push.create_time);
    if kind == "text" {
        push_cdata_element(&mut xml, "MsgType", "text");
    } else {
        push_cdata_element(&mut xml, "MsgType", "event");
        let wire = match kind {
            "scan" | "click" | "view" => kind.to_ascii_uppercase(),
            other => other.to_string(),
        };
        push_cdata_element(&mut xml, "Event", &wire);
    }
    for (name, value) in push.fields.iter().filter(|(_, value)| !value.is_empty()) {
        push_cdata_element(&mut xml, name, value);
    }
    if kind == "text" {
        let _ = write!(xml, "<MsgId>{msg_id}</MsgId>");
    }
    xml.push_str("</xml>");
    Ok(xml)
}

/// A callback request: the query string and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPush {
    pub query: String,
    pub body: String,
}

/// A plaintext-mode request: `signature` over the token, timestamp and nonce.
pub fn sign_plaintext(xml: &str, token: &str, timestamp: &str, nonce: &str) -> SignedPush {
    let signature = signature::sign(&[token, timestamp, nonce]);
    SignedPush {
        query: format!("signature={signature}&timestamp={timestamp}&nonce={nonce}"),
        body: xml.to_string(),
    }
}

/// The account a safe-mode push is encrypted for and signed with.
#[derive(Debug, Clone, Copy)]
pub struct Sealer<'a> {
    pub key: &'a AesKey,
    pub token: &'a str,
    pub app_id: &'a str,
    /// `ToUserName` of the outer envelope.
    pub account: &'a str,
}

/// A safe-mode request: only `ToUserName` and `Encrypt` in the body, authenticated by
/// `msg_signature` (PROTOCOL §1.3).
pub fn sign_encrypted(
    xml: &str,
    sealer: Sealer<'_>,
    timestamp: &str,
    nonce: &str,
    random: &[u8; 16],
) -> SignedPush {
    let encrypted = crypto::encrypt(sealer.key, xml.as_bytes(), sealer.app_id, random);
    let signature = signature::sign(&[sealer.token, timestamp, nonce]);
    let msg_signature = signature::sign(&[sealer.token, timestamp, nonce, &encrypted]);

    let mut body = String::from("<xml>");
    push_cdata_element(&mut body, "ToUserName", sealer.account);
    push_cdata_element(&mut body, "Encrypt", &encrypted);
    body.push_str("</xml>");
    SignedPush {
        query: format!(
            "signature={signature}&timestamp={timestamp}&nonce={nonce}\
             &encrypt_type=aes&msg_signature={msg_signature}"
        ),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::event::Event;

    fn push(fields: &[(&str, &str)]) -> EventPush {
        EventPush {
            account: "gh_test".to_string(),
            openid: "o-alice".to_string(),
            create_time: 1_714_112_445,
            fields: fields
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_built_consume_event_parses_back_with_its_fields() {
        let fields = [
            ("CardId", "pX"),
            ("UserCardCode", "123"),
            ("StaffOpenId", ""),
        ];

        let xml = event_xml("user_consume_card", &push(&fields), 0).unwrap();
        let event = Event::parse(xml.as_bytes()).unwrap();

        assert_eq!(event.kind, "user_consume_card");
        assert_eq!(event.card_id.as_deref(), Some("pX"));
        assert_eq!(event.code.as_deref(), Some("123"));
        assert!(!xml.contains("StaffOpenId"));
    }

    #[test]
    fn a_text_message_carries_its_msg_id_and_a_scan_is_upper_case() {
        let text = event_xml("text", &push(&[("Content", "hi")]), 42).unwrap();
        let scan = event_xml("scan", &push(&[]), 0).unwrap();

        assert_eq!(
            Event::parse(text.as_bytes()).unwrap().msg_id.as_deref(),
            Some("42")
        );
        assert!(scan.contains("<Event><![CDATA[SCAN]]></Event>"));
    }

    #[test]
    fn an_unknown_kind_lists_the_known_ones() {
        let err = event_xml("user_eat_card", &push(&[]), 0).unwrap_err();

        assert!(err.to_string().contains("user_consume_card"), "{err}");
    }

    #[test]
    fn an_encrypted_push_opens_with_the_same_key() {
        let key = AesKey::parse("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C").unwrap();
        let sealer = Sealer {
            key: &key,
            token: "t",
            app_id: "wx1",
            account: "gh_test",
        };

        let signed = sign_encrypted("<xml/>", sealer, "1", "2", &[7; 16]);

        let envelope = crate::wechat::xml::parse_children(signed.body.as_bytes()).unwrap();
        let opened = crypto::decrypt(&key, &envelope["Encrypt"]).unwrap();
        assert_eq!(opened.message, b"<xml/>");
        assert!(signed.query.contains("encrypt_type=aes&msg_signature="));
    }
}
