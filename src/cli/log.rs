//! `cardbot log --openid X`: the decision log of one user, read from the running server
//! through `/admin/decisions`, one readable block per event.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use super::rules::AdminClient;
use crate::config::Config;
use crate::telemetry::{escape_value, MAX_MESSAGE_CHARS, MAX_VALUE_CHARS};

/// Which decisions to show.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// The user's OpenID.
    #[arg(long)]
    pub openid: String,
    /// At most this many events, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Print the raw JSON instead.
    #[arg(long)]
    pub json: bool,
}

/// Prints the user's decisions.
pub fn run(path: &Path, args: &LogArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load_for_admin(path)?;
    let client = AdminClient::from_config(&config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let query = format!(
        "/admin/decisions?openid={}&limit={}",
        urlencode(&args.openid),
        args.limit
    );
    let answer = runtime.block_on(client.get_json(&query))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }

    let decisions = answer["decisions"].as_array().cloned().unwrap_or_default();
    if decisions.is_empty() {
        println!("no decisions logged for {}", args.openid);
    }
    for decision in &decisions {
        print!("{}", describe(decision));
    }
    Ok(ExitCode::SUCCESS)
}

/// One event's decision: when, what, which revision, each rule and each message.
fn describe(decision: &Value) -> String {
    let when = decision["created_at"]
        .as_i64()
        .and_then(|at| chrono::DateTime::from_timestamp(at, 0))
        .map_or_else(|| "?".to_string(), |at| at.to_rfc3339());
    let mut text = format!(
        "{when}  {}  revision {}  (decision {})\n",
        shown(&decision["event_kind"]),
        shown(&decision["revision"]),
        decision["id"],
    );

    let payload = &decision["payload"];
    for run in payload["rules"].as_array().into_iter().flatten() {
        let outcome = match run["failure"].as_object() {
            None => "ok".to_string(),
            Some(failure) => format!(
                "failed at {}: {}",
                shown(&failure["location"]),
                shown_long(&failure["message"])
            ),
        };
        text.push_str(&format!("  rule {}: {outcome}\n", shown(&run["rule"])));
    }
    for lookup in payload["lookups"].as_array().into_iter().flatten() {
        let error = lookup["error"]["message"]
            .as_str()
            .map(|e| format!(" -> {}", escape_value(e, MAX_MESSAGE_CHARS)));
        text.push_str(&format!(
            "  lookup {}({}){}\n",
            shown(&lookup["name"]),
            lookup["args"].as_array().map_or(String::new(), |args| args
                .iter()
                .map(shown)
                .collect::<Vec<_>>()
                .join(", ")),
            error.unwrap_or_default()
        ));
    }
    for (index, message) in payload["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let outcome = &decision["outcomes"][index.to_string()];
        let status = outcome["status"]
            .as_str()
            .map_or("queued".to_string(), |s| escape_value(s, MAX_VALUE_CHARS));
        let reason = outcome["reason"]
            .as_str()
            .map(|r| format!(" ({})", escape_value(r, MAX_MESSAGE_CHARS)));
        text.push_str(&format!(
            "  message {} by {}: {status}{}\n",
            shown(&message["kind"]),
            shown(&message["rule"]),
            reason.unwrap_or_default()
        ));
    }
    if payload["passive_reply"].as_bool() == Some(true) {
        text.push_str("  passive reply answered on the request\n");
    }
    text
}

/// A value as the terminal may show it: the decision log holds what requests and rules
/// put there, and a control character in it could repaint the operator's terminal.
fn shown(value: &Value) -> String {
    value
        .as_str()
        .map_or("?".to_string(), |text| escape_value(text, MAX_VALUE_CHARS))
}

/// [`shown`], for a message that may carry an error's cause chain.
fn shown_long(value: &Value) -> String {
    value.as_str().map_or("?".to_string(), |text| {
        escape_value(text, MAX_MESSAGE_CHARS)
    })
}

/// Percent-encodes what an OpenID may carry beyond URL-safe characters.
fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_from_requests_cannot_repaint_the_terminal() {
        let decision = json!({
            "created_at": 1_700_000_000,
            "event_kind": "text\x1b[2J",
            "revision": "r1",
            "id": 3,
            "payload": {
                "rules": [{"rule": "count", "failure": {
                    "location": "count.rhai:1:2", "message": "boom\nFORGED line"}}],
                "lookups": [{"name": "user_cards", "args": ["o1\x1b]0;title\x07"],
                             "error": {"message": "busy\r"}}],
                "messages": [],
            },
        });

        let text = describe(&decision);

        assert!(!text.contains('\x1b') && !text.contains('\r'), "{text}");
        assert!(text.contains("text\\u{1b}[2J"), "{text}");
        assert!(text.contains("boom\\u{a}FORGED line"), "{text}");
        assert!(
            text.contains("user_cards(o1\\u{1b}]0;title\\u{7})"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 3, "{text}");
    }
}
