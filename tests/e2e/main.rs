//! End-to-end tests (placeholder).
fn main() {}
