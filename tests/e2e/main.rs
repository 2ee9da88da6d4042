//! End-to-end tests: the real `ctl` binary against the real `ctl server` (and, in `nchan`,
//! nginx with the nchan module), over real HTTP on ephemeral loopback ports. One test binary
//! (faster to link); one module per area.

#![allow(unreachable_pub)]

mod support;

mod commands;
mod config;
mod deploy;
mod docs;
mod hardening;
mod innominatus;
mod json;
mod limits;
mod nchan;
mod proxies;
mod redirects;
mod resilience;
mod specs;
mod terminal;
mod tls;
mod url_credentials;
mod whatwg;
