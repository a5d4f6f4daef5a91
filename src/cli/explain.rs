//! The readable account of a dry run: which rules ran, what they asked and got, what
//! they chose, why a rule failed, and what delivery would do with each message.

use std::fmt::Write;

use serde_json::Value;

use super::dry_run::Outcome;
use crate::rules::lookup::LookupSource;
use crate::rules::{MemoryEffect, Message, ReplyBody};
use crate::wechat::event::Event;

/// Longest answer shown inline; longer ones are cut (`--format json` has them whole).
const MAX_ANSWER_CHARS: usize = 300;

/// The whole report, ending with a newline.
pub fn render(event: &Event, outcome: &Outcome) -> String {
    let decision = &outcome.decision;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "event {} from {} (now {}), rules revision {}",
        event.kind,
        event.openid,
        time(decision.now),
        decision.revision
    );

    out.push_str("\nrules:\n");
    if decision.rules.is_empty() {
        let _ = writeln!(out, "  no rule has a handler for {}", event.kind);
    }
    for run in &decision.rules {
        let ms = run.elapsed_micros as f64 / 1000.0;
        let handlers = run.handlers.join(", ");
        let _ = writeln!(
            out,
            "  {} ({handlers}, {ms:.2} ms): {}",
            run.rule,
            match &run.failure {
                None => "ok".to_string(),
                Some(failure) => format!(
                    "FAILED in {} at {}: {} ({:?}); its messages and memory writes are dropped",
                    failure.handler, failure.location, failure.message, failure.kind
                ),
            }
        );
    }

    if !decision.lookups.is_empty() {
        out.push_str("\nlookups:\n");
    }
    for (record, answer) in decision.lookups.iter().zip(&outcome.answers) {
        let args: Vec<String> = record.args.iter().map(|arg| format!("{arg:?}")).collect();
        let source = match record.source {
            LookupSource::Fetched => "asked",
            LookupSource::Event => "already asked in this event",
            LookupSource::Shared => "cached",
        };
        let got = match &record.error {
            Some(err) if err.retryable => format!("error (retryable): {}", err.message),
            Some(err) => format!("error: {}", err.message),
            None => cut(&answer.to_string()),
        };
        let _ = writeln!(
            out,
            "  {}: {}({}) [{source}] -> {got}",
            record.rule,
            record.name,
            args.join(", ")
        );
    }

    out.push_str("\nactions:\n");
    if decision.actions.is_empty() {
        out.push_str("  none\n");
    }
    for (index, action) in decision.actions.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}. {} -> {}: {}",
            index + 1,
            action.rule,
            action.openid,
            describe_message(&action.message)
        );
        write_delivery(&mut out, outcome, "action", index);
    }

    if !decision.replies.is_empty() {
        out.push_str("\nreplies:\n");
    }
    for (index, reply) in decision.replies.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}. {}: {}",
            index + 1,
            reply.rule,
            describe_reply(&reply.body)
        );
        write_delivery(&mut out, outcome, "reply", index);
    }

    if !decision.effects.is_empty() {
        out.push_str("\nmemory writes (not saved):\n");
    }
    for effect in &decision.effects {
        let _ = writeln!(out, "  {}", describe_effect(effect));
    }
    out
}

fn write_delivery(out: &mut String, outcome: &Outcome, source: &str, index: usize) {
    let found = outcome
        .deliveries
        .iter()
        .find(|d| d.source == source && d.index == index);
    if let Some(delivery) = found {
        let fate = serde_json::to_value(&delivery.fate).unwrap_or(Value::Null);
        let fate = fate.as_str().unwrap_or_default().replace('_', " ");
        let _ = writeln!(out, "     {fate}: {}", delivery.detail);
    }
}

/// A message in one line: `text "..."`, `card pXXX`, `news "title" <url>`, ...
pub fn describe_message(message: &Message) -> String {
    match message {
        Message::Text { content } => format!("text {content:?}"),
        Message::Card { card_id } => format!("card {card_id}"),
        Message::News { article } => format!("news {:?} <{}>", article.title, article.url),
        Message::Image { media_id } => format!("image {media_id}"),
        Message::Miniprogram {
            title,
            appid,
            pagepath,
            ..
        } => format!("miniprogram {title:?} {appid}/{pagepath}"),
        Message::Template {
            template_id,
            data,
            url,
        } => {
            let url = url
                .as_deref()
                .map(|u| format!(" <{u}>"))
                .unwrap_or_default();
            format!("template {template_id} {data}{url}")
        }
    }
}

fn describe_reply(body: &ReplyBody) -> String {
    match body {
        ReplyBody::Text { content } => format!("text {content:?}"),
        ReplyBody::News { article } => format!("news {:?} <{}>", article.title, article.url),
    }
}

fn describe_effect(effect: &MemoryEffect) -> String {
    match effect {
        MemoryEffect::Remember {
            rule,
            openid,
            key,
            value,
        } if value.is_null() => format!("{rule}: forget {openid} {key:?}"),
        MemoryEffect::Remember {
            rule,
            openid,
            key,
            value,
        } => format!("{rule}: remember {openid} {key:?} = {value}"),
        MemoryEffect::Once {
            rule,
            openid,
            key,
            at,
        } => format!("{rule}: once_per {openid} {key:?} granted at {}", time(*at)),
    }
}

fn time(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0).map_or_else(|| at.to_string(), |t| t.to_rfc3339())
}

fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_ANSWER_CHARS {
        return text.to_string();
    }
    let kept: String = text.chars().take(MAX_ANSWER_CHARS).collect();
    format!("{kept}...")
}
