//! Every failure lands in the class the caller acts on, and no error text carries the
//! access token.

use std::time::Duration;

use cardbot::api::{Client, CustomMessage, ErrorClass};
use serde_json::json;

use super::{config_for, Harness};
use crate::support::fake_wechat::Reply;

const SEND: &str = "/cgi-bin/message/custom/send";

fn message() -> CustomMessage {
    CustomMessage::text("openid-1", "hi")
}

#[tokio::test]
async fn each_errcode_lands_in_its_class_without_a_retry() {
    let harness = Harness::start().await;
    let cases = [
        (-1, ErrorClass::RetryLater),
        (45011, ErrorClass::RetryLater),
        (45015, ErrorClass::Permanent),
        (45047, ErrorClass::Permanent),
        (43004, ErrorClass::Permanent),
        (40003, ErrorClass::Permanent),
        (45162, ErrorClass::Permanent),
        (47001, ErrorClass::Permanent),
        (48001, ErrorClass::Configuration),
        (45009, ErrorClass::Configuration),
        (40164, ErrorClass::Configuration),
        (89503, ErrorClass::Configuration),
        (99999, ErrorClass::Permanent),
    ];

    for (errcode, class) in cases {
        harness.fake.respond_errcodes(SEND, &[errcode]);
        let before = harness.fake.hits(SEND);

        let err = harness.client.send_custom(&message()).await.unwrap_err();

        assert_eq!(err.class(), class, "{errcode}");
        assert_eq!(err.errcode(), Some(errcode));
        assert_eq!(harness.fake.hits(SEND), before + 1, "{errcode} was retried");
    }
}

#[tokio::test]
async fn an_unknown_errcode_keeps_its_errmsg() {
    let harness = Harness::start().await;
    harness.fake.respond(
        SEND,
        json!({"errcode": 61234, "errmsg": "brand new failure"}),
    );

    let err = harness.client.send_custom(&message()).await.unwrap_err();

    assert_eq!(err.errmsg(), Some("brand new failure"));
    assert!(
        err.to_string().contains("61234: brand new failure"),
        "{err}"
    );
}

#[tokio::test]
async fn an_errcode_sent_as_a_string_is_an_error() {
    let harness = Harness::start().await;
    harness
        .fake
        .respond(SEND, json!({"errcode": "45015", "errmsg": "out of time"}));

    let err = harness.client.send_custom(&message()).await.unwrap_err();

    assert_eq!(err.errcode(), Some(45015));
    assert_eq!(err.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn a_zero_errcode_sent_as_a_string_is_a_success() {
    let harness = Harness::start().await;
    harness
        .fake
        .respond(SEND, json!({"errcode": "0", "errmsg": ""}));

    harness.client.send_custom(&message()).await.unwrap();
}

#[tokio::test]
async fn a_timeout_after_sending_is_an_unknown_outcome_and_not_retried() {
    let harness = Harness::start().await;
    harness.client.access_token().await.unwrap();
    harness.fake.delay(SEND, Duration::from_millis(1500));

    let err = harness.client.send_custom(&message()).await.unwrap_err();

    assert_eq!(err.class(), ErrorClass::UnknownOutcome, "{err}");
    assert_eq!(harness.fake.hits(SEND), 1);
    assert!(!err.to_string().contains("fake-token-1"), "{err}");
}

#[tokio::test]
async fn a_refused_connection_is_retried_later() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let api_base = format!("http://{}", closed_port.local_addr().unwrap());
    drop(closed_port);
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let client = Client::new(&config_for(&api_base), &db).unwrap();

    let err = client.send_custom(&message()).await.unwrap_err();

    assert_eq!(err.class(), ErrorClass::RetryLater, "{err}");
    assert!(!err.to_string().contains(super::APP_SECRET), "{err}");
}

#[tokio::test]
async fn server_errors_are_retried_later_and_other_statuses_need_a_person() {
    let harness = Harness::start().await;
    harness
        .fake
        .respond_seq(SEND, vec![Reply::Status(503), Reply::Status(404)]);

    let unavailable = harness.client.send_custom(&message()).await.unwrap_err();
    let not_found = harness.client.send_custom(&message()).await.unwrap_err();

    assert_eq!(unavailable.class(), ErrorClass::RetryLater);
    assert_eq!(not_found.class(), ErrorClass::Configuration);
    assert_eq!(not_found.errcode(), None);
}

#[tokio::test]
async fn the_access_token_never_appears_in_an_error() {
    let harness = Harness::start().await;
    let token = harness.client.access_token().await.unwrap();
    let echo = json!({"errcode": 40003, "errmsg": format!("invalid openid for {token}")});
    harness.fake.respond(SEND, echo);

    let err = harness.client.send_custom(&message()).await.unwrap_err();

    let text = err.to_string();
    assert!(!text.contains(&token), "{text}");
    assert!(!format!("{err:?}").contains(&token));
}

#[tokio::test]
async fn the_client_prints_neither_the_secret_nor_the_token() {
    let harness = Harness::start().await;
    let token = harness.client.access_token().await.unwrap();

    let debug = format!("{:?}", harness.client);

    assert!(!debug.contains(&token), "{debug}");
    assert!(!debug.contains(super::APP_SECRET), "{debug}");
}
