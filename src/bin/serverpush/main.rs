//! `serverpush`: the operator's command. One binary with a subcommand per task: publish to a
//! channel, play a camera, check an installation, probe a live stream, list and follow channels.
//!
//! It is not a CGI program: the web server never runs it, so it may use `clap` and `anyhow`,
//! which the CGI programs must not link (each request starts one of them). Its code lives here,
//! in the binary, and the library knows nothing of it.
//!
//! Called as `serverpush-publish` or `serverpush-camsim` (a symlink, as `scripts/install-cgi.sh`
//! installs), it is the subcommand of that name, so the commands of earlier releases keep
//! working with the same options.

mod camsim;
mod channels;
mod check;
mod cli;
mod man;
mod owner;
mod presence;
mod probe;
mod publish;
mod terminal;

use std::ffi::OsString;
use std::io;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse_from(with_alias(std::env::args_os()));
    match run(cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // An error may quote what a server answered or a store held (a publish refused
            // with the server's body): escaped here once, for every subcommand.
            eprintln!("serverpush: {}", terminal::escape(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

/// What a subcommand found: 0 when all is well, 1 when `check` or `probe` found a problem; 2 is
/// for errors that kept the command from doing its work.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Publish(args) => publish::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Camsim(args) => camsim::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Check(args) => check::run(&args),
        Command::Probe(args) => probe::run(&args),
        Command::Channels(args) => channels::list(&args).map(|()| ExitCode::SUCCESS),
        Command::Tail(args) => channels::tail(&args).map(|()| ExitCode::SUCCESS),
        Command::Presence(args) => presence::list(&args).map(|()| ExitCode::SUCCESS),
        Command::Metrics(args) => presence::metrics(&args).map(|()| ExitCode::SUCCESS),
        Command::Man(args) => man::run(&args).map(|()| ExitCode::SUCCESS),
    }
}

/// The arguments with the subcommand put in when the program was called by an old name.
fn with_alias(args: impl Iterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.collect();
    let name = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    if let Some(sub) = name.strip_prefix("serverpush-")
        && matches!(sub, "publish" | "camsim")
    {
        // Usage and errors then read `serverpush publish …`, the name that is documented.
        args[0] = OsString::from("serverpush");
        args.insert(1, OsString::from(sub));
    }
    args
}

/// True when the error is standard output closed by its reader (`serverpush tail | head`): the
/// reader is done, which is not a failure.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        with_alias(list.iter().map(OsString::from))
    }

    #[test]
    fn old_names_are_subcommands() {
        assert_eq!(
            args(&["/usr/bin/serverpush-publish", "chat", "hi"]),
            args(&["serverpush", "publish", "chat", "hi"])
        );
        assert_eq!(args(&["serverpush-camsim"])[1], "camsim");
        assert_eq!(args(&["serverpush", "check"])[1], "check");
        assert_eq!(args(&["serverpush-other", "x"])[1], "x");
    }

    #[test]
    fn the_definitions_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
