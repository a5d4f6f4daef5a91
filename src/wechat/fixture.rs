//! Loading the protocol's test vectors from `tests/fixtures/wechat/` in unit tests.

use serde_json::Value;

/// Bytes of a fixture file, by path under `tests/fixtures/wechat/`.
pub fn bytes(relative: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/wechat/{relative}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// A JSON fixture, parsed.
pub fn json(relative: &str) -> Value {
    serde_json::from_slice(&bytes(relative)).expect("fixture is valid json")
}

/// The string at `key`, failing the test when it is missing.
pub fn str<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("fixture has no string {key:?}"))
}

/// Every string of a JSON array.
pub fn strs(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

/// The element of a JSON array whose `key` is `wanted`.
pub fn find<'a>(array: &'a Value, key: &str, wanted: &str) -> &'a Value {
    let items = array.as_array().expect("an array");
    items
        .iter()
        .find(|item| item[key] == wanted)
        .expect("the fixture entry exists")
}

/// A 16-byte random prefix given as 16 ASCII characters.
pub fn random(value: &Value) -> [u8; 16] {
    str(value, "random")
        .as_bytes()
        .try_into()
        .expect("16 ascii characters")
}
