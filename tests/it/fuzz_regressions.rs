//! The committed fuzz corpora replayed on stable, with the checks the fuzz targets make
//! (the decrypt target's own, shared through its decrypt_check.rs): every input the
//! fuzzers found interesting stays a clear verdict, never a panic. An
//! input that once crashed a target is kept in its corpus as `crash-<what>`.

use std::path::PathBuf;
use std::time::Duration;

use cardbot::server::inbound;
use cardbot::server::{CallbackError, CallbackSettings};
use cardbot::wechat::crypto::{self, AesKey, Keyring};
use cardbot::wechat::event::Event;
use cardbot::wechat::push::{self, Sealer};

/// The decrypt target's checks themselves, not a copy: the same key, AppID and modes.
#[path = "../fuzz/fuzz_targets/decrypt_check.rs"]
mod decrypt_check;

/// The account tests/fuzz/fuzz_targets/callback.rs signs for.
const TOKEN: &str = "fuzztoken";
const APP_ID: &str = "wxfuzz0000000001";
const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const NOW_SECS: i64 = 1_700_000_000;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target);
    let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no corpus in {}", dir.display());
    inputs
}

fn settings() -> CallbackSettings {
    CallbackSettings {
        token: TOKEN.to_string(),
        app_id: APP_ID.to_string(),
        keyring: Some(Keyring::new(AesKey::parse(KEY).unwrap(), None)),
        max_body_bytes: 64 * 1024,
        max_clock_skew_secs: 300,
        reply_budget: Duration::from_millis(0),
    }
}

fn open(query: &str, body: &[u8]) -> Result<Event, CallbackError> {
    let settings = settings();
    let query = inbound::admit(&settings, query, NOW_SECS)?;
    let event = inbound::open(&settings, &query, body)?.event;
    let _ = event.dedup_key();
    Ok(event)
}

#[test]
fn every_xml_corpus_input_parses_or_is_refused_with_a_reason() {
    for (name, input) in corpus("xml") {
        let event = Event::parse(&input);

        if let Ok(event) = event {
            assert!(!event.openid.is_empty(), "{name}: an event with no sender");
            assert!(event.dedup_key().starts_with("msg:") || event.dedup_key().starts_with("evt:"));
        }
    }
}

#[test]
fn every_callback_corpus_input_gets_the_verdict_its_xml_deserves() {
    let key = AesKey::parse(KEY).unwrap();
    let sealer = Sealer {
        key: &key,
        token: TOKEN,
        app_id: APP_ID,
        account: "gh_fuzz",
    };

    for (name, input) in corpus("callback") {
        let Some((&mode, rest)) = input.split_first() else {
            continue;
        };
        let xml = String::from_utf8_lossy(rest);
        let timestamp = NOW_SECS.to_string();

        let result = match mode % 3 {
            0 => {
                let split = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
                let (query, body) = rest.split_at(split);
                let result = open(
                    &String::from_utf8_lossy(query),
                    body.get(1..).unwrap_or_default(),
                );
                if let Err(err) = &result {
                    assert!(
                        !err.status().is_server_error(),
                        "{name}: bad input answered 5xx"
                    );
                }
                continue;
            }
            1 => {
                let signed = push::sign_plaintext(&xml, TOKEN, &timestamp, "42");
                open(&signed.query, signed.body.as_bytes())
            }
            _ => {
                let signed = push::sign_encrypted(&xml, sealer, &timestamp, "42", &[3; 16]);
                open(&signed.query, signed.body.as_bytes())
            }
        };

        let direct = Event::parse(xml.as_bytes());
        match result {
            Ok(event) => assert_eq!(Some(event), direct.ok(), "{name}"),
            Err(CallbackError::Xml(err)) => assert_eq!(direct.err(), Some(err), "{name}"),
            Err(err) => panic!("{name}: a well-signed push refused: {err}"),
        }
    }
}

#[test]
fn every_decrypt_corpus_input_passes_the_decrypt_targets_own_checks() {
    let mut failed = Vec::new();

    for (name, input) in corpus("decrypt") {
        let checked = std::panic::catch_unwind(|| decrypt_check::check(&input));
        if checked.is_err() {
            failed.push(name);
        }
    }

    assert!(failed.is_empty(), "the decrypt checks failed on {failed:?}");
}

#[test]
fn every_decrypt_corpus_input_survives_a_round_trip() {
    let key = AesKey::parse(decrypt_check::KEY).unwrap();

    for (name, input) in corpus("decrypt") {
        let encrypted = crypto::encrypt(&key, &input, decrypt_check::APP_ID, &[7; 16]);

        let decrypted = crypto::decrypt(&key, &encrypted).unwrap();

        assert_eq!(decrypted.message, input, "{name}");
        assert_eq!(decrypted.app_id, decrypt_check::APP_ID, "{name}");
    }
}
