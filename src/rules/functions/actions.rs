//! `send_*` and `reply_*`: validate the arguments and collect the action for the rule
//! that chose it. Nothing is sent from inside a rule.

use rhai::{Dynamic, Engine, EvalAltResult, Map};
use serde_json::Value;

use crate::rules::action::{
    Action, Article, Message, Reply, ReplyBody, TemplateFallback, WhenClosed,
};
use crate::rules::context::{current_rule, with_state};

type Outcome = Result<(), Box<EvalAltResult>>;

/// Registers the functions that choose messages.
pub(crate) fn register(engine: &mut Engine) {
    engine.register_fn("send_text", |openid: &str, text: &str| -> Outcome {
        let content = non_empty("text", text)?;
        send("send_text", openid, Message::Text { content })
    });
    engine.register_fn("send_card", |openid: &str, card_id: &str| -> Outcome {
        let card_id = non_empty("card_id", card_id)?;
        send("send_card", openid, Message::Card { card_id })
    });
    engine.register_fn("send_news", |openid: &str, article: Map| -> Outcome {
        let article = parse_article(&article).map_err(|m| format!("send_news: {m}"))?;
        send("send_news", openid, Message::News { article })
    });
    engine.register_fn("send_image", |openid: &str, media_id: &str| -> Outcome {
        let media_id = non_empty("media_id", media_id)?;
        send("send_image", openid, Message::Image { media_id })
    });
    engine.register_fn("send_miniprogram", |openid: &str, page: Map| -> Outcome {
        let message = parse_miniprogram(&page).map_err(|m| format!("send_miniprogram: {m}"))?;
        send("send_miniprogram", openid, message)
    });
    engine.register_fn(
        "send_template",
        |openid: &str, template_id: &str, data: Map, url: Dynamic| -> Outcome {
            send_template(openid, template_id, &data, url)
        },
    );
    engine.register_fn(
        "send_template",
        |openid: &str, template_id: &str, data: Map| -> Outcome {
            send_template(openid, template_id, &data, Dynamic::UNIT)
        },
    );
    register_with_options(engine);
    engine.register_fn("reply_text", |text: &str| -> Outcome {
        let content = non_empty("text", text).map_err(|m| format!("reply_text: {m}"))?;
        reply("reply_text", ReplyBody::Text { content })
    });
    engine.register_fn("reply_news", |article: Map| -> Outcome {
        let article = parse_article(&article).map_err(|m| format!("reply_news: {m}"))?;
        reply("reply_news", ReplyBody::News { article })
    });
}

/// The same `send_*` with a last `options` map: `#{when_closed: "hold" | "template" |
/// "drop", template: #{template_id, data, url}}` for a user with no open window.
fn register_with_options(engine: &mut Engine) {
    engine.register_fn(
        "send_text",
        |openid: &str, text: &str, options: Map| -> Outcome {
            let content = non_empty("text", text)?;
            send_with("send_text", openid, Message::Text { content }, &options)
        },
    );
    engine.register_fn(
        "send_card",
        |openid: &str, card_id: &str, options: Map| -> Outcome {
            let card_id = non_empty("card_id", card_id)?;
            send_with("send_card", openid, Message::Card { card_id }, &options)
        },
    );
    engine.register_fn(
        "send_news",
        |openid: &str, article: Map, options: Map| -> Outcome {
            let article = parse_article(&article).map_err(|m| format!("send_news: {m}"))?;
            send_with("send_news", openid, Message::News { article }, &options)
        },
    );
    engine.register_fn(
        "send_image",
        |openid: &str, media_id: &str, options: Map| -> Outcome {
            let media_id = non_empty("media_id", media_id)?;
            send_with("send_image", openid, Message::Image { media_id }, &options)
        },
    );
    engine.register_fn(
        "send_miniprogram",
        |openid: &str, page: Map, options: Map| -> Outcome {
            let message = parse_miniprogram(&page).map_err(|m| format!("send_miniprogram: {m}"))?;
            send_with("send_miniprogram", openid, message, &options)
        },
    );
}

fn send(function: &str, openid: &str, message: Message) -> Outcome {
    push(function, openid, message, None, None)
}

fn send_with(function: &str, openid: &str, message: Message, options: &Map) -> Outcome {
    let (when_closed, fallback) = parse_options(options).map_err(|m| format!("{function}: {m}"))?;
    push(function, openid, message, when_closed, fallback)
}

fn push(
    function: &str,
    openid: &str,
    message: Message,
    when_closed: Option<WhenClosed>,
    fallback: Option<TemplateFallback>,
) -> Outcome {
    if openid.trim().is_empty() {
        return Err(format!("{function}: openid must not be empty").into());
    }
    with_state(function, |state| {
        state.push_action(Action {
            rule: current_rule().to_string(),
            openid: openid.to_string(),
            message,
            when_closed,
            fallback,
        });
        Ok(())
    })
}

type Options = (Option<WhenClosed>, Option<TemplateFallback>);

/// Reads `#{when_closed, template}`; a template alone means "use it when closed".
fn parse_options(options: &Map) -> Result<Options, String> {
    for key in options.keys() {
        if key.as_str() != "when_closed" && key.as_str() != "template" {
            return Err(format!(
                "unknown option `{key}`; use when_closed or template"
            ));
        }
    }
    let fallback = match options.get("template") {
        None => None,
        Some(template) => {
            let template = template
                .read_lock::<Map>()
                .ok_or("`template` must be a map #{template_id, data, url}")?
                .clone();
            Some(parse_fallback(&template)?)
        }
    };
    let when_closed = match options.get("when_closed") {
        None => fallback.as_ref().map(|_| WhenClosed::Template),
        Some(mode) => Some(match mode.to_string().as_str() {
            "hold" => WhenClosed::Hold,
            "template" => WhenClosed::Template,
            "drop" => WhenClosed::Drop,
            other => {
                return Err(format!(
                    "when_closed must be hold, template or drop, not {other}"
                ))
            }
        }),
    };
    if when_closed == Some(WhenClosed::Template) && fallback.is_none() {
        return Err("when_closed: \"template\" needs a `template` option".to_string());
    }
    Ok((when_closed, fallback))
}

fn parse_fallback(template: &Map) -> Result<TemplateFallback, String> {
    let template_id = entry(template, "template_id", true)?;
    let data = match template.get("data") {
        Some(data) => {
            let data = data
                .read_lock::<Map>()
                .ok_or("`data` must be a map")?
                .clone();
            template_data(&data)?
        }
        None => return Err("missing key `data`".to_string()),
    };
    let url = match template.get("url") {
        Some(url) if !url.is_unit() => Some(url.to_string()).filter(|url| !url.is_empty()),
        _ => None,
    };
    Ok(TemplateFallback {
        template_id,
        data,
        url,
    })
}

fn reply(function: &str, body: ReplyBody) -> Outcome {
    with_state(function, |state| {
        state.push_reply(Reply {
            rule: current_rule().to_string(),
            body,
        });
        Ok(())
    })
}

fn send_template(openid: &str, template_id: &str, data: &Map, url: Dynamic) -> Outcome {
    let fail = |message: String| format!("send_template: {message}");
    let template_id = non_empty("template_id", template_id).map_err(fail)?;
    let data = template_data(data).map_err(fail)?;
    let url = if url.is_unit() {
        None
    } else {
        let url = url
            .into_string()
            .map_err(|t| fail(format!("url must be a string, not {t}")))?;
        Some(url).filter(|url| !url.is_empty())
    };
    let message = Message::Template {
        template_id,
        data,
        url,
    };
    send("send_template", openid, message)
}

/// `#{keyword1: "x"}` or `#{keyword1: #{value: "x", color: "#173177"}}` to WeChat's shape.
fn template_data(data: &Map) -> Result<Value, String> {
    let mut object = serde_json::Map::new();
    for (key, item) in data {
        let entry = match item.read_lock::<Map>() {
            Some(fields) if fields.contains_key("value") => {
                crate::rules::value::to_json(&Dynamic::from_map(fields.clone()))?
            }
            Some(_) => return Err(format!("data.{key} needs a `value`")),
            None => serde_json::json!({ "value": item.to_string() }),
        };
        object.insert(key.to_string(), entry);
    }
    Ok(Value::Object(object))
}

fn non_empty(name: &str, value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err(format!("{name} must not be empty"));
    }
    Ok(value.to_string())
}

/// Reads a string entry of a map argument; `required` ones must be present and non-empty.
fn entry(map: &Map, key: &str, required: bool) -> Result<String, String> {
    let Some(value) = map.get(key) else {
        return Err(format!("missing key `{key}`"));
    };
    let text = value
        .clone()
        .into_string()
        .map_err(|found| format!("`{key}` must be a string, not {found}"))?;
    if required && text.trim().is_empty() {
        return Err(format!("`{key}` must not be empty"));
    }
    Ok(text)
}

fn parse_article(map: &Map) -> Result<Article, String> {
    Ok(Article {
        title: entry(map, "title", true)?,
        description: entry(map, "description", false)?,
        url: entry(map, "url", true)?,
        picurl: entry(map, "picurl", false)?,
    })
}

fn parse_miniprogram(map: &Map) -> Result<Message, String> {
    Ok(Message::Miniprogram {
        title: entry(map, "title", true)?,
        appid: entry(map, "appid", true)?,
        pagepath: entry(map, "pagepath", true)?,
        thumb_media_id: entry(map, "thumb_media_id", true)?,
    })
}
