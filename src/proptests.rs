//! Shared set-up of the property tests (proptest): a bounded number of cases in `cargo test`,
//! so the whole suite stays quick on two cores, and more on demand:
//! `PROPTEST_CASES=10000 cargo test --locked --lib` (README, "Tests").

use proptest::test_runner::Config;

/// `default_cases` cases, or `PROPTEST_CASES` when set; no failure files written into the
/// source tree (a failing case is printed, with its seed, instead).
pub(crate) fn config(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}
