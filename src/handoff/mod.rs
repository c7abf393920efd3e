//! *Hub mode*'s plumbing: how a streaming program that has validated its request, taken its
//! slot and written its head hands its client's connection to the one long-lived process of its
//! user, the hub (the `hub` module serves them), and exits. The web server keeps the
//! response open and relays what the hub writes until the hub closes it.
//!
//! A handoff is the connection's descriptor, the stream's slot (whose lock then stays held by
//! the hub, so the streams cap and presence count the stream while it lives) and a description
//! of the stream, in one datagram of a `SOCK_SEQPACKET` Unix socket (`SCM_RIGHTS`); the hub
//! answers one byte, taken or not ([`Door::hand`]).
//!
//! Why a packet socket: one handoff is one message, whole or not at all, so a sender that dies
//! half-way leaves nothing the hub could take for the start of the next one. Why the sender's
//! credentials are checked ([`peer_uid`]): the socket lives in a directory only the programs'
//! user can reach, and the hub also refuses any peer of another user, so a file-mode mistake
//! cannot let another account hand it connections (and so read its channels).
//!
//! - [`place`]: where the user's one hub listens, and how a program reaches it.

pub mod place;

use std::path::PathBuf;
use std::time::Duration;

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, sendmsg,
};

/// The largest stream description a handoff carries.
pub const MAX_DESCRIPTION: usize = 16 * 1024;

/// A handoff starts with its deadline: nanoseconds of the monotonic clock, little-endian.
const DEADLINE_BYTES: usize = 8;

/// Why a handoff was not sent or not taken.
#[derive(Debug)]
pub enum HandoffError {
    /// The socket failed.
    Io(io::Error),
    /// A message came without a connection.
    NoConnection,
    /// A message came with more than two descriptors (all of them are closed).
    TooManyDescriptors,
    /// A description longer than [`MAX_DESCRIPTION`].
    TooLarge,
    /// The other end closed the socket.
    Closed,
}

impl std::fmt::Display for HandoffError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandoffError::Io(e) => write!(f, "handoff: {e}"),
            HandoffError::NoConnection => write!(f, "a handoff came without a connection"),
            HandoffError::TooManyDescriptors => {
                write!(f, "a handoff came with more than two descriptors")
            }
            HandoffError::TooLarge => {
                write!(f, "a handoff's description is over {MAX_DESCRIPTION} bytes")
            }
            HandoffError::Closed => write!(f, "the other end closed the handoff socket"),
        }
    }
}

impl std::error::Error for HandoffError {}

impl From<io::Error> for HandoffError {
    fn from(e: io::Error) -> Self {
        HandoffError::Io(e)
    }
}

/// The time on the system's monotonic clock, which every process of the host shares: what a
/// handoff's deadline is told in.
pub fn monotonic_now() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

/// Sends `connection`, the stream's `slot` when it holds one, and `description` to the hub over
/// `socket`, to be taken before `deadline` ([`monotonic_now`]) or not at all.
pub fn send(
    socket: impl AsFd,
    connection: BorrowedFd<'_>,
    slot: Option<BorrowedFd<'_>>,
    deadline: Duration,
    description: &[u8],
) -> Result<(), HandoffError> {
    if description.len() > MAX_DESCRIPTION {
        return Err(HandoffError::TooLarge);
    }
    let deadline = u64::try_from(deadline.as_nanos())
        .unwrap_or(u64::MAX)
        .to_le_bytes();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut ancillary = SendAncillaryBuffer::new(&mut space);
    let both = [connection, slot.unwrap_or(connection)];
    let fds = if slot.is_some() {
        &both[..]
    } else {
        &both[..1]
    };
    ancillary.push(SendAncillaryMessage::ScmRights(fds));
    let sent = sendmsg(
        socket,
        &[IoSlice::new(&deadline), IoSlice::new(description)],
        &mut ancillary,
        SendFlags::NOSIGNAL,
    )
    .map_err(io::Error::from)?;
    if sent != deadline.len() + description.len() {
        return Err(HandoffError::Io(io::Error::new(
            io::ErrorKind::WriteZero,
            "handoff sent in part",
        )));
    }
    Ok(())
}

/// One handoff received: the client's connection, the stream's slot and its description.
#[derive(Debug)]
pub struct Received {
    /// The client's connection (the program's standard output).
    pub connection: OwnedFd,
    /// The stream's slot, locked: the hub holds it while it serves the stream.
    pub slot: Option<OwnedFd>,
    /// When the program stops waiting for the hub's answer and serves the stream itself
    /// ([`monotonic_now`]): the hub takes the stream only before.
    pub deadline: Duration,
    /// What the program says of the stream, as it sent it.
    pub description: Vec<u8>,
}

/// Receives one handoff from `socket`. Every descriptor that came with a refused one is closed.
pub fn receive(socket: impl AsFd) -> Result<Received, HandoffError> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut ancillary = RecvAncillaryBuffer::new(&mut space);
    let mut description = vec![0u8; DEADLINE_BYTES + MAX_DESCRIPTION + 1];
    let got = recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut description)],
        &mut ancillary,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for message in ancillary.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    if got.bytes == 0 && fds.is_empty() {
        return Err(HandoffError::Closed);
    }
    if got.flags.contains(ReturnFlags::TRUNC) || got.bytes > DEADLINE_BYTES + MAX_DESCRIPTION {
        return Err(HandoffError::TooLarge);
    }
    if got.flags.contains(ReturnFlags::CTRUNC) || fds.len() > 2 {
        return Err(HandoffError::TooManyDescriptors);
    }
    let mut fds = fds.into_iter();
    let connection = fds.next().ok_or(HandoffError::NoConnection)?;
    if got.bytes < DEADLINE_BYTES {
        return Err(HandoffError::NoConnection);
    }
    description.truncate(got.bytes);
    let mut deadline = [0u8; DEADLINE_BYTES];
    deadline.copy_from_slice(&description[..DEADLINE_BYTES]);
    description.drain(..DEADLINE_BYTES);
    Ok(Received {
        connection,
        slot: fds.next(),
        deadline: Duration::from_nanos(u64::from_le_bytes(deadline)),
        description,
    })
}

/// The hub's answer to a handoff: it serves the stream.
pub const TAKEN: u8 = b'y';

/// The hub's answer to a handoff it will not serve (another spool, a description it cannot
/// read): the program serves the stream itself.
pub const NOT_TAKEN: u8 = b'n';

/// How long the hub has to take a stream: the hub answers once it has the stream in its loop, at
/// once unless it is swamped (or out of descriptors, when it takes nothing).
const TAKE_WITHIN: Duration = Duration::from_secs(5);

/// How long after that deadline a program still waits for an answer the hub may have been
/// writing: the hub takes a stream only before the deadline, and answers in the same step.
const ANSWER_SLACK: Duration = Duration::from_secs(1);

/// How many times a program that found another program starting the hub looks for it.
const STARTING_LOOKS: u32 = 50;

/// What starts the user's hub, given its place and the config file the program read (the
/// binaries give the `hub` module's `start`: the hub is above every program, which cannot name
/// it).
pub type StartHub = fn(place::Listener, Option<&std::path::Path>) -> io::Result<()>;

/// What a program hands its stream through.
#[derive(Debug)]
pub struct Door<'a> {
    /// The client's connection (standard output).
    pub connection: BorrowedFd<'a>,
    /// The stream's slot (a descriptor of its own: the program's goes when it exits).
    pub slot: Option<OwnedFd>,
    /// The streams directory, where the hub listens.
    pub dir: PathBuf,
    /// Starts a hub when none listens.
    pub start: StartHub,
    /// The config file the program read, for a hub it starts.
    pub config_path: Option<PathBuf>,
}

impl Door<'_> {
    /// Hands the stream to the hub, starting one when none listens: true when the hub took it
    /// (the program must then write nothing more and exit), false when the program serves it
    /// itself (the hub refused it or could not be reached).
    pub fn hand(&self, description: &[u8]) -> Result<bool, HandoffError> {
        let Some(socket) = self.reach()? else {
            return Ok(false);
        };
        let slot = self.slot.as_ref().map(|slot| slot.as_fd());
        let deadline = monotonic_now() + TAKE_WITHIN;
        send(&socket, self.connection, slot, deadline, description)?;
        let wait = (deadline + ANSWER_SLACK).saturating_sub(monotonic_now());
        let ready = rustix::event::poll(
            &mut [rustix::event::PollFd::new(
                &socket,
                rustix::event::PollFlags::IN,
            )],
            Some(&rustix::event::Timespec {
                tv_sec: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(wait.subsec_nanos()),
            }),
        )
        .map_err(io::Error::from)?;
        let mut answer = [0u8; 1];
        if ready == 0 {
            // Past its deadline the hub takes the stream no more: the program serves it.
            return Ok(false);
        }
        let read = rustix::io::read(&socket, &mut answer).map_err(io::Error::from)?;
        if read == 1 && answer[0] == TAKEN {
            return Ok(true);
        }
        // Not taken: a hub that went as far as making the connection non-blocking must not
        // leave the program's own writes to fail for it.
        let flags = rustix::fs::fcntl_getfl(self.connection).map_err(io::Error::from)?;
        rustix::fs::fcntl_setfl(self.connection, flags - rustix::fs::OFlags::NONBLOCK)
            .map_err(io::Error::from)?;
        Ok(false)
    }

    /// A connection to the user's hub: the one listening, or one this program starts.
    fn reach(&self) -> Result<Option<OwnedFd>, HandoffError> {
        for _ in 0..STARTING_LOOKS {
            if let Some(socket) = place::connect(&self.dir)? {
                return Ok(Some(socket));
            }
            if let Some(listener) = place::Listener::take(&self.dir)? {
                (self.start)(listener, self.config_path.as_deref())?;
                // It listens already: the place was bound before the hub was started.
                return Ok(place::connect(&self.dir)?);
            }
            // Another program is starting it: its socket is bound in a moment.
            rustix::event::poll(
                &mut [],
                Some(&rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: 10_000_000,
                }),
            )
            .map_err(io::Error::from)?;
        }
        Ok(None)
    }
}

/// The user id of the process at the other end of `socket`, as the kernel recorded it when the
/// connection was made.
pub fn peer_uid(socket: impl AsFd) -> io::Result<u32> {
    let cred = rustix::net::sockopt::socket_peercred(socket).map_err(io::Error::from)?;
    Ok(cred.uid.as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};
    use std::io::{Read, Write};

    fn pair() -> (OwnedFd, OwnedFd) {
        socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap()
    }

    #[test]
    fn a_connection_crosses_with_its_description() {
        let (program, hub) = pair();
        let (mut reader, writer) = std::io::pipe().unwrap();
        let (_slot_reader, slot) = std::io::pipe().unwrap();
        send(
            &program,
            writer.as_fd(),
            Some(slot.as_fd()),
            Duration::from_secs(7),
            b"{\"channel\":\"a\"}",
        )
        .unwrap();
        // The program's copy goes away, as the program does once it has handed off.
        drop(writer);
        let got = receive(&hub).unwrap();
        assert_eq!(got.description, b"{\"channel\":\"a\"}");
        assert!(got.slot.is_some());
        assert_eq!(got.deadline, Duration::from_secs(7));
        let mut to_client = std::fs::File::from(got.connection);
        to_client.write_all(b"data: x\n\n").unwrap();
        drop(to_client);
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, "data: x\n\n");
        assert_eq!(peer_uid(&hub).unwrap(), rustix::process::geteuid().as_raw());
    }

    #[test]
    fn a_handoff_without_a_connection_or_too_large_is_refused() {
        let (program, hub) = pair();
        rustix::net::send(&program, b"01234567{}", SendFlags::empty()).unwrap();
        assert!(matches!(receive(&hub), Err(HandoffError::NoConnection)));
        let (_reader, writer) = std::io::pipe().unwrap();
        let large = vec![b' '; MAX_DESCRIPTION + 1];
        assert!(matches!(
            send(&program, writer.as_fd(), None, Duration::ZERO, &large),
            Err(HandoffError::TooLarge)
        ));
        // Three descriptors: refused, and all closed (the pipe's reader sees its end).
        let (mut reader, writer) = std::io::pipe().unwrap();
        let other = writer.try_clone().unwrap();
        let third = writer.try_clone().unwrap();
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
        let mut ancillary = SendAncillaryBuffer::new(&mut space);
        let fds = [writer.as_fd(), other.as_fd(), third.as_fd()];
        assert!(ancillary.push(SendAncillaryMessage::ScmRights(&fds)));
        sendmsg(
            &program,
            &[IoSlice::new(b"01234567{}")],
            &mut ancillary,
            SendFlags::empty(),
        )
        .unwrap();
        drop((writer, other, third));
        assert!(matches!(
            receive(&hub),
            Err(HandoffError::TooManyDescriptors)
        ));
        assert_eq!(reader.read(&mut [0u8; 1]).unwrap(), 0);
        drop(program);
        assert!(matches!(receive(&hub), Err(HandoffError::Closed)));
    }
}
