//! The `multipart/x-mixed-replace` transport: each unit is a MIME part that replaces the one
//! before it.
//!
//! A browser shows a part only when the boundary after it arrives, so every part is followed at
//! once by its boundary; waiting for the next part to write it would show every unit one late.
//! Each part carries `Content-Length` (Firefox needs it to keep a stream smooth).
//! [`Style::CgiPm`] writes what Perl CGI.pm's `multipart_init`/`multipart_start`/`multipart_end`
//! write, byte for byte, for clients built against that output.

use std::io::{self, Write};

/// What CGI.pm prints before the first part and after the last, for clients that cannot show
/// server push.
pub const CGIPM_WARNING: &str =
    "WARNING: YOUR BROWSER DOESN'T SUPPORT THIS SERVER-PUSH TECHNOLOGY.";

/// A boundary for one response: 24 random alphanumerics.
///
/// The randomness comes from the standard library's per-process hash keys, which are seeded from
/// the operating system; a boundary needs to be unguessable by the pushed data, not secret.
pub fn random_boundary() -> String {
    use std::hash::{BuildHasher, Hasher};
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let state = std::collections::hash_map::RandomState::new();
    let mut out = String::with_capacity(24);
    let mut word = 0u64;
    for i in 0..24u64 {
        if i % 8 == 0 {
            let mut hasher = state.build_hasher();
            hasher.write_u64(i);
            word = hasher.finish();
        }
        out.push(char::from(ALPHABET[(word % 62) as usize]));
        word /= 62;
    }
    out
}

/// The byte layout of the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Unquoted boundary, `Content-Type` and `Content-Length` on every part.
    Standard,
    /// CGI.pm's layout: quoted boundary, the warning preamble, parts with `Content-Type` only.
    CgiPm,
}

/// Writes a `multipart/x-mixed-replace` body.
#[derive(Debug)]
pub struct MultipartWriter<W: Write> {
    out: W,
    boundary: String,
    style: Style,
    last_part: Vec<u8>,
    /// The part a heartbeat writes, when it is not the last part again.
    heartbeat_part: Option<Vec<u8>>,
}

impl<W: Write> MultipartWriter<W> {
    /// What it writes to: the hub drains it into a client's connection.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// A writer with `boundary`, which must not occur in any part (a random token ensures that).
    pub fn new(out: W, boundary: String, style: Style) -> Self {
        MultipartWriter {
            out,
            boundary,
            style,
            last_part: Vec::new(),
            heartbeat_part: None,
        }
    }

    /// Makes the heartbeat a part of its own (`content_type`, `body`) rather than the last part
    /// again: for parts that are events (channel messages), which a repeat would deliver twice,
    /// not pictures, which a repeat leaves as they are.
    pub fn with_heartbeat(mut self, content_type: &str, body: &[u8]) -> io::Result<Self> {
        self.heartbeat_part = Some(self.framed(content_type, &[], body)?);
        Ok(self)
    }

    /// The response `Content-Type` for `boundary` in `style`.
    pub fn content_type(boundary: &str, style: Style) -> String {
        match style {
            Style::Standard => format!("multipart/x-mixed-replace;boundary={boundary}"),
            Style::CgiPm => format!("multipart/x-mixed-replace;boundary=\"{boundary}\""),
        }
    }

    /// Writes what comes before the first part: the first boundary line.
    pub fn start(&mut self) -> io::Result<()> {
        if self.style == Style::CgiPm {
            self.out.write_all(CGIPM_WARNING.as_bytes())?;
            self.out.write_all(b"\r\n")?;
        }
        write!(self.out, "--{}\r\n", self.boundary)?;
        self.out.flush()
    }

    /// Writes one part and the boundary after it.
    ///
    /// `headers` are extra part headers (such as `X-Timestamp`); their values come from the
    /// program, never from a request.
    pub fn part(
        &mut self,
        content_type: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<()> {
        let part = self.framed(content_type, headers, body)?;
        self.out.write_all(&part)?;
        self.out.flush()?;
        self.last_part = part;
        Ok(())
    }

    /// A part's bytes, its headers and the boundary after it.
    fn framed(
        &self,
        content_type: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Vec<u8>> {
        let mut part = Vec::with_capacity(body.len() + 128);
        write!(part, "Content-Type: {content_type}\r\n")?;
        if self.style == Style::Standard {
            write!(part, "Content-Length: {}\r\n", body.len())?;
            for (name, value) in headers {
                write!(part, "{name}: {value}\r\n")?;
            }
        }
        part.extend_from_slice(b"\r\n");
        part.extend_from_slice(body);
        write!(part, "\r\n--{}\r\n", self.boundary)?;
        Ok(part)
    }

    /// The heartbeat: the last part again, which the client shows unchanged (or the part set
    /// by [`MultipartWriter::with_heartbeat`]).
    ///
    /// A multipart stream has no bytes that are not part of a part, so repeating the last one is
    /// the only write that changes nothing. Before the first part there is nothing to repeat and
    /// nothing is written.
    pub fn heartbeat(&mut self) -> io::Result<()> {
        if let Some(part) = &self.heartbeat_part {
            self.out.write_all(part)?;
            return self.out.flush();
        }
        if self.last_part.is_empty() {
            return Ok(());
        }
        self.out.write_all(&self.last_part)?;
        self.out.flush()
    }

    /// Ends the stream normally with the closing boundary.
    pub fn finish(&mut self) -> io::Result<()> {
        write!(self.out, "\r\n--{}--\r\n", self.boundary)?;
        if self.style == Style::CgiPm {
            self.out.write_all(CGIPM_WARNING.as_bytes())?;
            self.out.write_all(b"\r\n")?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_bytes;

    #[test]
    fn standard_parts_and_end() {
        let mut out = Vec::new();
        let mut w = MultipartWriter::new(&mut out, "B0".into(), Style::Standard);
        let r = (|| {
            w.start()?;
            w.part("text/plain", &[], b"one")?;
            w.part("image/jpeg", &[("X-Timestamp", "1.5")], b"\xff\xd8")?;
            w.heartbeat()?;
            w.finish()
        })();
        assert!(r.is_ok());
        assert_bytes(
            &out,
            b"--B0\r\n\
              Content-Type: text/plain\r\nContent-Length: 3\r\n\r\none\r\n--B0\r\n\
              Content-Type: image/jpeg\r\nContent-Length: 2\r\nX-Timestamp: 1.5\r\n\r\n\xff\xd8\r\n--B0\r\n\
              Content-Type: image/jpeg\r\nContent-Length: 2\r\nX-Timestamp: 1.5\r\n\r\n\xff\xd8\r\n--B0\r\n\
              \r\n--B0--\r\n",
        );
    }

    #[test]
    fn heartbeat_before_a_part_writes_nothing() {
        let mut out = Vec::new();
        let r = MultipartWriter::new(&mut out, "B".into(), Style::Standard).heartbeat();
        assert!(r.is_ok());
        assert!(out.is_empty());
    }

    #[test]
    fn a_heartbeat_part_of_its_own_is_not_the_last_part() {
        let mut out = Vec::new();
        let r = (|| {
            let mut w = MultipartWriter::new(&mut out, "B".into(), Style::Standard)
                .with_heartbeat("application/json", b"{}")?;
            w.heartbeat()?;
            w.part("application/json", &[], b"[1]")?;
            w.heartbeat()
        })();
        assert!(r.is_ok());
        let beat = b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}\r\n--B\r\n";
        let mut want = beat.to_vec();
        want.extend_from_slice(
            b"Content-Type: application/json\r\nContent-Length: 3\r\n\r\n[1]\r\n--B\r\n",
        );
        want.extend_from_slice(beat);
        assert_bytes(&out, &want);
    }

    /// The layout of CGI.pm 4.x `multipart_init`, `multipart_start`, `multipart_end` and
    /// `multipart_final`.
    #[test]
    fn cgipm_layout() {
        let b = "------- =_aAbBcCdDeEfFgGhHi";
        assert_eq!(
            MultipartWriter::<Vec<u8>>::content_type(b, Style::CgiPm),
            "multipart/x-mixed-replace;boundary=\"------- =_aAbBcCdDeEfFgGhHi\""
        );
        let mut out = Vec::new();
        let mut w = MultipartWriter::new(&mut out, b.into(), Style::CgiPm);
        let r = (|| {
            w.start()?;
            w.part(
                "text/plain",
                &[],
                b"The current time is Tue Nov 14 22:13:20 2023\n",
            )?;
            w.finish()
        })();
        assert!(r.is_ok());
        assert_bytes(
            &out,
            b"WARNING: YOUR BROWSER DOESN'T SUPPORT THIS SERVER-PUSH TECHNOLOGY.\r\n\
              --------- =_aAbBcCdDeEfFgGhHi\r\n\
              Content-Type: text/plain\r\n\r\n\
              The current time is Tue Nov 14 22:13:20 2023\n\
              \r\n--------- =_aAbBcCdDeEfFgGhHi\r\n\
              \r\n--------- =_aAbBcCdDeEfFgGhHi--\r\n\
              WARNING: YOUR BROWSER DOESN'T SUPPORT THIS SERVER-PUSH TECHNOLOGY.\r\n",
        );
    }
}
