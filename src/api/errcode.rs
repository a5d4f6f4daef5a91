//! WeChat's errcodes: what each one means and what a caller should do about it.
//!
//! Sources: the global return-code page, the card error-code page
//! (`/doc/offiaccount/Cards_and_Offer/Card_coupons_error_code.html`) and the
//! customer-service and template-message pages on developers.weixin.qq.com.

use serde::{Deserialize, Serialize};

/// What a caller should do after a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorClass {
    /// Nothing happened and the same call may succeed later: system busy, minute quota,
    /// a server error, a connection that never carried the request.
    RetryLater,
    /// The access token was rejected; the client already refreshed and retried once.
    RefreshToken,
    /// This call will never succeed as it is (closed reply window, unknown code, bad
    /// openid, malformed message): drop it and record why.
    Permanent,
    /// The account or its settings need a person: wrong secret, IP whitelist, API not
    /// authorized, daily quota. Every call fails until someone acts.
    Configuration,
    /// The request may have reached WeChat and been acted on (a timeout or a dropped
    /// connection after sending): never resend automatically.
    UnknownOutcome,
}

use ErrorClass::{Configuration, Permanent, RefreshToken, RetryLater};

/// Errcodes with a known meaning, and the class each one belongs to.
const KNOWN_ERRCODES: &[(i64, ErrorClass, &str)] = &[
    (-1, RetryLater, "system busy"),
    (45011, RetryLater, "minute quota reached, retry next minute"),
    (
        40001,
        RefreshToken,
        "access token invalid or not the latest",
    ),
    (40014, RefreshToken, "invalid access token"),
    (42001, RefreshToken, "access token expired"),
    (40002, Configuration, "invalid grant_type"),
    (40013, Configuration, "invalid appid"),
    (40125, Configuration, "invalid appsecret"),
    (
        40164,
        Configuration,
        "caller ip is not on the account's whitelist",
    ),
    (40243, Configuration, "appsecret frozen"),
    (41002, Configuration, "missing appid"),
    (41004, Configuration, "missing appsecret"),
    (45009, Configuration, "daily api quota reached"),
    (48001, Configuration, "api not authorized for this account"),
    (48004, Configuration, "api banned for violations"),
    (43009, Configuration, "no custom-code permission"),
    (43010, Configuration, "no stored-value permission"),
    (45030, Configuration, "no api permission for this card"),
    (41001, Permanent, "missing access token"),
    (40003, Permanent, "invalid openid"),
    (40004, Permanent, "invalid media type"),
    (40007, Permanent, "invalid media id"),
    (40008, Permanent, "invalid message type"),
    (
        40033,
        Permanent,
        "invalid characters in the request (\\u escapes)",
    ),
    (40037, Permanent, "invalid template id"),
    (44002, Permanent, "empty post body"),
    (45002, Permanent, "content too long"),
    (45008, Permanent, "too many articles"),
    (47001, Permanent, "request body is not valid json"),
    (47003, Permanent, "invalid template data"),
    (43004, Permanent, "recipient does not follow the account"),
    (43019, Permanent, "recipient blacklisted the account"),
    (43101, Permanent, "user refuses to receive this message"),
    (45015, Permanent, "reply window passed or user unsubscribed"),
    (45047, Permanent, "customer-service message quota used up"),
    (45072, Permanent, "invalid typing command"),
    (
        45080,
        Permanent,
        "typing needs an interaction in the last 30 seconds",
    ),
    (45081, Permanent, "already typing"),
    (45162, Permanent, "invalid message type for this message"),
    (48002, Permanent, "user blocks messages from the account"),
    (50001, Permanent, "user has not authorized the api"),
    (50002, Permanent, "user restricted"),
    (40053, Permanent, "invalid action_info"),
    (40056, Permanent, "code not found"),
    (40071, Permanent, "invalid card type"),
    (40072, Permanent, "invalid code type"),
    (40073, Permanent, "invalid card id"),
    (40075, Permanent, "invalid encrypted code"),
    (40078, Permanent, "invalid card status"),
    (40079, Permanent, "outside the card's validity"),
    (40080, Permanent, "invalid card_ext"),
    (40099, Permanent, "code already redeemed"),
    (40100, Permanent, "invalid time range"),
    (40116, Permanent, "invalid code"),
    (40122, Permanent, "invalid stock quantity"),
    (40124, Permanent, "member card custom field over limit"),
    (40127, Permanent, "card deleted by the user or being gifted"),
    (41011, Permanent, "missing required field"),
    (41012, Permanent, "missing card_id"),
    (45021, Permanent, "field too long"),
    (45031, Permanent, "stock is zero"),
    (45033, Permanent, "user reached the card's claim limit"),
    (61500, Permanent, "invalid date format"),
    (61501, Permanent, "invalid date range"),
];

/// The 895xx codes: the account must confirm an IP risk check in the admin console.
const IP_RISK_ERRCODES: std::ops::RangeInclusive<i64> = 89500..=89599;

/// The class of a non-zero errcode answered by an API call.
pub fn classify_errcode(errcode: i64) -> ErrorClass {
    if IP_RISK_ERRCODES.contains(&errcode) {
        return Configuration;
    }

    // An errcode we do not know is Permanent: the one unsafe answer for a send is to
    // retry it (it could go out twice or hammer a limit), and a person reads the
    // dead letter with its errmsg kept verbatim.
    KNOWN_ERRCODES
        .iter()
        .find(|(code, _, _)| *code == errcode)
        .map_or(Permanent, |(_, class, _)| *class)
}

/// The class of a non-zero errcode answered by a token fetch.
///
/// At the token endpoint 40001 means a wrong AppSecret, not a stale token, and any
/// unknown failure leaves the whole client unusable, so a person must look.
pub fn classify_token_errcode(errcode: i64) -> ErrorClass {
    match classify_errcode(errcode) {
        RetryLater => RetryLater,
        _ => Configuration,
    }
}

/// Our short description of an errcode, for logs and dead letters.
pub fn describe_errcode(errcode: i64) -> Option<&'static str> {
    if IP_RISK_ERRCODES.contains(&errcode) {
        return Some("ip risk check pending: confirm it in the admin console");
    }
    KNOWN_ERRCODES
        .iter()
        .find(|(code, _, _)| *code == errcode)
        .map(|(_, _, meaning)| *meaning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_errcode_is_listed_once() {
        let mut codes: Vec<i64> = KNOWN_ERRCODES.iter().map(|(code, _, _)| *code).collect();

        codes.sort_unstable();
        codes.dedup();

        assert_eq!(codes.len(), KNOWN_ERRCODES.len());
    }

    #[test]
    fn reply_window_and_quota_errors_are_permanent() {
        for code in [45015, 45047, 43004, 43019, 48002, 45162, 40003] {
            assert_eq!(classify_errcode(code), Permanent, "{code}");
        }
    }

    #[test]
    fn ip_risk_codes_need_a_person() {
        assert_eq!(classify_errcode(89503), Configuration);
        assert!(describe_errcode(89507).is_some());
    }

    #[test]
    fn an_unknown_errcode_is_permanent() {
        assert_eq!(classify_errcode(99999), Permanent);
        assert_eq!(describe_errcode(99999), None);
    }

    #[test]
    fn a_40001_at_the_token_endpoint_is_a_configuration_error() {
        assert_eq!(classify_errcode(40001), RefreshToken);
        assert_eq!(classify_token_errcode(40001), Configuration);
        assert_eq!(classify_token_errcode(-1), RetryLater);
    }
}
