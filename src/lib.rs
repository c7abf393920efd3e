//! serverpush: NPH CGI programs that push data to browsers through Apache httpd or lighttpd,
//! with no daemon of their own.
//!
//! A binary turns its process environment into a [`cgi::Request`], and [`program::run`] drives a
//! [`program::Program`] (such as [`source::clock::Clock`]) that writes a [`head::Head`] and then
//! units through the [`stream`] engine's writer over the [`transport`]s, paced by
//! [`pacing::Pacing`].
//! The library never reads the process environment and never writes to stdout itself: every
//! input is a parameter and every output a `W: Write`, so everything is testable with bytes.

pub mod cgi;
pub mod config;
pub mod counters;
pub mod head;
pub mod hub;
pub mod name;
pub mod pacing;
pub mod program;
pub mod query;
pub mod refusal;
pub mod regular;
pub mod rights;
pub mod server;
pub mod slots;
pub mod source;
pub mod store;
pub mod stream;
pub mod transport;
pub mod watch;

#[cfg(test)]
mod testing;
