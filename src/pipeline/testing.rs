//! Helpers shared by the pipeline's unit tests: a temporary database and events.

use crate::wechat::event::Event;

/// A sled database that lives in a temporary directory and goes away with the test.
pub fn temp_db() -> sled::Db {
    sled::Config::new().temporary(true).open().unwrap()
}

/// An event of `kind` from `openid` at `create_time`, as the parser would build it.
pub fn event(kind: &str, openid: &str, create_time: i64) -> Event {
    let msg_type = match kind {
        "text" | "image" | "voice" | "video" | "location" | "link" => kind,
        _ => "event",
    };
    Event {
        kind: kind.to_string(),
        msg_type: msg_type.to_string(),
        openid: openid.to_string(),
        create_time,
        ..Default::default()
    }
}

/// A card event of `kind` for one code.
pub fn card_event(kind: &str, openid: &str, create_time: i64, card_id: &str, code: &str) -> Event {
    Event {
        card_id: Some(card_id.to_string()),
        code: Some(code.to_string()),
        ..event(kind, openid, create_time)
    }
}
