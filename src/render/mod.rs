//! How events and banners are shown to people and scripts.
//!
//! - [`palette`]: colour styles behind a single `enabled` flag decided by the caller;
//! - [`text`]: human-readable event lines (`[15:04:01] 🟢 Resource active: database`),
//!   banners and footers, with server text sanitised;
//! - [`json`]: one JSON object per line for `--output json`.
//!
//! These are pure, synchronous formatting functions: they return `String`s or write into a
//! `Write` they are handed. They never pick a stream, detect a terminal or read the environment,
//! and they hold no global state (no owo-colors overrides).

pub mod json;
pub mod palette;
pub mod text;
