//! Rhai definition files of the rule API for editors (completion and checks): the
//! engine's own [`rhai::Engine::definitions`], with names and docs on the host functions.

use std::path::{Path, PathBuf};

use crate::config::RulesConfig;

/// Where `cardbot rules definitions` writes by default, inside `[rules] dir`. The rules
/// loader reads only `*.rhai` files directly in the directory, so this one is ignored.
pub const DEFAULT_SUBDIR: &str = ".definitions";

/// The file describing the `event` map every handler receives.
const EVENT_FILE: &str = "event.d.rhai";

/// A host function's signature as rule authors see it, and what it is for.
struct HostFn {
    name: &'static str,
    signature: &'static str,
    doc: &'static str,
}

/// Every function the engine registers for rules, by name and arity.
const HOST_FNS: &[HostFn] = &[
    HostFn {
        name: "send_text",
        signature: "fn send_text(openid: string, text: string);",
        doc: "Sends a customer-service text message once every rule has finished.",
    },
    HostFn {
        name: "send_card",
        signature: "fn send_card(openid: string, card_id: string);",
        doc: "Sends a card the user can add from the chat (`wxcard`).",
    },
    HostFn {
        name: "send_news",
        signature: "fn send_news(openid: string, article: map);",
        doc: "Sends one article: `#{title, description, url, picurl}`, all four keys needed.",
    },
    HostFn {
        name: "send_image",
        signature: "fn send_image(openid: string, media_id: string);",
        doc: "Sends an uploaded image by its media id.",
    },
    HostFn {
        name: "send_miniprogram",
        signature: "fn send_miniprogram(openid: string, page: map);",
        doc: "Sends a mini program card: `#{title, appid, pagepath, thumb_media_id}`.",
    },
    HostFn {
        name: "send_template",
        signature: "fn send_template(openid: string, template_id: string, data: map);",
        doc: "Sends a template message; data values are strings or `#{value, color}`.",
    },
    HostFn {
        name: "send_template",
        signature: "fn send_template(openid: string, template_id: string, data: map, url: string);",
        doc: "Sends a template message that opens `url` when tapped.",
    },
    HostFn {
        name: "send_text",
        signature: "fn send_text(openid: string, text: string, options: map);",
        doc: "Sends a text; options `#{when_closed, template}` say what a closed window does.",
    },
    HostFn {
        name: "send_card",
        signature: "fn send_card(openid: string, card_id: string, options: map);",
        doc: "Sends a card; options `#{when_closed, template}` say what a closed window does.",
    },
    HostFn {
        name: "send_news",
        signature: "fn send_news(openid: string, article: map, options: map);",
        doc: "Sends one article; options `#{when_closed, template}` as for send_text.",
    },
    HostFn {
        name: "send_image",
        signature: "fn send_image(openid: string, media_id: string, options: map);",
        doc: "Sends an image; options `#{when_closed, template}` as for send_text.",
    },
    HostFn {
        name: "send_miniprogram",
        signature: "fn send_miniprogram(openid: string, page: map, options: map);",
        doc: "Sends a mini program card; options `#{when_closed, template}` as for send_text.",
    },
    HostFn {
        name: "window",
        signature: "fn window(openid: string) -> map;",
        doc: "The user's customer-service window: `#{open, remaining, expires_at}`.",
    },
    HostFn {
        name: "reply_text",
        signature: "fn reply_text(text: string);",
        doc: "Answers WeChat's request with a passive text reply (sent as a message if late).",
    },
    HostFn {
        name: "reply_news",
        signature: "fn reply_news(article: map);",
        doc: "Answers WeChat's request with a passive news reply.",
    },
    HostFn {
        name: "user_cards",
        signature: "fn user_cards(openid: string) -> array;",
        doc: "The cards in the user's card bag: `[#{card_id, code}, ...]`. Throws on failure.",
    },
    HostFn {
        name: "card_status",
        signature: "fn card_status(card_id: string, code: string) -> map;",
        doc: "A code's state: `#{status, can_consume, openid, begin_time, end_time}`.",
    },
    HostFn {
        name: "card_info",
        signature: "fn card_info(card_id: string) -> map;",
        doc: "A card template: `#{card_type, title, brand_name, status, ...}`.",
    },
    HostFn {
        name: "cards_with_status",
        signature: "fn cards_with_status(statuses: array) -> array;",
        doc: "The ids of the merchant's cards whose status is one of `statuses`.",
    },
    HostFn {
        name: "stats_channel",
        signature: "fn stats_channel(card_id: string, channel: ?) -> map;",
        doc: "A channel's statistics of the last 30 days: `#{received, redeemed, ...}`.",
    },
    HostFn {
        name: "stats_channel",
        signature: "fn stats_channel(card_id: string, channel: ?, days: int) -> map;",
        doc: "A channel's statistics of the last `days` (1 to 1000) local days, today included.",
    },
    HostFn {
        name: "remember",
        signature: "fn remember(openid: string, key: string, value: ?);",
        doc: "Keeps `value` for the user under `key`; `()` forgets it.",
    },
    HostFn {
        name: "recall",
        signature: "fn recall(openid: string, key: string) -> ?;",
        doc: "What was remembered for the user under `key`, or `()`.",
    },
    HostFn {
        name: "once_per",
        signature: "fn once_per(openid: string, key: string, seconds: int) -> bool;",
        doc: "True at most once per `seconds` for this user and key.",
    },
    HostFn {
        name: "history",
        signature: "fn history(openid: string) -> map;",
        doc: "What cardbot has seen of the user: counts, cards_redeemed, channels, ...",
    },
    HostFn {
        name: "log",
        signature: "fn log(message: ?);",
        doc: "Writes to cardbot's log under the rule's name.",
    },
    HostFn {
        name: "now",
        signature: "fn now() -> int;",
        doc: "The evaluation's clock, unix seconds.",
    },
];

/// The `event` map, written as comments since Rhai definitions cannot type a map.
const EVENT_DOC: &str = "\
module static;

// Every handler `fn on_<type>(event)` receives the event as a map. A field WeChat did
// not send reads as `()`.
//
//   event.type                    string  `Event` in lower case, or `MsgType` for messages
//   event.msg_type                string  `MsgType`
//   event.openid                  string  `FromUserName`
//   event.account                 string  `ToUserName`
//   event.create_time             int     `CreateTime`, unix seconds
//   event.msg_id                  string  `MsgId`
//   event.card_id                 string  `CardId`
//   event.code                    string  `UserCardCode`
//   event.old_code                string  `OldUserCardCode`
//   event.outer_id                int     `OuterId`
//   event.outer_str               string  `OuterStr`: the channel of the QR code or card_ext
//   event.is_give_by_friend       bool    `IsGiveByFriend`
//   event.friend_openid           string  `FriendUserName`
//   event.is_restore_member_card  bool    `IsRestoreMemberCard`
//   event.unionid                 string  `UnionId`
//   event.consume_source          string  `ConsumeSource`: FROM_API, FROM_MOBILE_HELPER, ...
//   event.location_name           string  `LocationName`
//   event.location_id             int     `LocationId`
//   event.staff_openid            string  `StaffOpenId`
//   event.verify_code             string  `VerifyCode`
//   event.remark_amount           string  `RemarkAmount`
//   event.refuse_reason           string  `RefuseReason`
//   event.content                 string  `Content` of a text message
//   event.event_key               string  `EventKey`
//   event.fields                  map     every element of the XML under its own name
";

/// What went wrong writing definitions.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionsError {
    #[error("failed to write definitions into {dir}: {source}")]
    Write {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// The definition files, by file name: Rhai's built-ins, the host functions, the event.
pub fn definition_files(config: &RulesConfig) -> Vec<(String, String)> {
    let engine = super::engine::build_engine(config);
    let mut files: Vec<(String, String)> = engine
        .definitions()
        .iter_files()
        .map(|(name, text)| {
            let text = if name == "__static__.d.rhai" {
                document_static(&text)
            } else {
                text
            };
            (name, text)
        })
        .collect();
    files.push((EVENT_FILE.to_string(), EVENT_DOC.to_string()));
    files
}

/// Writes the definition files into `dir`, creating it; returns the paths written.
pub fn write_definitions(
    config: &RulesConfig,
    dir: &Path,
) -> Result<Vec<PathBuf>, DefinitionsError> {
    let fail = |source| DefinitionsError::Write {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let mut written = Vec::new();
    for (name, text) in definition_files(config) {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(fail)?;
        written.push(path);
    }
    Ok(written)
}

/// Replaces the engine's bare signatures of host functions (`fn send_text(_: string,
/// _: string) -> ...`) with named, documented ones; everything else is kept as is.
fn document_static(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        match host_fn_of(line) {
            Some(host) => {
                out.push_str(&format!("/// {}\n{}\n", host.doc, host.signature));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// The documented host function a generated `fn` line declares, matched by name and arity.
fn host_fn_of(line: &str) -> Option<&'static HostFn> {
    // Rhai's own functions carry parameter names; ours, registered as closures, do not.
    if !(line.contains("(_: ") || line.contains("()")) {
        return None;
    }
    let (name, arity) = declared(line)?;
    HOST_FNS
        .iter()
        .find(|host| host.name == name && declared(host.signature).map(|d| d.1) == Some(arity))
}

/// The name and arity of a `fn name(a, b) ...;` line.
fn declared(line: &str) -> Option<(&str, usize)> {
    let rest = line.strip_prefix("fn ")?;
    let (name, params) = rest.split_once('(')?;
    let (params, _) = params.split_once(')')?;
    let arity = if params.trim().is_empty() {
        0
    } else {
        params.split(',').count()
    };
    Some((name, arity))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn static_file() -> String {
        let files = definition_files(&RulesConfig::default());
        let found = files
            .into_iter()
            .find(|(name, _)| name == "__static__.d.rhai");
        found.unwrap().1
    }

    #[test]
    fn every_host_function_has_a_documented_signature() {
        let engine = super::super::engine::build_engine(&RulesConfig::default());
        let raw = engine
            .definitions()
            .iter_files()
            .find(|(n, _)| n == "__static__.d.rhai");

        let undocumented: Vec<String> = raw
            .unwrap()
            .1
            .lines()
            .filter(|line| line.contains("EvalAltResult") && host_fn_of(line).is_none())
            .map(str::to_string)
            .collect();

        assert!(
            undocumented.is_empty(),
            "add these to HOST_FNS: {undocumented:?}"
        );
    }

    #[test]
    fn host_functions_carry_parameter_names() {
        let text = static_file();

        assert!(
            text.contains("fn send_text(openid: string, text: string);"),
            "{text}"
        );
        assert!(text.contains("fn once_per(openid: string, key: string, seconds: int)"));
        assert!(!text.contains("EvalAltResult"), "{text}");
    }
}
