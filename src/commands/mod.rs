//! Commands: one module per subcommand, each with its clap args struct next to its `run`.

pub mod server;
