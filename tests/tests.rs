//! The integration tests: one crate, three rings.
//!
//! - `cgi`: each binary run as a web server runs it (cleared environment, RFC 3875 variables),
//!   its stream read with deadlines.
//! - `apache`, `lighttpd`: the programs behind real servers started on loopback from the
//!   templates in `apache-conf/`.
//! - `http2`: the same servers over HTTP/2 (h2 over TLS and h2c) and HTTP/1.1 over TLS, with
//!   curl and a minimal HTTP/2 client (`h2`) that resets streams.
//! - `browser`: the demo pages in headless Chromium; `client_js`: `www/serverpush.js` in it.
//! - `hosting`: the release archive installed by a hosting account under Apache with suEXEC
//!   and user directories, and its programs on an otherwise empty root.
//! - `presence`: a channel's presence over HTTP, and the metrics scraped by a real Prometheus.
//! - `package`: the Debian package installed on this machine, served by the distribution's own
//!   Apache and lighttpd in a private network namespace, then purged; `command`: the
//!   `serverpush` operator command, a module per subcommand.
//! - Across the rings: `heartbeat` (every stream writes at least every `heartbeat_secs`),
//!   `security` (the findings of the security reviews, one test each), `layers` (the library's
//!   modules use lower layers only).
//!
//! A test that needs a tool (apache2, lighttpd, curl, openssl, chromium) fails when it is missing: run
//! `scripts/install-deps.sh` first.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

// The client and the fixtures are shared with the benchmark, which uses a few more of their
// functions than the tests do.
#[allow(dead_code)]
mod client;
mod curl;
#[allow(dead_code)]
mod fixtures;
mod h2;
mod harness;
mod served;
mod util;

mod apache;
mod browser;
mod cgi;
mod client_js;
mod command;
mod heartbeat;
mod hostile;
mod hosting;
mod http2;
mod hub;
mod layers;
mod lighttpd;
mod longpoll;
mod mercure;
mod namespace;
mod nginx;
mod package;
mod presence;
mod properties;
mod protect;
mod redis;
mod rights;
mod security;
mod store;
mod webcam;
