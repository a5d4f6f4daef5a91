//! The access token: single-flight fetches, refresh on rejection, the sled cache and
//! the three token modes.

use std::time::Duration;

use cardbot::api::{Client, CustomMessage, ErrorClass};
use cardbot::config::TokenMode;
use serde_json::json;

use super::{api_fixture, config_for, Harness, APP_SECRET};
use crate::support::fake_wechat::Reply;

const STABLE: &str = "/cgi-bin/stable_token";
const CLASSIC: &str = "/cgi-bin/token";
const SEND: &str = "/cgi-bin/message/custom/send";

#[tokio::test]
async fn fifty_concurrent_callers_without_a_token_cause_one_fetch() {
    let harness = Harness::start().await;
    harness.fake.delay(STABLE, Duration::from_millis(100));

    let calls = (0..50).map(|_| {
        let client = harness.client.clone();
        tokio::spawn(async move { client.access_token().await })
    });
    let tokens = futures::future::join_all(calls).await;

    assert_eq!(harness.fake.hits(STABLE), 1);
    for token in tokens {
        assert_eq!(token.unwrap().unwrap(), "fake-token-1");
    }
}

#[tokio::test]
async fn the_stable_token_request_has_the_documented_shape() {
    let harness = Harness::start().await;

    harness.client.access_token().await.unwrap();

    let mut expected = api_fixture("stable_token")["request"].clone();
    expected["appid"] = json!("wx-test-app");
    expected["secret"] = json!(APP_SECRET);
    let request = harness.fake.last_request(STABLE);
    assert_eq!(request.method, "POST");
    assert_eq!(request.body, expected);
}

#[tokio::test]
async fn a_40001_answer_causes_one_refresh_and_one_retry() {
    let harness = Harness::start().await;
    harness.fake.respond_errcodes(SEND, &[40001, 0]);

    harness
        .client
        .send_custom(&CustomMessage::text("openid-1", "hi"))
        .await
        .unwrap();

    assert_eq!(harness.fake.hits(STABLE), 2);
    let sends = harness.fake.requests(SEND);
    assert_eq!(sends.len(), 2);
    assert_eq!(sends[0].access_token(), Some("fake-token-1"));
    assert_eq!(sends[1].access_token(), Some("fake-token-2"));
}

#[tokio::test]
async fn a_token_rejected_twice_is_reported_without_a_third_try() {
    let harness = Harness::start().await;
    harness.fake.respond_errcodes(SEND, &[42001, 42001]);

    let err = harness
        .client
        .send_custom(&CustomMessage::text("openid-1", "hi"))
        .await
        .unwrap_err();

    assert_eq!(err.class(), ErrorClass::RefreshToken);
    assert_eq!(err.errcode(), Some(42001));
    assert_eq!(harness.fake.hits(SEND), 2);
}

#[tokio::test]
async fn a_token_fetched_by_another_caller_survives_a_late_rejection() {
    let harness = Harness::start().await;
    harness.client.access_token().await.unwrap();
    harness.fake.respond_errcodes(SEND, &[40001, 40001]);
    harness.fake.delay(SEND, Duration::from_millis(100));
    let (a, b) = (
        CustomMessage::text("openid-1", "a"),
        CustomMessage::text("openid-2", "b"),
    );

    let (first, second) = tokio::join!(
        harness.client.send_custom(&a),
        harness.client.send_custom(&b)
    );

    first.unwrap();
    second.unwrap();
    assert_eq!(harness.fake.hits(STABLE), 2);
    let retried: Vec<_> = harness.fake.requests(SEND)[2..]
        .iter()
        .map(|request| request.access_token().unwrap().to_string())
        .collect();
    assert_eq!(retried, ["fake-token-2", "fake-token-2"]);
}

#[tokio::test]
async fn expiring_an_old_token_keeps_the_newer_one() {
    let harness = Harness::start().await;
    let old = harness.client.access_token().await.unwrap();
    assert!(harness.client.expire_token(&old));
    let new = harness.client.access_token().await.unwrap();

    let dropped = harness.client.expire_token(&old);

    assert!(!dropped);
    assert_eq!(harness.client.access_token().await.unwrap(), new);
    assert_eq!(harness.fake.hits(STABLE), 2);
}

#[tokio::test]
async fn stable_token_is_forced_when_it_answers_the_rejected_token_again() {
    let harness = Harness::start().await;
    let same = json!({"access_token": "stuck-token", "expires_in": 7200});
    let fresh = json!({"access_token": "forced-token", "expires_in": 7200});
    harness.fake.respond_seq(
        STABLE,
        vec![same.clone().into(), same.into(), Reply::Json(fresh)],
    );
    harness.fake.respond_errcodes(SEND, &[40014, 0]);

    harness
        .client
        .send_custom(&CustomMessage::text("openid-1", "hi"))
        .await
        .unwrap();

    let fetches = harness.fake.requests(STABLE);
    let forced: Vec<_> = fetches
        .iter()
        .map(|r| r.body["force_refresh"].clone())
        .collect();
    assert_eq!(forced, [json!(false), json!(false), json!(true)]);
    assert_eq!(
        harness.fake.last_request(SEND).access_token(),
        Some("forced-token")
    );
}

#[tokio::test]
async fn a_restarted_client_reuses_the_cached_token() {
    let harness = Harness::start().await;
    let token = harness.client.access_token().await.unwrap();
    let config = config_for(&harness.fake.url());
    let Harness {
        fake,
        dir,
        db,
        client,
    } = harness;
    drop(client);
    drop(db);

    let db = sled::open(dir.path()).unwrap();
    let restarted = Client::new(&config, &db).unwrap();
    let reused = restarted.access_token().await.unwrap();

    assert_eq!(reused, token);
    assert_eq!(fake.hits(STABLE), 1);
}

#[tokio::test]
async fn classic_mode_fetches_with_get_and_the_documented_query() {
    let harness = Harness::start_with(|config| config.token_mode = TokenMode::Classic).await;

    let token = harness.client.access_token().await.unwrap();

    assert_eq!(token, "fake-token-1");
    assert_eq!(harness.fake.hits(STABLE), 0);
    let request = harness.fake.last_request(CLASSIC);
    assert_eq!(request.method, "GET");
    assert_eq!(request.query["grant_type"], "client_credential");
    assert_eq!(request.query["appid"], "wx-test-app");
    assert_eq!(request.query["secret"], APP_SECRET);
}

#[tokio::test]
async fn external_mode_reads_the_token_url() {
    let harness = Harness::start_with(|_| {}).await;
    let answer = json!({"access_token": "owned-elsewhere", "expires_in": 3600});
    harness.fake.respond("/token-owner", answer);
    let mut config = config_for(&harness.fake.url());
    config.token_mode = TokenMode::External;
    config.token_url = format!("{}/token-owner", harness.fake.url());
    let db = sled::open(harness.dir.path().join("external")).unwrap();
    let client = Client::new(&config, &db).unwrap();

    client
        .send_custom(&CustomMessage::text("openid-1", "hi"))
        .await
        .unwrap();

    assert_eq!(harness.fake.hits("/token-owner"), 1);
    assert_eq!(harness.fake.hits(STABLE), 0);
    assert_eq!(
        harness.fake.last_request(SEND).access_token(),
        Some("owned-elsewhere")
    );
}

#[tokio::test]
async fn a_rejected_token_fetch_is_a_configuration_error_without_the_secret() {
    let harness = Harness::start().await;
    let rejection = json!({"errcode": 40125, "errmsg": format!("invalid appsecret {APP_SECRET}")});
    harness.fake.respond(STABLE, rejection);

    let err = harness.client.access_token().await.unwrap_err();

    assert_eq!(err.class(), ErrorClass::Configuration);
    assert_eq!(err.errcode(), Some(40125));
    let text = err.to_string();
    assert!(!text.contains(APP_SECRET), "{text}");
    assert!(text.contains("wechat.app_secret"), "{text}");
}

#[tokio::test]
async fn a_40001_from_the_token_endpoint_is_a_configuration_error() {
    let harness = Harness::start().await;
    harness.fake.respond_errcodes(STABLE, &[40001]);

    let err = harness.client.access_token().await.unwrap_err();

    assert_eq!(err.class(), ErrorClass::Configuration);
}
