//! The *store* keeps channels of messages. A *channel* is a named, ordered log; each *message*
//! has a per-channel id that grows by one from 1, a time, a content type and text.
//!
//! [`ChannelStore`] is the interface the programs use; [`SpoolStore`] is the embedded
//! implementation, a spool directory with one directory per channel and one file per message
//! (`<id>.msg`), so that a Redis-backed store can replace it without touching the programs.
//!
//! Why it is safe with many processes and sudden deaths:
//! - publishers of a channel serialise on an exclusive `flock` of the channel's lock file, which
//!   the kernel releases when a publisher dies, even by SIGKILL;
//! - a message is written to a temporary file and renamed to its id's name, so a reader sees a
//!   message whole or not at all, and a publisher killed before the rename leaves only a
//!   temporary file that the next publisher removes;
//! - the next id is one past the highest message: the `last` hint (rewritten every
//!   `LAST_HINT_EVERY` ids) and the message files found after it, so a publisher killed
//!   between its rename and a hint update loses nothing;
//! - readers take no lock: retention deletes old files, and a reader that finds one gone reports
//!   the gap as `missed`.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};

/// One stored message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The channel's name.
    pub channel: String,
    /// Its id within the channel, from 1.
    pub id: u64,
    /// When it was published, RFC 3339 with milliseconds.
    pub time: String,
    /// Its content type.
    pub content_type: String,
    /// Its text.
    pub data: String,
}

/// What a read after an id found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Messages after the id asked, in id order.
    pub messages: Vec<Message>,
    /// True when messages the reader had not seen were dropped by retention before it came.
    pub missed: bool,
    /// The highest id now in the channel (0 for none yet).
    pub last_id: u64,
}

/// Retention limits of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Messages kept at most.
    pub messages: u64,
    /// Age after which a message is dropped.
    pub max_age: Duration,
}

/// A channel store.
pub trait ChannelStore {
    /// Appends a message; returns its id.
    fn publish(&self, channel: &str, content_type: &str, data: &str) -> io::Result<u64>;
    /// Messages of `channel` with ids above `after`, at most `limit`.
    fn read_after(&self, channel: &str, after: u64, limit: usize) -> io::Result<Batch>;
    /// The highest id in `channel` (0 for none yet).
    fn last_id(&self, channel: &str) -> io::Result<u64>;
}

/// The embedded store: a spool directory.
#[derive(Clone, Debug)]
pub struct SpoolStore {
    root: PathBuf,
    retention: Retention,
}

const SUFFIX: &str = ".msg";

/// How often (in ids) a publish rewrites the `last` hint. Creating and renaming a file costs
/// a fraction of a millisecond, a large share of a publish; between rewrites, the last id is
/// found by looking for the messages after the hint, which always exist since the newest
/// message is never dropped.
const LAST_HINT_EVERY: u64 = 16;

impl SpoolStore {
    /// A store in `root`, which is created when missing.
    pub fn new(root: &Path, retention: Retention) -> SpoolStore {
        SpoolStore {
            root: root.to_owned(),
            retention,
        }
    }

    /// The directory of `channel` (a validated name).
    pub fn channel_dir(&self, channel: &str) -> PathBuf {
        self.root.join(channel)
    }

    /// Creates the channel's directory if needed, so it can be watched before its first message.
    pub fn ensure_channel(&self, channel: &str) -> io::Result<PathBuf> {
        let dir = self.channel_dir(channel);
        fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    fn message_path(dir: &Path, id: u64) -> PathBuf {
        dir.join(format!("{id:020}{SUFFIX}"))
    }

    /// The ids of the message files present, ascending.
    fn ids(dir: &Path) -> io::Result<BTreeSet<u64>> {
        let mut ids = BTreeSet::new();
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let name = entry?.file_name();
            if let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(SUFFIX))
                .and_then(|n| n.parse::<u64>().ok())
            {
                ids.insert(id);
            }
        }
        Ok(ids)
    }

    /// The highest id in the channel directory `dir`: the `last` hint, then the messages after
    /// it. A publisher may also have died between renaming its message and any hint update;
    /// the look past the hint covers that too.
    fn last_in(dir: &Path) -> io::Result<u64> {
        let hint = Self::read_last(dir);
        let anchored = if hint == 0 {
            Self::message_path(dir, 1).exists()
        } else {
            Self::message_path(dir, hint).exists()
        };
        if !anchored {
            // The hint's message is gone (retention keeps fewer messages than the hint
            // interval) or the channel is empty: it is small, so list it.
            return Ok(Self::ids(dir)?.last().copied().unwrap_or(hint));
        }
        let mut last = hint;
        while Self::message_path(dir, last + 1).exists() {
            last += 1;
        }
        Ok(last)
    }

    fn read_last(dir: &Path) -> u64 {
        fs::read_to_string(dir.join("last"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
        let tmp = dir.join(format!(".tmp-{}-{name}", std::process::id()));
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        drop(file);
        fs::rename(&tmp, dir.join(name))
    }

    fn parse(channel: &str, id: u64, bytes: &[u8]) -> Option<Message> {
        let newline = bytes.iter().position(|&b| b == b'\n')?;
        let header: serde_json::Value = serde_json::from_slice(&bytes[..newline]).ok()?;
        Some(Message {
            channel: channel.to_owned(),
            id,
            time: header["time"].as_str()?.to_owned(),
            content_type: header["type"].as_str()?.to_owned(),
            data: String::from_utf8(bytes[newline + 1..].to_vec()).ok()?,
        })
    }

    /// Drops messages over the count limit or older than the age limit, oldest first.
    ///
    /// The `first` file remembers where the oldest message is, so each publish looks at one or
    /// two files rather than listing the channel.
    fn apply_retention(&self, dir: &Path, last: u64) -> io::Result<()> {
        let hint = fs::read_to_string(dir.join("first"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(1)
            .max(1);
        let keep_from = last
            .saturating_sub(self.retention.messages.saturating_sub(1))
            .max(1);
        let cutoff = SystemTime::now()
            .checked_sub(self.retention.max_age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut first = hint;
        // The newest message is kept whatever its age, so the channel's last id survives.
        while first < last {
            let path = Self::message_path(dir, first);
            let modified = match fs::metadata(&path) {
                Ok(m) => m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                // Already gone (an earlier run of this loop died before updating `first`).
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    first += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if first >= keep_from && modified >= cutoff {
                break;
            }
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            first += 1;
        }
        if first != hint {
            Self::write_atomically(dir, "first", first.to_string().as_bytes())?;
        }
        Ok(())
    }

    /// Removes temporary files left by publishers that died mid-write.
    fn remove_leftovers(dir: &Path) -> io::Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }
}

impl ChannelStore for SpoolStore {
    fn publish(&self, channel: &str, content_type: &str, data: &str) -> io::Result<u64> {
        let dir = self.ensure_channel(channel)?;
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))?;
        lock.lock()?;
        // Under the lock: no other publisher of this channel runs until it is dropped.
        let id = Self::last_in(&dir)? + 1;
        let time = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let header = serde_json::json!({ "time": time, "type": content_type });
        let mut bytes = header.to_string().into_bytes();
        bytes.push(b'\n');
        bytes.extend_from_slice(data.as_bytes());
        Self::write_atomically(&dir, &format!("{id:020}{SUFFIX}"), &bytes)?;
        if id % LAST_HINT_EVERY == 0 {
            Self::write_atomically(&dir, "last", id.to_string().as_bytes())?;
        }
        if id % 1024 == 1 {
            Self::remove_leftovers(&dir)?;
        }
        self.apply_retention(&dir, id)?;
        drop(lock);
        Ok(id)
    }

    fn read_after(&self, channel: &str, after: u64, limit: usize) -> io::Result<Batch> {
        let dir = self.channel_dir(channel);
        let mut batch = Batch::default();
        // The usual case: the next ids are there; read them until one is not.
        let mut next = after + 1;
        let read = |id: u64, batch: &mut Batch| -> io::Result<bool> {
            match fs::read(Self::message_path(&dir, id)) {
                Ok(bytes) => {
                    if let Some(message) = Self::parse(channel, id, &bytes) {
                        batch.messages.push(message);
                    }
                    Ok(true)
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e),
            }
        };
        while batch.messages.len() < limit && read(next, &mut batch)? {
            next += 1;
        }
        if !batch.messages.is_empty() {
            batch.last_id = next - 1;
            return Ok(batch);
        }
        // Nothing after the reader: it is up to date, retention dropped what it had not seen,
        // or it is ahead of the channel. The last id tells which.
        batch.last_id = Self::last_in(&dir)?;
        if batch.last_id <= after {
            return Ok(batch);
        }
        // The next message may have landed between the first look and the last id: look again
        // before calling anything missed. Retention drops from the oldest end only, so if the
        // next id is still absent while later ones exist, it was dropped.
        next = after + 1;
        while batch.messages.len() < limit && read(next, &mut batch)? {
            next += 1;
        }
        if !batch.messages.is_empty() {
            batch.last_id = batch.last_id.max(next - 1);
            return Ok(batch);
        }
        let Some(oldest) = Self::ids(&dir)?.into_iter().find(|&id| id > after) else {
            return Ok(batch);
        };
        batch.missed = true;
        next = oldest;
        while batch.messages.len() < limit && next <= batch.last_id {
            if !read(next, &mut batch)? {
                // Dropped by retention while we read: the reader missed it too.
                batch.missed = true;
            }
            next += 1;
        }
        Ok(batch)
    }

    fn last_id(&self, channel: &str) -> io::Result<u64> {
        Self::last_in(&self.channel_dir(channel))
    }
}

/// The time of a message as a `DateTime`, for ages.
pub fn parse_time(time: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path, messages: u64, age_secs: u64) -> SpoolStore {
        SpoolStore::new(
            dir,
            Retention {
                messages,
                max_age: Duration::from_secs(age_secs),
            },
        )
    }

    #[test]
    fn ids_grow_from_one_and_read_back() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let s = store(dir.path(), 1000, 3600);
        for i in 1..=5u64 {
            assert_eq!(s.publish("a", "text/plain", &format!("m{i}")).ok(), Some(i));
        }
        let b = s.read_after("a", 2, 100).unwrap_or_default();
        assert_eq!(
            b.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert_eq!(b.messages[0].data, "m3");
        assert!(!b.missed);
        assert_eq!(b.last_id, 5);
        assert_eq!(
            s.read_after("b", 0, 100).unwrap_or_default(),
            Batch::default()
        );
    }

    #[test]
    fn retention_by_count_reports_missed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let s = store(dir.path(), 3, 3600);
        for i in 1..=10 {
            let _ = s.publish("a", "text/plain", &format!("m{i}"));
        }
        let b = s.read_after("a", 2, 100).unwrap_or_default();
        assert!(b.missed);
        assert_eq!(
            b.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![8, 9, 10]
        );
        let b = s.read_after("a", 7, 100).unwrap_or_default();
        assert!(!b.missed);
        assert_eq!(b.messages.len(), 3);
    }

    #[test]
    fn retention_by_age_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let s = store(dir.path(), 1000, 0);
        for i in 1..=3 {
            let _ = s.publish("a", "text/plain", &format!("m{i}"));
        }
        let b = s.read_after("a", 0, 100).unwrap_or_default();
        assert_eq!(b.messages.iter().map(|m| m.id).collect::<Vec<_>>(), vec![3]);
        assert!(b.missed);
    }

    #[test]
    fn a_message_renamed_without_last_update_is_counted() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let s = store(dir.path(), 1000, 3600);
        let _ = s.publish("a", "text/plain", "one");
        // As if a publisher died after its rename: message 2 exists, `last` still says 1.
        let d = s.channel_dir("a");
        let _ = fs::copy(
            SpoolStore::message_path(&d, 1),
            SpoolStore::message_path(&d, 2),
        );
        assert_eq!(s.last_id("a").ok(), Some(2));
        assert_eq!(s.publish("a", "text/plain", "three").ok(), Some(3));
    }
}
