//! The spool's *pending room*: where streams waiting for a channel not made yet watch a
//! directory of its name, which the channel's first publish renames into place.
//!
//! Why: the kernel keeps a directory's inotify watches in one list, and adding a watch walks it
//! (so does closing any descriptor of that directory, for dnotify's sake), under one lock. A
//! crowd of N streams that each add their watch to a channel made while they wait does N²/2
//! steps at once; at 10,000 subscribers the first message took 9.5 s instead of 0.8 s
//! (docs/performance.md). Watching a directory of the channel's name here instead, each stream
//! pays its walk when it connects, as on a channel that exists, and when the first publish
//! renames that directory to the channel's name every watch on it follows.
//!
//! The room is `+pending` (`+` is in no channel's name), made sticky and open to every user
//! who can reach the spool, like the doorbells' rooms: a waiter may be another user than the
//! publisher. A publisher takes only a directory its own user made there (root included: root
//! takes only root's), so no other user's directory ever becomes a channel, and a directory's
//! owner is the only one who could swap it before the rename; otherwise the publisher makes the
//! channel's directory as before, and the waiters see it appear in the spool's watch. A room
//! root makes (in a spool that is root's alone) is root's only.
//!
//! What a request can make: one directory per channel name waited for (holding the channel's
//! epoch, a random one its first waiter writes), and no more than
//! [`MAX_PENDING`] in all, counted by the room's link count (a filesystem whose directories do
//! not count their subdirectories gets no pending room, and its waiters watch the spool as
//! before). Publishers sweep the ones nobody has started waiting in for the retention time.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rustix::fs::{self as rfs, AtFlags, CWD, Mode, OFlags, RenameFlags, Timestamps, UTIME_NOW};

use crate::name::Channel;

/// The room's name in the spool.
pub const PENDING_ROOM: &str = "+pending";

/// The most channels waited for in the room at once: past it, waiters watch the spool.
pub const MAX_PENDING: u64 = 4096;

/// The directory a stream waiting for `channel` watches, made when missing and marked as used
/// now (for the sweep); `None` when the room is full, cannot be counted or cannot be used: the
/// stream then waits as before, on the spool's watch alone.
pub fn prepare(root: &Path, channel: &Channel) -> Option<PathBuf> {
    let room = root.join(PENDING_ROOM);
    make_room(&room).ok()?;
    let meta = fs::symlink_metadata(&room).ok()?;
    // A directory's link count is 2 and one per subdirectory where the filesystem counts them.
    if !meta.is_dir() || meta.nlink() < 2 {
        return None;
    }
    let dir = room.join(channel.as_str());
    match fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return None,
        Err(_) if meta.nlink() - 2 >= MAX_PENDING => return None,
        Err(_) => match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if !fs::symlink_metadata(&dir).ok()?.is_dir() {
                    return None;
                }
            }
            Err(_) => return None,
        },
    }
    let now = Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_NOW,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_NOW,
        },
    };
    // Another user's directory keeps its time: the sweep may then take it while this stream
    // waits, which only sends it back to the spool's watch.
    let _ = rfs::utimensat(CWD, &dir, &now, AtFlags::SYMLINK_NOFOLLOW);
    // The channel's epoch, written by its first waiter (as `adopt` does when there is none):
    // every waiter reads it now, while it connects, and not when the first message wakes the
    // whole crowd at once. Only in a place of this user's, through the directory opened
    // without following a link (another user's place could be swapped for a link to anywhere);
    // `O_PATH`, because closing a directory's descriptor walks every watch on it.
    if let Ok(place) = rfs::open(
        &dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) && rfs::fstat(&place).is_ok_and(|st| st.st_uid == rustix::process::geteuid().as_raw())
    {
        let _ = write_epoch(&place, &crate::store::new_epoch());
    }
    Some(dir)
}

/// Makes the room, sticky and open to all (the spool's own mode keeps others out); root's
/// room is root's alone, since root takes no other user's waiting directory anyway.
fn make_room(room: &Path) -> io::Result<()> {
    let mode = if rustix::process::geteuid().is_root() {
        0o755
    } else {
        0o1777
    };
    super::super::bell::make_room_with(room, mode)
}

/// Makes the channel's directory in the spool `root` of the waiting place its waiters watch,
/// when one is there and this process's user made it; true when it did. The channel's `epoch`
/// is in the place first (its first waiter's, or written here: a new file, not one renamed in,
/// which the waiters' watches do not report), so nothing the channel's making does wakes its
/// waiters before its first message. The rename is made between the two directories opened,
/// the room without following a link, so no name in between can send it elsewhere, and it
/// never replaces a directory made meanwhile (`RENAME_NOREPLACE`).
pub fn adopt(root: &Path, channel: &Channel, epoch: &str) -> bool {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    // The spool's own path is the config's; what is in it is its user's.
    let Ok(spool) = rfs::open(root, flags, Mode::empty()) else {
        return false;
    };
    let Ok(room) = rfs::openat(
        &spool,
        PENDING_ROOM,
        flags | OFlags::NOFOLLOW,
        Mode::empty(),
    ) else {
        return false;
    };
    let name = channel.as_str();
    let Ok(place) = rfs::openat(&room, name, flags | OFlags::NOFOLLOW, Mode::empty()) else {
        return false;
    };
    let Ok(stat) = rfs::fstat(&place) else {
        return false;
    };
    if stat.st_uid != rustix::process::geteuid().as_raw() {
        return false;
    }
    // One its first waiter or a failed attempt wrote is kept: it was never any channel's, and
    // a damaged one is replaced by the first publish, as in a directory that has none.
    if !write_epoch(&place, epoch) {
        return false;
    }
    rfs::renameat_with(&room, name, &spool, name, RenameFlags::NOREPLACE).is_ok()
}

/// Writes `epoch` as the `epoch` file of the directory opened as `dir` unless it has one; false
/// when it has none and cannot be given one. A new file, not one renamed in, which the waiters'
/// watches do not report.
fn write_epoch(dir: impl rustix::fd::AsFd, epoch: &str) -> bool {
    match rfs::openat(
        dir,
        "epoch",
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    ) {
        Ok(file) => rustix::io::write(&file, epoch.as_bytes()).ok() == Some(epoch.len()),
        Err(rustix::io::Errno::EXIST) => true,
        Err(_) => false,
    }
}

/// Removes the waiting directories nobody started waiting in since `cutoff`, with their epoch.
/// A stream still waiting in one (for longer than the retention time) loses its watch there and
/// goes on with the spool's. A waiter that came meanwhile keeps the directory (it is not empty:
/// its epoch is new); a stream that read the old epoch looks at it again when the channel is
/// made (`wait::Landed::epoch_kept`).
pub fn sweep(root: &Path, cutoff: SystemTime) {
    let Ok(entries) = fs::read_dir(root.join(PENDING_ROOM)) else {
        return;
    };
    for entry in entries.flatten() {
        let idle = entry
            .metadata()
            .is_ok_and(|m| m.is_dir() && m.modified().is_ok_and(|t| t < cutoff));
        if idle {
            // Not through a link: `remove_file` removes the name itself.
            let _ = fs::remove_file(entry.path().join("epoch"));
            let _ = fs::remove_dir(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(name: &str) -> Channel {
        Channel::parse(name).unwrap()
    }

    #[test]
    fn a_waiting_directory_becomes_the_channel() {
        let spool = tempfile::tempdir().unwrap();
        let room = channel("room");
        let waiting = prepare(spool.path(), &room).unwrap();
        assert_eq!(
            prepare(spool.path(), &room).as_deref(),
            Some(waiting.as_path())
        );
        let mode = fs::metadata(spool.path().join(PENDING_ROOM))
            .unwrap()
            .mode();
        let expected = if rustix::process::geteuid().is_root() {
            0o755
        } else {
            0o1777
        };
        assert_eq!(mode & 0o7777, expected, "open to every waiter, but root's");
        let ino = fs::metadata(&waiting).unwrap().ino();
        let dir = spool.path().join("room");
        // The first waiter gave the channel its epoch, which the making keeps.
        let epoch = fs::read_to_string(waiting.join("epoch")).unwrap();
        assert!(crate::store::is_epoch(&epoch), "{epoch:?}");
        assert!(adopt(spool.path(), &room, "e1"));
        assert_eq!(fs::read_to_string(dir.join("epoch")).unwrap(), epoch);
        assert_eq!(fs::metadata(&dir).unwrap().ino(), ino);
        assert!(!waiting.exists());
        // Nothing left to take, and a directory made meanwhile is never replaced.
        assert!(!adopt(spool.path(), &room, "e2"));
        prepare(spool.path(), &room).unwrap();
        assert!(!adopt(spool.path(), &room, "e2"));
        assert_eq!(fs::metadata(&dir).unwrap().ino(), ino);
    }

    #[test]
    fn links_are_neither_made_nor_taken() {
        let spool = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        fs::create_dir(elsewhere.path().join("room")).unwrap();
        let room = spool.path().join(PENDING_ROOM);
        fs::create_dir(&room).unwrap();
        std::os::unix::fs::symlink(elsewhere.path().join("room"), room.join("room")).unwrap();
        assert_eq!(prepare(spool.path(), &channel("room")), None);
        assert!(!adopt(spool.path(), &channel("room"), "e1"));
        assert!(!spool.path().join("room").exists());
        // The room itself a link to a folder holding a directory of the channel's name: that
        // directory is never moved into the spool.
        let spool2 = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), spool2.path().join(PENDING_ROOM)).unwrap();
        assert_eq!(prepare(spool2.path(), &channel("room")), None);
        assert!(!adopt(spool2.path(), &channel("room"), "e1"));
        assert!(!spool2.path().join("room").exists());
        assert!(elsewhere.path().join("room").is_dir());
    }

    #[test]
    fn the_sweep_takes_idle_directories_only() {
        let spool = tempfile::tempdir().unwrap();
        let idle = prepare(spool.path(), &channel("idle")).unwrap();
        sweep(
            spool.path(),
            SystemTime::now() - std::time::Duration::from_secs(60),
        );
        assert!(idle.exists());
        sweep(
            spool.path(),
            SystemTime::now() + std::time::Duration::from_secs(60),
        );
        assert!(!idle.exists());
    }
}
