//! *Slots* cap how many streams and waiting long-polls one host serves at once
//! (`max_streams`), across all the suite's programs, with no daemon keeping count.
//!
//! Every held connection is one web-server worker: without a cap, streams can take every
//! worker a site has and its static pages stop answering. A slot is a file `slot-N` in
//! `streams_dir` held under an exclusive `flock` for the life of the process. The kernel drops
//! the lock when the process ends however it ends (exit, SIGKILL, a crash), so the count can
//! never leak; a new stream probes the slots without waiting and is refused when all are held.
//!
//! The slots are also the host's record of who is connected (*presence*): a stream writes a
//! [`Record`] into its slot once, when it starts (what it serves, to whom, since when), and
//! never again; [`live`] reads the records of the held slots. A slot whose lock is free is an
//! ended stream, whatever its file still says, so a stream killed by SIGKILL leaves the record
//! at once.
//!
//! A stream whose channels publish joins and leaves (`presence_events`) names them in its
//! record's `events`. Its leave is published by whoever first finds its slot free with that
//! record still there: one process of the host once a heartbeat interval ([`sweep_due`],
//! [`sweep`]: a stream of those channels, or a follower of their announcements), or the next
//! stream that takes the slot ([`Slot::ended`]); a stream that ends by itself says so and
//! empties its record ([`Slot::clear`]). A departed client's stream ends in its signal handler,
//! and a killed one cannot say anything: so a leave comes about a heartbeat after the end, while
//! someone follows the channel or its announcements.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The largest record read back, and written: a record is a few hundred bytes, and a stream of
/// `max_subscribe_channels` (at most 1000) names of 64 bytes fits.
pub const MAX_RECORD_BYTES: u64 = 128 * 1024;

/// The prefix of a Mercure selector among a record's resources (`mercure:SELECTOR`).
pub const MERCURE_RESOURCE: &str = "mercure:";

/// A held slot; the lock goes with the process (or when this is dropped).
#[derive(Debug)]
pub struct Slot {
    file: File,
    /// Its number, for logs.
    pub number: usize,
    /// What an ended stream left in the slot when its joins still wait for their leave: the
    /// taker publishes it.
    pub ended: Option<Record>,
}

/// What a live stream serves, written into its slot when it starts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The program's name (`nph-longpoll`).
    pub program: String,
    /// Its transport (`sse`, `longpoll`, `iframe`, `chunked`, `mixed`, `mjpeg`, `image`).
    pub transport: String,
    /// What it serves: channel names, and `file:NAME`, `camera:NAME`, `clock:`,
    /// `mercure:SELECTOR` for the others (a `:` is in no channel's name).
    pub resources: Vec<String>,
    /// Who, when the request says: the user the server authenticated (`REMOTE_USER`) or the
    /// token's subject.
    pub subscriber: Option<String>,
    /// The server that runs it (`apache`, `lighttpd`, `nginx`, `other`).
    pub server: String,
    /// When it started, in milliseconds since 1970.
    pub since_ms: u64,
    /// Its process.
    pub pid: u32,
    /// The channels whose companion was told of its start, and is owed its end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// Its id in a store that serves several hosts ([`stream_id`]), when it was recorded there:
    /// it is owed its removal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<String>,
    /// A Mercure subscriber's id (`urn:uuid:…`), which its subscription updates name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mercure_id: Option<String>,
    /// The Mercure token's `mercure.payload`, which they repeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mercure_payload: Option<serde_json::Value>,
}

impl Slot {
    /// Writes `record` into the slot, in place of what an ended stream left there: once, at the
    /// stream's start, so presence costs nothing per message.
    pub fn describe(&self, record: &Record) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        if line.len() as u64 > MAX_RECORD_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("a record of {} bytes, over {MAX_RECORD_BYTES}", line.len()),
            ));
        }
        self.file.set_len(0)?;
        self.file.write_all_at(&line, 0)
    }

    /// A descriptor of the slot's file, for the hub: its lock lasts while any descriptor of it
    /// lives, so the hub holds the slot of a stream it was handed.
    pub fn descriptor(&self) -> std::io::Result<rustix::fd::OwnedFd> {
        use std::os::fd::AsFd;
        self.file.as_fd().try_clone_to_owned()
    }

    /// Empties the record: the stream has published its own leave.
    pub fn clear(&self) -> std::io::Result<()> {
        self.file.set_len(0)
    }
}

/// The record in `file`, when it is one that owes leaves or its removal from a shared store.
fn owing(file: &File) -> Option<Record> {
    let mut text = Vec::new();
    file.take(MAX_RECORD_BYTES).read_to_end(&mut text).ok()?;
    // Most records owe nothing: a stream's start parses none of them.
    let has = |key: &[u8]| text.windows(key.len()).any(|w| w == key);
    if !has(b"\"events\"") && !has(b"\"shared\"") {
        return None;
    }
    serde_json::from_slice::<Record>(text.trim_ascii())
        .ok()
        .filter(|r| r.owes())
}

impl Record {
    /// True when its end must be told: leaves, or its removal from a shared store.
    pub fn owes(&self) -> bool {
        !self.events.is_empty() || self.shared.is_some()
    }
}

/// This host's name for its streams in a store several hosts share: the machine's name and the
/// slot folder's, so that two sites of one machine are two hosts too.
pub fn host_id(dir: &Path) -> String {
    let node = rustix::system::uname();
    let node = node.nodename().to_string_lossy();
    let folder = xxhash_rust::xxh3::xxh3_64(dir.as_os_str().as_encoded_bytes());
    format!("{node}-{:08x}", folder & 0xffff_ffff)
}

/// The id of this process's stream, started at `since_ms`, in a store several hosts share: a
/// process serves one stream, and its id and start name it on its host even once the id is
/// another process's (a sweep of a killed stream removes that stream's entry, not its
/// successor's).
pub fn stream_id(dir: &Path, since_ms: u64) -> String {
    format!("{}:{}:{since_ms}", host_id(dir), std::process::id())
}

/// Why no slot was taken.
#[derive(Debug)]
pub enum SlotError {
    /// Every slot is held: the host serves `max_streams` already.
    Full,
    /// The slot directory cannot be used; the cap is not enforced.
    Unusable(String),
}

impl std::fmt::Display for SlotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SlotError::Full => write!(f, "every stream slot is taken (max_streams)"),
            SlotError::Unusable(why) => write!(f, "max_streams is not enforced: {why}"),
        }
    }
}

impl std::error::Error for SlotError {}

/// The slot directory, a private directory of this user.
fn directory(dir: &Path) -> Result<(), SlotError> {
    crate::regular::own_directory(dir)
        .map_err(|e| SlotError::Unusable(format!("{}: {e}", dir.display())))
}

/// Takes a free slot of `max` in `dir`. Probing starts at a place drawn from the process id,
/// so concurrent starts rarely try the same slots.
pub fn take(dir: &Path, max: usize) -> Result<Slot, SlotError> {
    if max == 0 {
        return Err(SlotError::Full);
    }
    directory(dir)?;
    let start = (std::process::id() as usize).wrapping_mul(7919) % max;
    for i in 0..max {
        let number = (start + i) % max;
        let path = dir.join(format!("slot-{number}"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
            .map_err(|e| SlotError::Unusable(format!("{}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {
                let ended = match file.metadata() {
                    Ok(meta) if meta.len() > 0 => owing(&file),
                    _ => None,
                };
                // What an ended stream left is not this one's: a reader finds it empty (starting)
                // until the new record is written.
                file.set_len(0)
                    .map_err(|e| SlotError::Unusable(format!("{}: {e}", path.display())))?;
                return Ok(Slot {
                    file,
                    number,
                    ended,
                });
            }
            Err(TryLockError::WouldBlock) => continue,
            Err(TryLockError::Error(e)) => {
                return Err(SlotError::Unusable(format!("{}: {e}", path.display())));
            }
        }
    }
    Err(SlotError::Full)
}

/// Hands `leave` the record of each ended stream in `dir` that still owes leaves, and empties
/// it; returns how many. Each such slot is held while its leave is given (its lock taken without
/// waiting), so two sweepers, or a sweeper and a stream taking the slot, never both give one.
pub fn sweep(dir: &Path, mut leave: impl FnMut(Record)) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut swept = 0;
    for entry in entries.flatten() {
        let named = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with("slot-"));
        // A live stream's record is there too; an empty slot owes nothing.
        if !named || !entry.metadata().is_ok_and(|m| m.is_file() && m.len() > 0) {
            continue;
        }
        let Ok(file) = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
            )
            .open(entry.path())
        else {
            continue;
        };
        if !file.metadata().is_ok_and(|m| m.is_file()) || file.try_lock().is_err() {
            continue;
        }
        if let Some(record) = owing(&file) {
            // Emptied first: a sweeper that fails half-way owes a leave rather than gives two.
            file.set_len(0)?;
            leave(record);
            swept += 1;
        }
    }
    Ok(swept)
}

/// True when a sweep is due on this host: none was in the last `interval`. One process at a
/// time decides, under the lock of the file `sweep` beside the slots, whose time says when the
/// last one was; so a crowd's streams, woken together, sweep once, not each.
pub fn sweep_due(dir: &Path, interval: std::time::Duration) -> bool {
    let Ok(file) = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(dir.join("sweep"))
    else {
        return false;
    };
    if file.try_lock().is_err() {
        return false;
    }
    let Ok(meta) = file.metadata() else {
        return false;
    };
    let last = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
    // A time in the future (a clock set back) counts as due.
    let due = last.elapsed().map_or(true, |since| since >= interval) || meta.len() == 0;
    due && meta.is_file()
        && file
            .set_len(1)
            .and_then(|()| file.set_modified(std::time::SystemTime::now()))
            .is_ok()
}

/// A held slot as a reader finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Live {
    /// The slot's number.
    pub number: usize,
    /// What its stream wrote, `None` while it is starting (or wrote something else).
    pub record: Option<Record>,
}

/// The held slots in `dir` and their records, by slot number.
///
/// A slot is tested by asking for a shared lock without waiting: refused, it is held. Granted,
/// the slot is free and the lock is let go at once; a stream starting in that instant passes to
/// the next slot, so a reader can make a nearly full host answer one 503 early, never let one
/// stream too many in.
pub fn live(dir: &Path) -> std::io::Result<Vec<Live>> {
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(number) = name
            .to_str()
            .and_then(|n| n.strip_prefix("slot-"))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        // Not through a link another user planted, and never blocking on a FIFO.
        let Ok(file) = crate::regular::open(&entry.path(), crate::regular::Links::Refuse) else {
            continue;
        };
        match file.try_lock_shared() {
            Ok(()) => continue,
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(_)) => continue,
        }
        let mut text = Vec::new();
        let record = (&file)
            .take(MAX_RECORD_BYTES)
            .read_to_end(&mut text)
            .ok()
            .and_then(|_| serde_json::from_slice::<Record>(text.trim_ascii()).ok());
        found.push(Live { number, record });
    }
    found.sort_by_key(|l| l.number);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_slots_say_what_they_serve_and_ended_ones_say_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let slots = dir.path().join("streams");
        let first = take(&slots, 4).unwrap();
        let record = Record {
            program: "nph-longpoll".into(),
            transport: "sse".into(),
            resources: vec!["room".into()],
            subscriber: Some("alice".into()),
            server: "apache".into(),
            since_ms: 1,
            pid: 7,
            ..Record::default()
        };
        first.describe(&record).unwrap();
        let second = take(&slots, 4).unwrap();
        // A longer record before it: what is left must not show through.
        second
            .describe(&Record {
                resources: vec!["a-much-longer-name-than-the-next".into()],
                ..record.clone()
            })
            .unwrap();
        second.describe(&record).unwrap();
        let found = live(&slots).unwrap();
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|l| l.record.as_ref() == Some(&record)));
        drop(first);
        let found = live(&slots).unwrap();
        assert_eq!(found.len(), 1, "an ended stream leaves at once");
        assert_eq!(found[0].number, second.number);
        // Reading took nothing: every free slot can still be taken.
        let rest: Vec<Slot> = (0..3).filter_map(|_| take(&slots, 4).ok()).collect();
        assert_eq!(rest.len(), 3);
        assert!(live(&dir.path().join("none")).unwrap().is_empty());
    }

    #[test]
    fn an_ended_streams_leave_is_owed_once() {
        let dir = tempfile::tempdir().unwrap();
        let slots = dir.path().join("streams");
        let record = Record {
            program: "nph-longpoll".into(),
            transport: "sse".into(),
            resources: vec!["room".into()],
            events: vec!["room".into()],
            pid: 7,
            ..Record::default()
        };
        let live_one = take(&slots, 2).unwrap();
        live_one.describe(&record).unwrap();
        let ended = take(&slots, 2).unwrap();
        ended.describe(&record).unwrap();
        let mut left = Vec::new();
        assert_eq!(sweep(&slots, |r| left.push(r)).unwrap(), 0, "both live");
        drop(ended);
        assert_eq!(sweep(&slots, |r| left.push(r)).unwrap(), 1);
        assert_eq!(left, vec![record.clone()]);
        assert_eq!(sweep(&slots, |r| left.push(r)).unwrap(), 0, "given once");
        // One that ends without a sweep is owed by the next stream in its slot.
        drop(live_one);
        let next: Vec<Slot> = (0..2).filter_map(|_| take(&slots, 2).ok()).collect();
        let owed: Vec<&Record> = next.iter().filter_map(|s| s.ended.as_ref()).collect();
        assert_eq!(owed, vec![&record]);
        // A stream that said its own leave owes nothing.
        next[0].describe(&record).unwrap();
        next[0].clear().unwrap();
        drop(next);
        assert_eq!(sweep(&slots, |r| left.push(r)).unwrap(), 0);
    }

    #[test]
    fn one_sweep_an_interval() {
        let dir = tempfile::tempdir().unwrap();
        let hour = std::time::Duration::from_secs(3600);
        assert!(sweep_due(dir.path(), hour));
        assert!(!sweep_due(dir.path(), hour), "the next waits an hour");
        assert!(sweep_due(dir.path(), std::time::Duration::ZERO));
    }

    #[test]
    fn slots_are_counted_and_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let slots = dir.path().join("streams");
        let held: Vec<Slot> = (0..3).filter_map(|_| take(&slots, 3).ok()).collect();
        assert_eq!(held.len(), 3);
        assert!(matches!(take(&slots, 3), Err(SlotError::Full)));
        drop(held);
        assert!(take(&slots, 3).is_ok());
    }

    #[test]
    fn a_symlink_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        let link = dir.path().join("streams");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(take(&link, 3), Err(SlotError::Unusable(_))));
    }
}
