//! The messages the sandbox delivers: bodies of `message/custom/send` and
//! `message/template/send` checked as WeChat checks them, and each delivery turned
//! into one line a person reads at a glance.

use serde::Serialize;
use serde_json::Value;

use super::world::required_str;
use super::Failure;

/// Every msgtype `message/custom/send` takes.
const MSGTYPES: &[&str] = &[
    "text",
    "image",
    "voice",
    "video",
    "music",
    "news",
    "mpnews",
    "mpnewsarticle",
    "wxcard",
    "miniprogrampage",
    "msgmenu",
];

/// Longest text content WeChat accepts in a customer-service message, in bytes.
const MAX_TEXT_BYTES: usize = 2048;

/// Articles one customer-service news message may carry.
const MAX_NEWS_ARTICLES: usize = 1;

/// Longest summary shown in a delivery line, in characters.
const SUMMARY_CHARS: usize = 120;

/// A message the sandbox delivered.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// When it was delivered, unix seconds.
    pub at: i64,
    pub openid: String,
    pub nickname: String,
    /// `text`, `news`, `wxcard`, ..., or `template`.
    pub msgtype: String,
    /// What the user sees, in one line.
    pub summary: String,
    /// The request body as received.
    pub body: Value,
}

impl Delivery {
    /// The line printed to stdout, such as `📨 to o-alice (Alice) [text] Thanks...`.
    pub fn line(&self) -> String {
        format!(
            "📨 to {} ({}) [{}] {}",
            self.openid, self.nickname, self.msgtype, self.summary
        )
    }
}

/// The recipient and a one-line summary of a valid customer-service message.
#[derive(Debug)]
pub(crate) struct Checked {
    pub(crate) touser: String,
    pub(crate) msgtype: String,
    pub(crate) summary: String,
    /// The card of a `wxcard` message, which must be a known, non-custom-code card.
    pub(crate) card_id: Option<String>,
}

/// Parses the raw request body: 44002 when empty, 40033 with `\u` escapes, 47001 when
/// it is not a JSON object.
pub(crate) fn parse_body(raw: &[u8]) -> Result<Value, Failure> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(Failure::new(44002, "empty post data"));
    }
    if raw.windows(2).any(|pair| pair == b"\\u") {
        return Err(Failure::new(
            40033,
            "invalid charset. please check your request, if include \\uxxxx will create fail!",
        ));
    }
    match serde_json::from_slice::<Value>(raw) {
        Ok(body @ Value::Object(_)) => Ok(body),
        _ => Err(Failure::new(47001, "data format error")),
    }
}

/// Checks a `message/custom/send` body per msgtype (PROTOCOL §3.8).
pub(crate) fn check_custom(body: &Value) -> Result<Checked, Failure> {
    let touser = body
        .get("touser")
        .and_then(Value::as_str)
        .filter(|openid| !openid.is_empty())
        .ok_or_else(|| Failure::new(40003, "invalid openid: touser is missing"))?;
    let msgtype = body
        .get("msgtype")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::new(40008, "invalid message type: msgtype is missing"))?;
    if !MSGTYPES.contains(&msgtype) {
        return Err(Failure::new(
            40008,
            format!("invalid message type {msgtype:?}"),
        ));
    }
    let payload = body
        .get(msgtype)
        .filter(|payload| payload.is_object())
        .ok_or_else(|| Failure::new(47001, format!("data format error: {msgtype} is missing")))?;

    let field = |name: &str| -> Result<String, Failure> {
        required_str(payload, name)
            .map(str::to_string)
            .map_err(|_| Failure::new(47001, format!("data format error: {msgtype}.{name}")))
    };
    let mut card_id = None;
    let summary = match msgtype {
        "text" => check_text(payload)?,
        "image" | "voice" | "mpnews" => {
            let media_id = required_str(payload, "media_id")
                .map_err(|_| Failure::new(40007, "invalid media_id"))?;
            format!("media {media_id}")
        }
        "video" => {
            required_str(payload, "media_id")
                .map_err(|_| Failure::new(40007, "invalid media_id"))?;
            field("title")?
        }
        "music" => format!("{} {}", field("title")?, field("musicurl")?),
        "news" => check_news(payload)?,
        "mpnewsarticle" => format!("article {}", field("article_id")?),
        "wxcard" => {
            let id = field("card_id")?;
            card_id = Some(id.clone());
            id
        }
        "miniprogrampage" => {
            format!(
                "{} ({} {})",
                field("title")?,
                field("appid")?,
                field("pagepath")?
            )
        }
        "msgmenu" => check_menu(payload)?,
        other => {
            return Err(Failure::new(
                40008,
                format!("invalid message type {other:?}"),
            ))
        }
    };
    Ok(Checked {
        touser: touser.to_string(),
        msgtype: msgtype.to_string(),
        summary: shorten(&summary),
        card_id,
    })
}

fn check_text(payload: &Value) -> Result<String, Failure> {
    let content = payload.get("content").and_then(Value::as_str).unwrap_or("");
    if content.trim().is_empty() {
        return Err(Failure::new(44004, "empty content"));
    }
    if content.len() > MAX_TEXT_BYTES {
        return Err(Failure::new(45002, "content size out of limit"));
    }
    Ok(content.to_string())
}

fn check_news(payload: &Value) -> Result<String, Failure> {
    let articles = payload
        .get("articles")
        .and_then(Value::as_array)
        .filter(|articles| !articles.is_empty())
        .ok_or_else(|| Failure::new(44003, "empty news data"))?;
    if articles.len() > MAX_NEWS_ARTICLES {
        return Err(Failure::new(45008, "article size out of limit"));
    }
    let article = &articles[0];
    let title = required_str(article, "title")
        .map_err(|_| Failure::new(44003, "empty news data: the article has no title"))?;
    let url = article.get("url").and_then(Value::as_str).unwrap_or("");
    Ok(format!("{title} <{url}>"))
}

fn check_menu(payload: &Value) -> Result<String, Failure> {
    let items = payload
        .get("list")
        .and_then(Value::as_array)
        .filter(|items| !items.is_empty())
        .ok_or_else(|| Failure::new(47001, "data format error: msgmenu.list"))?;
    let labels: Vec<&str> = items
        .iter()
        .filter_map(|item| item.get("content").and_then(Value::as_str))
        .collect();
    let head = payload
        .get("head_content")
        .and_then(Value::as_str)
        .unwrap_or("");
    Ok(format!("{head} [{}]", labels.join(" | ")))
}

/// Checks a `message/template/send` body: the recipient, the template and its data.
pub(crate) fn check_template(body: &Value) -> Result<(String, String), Failure> {
    let touser = body
        .get("touser")
        .and_then(Value::as_str)
        .filter(|openid| !openid.is_empty())
        .ok_or_else(|| Failure::new(40003, "invalid openid: touser is missing"))?;
    let template_id = body
        .get("template_id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Failure::new(40037, "invalid template_id"))?;
    let data = body
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| Failure::new(47001, "data format error: data"))?;

    let mut fields = Vec::new();
    for (name, field) in data {
        let value = field
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(|| Failure::new(47001, format!("data format error: data.{name}.value")))?;
        fields.push(format!("{name}={value}"));
    }
    let summary = format!("{template_id}: {}", fields.join(", "));
    Ok((touser.to_string(), shorten(&summary)))
}

/// One line: newlines folded, long text cut with an ellipsis.
fn shorten(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= SUMMARY_CHARS {
        return flat;
    }
    let mut cut: String = flat.chars().take(SUMMARY_CHARS).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_text_message_is_summarised_by_its_content() {
        let body = json!({"touser": "o1", "msgtype": "text", "text": {"content": "hi\nthere"}});

        let checked = check_custom(&body).unwrap();

        assert_eq!(checked.summary, "hi there");
    }

    #[test]
    fn bad_bodies_get_the_errcodes_wechat_answers() {
        let cases = [
            (
                json!({"touser": "o1", "msgtype": "text", "text": {"content": ""}}),
                44004,
            ),
            (json!({"touser": "o1", "msgtype": "fax", "fax": {}}), 40008),
            (json!({"touser": "o1", "msgtype": "text"}), 47001),
            (
                json!({"touser": "o1", "msgtype": "news", "news": {"articles": []}}),
                44003,
            ),
            (
                json!({"touser": "o1", "msgtype": "image", "image": {"media_id": ""}}),
                40007,
            ),
            (json!({"msgtype": "text", "text": {"content": "x"}}), 40003),
        ];

        for (body, errcode) in cases {
            assert_eq!(check_custom(&body).unwrap_err().errcode, errcode, "{body}");
        }
    }

    #[test]
    fn escaped_unicode_and_non_json_are_refused() {
        assert_eq!(parse_body(br#"{"a":"\u4f60"}"#).unwrap_err().errcode, 40033);
        assert_eq!(parse_body(b"not json").unwrap_err().errcode, 47001);
        assert_eq!(parse_body(b"").unwrap_err().errcode, 44002);
    }
}
