//! Real-server fixtures. Each owns a private directory and a free loopback port, renders its
//! config from the templates in `apache-conf/`, waits for the port with a deadline, and kills
//! and reaps the server on `Drop`, printing the server's error log with a prefix.

use std::ffi::OsString;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
        for program in ["nph-clock", "nph-webcam", "nph-longpoll", "nph-mercure"] {
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
        // Each site counts its own streams, so tests running side by side never share a cap.
        let streams = dir.path().join("streams");
        std::fs::create_dir_all(&streams).unwrap();
        let _ = Command::new("chown").arg(&user).arg(&streams).status();
        let config = dir.path().join("serverpush.toml");
        let text = stream_cap_for_tests(config_toml, &streams)
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

    /// The site's spool store, opened as the programs open it (a thousand messages kept an hour).
    pub fn store(&self) -> serverpush::store::SpoolStore {
        serverpush::store::SpoolStore::new(
            &self.spool,
            serverpush::store::Retention {
                messages: 1000,
                max_age: Duration::from_secs(3600),
                idempotency: Duration::from_secs(60),
            },
        )
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

    /// Renders a TLS template (`httpd-tls.conf.in`, `lighttpd-tls.conf.in`) with a fresh
    /// self-signed certificate and a free port; returns the port and the text.
    pub fn render_tls(&self, template: &str, root: &Path, port: u16) -> (u16, String) {
        let (cert, key) = self_signed_certificate(root);
        let tls_port = free_port();
        let text = self
            .render(template, root, port)
            .replace("@TLS_PORT@", &tls_port.to_string())
            .replace("@CERT@", &cert.display().to_string())
            .replace("@KEY@", &key.display().to_string());
        (tls_port, text)
    }
}

/// Makes a self-signed certificate for 127.0.0.1 in `dir` with the openssl CLI; returns the
/// certificate and key files (PEM). Clients of the test servers skip verification.
pub fn self_signed_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    require_tool("/usr/bin/openssl", "openssl");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let output = Command::new("/usr/bin/openssl")
        .args(["req", "-x509", "-nodes", "-days", "2", "-newkey", "ec"])
        .args([
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl req: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    (cert, key)
}

/// `config_toml` with a private `streams_dir` and, unless the test sets its own, a cap no test
/// reaches (keys go first: TOML tables may follow).
pub fn stream_cap_for_tests(config_toml: &str, streams: &Path) -> String {
    let mut text = String::new();
    if !config_toml.contains("streams_dir") {
        text.push_str(&format!("streams_dir = \"{}\"\n", streams.display()));
    }
    if !config_toml.contains("max_streams") {
        text.push_str("max_streams = 20000\n");
    }
    text + config_toml
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

/// The test Apache config with room for `workers` held connections (mpm_event, 64 threads a
/// process): what many streams at once need.
pub fn raise_workers(conf: String, workers: usize) -> String {
    conf.replace(
        "ServerLimit 4",
        &format!("ServerLimit {}", workers.div_ceil(64)),
    )
    .replace(
        "MaxRequestWorkers 256",
        &format!("MaxRequestWorkers {workers}"),
    )
    .replace("MaxSpareThreads 256", &format!("MaxSpareThreads {workers}"))
}

/// A running server process.
pub struct Server {
    /// Which server, for log prefixes.
    pub name: &'static str,
    /// Its loopback port (HTTP/1.x, and HTTP/2 in clear text).
    pub port: u16,
    /// Its HTTPS port (HTTP/1.1 and h2), when started with TLS.
    pub tls_port: Option<u16>,
    child: Child,
    /// How it was started, to start it again.
    command: Vec<OsString>,
    /// Processes the server needs beside it (nginx's fcgiwrap), stopped after it.
    helper: Option<Group>,
    error_logs: Vec<PathBuf>,
}

/// Every web server the suite runs under, by name, started for a site: a test that must hold
/// under each runs its check for every entry, so a new server is one entry here (and its
/// template in `apache-conf/`).
pub const SERVERS: &[(&str, StartServer)] = &[
    ("Apache", Server::apache),
    ("lighttpd", Server::lighttpd),
    ("nginx", Server::nginx),
];

/// How a server is started for a site.
pub type StartServer = fn(&Site) -> Server;

impl Server {
    /// Apache httpd 2.4 (mpm_event, mod_cgid, mod_http2 with h2c) serving `site`.
    pub fn apache(site: &Site) -> Server {
        Server::apache_with(site, |conf| conf)
    }

    /// Apache with its rendered `httpd.conf` changed by `tweak` (the benchmark raises the worker
    /// limits and adds the peer scripts).
    pub fn apache_with(site: &Site, tweak: impl FnOnce(String) -> String) -> Server {
        Server::start_apache(site, false, tweak)
    }

    /// Apache serving `site` on a second port with HTTPS and HTTP/2 too (`httpd-tls.conf.in`,
    /// a self-signed certificate made for the test).
    pub fn apache_tls(site: &Site) -> Server {
        Server::start_apache(site, true, |conf| conf)
    }

    fn start_apache(site: &Site, tls: bool, tweak: impl FnOnce(String) -> String) -> Server {
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
        let mut text = tweak(site.render("httpd.conf.in", &root, port));
        let tls_port = tls.then(|| {
            let (tls_port, tls_conf) = site.render_tls("httpd-tls.conf.in", &root, port);
            let path = root.join("tls.conf");
            std::fs::write(&path, tls_conf).unwrap();
            text.push_str(&format!("Include \"{}\"\n", path.display()));
            tls_port
        });
        std::fs::write(&conf, text).unwrap();
        let command = argv(&["/usr/sbin/apache2", "-f"], &conf, &["-DFOREGROUND"]);
        Server::wait_up(
            "apache",
            port,
            tls_port,
            command,
            vec![root.join("error.log")],
        )
    }

    /// lighttpd 1.4 serving `site` (HTTP/1.x and h2c).
    pub fn lighttpd(site: &Site) -> Server {
        Server::start_lighttpd(site, false, |conf| conf)
    }

    /// lighttpd with its rendered `lighttpd.conf` changed by `tweak` (the client tests take
    /// out response streaming to play a buffering server).
    pub fn lighttpd_with(site: &Site, tweak: impl FnOnce(String) -> String) -> Server {
        Server::start_lighttpd(site, false, tweak)
    }

    /// lighttpd serving `site` on a second port with HTTPS and HTTP/2 too
    /// (`lighttpd-tls.conf.in`, mod_openssl, a self-signed certificate made for the test).
    pub fn lighttpd_tls(site: &Site) -> Server {
        Server::start_lighttpd(site, true, |conf| conf)
    }

    fn start_lighttpd(site: &Site, tls: bool, tweak: impl FnOnce(String) -> String) -> Server {
        require_tool("/usr/sbin/lighttpd", "lighttpd");
        let root = site.dir.path().join("lighttpd");
        std::fs::create_dir_all(&root).unwrap();
        let port = free_port();
        let conf = root.join("lighttpd.conf");
        let mut text = tweak(site.render("lighttpd.conf.in", &root, port));
        let tls_port = tls.then(|| {
            require_tool("/usr/lib/lighttpd/mod_openssl.so", "lighttpd-mod-openssl");
            let (tls_port, tls_conf) = site.render_tls("lighttpd-tls.conf.in", &root, port);
            let path = root.join("tls.conf");
            std::fs::write(&path, tls_conf).unwrap();
            text.push_str(&format!("include \"{}\"\n", path.display()));
            tls_port
        });
        std::fs::write(&conf, text).unwrap();
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
        let command = argv(&["/usr/sbin/lighttpd", "-D", "-f"], &conf, &[]);
        Server::wait_up("lighttpd", port, tls_port, command, error_logs)
    }

    /// nginx serving `site`, its CGI programs run by an fcgiwrap of its own (the shipped
    /// `serverpush-nginx.conf.in` in `nginx.conf.in`), on a private socket, as the programs'
    /// user.
    pub fn nginx(site: &Site) -> Server {
        Server::start_nginx(site, false, 64, |_, conf| conf)
    }

    /// nginx with `workers` fcgiwrap workers, each of its rendered files changed by `tweak`
    /// (given the file's name and text: `nginx.conf`, `serverpush-nginx.conf`, and
    /// `serverpush-fastcgi.conf`, what every serverpush location passes to fcgiwrap).
    pub fn nginx_with(
        site: &Site,
        workers: usize,
        tweak: impl FnMut(&str, String) -> String,
    ) -> Server {
        Server::start_nginx(site, false, workers, tweak)
    }

    /// nginx serving `site` on a second port with HTTPS and HTTP/2 too (`nginx-tls.conf.in`, a
    /// self-signed certificate made for the test).
    pub fn nginx_tls(site: &Site) -> Server {
        Server::start_nginx(site, true, 64, |_, conf| conf)
    }

    fn start_nginx(
        site: &Site,
        tls: bool,
        workers: usize,
        mut tweak: impl FnMut(&str, String) -> String,
    ) -> Server {
        require_tool("/usr/sbin/nginx", "nginx");
        require_tool("/usr/sbin/fcgiwrap", "fcgiwrap");
        let root = site.dir.path().join("nginx");
        let sockets = root.join("fcgiwrap");
        std::fs::create_dir_all(&sockets).unwrap();
        let (user, _) = run_as();
        let _ = Command::new("chown").arg(&user).arg(&sockets).status();
        let socket = sockets.join("fcgiwrap.sock");
        let port = free_port();
        let render = |template: &str| {
            site.render(template, &root, port)
                .replace("@FCGIWRAP@", &socket.display().to_string())
                .replace("@SNIPPETS@", &root.display().to_string())
        };
        for name in [
            "serverpush-nginx.conf",
            "serverpush-fastcgi.conf",
            "nginx.conf",
        ] {
            let text = tweak(name, render(&format!("{name}.in")));
            std::fs::write(root.join(name), text).unwrap();
        }
        let tls_port = tls.then(|| {
            let (tls_port, text) = site.render_tls("nginx-tls.conf.in", &root, port);
            std::fs::write(root.join("tls.conf"), text).unwrap();
            tls_port
        });
        let error_logs = vec![root.join("error.log"), root.join("fcgiwrap.log")];
        // fcgiwrap runs the programs as itself: as the user the other servers run them as.
        let log = std::fs::File::create(&error_logs[1]).unwrap();
        let mut fcgiwrap = Command::new("/usr/sbin/fcgiwrap");
        fcgiwrap
            // -f: the programs' stderr to nginx's error log, as Debian's unit runs it.
            .args(["-f", "-c", &workers.to_string(), "-s"])
            .arg(format!("unix:{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        use std::os::unix::process::CommandExt;
        // Its own process group, so that its workers stop with it.
        fcgiwrap.process_group(0);
        if rustix::process::geteuid().is_root() {
            let id = |flag: &str| -> u32 {
                let out = Command::new("id").arg(flag).arg(&user).output().unwrap();
                String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
            };
            fcgiwrap.gid(id("-g")).uid(id("-u"));
        }
        let helper = Group(fcgiwrap.spawn().expect("start fcgiwrap"));
        // fcgiwrap forks its workers after making the socket: wait for them all, or a benchmark
        // counts the forking of thousands as the streams' cost.
        let parent = helper.0.id();
        wait_for(
            Duration::from_secs(120),
            &format!("fcgiwrap's socket and {workers} workers"),
            || (socket.exists() && children_of(parent) >= workers).then_some(()),
        );
        let command = argv(
            &["/usr/sbin/nginx", "-c"],
            &root.join("nginx.conf"),
            &["-g", "daemon off;"],
        );
        let mut server = Server::wait_up("nginx", port, tls_port, command, error_logs);
        server.helper = Some(helper);
        server
    }

    /// Apache from a config of the test's own (`conf`, listening on `port`, its error log in
    /// `conf`'s directory), ready once `ready` (a one-shot program's URL) answers 200: a host
    /// the test plays, such as a shared host with suEXEC and user directories.
    pub fn apache_from(conf: &Path, port: u16, ready: &str) -> Server {
        require_tool("/usr/sbin/apache2", "apache2");
        let command = argv(&["/usr/sbin/apache2", "-f"], conf, &["-DFOREGROUND"]);
        let log = conf
            .parent()
            .expect("a config in a directory")
            .join("error.log");
        Server::wait_up_at("apache", port, None, command, vec![log], ready)
    }

    fn wait_up(
        name: &'static str,
        port: u16,
        tls_port: Option<u16>,
        command: Vec<OsString>,
        error_logs: Vec<PathBuf>,
    ) -> Server {
        let ready = "/cgi-bin/nph-clock?transport=json";
        Server::wait_up_at(name, port, tls_port, command, error_logs, ready)
    }

    fn wait_up_at(
        name: &'static str,
        port: u16,
        tls_port: Option<u16>,
        command: Vec<OsString>,
        error_logs: Vec<PathBuf>,
        ready: &str,
    ) -> Server {
        let mut child = launch(&command, name);
        for port in std::iter::once(port).chain(tls_port) {
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
        }
        // Listening is not serving: Apache's CGI daemon (mod_cgid) may still be starting, and a
        // request that reaches it too early is a 503. Wait until a one-shot program answers.
        wait_for(
            Duration::from_secs(15),
            &format!("{name} to run CGI programs"),
            || {
                let mut r = crate::client::send(port, "GET", ready, "HTTP/1.0", &[]);
                r.wait_head();
                (r.status() == 200).then_some(())
            },
        );
        Server {
            name,
            port,
            tls_port,
            child,
            command,
            helper: None,
            error_logs,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server (and the programs it runs; nginx's fcgiwrap stays) and waits until its
    /// port is closed.
    pub fn stop(&self) {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        wait_for(
            Duration::from_secs(15),
            &format!("{} to stop", self.name),
            || {
                TcpStream::connect(("127.0.0.1", self.port))
                    .is_err()
                    .then_some(())
            },
        );
    }

    /// Starts a stopped server again, on its port and from its config, and waits until it
    /// listens.
    pub fn start_again(&self) -> Restarted {
        let restarted = Restarted(launch(&self.command, self.name));
        wait_for(
            Duration::from_secs(15),
            &format!("{} to listen again", self.name),
            || TcpStream::connect(("127.0.0.1", self.port)).ok(),
        );
        restarted
    }

    /// The process id of what the server needs beside it (nginx's fcgiwrap), if anything.
    pub fn helper_pid(&self) -> Option<u32> {
        self.helper.as_ref().map(|group| group.0.id())
    }

    /// The text of its rendered config file `name` (they sit beside its first error log).
    pub fn config(&self, name: &str) -> String {
        let dir = self.error_logs[0].parent().expect("a log in a directory");
        std::fs::read_to_string(dir.join(name)).unwrap()
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
        // Then what it needed beside it.
        self.helper.take();
        for line in self.error_log().lines() {
            eprintln!("[{} error.log] {line}", self.name);
        }
    }
}

/// How many processes have `parent` as their parent.
fn children_of(parent: u32) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // The parent's id is the second field after the command's closing parenthesis.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                == Some(parent)
        })
        .count()
}

/// `program fixed… file rest…` as a command line.
fn argv(fixed: &[&str], file: &Path, rest: &[&str]) -> Vec<OsString> {
    let mut argv: Vec<OsString> = fixed.iter().map(OsString::from).collect();
    argv.push(file.as_os_str().to_owned());
    argv.extend(rest.iter().map(OsString::from));
    argv
}

fn launch(command: &[OsString], name: &str) -> Child {
    use std::os::unix::process::CommandExt;
    Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::null())
        // A process group of its own: Apache's prefork MPM ends its whole group on shutdown
        // (killpg), which in the test's group would be the test run itself.
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"))
}

/// A server started again from a stopped fixture's command line, stopped on drop.
pub struct Restarted(Child);

impl Drop for Restarted {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !matches!(self.0.try_wait(), Ok(Some(_))) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process group (a process and the workers it forks), killed whole on drop, so that a test
/// that fails while starting a server leaves none of it behind.
pub struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(group) = rustix::process::Pid::from_raw(self.0.id() as i32) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = self.0.wait();
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
