//! The handler names a rule may define (`on_<event type>`), and the check that refuses a
//! misspelt one with the nearest known name.

/// Handlers of WeChat events: `on_` + the `Event` value in lower case.
const EVENT_HANDLERS: [&str; 33] = [
    "on_user_get_card",
    "on_user_consume_card",
    "on_user_enter_session_from_card",
    "on_user_view_card",
    "on_user_del_card",
    "on_user_gifting_card",
    "on_card_pass_check",
    "on_card_not_pass_check",
    "on_user_pay_from_pay_cell",
    "on_update_member_card",
    "on_card_sku_remind",
    "on_card_pay_order",
    "on_submit_membercard_user_info",
    "on_giftcard_pay_done",
    "on_giftcard_send_to_friend",
    "on_giftcard_user_accept",
    "on_update_invoice_status",
    "on_submit_invoice_title",
    "on_user_authorize_invoice",
    "on_subscribe",
    "on_unsubscribe",
    "on_scan",
    "on_click",
    "on_view",
    "on_view_miniprogram",
    "on_templatesendjobfinish",
    "on_masssendjobfinish",
    "on_text",
    "on_image",
    "on_voice",
    "on_video",
    "on_shortvideo",
    "on_location",
];

/// Handlers of the remaining message types, and the one that sees everything.
const OTHER_HANDLERS: [&str; 3] = ["on_link", "on_file", ON_EVENT];

/// Runs for every event and message, after the rule's specific handler.
pub const ON_EVENT: &str = "on_event";

/// Every handler name a rule may define.
pub fn known_handlers() -> impl Iterator<Item = &'static str> {
    EVENT_HANDLERS.iter().chain(OTHER_HANDLERS.iter()).copied()
}

/// The handler name for an event type (`user_get_card` -> `on_user_get_card`).
pub fn handler_for(kind: &str) -> String {
    format!("on_{kind}")
}

/// Checks one function of a rule; `Err` says what is wrong and how to fix it.
pub fn check_function(name: &str, params: usize) -> Result<(), String> {
    if !name.starts_with("on_") {
        return Ok(());
    }
    if !known_handlers().any(|known| known == name) {
        let hint = match nearest_handler(name) {
            Some(near) => format!("; did you mean {near}?"),
            None => String::new(),
        };
        return Err(format!(
            "{name} is not a known handler{hint} (helper functions must not start with on_)"
        ));
    }
    if params != 1 {
        return Err(format!(
            "handler {name} must take exactly one parameter (the event), not {params}"
        ));
    }
    Ok(())
}

/// The known handler closest to `name`, if it is close enough to be a typo.
fn nearest_handler(name: &str) -> Option<&'static str> {
    let (distance, near) = known_handlers()
        .map(|known| (edit_distance(name, known), known))
        .min()?;
    (distance <= 3.max(name.len() / 5)).then_some(near)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_handler_is_refused_with_the_nearest_name() {
        let err = check_function("on_user_get_crad", 1).unwrap_err();

        assert!(err.contains("did you mean on_user_get_card?"), "{err}");
    }

    #[test]
    fn a_handler_with_two_parameters_is_refused() {
        let err = check_function("on_text", 2).unwrap_err();

        assert!(err.contains("exactly one parameter"), "{err}");
    }

    #[test]
    fn helpers_and_known_handlers_pass() {
        assert!(check_function("pick_coupon", 3).is_ok());
        assert!(check_function("on_event", 1).is_ok());
        assert!(check_function("on_user_consume_card", 1).is_ok());
    }

    #[test]
    fn a_name_far_from_every_handler_gets_no_hint() {
        let err = check_function("on_zzzzzzzzzzzzzzzzzzzzzzzzzzzz", 1).unwrap_err();

        assert!(!err.contains("did you mean"), "{err}");
    }
}
