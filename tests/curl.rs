//! curl as the tests' HTTP/2 and TLS client: it speaks h2 (ALPN over TLS), h2c (prior
//! knowledge) and HTTP/1.1 over TLS, which the raw client in `client` does not. Its output is
//! read as it arrives, with deadlines, and each chunk keeps its arrival time so a test can tell
//! units that arrive one by one from units held back and delivered together.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::fixtures::Server;
use crate::util::require_tool;

/// How a request reaches the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/2 over TLS, negotiated by ALPN, as browsers speak it.
    H2,
    /// HTTP/2 in clear text with prior knowledge.
    H2c,
    /// HTTP/2 in clear text by an HTTP/1.1 `Upgrade: h2c` (what `curl --http2` does on http:).
    H2cUpgrade,
    /// HTTP/1.1 over TLS.
    Http11Tls,
    /// HTTP/1.1 in clear text.
    Http11,
}

impl Protocol {
    /// Every protocol a browser or a usual client speaks, HTTP/2 first.
    pub const ALL: [Protocol; 4] = [
        Protocol::H2,
        Protocol::H2c,
        Protocol::Http11Tls,
        Protocol::Http11,
    ];

    /// True for the HTTP/2 protocols.
    pub fn is_h2(self) -> bool {
        matches!(self, Protocol::H2 | Protocol::H2c | Protocol::H2cUpgrade)
    }

    /// The status line's version as curl prints it.
    pub fn version(self) -> &'static str {
        if self.is_h2() { "HTTP/2" } else { "HTTP/1.1" }
    }

    fn args(self) -> &'static [&'static str] {
        match self {
            Protocol::H2 => &["--http2", "-k"],
            Protocol::H2c => &["--http2-prior-knowledge"],
            Protocol::H2cUpgrade => &["--http2"],
            Protocol::Http11Tls => &["--http1.1", "-k"],
            Protocol::Http11 => &["--http1.1"],
        }
    }

    /// The URL of `target` (a path and query) on `server` for this protocol.
    pub fn url(self, server: &Server, target: &str) -> String {
        match self {
            Protocol::H2 | Protocol::Http11Tls => {
                let port = server
                    .tls_port
                    .unwrap_or_else(|| panic!("{} was started without TLS", server.name));
                format!("https://127.0.0.1:{port}{target}")
            }
            Protocol::H2c | Protocol::H2cUpgrade | Protocol::Http11 => {
                format!("http://127.0.0.1:{}{target}", server.port)
            }
        }
    }
}

/// A response being read through a curl process; the process is killed on drop.
pub struct Curl {
    child: Child,
    chunks: mpsc::Receiver<(Instant, Vec<u8>)>,
    /// Everything curl wrote so far: the head (`-i`), then the body as curl decoded it.
    raw: Vec<u8>,
    /// For each chunk received, the length of `raw` after it and when it arrived.
    arrivals: Vec<(usize, Instant)>,
    /// Where the body starts in `raw`, once the head is complete.
    body_at: Option<usize>,
    /// True once curl closed its output (the response ended or failed).
    pub ended: bool,
    what: String,
}

/// Starts `curl` for `target` on `server` with `protocol`; `extra` are more curl arguments
/// (`-H`, `--data-binary`, `-X`). The head is printed before the body (`-i`).
pub fn curl(server: &Server, protocol: Protocol, target: &str, extra: &[&str]) -> Curl {
    require_tool("/usr/bin/curl", "curl");
    let url = protocol.url(server, target);
    let mut child = Command::new("/usr/bin/curl")
        .args(["-sS", "-N", "-i", "--max-time", "120"])
        .args(protocol.args())
        .args(extra)
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start curl");
    let mut stdout = child.stdout.take().expect("curl's stdout");
    let (tx, chunks) = mpsc::channel();
    // A thread per response: std has no read with a timeout on a pipe, and the test reads
    // with deadlines.
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
    Curl {
        child,
        chunks,
        raw: Vec::new(),
        arrivals: Vec::new(),
        body_at: None,
        ended: false,
        what: format!("{} {url} {}", protocol.version(), extra.join(" ")),
    }
}

impl Curl {
    /// Takes what has arrived, waiting until `deadline` for at least one chunk.
    fn fill(&mut self, deadline: Instant) -> bool {
        if self.ended {
            return false;
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.chunks.recv_timeout(wait) {
            Ok((at, data)) => {
                self.raw.extend_from_slice(&data);
                self.arrivals.push((self.raw.len(), at));
                while let Ok((at, data)) = self.chunks.try_recv() {
                    self.raw.extend_from_slice(&data);
                    self.arrivals.push((self.raw.len(), at));
                }
                self.find_body();
                true
            }
            Err(mpsc::RecvTimeoutError::Timeout) => false,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.ended = true;
                false
            }
        }
    }

    fn find_body(&mut self) {
        if self.body_at.is_some() {
            return;
        }
        // An interim response (100, 101) has a head of its own before the final one.
        let mut from = 0;
        while let Some(end) = find(&self.raw[from..], b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&self.raw[from..from + end]);
            let status = head.split_whitespace().nth(1).unwrap_or_default();
            if !status.starts_with('1') {
                self.body_at = Some(from + end + 4);
                return;
            }
            from += end + 4;
        }
    }

    /// Waits for the head (within 10 s) and returns its text.
    pub fn head(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.body_at.is_none() && self.fill(deadline) {}
        let at = self
            .body_at
            .unwrap_or_else(|| panic!("{}: no head in 10 s; got {:?}", self.what, self.text()));
        String::from_utf8_lossy(&self.raw[..at]).into_owned()
    }

    /// The final status line, without its line end.
    pub fn status_line(&mut self) -> String {
        let head = self.head();
        let last = head
            .trim_end()
            .rsplit("\r\n\r\n")
            .next()
            .unwrap_or_default();
        last.lines().next().unwrap_or_default().trim().to_owned()
    }

    /// The value of header `name` (any case) in the final head.
    pub fn header(&mut self, name: &str) -> Option<String> {
        let head = self.head();
        let last = head
            .trim_end()
            .rsplit("\r\n\r\n")
            .next()
            .unwrap_or_default();
        last.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    /// The body so far.
    pub fn body(&self) -> &[u8] {
        &self.raw[self.body_at.unwrap_or(self.raw.len())..]
    }

    /// Everything so far, for failure messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    /// Reads until the body holds `n` occurrences of `marker`; returns when each arrived.
    pub fn read_until_count(&mut self, marker: &[u8], n: usize, timeout: Duration) -> Vec<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            let times = self.arrival_times(marker);
            if times.len() >= n {
                return times[..n].to_vec();
            }
            if !self.fill(deadline) && (self.ended || Instant::now() >= deadline) {
                let tail = &self.raw[self.raw.len().saturating_sub(600)..];
                panic!(
                    "{}: {} of {n} {:?} after {timeout:?} (ended: {}); head and last bytes:\n{}\n…{}",
                    self.what,
                    times.len(),
                    String::from_utf8_lossy(marker),
                    self.ended,
                    String::from_utf8_lossy(&self.raw[..self.body_at.unwrap_or(0)]),
                    String::from_utf8_lossy(tail)
                );
            }
        }
    }

    /// When each occurrence of `marker` in the body arrived (the arrival of its last byte).
    fn arrival_times(&self, marker: &[u8]) -> Vec<Instant> {
        let Some(start) = self.body_at else {
            return Vec::new();
        };
        let mut times = Vec::new();
        let mut from = start;
        while let Some(at) = find(&self.raw[from..], marker) {
            let end = from + at + marker.len();
            let arrived = self
                .arrivals
                .iter()
                .find(|(len, _)| *len >= end)
                .map(|(_, t)| *t);
            times.extend(arrived);
            from = end;
        }
        times
    }

    /// Reads until curl ends (the response is complete) or `timeout` passes.
    pub fn read_to_end(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.ended {
            if !self.fill(deadline) && Instant::now() >= deadline {
                panic!(
                    "{}: not ended after {timeout:?}: {}",
                    self.what,
                    self.text()
                );
            }
        }
    }

    /// Reads whatever arrives within `duration`.
    pub fn read_for(&mut self, duration: Duration) {
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline && !self.ended {
            self.fill(deadline);
        }
    }

    /// Kills curl: its connection closes without a goodbye, as when a browser tab is closed.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Curl {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The position of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}
