//! *Doorbells* wake the spool's waiting long-polls: each waiter makes a named pipe (FIFO) of
//! its own in the channel's waiting room and holds it open for reading; a publish opens every
//! doorbell in the room for writing and closes it again, writing nothing.
//!
//! Why not inotify, which streams use: closing an inotify instance that held watches waits for
//! a kernel grace period (measured at 3 to 13 ms through Apache), and Apache closes a CGI
//! response's connection only once the program is gone (mod_cgid sends SIGTERM and, if the
//! process is still there, looks again 10, 20, 40 ms later). A long-poll answers once and exits,
//! so its exit is part of every answer; a pipe end costs nothing to close.
//!
//! Why one doorbell per waiter rather than one per channel: when a pipe's reader closes while
//! other readers remain and no writer does, Linux wakes every other reader's `poll`. With one
//! shared pipe, each of N answering long-polls would wake the N others: N² wake-ups a message.
//!
//! How a ring is heard: Linux reports `POLLHUP` to a FIFO's reader once a writer has opened and
//! closed it since the reader opened it. A waiter makes its doorbell *before* it reads the store;
//! a publish that lands later rings it, one that landed earlier is seen by the read. The hang-up
//! stays until the reader opens the doorbell again, which [`Doorbells::wait`] does before it
//! returns, so again before the caller reads.
//!
//! A waiter removes its doorbell when it is done ([`Doorbells`]' `Drop`). One killed before that
//! leaves it behind: a publish that finds nobody listening (`ENXIO`) at a doorbell whose process
//! is gone removes it.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::{self as rfs, CWD, FileType, Mode, OFlags};
use rustix::io::Errno;

/// A channel's waiting room, in its directory: a dot name, which no message and no watcher uses.
pub const WAITING_ROOM: &str = ".waiting";

/// The spool's waiting room for channels not made yet, rung by the first publish into a channel
/// directory: `+` is not allowed in a channel name, so no channel can take this name.
pub const NEW_CHANNELS_ROOM: &str = "+waiting";

/// Makes the waiting room `room` when missing. Every user who can reach the spool may add a
/// doorbell, so that a waiter and a publisher running as different users (the web server's and
/// an operator's) still hear each other; the spool directory's own mode keeps others out.
pub fn make_room(room: &Path) -> io::Result<()> {
    make_room_with(room, 0o777)
}

/// Makes the directory `room` with exactly `mode` (the umask left out) when missing.
pub fn make_room_with(room: &Path, mode: u32) -> io::Result<()> {
    match rfs::mkdir(room, Mode::from_raw_mode(mode)) {
        // The process's umask narrowed the mode at creation. The mode is set through the
        // directory opened without following a symlink: a name swapped for a link between the
        // two calls must not get another file's mode changed.
        Ok(()) => {
            let dir = rfs::open(
                room,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            Ok(rfs::fchmod(&dir, Mode::from_raw_mode(mode))?)
        }
        Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Rings every doorbell in the waiting room `room`; a room not made yet has nobody waiting.
/// Returns how many doorbells rang.
pub fn ring_all(room: &Path) -> io::Result<usize> {
    let entries = match std::fs::read_dir(room) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut rang = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        match rfs::open(
            &path,
            OFlags::WRONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            // Closing it is the ring.
            Ok(fd) => {
                drop(fd);
                rang += 1;
            }
            Err(Errno::NXIO) if owner_is_gone(&entry.file_name()) => {
                let _ = std::fs::remove_file(&path);
            }
            // Nobody listening yet (a waiter between making its doorbell and opening it, which
            // reads the store after opening), or something that is not a doorbell.
            Err(_) => {}
        }
    }
    Ok(rang)
}

/// True when the doorbell named `name` (`PID.N`) belongs to a process that no longer exists.
fn owner_is_gone(name: &std::ffi::OsStr) -> bool {
    let pid = name
        .to_str()
        .and_then(|n| n.split('.').next())
        .and_then(|p| p.parse::<i32>().ok())
        .and_then(rustix::process::Pid::from_raw);
    pid.is_some_and(|pid| rustix::process::test_kill_process(pid) == Err(Errno::SRCH))
}

/// Opens the doorbell at `path` for listening; refuses anything but a FIFO in its place (a
/// regular file would read as always ready, a symlink could point anywhere).
fn listen(path: &Path) -> io::Result<OwnedFd> {
    let fd = rfs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    if FileType::from_raw_mode(rfs::fstat(&fd)?.st_mode) != FileType::Fifo {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a doorbell (a FIFO)", path.display()),
        ));
    }
    Ok(fd)
}

/// Numbers the doorbells of this process.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// The doorbells one waiter listens to, one per waiting room, each with a key the caller chose.
/// Dropping them removes them.
#[derive(Debug, Default)]
pub struct Doorbells<K> {
    bells: Vec<(K, PathBuf, OwnedFd)>,
}

impl<K: Clone> Doorbells<K> {
    /// No doorbell yet.
    pub fn new() -> Doorbells<K> {
        Doorbells { bells: Vec::new() }
    }

    /// Makes a doorbell in the waiting room `room` (made too when missing) and listens to it.
    pub fn add(&mut self, key: K, room: &Path) -> io::Result<()> {
        make_room(room)?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = room.join(format!("{}.{n}", std::process::id()));
        match rfs::mknodat(CWD, &path, FileType::Fifo, Mode::from_raw_mode(0o622), 0) {
            // A doorbell left by a process that had this id before: it is ours now.
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        let fd = match listen(&path) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
        // Publishers of another user write to it; set through the descriptor, which is the
        // FIFO `listen` checked, not whatever the name points to now.
        rfs::fchmod(&fd, Mode::from_raw_mode(0o622))?;
        self.bells.push((key, path, fd));
        Ok(())
    }

    /// Waits up to `timeout` for a ring; returns the keys of the doorbells that rang (empty at
    /// the timeout or when a signal interrupted the wait). The doorbells that rang are opened
    /// again before this returns, so a ring after it is heard by the next wait.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<Vec<K>> {
        let timeout = Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        let rang: Vec<usize> = {
            let mut fds: Vec<PollFd<'_>> = self
                .bells
                .iter()
                .map(|(_, _, fd)| PollFd::new(fd, PollFlags::IN))
                .collect();
            match poll(&mut fds, Some(&timeout)) {
                Ok(0) | Err(Errno::INTR) => return Ok(Vec::new()),
                Ok(_) => {}
                Err(e) => return Err(e.into()),
            }
            fds.iter()
                .enumerate()
                .filter(|(_, fd)| !fd.revents().is_empty())
                .map(|(i, _)| i)
                .collect()
        };
        let mut keys = Vec::with_capacity(rang.len());
        for i in rang {
            let (key, path, fd) = &mut self.bells[i];
            // Bytes someone wrote into a doorbell would keep it readable forever: drop them.
            let mut sink = [0u8; 512];
            while matches!(rustix::io::read(&*fd, &mut sink), Ok(n) if n > 0) {}
            *fd = listen(path)?;
            keys.push(key.clone());
        }
        Ok(keys)
    }
}

impl<K> Drop for Doorbells<K> {
    fn drop(&mut self) {
        for (_, path, _) in &self.bells {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
        r.unwrap()
    }

    fn names(room: &Path) -> Vec<String> {
        let mut names: Vec<String> = ok(std::fs::read_dir(room))
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_ring_wakes_every_waiter_of_the_room_once() {
        let dir = ok(tempfile::tempdir());
        let room = dir.path().join(WAITING_ROOM);
        let other = dir.path().join(NEW_CHANNELS_ROOM);
        let mut first = Doorbells::new();
        ok(first.add("a", &room));
        ok(first.add("new", &other));
        let mut second = Doorbells::new();
        ok(second.add("a", &room));
        assert!(ok(first.wait(Duration::from_millis(10))).is_empty());
        assert_eq!(ok(ring_all(&room)), 2);
        assert_eq!(ok(first.wait(Duration::from_secs(5))), vec!["a"]);
        assert_eq!(ok(second.wait(Duration::from_secs(5))), vec!["a"]);
        // Heard once: the doorbells were opened again.
        assert!(ok(first.wait(Duration::from_millis(10))).is_empty());
        assert_eq!(ok(ring_all(&other)), 1);
        assert_eq!(ok(first.wait(Duration::from_secs(5))), vec!["new"]);
        assert!(ok(second.wait(Duration::from_millis(10))).is_empty());
        drop(first);
        assert_eq!(names(&other), Vec::<String>::new(), "removed when done");
        assert_eq!(names(&room).len(), 1);
    }

    #[test]
    fn ringing_an_empty_or_missing_room_is_quiet_and_rooms_are_open_to_all() {
        let dir = ok(tempfile::tempdir());
        let room = dir.path().join(WAITING_ROOM);
        assert_eq!(ok(ring_all(&room)), 0);
        ok(make_room(&room));
        assert_eq!(ok(ring_all(&room)), 0);
        let mode = ok(std::fs::metadata(&room));
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o777
        );
    }

    #[test]
    fn doorbells_of_gone_processes_are_removed_and_others_left() {
        let dir = ok(tempfile::tempdir());
        let room = dir.path().join(WAITING_ROOM);
        ok(make_room(&room));
        // No process has id 0x7ffffff0 (above pid_max); this process is alive.
        for name in ["2147483632.0", &format!("{}.999", std::process::id())] {
            ok(rfs::mknodat(
                CWD,
                room.join(name),
                FileType::Fifo,
                Mode::from_raw_mode(0o600),
                0,
            ));
        }
        ok(std::fs::write(room.join("plain"), b"x"));
        ok(ring_all(&room));
        assert_eq!(
            names(&room),
            vec![format!("{}.999", std::process::id()), "plain".to_owned()]
        );
    }

    #[test]
    fn a_file_or_link_in_a_doorbells_place_is_refused_and_bytes_written_are_dropped() {
        let dir = ok(tempfile::tempdir());
        let file = dir.path().join("file");
        ok(std::fs::write(&file, b"x"));
        assert!(listen(&file).is_err());
        let room = dir.path().join(WAITING_ROOM);
        let mut bells = Doorbells::new();
        ok(bells.add((), &room));
        let bell = bells.bells[0].1.clone();
        let link = dir.path().join("link");
        ok(std::os::unix::fs::symlink(&bell, &link));
        assert!(listen(&link).is_err());

        let writer = ok(std::fs::OpenOptions::new().write(true).open(&bell));
        ok(std::io::Write::write_all(&mut &writer, b"noise"));
        assert_eq!(ok(bells.wait(Duration::from_secs(5))).len(), 1);
        assert!(ok(bells.wait(Duration::from_millis(10))).is_empty());
        drop(writer);
        ok(ring_all(&room));
        assert_eq!(ok(bells.wait(Duration::from_secs(5))).len(), 1);
    }
}
