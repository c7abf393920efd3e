//! Shared helpers: deadlines, paths, process counting.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The built binary `name`.
pub fn bin(name: &str) -> PathBuf {
    match name {
        "nph-clock" => PathBuf::from(env!("CARGO_BIN_EXE_nph-clock")),
        "nph-webcam" => PathBuf::from(env!("CARGO_BIN_EXE_nph-webcam")),
        "nph-longpoll" => PathBuf::from(env!("CARGO_BIN_EXE_nph-longpoll")),
        "nph-mercure" => PathBuf::from(env!("CARGO_BIN_EXE_nph-mercure")),
        "serverpush" => PathBuf::from(env!("CARGO_BIN_EXE_serverpush")),
        // The old names: `serverpush` called through a link of that name.
        "serverpush-publish" | "serverpush-camsim" => alias(name),
        other => panic!("unknown binary {other}"),
    }
}

/// A symlink named `name` to the `serverpush` binary, made once per test run.
fn alias(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("aliases");
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join(name);
    if std::fs::read_link(&link).ok().as_deref() != Some(bin("serverpush").as_path()) {
        // Made under a private name and renamed into place, so tests making it at the same
        // moment never see it half made.
        use std::sync::atomic::{AtomicU32, Ordering};
        static MADE: AtomicU32 = AtomicU32::new(0);
        let n = MADE.fetch_add(1, Ordering::SeqCst);
        let tmp = dir.join(format!(".{name}.{}.{n}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(bin("serverpush"), &tmp).unwrap();
        std::fs::rename(&tmp, &link).unwrap();
    }
    link
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The PIDs of live processes running the executable `exe` (zombies excluded).
pub fn pids_of(exe: &Path) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised command: state is the first.
        let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
        if state == Some('Z') || state.is_none() {
            continue;
        }
        let exe_path = std::fs::read_link(entry.path().join("exe")).unwrap_or_default();
        if exe_path == exe {
            found.push(pid);
        }
    }
    found
}

/// Fails with a clear message when a required program is missing.
pub fn require_tool(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install the Debian package {package} (scripts/install-deps.sh does)"
    );
}

/// Copies a directory tree (files and directories only).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A free TCP port on loopback, never the same twice in one test run.
///
/// Asking the kernel for port 0 and closing it lets two tests that start servers at the same
/// moment be handed the same port, and one then talks to the other's server. Ports here come
/// from a counter instead, starting at a place that depends on the process id, and each is
/// checked to be free. They stay below the kernel's ephemeral range (from 32768 by default):
/// there a port found free can become the local port of some outgoing connection before the
/// server binds it, and a client polling a stopped server's port can connect to itself.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 10_000;
    const COUNT: u32 = 22_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = (std::process::id() % 1_000) * 10;
    loop {
        let port = FIRST + (start + NEXT.fetch_add(1, Ordering::SeqCst)) % COUNT;
        let port = u16::try_from(port).unwrap();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The channel `name` (a name the test knows is valid).
pub fn ch(name: &str) -> serverpush::name::Channel {
    serverpush::name::Channel::parse(name).unwrap()
}

/// Short forms of the store calls the tests make, for either store.
pub trait StoreExt {
    /// Publishes `data` as text; its id.
    fn put(&mut self, channel: &str, data: &str) -> u64;
    /// The channel's last id.
    fn last_id(&mut self, channel: &str) -> u64;
}

impl<S: serverpush::store::ChannelStore + ?Sized> StoreExt for S {
    fn put(&mut self, channel: &str, data: &str) -> u64 {
        let message = serverpush::store::NewMessage {
            content_type: "text/plain",
            data,
            idempotency_key: None,
        };
        self.publish(&ch(channel), &message).unwrap().id
    }

    fn last_id(&mut self, channel: &str) -> u64 {
        self.head(&ch(channel)).unwrap().0
    }
}

/// Runs one of the project's build scripts (`scripts/build-deb.sh`, `scripts/build-tarball.sh`)
/// with `args` in the shared target directory, so that it reuses this run's release build; the
/// last line it prints (the path of what it made).
pub fn run_build_script(script: &str, args: &[&Path]) -> PathBuf {
    // The parent of this crate's scratch directory, and above the triple's directory when the
    // build names its target (scripts/build-env.sh).
    let mut target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .to_owned();
    if let Ok(triple) = std::env::var("CARGO_BUILD_TARGET")
        && target.file_name().is_some_and(|name| *name == *triple)
    {
        target.pop();
    }
    let output = std::process::Command::new(repo().join(script))
        .args(args)
        .env("CARGO_TARGET_DIR", &target)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap();
    assert!(output.status.success(), "{script} failed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
}

/// Makes the user `name` with useradd's `options`, trying again while another process holds the
/// password file's lock (tests run in parallel).
pub fn add_user(name: &str, options: &[&str]) {
    require_tool("/usr/sbin/useradd", "passwd");
    let _ = std::process::Command::new("userdel").arg(name).output();
    wait_for(Duration::from_secs(20), "useradd", || {
        let made = std::process::Command::new("useradd")
            .args(options)
            .arg(name)
            .output()
            .unwrap();
        made.status.success().then_some(())
    });
}
