//! Ring 4: the Debian package, as an admin meets it. The test builds the package, installs it
//! on this machine with `apt-get install ./serverpush_*.deb`, enables it with `a2enconf`,
//! `lighty-enable-mod` and an `include` in nginx's default site, and runs the distribution's
//! own Apache, lighttpd, then nginx (with fcgiwrap), with their stock
//! configuration from `/etc`, each in a private network, mount and process namespace: port 80
//! on a loopback no one else sees, `/run` and `/var/log` on private tmpfs, so the machine's own
//! network, pid files and logs are untouched. Then it removes and purges the package and checks
//! that nothing is left.
//!
//! The test's client joins the servers' network namespace from one thread (`setns`), so the same
//! raw client as the other server tests reads the streams.
//!
//! Runs as root. Whatever happens, the guard purges the package and puts back what the test
//! changed: enabled Apache modules and confs, lighttpd modules, the inotify limit, the
//! `dpkg-statoverride` it sets for the spool (an admin's choice the package must follow), and a
//! `policy-rc.d` that keeps maintainer scripts from starting or reloading the machine's
//! services.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::client::{request, send};
use crate::namespace::{Distro, Namespace};
use crate::util::{require_tool, wait_for};

const T: Duration = Duration::from_secs(15);
const TOKEN: &str = "package-test-token-5b1f0c8e2d47a9";
const CONFIG: &str = "/etc/serverpush/serverpush.toml";
const SPOOL: &str = "/var/spool/serverpush";
const POLICY: &str = "/usr/sbin/policy-rc.d";

/// Runs a command; fails showing the command, its status and output unless it succeeds.
fn run(program: &str, args: &[&str]) -> Output {
    let output = Command::new(program)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `apt-get` waiting up to five minutes for another apt to finish.
fn apt(args: &[&str]) -> Output {
    let mut all = vec!["-y", "-q", "-o", "DPkg::Lock::Timeout=300"];
    all.extend_from_slice(args);
    run("apt-get", &all)
}

fn is_installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", "serverpush"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// Any trace of the package in dpkg's database (installed, or config files left).
fn is_known_to_dpkg() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${db:Status-Abbrev}", "serverpush"])
        .output()
        .map(|o| {
            let status = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            o.status.success() && !status.is_empty() && !status.starts_with("un")
        })
        .unwrap_or(false)
}

/// Every path under `dir`, not following links.
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    let mut paths = BTreeSet::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            paths.extend(tree(&path));
        }
        paths.insert(path);
    }
    paths
}

/// Where enabling a module, a conf or a lighttpd module leaves traces: the links, and the
/// Apache helper's record of who enabled what.
const TRACES: &[&str] = &[
    "/etc/apache2/mods-enabled",
    "/etc/apache2/conf-enabled",
    "/etc/lighttpd/conf-enabled",
    "/var/lib/apache2",
];

const INOTIFY: &str = "/proc/sys/fs/inotify/max_user_instances";
const NGINX_SITE: &str = "/etc/nginx/sites-available/default";

/// What the test changes on the machine, and puts back on drop, even after a failure.
struct Machine {
    traces: BTreeSet<PathBuf>,
    inotify: String,
    made_policy: bool,
    made_override: bool,
    /// Debian's default nginx site as it was, before the test included the snippet in it.
    nginx_site: Option<String>,
}

impl Machine {
    fn before_install() -> Machine {
        assert!(
            !is_known_to_dpkg(),
            "serverpush is already installed on this machine; the test installs and purges it, \
             so purge it first (apt-get purge serverpush)"
        );
        // Maintainer scripts restart Apache through invoke-rc.d when they enable a module:
        // policy-rc.d's "101" forbids it, so nothing starts outside the namespaces.
        let made_policy = !Path::new(POLICY).exists();
        if made_policy {
            std::fs::write(POLICY, "#!/bin/sh\nexit 101\n").unwrap();
            run("chmod", &["0755", POLICY]);
        }
        Machine {
            traces: TRACES.iter().flat_map(|d| tree(Path::new(d))).collect(),
            inotify: std::fs::read_to_string(INOTIFY).unwrap_or_default(),
            made_policy,
            made_override: false,
            nginx_site: None,
        }
    }

    /// What an admin does to enable serverpush on nginx: include the package's snippet in the
    /// site's `server {}` block (here Debian's default site).
    fn enable_on_nginx(&mut self) {
        let text = std::fs::read_to_string(NGINX_SITE).unwrap();
        let enabled = text.replacen(
            "server_name _;",
            "server_name _;\n\tinclude snippets/serverpush.conf;",
            1,
        );
        assert_ne!(enabled, text, "{NGINX_SITE} has no server_name _;");
        self.nginx_site = Some(text);
        std::fs::write(NGINX_SITE, enabled).unwrap();
    }

    /// An admin's `dpkg-statoverride` for the spool, made before the install: the package must
    /// create the spool as it says, not as its default.
    fn override_spool(&mut self) {
        run(
            "dpkg-statoverride",
            &["--add", "root", "www-data", "2770", SPOOL],
        );
        self.made_override = true;
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        if is_known_to_dpkg() {
            let _ = Command::new("apt-get")
                .args([
                    "purge",
                    "-y",
                    "-q",
                    "-o",
                    "DPkg::Lock::Timeout=300",
                    "serverpush",
                ])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status();
        }
        // What the package enabled and purge leaves on purpose (mod_cgid), or what a failed
        // test left enabled; children before their directories.
        let now: BTreeSet<PathBuf> = TRACES.iter().flat_map(|d| tree(Path::new(d))).collect();
        let added: Vec<&PathBuf> = now.difference(&self.traces).collect();
        for path in added.into_iter().rev() {
            if path.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                let _ = std::fs::remove_dir(path);
            } else {
                let _ = std::fs::remove_file(path);
            }
        }
        let _ = std::fs::write(INOTIFY, self.inotify.trim());
        if self.made_policy {
            let _ = std::fs::remove_file(POLICY);
        }
        if self.made_override {
            let _ = Command::new("dpkg-statoverride")
                .args(["--remove", SPOOL])
                .status();
        }
        if let Some(text) = &self.nginx_site {
            let _ = std::fs::write(NGINX_SITE, text);
        }
    }
}

/// Builds the package with the project's one command; its path.
fn build_package() -> PathBuf {
    let start = Instant::now();
    let deb = crate::util::run_build_script("scripts/build-deb.sh", &[]);
    assert!(
        deb.extension().is_some_and(|e| e == "deb") && deb.is_file(),
        "{}",
        deb.display()
    );
    eprintln!("package built in {:?}: {}", start.elapsed(), deb.display());
    deb
}

/// The camera simulator writing the camera file the config names; killed on drop.
struct Camsim(Child);

impl Drop for Camsim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Publishes over HTTP with the token; the new id.
fn post(channel: &str, text: &str) -> u64 {
    let length = format!("Content-Length: {}", text.len());
    let auth = format!("Authorization: Bearer {TOKEN}");
    let body = format!("\r\n{text}");
    let mut r = request(
        80,
        "POST",
        &format!("/serverpush/cgi-bin/nph-longpoll/{channel}"),
        "HTTP/1.1",
        &[
            &length,
            &auth,
            "Content-Type: text/plain",
            "Connection: close",
            &body,
        ],
    );
    assert_eq!(r.status(), 201, "{}", r.head_text());
    r.read_complete(T);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["id"].as_u64().unwrap()
}

/// The long-poll answer after `since`.
fn poll(channel: &str, since: u64) -> serde_json::Value {
    let mut r = request(
        80,
        "GET",
        &format!("/serverpush/cgi-bin/nph-longpoll/{channel}?since={channel}:{since}&timeout=10"),
        "HTTP/1.1",
        &["Connection: close"],
    );
    assert_eq!(r.status(), 200, "{}", r.head_text());
    r.read_complete(T);
    serde_json::from_slice(&r.body).unwrap()
}

/// Everything a site gets from the package, through the server on port 80 of the namespace.
fn the_site_works(distro: Distro) {
    let what = format!("{distro:?}");
    // The demo page, under the alias the package sets up.
    let mut r = request(
        80,
        "GET",
        "/serverpush/clock.html",
        "HTTP/1.1",
        &["Connection: close"],
    );
    assert_eq!(r.status(), 200, "{what}: {}", r.head_text());
    r.read_complete(T);
    assert!(
        crate::client::find(&r.body, b"cgi-bin/nph-clock").is_some(),
        "{what}"
    );

    // The clock under both names, one tick after another.
    for program in ["nph-clock", "clock"] {
        let target = format!("/serverpush/cgi-bin/{program}?transport=sse&interval=0.2");
        let mut r = request(80, "GET", &target, "HTTP/1.1", &[]);
        assert_eq!(r.status(), 200, "{what} {target}: {}", r.head_text());
        r.read_until_count(b"data: ", 3, T);
        r.close();
    }

    // The operator's probe sees the stream live through the stock server.
    let probe = Command::new("serverpush")
        .args(["probe", "--interval", "0.3", "--ticks", "4"])
        .arg("http://127.0.0.1/serverpush/cgi-bin/nph-clock")
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "{what}: serverpush probe: {}",
        String::from_utf8_lossy(&probe.stdout)
    );

    // The webcam: complete JPEG frames from the file the simulator writes.
    let mut r = request(
        80,
        "GET",
        "/serverpush/cgi-bin/nph-webcam?cam=default",
        "HTTP/1.1",
        &[],
    );
    assert_eq!(r.status(), 200, "{what} webcam: {}", r.head_text());
    for part in r.read_parts(2, T) {
        assert!(part.starts_with(&[0xff, 0xd8]), "{what}: a JPEG part");
    }
    r.close();

    // Publish needs the token, which reaches the program only with CGIPassAuth (Apache).
    let channel = format!("pkg-{}", what.to_lowercase());
    let mut refused = request(
        80,
        "POST",
        &format!("/serverpush/cgi-bin/nph-longpoll/{channel}"),
        "HTTP/1.1",
        &["Content-Length: 2", "Connection: close", "\r\nno"],
    );
    assert_eq!(refused.status(), 401, "{what}: {}", refused.head_text());
    refused.read_complete(T);

    // A long-poll parked before the publish is answered by it.
    let mut parked = send(
        80,
        "GET",
        &format!("/serverpush/cgi-bin/nph-longpoll/{channel}?since={channel}:0&timeout=10"),
        "HTTP/1.1",
        &["Connection: close"],
    );
    let first = post(&channel, "hello from HTTP");
    parked.wait_head();
    assert_eq!(parked.status(), 200, "{what}: {}", parked.head_text());
    parked.read_complete(T);
    let v: serde_json::Value = serde_json::from_slice(&parked.body).unwrap();
    assert_eq!(v["messages"][0]["data"], "hello from HTTP", "{what}");

    // The operator's command writes into the same store, as the web server's user.
    let cli = Command::new("runuser")
        .args(["-u", "www-data", "--", "serverpush", "publish"])
        .arg(&channel)
        .arg("hello from the command")
        .output()
        .unwrap();
    assert!(cli.status.success(), "{what}: serverpush publish: {cli:?}");
    let v = poll(&channel, first);
    assert_eq!(v["messages"][0]["data"], "hello from the command", "{what}");

    // SSE from the start of the channel.
    let mut sse = request(
        80,
        "GET",
        &format!("/serverpush/cgi-bin/nph-longpoll/{channel}?transport=sse&since={channel}:0"),
        "HTTP/1.1",
        &["Accept: text/event-stream"],
    );
    assert_eq!(sse.status(), 200, "{what}: {}", sse.head_text());
    sse.read_until_count(b"hello from the command", 1, T);
    assert!(crate::client::find(&sse.body, b"hello from HTTP").is_some());
    sse.close();

    // The Mercure hub on the site's root, once the package's configuration is enabled.
    let topic = format!("https://example.com/{}", what.to_lowercase());
    let id = crate::mercure::served::post(80, &format!("topic={topic}&data=hello+from+Mercure"));
    let reader = format!("Authorization: Bearer {}", crate::mercure::subscriber(&[]));
    let mut hub = request(
        80,
        "GET",
        &format!("/.well-known/mercure?topic={topic}&lastEventID=earliest"),
        "HTTP/1.1",
        &[&reader],
    );
    assert_eq!(hub.status(), 200, "{what}: {}", hub.head_text());
    hub.read_until_count(b"hello from Mercure", 1, T);
    assert!(
        crate::client::find(&hub.body, format!("id: {id}\n").as_bytes()).is_some(),
        "{what}: {:?}",
        String::from_utf8_lossy(&hub.body)
    );
    hub.close();
}

/// Writes the test's settings into the installed config: a publish token, a token secret for
/// the Mercure hub, and a camera whose file the simulator writes.
fn configure(cams: &Path) {
    let text = std::fs::read_to_string(CONFIG).unwrap();
    // Top-level keys go before any table; the camera table goes last.
    let text = format!(
        "publish_token = \"{TOKEN}\"\njwt_secret = \"{}\"\n{text}\n[cameras]\ndefault = \"{}/cam.jpg\"\n",
        crate::mercure::SECRET,
        cams.display()
    );
    std::fs::write(CONFIG, text).unwrap();
}

/// Runs `serverpush check`, which must find no error; its report.
fn check_passes(what: &str) -> String {
    let output = Command::new("serverpush")
        .args(["check", "--clients", "50"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "serverpush check {what}: {}\n{report}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    report
}

#[test]
fn package_installs_serves_and_purges() {
    assert!(
        rustix::process::geteuid().is_root(),
        "the package test installs a package: run it as root"
    );
    for (tool, package) in [
        ("/usr/bin/dpkg-deb", "dpkg"),
        ("/usr/bin/dpkg-shlibdeps", "dpkg-dev"),
        ("/usr/bin/apt-get", "apt"),
        ("/usr/bin/unshare", "util-linux"),
        ("/usr/sbin/runuser", "util-linux"),
        ("/usr/sbin/ip", "iproute2"),
        ("/usr/sbin/apache2", "apache2"),
        ("/usr/sbin/a2enconf", "apache2"),
        ("/usr/sbin/lighttpd", "lighttpd"),
        ("/usr/sbin/lighty-enable-mod", "lighttpd"),
        ("/usr/sbin/nginx", "nginx"),
        ("/usr/sbin/fcgiwrap", "fcgiwrap"),
        ("/usr/bin/setpriv", "util-linux"),
    ] {
        require_tool(tool, package);
    }
    let deb = build_package();
    let mut machine = Machine::before_install();
    machine.override_spool();

    let start = Instant::now();
    apt(&["install", &deb.display().to_string()]);
    eprintln!("installed in {:?}", start.elapsed());
    assert!(is_installed());
    let listed = String::from_utf8_lossy(&run("dpkg-query", &["-L", "serverpush"]).stdout)
        .lines()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    for path in [
        "/usr/bin/serverpush",
        "/usr/lib/cgi-bin/serverpush/nph-clock",
        "/usr/lib/cgi-bin/serverpush/clock",
        "/usr/lib/cgi-bin/serverpush/nph-webcam",
        "/usr/lib/cgi-bin/serverpush/webcam",
        "/usr/lib/cgi-bin/serverpush/nph-longpoll",
        "/usr/lib/cgi-bin/serverpush/longpoll",
        CONFIG,
        "/etc/apache2/conf-available/serverpush.conf",
        "/etc/lighttpd/conf-available/50-serverpush.conf",
        "/usr/lib/sysctl.d/50-serverpush.conf",
        "/usr/share/man/man1/serverpush.1.gz",
        "/usr/share/man/man1/serverpush-check.1.gz",
        "/usr/share/serverpush/www/clock.html",
    ] {
        assert!(
            listed.iter().any(|p| p == path),
            "{path} is not in the package"
        );
        assert!(Path::new(path).exists(), "{path} is not installed");
    }
    let conffiles = String::from_utf8_lossy(
        &run("dpkg-query", &["-W", "-f", "${Conffiles}", "serverpush"]).stdout,
    )
    .into_owned();
    for conffile in [
        CONFIG,
        "/etc/apache2/conf-available/serverpush.conf",
        "/etc/lighttpd/conf-available/50-serverpush.conf",
    ] {
        assert!(conffiles.contains(conffile), "{conffile}: {conffiles}");
    }
    // As the override says (without one: www-data:www-data 0750).
    let spool = std::fs::metadata(SPOOL).unwrap();
    assert!(spool.is_dir());
    assert_eq!(
        (spool.uid(), spool.gid(), spool.mode() & 0o7777),
        (0, 33, 0o2770),
        "{SPOOL} is as dpkg-statoverride says"
    );
    // The config may hold secrets: root writes it, the web server's group reads it, no one else.
    let config = std::fs::metadata(CONFIG).unwrap();
    assert_eq!(
        (config.uid(), config.gid(), config.mode() & 0o7777),
        (0, 33, 0o640),
        "{CONFIG} is root:www-data 0640"
    );
    assert!(Path::new("/etc/apache2/mods-enabled/cgid.load").exists());
    let inotify: u64 = std::fs::read_to_string(INOTIFY)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(inotify >= 8192, "the inotify limit is {inotify}");
    let man = run("serverpush", &["publish", "--help"]);
    assert!(String::from_utf8_lossy(&man.stdout).contains("--config"));

    // The admin's two commands.
    run("a2enconf", &["-q", "serverpush"]);
    run("lighty-enable-mod", &["serverpush"]);
    machine.enable_on_nginx();
    check_passes("of the package's own configuration");

    let cams = tempfile::Builder::new()
        .prefix("serverpush-pkg-cams-")
        .tempdir()
        .unwrap();
    run("chmod", &["0755", &cams.path().display().to_string()]);
    configure(cams.path());
    let _camsim = Camsim(
        Command::new("serverpush")
            .args(["camsim", "--fps", "10", "--width", "160", "--height", "120"])
            .arg("--seconds")
            .arg("300")
            .arg("--out")
            .arg(cams.path().join("cam.jpg"))
            .spawn()
            .unwrap(),
    );
    wait_for(T, "the first camera frame", || {
        cams.path().join("cam.jpg").exists().then_some(())
    });
    // The token written into the package's config stays hidden from other users.
    let report = check_passes("with a publish token");
    assert!(!report.contains("every local user can read it"), "{report}");

    for distro in [Distro::Apache, Distro::Lighttpd, Distro::Nginx] {
        let start = Instant::now();
        let mut ns = Namespace::start(distro);
        ns.run(|| the_site_works(distro));
        let served = start.elapsed();
        drop(ns);
        eprintln!(
            "{distro:?} in its namespace: checks done after {served:?}, stopped after {:?}",
            start.elapsed()
        );
    }

    // The operator's view of the store: both channels, and one followed from its start.
    let channels = run("serverpush", &["channels"]);
    let listing = String::from_utf8_lossy(&channels.stdout);
    for channel in ["pkg-apache", "pkg-lighttpd"] {
        let line = listing.lines().find(|l| l.starts_with(channel));
        assert!(
            line.is_some_and(|l| l.split_whitespace().nth(1) == Some("1")
                && l.split_whitespace().nth(2) == Some("2")),
            "{listing}"
        );
    }
    let tail = run(
        "serverpush",
        &["tail", "--since", "0", "--no-follow", "pkg-apache"],
    );
    let tail = String::from_utf8_lossy(&tail.stdout);
    assert!(
        tail.starts_with("1 ") && tail.contains("hello from HTTP") && tail.contains("\n2 "),
        "{tail}"
    );

    // Remove keeps the configuration; purge takes it and the spool away, and nothing is left.
    apt(&["remove", "serverpush"]);
    assert!(Path::new(CONFIG).exists(), "remove keeps {CONFIG}");
    assert!(Path::new("/etc/apache2/conf-available/serverpush.conf").exists());
    assert!(!Path::new("/usr/lib/cgi-bin/serverpush/nph-clock").exists());
    assert!(!Path::new("/usr/bin/serverpush").exists());
    apt(&["purge", "serverpush"]);
    assert!(
        !is_known_to_dpkg(),
        "dpkg still knows serverpush after purge"
    );
    let mut left: Vec<String> = listed
        .iter()
        .filter(|p| {
            // Directories other packages own (or the system has) stay.
            let shared = [
                "/.",
                "/etc",
                "/usr",
                "/var",
                "/usr/lib",
                "/usr/bin",
                "/usr/share",
                "/usr/lib/cgi-bin",
                "/usr/share/doc",
                "/usr/share/man",
                "/usr/share/man/man1",
                "/etc/apache2",
                "/etc/apache2/conf-available",
                "/etc/lighttpd",
                "/etc/lighttpd/conf-available",
                "/etc/nginx",
                "/etc/nginx/snippets",
                "/usr/lib/sysctl.d",
                "/usr/lib/systemd",
                "/usr/lib/systemd/system",
            ];
            !shared.contains(&p.as_str()) && Path::new(p).symlink_metadata().is_ok()
        })
        .cloned()
        .collect();
    for extra in [
        SPOOL,
        "/etc/serverpush",
        "/etc/apache2/conf-enabled/serverpush.conf",
        "/etc/lighttpd/conf-enabled/50-serverpush.conf",
    ] {
        if Path::new(extra).symlink_metadata().is_ok() {
            left.push(extra.to_owned());
        }
    }
    assert!(left.is_empty(), "left after purge: {left:?}");
    drop(machine);
}
