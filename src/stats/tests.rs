use chrono::NaiveDate;
use serde_json::Value;
use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

use super::*;
use crate::config::StatsConfig;
use crate::stats::query::QueryParams;

/// 2026-12-03 12:00 in Shanghai.
const NOON: i64 = 1_796_270_400;
const CARD: &str = "pCard";

fn stats() -> Stats {
    let db = sled::Config::new().temporary(true).open().unwrap();
    Stats::open(&db, &StatsConfig::default()).unwrap()
}

fn event(kind: &str, code: &str, at: i64) -> Event {
    Event {
        kind: kind.to_string(),
        msg_type: "event".to_string(),
        openid: "oUser".to_string(),
        create_time: at,
        card_id: Some(CARD.to_string()),
        code: Some(code.to_string()),
        ..Event::default()
    }
}

fn received(code: &str, channel: &str, at: i64) -> Event {
    Event {
        outer_str: Some(channel.to_string()),
        is_give_by_friend: Some(false),
        ..event("user_get_card", code, at)
    }
}

fn record(stats: &Stats, event: &Event) {
    let trees = (stats.counters_tree(), stats.receipts_tree());
    trees
        .transaction(|(counters, receipts)| {
            stats.record_tx::<ConflictableTransactionError<()>>(counters, receipts, event, NOON)
        })
        .unwrap();
}

fn report(stats: &Stats, by: &str) -> Report {
    let params = QueryParams {
        by: Some(by.to_string()),
        ..QueryParams::default()
    };
    let today = stats.day_of(NOON);
    stats
        .query(&StatsQuery::parse(&params, today).unwrap())
        .unwrap()
}

fn row<'a>(report: &'a Report, key: &str) -> &'a Row {
    report.rows.iter().find(|row| row.key == key).unwrap()
}

#[test]
fn a_receipt_attributes_its_later_views_and_redemption_to_its_channel() {
    let stats = stats();

    record(&stats, &received("c1", "store_a", NOON - 3600));
    record(&stats, &event("user_view_card", "c1", NOON - 1800));
    record(&stats, &event("user_view_card", "c1", NOON - 1700));
    record(&stats, &event("user_consume_card", "c1", NOON));

    let report = report(&stats, "channel");
    let counts = &row(&report, "store_a").counts;
    assert_eq!(counts["received"], 1);
    assert_eq!(counts["viewed"], 2);
    assert_eq!(counts["funnel_engaged"], 1);
    assert_eq!(counts["redeemed"], 1);
    assert_eq!(counts["funnel_redeemed"], 1);
    assert_eq!(counts["redeem_secs_avg"], 3600);
    assert_eq!(report.metrics.len(), counts.len());
}

#[test]
fn events_without_a_receipt_count_under_unknown() {
    let stats = stats();

    record(&stats, &event("user_consume_card", "never-seen", NOON));
    record(&stats, &event("user_del_card", "never-seen-2", NOON));

    let report = report(&stats, "channel");
    let counts = &row(&report, "(unknown)").counts;
    assert_eq!(counts["redeemed"], 1);
    assert_eq!(counts["deleted"], 1);
    assert_eq!(counts["funnel_redeemed"], 0);
    assert_eq!(counts["redeem_secs_avg"], Value::Null);
}

#[test]
fn a_friends_gift_counts_for_the_givers_channel() {
    let stats = stats();
    let gift = Event {
        is_give_by_friend: Some(true),
        old_code: Some("c1".to_string()),
        outer_str: Some("ignored".to_string()),
        ..event("user_get_card", "c2", NOON)
    };

    record(&stats, &received("c1", "poster", NOON - 60));
    record(&stats, &event("user_gifting_card", "c1", NOON - 30));
    record(&stats, &gift);

    let report = report(&stats, "channel");
    let counts = &row(&report, "poster").counts;
    assert_eq!(counts["received"], 2);
    assert_eq!(counts["received_gift"], 1);
    assert_eq!(counts["gifted"], 1);
    assert!(report.rows.iter().all(|row| row.key != "ignored"));
}

#[test]
fn redemptions_count_by_any_source_staff_and_location() {
    let stats = stats();
    let redeemed = Event {
        consume_source: Some("FROM_SOMETHING_NEW".to_string()),
        staff_openid: Some("oStaff".to_string()),
        location_id: Some(42),
        location_name: Some("North Store".to_string()),
        ..event("user_consume_card", "c1", NOON)
    };

    record(&stats, &redeemed);

    let by_source = report(&stats, "source");
    let by_staff = report(&stats, "staff");
    let by_location = report(&stats, "location");
    assert_eq!(row(&by_source, "FROM_SOMETHING_NEW").counts["redeemed"], 1);
    assert_eq!(row(&by_staff, "oStaff").counts["redeemed"], 1);
    let location = row(&by_location, "42");
    assert_eq!(location.label.as_deref(), Some("North Store"));
    assert_eq!(by_location.totals["redeemed"], 1);
}

#[test]
fn days_follow_the_stats_time_zone_and_every_day_of_the_range_is_a_row() {
    let stats = stats();
    let shanghai_midnight = NOON - 12 * 3600;

    record(&stats, &received("c1", "a", shanghai_midnight - 1));
    record(&stats, &received("c2", "a", shanghai_midnight));

    let report = report(&stats, "day");
    assert_eq!(report.rows.len(), 30);
    assert_eq!(report.rows[29].key, "2026-12-03");
    assert_eq!(report.rows[29].counts["received"], 1);
    assert_eq!(report.rows[28].counts["received"], 1);
    assert_eq!(report.totals["received"], 2);
}

#[test]
fn rows_are_sorted_by_the_main_metric_and_a_card_filter_applies() {
    let stats = stats();
    let other_card = |code: &str| Event {
        card_id: Some("pOther".to_string()),
        ..received(code, "big", NOON)
    };

    record(&stats, &received("c1", "small", NOON));
    record(&stats, &received("c2", "large", NOON));
    record(&stats, &received("c3", "large", NOON));
    for code in ["x1", "x2", "x3"] {
        record(&stats, &other_card(code));
    }

    let all = report(&stats, "channel");
    let params = QueryParams {
        card: Some(CARD.to_string()),
        ..QueryParams::default()
    };
    let query = StatsQuery::parse(&params, stats.day_of(NOON)).unwrap();
    let one = stats.query(&query).unwrap();
    let keys = |report: &Report| {
        report
            .rows
            .iter()
            .map(|r| r.key.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&all), ["big", "large", "small"]);
    assert_eq!(keys(&one), ["large", "small"]);
}

#[test]
fn message_outcomes_count_per_rule() {
    let stats = stats();
    let tree = stats.counters_tree();

    let outcomes = [
        MessageOutcome::Sent,
        MessageOutcome::Sent,
        MessageOutcome::Failed,
    ];
    for outcome in outcomes {
        tree.transaction(|tx| {
            type Never = ConflictableTransactionError<()>;
            stats.record_outcome_tx::<Never>(tx, "welcome", outcome, NOON)
        })
        .unwrap();
    }

    let report = report(&stats, "rule");
    let counts = &row(&report, "welcome").counts;
    assert_eq!(counts["sent"], 2);
    assert_eq!(counts["failed"], 1);
    assert_eq!(counts["held"], 0);
}

#[test]
fn bad_parameters_say_what_to_fix() {
    let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
    let parse = |since: &str, until: &str, by: &str| {
        let params = QueryParams {
            card: None,
            since: Some(since.to_string()),
            until: Some(until.to_string()),
            by: Some(by.to_string()),
        };
        StatsQuery::parse(&params, today).unwrap_err().to_string()
    };

    assert!(parse("2026-13-01", "", "day").contains("write YYYY-MM-DD"));
    assert!(parse("2026-12-03", "2026-12-01", "day").contains("give since <= until"));
    assert!(parse("", "", "channels").contains("use one of channel, source"));
    assert!(parse("2020-01-01", "", "day").contains("at most 1000"));
}

#[test]
fn a_rule_sees_one_channel_of_one_card() {
    let stats = stats();

    record(&stats, &received("c1", "store_a", NOON - 86_400));
    record(&stats, &received("c2", "store_a", NOON));
    record(&stats, &received("c3", "store_b", NOON));

    let today = stats.channel_stats(CARD, "store_a", 1, NOON).unwrap();
    let week = stats.channel_stats(CARD, "store_a", 7, NOON).unwrap();
    assert_eq!(today.received, 1);
    assert_eq!(week.received, 2);
    assert_eq!(week.redeem_secs_avg, None);
}

#[test]
fn old_receipts_are_pruned() {
    let stats = stats();
    record(&stats, &received("c1", "a", NOON - 200 * 86_400));
    record(&stats, &received("c2", "a", NOON));

    let removed = stats.prune_receipts(NOON).unwrap();
    let within_the_hour = stats.prune_receipts(NOON + 60).unwrap();

    assert_eq!(removed, 1);
    assert_eq!(within_the_hour, 0);
    assert_eq!(stats.receipts_tree().len(), 1);
}

/// The report of `by` over `since..=until`.
fn report_between(stats: &Stats, by: &str, since: &str, until: &str) -> Report {
    let params = QueryParams {
        by: Some(by.to_string()),
        since: Some(since.to_string()),
        until: Some(until.to_string()),
        ..QueryParams::default()
    };
    let today = stats.day_of(NOON);
    stats
        .query(&StatsQuery::parse(&params, today).unwrap())
        .unwrap()
}

#[test]
fn funnel_stages_count_on_the_day_of_the_receipt_and_events_on_their_own() {
    let stats = stats();
    let two_days = 2 * 86_400;

    record(&stats, &received("c1", "poster", NOON - two_days));
    record(&stats, &event("user_view_card", "c1", NOON));
    record(&stats, &event("user_consume_card", "c1", NOON));

    let by_day = report(&stats, "day");
    let day = |key: &str| &row(&by_day, key).counts;
    assert_eq!(day("2026-12-01")["received"], 1);
    assert_eq!(day("2026-12-01")["viewed"], 0);
    assert_eq!(day("2026-12-03")["viewed"], 1);
    assert_eq!(day("2026-12-03")["redeemed"], 1);
    let receipt_day = report_between(&stats, "channel", "2026-12-01", "2026-12-01");
    let cohort = &row(&receipt_day, "poster").counts;
    assert_eq!(cohort["funnel_engaged"], 1);
    assert_eq!(cohort["funnel_redeemed"], 1);
    assert_eq!(cohort["redeemed"], 0);
    assert_eq!(cohort["redeem_secs_avg"], two_days);
}

#[test]
fn a_code_received_again_counts_once_and_a_restore_keeps_its_channel() {
    let stats = stats();
    let restored = Event {
        is_restore_member_card: Some(true),
        ..event("user_get_card", "c1", NOON)
    };

    record(&stats, &received("c1", "poster", NOON - 600));
    record(&stats, &restored);
    record(&stats, &received("c1", "poster", NOON - 300));
    record(&stats, &event("user_consume_card", "c1", NOON));

    let report = report(&stats, "channel");
    assert_eq!(report.rows.len(), 1, "{:?}", report.rows);
    let counts = &row(&report, "poster").counts;
    assert_eq!(counts["received"], 1);
    assert_eq!(counts["redeemed"], 1);
    assert_eq!(counts["redeem_secs_avg"], 600);
}

#[test]
fn a_restored_code_without_a_receipt_counts_under_unknown() {
    let stats = stats();
    let restored = Event {
        is_restore_member_card: Some(true),
        ..event("user_get_card", "c1", NOON)
    };

    record(&stats, &restored);

    let report = report(&stats, "channel");
    assert_eq!(row(&report, "(unknown)").counts["received"], 1);
    assert!(report.rows.iter().all(|row| row.key != "(none)"));
}

#[test]
fn a_gift_returned_to_its_giver_is_not_counted_as_another_gift() {
    let stats = stats();
    let returned = Event {
        is_return_back: Some(true),
        ..event("user_gifting_card", "c1", NOON)
    };

    record(&stats, &received("c1", "poster", NOON - 60));
    record(&stats, &event("user_gifting_card", "c1", NOON - 30));
    record(&stats, &returned);

    assert_eq!(
        row(&report(&stats, "channel"), "poster").counts["gifted"],
        1
    );
}

#[test]
fn a_location_is_its_id_or_else_its_name_and_id_zero_is_none() {
    let stats = stats();
    let at = |id: Option<i64>, name: Option<&str>, code: &str| Event {
        location_id: id,
        location_name: name.map(str::to_string),
        ..event("user_consume_card", code, NOON)
    };

    record(&stats, &at(Some(0), None, "c1"));
    record(&stats, &at(None, Some("Pay-cell Jing'an"), "c2"));
    record(&stats, &at(Some(42), Some("North Store"), "c3"));

    let by_location = report(&stats, "location");
    assert_eq!(row(&by_location, "(none)").counts["redeemed"], 1);
    assert_eq!(row(&by_location, "Pay-cell Jing'an").counts["redeemed"], 1);
    assert_eq!(
        row(&by_location, "42").label.as_deref(),
        Some("North Store")
    );
    assert!(by_location.rows.iter().all(|row| row.key != "0"));
}

#[test]
fn a_redemption_stamped_before_its_receipt_completes_the_funnel_without_a_waiting_time() {
    let stats = stats();

    record(&stats, &received("c1", "poster", NOON));
    record(&stats, &event("user_consume_card", "c1", NOON - 5));
    record(&stats, &received("c2", "poster", NOON - 100));
    record(&stats, &event("user_consume_card", "c2", NOON));

    let report = report(&stats, "channel");
    let counts = &row(&report, "poster").counts;
    assert_eq!(counts["funnel_redeemed"], 2);
    assert_eq!(counts["redeem_secs_avg"], 100);
}

#[test]
fn an_implausible_create_time_counts_on_the_day_the_push_arrived() {
    let stats = stats();
    let far_future = i64::MAX - 10;

    for (code, at) in [
        ("c1", far_future),
        ("c2", far_future),
        ("c3", 0),
        ("c4", -5),
    ] {
        record(&stats, &received(code, "poster", at));
        record(&stats, &event("user_consume_card", code, far_future));
    }

    let report = report(&stats, "channel");
    let counts = &row(&report, "poster").counts;
    assert_eq!(counts["received"], 4);
    assert_eq!(counts["funnel_redeemed"], 4);
    assert_eq!(counts["redeem_secs_avg"], 0);
}

#[test]
fn a_card_id_of_nul_bytes_alone_cannot_trap_an_every_card_query() {
    let stats = stats();
    let nul_card = Event {
        card_id: Some("\0".to_string()),
        ..received("c1", "poster", NOON)
    };
    record(&stats, &nul_card);
    record(&stats, &received("c2", "poster", NOON));

    let (answer, answered) = std::sync::mpsc::channel();
    let asked = stats.clone();
    std::thread::spawn(move || {
        let _ = answer.send(report(&asked, "channel"));
    });
    let report = answered
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the query never ended");

    assert_eq!(row(&report, "poster").counts["received"], 2);
}

#[test]
fn a_rule_reads_only_its_channels_counters_however_many_others_the_card_has() {
    let stats = stats();
    let days = 7;
    for n in 0..300 {
        let redeemed = Event {
            staff_openid: Some(format!("oStaff{n}")),
            consume_source: Some(format!("SOURCE_{n}")),
            ..event("user_consume_card", &format!("r{n}"), NOON)
        };
        record(
            &stats,
            &received(&format!("c{n}"), &format!("store_{n}"), NOON),
        );
        record(&stats, &redeemed);
    }
    record(&stats, &received("mine", "poster", NOON - 86_400));
    record(&stats, &event("user_view_card", "mine", NOON));

    let until = stats.day_of(NOON);
    let since = until - chrono::Days::new(days - 1);
    let (tally, read) = query::tally_channel(&stats, CARD, "poster", since, until).unwrap();
    let answer = stats.channel_stats(CARD, "poster", days, NOON).unwrap();

    assert_eq!(tally["received"], 1);
    assert_eq!(answer.received, 1);
    assert_eq!(answer.viewed, 1);
    assert_eq!(answer.funnel_engaged, 1);
    let metrics = By::Channel.metrics().len() + 1;
    assert!(read <= days as usize * metrics, "{read} counters read");
}

#[test]
fn a_redemption_without_a_view_passes_the_engaged_stage_so_the_funnel_stays_nested() {
    let stats = stats();

    record(&stats, &received("c1", "poster", NOON - 60));
    record(&stats, &event("user_consume_card", "c1", NOON));
    record(&stats, &received("c2", "poster", NOON - 60));
    record(&stats, &event("user_view_card", "c2", NOON - 30));
    record(&stats, &event("user_consume_card", "c2", NOON));
    record(&stats, &event("user_view_card", "c1", NOON + 30));
    record(&stats, &received("c3", "poster", NOON - 60));
    record(&stats, &event("user_consume_card", "c3", NOON));

    let report = report(&stats, "channel");
    let counts = &row(&report, "poster").counts;
    assert_eq!(counts["received"], 3);
    assert_eq!(counts["funnel_engaged"], 3);
    assert_eq!(counts["funnel_redeemed"], 3);
    assert_eq!(counts["viewed"], 2);
}

#[test]
fn totals_agree_whichever_way_the_same_days_are_counted() {
    let stats = stats();
    let late_evening = NOON + 12 * 3600 - 1;
    let redeemed = |code: &str, source: Option<&str>, at: i64| Event {
        consume_source: source.map(str::to_string),
        staff_openid: Some("oStaff".to_string()),
        location_name: Some("门店甲".to_string()),
        ..event("user_consume_card", code, at)
    };

    record(&stats, &received("c1", "poster", NOON - 86_400));
    record(&stats, &received("c2", "门店", late_evening));
    record(&stats, &redeemed("c1", Some("FROM_API"), NOON));
    record(&stats, &redeemed("c2", None, late_evening));
    record(
        &stats,
        &redeemed("never-received", Some("FROM_NEW"), NOON - 86_400),
    );
    record(&stats, &redeemed("c3", None, late_evening + 1));

    let total = |by: &str, metric: &str| {
        report_between(&stats, by, "2026-12-02", "2026-12-03").totals[metric].clone()
    };
    for by in ["channel", "source", "staff", "location", "day"] {
        assert_eq!(total(by, "redeemed"), 3, "redeemed by {by}");
    }
    assert_eq!(total("channel", "received"), 2);
    assert_eq!(total("day", "received"), 2);
}

#[test]
fn a_redemption_without_a_receipt_counts_for_the_tag_it_carries() {
    let stats = stats();
    let tagged = Event {
        outer_str: Some("poster".to_string()),
        ..event("user_consume_card", "before-counting", NOON)
    };

    record(&stats, &tagged);
    record(&stats, &event("user_consume_card", "untagged", NOON));

    let report = report(&stats, "channel");
    let poster = &row(&report, "poster").counts;
    assert_eq!(poster["redeemed"], 1);
    assert_eq!(poster["funnel_redeemed"], 0);
    assert_eq!(row(&report, "(unknown)").counts["redeemed"], 1);
}

/// Every day a counter of `stats` is kept for, card and rule counters alike.
fn counted_days(stats: &Stats) -> std::collections::BTreeSet<String> {
    let mut days = std::collections::BTreeSet::new();
    for item in stats.counters_tree().iter() {
        let (raw, _) = item.unwrap();
        if let Some(card) = key::parse_card_key(&raw) {
            days.insert(card.day);
        } else if let Some((day, _, _)) = key::parse_rule_key(&raw) {
            days.insert(day);
        }
    }
    days
}

#[test]
fn counters_older_than_their_retention_are_pruned_and_labels_kept() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let config = StatsConfig {
        counter_retention_days: 30,
        ..StatsConfig::default()
    };
    let stats = Stats::open(&db, &config).unwrap();
    const DAY: i64 = 86_400;
    for (code, at) in [
        ("c1", NOON - 40 * DAY),
        ("c2", NOON - 29 * DAY),
        ("c3", NOON),
    ] {
        record(&stats, &received(code, "poster", at));
        let redeemed = Event {
            location_id: Some(7),
            location_name: Some("East Store".to_string()),
            ..event("user_consume_card", code, at)
        };
        record(&stats, &redeemed);
        stats
            .counters_tree()
            .transaction(|tx| {
                type Never = ConflictableTransactionError<()>;
                stats.record_outcome_tx::<Never>(tx, "thanks", MessageOutcome::Sent, at)
            })
            .unwrap();
    }

    let removed = stats.prune_counters(NOON).unwrap();
    let again = stats.prune_counters(NOON + 60).unwrap();

    assert!(removed > 0);
    assert_eq!(again, 0, "a prune waits its interval");
    let days: Vec<String> = counted_days(&stats).into_iter().collect();
    assert_eq!(
        days,
        vec!["2026-11-04".to_string(), "2026-12-03".to_string()]
    );
    let label = stats.counters_tree().get(key::label_key("7")).unwrap();
    assert!(label.is_some(), "the location's name is kept");
}

#[test]
fn counters_are_kept_for_ever_by_default() {
    let stats = stats();
    record(&stats, &received("c1", "poster", NOON - 4_000 * 86_400));

    let removed = stats.prune_counters(NOON).unwrap();

    assert_eq!(removed, 0);
    assert_eq!(counted_days(&stats).len(), 1);
}
