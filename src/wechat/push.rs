//! Pushes signed (and, in safe mode, encrypted) the way WeChat sends them to a
//! callback. `cardbot push` and the tests use it; it does no I/O. The event XML itself
//! comes from [`super::synth`].

use super::crypto::{self, AesKey};
use super::reply::push_cdata_element;
use super::signature;

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
