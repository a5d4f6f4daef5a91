//! `cardbot log --openid X`: the decision log of one user, read from the running server
//! through `/admin/decisions`, one readable block per event.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use super::rules::AdminClient;
use crate::config::Config;

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
        decision["event_kind"].as_str().unwrap_or("?"),
        decision["revision"].as_str().unwrap_or("?"),
        decision["id"],
    );

    let payload = &decision["payload"];
    for run in payload["rules"].as_array().into_iter().flatten() {
        let outcome = match run["failure"].as_object() {
            None => "ok".to_string(),
            Some(failure) => format!(
                "failed at {}: {}",
                failure["location"].as_str().unwrap_or("?"),
                failure["message"].as_str().unwrap_or("?")
            ),
        };
        text.push_str(&format!(
            "  rule {}: {outcome}\n",
            run["rule"].as_str().unwrap_or("?")
        ));
    }
    for lookup in payload["lookups"].as_array().into_iter().flatten() {
        let error = lookup["error"]["message"]
            .as_str()
            .map(|e| format!(" -> {e}"));
        text.push_str(&format!(
            "  lookup {}({}){}\n",
            lookup["name"].as_str().unwrap_or("?"),
            lookup["args"].as_array().map_or(String::new(), |args| args
                .iter()
                .filter_map(Value::as_str)
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
        let status = outcome["status"].as_str().unwrap_or("queued");
        let reason = outcome["reason"].as_str().map(|r| format!(" ({r})"));
        text.push_str(&format!(
            "  message {} by {}: {status}{}\n",
            message["kind"].as_str().unwrap_or("?"),
            message["rule"].as_str().unwrap_or("?"),
            reason.unwrap_or_default()
        ));
    }
    if payload["passive_reply"].as_bool() == Some(true) {
        text.push_str("  passive reply answered on the request\n");
    }
    text
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
