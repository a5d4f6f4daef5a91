//! Card queries and redemption: a user's cards, one code's status, the merchant's
//! card list, and consuming a code. Doc pages are under
//! `developers.weixin.qq.com/doc/offiaccount/Cards_and_Offer/`.

use serde::{Deserialize, Serialize};

use super::client::Client;
use super::error::ApiError;
use super::open_enum::open_enum;

const USER_CARDS_ENDPOINT: &str = "card/user/getcardlist";
const CODE_STATUS_ENDPOINT: &str = "card/code/get";
const BATCHGET_ENDPOINT: &str = "card/batchget";
const CONSUME_ENDPOINT: &str = "card/code/consume";

/// The largest page `card/batchget` answers.
const BATCHGET_PAGE_SIZE: u32 = 50;

/// Paging stops with an error past this many pages (10 000 cards), so an endpoint
/// that keeps answering full pages cannot loop forever.
const BATCHGET_MAX_PAGES: u32 = 200;

open_enum! {
    /// A code's state in the user's card bag, `user_card_status` of `card/code/get`.
    pub enum UserCardStatus {
        Normal = "NORMAL",
        Consumed = "CONSUMED",
        Expire = "EXPIRE",
        Gifting = "GIFTING",
        GiftTimeout = "GIFT_TIMEOUT",
        Delete = "DELETE",
        Unavailable = "UNAVAILABLE",
    }
}

open_enum! {
    /// A card template's review state, in `card/batchget`'s `status_list` and
    /// `card/get`'s `base_info.status`. Sources spell the deleted state two ways; both
    /// are read, and `CARD_STATUS_DELETE` is sent, as most sources use it.
    pub enum CardStatus {
        NotVerify = "CARD_STATUS_NOT_VERIFY",
        VerifyFail = "CARD_STATUS_VERIFY_FAIL",
        VerifyOk = "CARD_STATUS_VERIFY_OK",
        Delete = "CARD_STATUS_DELETE" | "CARD_STATUS_USER_DELETE",
        Dispatch = "CARD_STATUS_DISPATCH",
    }
}

/// The cards one user holds, from `card/user/getcardlist`
/// (`Managing_Coupons_Vouchers_and_Cards.html#1`). Items carry no status: ask
/// [`Client::code_status`] for each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCards {
    #[serde(default)]
    pub card_list: Vec<UserCard>,
    /// Whether the user has usable cards shared by friends.
    #[serde(default)]
    pub has_share_card: bool,
}

/// One card in a user's card bag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCard {
    pub card_id: String,
    pub code: String,
}

/// One code's state, from `card/code/get` (`Managing_Coupons_Vouchers_and_Cards.html#0`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeStatus {
    pub card_id: String,
    /// The owner's openid.
    pub openid: String,
    pub status: UserCardStatus,
    /// Whether the code can be redeemed now.
    pub can_consume: bool,
    /// Start of this code's validity, unix seconds.
    pub begin_time: Option<i64>,
    /// End of this code's validity, unix seconds.
    pub end_time: Option<i64>,
    /// The channel value the code was claimed through, if any.
    pub outer_str: Option<String>,
}

/// A redeemed code's card and owner, from `card/code/consume`
/// (`Redeeming_a_coupon_voucher_or_card.html`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redeemed {
    pub card_id: String,
    pub openid: String,
}

#[derive(Serialize)]
struct UserCardsRequest<'a> {
    openid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    card_id: Option<&'a str>,
}

#[derive(Serialize)]
struct CodeRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    card_id: Option<&'a str>,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    check_consume: Option<bool>,
}

#[derive(Deserialize)]
struct CodeAnswer {
    card: CodeCard,
    #[serde(default)]
    openid: String,
    #[serde(default)]
    can_consume: bool,
    #[serde(default)]
    outer_str: Option<String>,
    user_card_status: UserCardStatus,
}

#[derive(Deserialize)]
struct CodeCard {
    card_id: String,
    begin_time: Option<i64>,
    end_time: Option<i64>,
}

#[derive(Serialize)]
struct BatchGetRequest<'a> {
    offset: u32,
    count: u32,
    #[serde(skip_serializing_if = "<[CardStatus]>::is_empty")]
    status_list: &'a [CardStatus],
}

#[derive(Deserialize)]
struct BatchGetAnswer {
    #[serde(default)]
    card_id_list: Vec<String>,
    #[serde(default)]
    total_num: u64,
}

#[derive(Deserialize)]
struct ConsumeAnswer {
    card: ConsumeCard,
    #[serde(default)]
    openid: String,
}

#[derive(Deserialize)]
struct ConsumeCard {
    card_id: String,
}

impl Client {
    /// The cards `openid` holds, all of them or those of `card_id`.
    pub async fn user_cards(
        &self,
        openid: &str,
        card_id: Option<&str>,
    ) -> Result<UserCards, ApiError> {
        require(USER_CARDS_ENDPOINT, "openid", openid)?;

        let request = UserCardsRequest { openid, card_id };
        self.call(USER_CARDS_ENDPOINT, &request).await
    }

    /// The state of one code, asked with `check_consume: false`: with `true` WeChat
    /// answers an error (40127, 40099) instead of the status of a consumed, deleted
    /// or gifted code. `card_id` is needed only for custom-code cards.
    pub async fn code_status(
        &self,
        card_id: Option<&str>,
        code: &str,
    ) -> Result<CodeStatus, ApiError> {
        require(CODE_STATUS_ENDPOINT, "code", code)?;

        let request = CodeRequest {
            card_id,
            code,
            check_consume: Some(false),
        };
        let answer: CodeAnswer = self.call(CODE_STATUS_ENDPOINT, &request).await?;

        Ok(CodeStatus {
            card_id: answer.card.card_id,
            openid: answer.openid,
            status: answer.user_card_status,
            can_consume: answer.can_consume,
            begin_time: answer.card.begin_time,
            end_time: answer.card.end_time,
            outer_str: answer.outer_str.filter(|text| !text.is_empty()),
        })
    }

    /// The ids of the merchant's cards in any of `statuses` (all cards when empty),
    /// from `card/batchget` (`Managing_Coupons_Vouchers_and_Cards.html#3`), all pages.
    pub async fn cards_with_status(
        &self,
        statuses: &[CardStatus],
    ) -> Result<Vec<String>, ApiError> {
        let mut card_ids = Vec::new();
        for page in 0..BATCHGET_MAX_PAGES {
            let offset = page * BATCHGET_PAGE_SIZE;
            let request = BatchGetRequest {
                offset,
                count: BATCHGET_PAGE_SIZE,
                status_list: statuses,
            };
            let answer: BatchGetAnswer = self.call(BATCHGET_ENDPOINT, &request).await?;

            // total_num may count every card of the merchant rather than the filtered
            // ones, so a short page is the surer sign of the end.
            let received = answer.card_id_list.len();
            card_ids.extend(answer.card_id_list);
            let seen = u64::from(offset) + received as u64;
            if received < BATCHGET_PAGE_SIZE as usize || seen >= answer.total_num {
                return Ok(card_ids);
            }
        }

        Err(ApiError::Decode {
            endpoint: BATCHGET_ENDPOINT,
            detail: format!("still answering full pages after {BATCHGET_MAX_PAGES} pages"),
        })
    }

    /// Redeems a code. `card_id` is needed only for custom-code cards. WeChat advises
    /// checking [`Client::code_status`] first.
    pub async fn consume_code(
        &self,
        card_id: Option<&str>,
        code: &str,
    ) -> Result<Redeemed, ApiError> {
        require(CONSUME_ENDPOINT, "code", code)?;

        let request = CodeRequest {
            card_id,
            code,
            check_consume: None,
        };
        let answer: ConsumeAnswer = self.call(CONSUME_ENDPOINT, &request).await?;

        Ok(Redeemed {
            card_id: answer.card.card_id,
            openid: answer.openid,
        })
    }
}

/// Refuses an empty required field before anything is sent.
pub(crate) fn require(endpoint: &'static str, field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::InvalidRequest {
            endpoint,
            message: format!("{field} must not be empty"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_the_deleted_status_are_read_and_one_is_written() {
        let read: Vec<CardStatus> =
            serde_json::from_str(r#"["CARD_STATUS_DELETE","CARD_STATUS_USER_DELETE"]"#).unwrap();

        assert_eq!(read, vec![CardStatus::Delete, CardStatus::Delete]);
        assert_eq!(
            serde_json::to_string(&CardStatus::Delete).unwrap(),
            r#""CARD_STATUS_DELETE""#
        );
    }

    #[test]
    fn an_unknown_status_is_kept_as_sent() {
        let status: UserCardStatus = serde_json::from_str(r#""GIFT_SUCC""#).unwrap();

        assert_eq!(status, UserCardStatus::Other("GIFT_SUCC".to_string()));
        assert_eq!(serde_json::to_string(&status).unwrap(), r#""GIFT_SUCC""#);
    }
}
