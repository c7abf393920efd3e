//! A minimal HTTP/2 client in clear text (h2c with prior knowledge, RFC 9113) for what curl
//! cannot do from a test: open many streams on one connection and reset some of them
//! (`RST_STREAM`) while the connection stays open, as a browser does when a page drops an
//! `<img>` or closes an `EventSource`.
//!
//! It sends header blocks as HPACK literals without indexing and never decodes the server's
//! header blocks (it only needs the body bytes of each stream), so it needs no HPACK tables.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const WINDOW_UPDATE: u8 = 8;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;

/// The `CANCEL` error code: the client no longer wants the stream.
const CANCEL: u32 = 0x8;

/// One HTTP/2 connection and what each of its streams has received.
pub struct Connection {
    stream: TcpStream,
    authority: String,
    unread: Vec<u8>,
    next_stream: u32,
    /// Body bytes received per stream.
    pub data: HashMap<u32, Vec<u8>>,
    /// Streams the server ended (END_STREAM or RST_STREAM).
    pub ended: HashSet<u32>,
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS, once its SETTINGS arrived.
    pub max_concurrent_streams: Option<u32>,
    /// True once the server sent GOAWAY.
    pub goaway: bool,
}

impl Connection {
    /// Connects to `127.0.0.1:port` and opens HTTP/2 with large flow-control windows.
    pub fn open(port: u16) -> Connection {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        // SETTINGS_ENABLE_PUSH = 0, SETTINGS_INITIAL_WINDOW_SIZE = 16 MiB.
        let mut settings = Vec::new();
        settings.extend_from_slice(&[0, 2, 0, 0, 0, 0]);
        settings.extend_from_slice(&[0, 4]);
        settings.extend_from_slice(&(16u32 << 20).to_be_bytes());
        frame(&mut hello, SETTINGS, 0, 0, &settings);
        frame(
            &mut hello,
            WINDOW_UPDATE,
            0,
            0,
            &(256u32 << 20).to_be_bytes(),
        );
        stream.write_all(&hello).expect("send the HTTP/2 preface");
        Connection {
            stream,
            authority: format!("127.0.0.1:{port}"),
            unread: Vec::new(),
            next_stream: 1,
            data: HashMap::new(),
            ended: HashSet::new(),
            max_concurrent_streams: None,
            goaway: false,
        }
    }

    /// Sends `GET path` on a new stream; returns the stream's id.
    pub fn get(&mut self, path: &str) -> u32 {
        let id = self.next_stream;
        self.next_stream += 2;
        let mut block = Vec::new();
        for (name, value) in [
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", self.authority.as_str()),
            (":path", path),
            ("user-agent", "serverpush-tests"),
        ] {
            // Literal header field without indexing, new name (RFC 7541 §6.2.2).
            block.push(0);
            hpack_string(&mut block, name.as_bytes());
            hpack_string(&mut block, value.as_bytes());
        }
        let mut out = Vec::new();
        frame(&mut out, HEADERS, END_STREAM | END_HEADERS, id, &block);
        self.stream.write_all(&out).expect("send HEADERS");
        self.data.insert(id, Vec::new());
        id
    }

    /// Resets every stream in `ids` with CANCEL, all in one write.
    pub fn reset(&mut self, ids: &[u32]) {
        let mut out = Vec::new();
        for &id in ids {
            frame(&mut out, RST_STREAM, 0, id, &CANCEL.to_be_bytes());
        }
        self.stream.write_all(&out).expect("send RST_STREAM");
    }

    /// Reads and handles frames until `done` holds or `timeout` passes; false on timeout.
    pub fn pump_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&Connection) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(self) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            self.read_frames(deadline - now);
        }
    }

    /// Keeps the connection serviced (PING, SETTINGS) for `duration`.
    pub fn pump_for(&mut self, duration: Duration) {
        self.pump_until(duration, |_| false);
    }

    fn read_frames(&mut self, wait: Duration) {
        self.stream
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .expect("set a read timeout");
        let mut buf = [0u8; 65536];
        match self.stream.read(&mut buf) {
            Ok(0) => {
                self.goaway = true;
                std::thread::sleep(wait.min(Duration::from_millis(50)));
                return;
            }
            Ok(n) => self.unread.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return;
            }
            Err(e) => panic!("HTTP/2 connection failed: {e}"),
        }
        let mut replies = Vec::new();
        while self.unread.len() >= 9 {
            let len = u32::from_be_bytes([0, self.unread[0], self.unread[1], self.unread[2]]);
            let len = len as usize;
            if self.unread.len() < 9 + len {
                break;
            }
            let kind = self.unread[3];
            let flags = self.unread[4];
            let id = u32::from_be_bytes([
                self.unread[5],
                self.unread[6],
                self.unread[7],
                self.unread[8],
            ]) & 0x7fff_ffff;
            let payload: Vec<u8> = self.unread[9..9 + len].to_vec();
            self.unread.drain(..9 + len);
            match kind {
                DATA => {
                    let body = if flags & PADDED != 0 {
                        let pad = payload.first().copied().unwrap_or(0) as usize;
                        &payload[1..payload.len().saturating_sub(pad)]
                    } else {
                        &payload[..]
                    };
                    self.data.entry(id).or_default().extend_from_slice(body);
                    if flags & END_STREAM != 0 {
                        self.ended.insert(id);
                    }
                    if len > 0 {
                        // Give the windows back so a long test never stalls on flow control.
                        let increment = (len as u32).to_be_bytes();
                        frame(&mut replies, WINDOW_UPDATE, 0, 0, &increment);
                        if !self.ended.contains(&id) {
                            frame(&mut replies, WINDOW_UPDATE, 0, id, &increment);
                        }
                    }
                }
                HEADERS if flags & END_STREAM != 0 => {
                    self.ended.insert(id);
                }
                RST_STREAM => {
                    self.ended.insert(id);
                }
                SETTINGS if flags & ACK == 0 => {
                    for setting in payload.chunks_exact(6) {
                        if setting[..2] == [0, 3] {
                            let value = [setting[2], setting[3], setting[4], setting[5]];
                            self.max_concurrent_streams = Some(u32::from_be_bytes(value));
                        }
                    }
                    frame(&mut replies, SETTINGS, ACK, 0, &[]);
                }
                PING if flags & ACK == 0 => frame(&mut replies, PING, ACK, 0, &payload),
                GOAWAY => self.goaway = true,
                _ => {}
            }
        }
        if !replies.is_empty() {
            // The server may have closed after GOAWAY: a failed reply is not the test's failure.
            let _ = self.stream.write_all(&replies);
        }
    }
}

/// Appends one frame.
fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = u32::try_from(payload.len())
        .expect("frame length")
        .to_be_bytes();
    out.extend_from_slice(&len[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// An HPACK string literal without Huffman coding: a 7-bit-prefix length, then the bytes.
fn hpack_string(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut len = bytes.len();
    if len < 127 {
        out.push(len as u8);
    } else {
        out.push(127);
        len -= 127;
        while len >= 128 {
            out.push((len % 128) as u8 | 0x80);
            len /= 128;
        }
        out.push(len as u8);
    }
    out.extend_from_slice(bytes);
}
