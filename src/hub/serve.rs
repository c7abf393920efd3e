//! The hub's event loop: programs handing streams over, the channels' watches, and the clients'
//! connections, in one `epoll` instance.
//!
//! - A channel is watched once, however many streams follow it: a store of its own watches it
//!   ([`ChannelStore::watch`], as one stream's would), and its wake descriptor is in the loop.
//!   When it wakes, each stream that follows the channel reads its round from its own cursor.
//!   A watch no stream follows stays a minute: closing an inotify instance takes the
//!   kernel about 10 ms, during which the loop waits, so a channel coming and going is not
//!   closed each time.
//! - A client's connection is written without blocking: what it has not taken waits in its
//!   stream's pending bytes, and its rounds stop once an answer's worth waits
//!   (`max_answer_bytes`), so a slow client never holds the others, and holds at most about an
//!   answer and a message in the hub. One whose connection takes nothing for a minute is
//!   dropped; it reconnects and resumes from its cursor.
//! - Once a second, the clock's due is looked at for every stream (a heartbeat, its end), and
//!   channels whose store has no wake descriptor are read.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::buffer::spare_capacity;
use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};
use rustix::fd::{AsFd, OwnedFd};

use crate::config::Config;
use crate::handoff::place::Listener;
use crate::handoff::{self, NOT_TAKEN, TAKEN};
use crate::name::Channel;
use crate::source::longpoll::handed::{HandedStream, Owed};
use crate::store::{ChannelStore, Waiting};

/// What an event's key names: the two high bits say which kind, the rest which one.
const KIND: u64 = 3 << 62;
const LISTENER: u64 = 0;
const PROGRAM: u64 = 1 << 62;
const CHANNEL: u64 = 2 << 62;
const CLIENT: u64 = 3 << 62;

/// How often the clock is looked at.
const TICK: Duration = Duration::from_secs(1);

/// How long a program that connected may take to send its handoff.
const HANDOFF_WAIT: Duration = Duration::from_secs(5);

/// How long a client's connection may take nothing before the client is dropped.
const STALLED: Duration = Duration::from_secs(60);

/// How long an ended stream's last bytes may take to go before its connection is closed.
const ENDING: Duration = Duration::from_secs(5);

/// How long a channel's watch stays once no stream follows it.
const LINGER: Duration = Duration::from_secs(60);

/// Descriptors the loop keeps free beside two per stream and one per watch.
const FD_SPARE: usize = 32;

/// How many rounds one client may read in a row before the others' turn.
const ROUNDS_IN_A_ROW: usize = 16;

/// A stream the hub serves.
#[derive(Debug)]
struct Client {
    connection: OwnedFd,
    /// Its slot, held (locked) while the stream lives.
    _slot: Option<OwnedFd>,
    stream: HandedStream,
    /// True while the loop waits for its connection to take more.
    waiting_to_write: bool,
    /// Since when its connection has taken nothing of its pending bytes.
    stalled_since: Option<Duration>,
    /// When its end was written: the connection closes once it has gone, or at [`ENDING`].
    ended_at: Option<Duration>,
}

/// One channel's watch, shared by the streams that follow it.
#[derive(Debug)]
struct Watch {
    store: Box<dyn ChannelStore>,
    key: u64,
    clients: Vec<u64>,
    /// Since when no stream follows it.
    empty_since: Option<Duration>,
}

/// The hub's state.
struct Hub<'c, L: Write> {
    epoll: OwnedFd,
    config: &'c Config,
    log: L,
    clients: HashMap<u64, Client>,
    watches: HashMap<Channel, Watch>,
    /// The channel each watch's key names.
    keyed: HashMap<u64, Channel>,
    /// Programs connected, whose handoff has not come yet, and when they connected.
    programs: HashMap<u64, (OwnedFd, Duration)>,
    /// Clients whose round was cut short and whose bytes have gone: they read on in turn.
    backlog: Vec<u64>,
    /// False while the hub takes no program (out of descriptors), until the next tick.
    listening: bool,
    /// How many descriptors the process may hold.
    fd_limit: usize,
    next_key: u64,
    started: Instant,
}

/// Serves streams handed over through `listener` until no stream has been served for `idle`, or
/// a SIGTERM or SIGHUP (every stream then ends normally: its clients reconnect and resume).
pub fn serve(
    listener: &Listener,
    config: &Config,
    idle: Duration,
    log: impl Write,
) -> io::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    // A client gone is a failed write (EPIPE) to end its stream, not a signal that ends the hub.
    signal_hook::flag::register(
        signal_hook::consts::SIGPIPE,
        Arc::new(AtomicBool::new(false)),
    )?;
    set_nonblocking(listener.socket())?;
    let mut hub = Hub {
        epoll: epoll::create(CreateFlags::CLOEXEC)?,
        config,
        log,
        clients: HashMap::new(),
        watches: HashMap::new(),
        keyed: HashMap::new(),
        programs: HashMap::new(),
        backlog: Vec::new(),
        listening: true,
        fd_limit: rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(usize::MAX),
        next_key: 1,
        started: Instant::now(),
    };
    epoll::add(
        &hub.epoll,
        listener.socket(),
        EventData::new_u64(LISTENER),
        EventFlags::IN,
    )?;
    let mut events = Vec::with_capacity(1024);
    let mut idle_since = Some(hub.now());
    let mut last_tick = hub.now();
    loop {
        if stop.load(Ordering::Relaxed) {
            hub.end_all();
            return Ok(());
        }
        if let Some(since) = idle_since
            && hub.now().saturating_sub(since) >= idle
        {
            // A program that connected meanwhile is served first; one that connects after the
            // hub has gone finds the socket closed and serves its stream itself.
            hub.accept(listener);
            if hub.programs.is_empty() {
                return Ok(());
            }
            idle_since = None;
        }
        events.clear();
        let wait = if hub.backlog.is_empty() {
            TICK
        } else {
            Duration::ZERO
        };
        let timeout = rustix::event::Timespec {
            tv_sec: wait.as_secs() as i64,
            tv_nsec: 0,
        };
        match epoll::wait(&hub.epoll, spare_capacity(&mut events), Some(&timeout)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
        for event in &events {
            let key = event.data.u64();
            let flags = event.flags;
            match key & KIND {
                LISTENER => hub.accept(listener),
                PROGRAM => hub.take(key),
                CHANNEL => hub.wake(key),
                _ => hub.client_event(key, flags),
            }
        }
        for id in std::mem::take(&mut hub.backlog) {
            hub.deliver(id);
        }
        let now = hub.now();
        if now.saturating_sub(last_tick) >= TICK {
            last_tick = now;
            hub.tick(now, listener);
        }
        match (
            hub.clients.is_empty() && hub.programs.is_empty(),
            idle_since,
        ) {
            (true, None) => idle_since = Some(now),
            (false, Some(_)) => idle_since = None,
            _ => {}
        }
    }
}

fn set_nonblocking(fd: impl AsFd) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(&fd)?;
    rustix::fs::fcntl_setfl(&fd, flags | rustix::fs::OFlags::NONBLOCK)?;
    Ok(())
}

impl<L: Write> Hub<'_, L> {
    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    fn key(&mut self, kind: u64) -> u64 {
        self.next_key += 1;
        kind | (self.next_key & !KIND)
    }

    fn note(&mut self, line: impl std::fmt::Display) {
        let _ = writeln!(self.log, "{}: {line}", super::PROCESS_NAME);
    }

    /// Closes a descriptor that is in the loop. Taken out of the loop first: the loop drops it
    /// only once every descriptor of its file is closed, and a program may still hold one.
    fn close(&self, fd: OwnedFd) {
        let _ = epoll::delete(&self.epoll, &fd);
        drop(fd);
    }

    /// Answers a program's handoff (taken or not) and closes its socket.
    fn answer(&self, program: OwnedFd, answer: u8) {
        let _ = rustix::io::write(&program, &[answer]);
        self.close(program);
    }

    /// Takes every program waiting to connect; each one's handoff is read when it comes.
    fn accept(&mut self, listener: &Listener) {
        while self.listening {
            match listener.accept() {
                Ok(program) => {
                    let key = self.key(PROGRAM);
                    let added = set_nonblocking(&program).and_then(|()| {
                        epoll::add(
                            &self.epoll,
                            &program,
                            EventData::new_u64(key),
                            EventFlags::IN,
                        )
                        .map_err(io::Error::from)
                    });
                    match added {
                        Ok(()) => {
                            let now = self.now();
                            self.programs.insert(key, (program, now));
                        }
                        Err(e) => self.note(format_args!("a program not taken: {e}")),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Another user's program (refused and closed), or one that went meanwhile.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::PermissionDenied | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    self.note(format_args!("a program refused: {e}"));
                }
                // Out of descriptors: the connection stays queued, so taking it again at once
                // would fail again. The hub stops listening until its next tick; programs that
                // find no answer meanwhile serve their streams themselves.
                Err(e) => {
                    self.note(format_args!("no program taken for a second: {e}"));
                    let _ = epoll::delete(&self.epoll, listener.socket());
                    self.listening = false;
                }
            }
        }
    }

    /// A program's handoff: its stream joins the loop, or the program is told to serve it.
    fn take(&mut self, key: u64) {
        let Some((program, since)) = self.programs.remove(&key) else {
            return;
        };
        let received = match handoff::receive(&program) {
            Ok(received) => received,
            Err(handoff::HandoffError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.programs.insert(key, (program, since));
                return;
            }
            Err(e) => {
                self.note(e);
                self.close(program);
                return;
            }
        };
        // Past its deadline, the program serves the stream itself (or will at once): not taken.
        if handoff::monotonic_now() >= received.deadline {
            self.note("a stream handed over too late to be taken");
            self.answer(program, NOT_TAKEN);
            return;
        }
        // Descriptors to spare for what the loop needs beside its streams (its watches, the next
        // program's connection): a stream it could not keep is left to its program.
        if self.clients.len() * 2 + self.watches.len() + self.programs.len() + FD_SPARE
            >= self.fd_limit
        {
            self.note("a stream not taken: the hub is at its descriptor limit");
            self.answer(program, NOT_TAKEN);
            return;
        }
        let now = self.now();
        let stream = match HandedStream::open(&received.description, self.config, now) {
            Ok(stream) => stream,
            Err(e) => {
                self.note(&e);
                self.answer(program, NOT_TAKEN);
                return;
            }
        };
        let id = self.key(CLIENT);
        let channels: Vec<Channel> = stream.channels().cloned().collect();
        let joined = set_nonblocking(&received.connection)
            .and_then(|()| {
                // No events asked: an error or hang-up (the server closed its end) is always
                // told, and writes are waited for only when a connection is full.
                epoll::add(
                    &self.epoll,
                    &received.connection,
                    EventData::new_u64(id),
                    EventFlags::empty(),
                )
                .map_err(io::Error::from)
            })
            .and_then(|()| {
                channels
                    .iter()
                    .try_for_each(|channel| self.follow(channel, id))
            })
            // Taken only before the program's deadline, checked again as it is answered.
            .and_then(|()| {
                if handoff::monotonic_now() < received.deadline {
                    Ok(())
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "its program's deadline passed",
                    ))
                }
            });
        if let Err(e) = joined {
            self.note(format_args!("a stream not taken: {e}"));
            self.unfollow(id, &channels);
            let _ = epoll::delete(&self.epoll, &received.connection);
            self.answer(program, NOT_TAKEN);
            return;
        }
        self.answer(program, TAKEN);
        self.clients.insert(
            id,
            Client {
                connection: received.connection,
                _slot: received.slot,
                stream,
                waiting_to_write: false,
                stalled_since: None,
                ended_at: None,
            },
        );
        // Watched first, read then: a message stored before the watch began is read now, one
        // after it wakes the channel.
        self.deliver(id);
    }

    /// Adds the stream `id` to the channel's watch, starting one when it has none.
    fn follow(&mut self, channel: &Channel, id: u64) -> io::Result<()> {
        if let Some(watch) = self.watches.get_mut(channel) {
            if !watch.clients.contains(&id) {
                watch.clients.push(id);
            }
            watch.empty_since = None;
            return Ok(());
        }
        let mut store = crate::store::open(self.config).map_err(io::Error::other)?;
        store
            .watch(std::slice::from_ref(channel), Waiting::Stream)
            .map_err(io::Error::other)?;
        let key = self.key(CHANNEL);
        if let Some(fd) = store.wake_fd() {
            epoll::add(&self.epoll, fd, EventData::new_u64(key), EventFlags::IN)?;
        }
        self.keyed.insert(key, channel.clone());
        self.watches.insert(
            channel.clone(),
            Watch {
                store,
                key,
                clients: vec![id],
                empty_since: None,
            },
        );
        Ok(())
    }

    /// Takes the stream `id` out of its channels' watches; a watch no stream follows lingers.
    fn unfollow(&mut self, id: u64, channels: &[Channel]) {
        let now = self.now();
        for channel in channels {
            if let Some(watch) = self.watches.get_mut(channel) {
                watch.clients.retain(|c| *c != id);
                if watch.clients.is_empty() {
                    watch.empty_since = Some(now);
                }
            }
        }
    }

    /// A channel's watch woke: every stream that follows it reads its round.
    fn wake(&mut self, key: u64) {
        let Some(channel) = self.keyed.get(&key).cloned() else {
            return;
        };
        self.read_channel(&channel);
    }

    fn read_channel(&mut self, channel: &Channel) {
        let Some(watch) = self.watches.get_mut(channel) else {
            return;
        };
        let woke = watch.store.wait(&[], Duration::ZERO);
        // What the wait learnt of the message that woke it is one stream's shortcut; here
        // several streams read after one wait, each from its own cursor.
        watch.store.forget_wake();
        let ids = watch.clients.clone();
        if let Err(e) = woke {
            self.note(format_args!("channel {channel}: {e}; its streams end"));
            for id in ids {
                self.end(id);
            }
            return;
        }
        for id in ids {
            self.deliver(id);
        }
    }

    /// Reads the stream's rounds into its pending bytes, and sends them; a client that caught
    /// up with its pending bytes reads on, a few rounds in a row, then waits its turn.
    fn deliver(&mut self, id: u64) {
        for _ in 0..ROUNDS_IN_A_ROW {
            let now = self.now();
            let Some(client) = self.clients.get_mut(&id) else {
                return;
            };
            let Some(first) = client.stream.channels().next().cloned() else {
                return;
            };
            let Some(watch) = self.watches.get_mut(&first) else {
                return;
            };
            let read = client.stream.deliver(watch.store.as_mut(), now);
            let notes = std::mem::take(&mut client.stream.notes);
            for line in notes {
                self.note(line);
            }
            if let Err(e) = read {
                self.note(format_args!("a stream ends: {e}"));
                self.end(id);
                return;
            }
            if !self.send(id) {
                return;
            }
        }
        self.backlog.push(id);
    }

    /// Writes what the stream has pending, as much as its connection takes now; drops a client
    /// gone. True when everything went and the stream has more to read at once.
    fn send(&mut self, id: u64) -> bool {
        let now = self.now();
        let Some(client) = self.clients.get_mut(&id) else {
            return false;
        };
        let mut gone = false;
        loop {
            let pending = client.stream.pending();
            if pending.is_empty() {
                client.stalled_since = None;
                break;
            }
            match rustix::io::write(&client.connection, pending) {
                Ok(n) => {
                    pending.drain(..n);
                    client.stalled_since = None;
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => {
                    client.stalled_since.get_or_insert(now);
                    if !client.waiting_to_write {
                        client.waiting_to_write = true;
                        let _ = epoll::modify(
                            &self.epoll,
                            &client.connection,
                            EventData::new_u64(id),
                            EventFlags::OUT,
                        );
                    }
                    return false;
                }
                Err(_) => {
                    gone = true;
                    break;
                }
            }
        }
        if gone || client.stream.has_ended() {
            self.drop_client(id);
            return false;
        }
        if client.waiting_to_write {
            client.waiting_to_write = false;
            let _ = epoll::modify(
                &self.epoll,
                &client.connection,
                EventData::new_u64(id),
                EventFlags::empty(),
            );
        }
        client.stream.has_more()
    }

    fn client_event(&mut self, id: u64, flags: EventFlags) {
        if flags.intersects(EventFlags::ERR | EventFlags::HUP) {
            self.drop_client(id);
        } else if flags.contains(EventFlags::OUT) && self.send(id) {
            self.deliver(id);
        }
    }

    /// Looks at the clock for every stream (heartbeats, ends, stalled connections), for
    /// programs slow to hand over, for watches no stream follows, and reads the channels that
    /// have no wake descriptor; listens again if it had stopped.
    fn tick(&mut self, now: Duration, listener: &Listener) {
        let ids: Vec<u64> = self.clients.keys().copied().collect();
        for id in ids {
            let Some(client) = self.clients.get_mut(&id) else {
                continue;
            };
            if client
                .stalled_since
                .is_some_and(|since| now.saturating_sub(since) >= STALLED)
                || client
                    .ended_at
                    .is_some_and(|at| now.saturating_sub(at) >= ENDING)
            {
                self.drop_client(id);
                continue;
            }
            match client.stream.tend(now) {
                Owed::Nothing => {}
                Owed::Wrote => {
                    self.send(id);
                }
                Owed::Ended => {
                    client.ended_at = Some(now);
                    self.send(id);
                }
            }
        }
        let late: Vec<u64> = self
            .programs
            .iter()
            .filter(|(_, (_, since))| now.saturating_sub(*since) >= HANDOFF_WAIT)
            .map(|(key, _)| *key)
            .collect();
        for key in late {
            if let Some((program, _)) = self.programs.remove(&key) {
                self.note("a program connected and handed nothing over");
                self.close(program);
            }
        }
        let unused: Vec<Channel> = self
            .watches
            .iter()
            .filter(|(_, w)| {
                w.empty_since
                    .is_some_and(|since| now.saturating_sub(since) >= LINGER)
            })
            .map(|(c, _)| c.clone())
            .collect();
        for channel in unused {
            if let Some(watch) = self.watches.remove(&channel) {
                self.keyed.remove(&watch.key);
                if let Some(fd) = watch.store.wake_fd() {
                    let _ = epoll::delete(&self.epoll, fd);
                }
                // Closing its inotify instance waits for the kernel (about 10 ms): lingering
                // makes it rare, for a channel no one has followed for a minute.
                drop(watch);
            }
        }
        let unwatched: Vec<Channel> = self
            .watches
            .iter()
            .filter(|(_, w)| w.store.wake_fd().is_none() && !w.clients.is_empty())
            .map(|(c, _)| c.clone())
            .collect();
        for channel in unwatched {
            self.read_channel(&channel);
        }
        if !self.listening
            && epoll::add(
                &self.epoll,
                listener.socket(),
                EventData::new_u64(LISTENER),
                EventFlags::IN,
            )
            .is_ok()
        {
            self.listening = true;
        }
    }

    /// Ends a stream normally (its end written and sent as far as the connection takes it).
    fn end(&mut self, id: u64) {
        if let Some(client) = self.clients.get_mut(&id) {
            client.stream.finish();
            let pending = client.stream.pending();
            if let Ok(n) = rustix::io::write(&client.connection, pending) {
                pending.drain(..n);
            }
        }
        self.drop_client(id);
    }

    fn end_all(&mut self) {
        let ids: Vec<u64> = self.clients.keys().copied().collect();
        for id in ids {
            self.end(id);
        }
    }

    /// Closes the client's connection (the server ends the response) and frees its slot.
    fn drop_client(&mut self, id: u64) {
        if let Some(client) = self.clients.remove(&id) {
            let channels: Vec<Channel> = client.stream.channels().cloned().collect();
            self.unfollow(id, &channels);
            self.close(client.connection);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::longpoll::cursor::{Cursor, Position};
    use crate::source::longpoll::handed::{Handed, HandedTransport};
    use crate::store::NewMessage;
    use std::io::Read;

    /// A config whose spool is in a new temporary folder (heartbeats every second).
    fn spool() -> (tempfile::TempDir, Config) {
        let tmp = tempfile::tempdir().unwrap();
        let config = Config {
            spool_dir: tmp.path().join("spool"),
            heartbeat_secs: 1,
            ..Config::default()
        };
        std::fs::create_dir(&config.spool_dir).unwrap();
        (tmp, config)
    }

    fn publish(config: &Config, channel: &Channel, data: &str) -> u64 {
        let mut store = crate::store::open(config).unwrap();
        let message = NewMessage {
            content_type: "text/plain",
            data,
            idempotency_key: None,
        };
        store.publish(channel, &message).unwrap().id
    }

    /// Reads from `reader` until `wanted` is in what came, or the deadline.
    fn read_until(reader: &mut std::io::PipeReader, wanted: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&text).contains(wanted) && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut fds = [rustix::event::PollFd::new(
                &*reader,
                rustix::event::PollFlags::IN,
            )];
            let timeout = rustix::event::Timespec::try_from(left).unwrap();
            if rustix::event::poll(&mut fds, Some(&timeout)).unwrap() == 0 {
                break;
            }
            match reader.read(&mut buf).unwrap() {
                0 => break,
                n => text.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    #[test]
    fn a_handed_stream_gets_each_message_until_its_client_goes_and_the_idle_hub_leaves() {
        let (_tmp, config) = spool();
        let channel = Channel::parse("news").unwrap();
        publish(&config, &channel, "before");
        let dir = config.streams_path();
        let listener = Listener::take(&dir).unwrap().unwrap();
        let hub_config = config.clone();
        let hub = std::thread::spawn(move || {
            serve(
                &listener,
                &hub_config,
                Duration::from_millis(300),
                Vec::new(),
            )
        });

        // A program hands its stream over at the channel's first message, which the stream has.
        let (mut client, connection) = std::io::pipe().unwrap();
        let (slot_gone, slot) = std::io::pipe().unwrap();
        let cursor = Cursor(vec![Position {
            channel: channel.clone(),
            id: 1,
            epoch: None,
        }]);
        let handed = Handed::new(
            &config.spool_dir,
            HandedTransport::Sse,
            &cursor,
            (Duration::from_secs(1), Duration::from_secs(60)),
            config.max_answer_bytes,
        );
        let within = handoff::monotonic_now() + Duration::from_secs(5);
        let answer = hand(&dir, &handed, (&connection, Some(&slot)), within);
        assert_eq!(answer, TAKEN);
        // The program exits: only the hub holds the connection and the slot now.
        drop((connection, slot));

        publish(&config, &channel, "one");
        let text = read_until(&mut client, "\"data\":\"one\"", Duration::from_secs(10));
        assert!(text.starts_with("id: news:2:"), "{text}");
        assert!(!text.contains("before"), "{text}");
        publish(&config, &channel, "two");
        let text = read_until(&mut client, ": heartbeat", Duration::from_secs(10));
        assert!(text.contains("\"data\":\"two\""), "{text}");

        // The client goes: the hub drops its stream, closing its slot, then leaves when idle.
        drop(client);
        let mut slot_gone = slot_gone;
        let mut rest = Vec::new();
        slot_gone.read_to_end(&mut rest).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !hub.is_finished() && Instant::now() < deadline {
            std::thread::park_timeout(Duration::from_millis(20));
        }
        assert!(hub.is_finished(), "the idle hub stays");
        hub.join().unwrap().unwrap();
        // Its place is free for the next hub.
        assert!(Listener::take(&dir).unwrap().is_some());
    }

    /// A look of no time at a woken channel takes its queued events: otherwise its descriptor
    /// stays readable and the loop spins.
    #[test]
    fn a_look_at_a_woken_channel_takes_its_events() {
        let (_tmp, config) = spool();
        let channel = Channel::parse("news").unwrap();
        publish(&config, &channel, "made");
        let mut store = crate::store::open(&config).unwrap();
        store
            .watch(std::slice::from_ref(&channel), Waiting::Stream)
            .unwrap();
        publish(&config, &channel, "one");
        let readable = |store: &dyn ChannelStore| {
            let fd = store.wake_fd().unwrap();
            let mut fds = [rustix::event::PollFd::new(
                &fd,
                rustix::event::PollFlags::IN,
            )];
            rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default())).unwrap() > 0
        };
        assert!(readable(store.as_ref()));
        assert!(store.wait(&[], Duration::ZERO).unwrap());
        assert!(!readable(store.as_ref()));
        assert!(!store.wait(&[], Duration::ZERO).unwrap());
    }

    /// Nothing is written after a stream's end, however much its channel still holds.
    #[test]
    fn nothing_follows_a_streams_end() {
        let (_tmp, config) = spool();
        let channel = Channel::parse("news").unwrap();
        publish(&config, &channel, "one");
        let cursor = Cursor(vec![Position {
            channel: channel.clone(),
            id: 0,
            epoch: None,
        }]);
        let handed = Handed::new(
            &config.spool_dir,
            HandedTransport::Mixed {
                boundary: "B".into(),
            },
            &cursor,
            (Duration::from_secs(1), Duration::from_secs(60)),
            config.max_answer_bytes,
        );
        let description = serde_json::to_vec(&handed).unwrap();
        let mut stream = HandedStream::open(&description, &config, Duration::ZERO).unwrap();
        stream.finish();
        let ended = stream.pending().clone();
        assert!(String::from_utf8_lossy(&ended).contains("--B--"));
        let mut store = crate::store::open(&config).unwrap();
        assert!(!stream.deliver(store.as_mut(), Duration::ZERO).unwrap());
        assert_eq!(stream.pending(), &ended);
        assert_eq!(stream.tend(Duration::from_secs(3600)), Owed::Nothing);
    }

    #[test]
    fn a_stream_of_another_spool_is_not_taken() {
        let (tmp, config) = spool();
        let dir = config.streams_path();
        let listener = Listener::take(&dir).unwrap().unwrap();
        let hub_config = config.clone();
        let hub = std::thread::spawn(move || {
            serve(
                &listener,
                &hub_config,
                Duration::from_millis(300),
                Vec::new(),
            )
        });
        let cursor = Cursor(vec![Position {
            channel: Channel::parse("news").unwrap(),
            id: 0,
            epoch: None,
        }]);
        let handed = Handed::new(
            &tmp.path().join("elsewhere"),
            HandedTransport::Sse,
            &cursor,
            (Duration::from_secs(1), Duration::from_secs(60)),
            config.max_answer_bytes,
        );
        let (_client, connection) = std::io::pipe().unwrap();
        let within = handoff::monotonic_now() + Duration::from_secs(5);
        let answer = hand(&dir, &handed, (&connection, None), within);
        assert_eq!(answer, NOT_TAKEN);
        // Nor a stream handed over past its deadline: its program serves it by then.
        let mut handed = handed;
        handed.spool = config.spool_dir.clone();
        let late = handoff::monotonic_now();
        let answer = hand(&dir, &handed, (&connection, None), late);
        assert_eq!(answer, NOT_TAKEN);
        hub.join().unwrap().unwrap();
    }

    /// Hands `handed` over as a program does, its `connection` and `slot`, to be taken before
    /// `deadline`; the hub's answer.
    fn hand(
        dir: &std::path::Path,
        handed: &Handed,
        (connection, slot): (&std::io::PipeWriter, Option<&std::io::PipeWriter>),
        deadline: Duration,
    ) -> u8 {
        let program = handoff::place::connect(dir).unwrap().unwrap();
        let description = serde_json::to_vec(handed).unwrap();
        let slot = slot.map(|slot| slot.as_fd());
        handoff::send(&program, connection.as_fd(), slot, deadline, &description).unwrap();
        wait_readable(&program);
        let mut answer = [0u8; 1];
        rustix::io::read(&program, &mut answer).unwrap();
        answer[0]
    }

    /// Waits (up to 10 s) for the hub's answer on a program's socket, which does not block.
    fn wait_readable(socket: &OwnedFd) {
        let mut fds = [rustix::event::PollFd::new(
            socket,
            rustix::event::PollFlags::IN,
        )];
        let timeout = rustix::event::Timespec {
            tv_sec: 10,
            tv_nsec: 0,
        };
        assert_eq!(rustix::event::poll(&mut fds, Some(&timeout)).unwrap(), 1);
    }
}
