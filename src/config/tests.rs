//! Loading and validating configuration.

use chrono::NaiveTime;

use super::*;

const MINIMAL: &str = "[wechat]\ntoken = \"t\"\n";

#[test]
fn the_shipped_config_toml_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");

    let config = Config::load(&path).unwrap();

    assert_eq!(config.server.callback_path, "/wechat");
}

#[test]
fn a_minimal_config_takes_the_defaults() {
    let config = Config::from_toml(MINIMAL).unwrap();

    config.validate().unwrap();

    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.server.callback_path, "/wechat");
    assert_eq!(config.wechat.api_base, "https://api.weixin.qq.com");
    assert_eq!(config.rules.dir, PathBuf::from("rules"));
}

#[test]
fn an_unknown_key_is_named() {
    let err = Config::from_toml("[server]\nlisten_addr = \"x\"\n").unwrap_err();

    let text = err.to_string();
    assert!(text.starts_with("server.listen_addr"), "{text}");
}

#[test]
fn a_bad_aes_key_is_named_with_what_is_expected() {
    let text = format!("{MINIMAL}app_id = \"wx1\"\nencoding_aes_key = \"short\"\n");
    let config = Config::from_toml(&text).unwrap();

    let err = config.validate().unwrap_err();

    assert_eq!(
        err.to_string(),
        "wechat.encoding_aes_key: must be 43 characters of base64"
    );
}

#[test]
fn a_value_of_the_wrong_type_is_named() {
    let err = Config::from_toml("[server]\nmax_body_bytes = \"big\"\n").unwrap_err();

    assert!(
        err.to_string().starts_with("server.max_body_bytes"),
        "{err}"
    );
}

#[test]
fn environment_secrets_override_the_file() {
    let mut config = Config::from_toml(MINIMAL).unwrap();

    config.apply_env(|name| (name == ENV_TOKEN).then(|| "from-env".to_string()));

    assert_eq!(config.wechat.token, "from-env");
}

#[test]
fn secrets_do_not_appear_in_debug_output() {
    let text = "[wechat]\ntoken = \"tok-secret\"\napp_secret = \"app-secret\"\n";
    let config = Config::from_toml(text).unwrap();

    let debug = format!("{config:?}");

    assert!(!debug.contains("tok-secret") && !debug.contains("app-secret"));
}

#[test]
fn a_token_url_shows_only_where_it_points_in_debug_output() {
    let text = "[wechat]\ntoken = \"t\"\ntoken_mode = \"external\"\n\
                token_url = \"https://ops-user:pw-secret@tokens.example:8443/t/path-secret?key=q-secret\"\n";
    let config = Config::from_toml(text).unwrap();

    let debug = format!("{config:?}");

    assert!(
        debug.contains("https://tokens.example:8443/<redacted>"),
        "{debug}"
    );
    for secret in ["pw-secret", "path-secret", "q-secret", "ops-user"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
}

#[test]
fn the_pipeline_sections_take_their_defaults() {
    let config = Config::from_toml(MINIMAL).unwrap();

    config.validate().unwrap();

    assert_eq!(config.window.message_quota, 5);
    assert_eq!(config.window.message_window_secs, 172_800);
    assert_eq!(
        config.pressure.time_zone().unwrap(),
        chrono_tz::Asia::Shanghai
    );
    assert_eq!(config.pressure.quiet_hours().unwrap(), None);
    assert_eq!(config.decisions.max_per_user, 200);
    assert_eq!(config.worker.concurrency, 4);
}

#[test]
fn quiet_hours_and_rule_caps_are_read() {
    let text = format!(
        "{MINIMAL}[pressure]\nquiet_start = \"22:00\"\nquiet_end = \"08:00\"\n\
         [pressure.rule_caps]\nwelcome = 1\n"
    );
    let config = Config::from_toml(&text).unwrap();

    config.validate().unwrap();

    let quiet = config.pressure.quiet_hours().unwrap().unwrap();
    assert_eq!(quiet.start, NaiveTime::from_hms_opt(22, 0, 0).unwrap());
    assert_eq!(quiet.end, NaiveTime::from_hms_opt(8, 0, 0).unwrap());
    assert_eq!(config.pressure.rule_caps.get("welcome"), Some(&1));
}

#[test]
fn a_bad_time_zone_is_named() {
    let text = format!("{MINIMAL}[pressure]\ntimezone = \"Asia/Shanghia\"\n");
    let config = Config::from_toml(&text).unwrap();

    let err = config.validate().unwrap_err();

    assert!(
        err.to_string()
            .starts_with("pressure.timezone: unknown time zone"),
        "{err}"
    );
}

#[test]
fn a_bad_stats_time_zone_or_retention_is_named() {
    let zone = format!("{MINIMAL}[stats]\ntimezone = \"Mars/Olympus\"\n");
    let retention = format!("{MINIMAL}[stats]\nreceipt_retention_days = 0\n");

    let zone_err = Config::from_toml(&zone).unwrap().validate().unwrap_err();
    let retention_err = Config::from_toml(&retention)
        .unwrap()
        .validate()
        .unwrap_err();

    assert!(
        zone_err
            .to_string()
            .starts_with("stats.timezone: unknown time zone"),
        "{zone_err}"
    );
    assert!(
        retention_err
            .to_string()
            .starts_with("stats.receipt_retention_days: must be at least 1"),
        "{retention_err}"
    );
}

#[test]
fn a_bad_quiet_hour_is_named() {
    let pressure = "[pressure]\nquiet_start = \"25:00\"\nquiet_end = \"08:00\"\n";
    let text = format!("{MINIMAL}{pressure}");
    let config = Config::from_toml(&text).unwrap();

    let err = config.validate().unwrap_err();

    assert!(
        err.to_string()
            .starts_with("pressure.quiet_start: \"25:00\""),
        "{err}"
    );
}

#[test]
fn quiet_hours_need_both_ends() {
    let text = format!("{MINIMAL}[pressure]\nquiet_start = \"22:00\"\n");
    let config = Config::from_toml(&text).unwrap();

    let err = config.validate().unwrap_err();

    assert!(err.to_string().starts_with("pressure.quiet_end"), "{err}");
}

#[test]
fn a_zero_window_quota_is_named() {
    let text = format!("{MINIMAL}[window]\nmessage_quota = 0\n");
    let config = Config::from_toml(&text).unwrap();

    let err = config.validate().unwrap_err();

    assert_eq!(err.to_string(), "window.message_quota: must be at least 1");
}

#[test]
fn an_unknown_window_key_is_named() {
    let err = Config::from_toml("[window]\nquota = 5\n").unwrap_err();

    assert!(err.to_string().starts_with("window.quota"), "{err}");
}

#[test]
fn the_shipped_config_toml_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let text = std::fs::read_to_string(path).unwrap();

    let config = Config::from_toml(&text).unwrap();

    config.validate_pipeline().unwrap();
    assert_eq!(config.window.message_quota, 5);
}

#[test]
fn remote_metrics_without_a_token_are_refused_with_what_to_set() {
    let text = format!("{MINIMAL}\n[metrics]\nallow_remote = true\n");
    let config = Config::from_toml(&text).unwrap();

    let err = config.validate().unwrap_err().to_string();

    assert!(err.starts_with("metrics.token: must be set"), "{err}");
    assert!(err.contains(ENV_METRICS_TOKEN), "{err}");
}

#[test]
fn remote_metrics_with_a_token_or_switched_off_are_fine() {
    for metrics in [
        "allow_remote = true\ntoken = \"m\"",
        "allow_remote = true\nenabled = false",
    ] {
        let text = format!("{MINIMAL}\n[metrics]\n{metrics}\n");

        let config = Config::from_toml(&text).unwrap();

        config.validate().unwrap();
    }
}

#[test]
fn an_admin_listener_is_an_address_or_empty() {
    let empty = Config::from_toml(&format!("{MINIMAL}\n[admin]\nlisten = \"\"\n")).unwrap();
    let set = Config::from_toml(&format!(
        "{MINIMAL}\n[admin]\nlisten = \"127.0.0.1:8081\"\n"
    ));
    let bad = Config::from_toml(&format!("{MINIMAL}\n[admin]\nlisten = \"8081\"\n"));
    let same = Config::from_toml(&format!(
        "{MINIMAL}\n[admin]\nlisten = \"127.0.0.1:8080\"\n"
    ));

    assert_eq!(empty.admin.listen, None);
    assert_eq!(set.unwrap().admin.listen.unwrap().port(), 8081);
    let bad = bad.unwrap_err().to_string();
    assert!(bad.starts_with("admin.listen"), "{bad}");
    let same = same.unwrap().validate().unwrap_err().to_string();
    assert!(same.starts_with("admin.listen: must differ"), "{same}");
}
