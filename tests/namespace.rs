//! A distribution's server run as the machine would run it, but out of the machine's way: in
//! its own network, mount and pid namespace (`unshare`), with port 80 on a loopback no one else
//! sees and `/run` and `/var/log` on private tmpfs. A test joins its network from one thread
//! (`setns`) to talk to it; on drop the server, the namespace's first process, is stopped, and
//! the kernel ends whatever else ran in it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::wait_for;

const T: Duration = Duration::from_secs(15);

/// Which of the distribution's servers runs in the namespace.
#[derive(Clone, Copy, Debug)]
pub enum Distro {
    /// Debian's apache2 with its stock `/etc/apache2`.
    Apache,
    /// Debian's lighttpd with its stock `/etc/lighttpd`.
    Lighttpd,
    /// Debian's nginx with its stock `/etc/nginx`, and fcgiwrap as its unit runs it (socket
    /// `/run/fcgiwrap.socket`, as `www-data`, `-f`, the package's worker count).
    Nginx,
}

impl Distro {
    /// A shell script run as the namespace's first process: loopback up, private `/run` and
    /// `/var/log`, then the server in the foreground with its stock configuration.
    fn script(self) -> &'static str {
        match self {
            Distro::Apache => {
                "set -e
                ip link set lo up
                mount -t tmpfs tmpfs /run
                mkdir /run/lock
                mount -t tmpfs tmpfs /var/log
                . /etc/apache2/envvars
                # What apache2ctl does before starting the server.
                mkdir -p \"$APACHE_RUN_DIR/socks\" \"$APACHE_LOCK_DIR\" \"$APACHE_LOG_DIR\"
                chown \"$APACHE_RUN_USER\" \"$APACHE_RUN_DIR/socks\" \"$APACHE_LOCK_DIR\"
                exec /usr/sbin/apache2 -DFOREGROUND"
            }
            Distro::Lighttpd => {
                "set -e
                ip link set lo up
                mount -t tmpfs tmpfs /run
                mkdir /run/lock
                mount -t tmpfs tmpfs /var/log
                install -d -o www-data -g www-data /var/log/lighttpd
                exec /usr/sbin/lighttpd -D -f /etc/lighttpd/lighttpd.conf"
            }
            Distro::Nginx => {
                "set -e
                ip link set lo up
                mount -t tmpfs tmpfs /run
                mkdir /run/lock
                mount -t tmpfs tmpfs /var/log
                install -d -o www-data -g adm /var/log/nginx
                # What systemd does for fcgiwrap.socket and the package's drop-in.
                setpriv --reuid www-data --regid www-data --init-groups \\
                    /usr/sbin/fcgiwrap -f -c 120 -s unix:/run/fcgiwrap.socket &
                while [ ! -S /run/fcgiwrap.socket ]; do sleep 0.05; done
                exec /usr/sbin/nginx -g 'daemon off;'"
            }
        }
    }

    fn error_log(self) -> &'static str {
        match self {
            Distro::Apache => "var/log/apache2/error.log",
            Distro::Lighttpd => "var/log/lighttpd/error.log",
            Distro::Nginx => "var/log/nginx/error.log",
        }
    }
}

/// A server in its own network, mount and pid namespace (`unshare`). Stopped on drop.
pub struct Namespace {
    distro: Distro,
    unshare: Child,
}

impl Namespace {
    /// Starts `distro` in a new namespace.
    pub fn start(distro: Distro) -> Namespace {
        let unshare = Command::new("unshare")
            .args([
                "--net",
                "--mount",
                "--pid",
                "--fork",
                "--mount-proc",
                "--kill-child=SIGKILL",
                "--",
                "sh",
                "-c",
                distro.script(),
            ])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare");
        let ns = Namespace { distro, unshare };
        let own = std::fs::read_link("/proc/self/ns/net").unwrap();
        let theirs = format!("/proc/{}/ns/net", ns.unshare.id());
        wait_for(T, "unshare to make its network namespace", || {
            std::fs::read_link(&theirs).ok().filter(|l| *l != own)
        });
        ns
    }

    /// The host pid of the namespace's first process (the server).
    fn server_pid(&self) -> Option<u32> {
        let pid = self.unshare.id();
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// The server's error log, read through its mount namespace.
    fn error_log(&self) -> String {
        self.server_pid()
            .and_then(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/root/{}", self.distro.error_log()))
                    .ok()
            })
            .unwrap_or_default()
    }

    /// Runs `f` on a thread inside the namespace's network, once port 80 answers.
    pub fn run<T: Send>(&mut self, f: impl FnOnce() -> T + Send) -> T {
        let net = std::fs::File::open(format!("/proc/{}/ns/net", self.unshare.id())).unwrap();
        let distro = self.distro;
        let unshare = &mut self.unshare;
        std::thread::scope(|scope| {
            let client = scope.spawn(move || {
                rustix::thread::move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&net),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .expect("setns into the servers' network namespace");
                wait_for(T, &format!("{distro:?} on port 80"), || {
                    std::net::TcpStream::connect(("127.0.0.1", 80)).ok()
                });
                f()
            });
            // A server that dies while starting fails the test with its status, not a timeout.
            loop {
                if client.is_finished() {
                    break;
                }
                if let Ok(Some(status)) = unshare.try_wait() {
                    panic!("{distro:?} ended with {status} in its namespace");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            client
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        for line in self.error_log().lines() {
            eprintln!("[{:?} error.log] {line}", self.distro);
        }
        // unshare ignores SIGTERM while it waits; the server is the namespace's init, and
        // when it exits the kernel kills what is left in the namespace (CGI programs too).
        // Apache as init has been seen to take over ten seconds to stop on SIGTERM, so it gets
        // three before SIGKILL: nothing here needs a graceful stop.
        if let Some(pid) = self.server_pid() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if matches!(self.unshare.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(pid) = self.server_pid() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}
