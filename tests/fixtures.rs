//! Real-server fixtures. Each owns a private directory and a free loopback port, renders its
//! config from the templates in `apache-conf/`, waits for the port with a deadline, and kills
//! and reaps the server on `Drop`, printing the server's error log with a prefix.

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::{bin, copy_tree, free_port, repo, require_tool, wait_for};

/// What a server serves: the programs under their NPH and CGI names, the demo pages, a config.
pub struct Site {
    /// The private directory; removed on drop.
    pub dir: tempfile::TempDir,
    /// The `cgi-bin` directory.
    pub cgi_bin: PathBuf,
    /// The document root (a copy of `www/`).
    pub www: PathBuf,
    /// The serverpush config file.
    pub config: PathBuf,
    /// A directory for camera files, readable by the server's workers.
    pub cams: PathBuf,
    /// The channel spool, writable by the server's workers.
    pub spool: PathBuf,
}

impl Site {
    /// A site whose serverpush config is `config_toml`, in which `@CAMS@` names the site's
    /// camera directory.
    pub fn new(config_toml: &str) -> Site {
        let dir = tempfile::Builder::new()
            .prefix("serverpush-test-")
            .tempdir()
            .unwrap();
        // The server's workers run as www-data when the tests run as root: let them in.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let cgi_bin = dir.path().join("cgi-bin");
        let www = dir.path().join("www");
        std::fs::create_dir_all(&cgi_bin).unwrap();
        copy_tree(&repo().join("www"), &www);
        for program in ["nph-clock", "nph-webcam", "nph-longpoll"] {
            let from = bin(program);
            std::fs::copy(&from, cgi_bin.join(program)).unwrap();
            // The same program under a name without the prefix runs as parsed-header CGI.
            let plain = program.trim_start_matches("nph-");
            std::fs::copy(&from, cgi_bin.join(plain)).unwrap();
        }
        let cams = dir.path().join("cams");
        std::fs::create_dir_all(&cams).unwrap();
        std::fs::set_permissions(&cams, std::fs::Permissions::from_mode(0o755)).unwrap();
        let spool = dir.path().join("spool");
        std::fs::create_dir_all(&spool).unwrap();
        let (user, _) = run_as();
        let _ = Command::new("chown").arg(&user).arg(&spool).status();
        let config = dir.path().join("serverpush.toml");
        let text = config_toml
            .replace("@CAMS@", &cams.display().to_string())
            .replace("@SPOOL@", &spool.display().to_string());
        std::fs::write(&config, text).unwrap();
        Site {
            dir,
            cgi_bin,
            www,
            config,
            cams,
            spool,
        }
    }

    /// The path of an installed program.
    pub fn program(&self, name: &str) -> PathBuf {
        self.cgi_bin.join(name)
    }

    /// Renders a template from `apache-conf/` (or any path) for this site.
    pub fn render(&self, template: &str, root: &Path, port: u16) -> String {
        let path = repo().join("apache-conf").join(template);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (user, group) = run_as();
        text.replace("@ROOT@", &root.display().to_string())
            .replace("@PORT@", &port.to_string())
            .replace("@USER@", &user)
            .replace("@GROUP@", &group)
            .replace("@MODULES@", "/usr/lib/apache2/modules")
            .replace("@WWW@", &self.www.display().to_string())
            .replace("@CGI_BIN@", &self.cgi_bin.display().to_string())
            .replace("@CONFIG@", &self.config.display().to_string())
    }
}

/// The user and group the servers' workers run as: www-data when the tests run as root (neither
/// server runs its workers as root), the current user otherwise.
pub fn run_as() -> (String, String) {
    let uid = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Uid:")
                .map(|v| v.split_whitespace().next().unwrap_or("").to_owned())
        })
        .unwrap_or_default();
    if uid == "0" {
        ("www-data".into(), "www-data".into())
    } else {
        let user = std::env::var("USER").unwrap_or_else(|_| "nobody".into());
        let group = Command::new("id")
            .arg("-gn")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        (user, group)
    }
}

/// A running server process.
pub struct Server {
    /// Which server, for log prefixes.
    pub name: &'static str,
    /// Its loopback port.
    pub port: u16,
    child: Child,
    error_logs: Vec<PathBuf>,
}

impl Server {
    /// Apache httpd 2.4 (mpm_event, mod_cgid) serving `site`.
    pub fn apache(site: &Site) -> Server {
        Server::apache_with(site, |conf| conf)
    }

    /// Apache with its rendered `httpd.conf` changed by `tweak` (the benchmark raises the worker
    /// limits and adds the peer scripts).
    pub fn apache_with(site: &Site, tweak: impl FnOnce(String) -> String) -> Server {
        require_tool("/usr/sbin/apache2", "apache2");
        let root = site.dir.path().join("apache");
        std::fs::create_dir_all(&root).unwrap();
        let port = free_port();
        std::fs::write(
            root.join("serverpush.conf"),
            site.render("serverpush.conf.in", &root, port),
        )
        .unwrap();
        let conf = root.join("httpd.conf");
        std::fs::write(&conf, tweak(site.render("httpd.conf.in", &root, port))).unwrap();
        let child = Command::new("/usr/sbin/apache2")
            .arg("-f")
            .arg(&conf)
            .arg("-DFOREGROUND")
            .stdin(Stdio::null())
            .spawn()
            .expect("start apache2");
        Server::wait_up("apache", port, child, vec![root.join("error.log")])
    }

    /// lighttpd 1.4 serving `site`.
    pub fn lighttpd(site: &Site) -> Server {
        Server::lighttpd_with(site, |conf| conf)
    }

    /// lighttpd with its rendered `lighttpd.conf` changed by `tweak` (the probe tests take
    /// `server.stream-response-body` away).
    pub fn lighttpd_with(site: &Site, tweak: impl FnOnce(String) -> String) -> Server {
        require_tool("/usr/sbin/lighttpd", "lighttpd");
        let root = site.dir.path().join("lighttpd");
        std::fs::create_dir_all(&root).unwrap();
        let port = free_port();
        let conf = root.join("lighttpd.conf");
        std::fs::write(&conf, tweak(site.render("lighttpd.conf.in", &root, port))).unwrap();
        let error_logs = vec![
            root.join("lighttpd-error.log"),
            root.join("lighttpd-cgi-error.log"),
        ];
        // lighttpd opens its logs after giving up root: create them for its user.
        let (user, _) = run_as();
        for log in &error_logs {
            std::fs::write(log, "").unwrap();
            let _ = Command::new("chown").arg(&user).arg(log).status();
        }
        let child = Command::new("/usr/sbin/lighttpd")
            .arg("-D")
            .arg("-f")
            .arg(&conf)
            .stdin(Stdio::null())
            .spawn()
            .expect("start lighttpd");
        Server::wait_up("lighttpd", port, child, error_logs)
    }

    fn wait_up(
        name: &'static str,
        port: u16,
        mut child: Child,
        error_logs: Vec<PathBuf>,
    ) -> Server {
        wait_for(
            Duration::from_secs(15),
            &format!("{name} on port {port}"),
            || {
                if let Ok(Some(status)) = child.try_wait() {
                    let log: String = error_logs
                        .iter()
                        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
                        .collect();
                    panic!("{name} exited with {status} before listening; error log:\n{log}");
                }
                TcpStream::connect(("127.0.0.1", port)).ok()
            },
        );
        Server {
            name,
            port,
            child,
            error_logs,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's error log so far (for lighttpd, with its log of CGI stderr).
    pub fn error_log(&self) -> String {
        self.error_logs
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM lets both servers stop their children (CGI processes included) before exiting.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let stopped = (0..250).any(|_| {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
            false
        });
        if !stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for line in self.error_log().lines() {
            eprintln!("[{} error.log] {line}", self.name);
        }
    }
}

/// A private Redis server on a free loopback port, with its own config and data directory
/// (append-only file, fsync on every write), never the system service. Killed on `Drop`.
pub struct Redis {
    /// Its port.
    pub port: u16,
    /// Its `appendfsync` policy.
    pub appendfsync: &'static str,
    /// Its data directory; the append-only file lives here across restarts.
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Redis {
    /// Starts Redis as `apache-conf/redis-serverpush.conf` recommends (`appendfsync always`)
    /// and waits until it answers.
    pub fn start() -> Redis {
        Redis::start_with("always")
    }

    /// Starts Redis with another `appendfsync` policy (`everysec`, `no`).
    pub fn start_with(appendfsync: &'static str) -> Redis {
        require_tool("/usr/bin/redis-server", "redis-server");
        let dir = tempfile::Builder::new()
            .prefix("serverpush-redis-")
            .tempdir()
            .unwrap();
        let mut redis = Redis {
            port: free_port(),
            appendfsync,
            dir,
            child: None,
        };
        redis.launch();
        redis
    }

    /// The URL the serverpush config names.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn launch(&mut self) {
        let conf = self.dir.path().join("redis.conf");
        std::fs::write(
            &conf,
            format!(
                "bind 127.0.0.1\nport {}\ndir {}\nappendonly yes\nappendfsync {}\nsave \"\"\ndaemonize no\nlogfile \"\"\nloglevel warning\nmaxclients 4000\n",
                self.port,
                self.dir.path().display(),
                self.appendfsync
            ),
        )
        .unwrap();
        let child = Command::new("/usr/bin/redis-server")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for(Duration::from_secs(20), "redis to answer PING", || {
            let mut con = self.connection_now()?;
            redis::cmd("PING").query::<String>(&mut con).ok()
        });
    }

    fn connection_now(&self) -> Option<redis::Connection> {
        redis::Client::open(self.url())
            .ok()?
            .get_connection_with_timeout(Duration::from_millis(500))
            .ok()
    }

    /// A connection for the test's own commands.
    pub fn connection(&self) -> redis::Connection {
        self.connection_now().expect("redis answers")
    }

    /// Kills the server at once (SIGKILL: what it acknowledged must be in its append-only file).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        wait_for(Duration::from_secs(10), "redis's port to close", || {
            TcpStream::connect(("127.0.0.1", self.port))
                .is_err()
                .then_some(())
        });
    }

    /// Starts it again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
