//! The event reader (`ctl::event::Event::from_json`, with its fast path for compact events):
//! it reads exactly what serde_json reads, refusing the same texts, and routing reads the
//! same fields as a full read.
#![no_main]

use ctl::event::Event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let read = Event::from_json(text);
    let serde: Result<Event, _> = serde_json::from_str(text);
    match (&read, &serde) {
        (Ok(read), Ok(serde)) => assert_eq!(read, serde, "{text}"),
        (Err(_), Err(_)) => {}
        _ => panic!("the reader and serde_json disagree on {text:?}: {read:?} / {serde:?}"),
    }
    if let (Ok(route), Ok(full)) = (Event::route_from_json(text), &read) {
        assert_eq!(route.id, full.id, "{text}");
        assert_eq!(route.kind, full.kind, "{text}");
        assert_eq!(route.app_name, full.app_name, "{text}");
        assert_eq!(route.deployment_id, full.deployment_id, "{text}");
    }
});
