//! *Slots* cap how many streams and waiting long-polls one host serves at once
//! (`max_streams`), across all the suite's programs, with no daemon keeping count.
//!
//! Every held connection is one web-server worker: without a cap, streams can take every
//! worker a site has and its static pages stop answering. A slot is a file `slot-N` in
//! `streams_dir` held under an exclusive `flock` for the life of the process. The kernel drops
//! the lock when the process ends however it ends (exit, SIGKILL, a crash), so the count can
//! never leak; a new stream probes the slots without waiting and is refused when all are held.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// A held slot; the lock goes with the process (or when this is dropped).
#[derive(Debug)]
pub struct Slot {
    _file: File,
    /// Its number, for logs.
    pub number: usize,
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
            .write(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
            .map_err(|e| SlotError::Unusable(format!("{}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {
                return Ok(Slot {
                    _file: file,
                    number,
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

#[cfg(test)]
mod tests {
    use super::*;

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
