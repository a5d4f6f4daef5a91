//! Callback requests signed (and encrypted) the way WeChat sends them.

use std::net::SocketAddr;
use std::time::Duration;

use cardbot::wechat::synth::{event_xml, EventFields};
use cardbot::wechat::{crypto, push};

use super::server::{AES_KEY, APP_ID, TOKEN};

/// A callback request: the query string and the body.
pub struct Push {
    pub query: String,
    pub body: String,
}

const TIMESTAMP: &str = "1714112445";
const NONCE: &str = "415670741";

/// A plaintext-mode push of `xml`.
pub fn plaintext(xml: &str) -> Push {
    let signed = push::sign_plaintext(xml, TOKEN, TIMESTAMP, NONCE);
    Push {
        query: signed.query,
        body: signed.body,
    }
}

/// A safe-mode push of `xml` encrypted with `key` for `app_id`.
pub fn encrypted_with(xml: &str, key: &str, app_id: &str) -> Push {
    let key = crypto::AesKey::parse(key).unwrap();
    let sealer = push::Sealer {
        key: &key,
        token: TOKEN,
        app_id,
        account: "gh_test",
    };
    let signed = push::sign_encrypted(xml, sealer, TIMESTAMP, NONCE, &rand_bytes());
    Push {
        query: signed.query,
        body: signed.body,
    }
}

/// A safe-mode push of `xml` for the test account.
pub fn encrypted(xml: &str) -> Push {
    encrypted_with(xml, AES_KEY, APP_ID)
}

/// A compatible-mode push: the plaintext elements and `<Encrypt>` side by side.
pub fn compatible(xml: &str) -> Push {
    let safe = encrypted(xml);
    let encrypt_element = safe
        .body
        .split("<Encrypt>")
        .nth(1)
        .map(|rest| format!("<Encrypt>{rest}"))
        .unwrap();
    let inner = xml.trim_end().trim_end_matches("</xml>");
    Push {
        query: safe.query,
        body: format!("{inner}{encrypt_element}"),
    }
}

fn rand_bytes() -> [u8; 16] {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

/// A `user_get_card` event for `openid` with this card and code, at `create_time`.
pub fn user_get_card(openid: &str, card_id: &str, code: &str, create_time: i64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_test]]></ToUserName>\
         <FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{create_time}</CreateTime>\
         <MsgType><![CDATA[event]]></MsgType>\
         <Event><![CDATA[user_get_card]]></Event>\
         <CardId><![CDATA[{card_id}]]></CardId>\
         <IsGiveByFriend>0</IsGiveByFriend>\
         <UserCardCode><![CDATA[{code}]]></UserCardCode>\
         <OuterStr><![CDATA[store-poster]]></OuterStr>\
         </xml>"
    )
}

/// A plaintext-mode push of an event of `kind` from `openid`, created now, with these
/// elements (`("CardId", "p1")`, ...) beside the common ones.
pub fn event_now(kind: &str, openid: &str, fields: &[(&str, &str)]) -> Push {
    let event = EventFields {
        account: "gh_test".to_string(),
        openid: openid.to_string(),
        create_time: cardbot::clock::now_secs(),
        fields: fields
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
        ..Default::default()
    };
    plaintext(&event_xml(kind, &event))
}

/// Posts `push` to the callback of the cardbot listening at `addr`: the answer's status
/// and body, or `None` when none came within 5 s (the server was killed, say).
pub async fn post_to(
    client: &reqwest::Client,
    addr: SocketAddr,
    push: &Push,
) -> Option<(u16, String)> {
    let response = client
        .post(format!("http://{addr}/wechat?{}", push.query))
        .body(push.body.clone())
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}
