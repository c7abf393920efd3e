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
    /// It was not root, or the spool is root's alone: nothing changed.
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
///
/// Refused, as root, when there is no spool (root would make it, and every channel in it, its
/// own, which the web server's user then cannot write), and when the spool is root's but others
/// may write in it (root would act on paths they can swap). A spool that is root's alone is
/// used as root: nobody else can plant anything in it.
pub fn become_owner(root: &Path) -> io::Result<Identity> {
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
    if meta.uid() == 0 {
        if meta.mode() & 0o022 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} is root's but others may write in it; give it to the web server's user \
                     (chown www-data:www-data {}) or take the others' write bits away",
                    root.display(),
                    root.display()
                ),
            ));
        }
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
