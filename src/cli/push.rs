//! `cardbot push`: sends a callback push to a running cardbot exactly as WeChat would:
//! signed with the config's token, encrypted when it has an EncodingAESKey, and
//! retried up to three times when no answer comes within five seconds.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use rand::{Rng, RngCore};

use super::event_args::EventArgs;
use crate::clock;
use crate::config::Config;
use crate::wechat::crypto::Keyring;
use crate::wechat::push::{self, Sealer, SignedPush};
use crate::wechat::xml;

/// WeChat gives up on an answer after this long and sends the push again.
const ANSWER_DEADLINE: Duration = Duration::from_secs(5);

/// WeChat sends a push again this many times when no answer comes.
const RETRIES: u32 = 3;

/// `ToUserName` of pushes unless `--account` says otherwise.
const DEFAULT_ACCOUNT: &str = "gh_sandbox";

/// The arguments of `cardbot push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The event to build; not needed with --file.
    #[command(flatten)]
    pub event: EventArgs,
    /// Replay this XML file instead of building an event.
    #[arg(long, conflicts_with = "kind")]
    pub file: Option<PathBuf>,
    /// The callback URL; by default server.listen and server.callback_path of the config.
    #[arg(long)]
    pub url: Option<String>,
}

/// Builds, signs and sends the push, and prints the answer.
pub fn run(config_path: &Path, args: &PushArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path)?;
    let xml = match &args.file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("failed to read {}", path.display()))?,
        None => args.event.to_xml(clock::now_secs())?,
    };
    let account = args.event.account.as_deref().unwrap_or(DEFAULT_ACCOUNT);
    let signed = seal(&config, &xml, account);
    let url = callback_url(&config, args.url.as_deref(), &signed.query);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let (status, answer) = runtime.block_on(deliver(&url, signed.body))?;

    println!("{}", describe_answer(&config, &answer));
    if !(200..300).contains(&status) {
        bail!("the callback answered HTTP {status}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Signs the push, and encrypts it when the config has an EncodingAESKey.
fn seal(config: &Config, xml: &str, account: &str) -> SignedPush {
    let timestamp = clock::now_secs().to_string();
    let nonce = rand::thread_rng()
        .gen_range(100_000_000u64..1_000_000_000)
        .to_string();
    let token = config.wechat.token.as_str();
    match config.wechat.aes_key() {
        Some(key) => {
            let mut random = [0u8; 16];
            rand::thread_rng().fill_bytes(&mut random);
            let sealer = Sealer {
                key: &key,
                token,
                app_id: &config.wechat.app_id,
                account,
            };
            push::sign_encrypted(xml, sealer, &timestamp, &nonce, &random)
        }
        None => push::sign_plaintext(xml, token, &timestamp, &nonce),
    }
}

fn callback_url(config: &Config, url: Option<&str>, query: &str) -> String {
    let base = match url {
        Some(url) => url.to_string(),
        None => {
            let mut addr = config.server.listen;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{addr}{}", config.server.callback_path)
        }
    };
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{query}")
}

/// POSTs the body, sending it again like WeChat when no answer comes in time.
async fn deliver(url: &str, body: String) -> anyhow::Result<(u16, String)> {
    let http = reqwest::Client::builder()
        .timeout(ANSWER_DEADLINE)
        .build()
        .context("failed to build the http client")?;

    let mut last_error = None;
    for attempt in 0..=RETRIES {
        if attempt > 0 {
            eprintln!(
                "no answer within {} s, sending again ({attempt}/{RETRIES})",
                ANSWER_DEADLINE.as_secs()
            );
        }
        let sent = http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                return Ok((status, text));
            }
            Err(err) => last_error = Some(err.without_url()),
        }
    }
    let detail = last_error.map(|err| err.to_string()).unwrap_or_default();
    bail!(
        "no answer from the callback after {} attempts: {detail}; is cardbot serve running?",
        RETRIES + 1
    )
}

/// The answer as a person reads it: `success`, or the passive reply decrypted.
fn describe_answer(config: &Config, answer: &str) -> String {
    let trimmed = answer.trim();
    if trimmed.is_empty() {
        return "(empty answer)".to_string();
    }
    if !trimmed.starts_with('<') {
        return trimmed.to_string();
    }

    let Ok(mut fields) = xml::parse_children(trimmed.as_bytes()) else {
        return trimmed.to_string();
    };
    if let (Some(encrypted), Some(key)) = (fields.get("Encrypt"), config.wechat.aes_key()) {
        let keyring = Keyring::new(key, config.wechat.previous_aes_key());
        match keyring.open(encrypted, &config.wechat.app_id) {
            Ok(opened) => match xml::parse_children(&opened.message) {
                Ok(inner) => fields = inner,
                Err(_) => return String::from_utf8_lossy(&opened.message).into_owned(),
            },
            Err(err) => return format!("{trimmed}\n(failed to decrypt the reply: {err})"),
        }
    }
    let get = |name: &str| fields.get(name).cloned().unwrap_or_default();
    match get("MsgType").as_str() {
        "text" => format!("reply to {} [text] {}", get("ToUserName"), get("Content")),
        "news" => format!(
            "reply to {} [news] {} <{}>",
            get("ToUserName"),
            get("Articles.item.Title"),
            get("Articles.item.Url")
        ),
        _ => trimmed.to_string(),
    }
}
