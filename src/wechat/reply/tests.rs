//! Replies read back with our own parser and the published encrypted replies.

use super::*;
use crate::wechat::crypto::Keyring;
use crate::wechat::{fixture, xml};

#[test]
fn a_text_reply_matches_the_official_sample() {
    let sample = xml::parse_children(&fixture::bytes("events/passive_reply_text.xml"))
        .expect("the sample parses");

    let reply = text("toUser", "fromUser", 12345678, "你好");

    assert_eq!(xml::parse_children(reply.as_bytes()), Ok(sample));
}

#[test]
fn content_that_closes_cdata_is_split_and_survives_the_round_trip() {
    let contents = [
        "a]]>b",
        "]]>]]>",
        "]]]>>",
        "<tag> & ]] >",
        "]",
        "ends with ]]",
    ];

    for content in contents {
        let reply = text("o", "gh", 1, content);

        let fields = xml::parse_children(reply.as_bytes()).expect(content);

        assert_eq!(fields["Content"], content, "{reply}");
    }
}

#[test]
fn characters_xml_cannot_carry_are_dropped() {
    let reply = text("o", "gh", 1, "a\u{0}b\u{1f}c\u{fffe}d\te");

    let fields = xml::parse_children(reply.as_bytes()).expect("parses");

    assert_eq!(fields["Content"], "abcd\te");
}

#[test]
fn a_news_reply_lists_every_article() {
    let articles = [
        Article {
            title: "Spring sale".into(),
            description: "20% off ]]> today".into(),
            url: "https://example.com/a?x=1&y=2".into(),
            picurl: "https://example.com/a.png".into(),
        },
        Article {
            title: "Second".into(),
            ..Article::default()
        },
    ];

    let reply = news("oUser", "gh_account", 1700000000, &articles);

    let fields = xml::parse_children(reply.as_bytes()).expect("parses");
    assert_eq!(fields["MsgType"], "news");
    assert_eq!(fields["ArticleCount"], "2");
    assert_eq!(fields["Articles.item.Title"], "Spring sale");
    assert_eq!(fields["Articles.item.Description"], "20% off ]]> today");
    assert_eq!(fields["Articles.item.Url"], "https://example.com/a?x=1&y=2");
    assert_eq!(fields["Articles.item.PicUrl"], "https://example.com/a.png");
    assert_eq!(reply.matches("<item>").count(), 2);
}

#[test]
fn encrypted_replies_match_the_published_examples_byte_for_byte() {
    let official = fixture::json("crypto/official_msgpush_secure_mode.json");
    let wecom = fixture::json("crypto/wechatpy_work_crypto.json");
    let cases = [
        (
            &official["config"],
            fixture::str(&official["config"], "appid"),
            &official["outbound_reply"],
            "equivalent_reply_xml",
        ),
        (
            &wecom["config"],
            fixture::str(&wecom["config"], "receiver_id"),
            &wecom["encrypt_message_fixed_random"],
            "expected_reply_xml",
        ),
    ];

    for (config, app_id, vector, expected) in cases {
        let key = AesKey::parse(fixture::str(config, "encoding_aes_key")).expect("valid key");

        let reply = encrypt(
            &key,
            fixture::str(config, "token"),
            app_id,
            fixture::str(vector, "plaintext"),
            fixture::str(vector, "timestamp"),
            fixture::str(vector, "nonce"),
            &fixture::random(vector),
        );

        assert_eq!(reply, fixture::str(vector, expected));
    }
}

#[test]
fn an_encrypted_reply_verifies_and_opens_with_the_same_key() {
    let key = AesKey::parse("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR").expect("valid key");
    let plaintext = text("oUser", "gh_account", 1700000000, "欢迎 ]]> welcome");

    let reply = encrypt(
        &key,
        "token",
        "wx_app",
        &plaintext,
        "1700000000",
        "n<&>",
        &[5; 16],
    );

    let outer = xml::parse_children(reply.as_bytes()).expect("parses");
    let parts = [
        "token",
        outer["TimeStamp"].as_str(),
        outer["Nonce"].as_str(),
        &outer["Encrypt"],
    ];
    assert!(signature::verify(&outer["MsgSignature"], &parts));
    assert_eq!(outer["Nonce"], "n<&>");
    let opened = Keyring::new(key, None)
        .open(&outer["Encrypt"], "wx_app")
        .expect("opens");
    assert_eq!(opened.message, plaintext.as_bytes());
}
