//! `card/qrcode/create`: a QR code that hands out one card or several, tagged with a
//! channel value that comes back in the `user_get_card` event
//! (`Cards_and_Offer/Distributing_Coupons_Vouchers_and_Cards.html#0`).

use serde::{Deserialize, Serialize};

use super::client::Client;
use super::error::ApiError;

const QRCODE_ENDPOINT: &str = "card/qrcode/create";

/// The range WeChat accepts for `expire_seconds`; without it a code lasts 365 days.
const QRCODE_EXPIRE_SECONDS: std::ops::RangeInclusive<u32> = 60..=1800;

/// A claim QR code to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QrCodeRequest {
    pub cards: QrCards,
    /// Lifetime in seconds, 60 to 1800; `None` means 365 days.
    pub expire_seconds: Option<u32>,
}

/// What the code hands out: `QR_CARD` or `QR_MULTIPLE_CARD`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QrCards {
    Single(QrCard),
    Multiple(Vec<QrCard>),
}

/// One card a QR code hands out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QrCard {
    pub card_id: String,
    /// Required for custom-code cards; leave out otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Required for cards bound to an openid: only that user can claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
    /// Each scan hands out one random code and the QR works once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_unique_code: Option<bool>,
    /// Legacy integer channel value, echoed as `OuterId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer_id: Option<u64>,
    /// Channel value, echoed as `OuterStr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer_str: Option<String>,
}

/// A created QR code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrCode {
    /// Exchanged for the image at `https://mp.weixin.qq.com/cgi-bin/showqrcode`.
    pub ticket: String,
    /// The QR payload, to render the code yourself.
    #[serde(default)]
    pub url: String,
    /// A link to the image.
    #[serde(default)]
    pub show_qrcode_url: String,
    #[serde(default)]
    pub expire_seconds: Option<u64>,
}

#[derive(Serialize)]
struct QrCodeBody<'a> {
    action_name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expire_seconds: Option<u32>,
    action_info: ActionInfo<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum ActionInfo<'a> {
    Card(&'a QrCard),
    MultipleCard { card_list: &'a [QrCard] },
}

impl Client {
    /// Creates a claim QR code for one card or several.
    pub async fn create_card_qrcode(&self, request: &QrCodeRequest) -> Result<QrCode, ApiError> {
        let body = qrcode_body(request)?;

        self.call(QRCODE_ENDPOINT, &body).await
    }
}

fn qrcode_body(request: &QrCodeRequest) -> Result<QrCodeBody<'_>, ApiError> {
    let invalid = |message: &str| ApiError::InvalidRequest {
        endpoint: QRCODE_ENDPOINT,
        message: message.to_string(),
    };

    if let Some(seconds) = request.expire_seconds {
        if !QRCODE_EXPIRE_SECONDS.contains(&seconds) {
            return Err(invalid("expire_seconds must be between 60 and 1800"));
        }
    }
    let cards = match &request.cards {
        QrCards::Single(card) => std::slice::from_ref(card),
        QrCards::Multiple(cards) => cards.as_slice(),
    };
    if cards.is_empty() {
        return Err(invalid("needs at least one card"));
    }
    if cards.iter().any(|card| card.card_id.trim().is_empty()) {
        return Err(invalid("every card needs a card_id"));
    }

    let (action_name, action_info) = match &request.cards {
        QrCards::Single(card) => ("QR_CARD", ActionInfo::Card(card)),
        QrCards::Multiple(cards) => (
            "QR_MULTIPLE_CARD",
            ActionInfo::MultipleCard { card_list: cards },
        ),
    };
    Ok(QrCodeBody {
        action_name,
        expire_seconds: request.expire_seconds,
        action_info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lifetime_outside_what_wechat_accepts_is_refused() {
        let request = QrCodeRequest {
            cards: QrCards::Single(QrCard {
                card_id: "p1".to_string(),
                ..QrCard::default()
            }),
            expire_seconds: Some(30),
        };

        let err = qrcode_body(&request).err().unwrap();

        assert!(err.to_string().contains("between 60 and 1800"), "{err}");
    }
}
