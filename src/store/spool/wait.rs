//! How a subscriber of the spool store sleeps until a publish: its [`Subscription`].
//!
//! Streams wait on an inotify watch of their channels' directories that wakes only for a file
//! renamed into place (a message, and now and then a hint), not for the lock's close or the
//! temporary files; the names of the messages that woke them tell the next read where to stop.
//! A long-poll waits on [doorbells](crate::store::bell) instead, which a publish rings once its
//! message is in place: closing an inotify instance at exit would hold the answer's connection
//! open for milliseconds. Where a doorbell cannot be made (a channel directory another user made
//! without a waiting room), a long-poll watches as streams do. Channels not made yet are waited
//! for in the spool itself: its `+waiting` room, or a watch of the spool for new directories
//! and, for a stream, a watch of the channel's directory in the [pending room](super::pending),
//! which the first publish renames into place so that the stream's watch is there already.
//!
//! A channel directory removed while its subscribers wait (an operator clearing the channel):
//! a stream's watch ends with it, and the stream waits for the directory to be made again and
//! reads at once. A long-poll's doorbell goes with the directory, so it answers at its timeout
//! (25 s by default) and the client's next poll finds the new channel and its `missed`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::super::bell::{Doorbells, NEW_CHANNELS_ROOM, WAITING_ROOM};
use super::super::{StoreError, Waiting};
use super::{SpoolStore, message_id, pending};
use crate::name::Channel;
use crate::watch::{DirWatch, LeaveOpen, inode_of};

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

/// Takes the directories whose watch ended off `watch`: a watched channel's is awaited again
/// as a channel not made yet (added to `pending`), and then, as for a waiting place's, the
/// spool's watch reports every directory made or renamed into it. Returns whether a channel's
/// watch ended, and whether any did.
fn absorb_lost(
    watch: &mut DirWatch,
    watched: &[Channel],
    pending: &mut Vec<Channel>,
    root: &Path,
) -> Result<(bool, bool), StoreError> {
    let lost = watch.take_lost();
    let mut channel_lost = false;
    for dir in &lost {
        if let Some(channel) = watched.iter().find(|c| root.join(c) == *dir) {
            channel_lost = true;
            if !pending.contains(channel) {
                pending.push(channel.clone());
            }
        }
    }
    if !lost.is_empty() {
        watch.add_spool(root, false)?;
    }
    Ok((channel_lost, !lost.is_empty()))
}

/// The newest message a wait saw renamed into the one watched channel's directory.
#[derive(Debug)]
struct Landed {
    channel: Channel,
    id: u64,
    /// True when nothing named `epoch` landed in that wait, and the wait did not find the
    /// channel made of its waiting place. A channel's epoch changes only by a rename into its
    /// directory (the first publish into an emptied one), which the watch reports, or with a
    /// new directory, whose watch is new too (and whose first wake-up is no landing) or which
    /// was a waiting place (whose epoch is looked at on its first landing): so, when the wake's
    /// read took every queued event, an epoch read since the watch began still holds.
    epoch_kept: bool,
}

/// What a stream woken by a landing knows without looking: the directory holds the message,
/// and perhaps the epoch is the one read last.
#[derive(Clone, Copy, Debug)]
pub(super) struct Landing {
    /// The newest message's id.
    pub(super) id: u64,
    /// See [`Landed::epoch_kept`].
    pub(super) epoch_kept: bool,
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
    /// The newest message the last wait saw land, for a stream of one channel.
    landed: Option<Landed>,
    /// True once [`Subscription::wait`] has been called since the last watch.
    waited: bool,
    /// The waiting place of the one channel watched, when it is not made yet and has one.
    place: Option<(Channel, PathBuf)>,
    /// True once a waiting place was found made into its channel, until the next wake-up's
    /// landing: that landing does not vouch for the epoch read while waiting.
    adopted: bool,
    /// True when the last wait timed out: the next looks for watched directories moved away.
    quiet: bool,
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
            place: None,
            adopted: false,
            quiet: false,
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
        self.adopted = false;
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
        let (waiter, mut places) = self.waiter(root)?;
        self.waiter = Some(waiter);
        self.place = match (self.watched.len(), places.len()) {
            (1, 1) => places.pop(),
            _ => None,
        };
        Ok(())
    }

    /// How to wait for the watched channels: a stream watches their directories (and the spool
    /// for channels not made yet); a long-poll rings doorbells in their waiting rooms (and the
    /// spool's), or watches where it may not make one.
    fn waiter(&self, root: &Path) -> Result<(Waiter, Vec<(Channel, PathBuf)>), StoreError> {
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
                return Ok((Waiter::Doorbells(bells), Vec::new()));
            }
        }
        let mut watch = DirWatch::new(dirs.iter().map(|(_, d)| d.as_path()))?;
        let mut places = Vec::new();
        if !self.pending.is_empty() {
            // A stream watches a waiting place of each channel it awaits, where one can be
            // made: the channel is made of it, and then only channels made in the spool (by a
            // publisher who could not take the place) are news in the spool's watch.
            let mut placed = self.waiting == Waiting::Stream;
            if placed {
                for channel in &self.pending {
                    // Not watched (gone: the channel may have been made of it, which the next
                    // wait's look sees): the spool's watch reports every channel made.
                    match pending::prepare(root, channel) {
                        Some(place) if watch.add_becoming(&place, &root.join(channel)) => {
                            places.push((channel.clone(), place));
                        }
                        _ => placed = false,
                    }
                }
            }
            watch.add_spool(root, placed)?;
        }
        Ok((Waiter::Inotify(watch), places))
    }

    /// The waiting place watched, for a stream of one channel not made yet that watches one,
    /// taken once.
    pub(super) fn take_place(&mut self) -> Option<(Channel, PathBuf)> {
        self.place.take()
    }

    /// Takes the awaited channels whose directory exists now off `pending`: a channel made of
    /// the waiting place this stream watches is watched already; another is watched now, and is
    /// news, since its first message may have landed before the watch. True when there is news.
    fn settle_appeared(&mut self, root: &Path) -> Result<bool, StoreError> {
        // One look per channel tells both whether it is a directory now and, by its inode,
        // whether it is the waiting place this stream watches.
        let (appeared, pending): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .map(|channel| {
                let inode = inode_of(&root.join(&channel));
                (channel, inode)
            })
            .partition(|(_, inode)| inode.is_some());
        self.pending = pending.into_iter().map(|(channel, _)| channel).collect();
        if appeared.is_empty() {
            return Ok(false);
        }
        let mut news = false;
        match self.waiter.as_mut() {
            Some(Waiter::Inotify(watch)) => {
                for (channel, inode) in &appeared {
                    let dir = root.join(channel);
                    if watch.adopt(&dir, *inode) {
                        self.adopted = true;
                    } else {
                        watch.add(&dir)?;
                        news = true;
                    }
                }
            }
            _ => {
                self.waiter = Some(self.waiter(root)?.0);
                news = true;
            }
        }
        Ok(news)
    }

    /// Sleeps until a publish may have added to a watched channel, or `timeout`; true when
    /// woken by one.
    pub(super) fn wait(&mut self, root: &Path, timeout: Duration) -> Result<bool, StoreError> {
        if self.waiter.is_none() {
            return Err(StoreError::Failed("wait before watch".into()));
        }
        self.waited = true;
        // Once in a while (after a quiet wait, a heartbeat's time): a channel directory made of
        // a waiting place does not report being moved away, so look.
        if std::mem::take(&mut self.quiet)
            && let Some(Waiter::Inotify(watch)) = self.waiter.as_mut()
        {
            watch.check_moved();
            if absorb_lost(watch, &self.watched, &mut self.pending, root)?.0 {
                self.landed = None;
                return Ok(true);
            }
        }
        let deadline = std::time::Instant::now() + timeout;
        loop {
            // A channel created since the last look: wait on it, and have the caller read when
            // its first message may have landed before.
            if self.settle_appeared(root)? {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let newest = std::cell::Cell::new(None::<u64>);
            let news = std::cell::Cell::new(false);
            let epoch_named = std::cell::Cell::new(false);
            let whole;
            let pending = &self.pending;
            let woke = match self.waiter.as_mut() {
                Some(Waiter::Doorbells(bells)) => return Ok(!bells.wait(left)?.is_empty()),
                Some(Waiter::Inotify(watch)) => {
                    // Only a message renamed into place, a new epoch, or an awaited channel
                    // appearing is news: the hints' renames and temporary files (dot names)
                    // would wake the caller for nothing.
                    let woke = watch.wait_for(left, |dir, name| {
                        if let Some(id) = message_id(name) {
                            newest.set(newest.get().max(Some(id)));
                        } else if name == b"epoch" {
                            epoch_named.set(true);
                        } else if dir.is_some()
                            || !pending.iter().any(|c| c.as_str().as_bytes() == name)
                        {
                            return false;
                        }
                        news.set(true);
                        true
                    })?;
                    // A channel directory removed (an operator clearing the channel): wait for
                    // it to be made again, as for a channel not made yet, and have the caller
                    // read now, which tells it what it missed. A waiting place removed (swept):
                    // the spool's watch must report renames again, and that is no news.
                    let (channel_lost, any_lost) =
                        absorb_lost(watch, &self.watched, &mut self.pending, root)?;
                    if channel_lost {
                        self.landed = None;
                        return Ok(true);
                    }
                    if woke && any_lost && !news.get() {
                        continue;
                    }
                    whole = watch.took_everything();
                    woke
                }
                None => return Err(StoreError::Failed("wait before watch".into())),
            };
            if !woke {
                self.quiet = true;
                return Ok(false);
            }
            // The channel a message landed in may be one made of its waiting place.
            self.settle_appeared(root)?;
            // Then the epoch read while waiting is looked at again: the place read by its name
            // may have been another than the one watched (made again after the making, or
            // after a sweep).
            let adopted = std::mem::take(&mut self.adopted);
            // With one channel watched, every message file named is that channel's. A wake
            // whose read may not have taken every queued event (an overflow, a full buffer: a
            // stream far behind) tells nothing of what came after: the read looks as before.
            self.landed = match (&self.watched[..], newest.get()) {
                ([channel], Some(id)) if self.pending.is_empty() && whole => Some(Landed {
                    channel: channel.clone(),
                    id,
                    epoch_kept: !epoch_named.get() && !adopted,
                }),
                _ => None,
            };
            return Ok(true);
        }
    }

    /// The newest message of `channel` past `after` that the last wait saw land, taken once:
    /// the first read after a wake may stop there.
    pub(super) fn take_landed(&mut self, channel: &Channel, after: u64) -> Option<Landing> {
        self.landed
            .take()
            .filter(|l| l.channel == *channel && l.id > after)
            .map(|l| Landing {
                id: l.id,
                epoch_kept: l.epoch_kept,
            })
    }

    /// True once a wait was made since the last watch.
    pub(super) fn has_waited(&self) -> bool {
        self.waited
    }

    /// Forgets the last wait's landing: a read after it looks at the directory and the epoch.
    pub(super) fn forget_wake(&mut self) {
        self.landed = None;
    }

    /// What becomes readable when a wait would wake: the inotify instance of a stream's watch.
    pub(super) fn wake_fd(&self) -> Option<rustix::fd::BorrowedFd<'_>> {
        match &self.waiter {
            Some(Waiter::Inotify(watch)) => watch.descriptor(),
            _ => None,
        }
    }

    /// Leaves an inotify instance open at exit (see [`LeaveOpen`]).
    pub(super) fn leave_open(&mut self) {
        if let Some(Waiter::Inotify(watch)) = self.waiter.take() {
            watch.leave_open();
        }
    }
}
