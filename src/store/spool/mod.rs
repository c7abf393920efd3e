//! The *spool store*: the embedded [`ChannelStore`], a spool directory with one directory per
//! channel and one file per message (`<id>.msg`), for a site on one host.
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
//! - once a message is renamed into place the publish has succeeded: a hint, retention or
//!   clean-up that fails afterwards is an optimisation missed, never a failed publish;
//! - the channel's epoch is the `epoch` file, written under the lock by the first publish into
//!   a directory that has none (a new channel, or one whose directory was wiped);
//! - readers take no lock: retention deletes old files, and a reader that finds one gone reports
//!   the gap as `missed`;
//! - an idempotency key is stored before its message, with a `.pending` note of both that the
//!   next publisher of the channel clears (removing the key when the message never landed), so
//!   a retry finds the key whenever the message was stored, at every instant.
//!
//! Why it is safe against the spool's own user: everything in the spool can be made by the web
//! server's user, including a symlink in place of a lock, a hint or a temporary file. The store
//! creates files only with `O_CREAT | O_EXCL` (which refuses an existing name, a symlink
//! included) or opens them with `O_NOFOLLOW` and checks their type, and renames over names
//! (which replaces a symlink rather than following it). A publish run as root (a cron job)
//! first becomes the spool's owner (`serverpush publish` does; see [`owner`]), so no mistake in
//! one path can act with root's rights.
//!
//! How a message is stored is the `publish` module's part (`spool/publish.rs`); how
//! subscribers wait (inotify for streams, doorbells for long-polls) is the `wait` module's
//! (`spool/wait.rs`).

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Waiting;
use super::{Batch, ChannelStore, Message, NewMessage, Published, Retention, StoreError};
use crate::name::Channel;
use crate::regular::{self, Links};

pub mod owner;
pub mod pending;
mod publish;
mod wait;
use wait::Subscription;

/// What a file looked like: inode, modification time (seconds, nanoseconds), size. A file
/// replaced by a rename has another inode.
type FileSeen = (u64, i64, i64, u64);

fn file_seen(meta: &fs::Metadata) -> FileSeen {
    use std::os::unix::fs::MetadataExt;
    (meta.ino(), meta.mtime(), meta.mtime_nsec(), meta.len())
}

/// The id of a message file's name (`<id>.msg`).
fn message_id(name: &[u8]) -> Option<u64> {
    std::str::from_utf8(name.strip_suffix(SUFFIX.as_bytes())?)
        .ok()?
        .parse()
        .ok()
}

/// The embedded store: a spool directory.
#[derive(Debug)]
pub struct SpoolStore {
    root: PathBuf,
    retention: Retention,
    /// The channel's epoch last read.
    epochs: Option<EpochSeen>,
    /// What a subscriber waits on, once [`ChannelStore::watch`] was called.
    subscription: Subscription,
}

/// A channel's epoch as last read.
#[derive(Debug)]
struct EpochSeen {
    /// The channel's directory.
    dir: PathBuf,
    /// What its `epoch` file looked like.
    seen: FileSeen,
    epoch: String,
    /// True when read or looked at since the subscriber's watch began: then a wake-up by a
    /// landing that named no epoch may take it without a look (see `wait::Landed`).
    since_watch: bool,
}

const SUFFIX: &str = ".msg";

/// The largest message file read: the largest message the config allows, and its header.
const MAX_MESSAGE_FILE: u64 = (16 << 20) + 4096;

impl SpoolStore {
    /// [`ChannelStore::read_within`], before the epoch is made sure of.
    fn read_batch(
        &mut self,
        channel: &Channel,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Batch, StoreError> {
        // A stream woken by the message `landed` knows it is there and need not look for the
        // one after it: that look, for a name not yet made, waits for the directory's lock, which
        // the publisher still holds while its rename wakes the watchers. A later message wakes
        // the next wait at once. It knows the directory is there too, and, when nothing named
        // `epoch` landed (and the wake's read took every queued event, and the channel was not
        // just made of its waiting place: see `wait::Landed`), that the epoch it read since its
        // watch began still holds: two looks fewer per delivery.
        let landed = self.subscription.take_landed(channel, after);
        let dir = match landed {
            Some(_) => self.channel_dir(channel),
            None => match self.existing_dir(channel)? {
                Some(dir) => dir,
                None => return Ok(Batch::default()),
            },
        };
        let kept = match (&self.epochs, landed) {
            (Some(known), Some(landing))
                if landing.epoch_kept && known.since_watch && known.dir == dir =>
            {
                Some(known.epoch.clone())
            }
            _ => None,
        };
        let mut batch = Batch {
            epoch: kept.or_else(|| self.epoch_of(&dir)),
            ..Batch::default()
        };
        let landed = landed.map(|landing| landing.id);
        // The usual case: the next ids are there; read them until one is not.
        let mut next = after + 1;
        // The size read so far, kept as messages come rather than summed again at each look.
        let size = std::cell::Cell::new(0usize);
        let room = |batch: &Batch| batch.messages.len() < limit && size.get() < max_bytes;
        let read = |id: u64, batch: &mut Batch| -> io::Result<bool> {
            let path = Self::message_path(&dir, id);
            match regular::read(&path, Links::Refuse, MAX_MESSAGE_FILE) {
                Ok(Some(bytes)) => {
                    match Self::parse(channel, id, &bytes) {
                        Some(message) => {
                            size.set(size.get() + super::answer_size(&message));
                            batch.messages.push(message);
                        }
                        None => batch.unreadable.push(id),
                    }
                    Ok(true)
                }
                Ok(None) => Ok(false),
                // Something other than a message file in its place (a symlink, a FIFO): it is
                // passed over like a damaged message, never followed or waited on.
                Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                    batch.unreadable.push(id);
                    Ok(true)
                }
                Err(e) => Err(e),
            }
        };
        while room(&batch) && read(next, &mut batch)? {
            if landed == Some(next) {
                batch.last_id = next;
                return Ok(batch);
            }
            next += 1;
        }
        if batch.found_any() {
            batch.last_id = next - 1;
            return Ok(batch);
        }
        // Nothing after the reader: it is up to date, retention dropped what it had not seen,
        // or it is ahead of the channel. Ids are given in order with no gaps and retention
        // drops from the oldest end, so while the reader's own last message is still there
        // nothing newer can be: it is up to date, known with one look instead of the hint and
        // the names past it (every stream's start and every parked long-poll asks this). A
        // hole made by hand in the middle of a channel would hide the messages past it from
        // this look, so only the first look before a wait takes it: a reader woken later
        // counts the last id as below, and finds them.
        if !self.subscription.has_waited() && after > 0 && Self::message_path(&dir, after).exists()
        {
            batch.last_id = after;
            return Ok(batch);
        }
        batch.last_id = Self::last_in(&dir)?;
        if batch.last_id <= after {
            return Ok(batch);
        }
        // The next message may have landed between the first look and the last id: look again
        // before calling anything missed. Retention drops from the oldest end only, so if the
        // next id is still absent while later ones exist, it was dropped.
        next = after + 1;
        while room(&batch) && read(next, &mut batch)? {
            next += 1;
        }
        if batch.found_any() {
            batch.last_id = batch.last_id.max(next - 1);
            return Ok(batch);
        }
        let Some(oldest) = Self::ids(&dir)?.into_iter().find(|&id| id > after) else {
            return Ok(batch);
        };
        batch.missed = true;
        next = oldest;
        while room(&batch) && next <= batch.last_id {
            if !read(next, &mut batch)? {
                // Dropped by retention while we read: the reader missed it too.
                batch.missed = true;
            }
            next += 1;
        }
        Ok(batch)
    }

    /// A store in `root`, which is created when missing.
    pub fn new(root: &Path, retention: Retention) -> SpoolStore {
        SpoolStore {
            root: root.to_owned(),
            retention,
            epochs: None,
            subscription: Subscription::default(),
        }
    }

    /// The directory of `channel`.
    pub fn channel_dir(&self, channel: &Channel) -> PathBuf {
        self.root.join(channel)
    }

    /// Creates the channel's directory if needed (for a publish); true when this call made it.
    /// The spool itself is made when missing; the channel's directory is made of the waiting
    /// place its streams watch, if there is one (see [`pending`], with `epoch` in it), or is
    /// one name in the spool, made with `mkdir` (which never follows a symlink); it is then
    /// checked to be a directory.
    pub fn ensure_channel(
        &self,
        channel: &Channel,
        epoch: impl FnOnce() -> String,
    ) -> io::Result<(PathBuf, bool)> {
        let dir = self.channel_dir(channel);
        let missing =
            fs::symlink_metadata(&dir).is_err_and(|e| e.kind() == io::ErrorKind::NotFound);
        let mut made = missing && pending::adopt(&self.root, channel, &epoch());
        if missing && !made {
            match fs::create_dir(&dir) {
                Ok(()) => made = true,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir_all(&self.root)?;
                    match fs::create_dir(&dir) {
                        Ok(()) => made = true,
                        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                        _ => {}
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Self::checked(&dir)?;
        Ok((dir, made))
    }

    /// `dir` if it is a real directory; an error if something else (a symlink planted to send
    /// writes elsewhere) is there.
    pub(super) fn checked(dir: &Path) -> io::Result<&Path> {
        if fs::symlink_metadata(dir)?.is_dir() {
            Ok(dir)
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", dir.display()),
            ))
        }
    }

    /// The channel's directory when it exists (and is a real directory).
    fn existing_dir(&self, channel: &Channel) -> io::Result<Option<PathBuf>> {
        let dir = self.channel_dir(channel);
        match Self::checked(&dir) {
            Ok(_) => Ok(Some(dir)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
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
        let hint = Self::read_number(dir, "last").unwrap_or(0);
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

    /// A small file of the channel's (a hint, the epoch), never through a symlink.
    fn read_small(dir: &Path, name: &str) -> Option<String> {
        // The largest is the pending note: an id, a space and a 64-digit digest.
        let bytes = regular::read(&dir.join(name), Links::Refuse, 128).ok()??;
        String::from_utf8(bytes).ok()
    }

    fn read_number(dir: &Path, name: &str) -> Option<u64> {
        Self::read_small(dir, name).and_then(|s| s.trim().parse().ok())
    }

    /// The channel's epoch as [`SpoolStore::epoch_in`] reads it, read again only when the
    /// `epoch` file is not the one read last time: a stream asks at every wake-up, and a look
    /// at the file costs one call where reading it costs five.
    fn epoch_of(&mut self, dir: &Path) -> Option<String> {
        let meta = fs::symlink_metadata(dir.join("epoch")).ok()?;
        if let Some(known) = &mut self.epochs
            && known.dir == dir
            && known.seen == file_seen(&meta)
        {
            known.since_watch = true;
            return Some(known.epoch.clone());
        }
        self.remember_epoch(dir, dir)
    }

    /// Reads the epoch in `from` and keeps it as the epoch of the channel directory `dir`.
    fn remember_epoch(&mut self, from: &Path, dir: &Path) -> Option<String> {
        let (seen, epoch) = Self::epoch_file(from)?;
        self.epochs = Some(EpochSeen {
            dir: dir.to_owned(),
            seen,
            epoch: epoch.clone(),
            since_watch: true,
        });
        Some(epoch)
    }

    /// The `epoch` file in `dir`: what it looks like (from the descriptor read) and its epoch.
    fn epoch_file(dir: &Path) -> Option<(FileSeen, String)> {
        let path = dir.join("epoch");
        let (mut file, meta) = regular::open_with_metadata(&path, Links::Refuse).ok()?;
        let bytes = regular::read_to_limit(&mut file, meta.len(), 128, &path).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let epoch = text.trim();
        super::is_epoch(epoch).then(|| (file_seen(&meta), epoch.to_owned()))
    }

    /// The channel's epoch, `None` when it has none yet.
    fn epoch_in(dir: &Path) -> Option<String> {
        Self::epoch_file(dir).map(|(_, epoch)| epoch)
    }

    fn parse(channel: &Channel, id: u64, bytes: &[u8]) -> Option<Message> {
        /// A message file's first line.
        #[derive(serde::Deserialize)]
        struct Header {
            time: String,
            #[serde(rename = "type")]
            content_type: String,
        }
        let newline = bytes.iter().position(|&b| b == b'\n')?;
        let header: Header = serde_json::from_slice(&bytes[..newline]).ok()?;
        Some(Message {
            channel: channel.clone(),
            id,
            time: header.time,
            content_type: header.content_type,
            data: String::from_utf8(bytes[newline + 1..].to_vec()).ok()?,
        })
    }
}

impl ChannelStore for SpoolStore {
    fn publish(
        &mut self,
        channel: &Channel,
        message: &NewMessage<'_>,
    ) -> Result<Published, StoreError> {
        self.publish_message(channel, message)
    }

    fn read_within(
        &mut self,
        channel: &Channel,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Batch, StoreError> {
        let mut batch = self.read_batch(channel, after, limit, max_bytes)?;
        // The epoch is read before the messages, and a channel's first publish writes its epoch
        // just before its first message: a reader between the two would see messages without
        // an epoch, and take the epoch it finds on its next read for a log made anew, sending
        // what it had sent again. Any message implies the epoch written before it.
        if batch.epoch.is_none()
            && (batch.found_any() || batch.last_id > 0)
            && let Some(dir) = self.existing_dir(channel)?
        {
            batch.epoch = self.epoch_of(&dir);
        }
        Ok(batch)
    }

    fn head(&mut self, channel: &Channel) -> Result<(u64, Option<String>), StoreError> {
        let Some(dir) = self.existing_dir(channel)? else {
            return Ok((0, None));
        };
        let epoch = Self::epoch_in(&dir);
        Ok((Self::last_in(&dir)?, epoch))
    }

    fn watch(&mut self, channels: &[Channel], waiting: Waiting) -> Result<(), StoreError> {
        if let Some(known) = &mut self.epochs {
            known.since_watch = false;
        }
        self.subscription.watch(&self.root, channels, waiting)?;
        // A stream that waits in a channel's waiting place reads the epoch its first waiter put
        // there now rather than at the first message, which the whole crowd receives at once.
        if let Some((channel, place)) = self.subscription.take_place() {
            let dir = self.channel_dir(&channel);
            self.remember_epoch(&place, &dir);
        }
        Ok(())
    }

    fn wait(
        &mut self,
        _positions: &[(&Channel, u64)],
        timeout: Duration,
    ) -> Result<bool, StoreError> {
        self.subscription.wait(&self.root, timeout)
    }

    fn channels(&mut self) -> Result<Vec<Channel>, StoreError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Only what nph-longpoll could have made: anything else is not a channel.
            if let Ok(channel) = Channel::parse(&name)
                && !name.starts_with('.')
                && entry.file_type()?.is_dir()
            {
                names.push(channel);
            }
        }
        names.sort();
        Ok(names)
    }

    fn leave_open(&mut self) {
        self.subscription.leave_open();
    }

    fn wake_fd(&self) -> Option<rustix::fd::BorrowedFd<'_>> {
        self.subscription.wake_fd()
    }

    fn forget_wake(&mut self) {
        self.subscription.forget_wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(name: &str) -> Channel {
        Channel::parse(name).unwrap()
    }

    fn store(dir: &Path, messages: u64, age_secs: u64) -> SpoolStore {
        SpoolStore::new(
            dir,
            Retention {
                messages,
                max_age: Duration::from_secs(age_secs),
                idempotency: Duration::from_secs(60),
            },
        )
    }

    /// Removes everything in the channel directory `dir` and keeps the directory.
    fn empty(dir: &Path) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path).unwrap();
            } else {
                std::fs::remove_file(&path).unwrap();
            }
        }
    }

    fn text(data: &str) -> NewMessage<'_> {
        NewMessage {
            content_type: "text/plain",
            data,
            idempotency_key: None,
        }
    }

    #[test]
    fn ids_grow_from_one_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path(), 1000, 3600);
        for i in 1..=5u64 {
            assert_eq!(
                s.publish(&ch("a"), &text(&format!("m{i}")))
                    .ok()
                    .map(|p| p.id),
                Some(i)
            );
        }
        let b = s.read_after(&ch("a"), 2, 100).unwrap();
        assert_eq!(
            b.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert_eq!(b.messages[0].data, "m3");
        assert!(!b.missed);
        assert_eq!(b.last_id, 5);
        assert_eq!(s.read_after(&ch("b"), 0, 100).ok(), Some(Batch::default()));
    }

    #[test]
    fn a_stream_waiting_for_a_new_channel_watches_the_directory_it_is_made_of() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let mut waiter = store(dir.path(), 1000, 3600);
        waiter.watch(&[ch("new")], Waiting::Stream).unwrap();
        let waiting = dir.path().join(pending::PENDING_ROOM).join("new");
        let inode = std::fs::metadata(&waiting).unwrap().ino();
        let place_epoch = std::fs::read_to_string(waiting.join("epoch")).unwrap();
        assert!(crate::store::is_epoch(&place_epoch), "{place_epoch:?}");
        assert!(
            !waiter
                .wait(&[(&ch("new"), 0)], Duration::from_millis(50))
                .unwrap()
        );
        let mut publisher = store(dir.path(), 1000, 3600);
        publisher.publish(&ch("new"), &text("first")).unwrap();
        assert_eq!(
            std::fs::metadata(dir.path().join("new")).unwrap().ino(),
            inode
        );
        // Woken by the message (not by the channel's making, nor its epoch), and the watch it
        // had is the channel's: the next message wakes it too.
        assert!(
            waiter
                .wait(&[(&ch("new"), 0)], Duration::from_secs(5))
                .unwrap()
        );
        let b = waiter.read_after(&ch("new"), 0, 100).unwrap();
        assert_eq!((b.messages.len(), b.missed), (1, false));
        // The epoch its first waiter wrote in the waiting place is the channel's.
        assert_eq!(b.epoch, Some(place_epoch));
        publisher.publish(&ch("new"), &text("second")).unwrap();
        assert!(
            waiter
                .wait(&[(&ch("new"), 1)], Duration::from_secs(5))
                .unwrap()
        );
        assert_eq!(waiter.read_after(&ch("new"), 1, 100).unwrap().last_id, 2);
        // A long-poll waits on doorbells, and makes no pending directory.
        let mut poll = store(dir.path(), 1000, 3600);
        poll.watch(&[ch("other")], Waiting::Once).unwrap();
        assert!(
            !dir.path()
                .join(pending::PENDING_ROOM)
                .join("other")
                .exists()
        );
    }

    #[test]
    fn a_stream_takes_the_new_epoch_of_a_channel_emptied_under_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut publisher = store(dir.path(), 1000, 3600);
        let first = publisher.publish(&ch("a"), &text("m1")).unwrap().epoch;
        let mut stream = store(dir.path(), 1000, 3600);
        assert_eq!(
            stream.read_after(&ch("a"), 0, 100).unwrap().epoch,
            Some(first.clone())
        );
        stream.watch(&[ch("a")], Waiting::Stream).unwrap();
        assert_eq!(stream.read_after(&ch("a"), 1, 100).unwrap().last_id, 1);
        // Everything in the directory removed, the directory kept: the next publish gives the
        // channel a new epoch and starts its ids again. The stream, woken by a landing whose
        // wake named the epoch too, reads the new epoch rather than the one it knew.
        empty(&dir.path().join("a"));
        publisher.publish(&ch("a"), &text("n1")).unwrap();
        let second = publisher.publish(&ch("a"), &text("n2")).unwrap().epoch;
        assert_ne!(first, second);
        assert!(
            stream
                .wait(&[(&ch("a"), 1)], Duration::from_secs(5))
                .unwrap()
        );
        let b = stream.read_after(&ch("a"), 1, 100).unwrap();
        assert_eq!(b.epoch, Some(second));
    }

    #[test]
    fn a_stream_looks_again_at_the_epoch_of_a_channel_made_of_its_waiting_place() {
        let dir = tempfile::tempdir().unwrap();
        let mut waiter = store(dir.path(), 1000, 3600);
        waiter.watch(&[ch("new")], Waiting::Stream).unwrap();
        // The epoch it read while waiting is not the one the channel is made with (here the
        // place's epoch written anew in place, which no watch reports; in life, a place made
        // again after a sweep or the making, read by its name).
        let epoch = dir.path().join(pending::PENDING_ROOM).join("new/epoch");
        std::fs::remove_file(&epoch).unwrap();
        std::fs::write(&epoch, "0other").unwrap();
        let mut publisher = store(dir.path(), 1000, 3600);
        let made = publisher.publish(&ch("new"), &text("first")).unwrap().epoch;
        assert_eq!(made, "0other");
        assert!(
            waiter
                .wait(&[(&ch("new"), 0)], Duration::from_secs(5))
                .unwrap()
        );
        assert_eq!(
            waiter.read_after(&ch("new"), 0, 100).unwrap().epoch,
            Some(made)
        );
    }

    #[test]
    fn a_stream_far_behind_takes_the_new_epoch_whatever_its_first_read_holds() {
        let dir = tempfile::tempdir().unwrap();
        let mut publisher = store(dir.path(), 1000, 3600);
        let first = publisher.publish(&ch("a"), &text("m1")).unwrap().epoch;
        let mut stream = store(dir.path(), 1000, 3600);
        stream.watch(&[ch("a")], Waiting::Stream).unwrap();
        assert_eq!(
            stream.read_after(&ch("a"), 0, 100).unwrap().epoch,
            Some(first.clone())
        );
        // More messages than one read of the watch holds, then the channel emptied and
        // published again: the wake-up's read names old messages only, the new epoch's rename
        // still queued behind them.
        for i in 2..=250 {
            publisher
                .publish(&ch("a"), &text(&format!("m{i}")))
                .unwrap();
        }
        empty(&dir.path().join("a"));
        let mut second = String::new();
        for i in 1..=3 {
            second = publisher
                .publish(&ch("a"), &text(&format!("n{i}")))
                .unwrap()
                .epoch;
        }
        assert_ne!(first, second);
        assert!(
            stream
                .wait(&[(&ch("a"), 1)], Duration::from_secs(5))
                .unwrap()
        );
        assert_eq!(
            stream.read_after(&ch("a"), 1, 100).unwrap().epoch,
            Some(second)
        );
    }

    #[test]
    fn an_up_to_date_reader_is_told_so_and_a_hole_is_found_after_a_wait() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path(), 1000, 3600);
        for i in 1..=20 {
            let _ = s.publish(&ch("a"), &text(&format!("m{i}")));
        }
        let b = s.read_after(&ch("a"), 20, 100).unwrap();
        assert_eq!((b.messages.len(), b.last_id, b.missed), (0, 20, false));
        // A message removed by hand in the middle, below the `last` hint: the first look (one
        // lookup of the reader's own last message) does not see past it, a look after a wait
        // does.
        let gone = dir.path().join("a").join(format!("{:020}{SUFFIX}", 3));
        std::fs::remove_file(gone).unwrap();
        let b = s.read_after(&ch("a"), 2, 100).unwrap();
        assert_eq!((b.messages.len(), b.last_id), (0, 2));
        s.watch(&[ch("a")], Waiting::Stream).unwrap();
        let _ = s.wait(&[(&ch("a"), 2)], Duration::ZERO);
        let b = s.read_after(&ch("a"), 2, 100).unwrap();
        assert_eq!(
            b.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            (4..=20).collect::<Vec<_>>()
        );
        assert!(b.missed);
    }

    #[test]
    fn retention_by_count_reports_missed() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path(), 3, 3600);
        for i in 1..=10 {
            let _ = s.publish(&ch("a"), &text(&format!("m{i}")));
        }
        let b = s.read_after(&ch("a"), 2, 100).unwrap();
        assert!(b.missed);
        assert_eq!(
            b.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![8, 9, 10]
        );
        let b = s.read_after(&ch("a"), 7, 100).unwrap();
        assert!(!b.missed);
        assert_eq!(b.messages.len(), 3);
    }

    #[test]
    fn retention_by_age_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path(), 1000, 0);
        for i in 1..=3 {
            let _ = s.publish(&ch("a"), &text(&format!("m{i}")));
        }
        let b = s.read_after(&ch("a"), 0, 100).unwrap();
        assert_eq!(b.messages.iter().map(|m| m.id).collect::<Vec<_>>(), vec![3]);
        assert!(b.missed);
    }

    #[test]
    fn a_message_renamed_without_last_update_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path(), 1000, 3600);
        let _ = s.publish(&ch("a"), &text("one"));
        // As if a publisher died after its rename: message 2 exists, `last` still says 1.
        let d = s.channel_dir(&ch("a"));
        let _ = fs::copy(
            SpoolStore::message_path(&d, 1),
            SpoolStore::message_path(&d, 2),
        );
        assert_eq!(s.head(&ch("a")).ok().map(|h| h.0), Some(2));
        assert_eq!(
            s.publish(&ch("a"), &text("three")).ok().map(|p| p.id),
            Some(3)
        );
    }
}
