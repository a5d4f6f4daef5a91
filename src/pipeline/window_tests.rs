//! Tests of the customer-service window tracker.

use sled::Transactional;

use super::*;
use crate::pipeline::testing::{card_event, event, temp_db};

const T0: i64 = 1_700_000_000;
const HOUR: i64 = 3600;

fn windows(config: WindowConfig) -> Windows {
    Windows::open(&temp_db(), &config).unwrap()
}

fn consume_all(windows: &Windows, openid: &str, now: i64) -> u32 {
    let mut sent = 0;
    while windows.consume(openid, now).unwrap() {
        sent += 1;
    }
    sent
}

#[test]
fn a_user_message_opens_five_sends_for_48_hours() {
    let windows = windows(WindowConfig::default());

    windows.observe(&event("text", "u1", T0), T0 + 1).unwrap();

    let status = windows.status("u1", T0 + 1).unwrap();
    assert_eq!(
        status,
        WindowStatus {
            open: true,
            remaining: 5,
            expires_at: T0 + 48 * HOUR
        }
    );
    assert_eq!(consume_all(&windows, "u1", T0 + 2), 5);
    assert!(!windows.status("u1", T0 + 2).unwrap().open);
}

#[test]
fn a_window_closes_when_its_time_is_up() {
    let windows = windows(WindowConfig::default());
    windows.observe(&event("image", "u1", T0), T0).unwrap();

    let status = windows.status("u1", T0 + 48 * HOUR).unwrap();

    assert_eq!(
        status,
        WindowStatus {
            open: false,
            remaining: 0,
            expires_at: 0
        }
    );
    assert!(!windows.consume("u1", T0 + 48 * HOUR).unwrap());
}

#[test]
fn a_click_opens_three_sends_for_a_minute() {
    let windows = windows(WindowConfig::default());

    windows.observe(&event("click", "u1", T0), T0).unwrap();

    assert_eq!(windows.status("u1", T0 + 59).unwrap().remaining, 3);
    assert!(!windows.status("u1", T0 + 60).unwrap().open);
}

#[test]
fn events_that_open_no_window_leave_the_user_closed() {
    let windows = windows(WindowConfig::default());

    for kind in [
        "view",
        "user_get_card",
        "user_enter_session_from_card",
        "location_event",
    ] {
        windows.observe(&event(kind, "u1", T0), T0).unwrap();
    }

    assert!(!windows.status("u1", T0).unwrap().open);
}

#[test]
fn card_events_open_an_interaction_window_when_configured() {
    let config = WindowConfig {
        card_events_open_window: true,
        ..Default::default()
    };
    let windows = windows(config);

    windows
        .observe(&card_event("user_get_card", "u1", T0, "c1", "1"), T0)
        .unwrap();

    let status = windows.status("u1", T0).unwrap();
    assert_eq!((status.remaining, status.expires_at), (3, T0 + 60));
}

#[test]
fn a_new_message_replaces_the_message_window_with_a_fresh_quota() {
    let windows = windows(WindowConfig::default());
    windows.observe(&event("text", "u1", T0), T0).unwrap();
    consume_all(&windows, "u1", T0);

    windows
        .observe(&event("text", "u1", T0 + HOUR), T0 + HOUR)
        .unwrap();

    let status = windows.status("u1", T0 + HOUR).unwrap();
    assert_eq!((status.remaining, status.expires_at), (5, T0 + 49 * HOUR));
}

#[test]
fn an_older_message_handled_late_does_not_renew_the_window() {
    let windows = windows(WindowConfig::default());
    windows
        .observe(&event("text", "u1", T0 + 10), T0 + 10)
        .unwrap();
    windows.consume("u1", T0 + 10).unwrap();

    windows.observe(&event("text", "u1", T0), T0 + 20).unwrap();

    assert_eq!(windows.status("u1", T0 + 20).unwrap().remaining, 4);
}

#[test]
fn several_open_windows_add_up_to_one_status() {
    let windows = windows(WindowConfig::default());
    windows.observe(&event("text", "u1", T0), T0).unwrap();
    windows
        .observe(&event("subscribe", "u1", T0 + 5), T0 + 5)
        .unwrap();
    windows
        .observe(&event("scancode_push", "u1", T0 + 6), T0 + 6)
        .unwrap();

    let status = windows.status("u1", T0 + 6).unwrap();

    assert_eq!((status.remaining, status.expires_at), (11, T0 + 48 * HOUR));
    assert_eq!(consume_all(&windows, "u1", T0 + 6), 11);
}

#[test]
fn a_send_consumes_from_the_window_that_closes_first() {
    let windows = windows(WindowConfig::default());
    windows.observe(&event("text", "u1", T0), T0).unwrap();
    windows
        .observe(&event("click", "u1", T0 + 5), T0 + 5)
        .unwrap();

    for _ in 0..3 {
        assert!(windows.consume("u1", T0 + 6).unwrap());
    }

    // The click's three sends were used; the message window still has all five.
    assert_eq!(windows.status("u1", T0 + 6).unwrap().remaining, 5);
    assert_eq!(windows.status("u1", T0 + 70).unwrap().remaining, 5);
}

#[test]
fn wechat_45015_drops_every_window() {
    let windows = windows(WindowConfig::default());
    windows.observe(&event("text", "u1", T0), T0).unwrap();
    windows.observe(&event("scan", "u1", T0), T0).unwrap();

    windows
        .close("u1", CloseReason::from_errcode(45015).unwrap())
        .unwrap();

    assert_eq!(windows.status("u1", T0).unwrap().remaining, 0);
    assert!(windows.tree().is_empty());
}

#[test]
fn wechat_45047_leaves_no_quota_until_the_user_writes_again() {
    let windows = windows(WindowConfig::default());
    windows.observe(&event("text", "u1", T0), T0).unwrap();

    windows
        .close("u1", CloseReason::from_errcode(45047).unwrap())
        .unwrap();
    let after_close = windows.status("u1", T0 + 1).unwrap();
    let consumed_after_close = windows.consume("u1", T0 + 1).unwrap();
    windows
        .observe(&event("text", "u1", T0 + 2), T0 + 2)
        .unwrap();

    assert_eq!((after_close.open, after_close.remaining), (false, 0));
    assert!(!consumed_after_close);
    assert_eq!(windows.status("u1", T0 + 2).unwrap().remaining, 5);
}

#[test]
fn a_send_given_back_can_be_consumed_again() {
    let windows = windows(WindowConfig::default());
    windows.observe(&event("click", "u1", T0), T0).unwrap();
    consume_all(&windows, "u1", T0);

    let returned = windows.give_back("u1", T0 + 1).unwrap();

    assert!(returned);
    assert!(windows.consume("u1", T0 + 1).unwrap());
    assert!(!windows.give_back("u1", T0 + 60).unwrap());
}

#[test]
fn an_unfollow_drops_the_windows() {
    let windows = windows(WindowConfig::default());
    windows.observe(&event("text", "u1", T0), T0).unwrap();

    windows
        .observe(&event("unsubscribe", "u1", T0 + 1), T0 + 1)
        .unwrap();

    assert!(!windows.status("u1", T0 + 1).unwrap().open);
}

#[test]
fn prune_removes_users_whose_windows_all_closed() {
    let windows = windows(WindowConfig::default());
    windows.observe(&event("click", "old", T0), T0).unwrap();
    windows.observe(&event("text", "new", T0), T0).unwrap();

    let removed = windows.prune(T0 + HOUR).unwrap();

    assert_eq!(removed, 1);
    assert_eq!(windows.status("new", T0 + HOUR).unwrap().remaining, 5);
}

#[test]
fn window_updates_commit_with_another_tree_in_one_transaction() {
    let db = temp_db();
    let windows = Windows::open(&db, &WindowConfig::default()).unwrap();
    let inbox = db.open_tree("inbox").unwrap();
    inbox.insert(b"event-1", b"pending").unwrap();

    let consumed = (windows.tree(), &inbox)
        .transaction(|(tx_windows, tx_inbox)| {
            windows.observe_tx::<PipelineError>(tx_windows, &event("text", "u1", T0), T0)?;
            let consumed = windows.consume_tx::<PipelineError>(tx_windows, "u1", T0)?;
            windows.give_back_tx::<PipelineError>(tx_windows, "u1", T0)?;
            windows.consume_tx::<PipelineError>(tx_windows, "u1", T0)?;
            windows.close_tx::<PipelineError>(tx_windows, "nobody", CloseReason::QuotaUsed)?;
            let status = windows.status_tx::<PipelineError>(tx_windows, "u1", T0)?;
            tx_inbox.remove(&b"event-1"[..])?;
            Ok(consumed && status.remaining == 4)
        })
        .unwrap();

    assert!(consumed);
    assert_eq!(windows.status("u1", T0).unwrap().remaining, 4);
    assert!(inbox.is_empty());
}
