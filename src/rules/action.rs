//! What a rule may choose to send: customer-service messages and passive replies.
//! Rules only collect these; the worker stores them in the outbox and the dispatcher sends.

use serde::{Deserialize, Serialize};

/// One message a rule chose to send to one user, through the customer-service API.
///
/// Stored in the durable outbox, so it serialises and compares exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// The rule (file stem) that chose it, for the decision log and statistics.
    pub rule: String,
    /// The recipient's OpenID.
    pub openid: String,
    /// What to send.
    pub message: Message,
    /// What to do when the user has no open customer-service window; `None` leaves it
    /// to `[dispatcher] when_window_closed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when_closed: Option<WhenClosed>,
    /// The template message to send instead when the window is closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<TemplateFallback>,
}

/// What to do with a customer-service message when the user has no open window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WhenClosed {
    /// Wait until the user opens a window, up to `dispatcher.hold_max_secs`.
    #[default]
    Hold,
    /// Send the template message the rule supplied instead.
    Template,
    /// Drop it, recording why.
    Drop,
}

/// A template message a rule supplies for when the window is closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateFallback {
    pub template_id: String,
    /// `{"key": {"value": "...", "color": "#rrggbb"?}}` as WeChat expects it.
    pub data: serde_json::Value,
    pub url: Option<String>,
}

/// The body of a customer-service message, one variant per `msgtype` cardbot sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// `msgtype: text`.
    Text { content: String },
    /// `msgtype: wxcard`: a card the user can add from the chat.
    Card { card_id: String },
    /// `msgtype: news`: one external-link article.
    News { article: Article },
    /// `msgtype: image`: an uploaded media id.
    Image { media_id: String },
    /// `msgtype: miniprogrampage`.
    Miniprogram {
        title: String,
        appid: String,
        pagepath: String,
        thumb_media_id: String,
    },
    /// A template message (`message/template/send`), the fallback outside the chat window.
    Template {
        template_id: String,
        /// `{"key": {"value": "...", "color": "#rrggbb"?}}` as WeChat expects it.
        data: serde_json::Value,
        url: Option<String>,
    },
}

/// One article of a news message or a passive news reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    pub title: String,
    pub description: String,
    pub url: String,
    pub picurl: String,
}

/// A passive reply: answered on WeChat's own HTTP request when the rules finish in time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The rule that chose it.
    pub rule: String,
    /// What to answer.
    pub body: ReplyBody,
}

/// The body of a passive reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReplyBody {
    Text { content: String },
    News { article: Article },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_survives_a_json_round_trip() {
        let action = Action {
            rule: "win_back".to_string(),
            openid: "oUser".to_string(),
            message: Message::Template {
                template_id: "tpl".to_string(),
                data: serde_json::json!({"first": {"value": "hi"}}),
                url: None,
            },
            when_closed: None,
            fallback: None,
        };

        let json = serde_json::to_string(&action).unwrap();
        let back: Action = serde_json::from_str(&json).unwrap();

        assert_eq!(back, action);
        assert!(json.contains("\"type\":\"template\""), "{json}");
    }
}
