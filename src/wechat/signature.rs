//! SHA-1 "sorted join" signatures: the callback `signature`, the body's `msg_signature`,
//! the `MsgSignature` of an encrypted reply and the card_ext signature.

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// Lowercase hex SHA-1 of `parts` sorted byte-wise and joined without a separator.
///
/// Every WeChat signature is this one function over a different list of values: token,
/// timestamp and nonce for `signature`, plus the `Encrypt` text for `msg_signature`,
/// six card values for card_ext. Values are hashed exactly as received.
pub fn sign(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();

    let mut hasher = Sha1::new();
    for part in sorted {
        hasher.update(part.as_bytes());
    }

    hex::encode(hasher.finalize())
}

/// Whether `signature` is [`sign`]`(parts)`, compared in constant time.
///
/// WeChat sends 40 lowercase hex digits; anything else (upper case, a wrong length,
/// arbitrary bytes) is simply not equal.
pub fn verify(signature: &str, parts: &[&str]) -> bool {
    let expected = sign(parts);

    expected.as_bytes().ct_eq(signature.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::fixture;

    #[test]
    fn plain_signatures_match_every_published_vector() {
        let file = fixture::json("crypto/signature_plain.json");

        for vector in file["vectors"].as_array().into_iter().flatten() {
            let parts = [
                fixture::str(vector, "token"),
                fixture::str(vector, "timestamp"),
                fixture::str(vector, "nonce"),
            ];
            let expected = fixture::str(vector, "expected_signature");

            let signature = sign(&parts);

            assert_eq!(signature, expected, "{}", vector["name"]);
            assert!(verify(expected, &parts), "{}", vector["name"]);
        }
    }

    #[test]
    fn a_signature_one_digit_off_is_refused() {
        let file = fixture::json("crypto/signature_plain.json");
        let vector = fixture::find(&file["vectors"], "name", "wechatpy_check_signature_ok");
        let parts = [
            fixture::str(vector, "token"),
            fixture::str(vector, "timestamp"),
            fixture::str(vector, "nonce"),
        ];
        let wrong = fixture::str(&vector["negative_case"], "signature");

        let accepted = verify(wrong, &parts);

        assert!(!accepted);
    }

    #[test]
    fn msg_signatures_and_generic_joins_match_published_vectors() {
        let file = fixture::json("crypto/signature_msg.json");

        let keys = ["token", "timestamp", "nonce", "encrypt"];

        for vector in file["vectors"].as_array().into_iter().flatten() {
            let parts = keys.map(|k| fixture::str(vector, k));
            assert_eq!(sign(&parts), fixture::str(vector, "expected_msg_signature"));
        }
        for vector in file["generic_sorted_sha1"].as_array().into_iter().flatten() {
            let parts: Vec<&str> = fixture::strs(&vector["parts"]);
            assert_eq!(sign(&parts), fixture::str(vector, "expected"));
        }
    }

    #[test]
    fn card_ext_signatures_sort_six_values_including_empty_ones() {
        let file = fixture::json("crypto/card_ext_signature.json");
        let keys = [
            "api_ticket",
            "timestamp",
            "nonce_str",
            "card_id",
            "code",
            "openid",
        ];

        for vector in file["vectors"].as_array().into_iter().flatten() {
            let parts = keys.map(|k| fixture::str(vector, k));

            let signature = sign(&parts);

            assert_eq!(signature, fixture::str(vector, "expected_signature"));
        }
    }

    #[test]
    fn verify_refuses_upper_case_short_long_and_garbage_signatures() {
        let parts = ["AAAAA", "1714036504", "1514711492"];
        let good = "f464b24fc39322e44b38aa78f5edd27bd1441696";
        let garbage = [
            good.to_uppercase(),
            good[..39].to_string(),
            format!("{good}0"),
            String::new(),
            "\u{0}\u{ffff}é".repeat(20),
        ];

        let accepted: Vec<bool> = garbage.iter().map(|s| verify(s, &parts)).collect();

        assert!(verify(good, &parts));
        assert_eq!(accepted, [false; 5]);
    }

    #[test]
    fn the_order_of_the_parts_does_not_matter() {
        let forward = sign(&["b", "a", "c"]);

        let backward = sign(&["c", "b", "a"]);

        assert_eq!(forward, backward);
        assert_eq!(forward, sign(&["abc"]));
    }
}
