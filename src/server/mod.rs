//! The bundled reference platform server (`ctl server`).

pub mod catalogue;
pub mod orchestrator;
