//! The spool's *owner*: a process running as root that is about to use the spool becomes the
//! user who owns it, for the rest of its life.
//!
//! The spool belongs to the web server's user, who can make anything in it: a symlink where a
//! lock or a temporary file will be, pointing at a file only root may write. The store opens
//! nothing through a symlink, but a cron job's `serverpush publish` as root must not depend on
//! every path being right: as the spool's owner it can do nothing there that the web server's
//! user could not do already.
//!
//! A spool that is root's but that a group may write in (an admin's `dpkg-statoverride root
//! www-data 2770`) has no other user to become. Reading it is safe as nobody in that group
//! (`channels`, `tail`); writing it as root is what planted links would exploit, and as nobody
//! the files made would not be the group's to write: a publish there is refused, with the fix.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::process::{Gid, Uid, geteuid};
use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};

/// What the process will do with the spool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// Read channels (`serverpush channels`, `tail`).
    Read,
    /// Publish (`serverpush publish`).
    Write,
}

/// Whom the process runs as after [`become_owner`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// It was not root, or the spool is root's alone: nothing changed.
    Unchanged,
    /// It was root and is now this user, with the spool's group as its only group.
    Became {
        /// The user id: the spool's owner, or nobody's for reading a spool root shares.
        uid: u32,
        /// The spool's group id.
        gid: u32,
    },
}

/// The user id of `nobody` on Debian and most systems.
const NOBODY: u32 = 65534;

/// Makes a root process the owner of the spool `root` for `what`, irrevocably (real, effective
/// and saved ids, and the supplementary groups). Must be called before the process starts a
/// thread: Linux keeps credentials per thread, and only the calling thread changes.
///
/// Refused, as root, when there is no spool (root would make it, and every channel in it, its
/// own, which the web server's user then cannot write), when the spool is root's and every user
/// may write in it, and for writing, when it is root's and a group may write in it. A spool
/// that is root's alone is used as root: nobody else can plant anything in it.
pub fn become_owner(root: &Path, what: Use) -> io::Result<Identity> {
    if !geteuid().is_root() {
        return Ok(Identity::Unchanged);
    }
    // The spool's own path is the config's, which only root may change; what is inside it is
    // the owner's.
    let meta = match std::fs::metadata(root) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} does not exist; as root, make it for the web server's user first \
                     (install -d -o www-data -g www-data -m 0750 {})",
                    root.display(),
                    root.display()
                ),
            ));
        }
        Err(e) => return Err(e),
    };
    let shared = || {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is root's but others may write in it, so root will not publish there; \
                 publish as the web server's user (runuser -u www-data -- serverpush publish …) \
                 or give it the spool (chown www-data {})",
                root.display(),
                root.display()
            ),
        )
    };
    let (uid, gid) = match (meta.uid(), meta.mode() & 0o022, what) {
        (0, 0, _) => return Ok(Identity::Unchanged),
        (0, 0o020, Use::Read) => (NOBODY, meta.gid()),
        (0, _, _) => return Err(shared()),
        (owner, _, _) => (owner, meta.gid()),
    };
    set_thread_groups(&[Gid::from_raw(gid)])?;
    set_thread_res_gid(Gid::from_raw(gid), Gid::from_raw(gid), Gid::from_raw(gid))?;
    set_thread_res_uid(Uid::from_raw(uid), Uid::from_raw(uid), Uid::from_raw(uid))?;
    Ok(Identity::Became { uid, gid })
}
