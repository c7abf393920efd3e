//! Handing a client's connection to the hub: the connection's descriptor and a description of
//! the stream, in one datagram of a `SOCK_SEQPACKET` Unix socket (`SCM_RIGHTS`).
//!
//! Why a packet socket: one handoff is one message, whole or not at all, so a sender that dies
//! half-way leaves nothing the hub could take for the start of the next one. Why the sender's
//! credentials are checked ([`peer_uid`]): the socket lives in a directory only the programs'
//! user can reach, and the hub also refuses any peer of another user, so a file-mode mistake
//! cannot let another account hand it connections (and so read its channels).

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, sendmsg,
};

/// The largest stream description a handoff carries.
pub const MAX_DESCRIPTION: usize = 16 * 1024;

/// Why a handoff was not sent or not taken.
#[derive(Debug)]
pub enum HandoffError {
    /// The socket failed.
    Io(io::Error),
    /// A message came without a connection.
    NoConnection,
    /// A message came with more than one descriptor (all of them are closed).
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
                write!(f, "a handoff came with more than one descriptor")
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

/// Sends `connection` and `description` to the hub over `socket`.
pub fn send(
    socket: impl AsFd,
    connection: BorrowedFd<'_>,
    description: &[u8],
) -> Result<(), HandoffError> {
    if description.len() > MAX_DESCRIPTION {
        return Err(HandoffError::TooLarge);
    }
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut ancillary = SendAncillaryBuffer::new(&mut space);
    let fds = [connection];
    ancillary.push(SendAncillaryMessage::ScmRights(&fds));
    let sent = sendmsg(
        socket,
        &[IoSlice::new(description)],
        &mut ancillary,
        SendFlags::NOSIGNAL,
    )
    .map_err(io::Error::from)?;
    if sent != description.len() {
        return Err(HandoffError::Io(io::Error::new(
            io::ErrorKind::WriteZero,
            "handoff sent in part",
        )));
    }
    Ok(())
}

/// One handoff received: the client's connection and the stream's description.
#[derive(Debug)]
pub struct Received {
    /// The client's connection (the program's standard output).
    pub connection: OwnedFd,
    /// What the program says of the stream, as it sent it.
    pub description: Vec<u8>,
}

/// Receives one handoff from `socket`. Every descriptor that came with a refused one is closed.
pub fn receive(socket: impl AsFd) -> Result<Received, HandoffError> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut ancillary = RecvAncillaryBuffer::new(&mut space);
    let mut description = vec![0u8; MAX_DESCRIPTION + 1];
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
    if got.flags.contains(ReturnFlags::TRUNC) || got.bytes > MAX_DESCRIPTION {
        return Err(HandoffError::TooLarge);
    }
    if got.flags.contains(ReturnFlags::CTRUNC) || fds.len() > 1 {
        return Err(HandoffError::TooManyDescriptors);
    }
    let connection = fds.pop().ok_or(HandoffError::NoConnection)?;
    description.truncate(got.bytes);
    Ok(Received {
        connection,
        description,
    })
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
        send(&program, writer.as_fd(), b"{\"channel\":\"a\"}").unwrap();
        // The program's copy goes away, as the program does once it has handed off.
        drop(writer);
        let got = receive(&hub).unwrap();
        assert_eq!(got.description, b"{\"channel\":\"a\"}");
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
        rustix::net::send(&program, b"{}", SendFlags::empty()).unwrap();
        assert!(matches!(receive(&hub), Err(HandoffError::NoConnection)));
        let (_reader, writer) = std::io::pipe().unwrap();
        let large = vec![b' '; MAX_DESCRIPTION + 1];
        assert!(matches!(
            send(&program, writer.as_fd(), &large),
            Err(HandoffError::TooLarge)
        ));
        // Two descriptors: refused, and both closed (the pipe's reader sees its end).
        let (mut reader, writer) = std::io::pipe().unwrap();
        let other = writer.try_clone().unwrap();
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut ancillary = SendAncillaryBuffer::new(&mut space);
        let fds = [writer.as_fd(), other.as_fd()];
        assert!(ancillary.push(SendAncillaryMessage::ScmRights(&fds)));
        sendmsg(
            &program,
            &[IoSlice::new(b"{}")],
            &mut ancillary,
            SendFlags::empty(),
        )
        .unwrap();
        drop((writer, other));
        assert!(matches!(
            receive(&hub),
            Err(HandoffError::TooManyDescriptors)
        ));
        assert_eq!(reader.read(&mut [0u8; 1]).unwrap(), 0);
        drop(program);
        assert!(matches!(receive(&hub), Err(HandoffError::Closed)));
    }
}
