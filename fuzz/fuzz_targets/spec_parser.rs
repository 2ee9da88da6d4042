//! The spec parser through its public API (`ctl::spec::parse_bytes`): any bytes give a spec
//! or an error with a message, never a panic, and within the parser's limits of time and
//! memory (libFuzzer's -timeout and -rss_limit_mb catch the rest).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match ctl::spec::parse_bytes(data, "fuzz.yaml") {
        Ok(spec) => assert!(ctl::spec::is_dns_label(&spec.name), "{:?}", spec.name),
        Err(err) => assert!(!err.to_string().is_empty()),
    }
});
