//! A *program* is one of the suite's CGI executables seen from the library: how it validates a
//! request ([`Program::prepare`]) and how it answers ([`Program::respond`]).
//!
//! [`run`] is the envelope every binary shares, so that process-level rules live once:
//! the request is validated before any other work; a refusal before the head is a complete
//! plain-text error response plus one line on stderr (the server's error log); after the head,
//! failures go to stderr only; a client that went away ends the process quietly with success.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use http::{Method, StatusCode};

use crate::cgi::{Mode, Protocol, Request, RequestError};
use crate::config::Config;
use crate::head::{self, Head};
use crate::pacing::Time;
use crate::server::Server;

/// One program of the suite.
pub trait Program {
    /// What [`Program::prepare`] hands to [`Program::respond`]: a request fully validated.
    type Plan;

    /// The methods the program serves, as an `Allow` header value.
    fn allow(&self) -> &'static str;

    /// Validates the request and does any work that must happen before the head, such as
    /// storing a published message. Everything a request can get wrong is refused here.
    fn prepare(
        &self,
        request: &Request,
        config: &Config,
        body: &mut dyn Read,
    ) -> Result<Self::Plan, RequestError>;

    /// True when answering `plan` holds the connection (a stream, a waiting long-poll): such
    /// answers take one of the host's `max_streams` slots.
    fn holds_connection(&self, _plan: &Self::Plan) -> bool {
        false
    }

    /// True when `plan` is a stream that hub mode hands to the hub (`hub = true`).
    fn may_hand_over(&self, _plan: &Self::Plan) -> bool {
        false
    }

    /// What a held answer serves, written into its slot for presence ([`crate::slots`]).
    fn presence(&self, _plan: &Self::Plan) -> Presence {
        Presence::default()
    }

    /// Waits for what the answer needs before its head (a camera's first frame), once the
    /// answer's slot is held: a wait in [`Program::prepare`] would hold a connection that the
    /// streams cap does not count. A refusal here is still a complete error response.
    fn ready<T: Time>(
        &self,
        plan: Self::Plan,
        _config: &Config,
        _time: &mut T,
    ) -> Result<Self::Plan, RequestError> {
        Ok(plan)
    }

    /// Writes the response. Only I/O can fail from here on.
    fn respond<W: Write, T: Time>(
        &self,
        plan: Self::Plan,
        response: &mut Response<W>,
        time: &mut T,
    ) -> io::Result<()>;
}

/// What a held answer serves, as a program says it: the envelope adds who runs it, where and
/// since when ([`crate::slots::Record`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Presence {
    /// The transport (`sse`, `longpoll`, `iframe`, `chunked`, `mixed`, `mjpeg`, `image`).
    pub transport: &'static str,
    /// Channel names, or `file:NAME`, `camera:NAME`, `clock:`, `mercure:SELECTOR`.
    pub resources: Vec<String>,
    /// Who, when the program knows better than `REMOTE_USER` (a token's subject).
    pub subscriber: Option<String>,
    /// The channels whose companion publishes this stream's join and leave (`presence_events`),
    /// and `mercure:SELECTOR` for the Mercure subscriptions whose start and end are published
    /// (`mercure_subscriptions`).
    pub events: Vec<String>,
    /// A Mercure subscriber's id and its token's payload.
    pub mercure: Option<(String, Option<serde_json::Value>)>,
}

/// The output side of one response, with what a program needs to frame it.
#[derive(Debug)]
pub struct Response<W: Write> {
    /// Where the response goes (stdout in the binaries).
    pub out: W,
    /// NPH or CGI.
    pub mode: Mode,
    /// The client's HTTP version.
    pub protocol: Protocol,
    /// True for `HEAD`: [`Response::write_head`] writes the head and the program stops.
    pub head_only: bool,
    /// The config in force.
    pub config: Config,
    /// A random multipart boundary for this response.
    pub boundary: String,
    /// Lines for the error log that do not end the response (a damaged message passed over);
    /// the envelope writes them when the program returns, since the library never writes to
    /// stderr itself.
    pub notes: Vec<String>,
    /// This stream's entry in a store several hosts share, when the envelope made one: its id
    /// and record, which the stream renews ([`Upkeep`]).
    pub shared: Option<(String, String)>,
    /// Hub mode (`hub = true`): where the stream may be handed to the hub.
    pub hub: Option<crate::handoff::Door<'static>>,
    /// True once the hub took the stream: the connection is the hub's.
    pub handed: bool,
}

impl<W: Write> Response<W> {
    /// Writes `head`; returns `false` when the request was `HEAD` and the body must be skipped.
    pub fn write_head<T: Time>(&mut self, head: &Head, time: &T) -> io::Result<bool> {
        head.write(&mut self.out, self.mode, self.protocol, time.wall())?;
        Ok(!self.head_only)
    }

    /// Writes a whole answer: `head` with the body's `Content-Length`, then the body (the head
    /// alone for `HEAD`).
    pub fn write_whole<T: Time>(&mut self, head: Head, body: &[u8], time: &T) -> io::Result<()> {
        let head = head
            .header(http::header::CONTENT_LENGTH, &body.len().to_string())
            .map_err(io::Error::other)?;
        if self.write_head(&head, time)? {
            self.out.write_all(body)?;
            self.out.flush()?;
        }
        Ok(())
    }
}

/// How an invocation ended, for the exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The response was written in full.
    Served,
    /// The client went away; nothing is wrong.
    ClientGone,
    /// The request was refused with this status (a complete answer).
    Refused(StatusCode),
    /// The program could not do its work (bad config, I/O failure).
    Failed,
    /// The stream was handed to the hub, which serves it from now on.
    Handed,
}

impl Exit {
    /// The process exit code: 0 unless the program itself failed.
    pub fn code(&self) -> u8 {
        match self {
            Exit::Failed => 1,
            _ => 0,
        }
    }
}

/// What one process was started with, beyond its request.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The file name the program was started under (it decides NPH mode).
    pub program_name: String,
    /// The config file: `SERVERPUSH_CONFIG`, or the one the search found
    /// ([`crate::config::search`]); `None` for the defaults.
    pub config_path: Option<PathBuf>,
    /// The server that started it, from `SERVER_SOFTWARE`.
    pub server: Server,
    /// What publishes a stream's joins and leaves.
    pub announce: Announcer,
    /// The client's connection (standard output) and what starts the user's hub, for hub mode.
    pub hub: Option<(rustix::fd::BorrowedFd<'static>, crate::handoff::StartHub)>,
}

/// Runs `program` for one request read from `vars` and `body`, writing to `out` and logging to
/// `log`.
pub fn run<P, I, W, L, T>(
    program: &P,
    invocation: &Invocation,
    vars: I,
    body: &mut dyn Read,
    out: W,
    log: &mut L,
    time: &mut T,
) -> Exit
where
    P: Program,
    I: IntoIterator<Item = (OsString, OsString)>,
    W: Write,
    L: Write,
    T: Time,
{
    let name = invocation.program_name.as_str();
    let mode = Mode::for_program(name.as_bytes(), invocation.server);
    let mut response = Response {
        out,
        mode,
        // Until the request is parsed, answer as the oldest version every client reads.
        protocol: Protocol::Http10,
        head_only: false,
        config: Config::default(),
        boundary: crate::transport::multipart::random_boundary(),
        notes: Vec::new(),
        shared: None,
        hub: None,
        handed: false,
    };

    let request = match Request::from_vars(vars) {
        Ok(request) => request,
        Err(error) => return refuse(&mut response, log, name, &error, time),
    };
    response.protocol = request.protocol;
    response.head_only = request.is_head();

    let allow = program.allow();
    if !allow
        .split(", ")
        .any(|m| Method::from_bytes(m.as_bytes()).is_ok_and(|m| m == request.method))
    {
        let error = RequestError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {} is not allowed; use {allow}", request.method),
        )
        .with_header(http::header::ALLOW, allow);
        return refuse(&mut response, log, name, &error, time);
    }

    match Config::load_trusted(invocation.config_path.as_deref()) {
        Ok(config) => response.config = config,
        Err(error) => {
            let _ = writeln!(log, "{name}: {error}");
            let refusal = RequestError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the server's serverpush configuration is invalid or not safe to use; see the \
                 error log",
            );
            let _ = refuse(&mut response, log, name, &refusal, time);
            return Exit::Failed;
        }
    }

    let plan = match program.prepare(&request, &response.config, body) {
        Ok(plan) => plan,
        Err(error) => return refuse_counted(&mut response, log, name, &error, time),
    };

    // Held until the process ends: the kernel releases it however the process ends.
    let mut _slot = if program.holds_connection(&plan) && !response.head_only {
        let config = &response.config;
        match crate::slots::take(&config.streams_path(), config.max_streams) {
            Ok(slot) => Some(slot),
            Err(crate::slots::SlotError::Full) => {
                if config.metrics_counters {
                    let _ = crate::counters::add(
                        &config.streams_path(),
                        &crate::counters::name(&["capped", name]),
                    );
                }
                let error = RequestError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "this server is serving its {} streams (max_streams); try again shortly",
                        config.max_streams
                    ),
                )
                .with_header(http::header::RETRY_AFTER, "5");
                return refuse_counted(&mut response, log, name, &error, time);
            }
            // A broken slot directory must not take the site's streams down with it: serve,
            // and say in the log that the cap is off.
            Err(error) => {
                let _ = writeln!(log, "{name}: {error}");
                None
            }
        }
    } else {
        None
    };
    let announce = invocation.announce;
    // The record whose end is owed: leaves, or its removal from a store several hosts share.
    let mut owed = None;
    if let Some(slot) = &mut _slot {
        let presence = program.presence(&plan);
        let config = &response.config;
        let mut record = crate::slots::Record {
            program: name.to_owned(),
            transport: presence.transport.to_owned(),
            resources: presence.resources,
            subscriber: presence.subscriber.or_else(|| request.remote_user.clone()),
            server: invocation.server.name().to_owned(),
            since_ms: u64::try_from(time.wall().timestamp_millis()).unwrap_or(0),
            pid: std::process::id(),
            events: presence.events,
            shared: None,
            mercure_id: presence.mercure.as_ref().map(|(id, _)| id.clone()),
            mercure_payload: presence.mercure.and_then(|(_, payload)| payload),
        };
        // With a store several hosts share, a stream of channels or of the Mercure hub is
        // recorded there too, so that every host's presence counts it.
        if config.store == crate::config::StoreKind::Redis
            && record.resources.iter().any(|r| is_shared_resource(r))
        {
            record.shared = Some(crate::slots::stream_id(
                &config.streams_path(),
                record.since_ms,
            ));
        }
        // Presence is a report, not a duty: a stream whose record cannot be written serves on.
        let described = slot.describe(&record);
        if let Err(error) = &described {
            let _ = writeln!(
                log,
                "{name}: presence not recorded in slot {}: {error}",
                slot.number
            );
        }
        if let Some(ended) = slot.ended.take() {
            for note in with_store(config, |store| announce(config, store, &ended, "leave")) {
                let _ = writeln!(log, "{name}: {note}");
            }
        }
        if described.is_ok() && record.owes() {
            owed = Some(record);
        }
    }

    // A HEAD request's answer is its head: nothing to wait for, and no slot held.
    let plan = if response.head_only {
        plan
    } else {
        match program.ready(plan, &response.config, time) {
            Ok(plan) => plan,
            Err(error) => return refuse_counted(&mut response, log, name, &error, time),
        }
    };

    // Told once the stream is sure to start; what could not be told (a join, the shared
    // record) is not owed at the end either.
    if let Some(record) = owed.take() {
        let config = &response.config;
        let mut told = crate::slots::Record {
            events: Vec::new(),
            shared: None,
            ..record.clone()
        };
        let mut shared = None;
        let notes = with_store(config, |store| {
            let mut notes = sweep_leaves(config, store, announce);
            let failed = announce(config, store, &record, "join");
            if failed.is_empty() {
                told.events = record.events.clone();
            }
            notes.extend(failed);
            // Shared as it stands after its join: other hosts list what was announced.
            if let Some(id) = &record.shared {
                let entry = crate::slots::Record {
                    shared: Some(id.clone()),
                    ..told.clone()
                };
                let text = serde_json::to_string(&entry)
                    .map_err(|e| crate::store::StoreError::Failed(e.to_string()));
                match text.and_then(|text| {
                    store
                        .share_stream(id, &text, shared_ttl(config))
                        .map(|done| done.then_some(text))
                }) {
                    Ok(Some(text)) => {
                        told.shared = Some(id.clone());
                        shared = Some((id.clone(), text));
                    }
                    Ok(None) => {}
                    Err(error) => notes.push(format!("presence not shared: {error}")),
                }
            }
            notes
        });
        response.shared = shared;
        if told != record
            && let Some(slot) = &_slot
        {
            let _ = slot.describe(&told);
        }
        if told.owes() {
            owed = Some(told);
        }
        for note in notes {
            let _ = writeln!(log, "{name}: {note}");
        }
    }
    // Hub mode, for a stream that owes nothing at its end (which only its own process would
    // know to tell), under a server that never signals a program's pid once it has exited.
    if response.config.hub && _slot.is_some() && owed.is_none() && program.may_hand_over(&plan) {
        let refusal = match response.config.store {
            _ if rustix::process::geteuid().is_root() => Some("the hub never runs as root"),
            crate::config::StoreKind::Spool => invocation.server.hub_refusal(),
            crate::config::StoreKind::Redis => Some("the hub serves streams of the spool store"),
        };
        match (refusal, invocation.hub) {
            (None, Some((connection, start))) => {
                response.hub = Some(crate::handoff::Door {
                    connection,
                    slot: _slot.as_ref().and_then(|slot| slot.descriptor().ok()),
                    dir: response.config.streams_path(),
                    start,
                    config_path: invocation.config_path.clone(),
                });
            }
            (Some(reason), _) => {
                let _ = writeln!(
                    log,
                    "{name}: hub = true is not used here (each stream keeps its process): \
                     {reason}"
                );
            }
            (None, None) => {}
        }
    }
    let result = program.respond(plan, &mut response, time);
    // A stream that ends by itself (its lifetime, a store's failure) says its own leave; one
    // whose client left ends in its signal handler, and the next sweep says it.
    if let (Some(slot), Some(record)) = (&_slot, &owed)
        && slot.clear().is_ok()
    {
        let config = &response.config;
        let notes = with_store(config, |store| announce(config, store, record, "leave"));
        response.notes.extend(notes);
    }
    for note in response.notes.drain(..) {
        let _ = writeln!(log, "{name}: {note}");
    }
    match result {
        Ok(()) if response.handed => Exit::Handed,
        Ok(()) => Exit::Served,
        Err(error) if is_client_gone(&error) => Exit::ClientGone,
        Err(error) => {
            let _ = writeln!(log, "{name}: response ended: {error}");
            Exit::Failed
        }
    }
}

/// True for what a store several hosts share records a stream of: a channel, a Mercure
/// selector (the others are one host's: its clock, its cameras, its files).
fn is_shared_resource(resource: &str) -> bool {
    !resource.contains(':') || resource.starts_with(crate::slots::MERCURE_RESOURCE)
}

/// How long a stream's entry in a store several hosts share lasts unless its stream renews it
/// (at each heartbeat, [`Upkeep`]): a host that dies takes its streams away after that.
pub fn shared_ttl(config: &Config) -> std::time::Duration {
    std::time::Duration::from_secs(config.heartbeat_secs.saturating_mul(3).max(3))
}

/// What a stream does about once a heartbeat interval for presence, by its own clock: sweep the
/// ends that killed streams of this host owe (when its channels announce, or it follows their
/// announcements), and renew its entry in a store several hosts share.
#[derive(Debug)]
pub struct Upkeep {
    config: Config,
    sweeps: bool,
    renews: Option<(String, String)>,
    /// When it is due next, by the stream's clock; `None` until its first look.
    next: Option<std::time::Duration>,
}

impl Upkeep {
    /// The upkeep of a stream that `sweeps`, under `config`, with its entry in a store several
    /// hosts share (`shared`: its id and record); `None` when it has nothing to do.
    pub fn new(config: &Config, sweeps: bool, shared: Option<(String, String)>) -> Option<Upkeep> {
        let renews = shared;
        // With a shared store, every stream sweeps too: a departed client's stream, ended in
        // its signal handler, leaves the other hosts' presence at the next sweep.
        (sweeps || renews.is_some()).then(|| Upkeep {
            config: config.clone(),
            sweeps: sweeps || renews.is_some(),
            renews,
            next: None,
        })
    }

    /// Does what is due at `now` (the stream's clock) with `store`; returns what failed, for
    /// the log.
    pub fn tend(
        &mut self,
        store: &mut dyn crate::store::ChannelStore,
        now: std::time::Duration,
        announce: Announcer,
    ) -> Vec<String> {
        let mut notes = Vec::new();
        let interval = std::time::Duration::from_secs(self.config.heartbeat_secs);
        let Some(next) = self.next else {
            // The stream's start swept and shared just now. Its first upkeep comes between half
            // an interval and one from now, drawn from its process id: a crowd that started
            // together does not renew together, in one burst beside a message's delivery.
            let spread = f64::from(std::process::id() % 1000) / 2000.0;
            self.next = Some(now + interval.mul_f64(0.5 + spread));
            return notes;
        };
        if now < next {
            return notes;
        }
        self.next = Some(now + interval);
        if self.sweeps {
            notes = sweep_leaves(&self.config, store, announce);
        }
        // Written whole each time: an entry that ran out (the store unreachable for a while)
        // comes back.
        if let Some((id, record)) = &self.renews
            && let Err(error) = store.share_stream(id, record, shared_ttl(&self.config))
        {
            notes.push(format!("presence not renewed: {error}"));
        }
        notes
    }
}

/// What `announcing` says of its work on the config's store, opened for it (the program's own
/// is inside its plan), or why the store could not be opened: lines for the log.
fn with_store(
    config: &Config,
    announcing: impl FnOnce(&mut dyn crate::store::ChannelStore) -> Vec<String>,
) -> Vec<String> {
    match crate::store::open(config) {
        Ok(mut store) => announcing(store.as_mut()),
        Err(error) => vec![format!("joins and leaves not published: {error}")],
    }
}

/// Publishes what the start (`join`) or the end (`leave`) of the stream a record describes
/// owes (`source::presence::announce`); returns what could not be published, for the log.
/// The binaries give it: every kind of announcement is a source's to make, and any program may
/// find another's ended stream to announce.
pub type Announcer =
    fn(&Config, &mut dyn crate::store::ChannelStore, &crate::slots::Record, &str) -> Vec<String>;

/// Publishes the leaves that ended streams of this host still owe ([`crate::slots::sweep`]),
/// when no process did in the last heartbeat interval; returns what could not be published,
/// for the log.
pub fn sweep_leaves(
    config: &Config,
    store: &mut dyn crate::store::ChannelStore,
    announce: Announcer,
) -> Vec<String> {
    let mut owed = Vec::new();
    let mut notes = Vec::new();
    let interval = std::time::Duration::from_secs(config.heartbeat_secs);
    if !crate::slots::sweep_due(&config.streams_path(), interval) {
        return notes;
    }
    if let Err(error) = crate::slots::sweep(&config.streams_path(), |r| owed.push(r)) {
        notes.push(format!("leaves not swept: {error}"));
    }
    for record in &owed {
        notes.extend(announce(config, store, record, "leave"));
    }
    notes
}

/// True for the errors a write gets when the client (or the server on its behalf) closed the
/// connection.
pub fn is_client_gone(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    )
}

/// [`refuse`], counted for the metrics beside the programs' slots ([`crate::counters`]). Only
/// once the config is read: before, there is no place the site chose to count in, and a
/// malformed request or a broken config is not counted.
fn refuse_counted<W: Write, L: Write, T: Time>(
    response: &mut Response<W>,
    log: &mut L,
    name: &str,
    error: &RequestError,
    time: &T,
) -> Exit {
    if response.config.metrics_counters {
        let _ = crate::counters::add(
            &response.config.streams_path(),
            &crate::counters::name(&["refused", name, error.status.as_str()]),
        );
    }
    refuse(response, log, name, error, time)
}

fn refuse<W: Write, L: Write, T: Time>(
    response: &mut Response<W>,
    log: &mut L,
    name: &str,
    error: &RequestError,
    time: &T,
) -> Exit {
    let _ = writeln!(log, "{name}: {error}");
    let written = head::write_error(
        &mut response.out,
        error,
        response.mode,
        response.protocol,
        response.head_only,
        time.wall(),
    );
    match written {
        Err(e) if is_client_gone(&e) => Exit::ClientGone,
        Err(_) => Exit::Failed,
        Ok(()) => Exit::Refused(error.status),
    }
}

/// The whole life of a program's process: `args` and `vars` are the process's arguments and
/// environment as the binary read them; the config file is `SERVERPUSH_CONFIG` from `vars` or
/// what the search from the program's place finds, the program name from the first argument.
pub fn run_process<P, A, V, R, W, L>(
    program: &P,
    (announce, start_hub): (Announcer, crate::handoff::StartHub),
    args: A,
    vars: V,
    mut stdin: R,
    stdout: W,
    mut stderr: L,
) -> Exit
where
    P: Program,
    A: IntoIterator<Item = OsString>,
    V: IntoIterator<Item = (OsString, OsString)>,
    R: Read,
    W: Write,
    L: Write,
{
    use std::os::unix::ffi::OsStrExt;
    exit_quietly_on_signals();
    let argv0 = args.into_iter().next().unwrap_or_default();
    let program_name = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| String::from_utf8_lossy(n.as_bytes()).into_owned())
        .unwrap_or_default();
    let vars: Vec<(OsString, OsString)> = vars.into_iter().collect();
    let mut search = crate::config::search::Search::from_vars(&vars, std::path::Path::new(&argv0));
    // The password file names the program's user's home (a root without one, a bare container,
    // has no home to look in). Read a line at a time up to that user's: a host with many
    // accounts has a long one, and a server that names the config never needs it.
    if search.environment.is_none()
        && let Ok(passwd) = std::fs::File::open("/etc/passwd")
    {
        use std::io::BufRead;
        let uid = rustix::process::geteuid().as_raw();
        search.home = std::io::BufReader::new(passwd)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| crate::config::search::home_in(&line, uid));
    }
    let config_path = search.find().map(|(_, path)| path);
    let server = vars
        .iter()
        .find(|(k, _)| k == "SERVER_SOFTWARE")
        .map_or(Server::Other, |(_, v)| Server::from_software(v.as_bytes()));
    let invocation = Invocation {
        program_name,
        config_path,
        server,
        announce,
        hub: Some((rustix::stdio::stdout(), start_hub)),
    };
    let mut time = crate::pacing::RealTime::new();
    // One write per log line: fcgiwrap (nginx) passes each write on as a record of its own,
    // and nginx logs each record as a line, so a line written in pieces would be cut up.
    let mut log = std::io::LineWriter::with_capacity(8192, &mut stderr);
    let exit = run(
        program,
        &invocation,
        vars,
        &mut stdin,
        stdout,
        &mut log,
        &mut time,
    );
    let _ = log.flush();
    drop(log);
    // A handed connection is the hub's: shutting it down would end the hub's stream.
    if server.output_may_end_early() && exit != Exit::Handed {
        end_output();
    }
    exit
}

/// Ends the output before the process ends, where the server says that helps
/// ([`Server::output_may_end_early`]): the server completes the response when the program's
/// output ends. Elsewhere the output ends with the process, which must therefore exit at once:
/// nothing a program holds may be slow to release (the spool store's subscribers wait on bells,
/// not inotify, for that).
///
/// lighttpd gives the program a pipe; pointing standard output at /dev/null closes the program's
/// end of it. Standard input goes the same way, for a server that would give one socket for
/// both (closing only standard output would not end the output then).
fn end_output() {
    let stdout = rustix::stdio::stdout();
    let _ = rustix::net::shutdown(stdout, rustix::net::Shutdown::Write);
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let _ = rustix::stdio::dup2_stdout(&null);
        let _ = rustix::stdio::dup2_stdin(&null);
    }
}

/// Makes SIGTERM, SIGHUP and SIGPIPE end the process at once with status 0.
///
/// These are how a server tells a program its client left (Apache's mod_cgid sends SIGTERM,
/// lighttpd's `tcp-fin-propagate` the signal configured), and a write into a closed pipe raises
/// SIGPIPE. The handler exits even while the program sleeps between units, and exits quietly: a
/// departed client is not an error. Anything that must survive a sudden end (stored messages)
/// is written crash-safely anyway, since SIGKILL cannot be caught.
fn exit_quietly_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGPIPE, SIGTERM};
    let always = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    for signal in [SIGTERM, SIGHUP, SIGPIPE] {
        // Registration fails only for signals that cannot be caught; these three can.
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 0, always.clone());
    }
}
