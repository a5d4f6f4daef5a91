//! The callback over real HTTP: each account mode, dedup, and every kind of bad input.

use cardbot::wechat::event::Event;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::push::{self, Push};
use crate::support::server::{TestServer, OLD_AES_KEY, TOKEN};
use crate::support::{fixture, fixture_text};

fn consume_event() -> String {
    fixture_text("wechat/events/user_consume_card.xml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_verification_answers_the_echostr_of_the_official_example() {
    let server = TestServer::start(false, |config| config.wechat.token = "AAAAA".into()).await;
    let query = "signature=f464b24fc39322e44b38aa78f5edd27bd1441696\
                 &echostr=4375120948345356249&timestamp=1714036504&nonce=1514711492";

    let response = reqwest::get(server.callback_url(query)).await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "4375120948345356249");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_verification_with_a_bad_signature_is_refused() {
    let server = TestServer::start(false, |_| {}).await;
    let query = "signature=0000000000000000000000000000000000000000\
                 &echostr=123&timestamp=1714036504&nonce=1514711492";

    let response = reqwest::get(server.callback_url(query)).await.unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_push_is_stored_then_answered_success() {
    let server = TestServer::start(false, |_| {}).await;

    let (status, body) = server.post(&push::plaintext(&consume_event())).await;

    assert_eq!((status, body.as_str()), (StatusCode::OK, "success"));
    let pending = server.store.pending(10).unwrap();
    assert_eq!(pending.len(), 1);
    let event = &pending[0].event;
    assert_eq!(event.kind, "user_consume_card");
    assert_eq!(event.consume_source.as_deref(), Some("FROM_API"));
    assert_eq!(event.outer_str.as_deref(), Some("xxxxx"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_safe_mode_push_is_decrypted_and_stored() {
    let server = TestServer::start(true, |_| {}).await;

    let (status, body) = server.post(&push::encrypted(&consume_event())).await;

    assert_eq!((status, body.as_str()), (StatusCode::OK, "success"));
    let pending = server.store.pending(10).unwrap();
    assert_eq!(pending[0].event.code.as_deref(), Some("452998530302"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compatible_mode_push_is_read_from_its_ciphertext() {
    let server = TestServer::start(true, |_| {}).await;

    let (status, _) = server.post(&push::compatible(&consume_event())).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.store.inbox_len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_compatible_mode_sample_is_accepted() {
    let vector: Value =
        serde_json::from_slice(&fixture("wechat/crypto/tencent_sample_compat_mode.json")).unwrap();
    let server = TestServer::start(true, |config| {
        config.wechat.token = vector["config"]["token"].as_str().unwrap().into();
        config.wechat.app_id = vector["config"]["appid"].as_str().unwrap().into();
        config.wechat.encoding_aes_key = vector["config"]["encoding_aes_key"]
            .as_str()
            .unwrap()
            .into();
    })
    .await;
    let query = vector["query"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| format!("{name}={}", value.as_str().unwrap()))
        .collect::<Vec<_>>()
        .join("&");
    let sample = Push {
        query,
        body: vector["post_body_xml"].as_str().unwrap().to_string(),
    };

    let (status, _) = server.post(&sample).await;

    assert_eq!(status, StatusCode::OK);
    let event = server.store.pending(1).unwrap().remove(0).event;
    assert_eq!(event.kind, "text");
    assert_eq!(event.content.as_deref(), Some("abcdteT"));
    assert_eq!(event.msg_id.as_deref(), Some("6054768590064713728"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_key_rotation_the_previous_key_still_decrypts() {
    let server = TestServer::start(true, |config| {
        config.wechat.previous_encoding_aes_key = OLD_AES_KEY.into();
    })
    .await;
    let old = push::encrypted_with(&consume_event(), OLD_AES_KEY, &server.config.wechat.app_id);

    let (status, _) = server.post(&old).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.store.inbox_len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_three_times_is_one_inbox_entry() {
    let server = TestServer::start(true, |_| {}).await;
    let xml = push::user_get_card("o-user-1", "p-card-1", "100000000001", 1_714_000_000);

    for _ in 0..3 {
        let (status, body) = server.post(&push::encrypted(&xml)).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "success"));
    }

    assert_eq!(server.store.inbox_len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cards_received_in_the_same_second_are_two_entries() {
    let server = TestServer::start(false, |_| {}).await;
    let first = push::user_get_card("o-user-1", "p-card-1", "100000000001", 1_714_000_000);
    let second = push::user_get_card("o-user-1", "p-card-2", "100000000002", 1_714_000_000);

    server.post(&push::plaintext(&first)).await;
    server.post(&push::plaintext(&second)).await;

    assert_eq!(server.store.inbox_len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_is_refused_and_changes_nothing() {
    let server = TestServer::start(false, |_| {}).await;
    let mut forged = push::plaintext(&consume_event());
    forged.query = forged.query.replacen("signature=", "signature=ff", 1);

    let (status, _) = server.post(&forged).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.store.inbox_len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_signature_is_refused() {
    let server = TestServer::start(false, |_| {}).await;
    let unsigned = Push {
        query: "timestamp=1&nonce=2".into(),
        body: consume_event(),
    };

    let (status, _) = server.post(&unsigned).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_msg_signature_is_refused_even_with_a_good_signature() {
    let server = TestServer::start(true, |_| {}).await;
    let mut forged = push::encrypted(&consume_event());
    forged.query = forged
        .query
        .replacen("msg_signature=", "msg_signature=00", 1);

    let (status, _) = server.post(&forged).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.store.inbox_len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_xml_is_a_bad_request() {
    let server = TestServer::start(false, |_| {}).await;

    let (status, reason) = server
        .post(&push::plaintext("<xml><FromUserName>o</xml"))
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(reason.contains("XML"), "{reason}");
    assert_eq!(server.store.inbox_len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doctype_with_entities_is_refused() {
    let server = TestServer::start(false, |_| {}).await;
    let bomb = "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY a \"aaaaaaaaaa\">\
                <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>\
                <xml><FromUserName>&b;</FromUserName><MsgType>text</MsgType></xml>";

    let (status, _) = server.post(&push::plaintext(bomb)).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(server.store.inbox_len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecryptable_ciphertext_is_a_bad_request() {
    let server = TestServer::start(true, |_| {}).await;
    let garbage = push::encrypted(&consume_event());
    let body = garbage.body.replace("<![CDATA[", "<![CDATA[AAAA");
    let encrypted = body.split("<Encrypt><![CDATA[").nth(1).unwrap();
    let encrypted = encrypted.split("]]>").next().unwrap();
    let resigned = resign(&garbage.query, encrypted);

    let resigned = Push {
        query: resigned,
        body,
    };
    let (status, _) = server.post(&resigned).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(server.store.inbox_len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_encrypted_for_another_app_id_is_a_bad_request() {
    let server = TestServer::start(true, |_| {}).await;
    let foreign = push::encrypted_with(
        &consume_event(),
        crate::support::server::AES_KEY,
        "wx-another-account",
    );

    let (status, reason) = server.post(&foreign).await;

    assert_eq!(status, StatusCode::BAD_REQUEST, "{reason}");
    assert_eq!(server.store.inbox_len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_push_without_a_configured_key_is_a_bad_request() {
    let server = TestServer::start(false, |_| {}).await;

    let (status, reason) = server.post(&push::encrypted(&consume_event())).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(reason.contains("encoding_aes_key"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_refused() {
    let server = TestServer::start(false, |config| config.server.max_body_bytes = 2048).await;
    let padding = "x".repeat(4096);
    let large = consume_event().replace("</xml>", &format!("<Pad>{padding}</Pad></xml>"));

    let (status, _) = server.post(&push::plaintext(&large)).await;

    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(server.store.inbox_len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_plaintext_push_is_refused_before_its_body_is_read() {
    let server = TestServer::start(false, |config| config.server.max_body_bytes = 2048).await;
    let padding = "x".repeat(4096);
    let large = consume_event().replace("</xml>", &format!("<Pad>{padding}</Pad></xml>"));
    let mut unsigned = push::plaintext(&large);
    unsigned.query = unsigned.query.replace("signature=", "signature=0");

    let (status, reason) = server.post(&unsigned).await;

    // Over the size limit too, yet refused for its signature: the body was never read.
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(reason.starts_with("signature does not match"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_timestamp_is_refused_when_freshness_is_on() {
    let server = TestServer::start(false, |config| config.server.max_clock_skew_secs = 300).await;

    let (status, reason) = server.post(&push::plaintext(&consume_event())).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(reason.contains("timestamp"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_timestamp_is_refused_and_a_fresh_one_accepted() {
    let server = TestServer::start(false, |config| config.server.max_clock_skew_secs = 300).await;
    let signed_at = |timestamp: i64| {
        let signed = cardbot::wechat::push::sign_plaintext(
            &consume_event(),
            TOKEN,
            &timestamp.to_string(),
            "415670741",
        );
        Push {
            query: signed.query,
            body: signed.body,
        }
    };
    let now = cardbot::clock::now_secs();

    let (future, reason) = server.post(&signed_at(now + 3600)).await;
    let (fresh, _) = server.post(&signed_at(now - 10)).await;

    assert_eq!(future, StatusCode::UNAUTHORIZED);
    assert!(reason.contains("more than 300 s away"), "{reason}");
    assert_eq!(fresh, StatusCode::OK);
    assert_eq!(server.store.inbox_len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_the_inbox_depth() {
    let server = TestServer::start(false, |_| {}).await;
    server.post(&push::plaintext(&consume_event())).await;

    let health: Value = reqwest::get(format!("http://{}/healthz", server.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(health["status"], "ok");
    assert_eq!(health["inbox"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_is_accepted() {
    let server = TestServer::start(true, |_| {}).await;
    let dir = crate::support::fixture_path("wechat/events");
    let mut keys = std::collections::HashSet::new();

    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".xml") || name.starts_with("passive_reply") {
            continue;
        }
        let xml = std::fs::read_to_string(&path).unwrap();
        let (status, body) = server.post(&push::encrypted(&xml)).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "success"),
            "{name}"
        );
        keys.insert(Event::parse(xml.as_bytes()).unwrap().dedup_key());
    }

    // Samples that share sender, time and event are retries of one push to WeChat.
    assert_eq!(server.store.inbox_len(), keys.len());
}

fn resign(query: &str, encrypted: &str) -> String {
    use cardbot::wechat::signature::sign;
    let token = crate::support::server::TOKEN;
    let msg_signature = sign(&[token, "1714112445", "415670741", encrypted]);
    let kept: Vec<&str> = query
        .split('&')
        .filter(|part| !part.starts_with("msg_signature="))
        .collect();
    format!("{}&msg_signature={msg_signature}", kept.join("&"))
}
