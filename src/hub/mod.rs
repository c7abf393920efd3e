//! *Hub mode*: one long-lived process of the programs' user serves every stream handed to it
//! ([`crate::handoff`]) from one event loop ([`serve`]), so a connected client costs a few
//! kilobytes of that process instead of a process of its own.
//!
//! No daemon to install or run: the first program of hub mode that finds no hub takes the hub's
//! place (its socket and lock, [`crate::handoff::place`]) and starts this process with them
//! ([`start`]), detached, in a session of its own; the hub leaves after `hub_idle_secs`
//! without a stream. If it dies, every stream it held ends, clients reconnect and resume from their
//! cursor, and the next program starts a new hub.

pub mod serve;

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use crate::handoff::place::Listener;

/// The name the hub's process runs under (its `argv[0]`): what tells a program's binary,
/// started by a program rather than by a web server, to be the hub.
pub const PROCESS_NAME: &str = "serverpush-hub";

/// The hub's log, in the streams directory, beside its socket.
pub const LOG: &str = "hub.log";

/// A log larger than this is started afresh by the next hub.
const MAX_LOG_BYTES: u64 = 1 << 20;

/// Starts the user's hub with its place: this program's own executable, under
/// [`PROCESS_NAME`], with the listening socket as its standard input, the place's lock as its
/// standard output (held while it lives) and its log as its standard error, and nothing of the
/// program's environment.
pub fn start(listener: Listener, config_path: Option<&Path>) -> io::Result<()> {
    if rustix::process::geteuid().is_root() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the hub never runs as root",
        ));
    }
    let exe = std::env::current_exe()?;
    let log = open_log(listener.dir())?;
    let (socket, lock) = listener.into_parts();
    let mut command = Command::new(exe);
    command
        .arg0(PROCESS_NAME)
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::from(socket))
        .stdout(Stdio::from(lock))
        .stderr(Stdio::from(log));
    if let Some(path) = config_path {
        command.arg(path);
    }
    // Not waited for: it outlives the program, whose end hands it to the system's reaper.
    command.spawn().map(drop)
}

/// The hub's log in `dir`, appended to, started afresh when it has grown large.
fn open_log(dir: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(LOG);
    let grown = std::fs::symlink_metadata(&path).is_ok_and(|m| m.len() > MAX_LOG_BYTES);
    std::fs::OpenOptions::new()
        .create(true)
        .append(!grown)
        .write(true)
        .truncate(grown)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

/// Runs the hub when the process was started as one ([`PROCESS_NAME`]); `None` otherwise, for
/// the binary to go on as a CGI program.
pub fn main_if_hub(args: impl IntoIterator<Item = OsString>) -> Option<ExitCode> {
    let mut args = args.into_iter();
    let argv0 = args.next()?;
    if argv0 != PROCESS_NAME {
        return None;
    }
    let config_path = args.next().map(std::path::PathBuf::from);
    let mut log = io::stderr().lock();
    match run(config_path.as_deref(), &mut log) {
        Ok(()) => Some(ExitCode::SUCCESS),
        Err(error) => {
            let _ = writeln!(log, "{PROCESS_NAME}: {error}");
            Some(ExitCode::FAILURE)
        }
    }
}

/// The hub's process: takes its place from its standard input and output, leaves the session
/// of the program that started it, and serves until it has been idle for `hub_idle_secs`.
fn run(config_path: Option<&Path>, log: &mut impl Write) -> io::Result<()> {
    // Its own session: a server ending the program's process group ends no hub.
    let _ = rustix::process::setsid();
    if rustix::process::geteuid().is_root() {
        return Err(io::Error::other("the hub never runs as root"));
    }
    // The place, inherited as standard input (the socket) and output (the lock); both are
    // then pointed at /dev/null, so nothing written to them by mistake reaches either.
    let socket = rustix::stdio::stdin().try_clone_to_owned()?;
    let lock = File::from(rustix::stdio::stdout().try_clone_to_owned()?);
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    rustix::stdio::dup2_stdin(&null)?;
    rustix::stdio::dup2_stdout(&null)?;
    let config = crate::config::Config::load_trusted(config_path)
        .map_err(|e| io::Error::other(e.to_string()))?;
    let listener = Listener::from_parts(socket, lock, &config.streams_path());
    // As many connections as the system lets this user hold: two descriptors per stream.
    if let Some(limit) = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum {
        let _ = rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(limit),
                maximum: Some(limit),
            },
        );
    }
    let _ = writeln!(log, "{PROCESS_NAME}: started (pid {})", std::process::id());
    let idle = Duration::from_secs(config.hub_idle_secs);
    serve::serve(&listener, &config, idle, log)
}
