//! What the rules chose, as requests the dispatcher can send, and the decision log's
//! account of it.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::outbox::Outgoing;
use crate::api::{self, CustomMessage, TemplateField, TemplateMessage};
use crate::rules::{Action, Decision, Message, Reply, ReplyBody, WhenClosed};

/// One message to queue, with the rule that chose it.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    pub rule: String,
    pub outgoing: Outgoing,
    /// The rule's choice for a closed window; `None` takes the configured one.
    pub when_closed: Option<WhenClosed>,
    /// The rule's template message for a closed window.
    pub fallback: Option<TemplateMessage>,
}

/// The decision's actions, then the replies that must go as messages instead.
pub fn from_decision(decision: &Decision, replies: &[Reply]) -> Vec<Queued> {
    let actions = decision.actions.iter().map(from_action);
    let replies = replies
        .iter()
        .map(|reply| from_reply(&decision.openid, reply));
    actions.chain(replies).collect()
}

/// A rule's action as the request WeChat expects.
pub fn from_action(action: &Action) -> Queued {
    let openid = action.openid.clone();
    let outgoing = match &action.message {
        Message::Text { content } => custom(CustomMessage::text(openid, content.clone())),
        Message::Card { card_id } => custom(CustomMessage::wxcard(openid, card_id.clone())),
        Message::Image { media_id } => custom(CustomMessage::image(openid, media_id.clone())),
        Message::News { article } => custom(CustomMessage::news(
            openid,
            api::Article {
                title: article.title.clone(),
                description: article.description.clone(),
                url: article.url.clone(),
                picurl: article.picurl.clone(),
            },
        )),
        Message::Miniprogram {
            title,
            appid,
            pagepath,
            thumb_media_id,
        } => custom(CustomMessage::miniprogram_page(
            openid,
            api::MiniProgramPage {
                title: title.clone(),
                appid: appid.clone(),
                pagepath: pagepath.clone(),
                thumb_media_id: thumb_media_id.clone(),
            },
        )),
        Message::Template {
            template_id,
            data,
            url,
        } => Outgoing::Template {
            message: template(&openid, template_id, data, url),
        },
    };
    let fallback = action.fallback.as_ref().map(|fallback| {
        template(
            &action.openid,
            &fallback.template_id,
            &fallback.data,
            &fallback.url,
        )
    });
    Queued {
        rule: action.rule.clone(),
        outgoing,
        when_closed: action.when_closed,
        fallback,
    }
}

fn template(
    openid: &str,
    template_id: &str,
    data: &Value,
    url: &Option<String>,
) -> TemplateMessage {
    TemplateMessage {
        touser: openid.to_string(),
        template_id: template_id.to_string(),
        url: url.clone(),
        miniprogram: None,
        client_msg_id: None,
        data: template_data(data),
    }
}

/// A passive reply that missed its request, as a customer-service message.
pub fn from_reply(openid: &str, reply: &Reply) -> Queued {
    let message = match &reply.body {
        ReplyBody::Text { content } => CustomMessage::text(openid, content.clone()),
        ReplyBody::News { article } => CustomMessage::news(
            openid,
            api::Article {
                title: article.title.clone(),
                description: article.description.clone(),
                url: article.url.clone(),
                picurl: article.picurl.clone(),
            },
        ),
    };
    Queued {
        rule: reply.rule.clone(),
        outgoing: custom(message),
        when_closed: None,
        fallback: None,
    }
}

fn custom(message: CustomMessage) -> Outgoing {
    Outgoing::Custom { message }
}

/// Template data as rules write it: `#{key: "text"}` or `#{key: #{value, color}}`.
fn template_data(data: &Value) -> BTreeMap<String, TemplateField> {
    let Some(fields) = data.as_object() else {
        return BTreeMap::new();
    };
    fields
        .iter()
        .map(|(key, value)| {
            let field = match value {
                Value::String(text) => TemplateField::new(text.clone()),
                other => serde_json::from_value(other.clone())
                    .unwrap_or_else(|_| TemplateField::new(other.to_string())),
            };
            (key.clone(), field)
        })
        .collect()
}

/// The decision log's payload: who ran, what they looked up, chose and failed at.
pub fn payload(decision: &Decision, queued: &[Queued], passive: bool) -> Value {
    let messages: Vec<Value> = queued
        .iter()
        .map(|queued| {
            json!({
                "rule": queued.rule,
                "channel": match queued.outgoing { Outgoing::Custom { .. } => "custom",
                                                   Outgoing::Template { .. } => "template" },
                "kind": queued.outgoing.kind(),
                "request": queued.outgoing,
            })
        })
        .collect();
    json!({
        "rules": decision.rules,
        "lookups": decision.lookups,
        "messages": messages,
        "replies": decision.replies,
        "passive_reply": passive,
        "memory_writes": decision.effects.len(),
    })
}
