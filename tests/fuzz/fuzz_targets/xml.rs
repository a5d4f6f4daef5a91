//! Any bytes as a decrypted push: the flat XML reader, then typing into an event and
//! everything the callback derives from it before storing.

#![no_main]

use cardbot::wechat::event::Event;
use cardbot::wechat::xml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let children = xml::parse_children(data);

    let event = Event::parse(data);

    // Event::parse is parse_children then from_fields: one fails exactly when the
    // other would, or the event was missing a required element.
    if let Ok(event) = event {
        assert!(
            children.is_ok(),
            "an event parsed from xml the reader refused"
        );
        assert!(!event.openid.is_empty() && !event.kind.is_empty());
        let key = event.dedup_key();
        assert!(key.starts_with("msg:") || key.starts_with("evt:"));
        let _ = event.window_opening();
        let _ = (event.is_message(), event.is_card_event());
    }
});
