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
pub mod handoff;
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

/// Defines `main` for a program's binary: the binary reads its arguments, environment and
/// standard streams and hands them, with the sources' announcer and what starts the hub, to
/// [`crate::program::run_process`], so the library itself never touches them. Started as the
/// hub (by a program of hub mode: its `argv[0]`, which no request sets), it is the hub.
#[macro_export]
macro_rules! cgi_main {
    ($program:expr) => {
        fn main() -> std::process::ExitCode {
            if let Some(exit) = $crate::hub::main_if_hub(std::env::args_os()) {
                return exit;
            }
            let exit = $crate::program::run_process(
                &$program,
                ($crate::source::presence::announce, $crate::hub::start),
                std::env::args_os(),
                std::env::vars_os(),
                std::io::stdin().lock(),
                std::io::stdout().lock(),
                std::io::stderr().lock(),
            );
            std::process::ExitCode::from(exit.code())
        }
    };
}
