//! `cardbot rules list|rollback`: sled admits one process, so these ask the running
//! server through its admin API (`/admin/rules`) with the admin token, and need no
//! WeChat secret. `definitions` writes editor definition files and needs no server.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Subcommand;
use serde::Deserialize;

use crate::config::{Config, ENV_ADMIN_TOKEN};
use crate::rules::{ReloadOutcome, RevisionInfo};

/// What to do with the rules of the running server.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the kept revisions, newest first; `*` marks the active one.
    List,
    /// Restore a kept revision into the rules directory and load it.
    Rollback {
        /// A revision or a unique prefix of one; the previous revision when omitted.
        revision: Option<String>,
    },
    /// Write Rhai definition files of the rule API, for editor completion and checks.
    Definitions {
        /// Where to write them; `<rules dir>/.definitions` when omitted.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

/// Where and how to reach the admin API.
#[derive(Debug, Clone)]
pub struct AdminClient {
    pub base_url: String,
    pub token: String,
}

#[derive(Deserialize)]
struct ListAnswer {
    revisions: Vec<RevisionInfo>,
}

impl AdminClient {
    /// The server of `config`; a wildcard listen address is reached on loopback.
    pub fn from_config(config: &Config) -> anyhow::Result<AdminClient> {
        if config.admin.token.is_empty() {
            bail!(
                "no admin token is set; set [admin] token or {ENV_ADMIN_TOKEN} to the running \
                 server's token, since these commands ask it through /admin"
            );
        }
        let mut listen = config.server.listen;
        if listen.ip().is_unspecified() {
            listen.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        Ok(AdminClient {
            base_url: format!("http://{listen}"),
            token: config.admin.token.clone(),
        })
    }

    /// `GET /admin/rules`: the kept revisions.
    pub async fn list(&self) -> anyhow::Result<Vec<RevisionInfo>> {
        let request = reqwest::Client::new().get(format!("{}/admin/rules", self.base_url));
        let answer: ListAnswer = self.send(request).await?;
        Ok(answer.revisions)
    }

    /// `POST /admin/rules/rollback` with `{"revision": ...}` (null for the previous one).
    pub async fn rollback(&self, revision: Option<&str>) -> anyhow::Result<ReloadOutcome> {
        let url = format!("{}/admin/rules/rollback", self.base_url);
        let body = serde_json::json!({ "revision": revision });
        self.send(reqwest::Client::new().post(url).json(&body))
            .await
    }

    /// `GET {path}` of the admin API, as JSON.
    pub async fn get_json(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let request = reqwest::Client::new().get(format!("{}{path}", self.base_url));
        self.send(request).await
    }

    /// `GET {path}?{query}` of the admin API, the answer's body as the server wrote it.
    pub async fn get_query_text(
        &self,
        path: &str,
        query: &impl serde::Serialize,
    ) -> anyhow::Result<String> {
        let url = format!("{}{path}", self.base_url);
        self.send_text(reqwest::Client::new().get(url).query(query))
            .await
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<T> {
        let text = self.send_text(request).await?;
        serde_json::from_str(&text).context("the server's answer is not what was expected")
    }

    /// The body of a successful answer; a refusal is an error carrying its body.
    async fn send_text(&self, request: reqwest::RequestBuilder) -> anyhow::Result<String> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| {
                format!(
                    "no cardbot server answered at {}; is `cardbot serve` running?",
                    self.base_url
                )
            })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .context("failed to read the server's answer")?;
        if !status.is_success() {
            bail!("the server refused: {status}: {}", refusal_reason(&text));
        }
        Ok(text)
    }
}

/// What a refusal says: the `error` of admin's JSON body, else the body as it came.
fn refusal_reason(body: &str) -> String {
    let error = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|value| value.get("error")?.as_str().map(str::to_string));
    error.unwrap_or_else(|| body.trim().to_string())
}

/// Runs a rules subcommand against the server configured at `path`.
pub fn run(path: &Path, command: &RulesCommand) -> anyhow::Result<ExitCode> {
    if let RulesCommand::Definitions { out } = command {
        let config = Config::load(path)?;
        let default = config
            .rules
            .dir
            .join(crate::rules::definitions::DEFAULT_SUBDIR);
        let dir = out.clone().unwrap_or(default);
        for written in crate::rules::definitions::write_definitions(&config.rules, &dir)? {
            println!("wrote {}", written.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let config = Config::load_for_admin(path)?;
    let client = AdminClient::from_config(&config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    match command {
        RulesCommand::List => {
            for info in runtime.block_on(client.list())? {
                println!("{}", describe(&info));
            }
        }
        RulesCommand::Rollback { revision } => {
            let outcome = runtime.block_on(client.rollback(revision.as_deref()))?;
            println!("active revision: {}", outcome.revision);
        }
        RulesCommand::Definitions { .. } => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per revision: marker, id, activation time, rule names.
pub fn describe(info: &RevisionInfo) -> String {
    let marker = if info.active { '*' } else { ' ' };
    let when = chrono::DateTime::from_timestamp(info.activated_at, 0)
        .map_or_else(|| info.activated_at.to_string(), |at| at.to_rfc3339());
    format!(
        "{marker} {}  {when}  {}",
        info.revision,
        info.rules.join(", ")
    )
}
