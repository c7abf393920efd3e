//! The SSE transport: `text/event-stream` as browsers' `EventSource` reads it.
//!
//! Multi-line data becomes one `data:` line per line; ids and event names may hold no line
//! break (nor, for ids, NUL, which makes browsers ignore the id), and are refused otherwise.
//! The heartbeat is a comment line, which `EventSource` ignores (WHATWG suggests one about every
//! 15 s to keep proxies from closing an idle connection).

use std::io::{self, Write};

/// Writes an event stream.
#[derive(Debug)]
pub struct SseWriter<W: Write> {
    out: W,
}

impl<W: Write> SseWriter<W> {
    /// What it writes to: the hub drains it into a client's connection.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// A writer over `out`.
    pub fn new(out: W) -> Self {
        SseWriter { out }
    }

    /// Writes the stream's start: the reconnection delay, when given.
    pub fn start(&mut self, retry_ms: Option<u32>) -> io::Result<()> {
        if let Some(ms) = retry_ms {
            write!(self.out, "retry: {ms}\n\n")?;
        }
        self.out.flush()
    }

    /// Writes one event.
    pub fn event(&mut self, id: Option<&str>, name: Option<&str>, data: &str) -> io::Result<()> {
        self.event_with_retry(id, name, None, data)
    }

    /// Writes one event that also sets the client's reconnection delay (`retry:`).
    pub fn event_with_retry(
        &mut self,
        id: Option<&str>,
        name: Option<&str>,
        retry_ms: Option<u64>,
        data: &str,
    ) -> io::Result<()> {
        let mut buf = Vec::with_capacity(data.len() + 64);
        if let Some(id) = id {
            if id.contains(['\r', '\n', '\0']) {
                return Err(invalid("event id holds a line break or NUL"));
            }
            writeln!(buf, "id: {id}")?;
        }
        if let Some(name) = name {
            if name.contains(['\r', '\n']) {
                return Err(invalid("event name holds a line break"));
            }
            writeln!(buf, "event: {name}")?;
        }
        if let Some(ms) = retry_ms {
            writeln!(buf, "retry: {ms}")?;
        }
        for line in lines(data) {
            buf.extend_from_slice(b"data: ");
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
        }
        buf.push(b'\n');
        self.out.write_all(&buf)?;
        self.out.flush()
    }

    /// Writes a comment line, the heartbeat.
    pub fn comment(&mut self, text: &str) -> io::Result<()> {
        for line in lines(text) {
            writeln!(self.out, ":{line}")?;
        }
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    /// The heartbeat.
    pub fn heartbeat(&mut self) -> io::Result<()> {
        self.comment(" heartbeat")
    }
}

/// Splits on `\r\n`, `\r` or `\n`, the line ends of the event-stream format.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\r', '\n']) {
            None => {
                rest = None;
                Some(current)
            }
            Some(i) => {
                let skip = if current[i..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = Some(&current[i + skip..]);
                Some(&current[..i])
            }
        }
    })
}

fn invalid(message: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_bytes;

    #[test]
    fn events() {
        let mut out = Vec::new();
        let mut w = SseWriter::new(&mut out);
        let r = (|| {
            w.start(Some(2000))?;
            w.event(Some("7"), Some("tick"), "a\nb\r\nc\rd")?;
            w.event(None, None, "")?;
            w.event_with_retry(Some("a"), None, Some(500), "id: x")?;
            w.heartbeat()
        })();
        assert!(r.is_ok());
        assert_bytes(
            &out,
            b"retry: 2000\n\nid: 7\nevent: tick\ndata: a\ndata: b\ndata: c\ndata: d\n\ndata: \n\nid: a\nretry: 500\ndata: id: x\n\n: heartbeat\n\n",
        );
    }

    #[test]
    fn bad_ids_and_names() {
        let mut out = Vec::new();
        let mut w = SseWriter::new(&mut out);
        assert!(w.event(Some("1\n2"), None, "x").is_err());
        assert!(w.event(Some("1\0"), None, "x").is_err());
        assert!(w.event(None, Some("a\rb"), "x").is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn trailing_newline_gives_an_empty_data_line() {
        assert_eq!(lines("a\n").collect::<Vec<_>>(), vec!["a", ""]);
        assert_eq!(lines("").collect::<Vec<_>>(), vec![""]);
    }
}
