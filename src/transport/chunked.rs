//! The chunked transport: a body that grows by one piece per unit, with leading padding.
//!
//! Browsers hold back the first bytes of a document before rendering it; the padding (4000
//! spaces in the original PHP script) fills that buffer so the first unit shows at once.
//! In NPH mode with an HTTP/1.1 client the program writes the chunked framing itself; in CGI mode
//! the server frames the body, and an HTTP/1.0 client gets a body that ends with the connection.

use std::io::{self, Write};

use crate::cgi::{Mode, Protocol};

/// Who frames the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// The program writes `size\r\n data \r\n` and the final `0\r\n\r\n`.
    Chunked,
    /// The program writes the bytes alone.
    Raw,
}

impl Framing {
    /// Chunked only for NPH output to an HTTP/1.1 client: HTTP/1.0 has no chunking, a CGI
    /// program's body is framed by the server, and HTTP/2 and /3 frame bodies themselves.
    pub fn for_response(mode: Mode, protocol: Protocol) -> Framing {
        match (mode, protocol) {
            (Mode::Nph, Protocol::Http11) => Framing::Chunked,
            _ => Framing::Raw,
        }
    }
}

/// Writes a body piece by piece.
#[derive(Debug)]
pub struct ChunkedWriter<W: Write> {
    out: W,
    framing: Framing,
}

impl<W: Write> ChunkedWriter<W> {
    /// What it writes to: the hub drains it into a client's connection.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// A writer with the given framing.
    pub fn new(out: W, framing: Framing) -> Self {
        ChunkedWriter { out, framing }
    }

    /// Writes `padding` spaces as the first piece (nothing when 0).
    pub fn start(&mut self, padding: usize) -> io::Result<()> {
        if padding == 0 {
            return Ok(());
        }
        self.data(&vec![b' '; padding])
    }

    /// Writes one piece. An empty piece writes nothing: in chunked framing it would end the body.
    pub fn data(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self.framing {
            Framing::Chunked => {
                let mut chunk = Vec::with_capacity(bytes.len() + 12);
                write!(chunk, "{:x}\r\n", bytes.len())?;
                chunk.extend_from_slice(bytes);
                chunk.extend_from_slice(b"\r\n");
                self.out.write_all(&chunk)?;
            }
            Framing::Raw => self.out.write_all(bytes)?,
        }
        self.out.flush()
    }

    /// The heartbeat: one newline, which text and HTML alike treat as nothing.
    pub fn heartbeat(&mut self) -> io::Result<()> {
        self.data(b"\n")
    }

    /// Ends the body normally: the last chunk when chunked.
    pub fn finish(&mut self) -> io::Result<()> {
        if self.framing == Framing::Chunked {
            self.out.write_all(b"0\r\n\r\n")?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_bytes;

    fn run(framing: Framing) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = ChunkedWriter::new(&mut out, framing);
        let r = (|| {
            w.start(3)?;
            w.data(b"<div>12:00:00</div>\n")?;
            w.data(b"")?;
            w.heartbeat()?;
            w.finish()
        })();
        assert!(r.is_ok());
        out
    }

    #[test]
    fn chunked_framing() {
        assert_bytes(
            &run(Framing::Chunked),
            b"3\r\n   \r\n14\r\n<div>12:00:00</div>\n\r\n1\r\n\n\r\n0\r\n\r\n",
        );
    }

    #[test]
    fn raw_framing() {
        assert_bytes(&run(Framing::Raw), b"   <div>12:00:00</div>\n\n");
    }

    #[test]
    fn framing_choice() {
        assert_eq!(
            Framing::for_response(Mode::Nph, Protocol::Http11),
            Framing::Chunked
        );
        for (mode, protocol) in [
            (Mode::Nph, Protocol::Http10),
            (Mode::Nph, Protocol::Http2),
            (Mode::Cgi, Protocol::Http11),
            (Mode::Cgi, Protocol::Http10),
        ] {
            assert_eq!(Framing::for_response(mode, protocol), Framing::Raw);
        }
    }
}
