//! Customer-service, typing and template messages: bodies exactly as WeChat documents
//! them, Chinese text unescaped, and messages that survive a serde round trip.

use std::collections::BTreeMap;

use super::{api_fixture, Harness};
use cardbot::api::{
    Article, CustomMessage, MiniProgramLink, MiniProgramPage, TemplateField, TemplateMessage,
};

const SEND: &str = "/cgi-bin/message/custom/send";
const TYPING: &str = "/cgi-bin/message/custom/typing";
const TEMPLATE: &str = "/cgi-bin/message/template/send";

#[tokio::test]
async fn every_documented_custom_message_body_is_sent_as_is() {
    let harness = Harness::start().await;
    let bodies = api_fixture("message_custom_send")["bodies"].clone();
    let bodies = bodies.as_object().unwrap();

    for (name, body) in bodies {
        let message: CustomMessage =
            serde_json::from_value(body.clone()).unwrap_or_else(|err| panic!("{name}: {err}"));
        harness.client.send_custom(&message).await.unwrap();

        assert_eq!(&harness.fake.last_request(SEND).body, body, "{name}");
    }
    assert_eq!(harness.fake.hits(SEND), bodies.len());
}

#[tokio::test]
async fn the_constructors_build_the_documented_bodies() {
    let harness = Harness::start().await;
    let bodies = api_fixture("message_custom_send")["bodies"].clone();
    let article = Article {
        title: "Happy Day".to_string(),
        description: "Is Really A Happy Day".to_string(),
        url: "URL".to_string(),
        picurl: "PIC_URL".to_string(),
    };
    let page = MiniProgramPage {
        title: "title".to_string(),
        appid: "appid".to_string(),
        pagepath: "pagepath".to_string(),
        thumb_media_id: "thumb_media_id".to_string(),
    };
    let messages = [
        ("text", CustomMessage::text("OPENID", "sfsfdsdf")),
        ("image", CustomMessage::image("OPENID", "MEDIA_ID")),
        ("news", CustomMessage::news("OPENID", article)),
        ("mpnews", CustomMessage::mpnews("OPENID", "MEDIA_ID")),
        (
            "wxcard",
            CustomMessage::wxcard("OPENID", "123dsdajkasd231jhksad"),
        ),
        (
            "miniprogrampage",
            CustomMessage::miniprogram_page("OPENID", page),
        ),
        (
            "text_as_kf_account",
            CustomMessage::text("OPENID", "Hello World").with_kf_account("test1@kftest"),
        ),
    ];

    for (name, message) in messages {
        harness.client.send_custom(&message).await.unwrap();

        assert_eq!(harness.fake.last_request(SEND).body, bodies[name], "{name}");
    }
}

#[tokio::test]
async fn chinese_text_arrives_unescaped() {
    let harness = Harness::start().await;

    harness
        .client
        .send_custom(&CustomMessage::text("openid-1", "您的优惠券已到账 🎉"))
        .await
        .unwrap();

    let request = harness.fake.last_request(SEND);
    assert!(
        request.raw_body.contains("您的优惠券已到账 🎉"),
        "{}",
        request.raw_body
    );
    assert!(!request.raw_body.contains("\\u"), "{}", request.raw_body);
}

#[test]
fn a_message_survives_a_serde_round_trip_for_the_outbox() {
    let message = CustomMessage::wxcard("openid-1", "card-1").with_kf_account("kf@test");

    let stored = serde_json::to_vec(&message).unwrap();
    let restored: CustomMessage = serde_json::from_slice(&stored).unwrap();

    assert_eq!(restored, message);
}

#[tokio::test]
async fn typing_sends_the_documented_commands() {
    let harness = Harness::start().await;
    let fixture = api_fixture("message_custom_typing");

    harness.client.send_typing("OPENID", true).await.unwrap();
    harness.client.send_typing("OPENID", false).await.unwrap();

    let requests = harness.fake.requests(TYPING);
    assert_eq!(requests[0].body, fixture["request_typing"]);
    assert_eq!(requests[1].body, fixture["request_cancel"]);
}

#[tokio::test]
async fn a_template_message_has_the_documented_shape_and_answers_its_msgid() {
    let harness = Harness::start().await;
    let fixture = api_fixture("message_template_send");
    harness
        .fake
        .respond(TEMPLATE, fixture["response_success"].clone());
    let colored = |value: &str| TemplateField {
        value: value.to_string(),
        color: Some("#173177".to_string()),
    };
    let data = BTreeMap::from([
        ("first".to_string(), colored("恭喜你购买成功！")),
        ("keyword1".to_string(), colored("巧克力")),
        ("keyword2".to_string(), TemplateField::new("39.8元")),
        ("remark".to_string(), colored("欢迎再次购买！")),
    ]);
    let message = TemplateMessage {
        touser: "OPENID".to_string(),
        template_id: "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY".to_string(),
        url: Some("http://weixin.qq.com/download".to_string()),
        miniprogram: Some(MiniProgramLink {
            appid: "xiaochengxuappid12345".to_string(),
            pagepath: "index?foo=bar".to_string(),
        }),
        client_msg_id: Some("MSG_000001".to_string()),
        data,
    };

    let msgid = harness.client.send_template(&message).await.unwrap();

    assert_eq!(msgid, 200228332);
    let request = harness.fake.last_request(TEMPLATE);
    assert_eq!(request.body, fixture["request"]);
    assert!(request.raw_body.contains("恭喜你购买成功！"));
}

#[tokio::test]
async fn an_empty_recipient_is_refused_before_anything_is_sent() {
    let harness = Harness::start().await;

    let err = harness
        .client
        .send_custom(&CustomMessage::text("", "hi"))
        .await
        .unwrap_err();

    assert!(
        err.to_string().contains("touser must not be empty"),
        "{err}"
    );
    assert_eq!(harness.fake.hits(SEND), 0);
    assert_eq!(harness.fake.hits("/cgi-bin/stable_token"), 0);
}
