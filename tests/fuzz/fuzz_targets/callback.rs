//! The whole callback request path the handler runs before storing: query string and
//! body, freshness, signature, decryption, parsing and the dedup key.
//!
//! The first byte picks the mode. Raw mode gives the fuzzer the query and the body.
//! The other modes take the rest as the event XML and sign it (and encrypt it) with
//! the fixed account, so that the parser behind the signature and the crypto is
//! reached too.

#![no_main]

use std::time::Duration;

use cardbot::server::inbound::{self, Inbound};
use cardbot::server::{CallbackError, CallbackSettings};
use cardbot::wechat::crypto::{AesKey, Keyring};
use cardbot::wechat::push::{self, Sealer};
use libfuzzer_sys::fuzz_target;

const TOKEN: &str = "fuzztoken";
const APP_ID: &str = "wxfuzz0000000001";
const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const NOW_SECS: i64 = 1_700_000_000;
const MAX_SKEW_SECS: u64 = 300;
/// Separates the query from the body in raw mode.
const SEPARATOR: u8 = b'\n';

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let settings = settings();

    match mode % 3 {
        0 => raw(&settings, rest),
        1 => signed_plaintext(&settings, rest),
        _ => signed_encrypted(&settings, rest),
    }
});

fn settings() -> CallbackSettings {
    let Ok(key) = AesKey::parse(KEY) else {
        panic!("the fixed key must parse");
    };
    CallbackSettings {
        token: TOKEN.to_string(),
        app_id: APP_ID.to_string(),
        keyring: Some(Keyring::new(key, None)),
        max_body_bytes: 64 * 1024,
        max_clock_skew_secs: MAX_SKEW_SECS,
        reply_budget: Duration::from_millis(0),
    }
}

/// Runs the handler's steps; the result must be a verdict, never a panic.
fn run(settings: &CallbackSettings, query: &str, body: &[u8]) -> Result<Inbound, CallbackError> {
    let query = inbound::admit(settings, query, NOW_SECS)?;
    let inbound = inbound::open(settings, &query, body)?;
    let _ = inbound.event.dedup_key();
    let _ = inbound.event.window_opening();
    Ok(inbound)
}

fn raw(settings: &CallbackSettings, data: &[u8]) {
    let split = data
        .iter()
        .position(|&b| b == SEPARATOR)
        .unwrap_or(data.len());
    let (query, body) = data.split_at(split);
    let body = body.get(1..).unwrap_or_default();

    let result = run(settings, &String::from_utf8_lossy(query), body);

    if let Err(err) = result {
        // Bad input is never the server's fault: WeChat must not retry it forever.
        assert!(
            !err.status().is_server_error(),
            "bad input answered 5xx: {err}"
        );
    }
}

fn signed_plaintext(settings: &CallbackSettings, xml: &[u8]) {
    let xml = String::from_utf8_lossy(xml);
    let signed = push::sign_plaintext(&xml, TOKEN, &NOW_SECS.to_string(), "42");

    let result = run(settings, &signed.query, signed.body.as_bytes());

    check_signed(result, &xml);
}

fn signed_encrypted(settings: &CallbackSettings, xml: &[u8]) {
    let xml = String::from_utf8_lossy(xml);
    let Some(key) = settings.keyring.as_ref().map(|ring| &ring.current) else {
        return;
    };
    let sealer = Sealer {
        key,
        token: TOKEN,
        app_id: APP_ID,
        account: "gh_fuzz",
    };
    let signed = push::sign_encrypted(&xml, sealer, &NOW_SECS.to_string(), "42", &[3; 16]);

    let result = run(settings, &signed.query, signed.body.as_bytes());

    check_signed(result, &xml);
}

/// A correctly signed push is refused only for its XML, and parses as the XML alone.
fn check_signed(result: Result<Inbound, CallbackError>, xml: &str) {
    let direct = cardbot::wechat::event::Event::parse(xml.as_bytes());
    match result {
        Ok(inbound) => assert_eq!(Some(inbound.event), direct.ok()),
        Err(CallbackError::Xml(err)) => assert_eq!(direct.err(), Some(err)),
        Err(err) => panic!("a well-signed push refused: {err}"),
    }
}
