//! The published AES vectors, their negative cases and a no-panic sweep over garbage.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::*;
use crate::wechat::{fixture, signature, xml};

fn key_of(config: &Value) -> AesKey {
    AesKey::parse(fixture::str(config, "encoding_aes_key")).expect("fixture key parses")
}

/// CBC without any padding, to build plaintexts that [`encrypt`] would never make.
fn encrypt_raw(key: &AesKey, mut plain: Vec<u8>) -> String {
    let mut cipher = Aes256CbcEnc::new(&key.0.into(), &key.iv().into());
    for block in plain.chunks_exact_mut(AES_BLOCK_BYTES) {
        cipher.encrypt_block_mut(block.into());
    }
    STANDARD.encode(plain)
}

fn sample_key() -> AesKey {
    AesKey::parse("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").expect("sample key parses")
}

#[test]
fn every_published_key_decodes_even_with_non_canonical_trailing_bits() {
    let file = fixture::json("crypto/encoding_aes_key_decoding.json");

    for entry in file["keys"].as_array().into_iter().flatten() {
        let key = key_of(entry);

        assert_eq!(hex::encode(key.0), fixture::str(entry, "aes_key_hex"));
        assert_eq!(hex::encode(key.iv()), fixture::str(entry, "iv_hex"));
    }
}

#[test]
fn malformed_keys_are_refused_with_the_config_message() {
    let bad = [
        "",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF=",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDE-_",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDé",
        "abcdefghijklmnopqrstuvwxyz 123456789ABCDEFG",
    ];

    for encoded in bad {
        let error = AesKey::parse(encoded).expect_err(encoded);

        assert_eq!(error, CryptoError::BadKey, "{encoded}");
        assert_eq!(
            error.to_string(),
            "encoding_aes_key must be 43 characters of base64"
        );
    }
}

#[test]
fn a_key_never_shows_in_debug_output() {
    let key = sample_key();

    let shown = format!("{key:?} {:?}", Keyring::new(key.clone(), Some(key.clone())));

    assert!(!shown.contains("69b71d79"), "{shown}");
    assert!(!shown.contains("abcdefghij"), "{shown}");
    assert!(!shown.contains("105"), "{shown}");
}

#[test]
fn the_official_secure_mode_example_verifies_and_decrypts() {
    let file = fixture::json("crypto/official_msgpush_secure_mode.json");
    let config = &file["config"];
    let inbound = &file["inbound"];
    let query = &inbound["query"];
    let encrypted = fixture::str(&inbound["body_json"], "Encrypt");
    let expected = &inbound["expected_decryption"];
    let parts = [
        fixture::str(config, "token"),
        fixture::str(query, "timestamp"),
        fixture::str(query, "nonce"),
        encrypted,
    ];

    let decrypted = decrypt(&key_of(config), encrypted).expect("decrypts");

    assert!(signature::verify(
        fixture::str(query, "msg_signature"),
        &parts
    ));
    assert_eq!(decrypted.message, fixture::str(expected, "msg").as_bytes());
    assert_eq!(decrypted.app_id, fixture::str(expected, "appid"));
}

#[test]
fn the_official_reply_example_encrypts_to_the_published_ciphertext() {
    let file = fixture::json("crypto/official_msgpush_secure_mode.json");
    let reply = &file["outbound_reply"];
    let key = key_of(&file["config"]);

    let encrypted = encrypt(
        &key,
        fixture::str(reply, "plaintext").as_bytes(),
        fixture::str(reply, "appid"),
        &fixture::random(reply),
    );

    assert_eq!(encrypted, fixture::str(reply, "expected_encrypt"));
}

#[test]
fn the_tencent_compatible_mode_sample_verifies_and_decrypts() {
    let file = fixture::json("crypto/tencent_sample_compat_mode.json");
    let config = &file["config"];
    let query = &file["query"];
    let body = xml::parse_children(fixture::str(&file, "post_body_xml").as_bytes())
        .expect("the sample body parses");
    let encrypted = &body["Encrypt"];
    let parts = [
        fixture::str(config, "token"),
        fixture::str(query, "timestamp"),
        fixture::str(query, "nonce"),
        encrypted,
    ];
    let expected = &file["expected_decryption"];

    let decrypted = decrypt(&key_of(config), encrypted).expect("decrypts");

    assert!(signature::verify(
        fixture::str(&file, "expected_msg_signature"),
        &parts
    ));
    assert_eq!(decrypted.message, fixture::str(expected, "msg").as_bytes());
    assert_eq!(decrypted.app_id, fixture::str(expected, "appid"));
}

#[test]
fn fixed_random_vectors_encrypt_exactly_and_decrypt_back() {
    for name in [
        "tencent_sample_fixed_random.json",
        "derived_padding_edges.json",
    ] {
        let file = fixture::json(&format!("crypto/{name}"));
        let config = &file["config"];
        let key = key_of(config);
        let token = fixture::str(config, "token");

        for vector in file["vectors"].as_array().into_iter().flatten() {
            let plaintext = fixture::str(vector, "plaintext");
            let app_id = config["appid"]
                .as_str()
                .or(vector["appid"].as_str())
                .unwrap_or("");
            let expected = fixture::str(vector, "expected_encrypt");
            let signed = vector["derived_msg_signature_for_config_timestamp_nonce"]
                .as_str()
                .or(vector["expected_msg_signature_ts_1409304348_nonce_xxxxxx"].as_str());

            let encrypted = encrypt(&key, plaintext.as_bytes(), app_id, &fixture::random(vector));
            let decrypted = decrypt(&key, &encrypted).expect("round trip");

            assert_eq!(encrypted, expected, "{name} {plaintext:?}");
            if let (Some(full), Some(pad)) =
                (vector["full_len"].as_u64(), vector["pad_byte"].as_u64())
            {
                let ciphertext = STANDARD.decode(&encrypted).expect("valid base64");
                assert_eq!(ciphertext.len() as u64, full + pad, "{name} {plaintext:?}");
            }
            assert_eq!(decrypted.message, plaintext.as_bytes());
            assert_eq!(decrypted.app_id, app_id);
            let signature = signature::sign(&[token, "1409304348", "xxxxxx", expected]);
            assert_eq!(Some(signature.as_str()), signed, "{name} {plaintext:?}");
        }
    }
}

#[test]
fn the_wxjava_negative_signature_is_refused() {
    let file = fixture::json("crypto/tencent_sample_fixed_random.json");
    let config = &file["config"];
    let vector = &file["vectors"][0];
    let parts = ["token", "timestamp", "nonce"].map(|k| fixture::str(config, k));
    let parts = [
        parts[0],
        parts[1],
        parts[2],
        fixture::str(vector, "expected_encrypt"),
    ];

    let accepted = signature::verify(
        fixture::str(&file["negative_case"], "msg_signature"),
        &parts,
    );

    assert!(!accepted);
}

#[test]
fn the_wecom_echostr_and_message_decrypt_with_the_same_primitives() {
    let file = fixture::json("crypto/wechatpy_work_crypto.json");
    let config = &file["config"];
    let keyring = Keyring::new(key_of(config), None);
    let corp_id = fixture::str(config, "receiver_id");
    let token = fixture::str(config, "token");
    let echo = &file["check_signature_echostr"];
    let echostr = fixture::str(echo, "echostr");
    let message = &file["decrypt_message"];
    let body = xml::parse_children(fixture::str(message, "post_body_xml").as_bytes())
        .expect("the sample body parses");
    let signed = |t: &Value, nonce: &str, encrypted: &str| {
        signature::verify(
            fixture::str(t, "msg_signature"),
            &[token, fixture::str(t, "timestamp"), nonce, encrypted],
        )
    };

    let opened_echo = keyring.open(echostr, corp_id).expect("echostr opens");
    let opened_message = keyring
        .open(&body["Encrypt"], corp_id)
        .expect("message opens");

    assert!(signed(echo, fixture::str(echo, "nonce"), echostr));
    assert!(!signed(
        echo,
        fixture::str(&echo["negative_case"], "nonce"),
        echostr
    ));
    assert_eq!(
        opened_echo.message,
        fixture::str(echo, "expected_plain_echostr").as_bytes()
    );
    assert!(signed(
        message,
        fixture::str(message, "nonce"),
        &body["Encrypt"]
    ));
    assert_eq!(
        opened_message.message,
        fixture::str(message, "expected_msg").as_bytes()
    );
}

#[test]
fn a_message_for_another_app_id_is_refused() {
    let key = sample_key();
    let encrypted = encrypt(&key, b"<xml/>", "wx_other_account", &[7; 16]);

    let opened = Keyring::new(key, None).open(&encrypted, "wx_our_account");

    assert_eq!(opened.err(), Some(CryptoError::AppIdMismatch));
    assert!(CryptoError::AppIdMismatch.to_string().contains("app_id"));
}

#[test]
fn base64_and_length_errors_come_before_any_decryption() {
    let key = sample_key();
    let valid = encrypt(&key, b"hello", "wx", &[1; 16]);
    let mut bytes = STANDARD.decode(&valid).expect("valid base64");
    bytes.truncate(17);

    let empty = decrypt(&key, "");
    let not_base64 = decrypt(&key, "not base64!");
    let odd_length = decrypt(&key, &STANDARD.encode(&bytes));

    assert_eq!(empty.err(), Some(CryptoError::Length { len: 0 }));
    assert!(matches!(not_base64, Err(CryptoError::Base64(_))));
    assert_eq!(odd_length.err(), Some(CryptoError::Length { len: 17 }));
}

#[test]
fn a_truncated_ciphertext_is_refused() {
    let key = sample_key();
    let valid = encrypt(&key, &[b'x'; 100], "wx", &[1; 16]);
    let bytes = STANDARD.decode(&valid).expect("valid base64");

    let refused: Vec<bool> = (1..bytes.len() / 16)
        .map(|blocks| decrypt(&key, &STANDARD.encode(&bytes[..blocks * 16])).is_err())
        .collect();

    assert!(refused.iter().all(|&r| r), "{refused:?}");
}

#[test]
fn bad_padding_is_refused() {
    let key = sample_key();
    let mut zero = vec![b'a'; 64];
    zero[63] = 0;
    let mut too_big = vec![b'a'; 64];
    too_big[63] = 33;
    let mut uneven = vec![3; 64];
    uneven[62] = 2;
    let mut longer_than_data = vec![b'a'; 16];
    longer_than_data[15] = 20;

    for plain in [zero, too_big, uneven, longer_than_data] {
        let last = plain[plain.len() - 1];

        let decrypted = decrypt(&key, &encrypt_raw(&key, plain));

        assert_eq!(
            decrypted.err(),
            Some(CryptoError::Padding),
            "pad byte {last}"
        );
    }
}

#[test]
fn lengths_that_do_not_fit_the_plaintext_are_refused() {
    let key = sample_key();
    let mut huge = vec![b'r'; 16];
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    huge.extend_from_slice(&[b'm'; 11]);
    huge.push(1);
    let mut short = vec![b'r'; 19];
    short.extend_from_slice(&[13; 13]);
    let mut not_utf8 = vec![b'r'; 16];
    not_utf8.extend_from_slice(&[0, 0, 0, 2, b'm', b'm', 0xff, 0xfe]);
    not_utf8.extend_from_slice(&[8; 8]);

    let huge = decrypt(&key, &encrypt_raw(&key, huge));
    let short = decrypt(&key, &encrypt_raw(&key, short));
    let not_utf8 = decrypt(&key, &encrypt_raw(&key, not_utf8));

    assert_eq!(huge.err(), Some(CryptoError::Buffer));
    assert_eq!(short.err(), Some(CryptoError::Buffer));
    assert_eq!(not_utf8.err(), Some(CryptoError::Utf8));
}

#[test]
fn the_previous_key_opens_what_the_current_one_cannot() {
    let old = sample_key();
    let new = AesKey::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").expect("valid key");
    let encrypted = encrypt(&old, b"<xml/>", "wx_app", &[9; 16]);

    let rotated = Keyring::new(new.clone(), Some(old.clone())).open(&encrypted, "wx_app");
    let without_previous = Keyring::new(new.clone(), None).open(&encrypted, "wx_app");
    let current_first = Keyring::new(old.clone(), Some(new)).open(&encrypted, "wx_app");

    let rotated = rotated.expect("the previous key opens it");
    assert_eq!(rotated.key, old);
    assert_eq!(rotated.message, b"<xml/>");
    assert!(without_previous.is_err());
    assert_eq!(current_first.expect("the current key opens it").key, old);
}

#[test]
fn an_app_id_mismatch_under_the_current_key_falls_back_to_the_previous_key() {
    let key = sample_key();
    let encrypted = encrypt(&key, b"<xml/>", "wx_app", &[9; 16]);
    let other = AesKey::parse("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR").expect("valid key");

    let both_fail = Keyring::new(key.clone(), Some(other)).open(&encrypted, "wx_else");

    assert_eq!(both_fail.err(), Some(CryptoError::AppIdMismatch));
}

#[test]
fn garbage_and_mutated_ciphertexts_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let key = sample_key();
    let keyring = Keyring::new(key.clone(), Some(sample_key()));
    let valid = STANDARD
        .decode(encrypt(&key, &[b'x'; 300], "wx_app", &[3; 16]))
        .expect("valid base64");
    let mut opened = 0;

    for round in 0..3000 {
        let mut bytes = match round % 3 {
            0 => (0..rng.gen_range(0..200))
                .map(|_| rng.gen())
                .collect::<Vec<u8>>(),
            _ => valid.clone(),
        };
        if round % 3 == 1 && !bytes.is_empty() {
            let at = rng.gen_range(0..bytes.len());
            bytes[at] ^= rng.gen_range(1..=255);
        }
        if round % 3 == 2 {
            bytes.truncate(rng.gen_range(0..=valid.len()));
        }
        let text = STANDARD.encode(&bytes);
        let raw: String = (0..rng.gen_range(0..80))
            .map(|_| rng.gen::<char>())
            .collect();

        opened += usize::from(keyring.open(&text, "wx_app").is_ok());
        let _ = decrypt(&key, &raw);
        let _ = AesKey::parse(&raw);
    }

    assert!(opened < 3000, "garbage must not all open");
}
