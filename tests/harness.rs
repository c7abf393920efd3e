//! The CGI harness: runs a binary exactly as a web server would, with a cleared environment and
//! RFC 3875 meta-variables, and reads its output with deadlines while it runs.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// A running CGI program.
pub struct Cgi {
    child: Child,
    output: Receiver<Vec<u8>>,
    /// Everything read from stdout so far.
    pub out: Vec<u8>,
}

/// A request to run: program name (argv[0]), method, query, extra variables, body.
pub struct CgiRequest<'a> {
    pub name: &'a str,
    pub method: &'a str,
    pub protocol: &'a str,
    pub query: &'a [u8],
    pub vars: Vec<(&'a str, Vec<u8>)>,
    pub body: &'a [u8],
    pub config: Option<&'a Path>,
}

impl<'a> CgiRequest<'a> {
    /// A GET over HTTP/1.1 to `name` with `query`.
    pub fn get(name: &'a str, query: &'a str) -> CgiRequest<'a> {
        CgiRequest {
            name,
            method: "GET",
            protocol: "HTTP/1.1",
            query: query.as_bytes(),
            vars: Vec::new(),
            body: b"",
            config: None,
        }
    }

    /// Adds a variable.
    pub fn var(mut self, name: &'a str, value: impl Into<Vec<u8>>) -> Self {
        self.vars.push((name, value.into()));
        self
    }

    /// Starts `exe` under this request's name.
    pub fn spawn(&self, exe: &Path) -> Cgi {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(exe);
        cmd.arg0(self.name);
        self.start(cmd)
    }

    /// Starts `exe` through `wrapper` (a command that runs the program named by its last
    /// argument, such as `strace … --`); the program's name is then `exe`'s file name.
    pub fn spawn_with(&self, wrapper: &[&str], exe: &Path) -> Cgi {
        let mut cmd = Command::new(wrapper[0]);
        cmd.args(&wrapper[1..]).arg(exe);
        self.start(cmd)
    }

    fn start(&self, mut cmd: Command) -> Cgi {
        use std::os::unix::ffi::OsStrExt;
        cmd.env_clear()
            .env("GATEWAY_INTERFACE", "CGI/1.1")
            .env("REQUEST_METHOD", self.method)
            .env("SERVER_PROTOCOL", self.protocol)
            .env("SERVER_NAME", "127.0.0.1")
            .env("SERVER_PORT", "80")
            .env("SERVER_SOFTWARE", "serverpush-harness")
            .env("SCRIPT_NAME", format!("/cgi-bin/{}", self.name))
            .env("REMOTE_ADDR", "127.0.0.1")
            .env("QUERY_STRING", std::ffi::OsStr::from_bytes(self.query))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !self.body.is_empty() {
            cmd.env("CONTENT_LENGTH", self.body.len().to_string());
        }
        // Without a config of its own, an empty one (the defaults): with no variable the program
        // would look for the system's file, which the package test installs meanwhile.
        cmd.env(
            "SERVERPUSH_CONFIG",
            self.config.unwrap_or_else(|| empty_config()),
        );
        for (k, v) in &self.vars {
            cmd.env(k, std::ffi::OsStr::from_bytes(v));
        }
        let mut child = cmd.spawn().expect("spawn CGI program");
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(self.body);
        drop(stdin);
        let stdout = child.stdout.take().unwrap();
        Cgi {
            child,
            output: reader(stdout),
            out: Vec::new(),
        }
    }
}

/// An empty config file (every key at its default), in the build's directory for tests.
fn empty_config() -> &'static Path {
    static FILE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serverpush-defaults.toml");
        std::fs::write(&path, "").unwrap();
        path
    })
}

fn reader(mut stdout: ChildStdout) -> Receiver<Vec<u8>> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

impl Cgi {
    /// Reads for `over` and returns the longest time in it during which nothing arrived (from
    /// the start of the reading to the first write, between writes, and from the last write to
    /// the end).
    pub fn longest_silence(&mut self, over: Duration) -> Duration {
        let started = Instant::now();
        let end = started + over;
        let mut last = started;
        let mut longest = Duration::ZERO;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(bytes) => {
                    let now = Instant::now();
                    longest = longest.max(now - last);
                    last = now;
                    self.out.extend_from_slice(&bytes);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    return longest.max(end.saturating_duration_since(last));
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    panic!(
                        "the program ended while it was expected to stream; output: {:?}",
                        String::from_utf8_lossy(&self.out)
                    );
                }
            }
        }
    }

    /// Reads until `out` holds `count` occurrences of `needle`; fails at the deadline.
    pub fn read_until_count(&mut self, needle: &[u8], count: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while crate::client::occurrences(&self.out, needle) < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(bytes) => self.out.extend_from_slice(&bytes),
                Err(_) => {
                    let stderr = self.stderr_now();
                    panic!(
                        "wanted {count}x {:?} within {timeout:?}; output: {:?}; stderr: {stderr}",
                        String::from_utf8_lossy(needle),
                        String::from_utf8_lossy(&self.out),
                    )
                }
            }
        }
    }

    /// Reads everything until the program closes stdout, then waits for its exit.
    pub fn finish(mut self, timeout: Duration) -> (std::process::ExitStatus, Vec<u8>, String) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(bytes) => self.out.extend_from_slice(&bytes),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(_) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "program still writing after {timeout:?}; output: {:?}",
                        String::from_utf8_lossy(&self.out)
                    );
                }
            }
        }
        let status = self.wait_exit(deadline.saturating_duration_since(Instant::now()));
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        (status, std::mem::take(&mut self.out), stderr)
    }

    /// True once the program holds what it waits on, a doorbell or an inotify watch: a publish
    /// from then on wakes it (it makes them before it reads).
    pub fn watching(&self) -> bool {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| {
                std::fs::read_link(fd.path()).is_ok_and(|l| {
                    let l = l.to_string_lossy();
                    l.contains("inotify") || l.contains("/.waiting/") || l.contains("/+waiting/")
                })
            })
    }

    /// What the program's descriptors point at (`anon_inode:inotify`, file paths).
    pub fn descriptors(&self) -> Vec<String> {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .map(|l| l.to_string_lossy().into_owned())
            .collect()
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the process to exit; fails at the deadline.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        crate::util::wait_for(timeout, "the CGI program to exit", || {
            self.child.try_wait().ok().flatten()
        })
    }

    /// Sends a signal by name (`TERM`, `HUP`).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// Closes the reading end of stdout, as a departed client's server does.
    pub fn close_stdout(&mut self) {
        // Dropping the receiver makes the reader thread's next send fail; the thread then drops
        // the pipe, and the program's next write gets EPIPE.
        let (_tx, rx) = channel();
        self.output = rx;
    }

    fn stderr_now(&mut self) -> String {
        if self.alive() {
            return "(still running)".into();
        }
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Cgi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Splits a CGI or NPH response into head text and body bytes.
pub fn split_head(out: &[u8]) -> (String, &[u8]) {
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(out)));
    (
        String::from_utf8_lossy(&out[..end]).into_owned(),
        &out[end + 4..],
    )
}
