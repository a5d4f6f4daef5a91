//! The callback's hot path, step by step and whole: signature, decryption, parsing.

use std::hint::black_box;

use cardbot::wechat::crypto::{self, AesKey, Keyring};
use cardbot::wechat::event::Event;
use cardbot::wechat::{signature, xml};
use criterion::{criterion_group, criterion_main, Criterion};

const TOKEN: &str = "pamtest";
const APP_ID: &str = "wxb11529c136998cb6";
const TIMESTAMP: &str = "1472549042";
const NONCE: &str = "1320562132";

/// A safe-mode push as WeChat sends it: the consume event, encrypted and signed.
struct Push {
    keyring: Keyring,
    body: String,
    encrypted: String,
    msg_signature: String,
    event_xml: Vec<u8>,
}

fn push() -> Push {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/wechat/events/");
    let event_xml = std::fs::read(format!("{path}user_consume_card.xml"))
        .unwrap_or_else(|e| panic!("cannot read the consume event fixture: {e}"));
    let key = AesKey::parse("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
        .unwrap_or_else(|e| panic!("{e}"));
    let encrypted = crypto::encrypt(&key, &event_xml, APP_ID, b"aaaabbbbccccdddd");
    let msg_signature = signature::sign(&[TOKEN, TIMESTAMP, NONCE, &encrypted]);
    let body = format!(
        "<xml><ToUserName><![CDATA[gh_fc0a06a20993]]></ToUserName>\
         <Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    );

    Push {
        keyring: Keyring::new(key, None),
        body,
        encrypted,
        msg_signature,
        event_xml,
    }
}

/// Everything the callback does before storing: outer XML, msg_signature, decryption
/// with the AppID check, inner XML to a typed event.
fn handle(push: &Push) -> Option<Event> {
    let outer = xml::parse_children(push.body.as_bytes()).ok()?;
    let encrypted = outer.get("Encrypt")?;
    if !signature::verify(&push.msg_signature, &[TOKEN, TIMESTAMP, NONCE, encrypted]) {
        return None;
    }
    let opened = push.keyring.open(encrypted, APP_ID).ok()?;
    Event::parse(&opened.message).ok()
}

fn protocol(c: &mut Criterion) {
    let push = push();
    assert!(
        handle(&push).is_some(),
        "the benchmark push must be accepted"
    );

    c.bench_function("signature_verify", |b| {
        let parts = [TOKEN, TIMESTAMP, NONCE, push.encrypted.as_str()];
        b.iter(|| signature::verify(black_box(&push.msg_signature), black_box(&parts)))
    });
    c.bench_function("decrypt_card_event", |b| {
        b.iter(|| push.keyring.open(black_box(&push.encrypted), APP_ID))
    });
    c.bench_function("event_parse_user_consume_card", |b| {
        b.iter(|| Event::parse(black_box(&push.event_xml)))
    });
    c.bench_function("verify_decrypt_parse", |b| {
        b.iter(|| handle(black_box(&push)))
    });
}

criterion_group!(benches, protocol);
criterion_main!(benches);
