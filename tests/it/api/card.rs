//! Card queries: request bodies as WeChat documents them, answers read from the
//! fixtures, batchget paging and the card/get cache.

use cardbot::api::{
    CardStatus, CardType, QrCard, QrCards, QrCodeRequest, UserCardStatus, Validity,
};
use serde_json::{json, Value};

use super::{api_fixture, Harness};

const GETCARDLIST: &str = "/card/user/getcardlist";
const CODE_GET: &str = "/card/code/get";
const BATCHGET: &str = "/card/batchget";
const CARD_GET: &str = "/card/get";
const CONSUME: &str = "/card/code/consume";
const QRCODE: &str = "/card/qrcode/create";

#[tokio::test]
async fn user_cards_sends_the_documented_body_and_reads_the_list() {
    let harness = Harness::start().await;
    let fixture = api_fixture("card_user_getcardlist");
    harness
        .fake
        .respond(GETCARDLIST, fixture["response_observed"].clone());

    let cards = harness
        .client
        .user_cards("12312313", Some("xxxxxxxxxx"))
        .await
        .unwrap();

    assert_eq!(
        harness.fake.last_request(GETCARDLIST).body,
        fixture["request"]
    );
    assert_eq!(cards.card_list.len(), 1);
    assert_eq!(cards.card_list[0].card_id, "pVD541Gl-hkZt2qyKw_tqh9ybpF8");
    assert_eq!(cards.card_list[0].code, "727343188400");
    assert!(!cards.has_share_card);
}

#[tokio::test]
async fn user_cards_without_a_card_id_leaves_it_out() {
    let harness = Harness::start().await;

    harness.client.user_cards("openid-1", None).await.unwrap();

    assert_eq!(
        harness.fake.last_request(GETCARDLIST).body,
        json!({"openid": "openid-1"})
    );
}

#[tokio::test]
async fn code_status_asks_without_check_consume_and_reads_the_status() {
    let harness = Harness::start().await;
    let fixture = api_fixture("card_code_get");
    harness
        .fake
        .respond(CODE_GET, fixture["response_normal_official"].clone());

    let status = harness
        .client
        .code_status(Some("card_id_123+"), "123456789")
        .await
        .unwrap();

    let mut expected = fixture["request_official"].clone();
    expected["check_consume"] = json!(false);
    assert_eq!(harness.fake.last_request(CODE_GET).body, expected);
    assert_eq!(status.card_id, "pbLatjk4T4Hx-QFQGL4zGQy27_Qg");
    assert_eq!(status.status, UserCardStatus::Normal);
    assert!(status.can_consume);
    assert_eq!(status.begin_time, Some(1457452800));
    assert_eq!(status.end_time, Some(1463155199));
    assert_eq!(status.openid, "obLatjm43RA5C6QfMO5szKYnT3dM");
    assert_eq!(status.outer_str.as_deref(), Some("12b"));
}

#[tokio::test]
async fn a_consumed_code_answers_its_status_and_an_unknown_status_is_kept() {
    let harness = Harness::start().await;
    let fixture = api_fixture("card_code_get");
    let consumed = fixture["response_abnormal_check_consume_false_expected_shape"].clone();
    let mut novel = consumed.clone();
    novel["user_card_status"] = json!("GIFT_SUCC");
    harness
        .fake
        .respond_seq(CODE_GET, vec![consumed.into(), novel.into()]);

    let first = harness
        .client
        .code_status(None, "310731429876")
        .await
        .unwrap();
    let second = harness
        .client
        .code_status(None, "310731429876")
        .await
        .unwrap();

    assert_eq!(first.status, UserCardStatus::Consumed);
    assert!(!first.can_consume);
    assert_eq!(
        second.status,
        UserCardStatus::Other("GIFT_SUCC".to_string())
    );
}

#[tokio::test]
async fn batchget_pages_through_three_pages_with_the_status_filter() {
    let harness = Harness::start().await;
    let page = |from: usize, count: usize| {
        let ids: Vec<String> = (from..from + count).map(|n| format!("card-{n}")).collect();
        json!({"errcode": 0, "errmsg": "ok", "card_id_list": ids, "total_num": 107})
    };
    let pages = vec![page(0, 50).into(), page(50, 50).into(), page(100, 7).into()];
    harness.fake.respond_seq(BATCHGET, pages);
    let statuses = [CardStatus::VerifyOk, CardStatus::Dispatch];

    let ids = harness.client.cards_with_status(&statuses).await.unwrap();

    assert_eq!(ids.len(), 107);
    assert_eq!(ids[0], "card-0");
    assert_eq!(ids[106], "card-106");
    let requests = harness.fake.requests(BATCHGET);
    let offsets: Vec<Value> = requests.iter().map(|r| r.body["offset"].clone()).collect();
    assert_eq!(offsets, [json!(0), json!(50), json!(100)]);
    let fixture = api_fixture("card_batchget");
    for request in &requests {
        assert_eq!(request.body["count"], json!(50));
        assert_eq!(
            request.body["status_list"],
            fixture["request_constructed"]["status_list"]
        );
    }
}

#[tokio::test]
async fn batchget_stops_at_a_short_page_and_reads_the_fixture() {
    let harness = Harness::start().await;
    let fixture = api_fixture("card_batchget");
    harness
        .fake
        .respond(BATCHGET, fixture["response_observed"].clone());

    let ids = harness
        .client
        .cards_with_status(&[CardStatus::Delete])
        .await
        .unwrap();

    assert_eq!(ids.len(), 5);
    assert_eq!(harness.fake.hits(BATCHGET), 1);
    let request = harness.fake.last_request(BATCHGET);
    assert_eq!(request.body["status_list"], json!(["CARD_STATUS_DELETE"]));
}

#[tokio::test]
async fn card_info_reads_the_fixture_and_is_served_from_the_cache() {
    let harness = Harness::start().await;
    let fixture = api_fixture("card_get");
    harness
        .fake
        .respond(CARD_GET, fixture["response_observed_reconstructed"].clone());
    let card_id = "pdkJ9uLRSbnB3UFEjZAgUxAJrjeY";

    let first = harness.client.card_info(card_id).await.unwrap();
    let second = harness.client.card_info(card_id).await.unwrap();

    assert_eq!(harness.fake.hits(CARD_GET), 1);
    assert_eq!(harness.fake.last_request(CARD_GET).body, fixture["request"]);
    assert_eq!(first, second);
    assert_eq!(first.card_type, CardType::Groupon);
    assert_eq!(first.title, "测试标题");
    assert_eq!(first.brand_name, "测试商户造梦空间");
    assert_eq!(first.status, Some(CardStatus::VerifyOk));
    assert_eq!(
        first.validity,
        Validity::Term {
            days: 90,
            starts_after_days: 0
        }
    );
    assert_eq!(first.raw["groupon"]["deal_detail"], "deal_detail");
}

#[tokio::test]
async fn card_info_is_fetched_again_when_the_cache_is_off() {
    let harness = Harness::start_with(|config| config.card_info_ttl_secs = 0).await;
    let fixture = api_fixture("card_get");
    harness
        .fake
        .respond(CARD_GET, fixture["response_observed_reconstructed"].clone());

    harness
        .client
        .card_info("pdkJ9uLRSbnB3UFEjZAgUxAJrjeY")
        .await
        .unwrap();
    harness
        .client
        .card_info("pdkJ9uLRSbnB3UFEjZAgUxAJrjeY")
        .await
        .unwrap();

    assert_eq!(harness.fake.hits(CARD_GET), 2);
}

#[tokio::test]
async fn consume_code_sends_the_documented_body() {
    let harness = Harness::start().await;
    let fixture = api_fixture("card_code_consume");
    harness
        .fake
        .respond(CONSUME, fixture["response_success"].clone());

    let redeemed = harness
        .client
        .consume_code(Some("pFS7Fjg8kV1IdDz01r4SQwMkuCKc"), "12312313")
        .await
        .unwrap();

    assert_eq!(harness.fake.last_request(CONSUME).body, fixture["request"]);
    assert_eq!(redeemed.card_id, "pFS7Fjg8kV1IdDz01r4SQwMkuCKc");
    assert_eq!(redeemed.openid, "oFS7Fjl0WsZ9AMZqrI80nbIq8xrA");
}

#[tokio::test]
async fn qrcode_requests_match_the_documented_single_and_multiple_shapes() {
    let harness = Harness::start().await;
    let fixture = api_fixture("card_qrcode_create");
    harness
        .fake
        .respond(QRCODE, fixture["response_observed"].clone());
    let single = QrCodeRequest {
        cards: QrCards::Single(QrCard {
            card_id: "pFS7Fjg8kV1IdDz01r4SQwMkuCKc".to_string(),
            code: Some("198374613512".to_string()),
            openid: Some("oFS7Fjl0WsZ9AMZqrI80nbIq8xrA".to_string()),
            is_unique_code: Some(false),
            outer_str: Some("12b".to_string()),
            ..QrCard::default()
        }),
        expire_seconds: Some(1800),
    };
    let multiple_card = |card_id: &str, code: &str| QrCard {
        card_id: card_id.to_string(),
        code: Some(code.to_string()),
        outer_str: Some("12b".to_string()),
        ..QrCard::default()
    };
    let multiple = QrCodeRequest {
        cards: QrCards::Multiple(vec![
            multiple_card("p1Pj9jgj3BcomSgtuW8B1wl-wo88", "2392583481"),
            multiple_card("p1Pj9jgj3BcomSgtuW8B1wl-wo98", "2392583482"),
        ]),
        expire_seconds: None,
    };

    let qrcode = harness.client.create_card_qrcode(&single).await.unwrap();
    harness.client.create_card_qrcode(&multiple).await.unwrap();

    let requests = harness.fake.requests(QRCODE);
    assert_eq!(requests[0].body, fixture["request_single_official"]);
    assert_eq!(requests[1].body, fixture["request_multiple_official"]);
    assert_eq!(qrcode.url, "http://weixin.qq.com/q/7kPYP0rlWvojw9kcsWSy");
    assert_eq!(qrcode.expire_seconds, Some(7776000));
    assert!(qrcode.ticket.starts_with("gQHa7joAAAAAAAAAASxodHRw"));
}

#[tokio::test]
async fn an_outer_id_and_a_unique_code_are_sent_as_wechat_names_them() {
    let harness = Harness::start().await;
    let request = QrCodeRequest {
        cards: QrCards::Single(QrCard {
            card_id: "p1".to_string(),
            is_unique_code: Some(true),
            outer_id: Some(42),
            ..QrCard::default()
        }),
        expire_seconds: None,
    };
    let answer = api_fixture("card_qrcode_create")["response_observed"].clone();
    harness.fake.respond(QRCODE, answer);

    harness.client.create_card_qrcode(&request).await.unwrap();

    let expected = json!({
        "action_name": "QR_CARD",
        "action_info": {"card": {"card_id": "p1", "is_unique_code": true, "outer_id": 42}}
    });
    assert_eq!(harness.fake.last_request(QRCODE).body, expected);
}
