//! Where a user's hub listens, and how a program reaches it.
//!
//! The socket is [`SOCKET`] in the streams directory (`streams_dir`), which
//! [`own_directory`](crate::regular::own_directory) makes (mode 0700) when missing and refuses
//! when it is another user's: no other account can reach the socket. Both ends also check the
//! other's user (`SO_PEERCRED`), so a directory made open by mistake still lets no other
//! account hand connections to the hub (and so read its channels), nor pose as the hub.
//!
//! One hub per user: a hub holds an exclusive `flock` of [`LOCK`] beside the socket for its
//! whole life, and only the holder replaces the socket. The kernel drops the lock when the hub
//! dies, even by SIGKILL, so a socket left behind is replaced by the next hub, and a program
//! that finds no one listening there knows to start one.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustix::fd::{AsFd, OwnedFd};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use super::peer_uid;

/// The hub's socket, in the streams directory.
pub const SOCKET: &str = "hub.sock";

/// The file a live hub holds locked, in the streams directory.
pub const LOCK: &str = "hub.lock";

/// How many programs may wait for the hub to take their connection.
const BACKLOG: i32 = 1024;

/// The socket's path in the streams directory `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(SOCKET)
}

fn packet_socket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Refuses a peer of another user than this process's.
fn same_user(socket: impl AsFd) -> io::Result<()> {
    let uid = peer_uid(socket)?;
    if uid == rustix::process::geteuid().as_raw() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("the hub's peer is user {uid}, not this process's"),
        ))
    }
}

/// A hub's listening socket, and the lock that makes it the user's one hub.
#[derive(Debug)]
pub struct Listener {
    socket: OwnedFd,
    _lock: File,
    dir: PathBuf,
}

impl Listener {
    /// Takes the hub's place in the streams directory `dir` (made private when missing):
    /// `None` when another hub holds it.
    pub fn take(dir: &Path) -> io::Result<Option<Listener>> {
        crate::regular::own_directory(dir)?;
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(dir.join(LOCK))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            // No locks here (a filesystem without them): no way to be the one hub.
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        let path = socket_path(dir);
        // Left by a hub that died: nobody listens there, and only the lock's holder removes it.
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let socket = packet_socket()?;
        rustix::net::bind(&socket, &SocketAddrUnix::new(&path)?)?;
        rustix::net::listen(&socket, BACKLOG)?;
        Ok(Some(Listener {
            socket,
            _lock: lock,
            dir: dir.to_owned(),
        }))
    }

    /// The socket and the lock, for the hub's process to inherit.
    pub fn into_parts(self) -> (OwnedFd, File) {
        (self.socket, self._lock)
    }

    /// The place in the streams directory `dir` that a hub's process inherited from the
    /// program that started it.
    pub fn from_parts(socket: OwnedFd, lock: File, dir: &Path) -> Listener {
        Listener {
            socket,
            _lock: lock,
            dir: dir.to_owned(),
        }
    }

    /// The streams directory it is in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The listening socket, for the hub's event loop.
    pub fn socket(&self) -> &OwnedFd {
        &self.socket
    }

    /// Takes one program's connection, refusing (and closing) one of another user.
    pub fn accept(&self) -> io::Result<OwnedFd> {
        let program = rustix::net::accept_with(&self.socket, SocketFlags::CLOEXEC)?;
        same_user(&program)?;
        Ok(program)
    }
}

/// Connects to the hub of this user in the streams directory `dir`: `None` when no hub listens
/// there (none was started, or it died) or it takes no more programs now, an error when the one
/// there is another user's. The socket does not block.
pub fn connect(dir: &Path) -> io::Result<Option<OwnedFd>> {
    // Without blocking: a hub whose queue of programs is full (swamped, or out of descriptors)
    // is as good as none, and the program serves its stream itself.
    let socket = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    match rustix::net::connect(&socket, &SocketAddrUnix::new(socket_path(dir))?) {
        Ok(()) => {}
        Err(
            rustix::io::Errno::NOENT | rustix::io::Errno::CONNREFUSED | rustix::io::Errno::AGAIN,
        ) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    same_user(&socket)?;
    Ok(Some(socket))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff;

    #[test]
    fn a_program_reaches_the_one_hub_and_hands_it_a_connection() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("streams");
        assert!(connect(&dir).unwrap().is_none(), "no hub yet");
        let hub = Listener::take(&dir).unwrap().unwrap();
        // The user's one hub: another cannot take its place while it lives.
        assert!(Listener::take(&dir).unwrap().is_none());
        let program = connect(&dir).unwrap().unwrap();
        let from_program = hub.accept().unwrap();
        let (_reader, writer) = std::io::pipe().unwrap();
        handoff::send(
            &program,
            writer.as_fd(),
            None,
            std::time::Duration::ZERO,
            b"{}",
        )
        .unwrap();
        assert_eq!(handoff::receive(&from_program).unwrap().description, b"{}");
        // A hub that died (its socket left behind, its lock dropped): nobody answers there, and
        // the next hub takes the place.
        drop((hub, from_program));
        assert!(socket_path(&dir).exists());
        assert!(connect(&dir).unwrap().is_none());
        let next = Listener::take(&dir).unwrap().unwrap();
        let _program = connect(&dir).unwrap().unwrap();
        next.accept().unwrap();
    }
}
