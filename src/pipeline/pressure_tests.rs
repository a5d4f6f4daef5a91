//! Tests of the contact pressure caps and quiet hours.

use chrono_tz::Asia::Shanghai;
use sled::Transactional;

use super::*;
use crate::pipeline::testing::temp_db;

/// A wall-clock time in Shanghai, as unix seconds.
fn shanghai(day: u32, hour: u32, minute: u32) -> i64 {
    Shanghai
        .with_ymd_and_hms(2024, 3, day, hour, minute, 0)
        .unwrap()
        .timestamp()
}

fn pressure(toml: &str) -> Pressure {
    let config: PressureConfig = toml::from_str(toml).unwrap();
    let policy = PressurePolicy::from_config(&config).unwrap();
    Pressure::open(&temp_db(), policy).unwrap()
}

fn record_times(pressure: &Pressure, rule: &str, times: usize, now: i64) {
    for _ in 0..times {
        pressure.record("u1", rule, now).unwrap();
    }
}

#[test]
fn without_caps_or_quiet_hours_everything_is_allowed() {
    let pressure = pressure("");
    record_times(&pressure, "welcome", 50, shanghai(1, 12, 0));

    let verdict = pressure.check("u1", "welcome", shanghai(1, 12, 0)).unwrap();

    assert_eq!(verdict, Verdict::Allow);
}

#[test]
fn the_daily_cap_suppresses_with_its_numbers() {
    let pressure = pressure("daily_cap = 3");
    record_times(&pressure, "welcome", 2, shanghai(1, 9, 0));
    let before_cap = pressure.check("u1", "other", shanghai(1, 10, 0)).unwrap();
    record_times(&pressure, "thanks", 1, shanghai(1, 10, 0));

    let verdict = pressure.check("u1", "other", shanghai(1, 11, 0)).unwrap();

    assert_eq!(before_cap, Verdict::Allow);
    let Verdict::Suppress(reason) = verdict else {
        panic!("expected a suppression, got {verdict:?}");
    };
    assert_eq!(
        reason.to_string(),
        "daily cap of 3 messages reached for this user on 2024-03-01"
    );
    assert_eq!(
        serde_json::to_value(&reason).unwrap(),
        serde_json::json!({"cap": "daily", "limit": 3, "sent": 3, "day": "2024-03-01"})
    );
}

#[test]
fn the_daily_cap_rolls_over_at_local_midnight() {
    let pressure = pressure("daily_cap = 1");
    record_times(&pressure, "welcome", 1, shanghai(1, 23, 59));

    let before_midnight = pressure
        .check("u1", "welcome", shanghai(1, 23, 59))
        .unwrap();
    let after_midnight = pressure.check("u1", "welcome", shanghai(2, 0, 0)).unwrap();

    // Shanghai's midnight is 16:00 UTC: a UTC day would not have rolled over yet.
    assert!(matches!(before_midnight, Verdict::Suppress(_)));
    assert_eq!(after_midnight, Verdict::Allow);
}

#[test]
fn the_caps_of_one_user_leave_another_alone() {
    let pressure = pressure("daily_cap = 1");
    record_times(&pressure, "welcome", 1, shanghai(1, 9, 0));

    let verdict = pressure.check("u2", "welcome", shanghai(1, 9, 0)).unwrap();

    assert_eq!(verdict, Verdict::Allow);
}

#[test]
fn a_rule_cap_limits_only_its_rule() {
    let pressure = pressure("daily_cap = 10\n[rule_caps]\nwelcome = 1\n");
    record_times(&pressure, "welcome", 1, shanghai(1, 9, 0));

    let same_rule = pressure.check("u1", "welcome", shanghai(1, 9, 5)).unwrap();
    let other_rule = pressure.check("u1", "thanks", shanghai(1, 9, 5)).unwrap();

    let expected = SuppressReason::Rule {
        rule: "welcome".to_string(),
        limit: 1,
        sent: 1,
        day: "2024-03-01".to_string(),
    };
    assert_eq!(same_rule, Verdict::Suppress(expected));
    assert_eq!(other_rule, Verdict::Allow);
}

#[test]
fn quiet_hours_wrapping_midnight_wait_until_the_morning() {
    let pressure = pressure("quiet_start = \"22:00\"\nquiet_end = \"08:00\"\n");

    let evening = pressure.check("u1", "r", shanghai(1, 22, 0)).unwrap();
    let night = pressure.check("u1", "r", shanghai(2, 3, 30)).unwrap();
    let morning = pressure.check("u1", "r", shanghai(2, 8, 0)).unwrap();
    let day = pressure.check("u1", "r", shanghai(2, 21, 59)).unwrap();

    assert_eq!(evening, Verdict::WaitUntil(shanghai(2, 8, 0)));
    assert_eq!(night, Verdict::WaitUntil(shanghai(2, 8, 0)));
    assert_eq!(morning, Verdict::Allow);
    assert_eq!(day, Verdict::Allow);
}

#[test]
fn quiet_hours_within_one_day_end_the_same_day() {
    let pressure = pressure("quiet_start = \"12:00\"\nquiet_end = \"14:00\"\n");

    let lunch = pressure.check("u1", "r", shanghai(1, 13, 15)).unwrap();
    let before = pressure.check("u1", "r", shanghai(1, 11, 59)).unwrap();

    assert_eq!(lunch, Verdict::WaitUntil(shanghai(1, 14, 0)));
    assert_eq!(before, Verdict::Allow);
}

#[test]
fn a_message_held_overnight_is_judged_by_the_next_days_cap() {
    let pressure = pressure("daily_cap = 1\nquiet_start = \"22:00\"\nquiet_end = \"08:00\"\n");
    record_times(&pressure, "welcome", 1, shanghai(1, 21, 0));

    let before_midnight = pressure.check("u1", "welcome", shanghai(1, 23, 0)).unwrap();
    record_times(&pressure, "welcome", 1, shanghai(2, 1, 0));
    let after_midnight = pressure.check("u1", "welcome", shanghai(2, 2, 0)).unwrap();

    assert_eq!(before_midnight, Verdict::WaitUntil(shanghai(2, 8, 0)));
    assert!(matches!(
        after_midnight,
        Verdict::Suppress(SuppressReason::Daily { .. })
    ));
}

#[test]
fn quiet_hours_follow_the_configured_time_zone() {
    let pressure =
        pressure("quiet_start = \"22:00\"\nquiet_end = \"08:00\"\ntimezone = \"Europe/London\"\n");
    let london_noon = chrono_tz::Europe::London
        .with_ymd_and_hms(2024, 1, 10, 12, 0, 0)
        .unwrap()
        .timestamp();
    let london_23h = london_noon + 11 * 3600;

    let noon = pressure.check("u1", "r", london_noon).unwrap();
    let late = pressure.check("u1", "r", london_23h).unwrap();

    assert_eq!(noon, Verdict::Allow);
    assert_eq!(late, Verdict::WaitUntil(london_noon + 20 * 3600));
}

#[test]
fn prune_drops_the_days_before_the_given_one() {
    let pressure = pressure("daily_cap = 1");
    record_times(&pressure, "welcome", 1, shanghai(1, 9, 0));
    record_times(&pressure, "welcome", 1, shanghai(2, 9, 0));

    let removed = pressure.prune(shanghai(2, 0, 0)).unwrap();

    assert_eq!(removed, 2);
    assert!(matches!(
        pressure.check("u1", "welcome", shanghai(2, 10, 0)).unwrap(),
        Verdict::Suppress(_)
    ));
}

#[test]
fn counting_commits_with_another_tree_in_one_transaction() {
    let db = temp_db();
    let config: PressureConfig = toml::from_str("daily_cap = 1").unwrap();
    let pressure = Pressure::open(&db, PressurePolicy::from_config(&config).unwrap()).unwrap();
    let outbox = db.open_tree("outbox").unwrap();
    outbox.insert(b"m1", b"queued").unwrap();
    let now = shanghai(1, 9, 0);

    let verdicts = (pressure.tree(), &outbox)
        .transaction(|(tx_pressure, tx_outbox)| {
            let first = pressure.check_tx::<PipelineError>(tx_pressure, "u1", "r", now)?;
            pressure.record_tx::<PipelineError>(tx_pressure, "u1", "r", now)?;
            let second = pressure.check_tx::<PipelineError>(tx_pressure, "u1", "r", now)?;
            tx_outbox.remove(&b"m1"[..])?;
            Ok((first, second))
        })
        .unwrap();

    assert_eq!(verdicts.0, Verdict::Allow);
    assert!(matches!(verdicts.1, Verdict::Suppress(_)));
    assert!(outbox.is_empty());
}
