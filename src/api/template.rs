//! Template messages (`message/template/send`), which reach a follower outside the
//! customer-service window (`/doc/offiaccount/Message_Management/
//! Template_Message_Interface.html`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::card::require;
use super::client::Client;
use super::error::ApiError;

const TEMPLATE_SEND_ENDPOINT: &str = "cgi-bin/message/template/send";

/// A template message, serialized as the body WeChat takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateMessage {
    pub touser: String,
    pub template_id: String,
    /// The page opened on tap; ignored by WeChat when `miniprogram` opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miniprogram: Option<MiniProgramLink>,
    /// An id WeChat uses to drop a repeated send of the same message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    /// The template's fields by key (`first`, `keyword1`, `remark`, ...).
    pub data: BTreeMap<String, TemplateField>,
}

/// A mini program page the message opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiniProgramLink {
    pub appid: String,
    pub pagepath: String,
}

/// One field's text and optional colour (`#173177`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateField {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

impl TemplateField {
    /// A field in the template's default colour.
    pub fn new(value: impl Into<String>) -> Self {
        TemplateField {
            value: value.into(),
            color: None,
        }
    }
}

#[derive(Deserialize)]
struct TemplateAnswer {
    msgid: i64,
}

impl Client {
    /// Sends a template message and answers WeChat's `msgid` for it; the delivery
    /// result arrives later as a `TEMPLATESENDJOBFINISH` event with that id.
    pub async fn send_template(&self, message: &TemplateMessage) -> Result<i64, ApiError> {
        require(TEMPLATE_SEND_ENDPOINT, "touser", &message.touser)?;
        require(TEMPLATE_SEND_ENDPOINT, "template_id", &message.template_id)?;

        let answer: TemplateAnswer = self.call(TEMPLATE_SEND_ENDPOINT, message).await?;
        Ok(answer.msgid)
    }
}
