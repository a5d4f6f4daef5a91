//! The checks of the decrypt target, apart from libFuzzer's entry point, so that the
//! stable replay of its corpus (tests/it/fuzz_regressions.rs) runs exactly what the
//! fuzzer runs, with the same key, AppID and modes.
//!
//! Arbitrary `Encrypt` text and ciphertext under a fixed key, arbitrary
//! EncodingAESKeys, and a round trip that must give back what went in. The first byte
//! picks the mode, so one corpus covers all of them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cardbot::wechat::crypto::{self, AesKey, CryptoError, Keyring};

/// The EncodingAESKey of the published sample, valid by construction.
pub const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
/// The AppID the keyring expects inside every ciphertext.
pub const APP_ID: &str = "wxb11529c136998cb6";
const KEY_CHARS: usize = 43;

/// Runs one input through the mode its first byte picks; panics on a broken promise.
pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(key) = AesKey::parse(KEY) else {
        panic!("the fixed key must parse");
    };

    match mode % 4 {
        // The Encrypt text as sent: base64 decoding comes first.
        0 => open_text(&key, &String::from_utf8_lossy(rest)),
        // Raw ciphertext: reaches AES, the padding and the length prefix.
        1 => open_text(&key, &STANDARD.encode(rest)),
        // An arbitrary key, then arbitrary ciphertext under it.
        2 => open_under_any_key(rest),
        // Any message and app_id survive a round trip.
        _ => round_trip(&key, rest),
    }
}

fn open_text(key: &AesKey, encrypted: &str) {
    let decrypted = crypto::decrypt(key, encrypted);

    let keyring = Keyring::new(key.clone(), None);
    let opened = keyring.open(encrypted, APP_ID);

    match (&decrypted, &opened) {
        (Ok(d), Ok(o)) => assert_eq!(d.message, o.message),
        (Ok(d), Err(CryptoError::AppIdMismatch)) => assert_ne!(d.app_id, APP_ID),
        (Err(d), Err(o)) => assert_eq!(d, o),
        _ => panic!("keyring and decrypt disagree: {decrypted:?} vs {opened:?}"),
    }
}

fn open_under_any_key(data: &[u8]) {
    let split = data.len().min(KEY_CHARS);
    let (encoded, ciphertext) = data.split_at(split);
    let Ok(key) = AesKey::parse(&String::from_utf8_lossy(encoded)) else {
        return;
    };

    let _ = crypto::decrypt(&key, &STANDARD.encode(ciphertext));
}

fn round_trip(key: &AesKey, data: &[u8]) {
    let split = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
    let (app_id, message) = data.split_at(split);
    let app_id = String::from_utf8_lossy(app_id);

    let encrypted = crypto::encrypt(key, message, &app_id, &[7; 16]);
    let decrypted = crypto::decrypt(key, &encrypted);

    let Ok(decrypted) = decrypted else {
        panic!("own ciphertext refused: {decrypted:?}");
    };
    assert_eq!(decrypted.message, message);
    assert_eq!(decrypted.app_id, app_id);
}
