//! Scenario 8, apart from the default run (`scripts/bench.sh --crowd [N]`): N
//! streaming clients (10,000 by default) on one host, under Apache, lighttpd and nginx with
//! fcgiwrap set up as `apache-conf/` documents for that many, beside the C floor program at the
//! same N. `--crowd-under apache` (or `lighttpd`, `nginx`) runs one server's pair only and
//! writes its report under `target/`.
//!
//! One thread holds every client on one epoll instance, so the load client costs one process
//! and no thread per client: 10,000 threads here would take as many of the host's process ids
//! as the server's own.

#[allow(unused_imports)]
use super::*;

use std::io::{Read, Write};
use std::net::TcpStream;

use rustix::event::{Timespec, epoll};

/// What one crowd measured.
pub(crate) struct Crowd {
    pub(crate) server: &'static str,
    pub(crate) program: &'static str,
    pub(crate) clients: usize,
    /// Clients whose stream had started (its opening `retry:` seen).
    pub(crate) connected: usize,
    pub(crate) connect_secs: f64,
    /// The server's whole process tree (server, workers, CGI programs; under nginx with
    /// fcgiwrap's), PSS.
    pub(crate) tree_mib: f64,
    pub(crate) kib_per_client: f64,
    /// The server's own share (the tree without the programs), per client.
    pub(crate) server_kib_per_client: f64,
    /// Kernel memory PSS does not show (`/proc/meminfo`: kernel stacks, page tables,
    /// unreclaimable slab), its growth from before the crowd to the crowd connected, per client.
    pub(crate) kernel_kib_per_client: f64,
    pub(crate) idle_percent: f64,
    pub(crate) delivered: usize,
    pub(crate) of: usize,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
    /// The first message alone (p50, p99): for a channel made by it, the one a waiting crowd
    /// sees the channel's creation with.
    pub(crate) first: (f64, f64),
    /// A publish over HTTP into the crowd after the others, when the program takes one: its
    /// request's time to its head and to its connection's close, and its delivery (p50, p99).
    pub(crate) http_publish: Option<HttpPublish>,
    /// Seconds from the clients' departure to the last program process gone.
    pub(crate) gone_secs: f64,
    /// Program processes still there at the deadline.
    pub(crate) left: usize,
}

/// A publish over HTTP into a crowd: what the publishing application waits for, and the crowd.
pub(crate) struct HttpPublish {
    pub(crate) head_ms: f64,
    pub(crate) close_ms: f64,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
}

/// The settings the crowd runs with, as `apache-conf/` documents them.
pub(crate) const CROWD_HEARTBEAT_SECS: u64 = 15;
const MESSAGES: usize = 5;

struct Client {
    stream: TcpStream,
    started: bool,
    events: usize,
    tail: Vec<u8>,
    arrivals: Vec<Instant>,
}

const DATA: &[u8] = b"\ndata: ";

impl Client {
    /// Reads what is there; false when the server closed the connection.
    fn read(&mut self, buf: &mut [u8]) -> bool {
        loop {
            match self.stream.read(buf) {
                Ok(0) => return false,
                Ok(n) => {
                    let mut seen = std::mem::take(&mut self.tail);
                    seen.extend_from_slice(&buf[..n]);
                    if !self.started && crate::client::occurrences(&seen, b"retry:") > 0 {
                        self.started = true;
                    }
                    let now = Instant::now();
                    for _ in 0..crate::client::occurrences(&seen, DATA) {
                        self.events += 1;
                        self.arrivals.push(now);
                    }
                    let keep = seen.len().saturating_sub(DATA.len() - 1);
                    self.tail = seen.split_off(keep);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }
}

/// The clients of one crowd on one epoll instance.
struct Clients {
    epoll: std::os::fd::OwnedFd,
    all: Vec<Client>,
    closed: usize,
    buf: Vec<u8>,
    events: Vec<epoll::Event>,
}

impl Clients {
    fn new() -> Clients {
        Clients {
            epoll: epoll::create(epoll::CreateFlags::CLOEXEC).unwrap(),
            all: Vec::new(),
            closed: 0,
            buf: vec![0; 16384],
            events: vec![
                epoll::Event {
                    flags: epoll::EventFlags::empty(),
                    data: epoll::EventData::new_u64(0),
                };
                1024
            ],
        }
    }

    fn open(&mut self, port: u16, target: &str) {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        stream.set_nonblocking(true).unwrap();
        let i = self.all.len() as u64;
        epoll::add(
            &self.epoll,
            &stream,
            epoll::EventData::new_u64(i),
            epoll::EventFlags::IN | epoll::EventFlags::RDHUP,
        )
        .unwrap();
        self.all.push(Client {
            stream,
            started: false,
            events: 0,
            tail: Vec::new(),
            arrivals: Vec::new(),
        });
    }

    /// Reads whatever arrives within `timeout`.
    fn pump(&mut self, timeout: Duration) {
        let timeout = Timespec {
            tv_sec: timeout.as_secs() as i64,
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        let n = epoll::wait(&self.epoll, &mut self.events[..], Some(&timeout)).unwrap_or(0);
        for k in 0..n {
            let i = self.events[k].data.u64() as usize;
            if !self.all[i].read(&mut self.buf) {
                let _ = epoll::delete(&self.epoll, &self.all[i].stream);
                self.closed += 1;
            }
        }
    }

    fn started(&self) -> usize {
        self.all.iter().filter(|c| c.started).count()
    }
}

/// The kernel's memory that no process's PSS shows, in KiB: kernel stacks, page tables and
/// unreclaimable slab (each process's task, descriptor table, sockets and pipes).
fn kernel_kib() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .filter(|l| {
            l.starts_with("KernelStack:")
                || l.starts_with("PageTables:")
                || l.starts_with("SUnreclaim:")
        })
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// The live hub processes (hub mode), by the name they run under.
fn hub_pids() -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if cmdline.split(|b| *b == 0).next() == Some(serverpush::hub::PROCESS_NAME.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

/// How long a crowd waits for its clients to connect.
const CONNECT_WAIT_SECS: u64 = 300;

/// One crowd: `n` clients of `target` through `port`, whose server's trees are under
/// `server_pids` (the server, and what runs its programs beside it) and whose programs' command
/// lines contain `program`; `publish` sends message `i`.
pub(crate) fn crowd(
    (server, what): (&'static str, &'static str),
    server_pids: &[u32],
    port: u16,
    target: &str,
    program: &str,
    n: usize,
    mut publish: impl FnMut(usize),
    http_publish: Option<&str>,
) -> Crowd {
    eprintln!("e2e: crowd: {what} under {server}, {n} clients");
    settle();
    let kernel_before = kernel_kib();
    let mut clients = Clients::new();
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(CONNECT_WAIT_SECS);
    // Opened in waves, as many waiting to start as the server starts at a time, so that the
    // connect time measures the server rather than a queue of refused connections.
    // A server that stops taking connections (out of descriptors) is given 30 s more, not the
    // whole wait.
    let mut progress = (0, Instant::now());
    while clients.started() < n && Instant::now() < deadline {
        let started = clients.started();
        if started > progress.0 {
            progress = (started, Instant::now());
        } else if progress.1.elapsed() > Duration::from_secs(30) {
            break;
        }
        while clients.all.len() < n && clients.all.len() - started < 256 {
            clients.open(port, target);
        }
        clients.pump(Duration::from_millis(20));
        if clients.closed > 0 {
            break;
        }
    }
    let connect_secs = t0.elapsed().as_secs_f64();
    let connected = clients.started();
    eprintln!("e2e: crowd: {connected} connected in {connect_secs:.1} s");

    settle();
    let kernel_kib_per_client =
        kernel_kib().saturating_sub(kernel_before) as f64 / connected.max(1) as f64;
    // The hub, in hub mode, is in a session of its own, outside the server's tree.
    let hubs = hub_pids();
    let trees_pss = || {
        server_pids.iter().map(|&p| tree_pss(p)).sum::<u64>()
            + hubs.iter().map(|&p| pss_kib(p)).sum::<u64>()
    };
    let trees_cpu = || {
        server_pids.iter().map(|&p| tree_cpu(p)).sum::<u64>()
            + hubs.iter().map(|&p| tree_cpu(p)).sum::<u64>()
    };
    let tree_kib = trees_pss() as f64;
    let programs_kib: f64 = pids_matching(program)
        .into_iter()
        .map(|pid| pss_kib(pid) as f64)
        .sum();
    let cpu0 = trees_cpu();
    let idle_from = Instant::now();
    while idle_from.elapsed() < Duration::from_secs(10) {
        clients.pump(Duration::from_millis(500));
    }
    let idle_percent =
        trees_cpu().saturating_sub(cpu0) as f64 / 100.0 / idle_from.elapsed().as_secs_f64() * 100.0;

    let before: Vec<usize> = clients.all.iter().map(|c| c.events).collect();
    let mut sent = Vec::new();
    for i in 0..MESSAGES {
        sent.push(Instant::now());
        publish(i);
        let wait_until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < wait_until {
            clients.pump(Duration::from_millis(50));
        }
    }
    // The publishing request runs beside the crowd's reading, so that arrivals are timed as
    // they come.
    let mut http = None;
    if let Some(path) = http_publish {
        let path = path.to_owned();
        sent.push(Instant::now());
        let request = std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut r = post(port, &path, "over HTTP");
            r.wait_head();
            let head = ms(t0.elapsed());
            r.read_to_end(Duration::from_secs(60));
            assert!((200..300).contains(&r.status()), "{}", r.head_text());
            (head, ms(t0.elapsed()))
        });
        while !request.is_finished() {
            clients.pump(Duration::from_millis(20));
        }
        // A server out of descriptors takes no publisher either; the run goes on without it.
        http = request.join().ok();
        if http.is_none() {
            eprintln!("e2e: crowd: publish over HTTP: no answer (the server took no connection)");
            sent.pop();
        }
    }
    let expected = sent.len();
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until
        && clients
            .all
            .iter()
            .zip(&before)
            .any(|(c, b)| c.started && c.events < b + expected)
    {
        clients.pump(Duration::from_millis(50));
    }
    let mut http_delays = Vec::new();
    for (c, &b) in clients.all.iter().zip(&before) {
        if let (Some(at), true) = (c.arrivals.get(b + MESSAGES), http.is_some()) {
            http_delays.push(ms(at.saturating_duration_since(sent[MESSAGES])));
        }
    }
    let http_publish = http.map(|(head_ms, close_ms)| {
        let d = sorted(http_delays);
        eprintln!(
            "e2e: crowd: publish over HTTP: head {head_ms:.0} ms, closed {close_ms:.0} ms; delivery p50 {:.0} ms, p99 {:.0} ms",
            percentile(&d, 0.5),
            percentile(&d, 0.99)
        );
        HttpPublish {
            head_ms,
            close_ms,
            p50: percentile(&d, 0.5),
            p99: percentile(&d, 0.99),
        }
    });
    let mut delays = Vec::new();
    let mut by_message = vec![Vec::new(); MESSAGES];
    let mut first = (f64::NAN, f64::NAN);
    for (c, &b) in clients.all.iter().zip(&before) {
        for (k, at) in c.arrivals.iter().skip(b).take(MESSAGES).enumerate() {
            let d = ms(at.saturating_duration_since(sent[k]));
            delays.push(d);
            by_message[k].push(d);
        }
    }
    for (k, d) in by_message.into_iter().enumerate() {
        let d = sorted(d);
        if k == 0 {
            first = (percentile(&d, 0.5), percentile(&d, 0.99));
        }
        eprintln!(
            "e2e: crowd: message {k}: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            percentile(&d, 0.5),
            percentile(&d, 0.99),
            d.last().copied().unwrap_or(f64::NAN)
        );
    }
    let delivered = delays.len();
    let s = sorted(delays);

    drop(clients);
    let left_at = Instant::now();
    let gone_by = left_at + Duration::from_secs(2 * CROWD_HEARTBEAT_SECS + 10);
    let mut left = pids_matching(program).len();
    while left > 0 && Instant::now() < gone_by {
        std::thread::sleep(Duration::from_millis(100));
        left = pids_matching(program).len();
    }
    let gone_secs = left_at.elapsed().as_secs_f64();
    reap(program);
    Crowd {
        server,
        program: what,
        clients: n,
        connected,
        connect_secs,
        tree_mib: tree_kib / 1024.0,
        server_kib_per_client: (tree_kib - programs_kib) / connected.max(1) as f64,
        kernel_kib_per_client,
        kib_per_client: tree_kib / connected.max(1) as f64,
        idle_percent,
        delivered,
        of: connected * MESSAGES,
        p50: percentile(&s, 0.5),
        p99: percentile(&s, 0.99),
        max: s.last().copied().unwrap_or(f64::NAN),
        first,
        http_publish,
        gone_secs,
        left,
    }
}

/// The site, servers and crowds of the `--crowd` run; `under` names the one server to run, when
/// given (`apache`, `lighttpd` or `nginx`).
pub(crate) fn run_crowds(n: usize, under: Option<&str>) -> Vec<Crowd> {
    raise_host_limits();
    let site = Site::new(&CONFIG.replace(
        "heartbeat_secs = 15",
        &format!("heartbeat_secs = {CROWD_HEARTBEAT_SECS}"),
    ));
    let floor_dir = install_floor(&site);
    let mut publish = owner_publisher(&site);
    let floor_target = format!("/cgi-bin/nph-sse-floor?{}", floor_dir.display());
    let ours = site.cgi_bin.join("nph-longpoll").display().to_string();
    let floor = site.cgi_bin.join("nph-sse-floor").display().to_string();
    // The same program built without PIE (`SERVERPUSH_PIE=no`), when `scripts/bench.sh` built
    // one: its crowd runs under Apache beside the deployed build.
    let no_pie = std::env::var_os("SERVERPUSH_NO_PIE_PROGRAM").map(|built| {
        let installed = site.cgi_bin.join(NO_PIE_NAME);
        std::fs::copy(&built, &installed).unwrap();
        installed.display().to_string()
    });
    let publish_floor = |i: usize| {
        let tmp = floor_dir.join(".message.tmp");
        std::fs::write(&tmp, format!("c{i}")).unwrap();
        std::fs::rename(&tmp, floor_dir.join("message")).unwrap();
    };
    // The first crowd's channel exists before anyone subscribes, as on a site that has published
    // before (and as the floor's directory does); the second's is made by its first message.
    publish("crowd", "before the crowd");
    let programs = (ours.as_str(), floor.as_str());
    let mut out = Vec::new();
    if under.is_none_or(|s| s == "apache") {
        let apache = Server::apache_with(&site, |conf| crowd_apache(conf, n));
        let pid = [apache.pid()];
        let at = ("Apache", &pid[..], apache.port);
        out.extend(crowds_at(
            at,
            n,
            &mut publish,
            "apache",
            programs,
            &floor_target,
            &publish_floor,
        ));
        if let Some(no_pie) = &no_pie {
            out.push(crowd(
                ("Apache", OURS_NO_PIE),
                &pid,
                apache.port,
                &format!("/cgi-bin/{NO_PIE_NAME}/crowd?transport=sse"),
                no_pie,
                n,
                |i| publish("crowd", &format!("p{i}")),
                None,
            ));
        }
    }
    if under.is_none_or(|s| s == "lighttpd") {
        let lighttpd = Server::lighttpd_with(&site, |conf| crowd_lighttpd(conf, n));
        let pid = [lighttpd.pid()];
        let at = ("lighttpd", &pid[..], lighttpd.port);
        out.extend(crowds_at(
            at,
            n,
            &mut publish,
            "lighttpd",
            programs,
            &floor_target,
            &publish_floor,
        ));
    }
    if under.is_none_or(|s| s == "nginx") {
        let (conf, workers) = crowd_nginx(n);
        let nginx = Server::nginx_with(&site, workers, |name, text| {
            if name == "nginx.conf" {
                conf(text)
            } else {
                text
            }
        });
        let pids: Vec<u32> = [Some(nginx.pid()), nginx.helper_pid()]
            .into_iter()
            .flatten()
            .collect();
        let at = ("nginx + fcgiwrap", &pids[..], nginx.port);
        out.extend(crowds_at(
            at,
            n,
            &mut publish,
            "nginx",
            programs,
            &floor_target,
            &publish_floor,
        ));
        // Hub mode, under the one server that offers it: the same crowd, each stream handed to
        // the hub. The programs read the config at each request (keys go before its tables).
        let config = std::fs::read_to_string(&site.config).unwrap();
        std::fs::write(
            &site.config,
            format!("hub = true\nhub_idle_secs = 5\n{config}"),
        )
        .unwrap();
        out.push(crowd(
            ("nginx + fcgiwrap", OURS_HUB),
            &pids,
            nginx.port,
            "/cgi-bin/nph-longpoll/crowd?transport=sse",
            &ours,
            n,
            |i| publish("crowd", &format!("h{i}")),
            None,
        ));
        std::fs::write(&site.config, config).unwrap();
    }
    out
}

/// The program's label in the report: a channel that held a message before the crowd came.
const OURS: &str = "serverpush nph-longpoll (SSE)";
/// The program's label for a crowd that waits for a channel its first message makes.
const OURS_NEW: &str = "serverpush nph-longpoll (SSE), channel made by the first message";

/// The program's label in hub mode (`hub = true`): each stream handed to the hub.
const OURS_HUB: &str = "serverpush nph-longpoll (SSE), hub mode";

/// The label of the program built without PIE, and its name in the site's `cgi-bin`.
const OURS_NO_PIE: &str = "serverpush nph-longpoll (SSE), built without PIE";
const NO_PIE_NAME: &str = "nph-longpoll-no-pie";

/// The three crowds of one server (`server`, its trees' pids, its port): ours on the channel
/// that has a message, ours on a channel made by the crowd's first message (named after `tag`,
/// so each server's is new), and the C floor.
fn crowds_at(
    (server, pids, port): (&'static str, &[u32], u16),
    n: usize,
    publish: &mut dyn FnMut(&str, &str),
    tag: &str,
    (ours, floor): (&str, &str),
    floor_target: &str,
    publish_floor: &dyn Fn(usize),
) -> Vec<Crowd> {
    let new_channel = format!("crowd-new-{tag}");
    vec![
        crowd(
            (server, OURS),
            pids,
            port,
            "/cgi-bin/nph-longpoll/crowd?transport=sse",
            ours,
            n,
            |i| publish("crowd", &format!("c{i}")),
            Some("/cgi-bin/nph-longpoll/crowd"),
        ),
        crowd(
            (server, OURS_NEW),
            pids,
            port,
            &format!("/cgi-bin/nph-longpoll/{new_channel}?transport=sse"),
            ours,
            n,
            |i| publish(&new_channel, &format!("c{i}")),
            None,
        ),
        crowd(
            (server, "C floor"),
            pids,
            port,
            floor_target,
            floor,
            n,
            publish_floor,
            None,
        ),
    ]
}

/// nginx and fcgiwrap as `apache-conf/many-clients/nginx.conf` and `fcgiwrap-many.conf` set
/// them: the change to the test's `nginx.conf`, and fcgiwrap's worker count.
fn crowd_nginx(n: usize) -> (impl Fn(String) -> String, usize) {
    let dir = repo().join("apache-conf/many-clients");
    let nginx = std::fs::read_to_string(dir.join("nginx.conf")).unwrap();
    let value = |name: &str| -> String {
        nginx
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().trim_end_matches(';').to_owned())
            .unwrap_or_else(|| panic!("{name} in many-clients/nginx.conf"))
    };
    let (files, connections) = (value("worker_rlimit_nofile"), value("worker_connections"));
    let fcgiwrap = std::fs::read_to_string(dir.join("fcgiwrap-many.conf")).unwrap();
    let workers: usize = fcgiwrap
        .split("-c ")
        .nth(1)
        .and_then(|rest| rest.split(['"', ' ']).next())
        .and_then(|w| w.parse().ok())
        .expect("-c N in many-clients/fcgiwrap-many.conf");
    assert!(
        n + 1 < workers,
        "apache-conf/many-clients/ is sized for 10,000 clients"
    );
    let conf = move |text: String| {
        text.replace(
            "worker_processes 1;",
            &format!("worker_processes 2;\nworker_rlimit_nofile {files};"),
        )
        .replace(
            "worker_connections 4096;",
            &format!("worker_connections {connections};"),
        )
    };
    (conf, workers)
}

/// The host limits `apache-conf/many-clients/sysctl.conf` asks for, raised where lower (the
/// machine's own higher values are kept).
fn raise_host_limits() {
    let wanted =
        std::fs::read_to_string(repo().join("apache-conf/many-clients/sysctl.conf")).unwrap();
    for line in wanted.lines().filter(|l| !l.starts_with('#')) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        let want: u64 = value.parse().unwrap();
        let now: u64 = output(&format!("sysctl -n {key}"))
            .trim()
            .parse()
            .unwrap_or(0);
        if now < want {
            sh(&format!("sysctl -qw {key}={value}"));
        }
    }
}

/// Apache's event MPM with a worker thread per streaming client: the documented
/// `apache-conf/many-clients/apache2.conf` in place of the template's own settings.
fn crowd_apache(conf: String, n: usize) -> String {
    assert!(
        n <= 10_000,
        "apache-conf/many-clients/ is sized for 10,000 clients"
    );
    with_snippet(&conf, "apache2.conf")
}

/// lighttpd with descriptors for every client, as `apache-conf/many-clients/lighttpd.conf`.
fn crowd_lighttpd(conf: String, n: usize) -> String {
    assert!(
        n <= 10_000,
        "apache-conf/many-clients/ is sized for 10,000 clients"
    );
    with_snippet(&conf, "lighttpd.conf")
}

/// `conf` without the lines that set what the snippet `name` of `apache-conf/many-clients/`
/// sets, and then the snippet.
fn with_snippet(conf: &str, name: &str) -> String {
    let snippet =
        std::fs::read_to_string(repo().join("apache-conf/many-clients").join(name)).unwrap();
    let key = |line: &str| {
        let line = line.trim();
        (!line.is_empty() && !line.starts_with('#'))
            .then(|| line.split([' ', '=']).next().unwrap_or("").to_owned())
    };
    let set: Vec<String> = snippet.lines().filter_map(key).collect();
    let mut out: String = conf
        .lines()
        .filter(|line| key(line).is_none_or(|k| !set.contains(&k)))
        .map(|line| format!("{line}\n"))
        .collect();
    out.push_str(&snippet);
    out
}
/// The `--crowd` report, a section of its own that the default run's report includes.
pub(crate) fn crowd_report(crowds: &[Crowd], date: &str, secs: f64) -> String {
    let mut w = String::new();
    writeln!(w, "## 8. Ten thousand clients\n").unwrap();
    writeln!(w, "Measured by `scripts/bench.sh --crowd {}` on {date}, in {secs:.0} s (apart from the default run). {} SSE clients on one channel, each its own CGI process, held by one epoll client; Apache (mpm_event + mod_cgid), lighttpd, and nginx with fcgiwrap (a worker per stream) set up with `apache-conf/many-clients/` (README, \"How many clients one host holds\"). Memory is the PSS of the server's whole process tree (server, workers, programs; under nginx with fcgiwrap's tree) with every client connected; idle CPU is that tree's over 10 s with every client waiting; {MESSAGES} messages are published 2 s apart (locally, for ours into the store, for the floor by renaming its file) and each client's receipt is timed; then every client leaves at once and the time until the last program process is gone is taken (heartbeat {CROWD_HEARTBEAT_SECS} s).\n", crowds.first().map_or(0, |c| c.clients), crowds.first().map_or(0, |c| c.clients)).unwrap();
    writeln!(w, "| server | program | connected | connect s | tree MiB | KiB per client | of which the server's | kernel KiB per client | idle % of a core | delivered | of | p50 ms | p99 ms | max ms | first message p50 / p99 ms | gone after s | left |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|").unwrap();
    for c in crowds {
        writeln!(
            w,
            "| {} | {} | {} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} / {:.0} | {:.1} | {} |",
            c.server, c.program, c.connected, c.connect_secs, c.tree_mib, c.kib_per_client, c.server_kib_per_client,
            c.kernel_kib_per_client, c.idle_percent, c.delivered, c.of, c.p50, c.p99, c.max, c.first.0, c.first.1, c.gone_secs, c.left
        )
        .unwrap();
    }
    let mut verdicts = Vec::new();
    for server in crowds
        .iter()
        .map(|c| c.server)
        .collect::<std::collections::BTreeSet<_>>()
    {
        let of = |program: &str| {
            crowds
                .iter()
                .find(|c| c.server == server && c.program == program)
        };
        let (Some(ours), Some(floor)) = (of(OURS), of("C floor")) else {
            continue;
        };
        let mut v = format!(
            "under {}: p99 {:.2}× the floor's ({}), under 1 s {}, tree {:.2} GB ({}), {} processes left ({})",
            ours.server,
            ours.p99 / floor.p99,
            verdict(ours.delivered == ours.of && ours.p99 <= 1.3 * floor.p99),
            verdict(ours.p99 < 1000.0),
            ours.tree_mib / 1024.0,
            verdict(ours.tree_mib <= 2048.0),
            ours.left,
            verdict(ours.left == 0),
        );
        if let Some(no_pie) = of(OURS_NO_PIE) {
            write!(
                v,
                ", built without PIE: tree {:.2} GB ({}), {:.0} KiB per client against {:.0}, p99 {:.2}× the floor's",
                no_pie.tree_mib / 1024.0,
                verdict(no_pie.tree_mib <= 2048.0),
                no_pie.kib_per_client,
                ours.kib_per_client,
                no_pie.p99 / floor.p99,
            )
            .unwrap();
        }
        if let Some(hub) = of(OURS_HUB) {
            write!(
                v,
                ", hub mode: {:.0} KiB per client (PSS) and {:.0} KiB of kernel memory against {:.0} and {:.0}, p99 {:.2}× the default mode's",
                hub.kib_per_client,
                hub.kernel_kib_per_client,
                ours.kib_per_client,
                ours.kernel_kib_per_client,
                hub.p99 / ours.p99,
            )
            .unwrap();
        }
        if let Some(new) = of(OURS_NEW) {
            let (p50, p99) = (new.first.0 / ours.first.0, new.first.1 / ours.first.1);
            write!(
                v,
                ", the first message to a new channel p50 {p50:.2}× and p99 {p99:.2}× the existing channel's ({})",
                verdict(new.delivered == new.of && p50 <= 1.3 && p99 <= 1.3)
            )
            .unwrap();
        }
        verdicts.push(v);
    }
    writeln!(w, "\nA publish over HTTP into the crowd (`POST /cgi-bin/nph-longpoll/crowd`, after the local ones, while the crowd is read): what the site's application waits for, from its request to the answer's head and to the connection's close, and the crowd's delivery of it.\n").unwrap();
    writeln!(w, "| server | clients | head ms | closed ms | delivery p50 ms | p99 ms |\n|---|---|---|---|---|---|").unwrap();
    for c in crowds {
        if let Some(h) = &c.http_publish {
            writeln!(
                w,
                "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} |",
                c.server, c.connected, h.head_ms, h.close_ms, h.p50, h.p99
            )
            .unwrap();
        }
    }
    let hard = output("sh -c 'ulimit -Hn'");
    for c in crowds.iter().filter(|c| c.connected < c.clients) {
        writeln!(w, "\nUnder {}, {} of {} clients of {} were served: the server ran out of descriptors at this machine's hard limit of {} per process, which a process here cannot raise (it lacks `CAP_SYS_RESOURCE`); `server.max-fds` (lighttpd) or `worker_rlimit_nofile` (nginx) asks for more. Its row compares the {} served; {}.", c.server, c.connected, c.clients, c.program, hard.trim(), c.connected, if c.connect_secs + 1.0 >= CONNECT_WAIT_SECS as f64 { format!("its connect time is the {CONNECT_WAIT_SECS} s the run waits for the others") } else { "its connect time runs until the server stopped taking connections, and 30 s more".to_owned() }).unwrap();
    }
    writeln!(w, "\nThe first crowd's channel holds a message before the clients connect, as on a site that has published before; the second crowd waits for a channel that its first message makes (a new room, an event's page opened before it starts), and its first message is compared with the first crowd's. The C floor writes no heartbeat, so under Apache and under nginx's fcgiwrap, which notice a departed client only when it writes to it, its processes stay until the run ends them (its \"left\" column); ours leave at their second heartbeat.").unwrap();
    writeln!(w, "\nTargets: delivery p99 within 1.3× of the C floor's and under 1 s, at most 2 GB for the whole server, no process left, a new channel's first message within 1.3× of an existing one's: {}.\n", verdicts.join("; ")).unwrap();
    w
}
