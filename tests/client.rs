//! A raw HTTP/1.x client for the server tests: it sends exactly the request asked for and reads
//! the response bytes with deadlines, so heads, framing and timing are all visible.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// An open response being read.
pub struct Response {
    stream: TcpStream,
    /// Raw bytes received and not yet consumed as head.
    raw: Vec<u8>,
    /// The status line.
    pub status_line: String,
    /// Header lines, as received.
    pub headers: Vec<(String, String)>,
    /// Body bytes decoded so far (de-chunked when chunked).
    pub body: Vec<u8>,
    chunked: bool,
    dechunk: Dechunker,
    /// True once the server closed the connection (or reading it failed).
    pub closed: bool,
    /// How it ended, for failure messages: the server's close or the read's error.
    ending: &'static str,
    read_error: Option<std::io::Error>,
    what: String,
}

/// One server-sent event.
#[derive(Clone, Debug, Default)]
pub struct SseEvent {
    /// Its `id:`.
    pub id: Option<String>,
    /// Its `event:` name.
    pub name: Option<String>,
    /// Its data lines, joined.
    pub data: String,
}

/// Sends a request and reads the response head.
pub fn request(port: u16, method: &str, target: &str, version: &str, extra: &[&str]) -> Response {
    let mut response = send(port, method, target, version, extra);
    response.wait_head();
    response
}

/// Sends a request without waiting for the answer (a parked long-poll has no head yet).
pub fn send(port: u16, method: &str, target: &str, version: &str, extra: &[&str]) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut req = format!("{method} {target} {version}\r\nHost: 127.0.0.1:{port}\r\n");
    let mut body = "";
    for line in extra {
        // An item starting with a blank line is the request body.
        if let Some(b) = line.strip_prefix("\r\n") {
            body = b;
            continue;
        }
        req.push_str(line);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).expect("send request");
    Response {
        stream,
        raw: Vec::new(),
        status_line: String::new(),
        headers: Vec::new(),
        body: Vec::new(),
        chunked: false,
        dechunk: Dechunker::default(),
        closed: false,
        ending: "open",
        read_error: None,
        what: format!("{method} {target} {version}"),
    }
}

impl Response {
    /// What this response is and where its connection stands, for failure messages.
    fn state(&self) -> String {
        match &self.read_error {
            Some(e) => format!("{}: {} ({e})", self.what, self.ending),
            None => format!("{}: {}", self.what, self.ending),
        }
    }

    /// Reads the response head (within 10 s).
    pub fn wait_head(&mut self) {
        let what = self.what.clone();
        self.read_head(Duration::from_secs(10), &what);
    }

    fn fill(&mut self, deadline: Instant) -> bool {
        let now = Instant::now();
        if now >= deadline || self.closed {
            return false;
        }
        self.stream
            .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = [0u8; 65536];
        let read = loop {
            match self.stream.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                read => break read,
            }
        };
        match read {
            Ok(0) => {
                self.closed = true;
                self.ending = "closed by the server";
                false
            }
            Ok(n) => {
                self.raw.extend_from_slice(&buf[..n]);
                true
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                false
            }
            Err(e) => {
                self.closed = true;
                self.ending = "read failed";
                self.read_error = Some(e);
                false
            }
        }
    }

    fn read_head(&mut self, timeout: Duration, what: &str) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(end) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.raw[..end]).into_owned();
                self.raw.drain(..end + 4);
                let mut lines = head.split("\r\n");
                self.status_line = lines.next().unwrap_or_default().to_owned();
                for line in lines {
                    if let Some((k, v)) = line.split_once(':') {
                        self.headers
                            .push((k.trim().to_owned(), v.trim().to_owned()));
                    }
                }
                self.chunked = self
                    .header("transfer-encoding")
                    .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
                self.take_raw();
                return;
            }
            if !self.fill(deadline) && (self.closed || Instant::now() >= deadline) {
                panic!(
                    "{what}: no complete response head within {timeout:?} ({}); got {:?}",
                    self.ending,
                    String::from_utf8_lossy(&self.raw)
                );
            }
        }
    }

    fn take_raw(&mut self) {
        let raw = std::mem::take(&mut self.raw);
        if self.chunked {
            self.dechunk.feed(&raw, &mut self.body);
        } else {
            self.body.extend_from_slice(&raw);
        }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The raw head, for failure messages.
    pub fn head_text(&self) -> String {
        let mut s = self.status_line.clone();
        for (k, v) in &self.headers {
            s.push_str(&format!("\n{k}: {v}"));
        }
        s
    }

    /// Reads until the decoded body holds `count` occurrences of `needle`, or fails.
    pub fn read_until_count(&mut self, needle: &[u8], count: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while occurrences(&self.body, needle) < count {
            if !self.fill(deadline) {
                assert!(
                    !(self.closed || Instant::now() >= deadline),
                    "{}: wanted {count}x {:?} within {timeout:?}; body so far: {:?}",
                    self.state(),
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(&self.body[self.body.len().saturating_sub(600)..])
                );
            }
            self.take_raw();
        }
    }

    /// Reads what arrives within `timeout`; false when nothing came (or the peer closed).
    pub fn read_some(&mut self, timeout: Duration) -> bool {
        let got = self.fill(Instant::now() + timeout);
        self.take_raw();
        got
    }

    /// Reads until the body is complete as a client sees it: `Content-Length` bytes, the last
    /// chunk, or the connection's close.
    pub fn read_complete(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let length: Option<usize> = self.header("content-length").and_then(|v| v.parse().ok());
        loop {
            let done = match length {
                Some(n) => self.body.len() >= n,
                None if self.chunked => self.dechunk.done,
                None => false,
            };
            if done || self.closed {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: body not complete after {timeout:?}",
                self.what
            );
            self.fill(deadline);
            self.take_raw();
        }
    }

    /// Reads until the server closes the connection.
    pub fn read_to_end(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.closed {
            self.fill(deadline);
            self.take_raw();
            assert!(
                self.closed || Instant::now() < deadline,
                "{}: connection still open after {timeout:?}",
                self.what
            );
        }
    }

    /// True when the body is complete: chunked framing ended or the connection closed.
    pub fn chunked_complete(&self) -> bool {
        self.dechunk.done
    }

    /// Reads until the decoded body holds `count` complete multipart parts with
    /// `Content-Length`; returns their bodies.
    pub fn read_parts(&mut self, count: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let parts = multipart_parts(&self.body);
            if parts.len() >= count {
                return parts;
            }
            if !self.fill(deadline) {
                assert!(
                    !(self.closed || Instant::now() >= deadline),
                    "{}: wanted {count} parts within {timeout:?}, got {}",
                    self.state(),
                    parts.len()
                );
            }
            self.take_raw();
        }
    }

    /// Reads what arrives within `timeout` and takes the complete SSE events from the front of
    /// the body: (id, event name, data). Events are drained, so a long stream costs nothing
    /// to re-scan.
    pub fn sse_events(&mut self, timeout: Duration) -> Vec<SseEvent> {
        self.fill(Instant::now() + timeout);
        self.take_raw();
        let mut events = Vec::new();
        let mut consumed = 0;
        while let Some(end) = find(&self.body[consumed..], b"\n\n") {
            let text = String::from_utf8_lossy(&self.body[consumed..consumed + end]).into_owned();
            consumed += end + 2;
            let mut event = SseEvent::default();
            for line in text.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    event.id = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("event: ") {
                    event.name = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    event.data.push_str(v);
                }
            }
            events.push(event);
        }
        self.body.drain(..consumed);
        events
    }

    /// Closes the connection from the client side.
    pub fn close(self) {
        drop(self.stream);
    }
}

/// How often `needle` occurs in `haystack`.
pub fn occurrences(haystack: &[u8], needle: &[u8]) -> usize {
    if needle.is_empty() || haystack.len() < needle.len() {
        return 0;
    }
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// Decodes chunked framing incrementally.
#[derive(Default)]
struct Dechunker {
    pending: Vec<u8>,
    remaining: usize,
    in_data: bool,
    done: bool,
}

impl Dechunker {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        self.pending.extend_from_slice(bytes);
        loop {
            if self.done {
                return;
            }
            if self.in_data {
                if self.pending.len() < self.remaining + 2 {
                    // Hand over what is here so streaming reads see data at once.
                    let take = self.pending.len().min(self.remaining);
                    out.extend(self.pending.drain(..take));
                    self.remaining -= take;
                    return;
                }
                out.extend(self.pending.drain(..self.remaining));
                assert_eq!(&self.pending[..2], b"\r\n", "chunk not followed by CRLF");
                self.pending.drain(..2);
                self.in_data = false;
                continue;
            }
            let Some(eol) = self.pending.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let line = String::from_utf8_lossy(&self.pending[..eol]).into_owned();
            let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16)
                .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
            self.pending.drain(..eol + 2);
            if size == 0 {
                self.done = true;
                return;
            }
            self.remaining = size;
            self.in_data = true;
        }
    }
}

/// The bodies of the complete parts (those with `Content-Length` and all their bytes) of a
/// multipart body.
pub fn multipart_parts(body: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut at = 0;
    while let Some(rel) = find(&body[at..], b"Content-Length: ") {
        let start = at + rel + 16;
        let Some(eol) = find(&body[start..], b"\r\n") else {
            break;
        };
        let length: usize = String::from_utf8_lossy(&body[start..start + eol])
            .trim()
            .parse()
            .unwrap();
        let Some(blank) = find(&body[start..], b"\r\n\r\n") else {
            break;
        };
        let data = start + blank + 4;
        if body.len() < data + length {
            break;
        }
        parts.push(body[data..data + length].to_vec());
        at = data + length;
    }
    parts
}

/// The first position of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
