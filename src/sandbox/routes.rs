//! The sandbox's HTTP side: every API path under one handler that waits the
//! configured latency, applies pending faults, checks the access token and answers.

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse, Scope};
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use super::message::{check_custom, check_template, parse_body};
use super::token::Issuer;
use super::{Failure, Sandbox, PATH_PREFIX};
use crate::clock;

/// The scope serving every API path under [`PATH_PREFIX`].
pub(crate) fn scope(sandbox: Sandbox) -> Scope {
    web::scope(PATH_PREFIX)
        .app_data(web::Data::new(sandbox))
        .default_service(web::to(handle))
}

#[derive(Deserialize)]
struct TokenQuery {
    grant_type: Option<String>,
    appid: Option<String>,
    secret: Option<String>,
    access_token: Option<String>,
}

async fn handle(req: HttpRequest, raw: web::Bytes, sandbox: web::Data<Sandbox>) -> HttpResponse {
    let path = req
        .path()
        .strip_prefix(PATH_PREFIX)
        .unwrap_or(req.path())
        .to_string();
    let query = web::Query::<TokenQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or(TokenQuery {
            grant_type: None,
            appid: None,
            secret: None,
            access_token: None,
        });

    if !sandbox.inner.latency.is_zero() {
        tokio::time::sleep(sandbox.inner.latency).await;
    }
    let hit = sandbox.lock().faults.hit(&path);
    if let Some(hit) = hit {
        tokio::time::sleep(hit.delay).await;
        if hit.errcode != 0 {
            tracing::warn!(
                path,
                errcode = hit.errcode,
                "sandbox answered an injected fault"
            );
            return answer(Err(Failure::new(hit.errcode, "injected by the sandbox")));
        }
    }

    let result = match (req.method().clone(), path.as_str()) {
        (Method::GET, "/cgi-bin/token") => sandbox.classic_token(&query),
        (Method::POST, "/cgi-bin/stable_token") => sandbox.stable_token(&raw),
        (Method::POST, _) => sandbox.call(&path, query.access_token.as_deref(), &raw),
        _ => {
            return HttpResponse::NotFound()
                .json(json!({ "error": format!("the sandbox has no {} {path}", req.method()) }))
        }
    };
    answer(result)
}

fn answer(result: Result<Value, Failure>) -> HttpResponse {
    match result {
        Ok(body) => HttpResponse::Ok().json(body),
        Err(failure) => HttpResponse::Ok().json(failure.to_json()),
    }
}

impl Sandbox {
    fn classic_token(&self, query: &TokenQuery) -> Result<Value, Failure> {
        self.check_credentials(
            query.grant_type.as_deref(),
            query.appid.as_deref(),
            query.secret.as_deref(),
        )?;

        let grant = self
            .lock()
            .tokens
            .grant(Issuer::Classic, false, clock::now_secs());
        Ok(json!({ "access_token": grant.access_token, "expires_in": grant.expires_in }))
    }

    fn stable_token(&self, raw: &[u8]) -> Result<Value, Failure> {
        let body = parse_body(raw)?;
        let text = |name: &str| body.get(name).and_then(Value::as_str);
        self.check_credentials(text("grant_type"), text("appid"), text("secret"))?;
        let force = body.get("force_refresh").and_then(Value::as_bool) == Some(true);

        let grant = self
            .lock()
            .tokens
            .grant(Issuer::Stable, force, clock::now_secs());
        Ok(json!({ "access_token": grant.access_token, "expires_in": grant.expires_in }))
    }

    /// The token endpoints' checks: 40002 grant_type, 40013 appid, 40125 secret.
    fn check_credentials(
        &self,
        grant_type: Option<&str>,
        appid: Option<&str>,
        secret: Option<&str>,
    ) -> Result<(), Failure> {
        if grant_type != Some("client_credential") {
            return Err(Failure::new(40002, "invalid grant_type"));
        }
        if appid != Some(self.inner.app_id.as_str()) || self.inner.app_id.is_empty() {
            return Err(Failure::new(40013, "invalid appid"));
        }
        let secret = secret.unwrap_or("").as_bytes();
        let matches = bool::from(secret.ct_eq(self.inner.app_secret.as_bytes()));
        if !matches || self.inner.app_secret.is_empty() {
            return Err(Failure::new(40125, "invalid appsecret"));
        }
        Ok(())
    }

    /// An API call: the token first, then the body, then the path's own checks.
    fn call(&self, path: &str, access_token: Option<&str>, raw: &[u8]) -> Result<Value, Failure> {
        let now = clock::now_secs();
        self.lock().tokens.check(access_token, now)?;
        let body = parse_body(raw)?;

        let mut state = self.lock();
        match path {
            "/card/user/getcardlist" => state.world.user_cards(&body),
            "/card/code/get" => state.world.code_status(&body, now),
            "/card/code/consume" => state.world.consume(&body, now),
            "/card/batchget" => state.world.card_ids(&body),
            "/card/get" => state.world.card(&body),
            "/card/qrcode/create" => {
                let ticket = format!("sandbox-qr-{}", state.next_msgid);
                state.next_msgid += 1;
                state.world.qrcode(&body, &ticket)
            }
            "/cgi-bin/message/custom/send" => self.send_custom(&mut state, body, now),
            "/cgi-bin/message/custom/typing" => typing(&state, &body, now),
            "/cgi-bin/message/template/send" => self.send_template(&mut state, body),
            _ => Err(Failure::new(48001, format!("api unauthorized: {path}"))),
        }
    }

    fn send_custom(
        &self,
        state: &mut super::State,
        body: Value,
        now: i64,
    ) -> Result<Value, Failure> {
        let checked = check_custom(&body)?;
        state.world.check_recipient(&checked.touser)?;
        let mut summary = checked.summary;
        if let Some(card_id) = &checked.card_id {
            let card = state
                .world
                .cards
                .get(card_id)
                .ok_or_else(|| Failure::new(40073, "invalid card id"))?;
            // Only cards with WeChat's own codes can go out as a wxcard message.
            if card.use_custom_code {
                return Err(Failure::new(45162, "invalid type: custom-code card"));
            }
            summary = format!("🎫 {} ({card_id})", state.world.card_title(card_id));
        }
        state.windows.spend(&checked.touser, now)?;

        self.deliver(state, &checked.touser, &checked.msgtype, summary, body);
        Ok(json!({ "errcode": 0, "errmsg": "ok" }))
    }

    fn send_template(&self, state: &mut super::State, body: Value) -> Result<Value, Failure> {
        let (touser, summary) = check_template(&body)?;
        state.world.check_recipient(&touser)?;

        let msgid = state.next_msgid;
        state.next_msgid += 1;
        self.deliver(state, &touser, "template", summary, body);
        Ok(json!({ "errcode": 0, "errmsg": "ok", "msgid": msgid }))
    }
}

fn typing(state: &super::State, body: &Value, now: i64) -> Result<Value, Failure> {
    let touser = super::world::required_str(body, "touser")?;
    match body.get("command").and_then(Value::as_str) {
        Some("Typing" | "CancelTyping") => {}
        _ => return Err(Failure::new(45072, "command invalid")),
    }
    state.world.check_recipient(touser)?;
    state.windows.check_typing(touser, now)?;
    Ok(json!({ "errcode": 0, "errmsg": "ok" }))
}
