//! How the spool store *publishes*: under the channel's lock, a message is written to a new
//! temporary file and renamed to its id's name, with the epoch, hints, idempotency keys and
//! retention kept alongside. Every file here is made with `O_EXCL` or opened with
//! `O_NOFOLLOW`: the spool's own user can put anything in the spool.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::SystemTime;

use chrono::Utc;

use super::super::bell::{self, NEW_CHANNELS_ROOM, WAITING_ROOM};
use super::super::{IdempotencyKey, NewMessage, Published, StoreError, format_time, new_epoch};
use super::{SUFFIX, SpoolStore};
use crate::name::Channel;
use crate::regular;

/// How often (in ids) a publish rewrites the `last` hint. Creating and renaming a file costs
/// a fraction of a millisecond, a large share of a publish; between rewrites, the last id is
/// found by looking for the messages after the hint, which always exist since the newest
/// message is never dropped.
const LAST_HINT_EVERY: u64 = 16;

/// How often (in ids) a publish removes expired idempotency keys and leftover temporary files.
const SWEEP_EVERY: u64 = 256;

/// How often (in ids of one channel) a publish also removes channel directories left empty
/// past retention (an earlier release's subscribers made them).
const SWEEP_ROOT_EVERY: u64 = 4096;

/// The prefix of an idempotency key's file; a dot keeps it out of the watchers' sight.
const IDEMPOTENCY_PREFIX: &str = ".key-";

/// The note a keyed publish leaves while it stores: `ID DIGEST`, the id it is storing and its
/// key's digest. Found by the next publisher, it means the last keyed publish may have died
/// between storing its key and its message.
const PENDING: &str = ".pending";

/// The flags every file of the spool is opened or made with: never through a symlink, never
/// blocking on a FIFO, never inherited by a child.
fn safe_flags() -> i32 {
    (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC)
        .bits() as i32
}

impl SpoolStore {
    /// Opens the channel's lock file, made when missing; a symlink or anything but a regular
    /// file in its place is refused.
    fn open_lock(dir: &Path) -> io::Result<File> {
        let path = dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .custom_flags(safe_flags())
            .open(&path)
            .map_err(|e| Self::refused_link(e, &path))?;
        if !file.metadata()?.is_file() {
            return Err(regular::not_regular(&path));
        }
        Ok(file)
    }

    /// ELOOP, what `O_NOFOLLOW` answers for a symlink, said as what it is.
    fn refused_link(e: io::Error, path: &Path) -> io::Error {
        if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
            regular::not_regular(path)
        } else {
            e
        }
    }

    /// Writes `bytes` as the file `name` of `dir` in place, made anew with `O_EXCL` (whatever
    /// had the name, a symlink included, is removed first, never followed). For the files that
    /// only the publishers read, under the lock, and whose torn state the pending note covers
    /// (the note itself and idempotency keys): a rename into the channel directory is an event
    /// that wakes every stream watching it, and these must wake nobody.
    fn write_in_place(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
        let path = dir.join(name);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(safe_flags())
            .open(&path)?;
        if let Err(e) = file.write_all(bytes) {
            drop(file);
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        Ok(())
    }

    /// Writes `bytes` as the file `name` of `dir`, whole or not at all: a new temporary file,
    /// renamed over the name. The temporary file is made with `O_EXCL`, so a name planted in
    /// advance (a symlink to a file elsewhere) makes the attempt fail, never write through it;
    /// its name is drawn anew for each attempt, so planting cannot block a publish either.
    fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
        let mut attempt = 0;
        let (tmp, mut file) = loop {
            let tmp = dir.join(format!(
                ".tmp-{}-{}-{name}",
                std::process::id(),
                new_epoch()
            ));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(safe_flags())
                .open(&tmp)
            {
                Ok(file) => break (tmp, file),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 8 => attempt += 1,
                Err(e) => return Err(e),
            }
        };
        let written = file.write_all(bytes);
        drop(file);
        match written.and_then(|()| fs::rename(&tmp, dir.join(name))) {
            Ok(()) => Ok(()),
            Err(e) => {
                // A full disk must not leave a partial temporary file behind.
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Drops messages over the count limit or older than the age limit, oldest first.
    ///
    /// The `first` file remembers where the oldest message is, so each publish looks at one or
    /// two files rather than listing the channel.
    fn apply_retention(&self, dir: &Path, last: u64) -> io::Result<()> {
        let hint = Self::read_number(dir, "first").unwrap_or(1).max(1);
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
            let modified = match fs::symlink_metadata(&path) {
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
        // Rewritten every LAST_HINT_EVERY ids, like `last`: each rewrite is a rename that wakes
        // every stream watching the channel, and a stale hint costs a few lookups of files
        // already gone.
        if first >= hint + LAST_HINT_EVERY {
            Self::write_atomically(dir, "first", first.to_string().as_bytes())?;
        }
        Ok(())
    }

    /// Removes temporary files left by publishers that died mid-write, and idempotency keys
    /// older than they are kept.
    fn sweep(&self, dir: &Path) -> io::Result<()> {
        let cutoff = SystemTime::now()
            .checked_sub(self.retention.idempotency)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let expired = || {
                entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t < cutoff)
            };
            if name.starts_with(".tmp-") || (name.starts_with(IDEMPOTENCY_PREFIX) && expired()) {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// Removes channel directories that hold nothing at all and have not changed for the
    /// retention time. `remove_dir` refuses a directory that is not empty, so a channel a
    /// publisher is filling is never removed.
    fn sweep_root(&self) {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return;
        };
        let cutoff = SystemTime::now()
            .checked_sub(self.retention.max_age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        for entry in entries.flatten() {
            let idle = entry
                .metadata()
                .is_ok_and(|m| m.is_dir() && m.modified().is_ok_and(|t| t < cutoff));
            if idle {
                let _ = fs::remove_dir(entry.path());
            }
        }
        super::pending::sweep(&self.root, cutoff);
    }

    /// The id an idempotency key was stored with, if it is still remembered.
    fn remembered(&self, dir: &Path, key: &IdempotencyKey) -> Option<u64> {
        let name = format!("{IDEMPOTENCY_PREFIX}{}", key.as_str());
        let fresh = fs::symlink_metadata(dir.join(&name))
            .and_then(|m| m.modified())
            .ok()?
            .elapsed()
            .map_or(true, |age| age < self.retention.idempotency);
        fresh.then(|| Self::read_number(dir, &name))?
    }

    /// Finishes what the channel's last keyed publish left (under the channel's lock): its note
    /// says which id and key it was storing; if that message never landed, the key must not
    /// stay, or the retry would be told `duplicate` for a message that does not exist.
    fn recover_pending(dir: &Path) -> io::Result<()> {
        let Some(note) = Self::read_small(dir, PENDING) else {
            return Ok(());
        };
        let mut fields = note.split_whitespace();
        let id = fields.next().and_then(|id| id.parse::<u64>().ok());
        let digest = fields
            .next()
            .filter(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()));
        if let (Some(id), Some(digest)) = (id, digest)
            && !Self::message_path(dir, id).exists()
        {
            match fs::remove_file(dir.join(format!("{IDEMPOTENCY_PREFIX}{digest}"))) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        match fs::remove_file(dir.join(PENDING)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Stores `message` as the next message of `channel` (the store's publish).
    pub(super) fn publish_message(
        &mut self,
        channel: &Channel,
        message: &NewMessage<'_>,
    ) -> Result<Published, StoreError> {
        let (dir, made) = self.ensure_channel(channel, new_epoch)?;
        let lock = Self::open_lock(&dir)?;
        lock.lock()?;
        // Under the lock: no other publisher of this channel runs until it is dropped.
        Self::recover_pending(&dir)?;
        let (epoch, new_channel) = match Self::epoch_in(&dir) {
            // Made of the streams' waiting place, the channel came with its epoch.
            Some(epoch) => (epoch, made),
            None => {
                let epoch = new_epoch();
                Self::write_atomically(&dir, "epoch", epoch.as_bytes())?;
                (epoch, true)
            }
        };
        if let Some(id) = message
            .idempotency_key
            .and_then(|key| self.remembered(&dir, key))
        {
            return Ok(Published {
                id,
                epoch,
                duplicate: true,
            });
        }
        let id = Self::last_in(&dir)? + 1;
        let time = format_time(Utc::now());
        let header = serde_json::json!({ "time": time, "type": message.content_type });
        let mut bytes = header.to_string().into_bytes();
        bytes.push(b'\n');
        bytes.extend_from_slice(message.data.as_bytes());
        // The key is stored before the message, so it is there whenever the message is; the
        // note lets the next publisher take it back if this one dies before its message lands.
        if let Some(key) = message.idempotency_key {
            let key_name = format!("{IDEMPOTENCY_PREFIX}{}", key.as_str());
            Self::write_in_place(&dir, PENDING, format!("{id} {}", key.as_str()).as_bytes())?;
            if let Err(e) = Self::write_in_place(&dir, &key_name, id.to_string().as_bytes()) {
                let _ = fs::remove_file(dir.join(PENDING));
                return Err(e.into());
            }
        }
        if let Err(e) = Self::write_atomically(&dir, &format!("{id:020}{SUFFIX}"), &bytes) {
            if let Some(key) = message.idempotency_key {
                let _ = fs::remove_file(dir.join(format!("{IDEMPOTENCY_PREFIX}{}", key.as_str())));
                let _ = fs::remove_file(dir.join(PENDING));
            }
            return Err(e.into());
        }
        // The message is stored: what follows only saves later work, and its failure (a full
        // disk, say) must not turn a stored message into a failed publish that a client retries.
        // Waiting long-polls hear first (streams were woken by the rename). A doorbell that
        // cannot be rung leaves its waiter to its timeout.
        let _ = bell::ring_all(&dir.join(WAITING_ROOM));
        if new_channel {
            // Made by the channel's maker, so that a waiter who may not write in a directory
            // a publisher of another user made can still wait there.
            let _ = bell::make_room(&dir.join(WAITING_ROOM));
            let _ = bell::ring_all(&self.root.join(NEW_CHANNELS_ROOM));
        }
        if message.idempotency_key.is_some() {
            // The message landed: the note has done its work. One left behind costs the next
            // publisher one look.
            let _ = fs::remove_file(dir.join(PENDING));
        }
        if id % LAST_HINT_EVERY == 0 {
            let _ = Self::write_atomically(&dir, "last", id.to_string().as_bytes());
        }
        if id % SWEEP_EVERY == 1 {
            let _ = self.sweep(&dir);
        }
        if id % SWEEP_ROOT_EVERY == 1 {
            self.sweep_root();
        }
        let _ = self.apply_retention(&dir, id);
        drop(lock);
        Ok(Published {
            id,
            epoch,
            duplicate: false,
        })
    }
}
