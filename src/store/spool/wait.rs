//! How a subscriber of the spool store sleeps until a publish: its [`Subscription`].
//!
//! Streams wait on an inotify watch of their channels' directories that wakes only for a file
//! renamed into place (a message, and now and then a hint), not for the lock's close or the
//! temporary files; the names of the messages that woke them tell the next read where to stop.
//! A long-poll waits on [doorbells](crate::store::bell) instead, which a publish rings once its
//! message is in place: closing an inotify instance at exit would hold the answer's connection
//! open for milliseconds. Where a doorbell cannot be made (a channel directory another user made
//! without a waiting room), a long-poll watches as streams do. Channels not made yet are waited
//! for in the spool itself: its `+waiting` room, or a watch of the spool for new directories.
//!
//! A channel directory removed while its subscribers wait (an operator clearing the channel):
//! a stream's watch ends with it, and the stream waits for the directory to be made again and
//! reads at once. A long-poll's doorbell goes with the directory, so it answers at its timeout
//! (25 s by default) and the client's next poll finds the new channel and its `missed`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::super::bell::{Doorbells, NEW_CHANNELS_ROOM, WAITING_ROOM};
use super::super::{StoreError, Waiting};
use super::{SpoolStore, message_id};
use crate::name::Channel;
use crate::watch::{DirWatch, LeaveOpen};

/// What a subscriber waits on.
#[derive(Debug)]
enum Waiter {
    /// Its doorbells in the channels' waiting rooms; `None` keys the one in the spool's room
    /// for channels not made yet.
    Doorbells(Doorbells<Option<Channel>>),
    /// An inotify watch of the channels' directories, and of the spool for channels not made
    /// yet.
    Inotify(DirWatch),
}

/// The channels one subscriber watches and how it waits for them.
#[derive(Debug)]
pub(super) struct Subscription {
    waiter: Option<Waiter>,
    /// How the subscriber waits.
    waiting: Waiting,
    /// The channels [`Subscription::watch`] was given.
    watched: Vec<Channel>,
    /// Channels being waited on whose directory does not exist yet: the spool is watched for
    /// them, since subscribers never create a channel.
    pending: Vec<Channel>,
    /// The channel and id of the newest message the last wait saw land, for a stream of one
    /// channel.
    landed: Option<(Channel, u64)>,
    /// True once [`Subscription::wait`] has been called since the last watch.
    waited: bool,
}

impl Default for Subscription {
    fn default() -> Subscription {
        Subscription {
            waiter: None,
            waiting: Waiting::Stream,
            watched: Vec::new(),
            pending: Vec::new(),
            landed: None,
            waited: false,
        }
    }
}

impl Subscription {
    /// Starts watching `channels` of the spool `root`.
    pub(super) fn watch(
        &mut self,
        root: &Path,
        channels: &[Channel],
        waiting: Waiting,
    ) -> Result<(), StoreError> {
        self.waiting = waiting;
        self.watched = channels.to_vec();
        self.landed = None;
        self.waited = false;
        self.pending.clear();
        for channel in channels {
            match SpoolStore::checked(&root.join(channel)) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.pending.push(channel.clone());
                }
                Err(e) => return Err(e.into()),
            }
        }
        if !self.pending.is_empty() {
            // The spool must be there: a missing spool is a broken setup, not an empty channel.
            SpoolStore::checked(root)
                .map_err(|e| StoreError::Failed(format!("spool_dir {}: {e}", root.display())))?;
        }
        self.waiter = Some(self.waiter(root)?);
        Ok(())
    }

    /// How to wait for the watched channels: a stream watches their directories (and the spool
    /// for channels not made yet); a long-poll rings doorbells in their waiting rooms (and the
    /// spool's), or watches where it may not make one.
    fn waiter(&self, root: &Path) -> Result<Waiter, StoreError> {
        let dirs: Vec<(&Channel, PathBuf)> = self
            .watched
            .iter()
            .filter(|c| !self.pending.contains(c))
            .map(|c| (c, root.join(c)))
            .collect();
        if self.waiting == Waiting::Once {
            let mut bells = Doorbells::new();
            let mut made = dirs
                .iter()
                .try_for_each(|(c, dir)| bells.add(Some((*c).clone()), &dir.join(WAITING_ROOM)));
            if made.is_ok() && !self.pending.is_empty() {
                made = bells.add(None, &root.join(NEW_CHANNELS_ROOM));
            }
            if made.is_ok() {
                return Ok(Waiter::Doorbells(bells));
            }
        }
        let mut watch = DirWatch::new(dirs.iter().map(|(_, d)| d.as_path()))?;
        if !self.pending.is_empty() {
            watch.add_spool(root)?;
        }
        Ok(Waiter::Inotify(watch))
    }

    /// Sleeps until a publish may have added to a watched channel, or `timeout`; true when
    /// woken by one.
    pub(super) fn wait(&mut self, root: &Path, timeout: Duration) -> Result<bool, StoreError> {
        if self.waiter.is_none() {
            return Err(StoreError::Failed("wait before watch".into()));
        }
        self.waited = true;
        // A channel created since the last look: wait on it, and have the caller read, since
        // its first message may have landed before.
        let (appeared, pending): (Vec<Channel>, Vec<Channel>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|channel| SpoolStore::checked(&root.join(channel)).is_ok());
        self.pending = pending;
        if !appeared.is_empty() {
            match self.waiter.as_mut() {
                Some(Waiter::Inotify(watch)) => {
                    for channel in &appeared {
                        watch.add(&root.join(channel))?;
                    }
                }
                _ => self.waiter = Some(self.waiter(root)?),
            }
            return Ok(true);
        }
        let pending = &self.pending;
        let newest = std::cell::Cell::new(None::<u64>);
        let woke = match self.waiter.as_mut() {
            Some(Waiter::Doorbells(bells)) => !bells.wait(timeout)?.is_empty(),
            Some(Waiter::Inotify(watch)) => {
                // Only a message renamed into place, a new epoch, or an awaited channel
                // appearing is news: the hints' renames and temporary files (dot names) would
                // wake the caller for nothing.
                let woke = watch.wait_for(timeout, |name| {
                    if let Some(id) = message_id(name) {
                        newest.set(newest.get().max(Some(id)));
                        return true;
                    }
                    !name.starts_with(b".")
                        && (name == b"epoch"
                            || pending.iter().any(|c| c.as_str().as_bytes() == name))
                })?;
                // A channel directory removed (an operator clearing the channel): wait for it
                // to be made again, as for a channel not made yet, and have the caller read
                // now, which tells it what it missed.
                let lost = watch.take_lost();
                if !lost.is_empty() {
                    for dir in &lost {
                        if let Some(channel) = self.watched.iter().find(|c| root.join(c) == *dir)
                            && !self.pending.contains(channel)
                        {
                            self.pending.push(channel.clone());
                        }
                    }
                    watch.add_spool(root)?;
                    self.landed = None;
                    return Ok(true);
                }
                woke
            }
            None => return Err(StoreError::Failed("wait before watch".into())),
        };
        // With one channel watched, every message file named is that channel's.
        self.landed = match (&self.watched[..], newest.get()) {
            ([channel], Some(id)) if self.pending.is_empty() => Some((channel.clone(), id)),
            _ => None,
        };
        Ok(woke)
    }

    /// The id of the newest message of `channel` past `after` that the last wait saw land, taken
    /// once: the first read after a wake may stop there.
    pub(super) fn take_landed(&mut self, channel: &Channel, after: u64) -> Option<u64> {
        self.landed
            .take()
            .filter(|(c, id)| c == channel && *id > after)
            .map(|(_, id)| id)
    }

    /// True once a wait was made since the last watch.
    pub(super) fn has_waited(&self) -> bool {
        self.waited
    }

    /// Leaves an inotify instance open at exit (see [`LeaveOpen`]).
    pub(super) fn leave_open(&mut self) {
        if let Some(Waiter::Inotify(watch)) = self.waiter.take() {
            watch.leave_open();
        }
    }
}
