//! The spool's *owner*: a process running as root that is about to use the spool becomes the
//! user who owns it, for the rest of its life.
//!
//! The spool belongs to the web server's user, who can make anything in it: a symlink where a
//! lock or a temporary file will be, pointing at a file only root may write. The store opens
//! nothing through a symlink, but a cron job's `serverpush publish` as root must not depend on
//! every path being right: as the spool's owner it can do nothing there that the web server's
//! user could not do already.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::process::{Gid, Uid, geteuid};
use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};

/// Whom the process runs as after [`become_owner`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// It was not root, or the spool is root's own (or not made yet): nothing changed.
    Unchanged,
    /// It was root and is now the spool's owner, with the spool's group as its only group.
    Became {
        /// The owner's user id.
        uid: u32,
        /// The spool's group id.
        gid: u32,
    },
}

/// Makes a root process the owner of the spool `root`, irrevocably (real, effective and saved
/// ids, and the supplementary groups). Must be called before the process starts a thread:
/// Linux keeps credentials per thread, and only the calling thread changes.
pub fn become_owner(root: &Path) -> io::Result<Identity> {
    if !geteuid().is_root() {
        return Ok(Identity::Unchanged);
    }
    // The spool's own path is the config's, which only root may change; what is inside it is
    // the owner's.
    let meta = match std::fs::metadata(root) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Identity::Unchanged),
        Err(e) => return Err(e),
    };
    if meta.uid() == 0 {
        return Ok(Identity::Unchanged);
    }
    let gid = Gid::from_raw(meta.gid());
    let uid = Uid::from_raw(meta.uid());
    set_thread_groups(&[gid])?;
    set_thread_res_gid(gid, gid, gid)?;
    set_thread_res_uid(uid, uid, uid)?;
    Ok(Identity::Became {
        uid: meta.uid(),
        gid: meta.gid(),
    })
}
