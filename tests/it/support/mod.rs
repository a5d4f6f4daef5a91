//! Shared test helpers: fixtures, signed pushes, the cardbot server under test.

#![allow(dead_code)]

pub mod admin;
pub mod admin_proxy;
pub mod browser;
pub mod fake_wechat;
pub mod pipeline;
pub mod push;
pub mod server;

use std::path::PathBuf;

/// The path of a fixture under tests/fixtures.
pub fn fixture_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative)
}

/// The bytes of a fixture under tests/fixtures.
pub fn fixture(relative: &str) -> Vec<u8> {
    let path = fixture_path(relative);
    std::fs::read(&path).unwrap_or_else(|err| panic!("fixture {}: {err}", path.display()))
}

/// A fixture as text.
pub fn fixture_text(relative: &str) -> String {
    String::from_utf8(fixture(relative)).unwrap()
}

/// A JSON fixture under tests/fixtures.
pub fn fixture_json(relative: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture(relative))
        .unwrap_or_else(|err| panic!("fixture {relative} is not json: {err}"))
}

/// Whether this runs on CI: `CI` set to anything but empty, `false` or `0`, as CI
/// services set it (`true`, `1`). A test whose tool is missing fails there and only
/// says so elsewhere.
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|ci| !matches!(ci.trim(), "" | "false" | "0"))
}
