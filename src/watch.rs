//! A *watch* is a set of inotify watches on directories, so a program sleeps until a file it
//! cares about is written or renamed into place and uses no CPU in between.
//!
//! Directories, not files, are watched: cameras and publishers replace a file by renaming a new
//! one over it, which a watch on the old file's inode would never report. A [`FileWatch`] cares
//! about one file name in its directory; a [`DirWatch`] about any file in several directories.

use std::ffi::OsString;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

/// How often a watch looks when the kernel refused it an inotify instance.
pub const FALLBACK_POLL: Duration = Duration::from_millis(200);

/// True for the errors that mean the kernel's inotify limits are reached.
fn exhausted(e: rustix::io::Errno) -> bool {
    matches!(
        e,
        rustix::io::Errno::MFILE | rustix::io::Errno::NFILE | rustix::io::Errno::NOSPC
    )
}

/// Makes an inotify instance, or `None` when the per-user limit of instances or watches is
/// reached (`fs.inotify.max_user_instances` is 128 by default, and every viewer is a process of
/// the same user): the caller then looks every [`FALLBACK_POLL`] instead of failing.
fn instance(dirs: &[&Path], flags: WatchFlags) -> io::Result<Option<OwnedFd>> {
    let fd = match inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK) {
        Ok(fd) => fd,
        Err(e) if exhausted(e) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    for dir in dirs {
        match inotify::add_watch(&fd, *dir, flags) {
            Ok(_) => {}
            Err(e) if exhausted(e) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(fd))
}

/// Without inotify: sleep a little and report a possible change.
fn fallback_wait(timeout: Duration) -> bool {
    std::thread::sleep(timeout.min(FALLBACK_POLL));
    true
}

/// Watches one file for closes after writing and renames onto it.
#[derive(Debug)]
pub struct FileWatch {
    fd: Option<OwnedFd>,
    name: OsString,
    buf: Vec<MaybeUninit<u8>>,
}

impl FileWatch {
    /// Watches `path`'s directory for events about `path`.
    pub fn new(path: &Path) -> io::Result<FileWatch> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?
            .to_owned();
        // A file is news when it is complete: closed after writing, or renamed into place. Each
        // write of a frame being written, and the creation of a temporary file, would wake every
        // viewer for nothing (50 viewers of a 30 frames/s camera: thousands of wake-ups a second).
        let fd = instance(&[dir], WatchFlags::CLOSE_WRITE | WatchFlags::MOVED_TO)?;
        Ok(FileWatch {
            fd,
            name,
            buf: vec![MaybeUninit::uninit(); 8192],
        })
    }

    /// Waits up to `timeout` for the file to change; true when it did.
    ///
    /// Every queued event is consumed, so a burst of writes wakes the caller once.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<bool> {
        use std::os::unix::ffi::OsStrExt;
        let name = self.name.as_bytes();
        let mut whole = false;
        wait_for_event(
            self.fd.as_ref(),
            &mut self.buf,
            timeout,
            |event| event.file_name().map(|n| n.to_bytes()) == Some(name),
            &mut whole,
        )
    }
}

/// Waits up to `timeout` for an event `wanted` accepts (without inotify: a short sleep that
/// reports a possible change); consumes every queued event. `whole` is set to whether the read
/// that woke the caller took everything the kernel had queued (see [`drain`]).
fn wait_for_event(
    fd: Option<&OwnedFd>,
    buf: &mut [MaybeUninit<u8>],
    timeout: Duration,
    mut wanted: impl FnMut(&inotify::Event<'_>) -> bool,
    whole: &mut bool,
) -> io::Result<bool> {
    *whole = false;
    let Some(fd) = fd else {
        return Ok(fallback_wait(timeout));
    };
    // Events nobody waits for (a lock file closed, a temporary file created) are consumed and
    // the wait goes on, so a waiter wakes once per thing it cares about.
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        // A wait of no time still takes what is queued (an event loop's look, the hub's), so
        // that a readable instance does not stay readable.
        if !poll_readable(fd, left)? {
            return Ok(false);
        }
        let (hit, all) = drain(fd, buf, &mut wanted)?;
        if hit {
            *whole = all;
            return Ok(true);
        }
        if left.is_zero() {
            return Ok(false);
        }
    }
}

/// The most bytes one inotify record takes: its header, a name of `NAME_MAX` bytes, its NUL and
/// the kernel's padding.
const MAX_EVENT_BYTES: usize = 16 + 256 + 16;

/// Waits on `fd` up to `timeout`; false on timeout.
fn poll_readable(fd: &OwnedFd, timeout: Duration) -> io::Result<bool> {
    let timeout = Timespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    match poll(&mut fds, Some(&timeout)) {
        Ok(0) | Err(rustix::io::Errno::INTR) => Ok(false),
        Ok(_) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// Reads the queued events, one read's worth; true if one was `wanted` (or the queue
/// overflowed, which may have hidden one). Events beyond what one read returns stay queued and
/// make the next wait return at once, so the read that would only find the queue empty is
/// spared: a subscriber makes one `read` per wake-up. The second value tells whether that read
/// took everything queued then: no overflow, and so few records that the buffer had room for
/// one more of any size (the kernel fills it while the next record fits).
fn drain(
    fd: &OwnedFd,
    buf: &mut [MaybeUninit<u8>],
    wanted: &mut impl FnMut(&inotify::Event<'_>) -> bool,
) -> io::Result<(bool, bool)> {
    let room = buf.len();
    let mut hit = false;
    let mut records = 0usize;
    let mut overflowed = false;
    let mut reader = inotify::Reader::new(fd, buf);
    let whole = |records: usize, overflowed: bool| {
        !overflowed && (records + 1).saturating_mul(MAX_EVENT_BYTES) <= room
    };
    loop {
        match reader.next() {
            Ok(event) => {
                records += 1;
                let overflow = event.events().contains(inotify::ReadFlags::QUEUE_OVERFLOW);
                overflowed |= overflow;
                // Every event is offered, even past a hit: a caller may keep what it says.
                let offered = wanted(&event);
                hit |= overflow || offered;
            }
            Err(rustix::io::Errno::AGAIN) => return Ok((hit, whole(records, overflowed))),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
        if reader.is_buffer_empty() {
            return Ok((hit, whole(records, overflowed)));
        }
    }
}

/// Closing an inotify instance waits for a kernel grace period, about 10 ms: a program that
/// has answered should not make its client wait for that. `leave_open` hands the instance to
/// the process exit, which comes after the envelope (`program::run_process`) has closed stdout.
pub trait LeaveOpen: Sized {
    /// Keeps the watch open until the process exits.
    fn leave_open(self) {
        std::mem::forget(self);
    }
}

impl LeaveOpen for FileWatch {}
impl LeaveOpen for DirWatch {}

/// Watches directories for files renamed into them (how the spool store adds messages).
///
/// A watched directory can go: an operator clears a channel with `rm -rf`, and the next publish
/// makes a new directory that the old watch knows nothing of. The kernel then ends the watch
/// (`IN_IGNORED`; a directory moved away reports `IN_MOVE_SELF` first), and the directory is
/// kept in [`DirWatch::take_lost`] for the caller to watch again once it is back.
///
/// A watched directory can also come: one watched in a waiting place ([`DirWatch::add_becoming`])
/// and renamed to the name it was waiting for stays watched under that name, without a new
/// watch. That is how a crowd waits for a channel not made yet at no cost when it is made: a
/// watch added to a directory costs the kernel a walk of every other watch on it (and so does
/// closing a descriptor of it), so ten thousand subscribers each adding theirs at once would
/// take seconds of both cores. Such a watch reports files renamed into the directory only, not
/// its own move, so that the rename that makes the channel wakes nobody: the crowd's first
/// wake-up is the first message.
#[derive(Debug)]
pub struct DirWatch {
    fd: Option<OwnedFd>,
    buf: Vec<MaybeUninit<u8>>,
    /// The watched directories.
    dirs: Vec<Watched>,
    /// Directories whose watch ended since the last [`DirWatch::take_lost`].
    lost: Vec<PathBuf>,
    /// See [`DirWatch::took_everything`].
    whole: bool,
}

/// One watched directory.
#[derive(Debug)]
struct Watched {
    wd: i32,
    /// Where it is.
    path: PathBuf,
    /// Its device and inode when the watch was added: what tells the directory once moved to
    /// the name it waited for.
    inode: Option<(u64, u64)>,
    /// The name it may be renamed to and stay watched under.
    becomes: Option<PathBuf>,
    /// True once it was: its watch does not report its own moves.
    adopted: bool,
}

/// A directory's device and inode, not through a symlink.
pub fn inode_of(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .filter(|m| m.is_dir())
        .map(|m| (m.dev(), m.ino()))
}

impl DirWatch {
    /// What a channel directory's watch reports: files renamed into it, and the directory
    /// itself moved away. Messages arrive only by rename, and leaving out writes and creations
    /// spares a wake-up per publish for the lock file's close and the temporary file.
    const CHANNEL: WatchFlags = WatchFlags::MOVED_TO.union(WatchFlags::MOVE_SELF);

    /// What the spool's watch reports: channel directories made or renamed into it.
    const SPOOL: WatchFlags = WatchFlags::MOVED_TO.union(WatchFlags::CREATE);

    /// What the spool's watch reports while every channel awaited has a waiting place: only
    /// channel directories made there, since the ones renamed into it are the waiting places
    /// (whose messages will wake the stream).
    const SPOOL_MADE: WatchFlags = WatchFlags::CREATE;

    /// What a waiting place's watch reports: files renamed into it (once it is the channel's),
    /// never through a link. Not its own move, which makes it the channel: a directory moved
    /// away later is found by [`DirWatch::check_moved`].
    const BECOMING: WatchFlags = WatchFlags::MOVED_TO
        .union(WatchFlags::DONT_FOLLOW)
        .union(WatchFlags::ONLYDIR);

    /// A watch on each of the channel directories `dirs`.
    pub fn new<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> io::Result<DirWatch> {
        let mut watch = DirWatch {
            fd: instance(&[], Self::CHANNEL)?,
            buf: vec![MaybeUninit::uninit(); 8192],
            dirs: Vec::new(),
            lost: Vec::new(),
            whole: false,
        };
        for dir in dirs {
            watch.add(dir)?;
        }
        Ok(watch)
    }

    /// Watches one more channel directory (without inotify, the fallback looks anyway).
    pub fn add(&mut self, dir: &Path) -> io::Result<()> {
        self.add_with(dir, Self::CHANNEL, None)
    }

    /// Watches the directory `dir`, which may be renamed to `becomes` and then stays watched
    /// there ([`DirWatch::adopt`]). False when it cannot be watched (gone, renamed already,
    /// replaced meanwhile, another user's that this one may not read).
    pub fn add_becoming(&mut self, dir: &Path, becomes: &Path) -> bool {
        self.add_with(dir, Self::BECOMING, Some(becomes.to_owned()))
            .is_ok()
    }

    /// Watches the spool directory for channel directories appearing; with `made_only`, for
    /// those made in it, not renamed into it (the waiting places are). Watching it again
    /// replaces what is watched for.
    pub fn add_spool(&mut self, dir: &Path, made_only: bool) -> io::Result<()> {
        let flags = if made_only {
            Self::SPOOL_MADE
        } else {
            Self::SPOOL
        };
        self.add_with(dir, flags, None)
    }

    fn add_with(
        &mut self,
        dir: &Path,
        flags: WatchFlags,
        becomes: Option<PathBuf>,
    ) -> io::Result<()> {
        let Some(fd) = &self.fd else {
            return Ok(());
        };
        let before = inode_of(dir);
        let wd = match inotify::add_watch(fd, dir, flags) {
            Ok(wd) => wd,
            // The kernel's limit of watches reached: look now and then instead, as without an
            // instance.
            Err(e) if exhausted(e) => {
                self.fd = None;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        self.dirs.retain(|w| w.wd != wd);
        if flags == Self::CHANNEL || becomes.is_some() {
            let inode = inode_of(dir);
            // Replaced while the watch was added: which one is watched is not known.
            if becomes.is_some() && (inode.is_none() || inode != before) {
                let _ = inotify::remove_watch(fd, wd);
                return Err(io::Error::from(io::ErrorKind::NotFound));
            }
            self.dirs.push(Watched {
                wd,
                path: dir.to_owned(),
                inode,
                becomes,
                adopted: false,
            });
        }
        Ok(())
    }

    /// Finds the directories made of a waiting place that are no longer at their name (moved
    /// away: their watch does not report it) and ends their watch as lost; see
    /// [`DirWatch::take_lost`]. A look per such directory, for a caller that has been quiet.
    pub fn check_moved(&mut self) {
        let Some(fd) = &self.fd else {
            return;
        };
        let (moved, kept): (Vec<Watched>, Vec<Watched>) = std::mem::take(&mut self.dirs)
            .into_iter()
            .partition(|w| w.adopted && inode_of(&w.path) != w.inode);
        self.dirs = kept;
        for watched in moved {
            let _ = inotify::remove_watch(fd, watched.wd);
            self.lost.push(watched.path);
        }
    }

    /// True when `to` is watched: it is a directory added with [`DirWatch::add_becoming`] and
    /// renamed to `to` (its watch now follows `to`), or one watched there already. `now` is the
    /// device and inode of the directory at `to` (see [`inode_of`]), which the caller looked up.
    pub fn adopt(&mut self, to: &Path, now: Option<(u64, u64)>) -> bool {
        if self.dirs.iter().any(|w| w.path == to) {
            return true;
        }
        let Some(now) = now else {
            return false;
        };
        match self
            .dirs
            .iter_mut()
            .find(|w| w.becomes.as_deref() == Some(to) && w.inode == Some(now))
        {
            Some(watched) => {
                watched.path = to.to_owned();
                watched.becomes = None;
                watched.adopted = true;
                true
            }
            None => false,
        }
    }

    /// Waits up to `timeout` for a file whose name `wanted` accepts (given the watched directory
    /// it landed in, `None` for the spool's) to land, or for a watched directory to go; true
    /// when either happened.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        mut wanted: impl FnMut(Option<&Path>, &[u8]) -> bool,
    ) -> io::Result<bool> {
        let Self {
            fd,
            buf,
            dirs,
            lost,
            whole,
        } = self;
        wait_for_event(
            fd.as_ref(),
            buf,
            timeout,
            |event| {
                let flags = event.events();
                let at = dirs.iter().position(|w| w.wd == event.wd());
                if flags.intersects(inotify::ReadFlags::IGNORED | inotify::ReadFlags::MOVE_SELF) {
                    let Some(at) = at else {
                        return false;
                    };
                    let watched = dirs.swap_remove(at);
                    if let Some(fd) = fd.as_ref()
                        && flags.contains(inotify::ReadFlags::MOVE_SELF)
                    {
                        // Moved away, the directory is not the channel's any more.
                        let _ = inotify::remove_watch(fd, watched.wd);
                    }
                    lost.push(watched.path);
                    return true;
                }
                let dir = at.map(|at| dirs[at].path.as_path());
                event.file_name().is_some_and(|n| wanted(dir, n.to_bytes()))
            },
            whole,
        )
    }

    /// True when the last wait that woke was woken by a read that took every event the kernel
    /// had queued: what it offered is then all that happened in the watched directories until
    /// that read. False after an overflow, a read that filled the buffer (the rest is still
    /// queued), or a wait without inotify.
    pub fn took_everything(&self) -> bool {
        self.whole
    }

    /// The inotify instance, for an event loop to wait on beside others (`None` without one:
    /// the caller then looks by the clock).
    pub fn descriptor(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(|fd| fd.as_fd())
    }

    /// The directories whose watch ended (removed or moved away) since the last call.
    pub fn take_lost(&mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_writes_and_renames_of_its_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cam.jpg");
        let mut watch = FileWatch::new(&file).unwrap();
        assert!(!watch.wait(Duration::from_millis(10)).unwrap_or(true));
        std::fs::write(dir.path().join("other"), b"x").unwrap();
        assert!(!watch.wait(Duration::from_millis(50)).unwrap_or(true));
        std::fs::write(&file, b"x").unwrap();
        assert!(watch.wait(Duration::from_secs(1)).unwrap_or(false));
        let tmp = dir.path().join(".cam.jpg.tmp");
        std::fs::write(&tmp, b"y").unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        assert!(watch.wait(Duration::from_secs(1)).unwrap_or(false));
        assert!(!watch.wait(Duration::from_millis(10)).unwrap_or(true));
    }
}
