//! Conversions between Rhai values and JSON (memory, lookups, template data), and the
//! event as the map a handler receives.

use rhai::{Array, Dynamic, Map};
use serde_json::Value;

use crate::wechat::event::Event;

/// Converts a Rhai value to JSON; only (), bool, int, float, string, char, array and
/// map can be stored, so a closure or a timestamp is refused with its type name.
pub fn to_json(value: &Dynamic) -> Result<Value, String> {
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(flag) = value.as_bool() {
        return Ok(Value::Bool(flag));
    }
    if let Ok(int) = value.as_int() {
        return Ok(Value::from(int));
    }
    if let Ok(float) = value.as_float() {
        return serde_json::Number::from_f64(float)
            .map(Value::Number)
            .ok_or_else(|| format!("the number {float} cannot be stored"));
    }
    if let Ok(text) = value.as_immutable_string_ref() {
        return Ok(Value::String(text.to_string()));
    }
    if let Ok(ch) = value.as_char() {
        return Ok(Value::String(ch.to_string()));
    }
    if let Some(array) = value.read_lock::<Array>() {
        return array
            .iter()
            .map(to_json)
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    if let Some(map) = value.read_lock::<Map>() {
        let mut object = serde_json::Map::new();
        for (key, item) in map.iter() {
            object.insert(key.to_string(), to_json(item)?);
        }
        return Ok(Value::Object(object));
    }
    Err(format!(
        "a value of type {} cannot be stored",
        value.type_name()
    ))
}

/// Converts JSON to a Rhai value: null is (), integers that fit are ints, others floats.
pub fn from_json(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(flag) => Dynamic::from_bool(*flag),
        Value::Number(number) => match number.as_i64() {
            Some(int) => Dynamic::from_int(int),
            None => Dynamic::from_float(number.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(text) => Dynamic::from(text.clone()),
        Value::Array(items) => Dynamic::from_array(items.iter().map(from_json).collect()),
        Value::Object(object) => {
            let map: Map = object
                .iter()
                .map(|(key, item)| (key.as_str().into(), from_json(item)))
                .collect();
            Dynamic::from_map(map)
        }
    }
}

/// Converts any serialisable value (a lookup answer) to a Rhai value.
pub fn to_dynamic<T: serde::Serialize>(value: &T) -> Dynamic {
    match serde_json::to_value(value) {
        Ok(json) => from_json(&json),
        Err(_) => Dynamic::UNIT,
    }
}

/// The event as handlers see it: typed fields by their rule names, absent ones left out
/// (reading them gives `()`), and `fields` with every raw element.
pub fn event_to_map(event: &Event) -> Map {
    let mut map = Map::new();
    let mut text = |name: &str, value: &str| {
        map.insert(name.into(), Dynamic::from(value.to_string()));
    };
    text("type", &event.kind);
    text("msg_type", &event.msg_type);
    text("openid", &event.openid);
    text("account", &event.account);
    let optional = [
        ("msg_id", &event.msg_id),
        ("card_id", &event.card_id),
        ("code", &event.code),
        ("old_code", &event.old_code),
        ("outer_str", &event.outer_str),
        ("friend_openid", &event.friend_openid),
        ("unionid", &event.unionid),
        ("consume_source", &event.consume_source),
        ("location_name", &event.location_name),
        ("staff_openid", &event.staff_openid),
        ("verify_code", &event.verify_code),
        ("remark_amount", &event.remark_amount),
        ("refuse_reason", &event.refuse_reason),
        ("content", &event.content),
        ("event_key", &event.event_key),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            text(name, value);
        }
    }

    map.insert("create_time".into(), Dynamic::from_int(event.create_time));
    let numbers = [
        ("outer_id", event.outer_id),
        ("location_id", event.location_id),
    ];
    for (name, value) in numbers {
        if let Some(value) = value {
            map.insert(name.into(), Dynamic::from_int(value));
        }
    }
    let flags = [
        ("is_give_by_friend", event.is_give_by_friend),
        ("is_restore_member_card", event.is_restore_member_card),
    ];
    for (name, value) in flags {
        if let Some(value) = value {
            map.insert(name.into(), Dynamic::from_bool(value));
        }
    }

    let fields: Map = event
        .fields
        .iter()
        .map(|(name, value)| (name.as_str().into(), Dynamic::from(value.clone())))
        .collect();
    map.insert("fields".into(), Dynamic::from_map(fields));
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_round_trip_through_rhai() {
        let json = serde_json::json!({
            "n": null, "b": true, "i": 42, "f": 1.5, "s": "券", "a": [1, "x"], "m": {"k": 1}
        });

        let back = to_json(&from_json(&json)).unwrap();

        assert_eq!(back, json);
    }

    #[test]
    fn a_value_that_cannot_be_stored_is_named() {
        let value = Dynamic::from(std::time::Duration::from_secs(1));

        let err = to_json(&value).unwrap_err();

        assert!(err.contains("cannot be stored"), "{err}");
    }

    #[test]
    fn an_event_map_leaves_absent_fields_out_and_keeps_raw_elements() {
        let event = Event {
            kind: "user_get_card".to_string(),
            openid: "oUser".to_string(),
            create_time: 1_700_000_000,
            outer_id: Some(0),
            is_give_by_friend: Some(false),
            fields: [("SourceScene".to_string(), "SOURCE_SCENE_QRCODE".to_string())].into(),
            ..Default::default()
        };

        let map = event_to_map(&event);

        assert_eq!(map["type"].clone().into_string().unwrap(), "user_get_card");
        assert_eq!(map["create_time"].as_int().unwrap(), 1_700_000_000);
        assert!(!map["is_give_by_friend"].as_bool().unwrap());
        assert!(!map.contains_key("card_id"));
        let fields = map["fields"].read_lock::<Map>().unwrap().clone();
        assert_eq!(
            fields["SourceScene"].clone().into_string().unwrap(),
            "SOURCE_SCENE_QRCODE"
        );
    }
}
