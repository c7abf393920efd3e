//! A *bell* wakes a spool's subscribers: a named pipe (FIFO) that waiters hold open for reading
//! and that a publisher opens for writing and closes, writing nothing.
//!
//! Why not inotify, which the spool used before: closing an inotify instance that held watches
//! waits for a kernel grace period (0.2 to 10 ms, longer when many processes exit at once), so a
//! long-poll's process lingered after its answer, and Apache finishes a CGI response only once
//! the process is gone (mod_cgid sends SIGTERM and polls every 10, 20, 40 ms). Every subscriber
//! also took one of the user's inotify instances (`fs.inotify.max_user_instances`, 128 by
//! default). A pipe end costs nothing to close and counts against no such limit.
//!
//! How a ring is seen: Linux reports `POLLHUP` to a FIFO's reader once a writer has opened and
//! closed the FIFO since the reader opened it (the pipe counts writer opens, and each reader
//! remembers the count it opened at). So a waiter opens its bells *before* it reads the store;
//! a publish that lands later rings a bell it already holds, one that landed earlier is seen
//! by the read. The hang-up stays until the reader opens the bell again, which [`Listener::wait`]
//! does before it returns, again before the caller reads.
//!
//! A publisher's open fails with `ENXIO` when nobody holds the bell for reading: a ring with no
//! one waiting costs one failed `open`. Bells are never removed, since a waiter holding a removed
//! bell would sleep through the rings of its replacement; a bell is an inode with no data.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::{self as rfs, CWD, FileType, Mode, OFlags};
use rustix::io::Errno;

/// The bell of a channel, in its directory: a dot name, which no message and no watcher uses.
pub const CHANNEL_BELL: &str = ".bell";

/// The spool's bell for new channels, rung by the first publish into a channel directory: `+`
/// is not allowed in a channel name, so no channel directory can take this name.
pub const ROOT_BELL: &str = "+channels.bell";

/// Rings the bell at `path`: every waiter holding it wakes. Nobody waiting, or no bell made
/// yet, is not an error.
pub fn ring(path: &Path) -> io::Result<()> {
    match rfs::open(
        path,
        OFlags::WRONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        // Closing it is the ring.
        Ok(fd) => {
            drop(fd);
            Ok(())
        }
        Err(Errno::NXIO | Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Makes the bell at `path` when there is none. Bells are readable and writable by every user
/// who can reach the spool, so that a subscriber and a publisher running as different users
/// (the web server's and an operator's) still hear each other; the spool directory's own mode
/// is what keeps others out.
pub fn make(path: &Path) -> io::Result<()> {
    match rfs::mknodat(CWD, path, FileType::Fifo, Mode::from_raw_mode(0o666), 0) {
        Ok(()) => {
            // The process's umask narrowed the mode at creation.
            rfs::chmod(path, Mode::from_raw_mode(0o666))?;
            Ok(())
        }
        Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Opens the bell at `path` for listening; refuses anything but a FIFO in its place (a regular
/// file would read as always ready, a symlink could point anywhere).
fn listen(path: &Path) -> io::Result<OwnedFd> {
    let fd = rfs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    if FileType::from_raw_mode(rfs::fstat(&fd)?.st_mode) != FileType::Fifo {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a bell (a FIFO)", path.display()),
        ));
    }
    Ok(fd)
}

/// The bells one subscriber listens to, each with a key the caller chose.
#[derive(Debug, Default)]
pub struct Listener<K> {
    bells: Vec<(K, PathBuf, OwnedFd)>,
}

impl<K: Clone> Listener<K> {
    /// Listens to no bell yet.
    pub fn new() -> Listener<K> {
        Listener { bells: Vec::new() }
    }

    /// Listens to the bell at `path` too, making it when missing.
    pub fn add(&mut self, key: K, path: &Path) -> io::Result<()> {
        make(path)?;
        let fd = listen(path)?;
        self.bells.push((key, path.to_owned(), fd));
        Ok(())
    }

    /// Waits up to `timeout` for a ring; returns the keys of the bells that rang (empty at the
    /// timeout or when a signal interrupted the wait). The bells that rang are opened again
    /// before this returns, so a ring after it is heard by the next wait.
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
            // Bytes someone wrote into a bell would keep it readable forever: drop them.
            let mut sink = [0u8; 512];
            while matches!(rustix::io::read(&*fd, &mut sink), Ok(n) if n > 0) {}
            *fd = listen(path)?;
            keys.push(key.clone());
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_ring_wakes_every_listener_once() {
        let dir = ok(tempfile::tempdir());
        let bell = dir.path().join(CHANNEL_BELL);
        let other = dir.path().join(ROOT_BELL);
        let mut first = Listener::new();
        ok(first.add("a", &bell));
        ok(first.add("root", &other));
        let mut second = Listener::new();
        ok(second.add("a", &bell));
        assert!(ok(first.wait(Duration::from_millis(10))).is_empty());
        ok(ring(&bell));
        assert_eq!(ok(first.wait(Duration::from_secs(5))), vec!["a"]);
        assert_eq!(ok(second.wait(Duration::from_secs(5))), vec!["a"]);
        // Heard once: the bells were opened again.
        assert!(ok(first.wait(Duration::from_millis(10))).is_empty());
        ok(ring(&other));
        assert_eq!(ok(first.wait(Duration::from_secs(5))), vec!["root"]);
        assert!(ok(second.wait(Duration::from_millis(10))).is_empty());
    }

    #[test]
    fn ringing_with_nobody_listening_or_no_bell_is_quiet() {
        let dir = ok(tempfile::tempdir());
        let bell = dir.path().join(CHANNEL_BELL);
        ok(ring(&bell));
        ok(make(&bell));
        ok(ring(&bell));
        let mode = ok(std::fs::metadata(&bell));
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o666
        );
    }

    #[test]
    fn a_file_or_link_in_a_bells_place_is_refused_and_bytes_written_are_dropped() {
        let dir = ok(tempfile::tempdir());
        let file = dir.path().join("file");
        ok(std::fs::write(&file, b"x"));
        assert!(Listener::new().add((), &file).is_err());
        let link = dir.path().join("link");
        let bell = dir.path().join(CHANNEL_BELL);
        ok(make(&bell));
        ok(std::os::unix::fs::symlink(&bell, &link));
        assert!(Listener::new().add((), &link).is_err());
        assert!(ring(&link).is_err());

        let mut listener = Listener::new();
        ok(listener.add((), &bell));
        let writer = ok(std::fs::OpenOptions::new().write(true).open(&bell));
        ok(std::io::Write::write_all(&mut &writer, b"noise"));
        assert_eq!(ok(listener.wait(Duration::from_secs(5))).len(), 1);
        assert!(ok(listener.wait(Duration::from_millis(10))).is_empty());
        drop(writer);
        ok(ring(&bell));
        assert_eq!(ok(listener.wait(Duration::from_secs(5))).len(), 1);
    }
}
