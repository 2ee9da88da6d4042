//! `ctl`: deploy Score workload specs to a platform server and watch them roll out live.
//!
//! One crate, a library plus a thin binary (`src/main.rs`). The library is laid out by
//! responsibility:
//!
//! - [`cli`]: the clap definitions (what the user can type);
//! - [`settings`]: raw arguments + environment turned once into validated settings;
//! - [`config`]: the config file and its named contexts (server, API key);
//! - [`exit`]: the exit-code table, the only place exit numbers live;
//! - [`error`]: the top-level error, which owns exit status and wording;
//! - [`commands`]: one module per subcommand (`deploy`, `server`, ...);
//! - [`spec`]: Score spec loading and validation, shared by client and server;
//! - [`event`]: the wire event model, shared by client, server and renderers;
//! - [`client`]: the HTTP API client and the event-stream watcher;
//! - [`tracker`]: what the client knows of a deployment (resource states, outcome);
//! - [`secret`]: API keys that never print themselves;
//! - [`render`]: how events are shown (text lines, JSON lines, colour);
//! - [`server`]: the bundled reference platform server (`ctl server`).
//!
//! Synchronous modules (`spec`, `event`, `render`) do no I/O of their own; only `client` and
//! `server` await.

pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod error;
pub mod event;
pub mod exit;
pub mod render;
pub mod secret;
pub mod server;
pub mod settings;
pub mod spec;
pub mod tracker;

#[cfg(test)]
mod proptests;

pub use error::Error;
pub use exit::ExitStatus;
