//! The integration tests: one crate, three rings.
//!
//! - `cgi`: each binary run as a web server runs it (cleared environment, RFC 3875 variables),
//!   its stream read with deadlines.
//! - `apache`, `lighttpd`: the programs behind real servers started on loopback from the
//!   templates in `apache-conf/`.
//! - `browser`: the demo pages in headless Chromium.
//! - `package`: the Debian package installed on this machine, served by the distribution's own
//!   Apache and lighttpd in a private network namespace, then purged; `command`: the
//!   `serverpush` operator command (`check`, `probe`, `channels`, `tail`).
//!
//! A test that needs a tool (apache2, lighttpd, chromium) fails when it is missing: run
//! `scripts/install-deps.sh` first.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

// The client and the fixtures are shared with the benchmark, which uses a few more of their
// functions than the tests do.
#[allow(dead_code)]
mod client;
#[allow(dead_code)]
mod fixtures;
mod harness;
mod served;
mod util;

mod apache;
mod browser;
mod cgi;
mod command;
mod lighttpd;
mod longpoll;
mod package;
mod redis;
mod store;
mod webcam;
