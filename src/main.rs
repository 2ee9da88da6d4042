//! `ctl`: deploy Score specs and watch them roll out.
fn main() {}
