//! Access tokens as WeChat issues them: `cgi-bin/token` replaces its token on every
//! fetch, `cgi-bin/stable_token` hands out the live one unless forced, and a replaced
//! token keeps working for five minutes (PROTOCOL §3.1).

use std::collections::BTreeMap;

use rand::Rng;

use super::Failure;

/// How long a replaced token is still accepted, in seconds.
const REPLACED_GRACE_SECS: i64 = 300;

/// Length of an issued token; WeChat's are long opaque strings.
const TOKEN_LEN: usize = 64;

/// Which endpoint issued a token: their tokens are kept apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Issuer {
    Classic,
    Stable,
}

#[derive(Debug, Clone)]
struct Issued {
    issuer: Issuer,
    expires_at: i64,
    /// When a newer token of the same issuer replaced this one.
    replaced_at: Option<i64>,
}

/// The account's tokens.
#[derive(Debug)]
pub(crate) struct Tokens {
    lifetime_secs: i64,
    issued: BTreeMap<String, Issued>,
}

/// A token handed out, with its remaining life.
#[derive(Debug)]
pub(crate) struct Grant {
    pub(crate) access_token: String,
    pub(crate) expires_in: i64,
}

impl Tokens {
    pub(crate) fn new(lifetime_secs: u64) -> Tokens {
        Tokens {
            lifetime_secs: lifetime_secs as i64,
            issued: BTreeMap::new(),
        }
    }

    /// A token from `issuer`: the live one for a stable fetch that is not forced, a new
    /// one otherwise, replacing the issuer's previous token.
    pub(crate) fn grant(&mut self, issuer: Issuer, force: bool, now: i64) -> Grant {
        self.issued
            .retain(|_, token| token.expires_at > now - REPLACED_GRACE_SECS);
        let live = self.issued.iter().find(|(_, token)| {
            token.issuer == issuer && token.replaced_at.is_none() && token.expires_at > now
        });
        if let (Issuer::Stable, false, Some((value, token))) = (issuer, force, live) {
            return Grant {
                access_token: value.clone(),
                expires_in: token.expires_at - now,
            };
        }

        for token in self.issued.values_mut() {
            if token.issuer == issuer && token.replaced_at.is_none() {
                token.replaced_at = Some(now);
            }
        }
        let value = new_token_value();
        self.issued.insert(
            value.clone(),
            Issued {
                issuer,
                expires_at: now + self.lifetime_secs,
                replaced_at: None,
            },
        );
        Grant {
            access_token: value,
            expires_in: self.lifetime_secs,
        }
    }

    /// Whether `token` may call the API: 41001 when missing, 42001 when expired,
    /// 40001 when unknown or replaced more than the grace period ago.
    pub(crate) fn check(&self, token: Option<&str>, now: i64) -> Result<(), Failure> {
        let token = token.filter(|token| !token.is_empty());
        let Some(token) = token else {
            return Err(Failure::new(41001, "access_token missing"));
        };
        let Some(issued) = self.issued.get(token) else {
            return Err(Failure::new(
                40001,
                "invalid credential, access_token is invalid or not latest",
            ));
        };
        if now >= issued.expires_at {
            return Err(Failure::new(42001, "access_token expired"));
        }
        match issued.replaced_at {
            Some(at) if now >= at + REPLACED_GRACE_SECS => Err(Failure::new(
                40001,
                "invalid credential, access_token is invalid or not latest",
            )),
            _ => Ok(()),
        }
    }
}

fn new_token_value() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut rng = rand::thread_rng();
    (0..TOKEN_LEN)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stable_fetch_hands_out_the_live_token_until_forced() {
        let mut tokens = Tokens::new(7200);

        let first = tokens.grant(Issuer::Stable, false, 1_000);
        let again = tokens.grant(Issuer::Stable, false, 1_100);
        let forced = tokens.grant(Issuer::Stable, true, 1_200);

        assert_eq!(first.access_token, again.access_token);
        assert_eq!(again.expires_in, 7100);
        assert_ne!(forced.access_token, first.access_token);
    }

    #[test]
    fn a_replaced_token_works_five_minutes_then_fails_with_40001() {
        let mut tokens = Tokens::new(7200);
        let old = tokens.grant(Issuer::Classic, false, 1_000).access_token;

        tokens.grant(Issuer::Classic, false, 2_000);

        tokens.check(Some(&old), 2_299).unwrap();
        assert_eq!(tokens.check(Some(&old), 2_300).unwrap_err().errcode, 40001);
    }

    #[test]
    fn an_expired_token_fails_with_42001_and_a_missing_one_with_41001() {
        let mut tokens = Tokens::new(60);
        let token = tokens.grant(Issuer::Stable, false, 1_000).access_token;

        assert_eq!(
            tokens.check(Some(&token), 1_060).unwrap_err().errcode,
            42001
        );
        assert_eq!(tokens.check(None, 1_000).unwrap_err().errcode, 41001);
        assert_eq!(
            tokens.check(Some("nope"), 1_000).unwrap_err().errcode,
            40001
        );
    }
}
