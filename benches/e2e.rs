//! The end-to-end benchmark: serverpush, the seeds' PHP and Perl scripts, and nchan, measured the
//! same way in one run on this machine. `cargo bench --bench e2e` runs it in full and writes
//! `BENCHMARKS.md` and `benches/plots/*.svg`; `cargo bench --bench e2e -- --smoke` runs every
//! scenario briefly (CI does, so the benchmark cannot rot) and writes under `target/`.
//!
//! Every system runs on loopback, started here and stopped at the end; every loop is bounded.
//! Figures are reported, never asserted: a machine is noisy, ratios within one run are what count.

#![allow(
    // A scenario's knobs are spelled out at each call, where the report's rows are made.
    clippy::too_many_arguments,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    dead_code
)]

#[path = "../tests/client.rs"]
mod client;
#[path = "../tests/fixtures.rs"]
mod fixtures;
#[path = "../tests/util.rs"]
mod util;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serverpush::store::{ChannelStore, Retention, SpoolStore};

use client::{request, send};
use fixtures::{Server, Site, run_as};
use util::{StoreExt, free_port, repo, wait_for};

/// How much of everything to do.
struct Plan {
    smoke: bool,
    rounds: usize,
    latency_per_round: usize,
    seed_latency: usize,
    loss_per_publisher: usize,
    fanout_subscribers: usize,
    fanout_messages: usize,
    memory_counts: Vec<usize>,
    peer_memory_count: usize,
    idle_subscribers: usize,
    idle_secs: u64,
    webcam_viewers: usize,
    webcam_secs: u64,
    wrk_secs: u64,
}

impl Plan {
    fn new(smoke: bool) -> Plan {
        if smoke {
            Plan {
                smoke,
                rounds: 1,
                latency_per_round: 10,
                seed_latency: 2,
                loss_per_publisher: 25,
                fanout_subscribers: 10,
                fanout_messages: 5,
                memory_counts: vec![5],
                peer_memory_count: 3,
                idle_subscribers: 5,
                idle_secs: 1,
                webcam_viewers: 3,
                webcam_secs: 2,
                wrk_secs: 1,
            }
        } else {
            Plan {
                smoke,
                rounds: 3,
                latency_per_round: 334,
                seed_latency: 20,
                loss_per_publisher: 2500,
                fanout_subscribers: 1000,
                fanout_messages: 100,
                memory_counts: vec![100, 500, 1000],
                peer_memory_count: 100,
                idle_subscribers: 500,
                idle_secs: 30,
                webcam_viewers: 50,
                webcam_secs: 10,
                wrk_secs: 5,
            }
        }
    }
}

/// Kills what the seeds leave behind: their scripts never notice a departed client.
struct Leftovers(PathBuf);

impl Drop for Leftovers {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(self.0.as_os_str())
            .status();
    }
}

/// The systems under test, running.
struct Systems {
    site: Site,
    apache: Server,
    lighttpd: Server,
    nginx: Nginx,
    peers: PathBuf,
    data_file: PathBuf,
    peer_cam: PathBuf,
}

/// nginx with nchan, stopped on drop.
struct Nginx {
    child: Child,
    port: u16,
    _root: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = wait_for_exit(&mut self.child, Duration::from_secs(5));
    }
}

fn wait_for_exit(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

fn sh(script: &str) {
    let status = Command::new("bash")
        .arg("-c")
        .arg(script)
        .status()
        .expect("bash");
    assert!(status.success(), "failed: {script}");
}

fn output(cmd: &str) -> String {
    Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .output()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s.trim().to_owned()
        })
        .unwrap_or_default()
}

const CONFIG: &str = "spool_dir = \"@SPOOL@\"\nopen_channels = [\"lat\", \"llat\", \"sse\", \"lsse\", \"loss\", \"fan\", \"idle\", \"spawn\", \"lspawn\"]\n\
retention_messages = 20000\nlongpoll_timeout_secs = 120\nheartbeat_secs = 15\nkeepalive_secs = 5\n\
[cameras]\ndefault = \"@CAMS@/cam.jpg\"\n";

fn start(plan: &Plan) -> Systems {
    let peers_src = repo().join("benches/peers");
    sh(&format!("bash {}/install-peers.sh", peers_src.display()));
    sh(&format!(
        "bash {}/scripts/install-deps.sh",
        repo().display()
    ));
    // One inotify instance per waiting subscriber or viewer, all of one user.
    let _ = Command::new("sysctl")
        .args(["-qw", "fs.inotify.max_user_instances=8192"])
        .status();
    let _ = Command::new("sysctl")
        .args(["-qw", "fs.inotify.max_user_watches=524288"])
        .status();

    let site = Site::new(CONFIG);
    let peers = site.dir.path().join("peers");
    util::copy_tree(&peers_src, &peers);
    sh(&format!(
        "cd {p} && gcc -O2 -o hello.cgi hello.c && chmod 0755 *.php *.pl hello.cgi && chmod 0755 {p}",
        p = peers.display()
    ));
    let data_file = site.dir.path().join("peerdata/data.txt");
    let peer_cam = site.cams.join("peer.jpg");
    std::fs::create_dir_all(data_file.parent().unwrap()).unwrap();
    std::fs::write(&data_file, "").unwrap();
    let (user, _) = run_as();
    sh(&format!(
        "chown -R {user} {}",
        data_file.parent().unwrap().display()
    ));

    let peers_conf = site.dir.path().join("apache-peers.conf");
    let text = std::fs::read_to_string(peers.join("apache-peers.conf.in"))
        .unwrap()
        .replace("@PEERS_ENV_WEBCAM@", &peer_cam.display().to_string())
        .replace("@PEERS_ENV_DATA@", &data_file.display().to_string())
        .replace("@PEERS@", &peers.display().to_string());
    std::fs::write(&peers_conf, text).unwrap();
    let workers = if plan.smoke { 256 } else { 1536 };
    let apache = Server::apache_with(&site, |conf| {
        let mut conf = conf
            .replace("ServerLimit 4", &format!("ServerLimit {}", workers / 64))
            .replace(
                "MaxRequestWorkers 256",
                &format!("MaxRequestWorkers {workers}"),
            )
            .replace("MaxSpareThreads 256", &format!("MaxSpareThreads {workers}"))
            .replace("Timeout 60", "Timeout 180");
        conf.push_str(&format!("\nInclude \"{}\"\n", peers_conf.display()));
        conf
    });

    // The same programs under lighttpd, for the scenarios where the server makes a difference.
    let lighttpd = Server::lighttpd(&site);

    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        root.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let port = free_port();
    let conf = root.path().join("nginx.conf");
    let text = std::fs::read_to_string(peers.join("nginx-nchan.conf.in"))
        .unwrap()
        .replace("@PORT@", &port.to_string())
        .replace("@ROOT@", &root.path().display().to_string())
        .replace("@USER@", &user);
    std::fs::write(&conf, text).unwrap();
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(root.path())
        .args(["-g", "daemon off;"])
        .spawn()
        .expect("start nginx");
    wait_for(Duration::from_secs(10), "nginx", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    Systems {
        site,
        apache,
        lighttpd,
        nginx: Nginx {
            child,
            port,
            _root: root,
        },
        peers,
        data_file,
        peer_cam,
    }
}

// ---------------------------------------------------------------------------------------------
// Measuring helpers

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

fn median(v: &[f64]) -> f64 {
    percentile(&sorted(v.to_vec()), 0.5)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Parent of each live process.
fn parents() -> HashMap<u32, u32> {
    let mut map = HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if let Some(ppid) = stat
            .rsplit(") ")
            .next()
            .and_then(|r| r.split(' ').nth(1))
            .and_then(|p| p.parse().ok())
        {
            map.insert(pid, ppid);
        }
    }
    map
}

/// A process and all its descendants.
fn tree(root: u32) -> Vec<u32> {
    let parents = parents();
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parents.iter().filter(|(_, pp)| **pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

/// Proportional set size of a process, in KiB.
fn pss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Pss:")
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(") ").next().unwrap_or("").split(' ').collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the command: state is 0, utime 11, stime 12.
    get(11) + get(12)
}

fn tree_cpu(root: u32) -> u64 {
    tree(root).into_iter().map(cpu_ticks).sum()
}

fn tree_pss(root: u32) -> u64 {
    tree(root).into_iter().map(pss_kib).sum()
}

fn post(port: u16, path: &str, body: &str) -> client::Response {
    send(
        port,
        "POST",
        path,
        "HTTP/1.1",
        &[
            "Content-Type: text/plain",
            &format!("Content-Length: {}", body.len()),
            "Connection: close",
            &format!("\r\n{body}"),
        ],
    )
}

fn post_done(port: u16, path: &str, body: &str) {
    let mut r = post(port, path, body);
    r.wait_head();
    r.read_to_end(Duration::from_secs(30));
    assert!(
        (200..300).contains(&r.status()),
        "POST {path}: {}",
        r.head_text()
    );
}

// ---------------------------------------------------------------------------------------------
// Scenario 1: latency

#[derive(Default)]
struct Latency {
    name: String,
    samples: Vec<f64>,
    round_p50: Vec<f64>,
    round_p99: Vec<f64>,
}

impl Latency {
    fn new(name: &str) -> Latency {
        Latency {
            name: name.to_owned(),
            ..Latency::default()
        }
    }
    fn round(&mut self, samples: Vec<f64>) {
        let s = sorted(samples.clone());
        self.round_p50.push(percentile(&s, 0.5));
        self.round_p99.push(percentile(&s, 0.99));
        self.samples.extend(samples);
    }
    fn p50(&self) -> f64 {
        median(&self.round_p50)
    }
    fn p99(&self) -> f64 {
        median(&self.round_p99)
    }
}

/// Ours: a parked long-poll, then a publish over HTTP; publish start to full answer.
fn ours_longpoll(port: u16, channel: &str, n: usize, cursor: &mut u64) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let mut sub = send(
                port,
                "GET",
                &format!(
                    "/cgi-bin/nph-longpoll/{channel}?since={}&timeout=60",
                    *cursor
                ),
                "HTTP/1.1",
                &[],
            );
            // Let the subscriber start and park (a CGI start is a few milliseconds).
            std::thread::sleep(Duration::from_millis(25));
            let t0 = Instant::now();
            let mut publish = post(
                port,
                &format!("/cgi-bin/nph-longpoll/{channel}"),
                &format!("m{i}"),
            );
            sub.wait_head();
            sub.read_complete(Duration::from_secs(30));
            let took = ms(t0.elapsed());
            *cursor += 1;
            publish.wait_head();
            publish.read_to_end(Duration::from_secs(30));
            took
        })
        .collect()
}

/// Ours: one SSE stream, publishes over HTTP (`local` false) or in-process (`local` true).
fn ours_sse(sys: &Systems, port: u16, n: usize, local: bool, channel: &str) -> Vec<f64> {
    let mut store = SpoolStore::new(
        &sys.site.spool,
        Retention {
            messages: 20000,
            max_age: Duration::from_secs(3600),
            idempotency: Duration::from_secs(60),
        },
    );
    let mut sub = request(
        port,
        "GET",
        &format!("/cgi-bin/nph-longpoll/{channel}?transport=sse"),
        "HTTP/1.1",
        &[],
    );
    sub.read_until_count(b"retry:", 1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(25));
    (0..n)
        .map(|i| {
            let t0 = Instant::now();
            if local {
                store.put(channel, &format!("m{i}"));
            } else {
                let mut p = post(
                    port,
                    &format!("/cgi-bin/nph-longpoll/{channel}"),
                    &format!("m{i}"),
                );
                sub.read_until_count(b"\ndata: ", i + 1, Duration::from_secs(30));
                let took = ms(t0.elapsed());
                p.wait_head();
                p.read_to_end(Duration::from_secs(30));
                return took;
            }
            sub.read_until_count(b"\ndata: ", i + 1, Duration::from_secs(30));
            ms(t0.elapsed())
        })
        .collect()
}

/// The floor: a C "hello" CGI round trip through the same Apache.
fn c_cgi(sys: &Systems, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let t0 = Instant::now();
            let mut r = request(
                sys.apache.port,
                "GET",
                "/peers/hello.cgi",
                "HTTP/1.1",
                &["Connection: close"],
            );
            r.read_complete(Duration::from_secs(10));
            ms(t0.elapsed())
        })
        .collect()
}

/// nchan long-poll with its Last-Modified/Etag cursor.
fn nchan_longpoll(sys: &Systems, n: usize, channel: &str) -> Vec<f64> {
    let port = sys.nginx.port;
    post_done(port, &format!("/pub?id={channel}"), "first");
    let mut r = request(
        port,
        "GET",
        &format!("/sub?id={channel}"),
        "HTTP/1.1",
        &["Connection: close"],
    );
    r.read_to_end(Duration::from_secs(10));
    let mut modified = r.header("last-modified").unwrap_or_default().to_owned();
    let mut etag = r.header("etag").unwrap_or_default().to_owned();
    (0..n)
        .map(|i| {
            let mut sub = send(
                port,
                "GET",
                &format!("/sub?id={channel}"),
                "HTTP/1.1",
                &[
                    &format!("If-Modified-Since: {modified}"),
                    &format!("If-None-Match: {etag}"),
                    "Connection: close",
                ],
            );
            std::thread::sleep(Duration::from_millis(5));
            let t0 = Instant::now();
            let mut p = post(port, &format!("/pub?id={channel}"), &format!("m{i}"));
            sub.wait_head();
            sub.read_complete(Duration::from_secs(30));
            let took = ms(t0.elapsed());
            modified = sub.header("last-modified").unwrap_or_default().to_owned();
            etag = sub.header("etag").unwrap_or_default().to_owned();
            p.wait_head();
            p.read_to_end(Duration::from_secs(10));
            took
        })
        .collect()
}

/// nchan EventSource.
fn nchan_sse(sys: &Systems, n: usize, channel: &str) -> Vec<f64> {
    let port = sys.nginx.port;
    let mut sub = request(
        port,
        "GET",
        &format!("/ev?id={channel}"),
        "HTTP/1.1",
        &["Accept: text/event-stream"],
    );
    std::thread::sleep(Duration::from_millis(25));
    (0..n)
        .map(|i| {
            let t0 = Instant::now();
            let mut p = post(port, &format!("/pub?id={channel}"), &format!("m{i}"));
            sub.read_until_count(b"data: ", i + 1, Duration::from_secs(30));
            let took = ms(t0.elapsed());
            p.wait_head();
            p.read_to_end(Duration::from_secs(10));
            took
        })
        .collect()
}

/// The seed 004 PHP long-poll: each publish in a later wall-clock second than the last, since
/// its whole-second mtimes cannot tell two publishes of one second apart.
fn seed_longpoll(sys: &Systems, n: usize) -> Vec<f64> {
    let port = sys.apache.port;
    (0..n)
        .map(|i| {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let mut sub = send(
                port,
                "GET",
                &format!("/peers/longpoll.php?timestamp={now}"),
                "HTTP/1.1",
                &["Connection: close"],
            );
            // The next second, plus time for php-cgi to start.
            let next = Duration::from_secs(now + 1) + Duration::from_millis(150);
            let wait = next.saturating_sub(
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap(),
            );
            std::thread::sleep(wait);
            let t0 = Instant::now();
            let mut p = send(
                port,
                "GET",
                &format!("/peers/longpoll.php?msg=m{i}"),
                "HTTP/1.1",
                &["Connection: close"],
            );
            sub.wait_head();
            sub.read_complete(Duration::from_secs(30));
            let took = ms(t0.elapsed());
            p.wait_head();
            p.read_to_end(Duration::from_secs(10));
            took
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Scenario 2: loss

struct Loss {
    name: String,
    sent: usize,
    received: usize,
    lost: usize,
    repeated: usize,
    out_of_order: usize,
}

fn count_loss(name: &str, sent: usize, got: &[u64]) -> Loss {
    let mut seen = std::collections::HashSet::new();
    let mut repeated = 0;
    let mut out_of_order = 0;
    let mut last = 0;
    for &id in got {
        if !seen.insert(id) {
            repeated += 1;
        }
        if id < last {
            out_of_order += 1;
        }
        last = last.max(id);
    }
    Loss {
        name: name.to_owned(),
        sent,
        received: got.len(),
        lost: sent.saturating_sub(seen.len()),
        repeated,
        out_of_order,
    }
}

/// Ours: 4 HTTP publishers at full speed; a long-poll and an SSE subscriber follow.
fn ours_loss(sys: &Systems, per_publisher: usize) -> Vec<Loss> {
    let port = sys.apache.port;
    let total = per_publisher * 4;
    let mut store = SpoolStore::new(
        &sys.site.spool,
        Retention {
            messages: 20000,
            max_age: Duration::from_secs(3600),
            idempotency: Duration::from_secs(60),
        },
    );
    let start = store.last_id("loss");
    let mut sse = request(
        port,
        "GET",
        &format!("/cgi-bin/nph-longpoll/loss?transport=sse&last_event_id=loss:{start}"),
        "HTTP/1.1",
        &[],
    );
    sse.read_until_count(b"retry:", 1, Duration::from_secs(10));
    let poller = std::thread::spawn(move || {
        let mut cursor = start;
        let mut ids = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30 + total as u64 / 20);
        while ids.len() < total && Instant::now() < deadline {
            let mut r = request(
                port,
                "GET",
                &format!("/cgi-bin/nph-longpoll/loss?since={cursor}&timeout=5"),
                "HTTP/1.1",
                &["Connection: close"],
            );
            r.read_to_end(Duration::from_secs(30));
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            for m in v["messages"].as_array().cloned().unwrap_or_default() {
                ids.push(
                    m["data"]
                        .as_str()
                        .unwrap_or("0")
                        .parse::<u64>()
                        .unwrap_or(0),
                );
                cursor = m["id"].as_u64().unwrap_or(cursor);
            }
        }
        ids
    });
    let publishers: Vec<_> = (0..4)
        .map(|p| {
            std::thread::spawn(move || {
                for i in 0..per_publisher {
                    // The message is its global sequence number within its publisher's range.
                    post_done(
                        port,
                        "/cgi-bin/nph-longpoll/loss",
                        &format!("{}", p * per_publisher + i + 1),
                    );
                }
            })
        })
        .collect();
    for p in publishers {
        p.join().unwrap();
    }
    let poll_ids = poller.join().unwrap();
    sse.read_until_count(b"\ndata: ", total, Duration::from_secs(120));
    let sse_ids: Vec<u64> = String::from_utf8_lossy(&sse.body)
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        // Messages only: a `missed` event (none expected) carries no id.
        .filter_map(|v| v["id"].as_u64())
        .map(|id| id - start)
        .collect();
    // Delivery order is the channel's id order; publishers interleave, so ids (not payloads)
    // are what must arrive in order. For the poller, map payloads back to ids through the store.
    let batch = store.read_after("loss", start, 100_000).unwrap();
    let id_of: HashMap<u64, u64> = batch
        .messages
        .iter()
        .map(|m| (m.data.parse().unwrap_or(0), m.id - start))
        .collect();
    let poll_by_id: Vec<u64> = poll_ids
        .iter()
        .map(|d| id_of.get(d).copied().unwrap_or(0))
        .collect();
    vec![
        count_loss("serverpush long-poll", total, &poll_by_id),
        count_loss("serverpush SSE", total, &sse_ids),
    ]
}

fn nchan_loss(sys: &Systems, per_publisher: usize) -> Vec<Loss> {
    let port = sys.nginx.port;
    let total = per_publisher * 4;
    let mut sse = request(
        port,
        "GET",
        "/ev?id=loss",
        "HTTP/1.1",
        &["Accept: text/event-stream"],
    );
    std::thread::sleep(Duration::from_millis(50));
    let publishers: Vec<_> = (0..4)
        .map(|p| {
            std::thread::spawn(move || {
                for i in 0..per_publisher {
                    post_done(
                        port,
                        "/pub?id=loss",
                        &format!("{}", p * per_publisher + i + 1),
                    );
                }
            })
        })
        .collect();
    for p in publishers {
        p.join().unwrap();
    }
    sse.read_until_count(b"data: ", total, Duration::from_secs(60));
    let ids: Vec<u64> = (1..=crate::client::occurrences(&sse.body, b"data: ") as u64).collect();
    vec![count_loss("nchan EventSource", total, &ids)]
}

/// The seed 004 PHP long-poll: a burst of 100 publishes 10 ms apart, one re-polling subscriber.
fn seed_loss(sys: &Systems, n: usize) -> Vec<Loss> {
    let port = sys.apache.port;
    let done = Arc::new(Mutex::new(false));
    let flag = done.clone();
    let subscriber = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut ts = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        while !*flag.lock().unwrap() {
            let mut r = request(
                port,
                "GET",
                &format!("/peers/longpoll.php?timestamp={ts}"),
                "HTTP/1.1",
                &["Connection: close"],
            );
            r.read_to_end(Duration::from_secs(60));
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&r.body) {
                if let Some(m) = v["msg"].as_str().and_then(|m| m.parse::<u64>().ok()) {
                    got.push(m);
                }
                ts = v["timestamp"]
                    .as_u64()
                    .or_else(|| v["timestamp"].as_str().and_then(|s| s.parse().ok()))
                    .unwrap_or(ts);
            }
        }
        got
    });
    std::thread::sleep(Duration::from_millis(300));
    for i in 1..=n {
        let _ = send(
            port,
            "GET",
            &format!("/peers/longpoll.php?msg={i}"),
            "HTTP/1.1",
            &["Connection: close"],
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_secs(3));
    *done.lock().unwrap() = true;
    // Wake the subscriber's last poll so it can see the flag.
    std::thread::sleep(Duration::from_millis(1100));
    let _ = send(
        port,
        "GET",
        "/peers/longpoll.php?msg=0",
        "HTTP/1.1",
        &["Connection: close"],
    );
    let got: Vec<u64> = subscriber
        .join()
        .unwrap()
        .into_iter()
        .filter(|&m| m > 0)
        .collect();
    vec![count_loss("seed 004 PHP long-poll", n, &got)]
}

/// The seed's long-polls outlive their clients and spin until data.txt changes: end them, so
/// they do not load the machine during later scenarios.
fn release_seed_waiters(sys: &Systems) {
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&sys.data_file, format!("release {:?}", SystemTime::now())).unwrap();
    std::thread::sleep(Duration::from_millis(300));
}

// ---------------------------------------------------------------------------------------------
// Scenario 3: fan-out

struct Fanout {
    subscribers: usize,
    messages: usize,
    delivered: usize,
    p50: f64,
    p99: f64,
    max: f64,
}

fn ours_fanout(sys: &Systems, subscribers: usize, messages: usize) -> Fanout {
    let port = sys.apache.port;
    let mut store = SpoolStore::new(
        &sys.site.spool,
        Retention {
            messages: 20000,
            max_age: Duration::from_secs(3600),
            idempotency: Duration::from_secs(60),
        },
    );
    let _ = store.ensure_channel("fan");
    let ready = Arc::new(Barrier::new(subscribers + 1));
    let handles: Vec<_> = (0..subscribers)
        .map(|_| {
            let ready = ready.clone();
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut r = request(
                        port,
                        "GET",
                        "/cgi-bin/nph-longpoll/fan?transport=sse",
                        "HTTP/1.1",
                        &[],
                    );
                    r.read_until_count(b"retry:", 1, Duration::from_secs(120));
                    ready.wait();
                    let mut arrivals = Vec::new();
                    let deadline = Instant::now() + Duration::from_secs(messages as u64 / 10 + 30);
                    let mut seen = 0;
                    while seen < messages && Instant::now() < deadline {
                        r.read_some(Duration::from_millis(500));
                        let now = SystemTime::now();
                        let count = crate::client::occurrences(&r.body, b"\ndata: ");
                        while seen < count {
                            seen += 1;
                            arrivals.push((seen, now));
                        }
                    }
                    arrivals
                })
                .unwrap()
        })
        .collect();
    ready.wait();
    std::thread::sleep(Duration::from_millis(200));
    let mut sent = Vec::new();
    let start = Instant::now();
    for i in 0..messages {
        let due = Duration::from_millis(100 * i as u64);
        std::thread::sleep(due.saturating_sub(start.elapsed()));
        sent.push(SystemTime::now());
        store.put("fan", &format!("m{i}"));
    }
    let mut delays = Vec::new();
    for h in handles {
        for (n, at) in h.join().unwrap() {
            delays.push(ms(at.duration_since(sent[n - 1]).unwrap_or_default()));
        }
    }
    let delivered = delays.len();
    let s = sorted(delays);
    Fanout {
        subscribers,
        messages,
        delivered,
        p50: percentile(&s, 0.5),
        p99: percentile(&s, 0.99),
        max: s.last().copied().unwrap_or(f64::NAN),
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios 4 and 5: memory and idle CPU

/// Opens `n` connections to `path` on `port`, each read until `marker`; returns them held open.
fn hold(port: u16, path: &str, n: usize, marker: &[u8], headers: &[&str]) -> Vec<client::Response> {
    (0..n)
        .map(|_| {
            if marker.is_empty() {
                // A waiting long-poll has no head yet.
                return send(port, "GET", path, "HTTP/1.1", headers);
            }
            let mut r = request(port, "GET", path, "HTTP/1.1", headers);
            r.read_until_count(marker, 1, Duration::from_secs(120));
            r
        })
        .collect()
}

struct Memory {
    name: String,
    clients: usize,
    kib_per_client: f64,
}

fn settle() {
    std::thread::sleep(Duration::from_millis(1500));
}

/// Processes whose command line contains `pattern` (a CGI program's or script's path).
fn pids_matching(pattern: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(pattern) {
            out.push(pid);
        }
    }
    out
}

/// Ends the processes of `pattern` left by departed clients (the seeds' never end by
/// themselves, ours end at their next heartbeat) so the next measurement starts quiet.
fn reap(pattern: &str) {
    let _ = Command::new("pkill")
        .arg("-TERM")
        .arg("-f")
        .arg(pattern)
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids_matching(pattern).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// PSS per client. For CGI systems (`program` is the program's or script's path): the PSS of
/// its processes over the clients (Apache's own share is about 0, as its worker threads are
/// preallocated). For nchan: the server tree's PSS with the clients minus without.
fn memory(
    name: &str,
    server_pid: u32,
    port: u16,
    path: &str,
    n: usize,
    marker: &[u8],
    headers: &[&str],
    program: Option<&str>,
) -> Memory {
    settle();
    let idle = tree_pss(server_pid);
    let clients = hold(port, path, n, marker, headers);
    settle();
    let kib = match program {
        Some(p) => pids_matching(p).into_iter().map(pss_kib).sum::<u64>(),
        None => tree_pss(server_pid).saturating_sub(idle),
    };
    drop(clients);
    if let Some(p) = program {
        reap(p);
    }
    Memory {
        name: name.to_owned(),
        clients: n,
        kib_per_client: kib as f64 / n as f64,
    }
}

struct Idle {
    name: String,
    clients: usize,
    percent_of_core: f64,
}

fn idle_cpu(
    name: &str,
    server_pid: u32,
    port: u16,
    path: &str,
    n: usize,
    secs: u64,
    marker: &[u8],
    program: Option<&str>,
) -> Idle {
    let clients = if n > 0 {
        hold(port, path, n, marker, &[])
    } else {
        Vec::new()
    };
    settle();
    let t0 = tree_cpu(server_pid);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let used = tree_cpu(server_pid).saturating_sub(t0);
    let percent = used as f64 / 100.0 / start.elapsed().as_secs_f64() * 100.0;
    drop(clients);
    if let Some(p) = program {
        reap(p);
    }
    Idle {
        name: name.to_owned(),
        clients: n,
        percent_of_core: percent,
    }
}

// ---------------------------------------------------------------------------------------------
// Scenario 6: webcam

struct Webcam {
    name: String,
    viewers: usize,
    min_fps: f64,
    median_fps: f64,
    delay_p50: f64,
    delay_p99: f64,
}

/// Reads parts and their `X-Timestamp` for `secs`; returns (arrival, stamp) per new frame.
fn view(port: u16, path: &str, secs: u64) -> Vec<(SystemTime, Option<f64>)> {
    let mut r = request(port, "GET", path, "HTTP/1.1", &[]);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut out = Vec::new();
    let mut parsed = 0;
    while Instant::now() < deadline {
        r.read_some(Duration::from_millis(200));
        let now = SystemTime::now();
        // Each part ends with a boundary line after its data; count parts by their headers.
        let text = &r.body;
        let mut at = parsed;
        while let Some(rel) = client::find(&text[at..], b"Content-Type: image/jpeg") {
            let start = at + rel;
            let Some(len_at) = client::find(&text[start..], b"Content-Length: ") else {
                // The seed's parts carry no length (nor a timestamp): a part is counted when the
                // next one starts.
                match client::find(&text[start + 10..], b"Content-Type: image/jpeg") {
                    Some(next) => {
                        out.push((now, None));
                        at = start + 10 + next;
                        continue;
                    }
                    None => break,
                }
            };
            let Some(blank) = client::find(&text[start..], b"\r\n\r\n") else {
                break;
            };
            let head = String::from_utf8_lossy(&text[start..start + blank]).into_owned();
            let length: usize = head[len_at + 16..]
                .split("\r\n")
                .next()
                .unwrap_or("0")
                .trim()
                .parse()
                .unwrap_or(0);
            let end = start + blank + 4 + length;
            if text.len() < end {
                break;
            }
            let stamp = head
                .split("X-Timestamp: ")
                .nth(1)
                .and_then(|s| s.split("\r\n").next())
                .and_then(|s| s.trim().parse().ok());
            out.push((now, stamp));
            at = end;
        }
        parsed = at;
    }
    out
}

fn webcam(name: &str, port: u16, path: &str, viewers: usize, secs: u64) -> Webcam {
    let handles: Vec<_> = (0..viewers)
        .map(|_| {
            let path = path.to_owned();
            std::thread::spawn(move || view(port, &path, secs))
        })
        .collect();
    let mut fps = Vec::new();
    let mut delays = Vec::new();
    for h in handles {
        let frames = h.join().unwrap();
        // Frames, not keepalive repeats: count distinct stamps (or all parts for the seed).
        let mut stamps: Vec<_> = frames
            .iter()
            .filter_map(|(_, s)| *s)
            .map(|s| (s * 1e6) as u64)
            .collect();
        stamps.dedup();
        let count = if stamps.is_empty() {
            frames.len()
        } else {
            stamps.len()
        };
        fps.push(count as f64 / secs as f64);
        for (at, stamp) in frames {
            if let Some(stamp) = stamp {
                let at = at
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_secs_f64();
                delays.push((at - stamp) * 1000.0);
            }
        }
    }
    let fps_sorted = sorted(fps);
    let delays = sorted(delays);
    Webcam {
        name: name.to_owned(),
        viewers,
        min_fps: fps_sorted.first().copied().unwrap_or(0.0),
        median_fps: percentile(&fps_sorted, 0.5),
        delay_p50: percentile(&delays, 0.5),
        delay_p99: percentile(&delays, 0.99),
    }
}

// ---------------------------------------------------------------------------------------------
// Scenario 7: spawn cost

struct Spawn {
    name: String,
    runs: Vec<f64>,
}

fn wrk(
    name: &str,
    port: u16,
    path: &str,
    post: bool,
    secs: u64,
    rounds: usize,
    dir: &Path,
) -> Spawn {
    let script = dir.join("post.lua");
    std::fs::write(
        &script,
        "wrk.method = \"POST\"\nwrk.body = \"x\"\nwrk.headers[\"Content-Type\"] = \"text/plain\"\n",
    )
    .unwrap();
    let runs = (0..rounds)
        .map(|_| {
            let mut cmd = Command::new("wrk");
            cmd.args(["-t2", "-c16", &format!("-d{secs}s")]);
            if post {
                cmd.arg("-s").arg(&script);
            }
            cmd.arg(format!("http://127.0.0.1:{port}{path}"));
            let out = cmd.stderr(Stdio::null()).output().expect("wrk");
            let text = String::from_utf8_lossy(&out.stdout);
            text.lines()
                .find_map(|l| l.strip_prefix("Requests/sec:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0.0)
        })
        .collect();
    Spawn {
        name: name.to_owned(),
        runs,
    }
}

// ---------------------------------------------------------------------------------------------
// Report

fn plot_latency(path: &Path, series: &[&Latency]) {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (760, 440)).into_drawing_area();
    root.fill(&WHITE).unwrap();
    let max = series
        .iter()
        .map(|s| percentile(&sorted(s.samples.clone()), 0.99))
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption("Publish to delivery latency (CDF)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(44)
        .build_cartesian_2d(0.0..max, 0.0..1.0)
        .unwrap();
    chart
        .configure_mesh()
        .x_desc("milliseconds")
        .y_desc("fraction of samples")
        .draw()
        .unwrap();
    for (i, s) in series.iter().enumerate() {
        let data = sorted(s.samples.clone());
        let n = data.len().max(1) as f64;
        let colour = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                data.iter()
                    .enumerate()
                    .map(|(k, v)| (v.min(max), (k + 1) as f64 / n)),
                colour.stroke_width(2),
            ))
            .unwrap()
            .label(s.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .unwrap();
    root.present().unwrap();
}

fn plot_memory(path: &Path, memory: &[Memory]) {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (760, 440)).into_drawing_area();
    root.fill(&WHITE).unwrap();
    let max_n = memory.iter().map(|m| m.clients).max().unwrap_or(1) as f64 * 1.05;
    let max_kib = memory.iter().map(|m| m.kib_per_client).fold(1.0, f64::max) * 1.2;
    let mut chart = ChartBuilder::on(&root)
        .caption("Memory (PSS) per connected client", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..max_n, (1.0..max_kib).log_scale())
        .unwrap();
    chart
        .configure_mesh()
        .x_desc("connected clients")
        .y_desc("KiB per client (log)")
        .draw()
        .unwrap();
    let mut names: Vec<&str> = memory.iter().map(|m| m.name.as_str()).collect();
    names.dedup();
    for (i, name) in names.iter().enumerate() {
        let points: Vec<(f64, f64)> = memory
            .iter()
            .filter(|m| m.name == *name)
            .map(|m| (m.clients as f64, m.kib_per_client.max(1.0)))
            .collect();
        let colour = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .unwrap()
            .label(name.to_string())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 4, colour.filled())),
            )
            .unwrap();
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .unwrap();
    root.present().unwrap();
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let plan = Plan::new(smoke);
    let started = Instant::now();
    let date = output("date -u '+%Y-%m-%d %H:%M UTC'");
    let out_dir = if smoke {
        repo().join("target/bench-smoke")
    } else {
        repo()
    };
    let plot_dir = if smoke {
        out_dir.join("plots")
    } else {
        repo().join("benches/plots")
    };
    std::fs::create_dir_all(&plot_dir).unwrap();

    // A thousand subscribers are a thousand sockets in this process.
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(65536),
            maximum: Some(65536),
        },
    );
    eprintln!("e2e: starting the systems under test");
    let sys = start(&plan);
    let _leftovers = Leftovers(sys.peers.clone());
    let apache_pid = sys.apache.pid();
    let nginx_pid = sys.nginx.child.id();
    let tmp = tempfile::tempdir().unwrap();

    eprintln!("e2e: 1 latency");
    let mut lat_lp = Latency::new("serverpush long-poll (HTTP publish)");
    let mut lat_sse = Latency::new("serverpush SSE (HTTP publish)");
    let mut lat_local = Latency::new("serverpush SSE (local publish)");
    let mut lat_c = Latency::new("C hello CGI round trip (floor)");
    let mut lat_nlp = Latency::new("nchan long-poll");
    let mut lat_nes = Latency::new("nchan EventSource");
    let mut lat_seed = Latency::new("seed 004 PHP long-poll");
    let mut lat_l_lp = Latency::new("serverpush long-poll under lighttpd (HTTP publish)");
    let mut lat_l_sse = Latency::new("serverpush SSE under lighttpd (HTTP publish)");
    let mut cursor = 0;
    let mut l_cursor = 0;
    for round in 0..plan.rounds {
        let n = plan.latency_per_round;
        lat_c.round(c_cgi(&sys, n));
        lat_lp.round(ours_longpoll(sys.apache.port, "lat", n, &mut cursor));
        lat_sse.round(ours_sse(&sys, sys.apache.port, n, false, "sse"));
        lat_local.round(ours_sse(&sys, sys.apache.port, n, true, "local"));
        lat_l_lp.round(ours_longpoll(sys.lighttpd.port, "llat", n, &mut l_cursor));
        lat_l_sse.round(ours_sse(&sys, sys.lighttpd.port, n, false, "lsse"));
        lat_nlp.round(nchan_longpoll(&sys, n, &format!("lp{round}")));
        lat_nes.round(nchan_sse(&sys, n, &format!("es{round}")));
    }
    lat_seed.round(seed_longpoll(&sys, plan.seed_latency));

    eprintln!("e2e: 2 loss");
    let mut loss = ours_loss(&sys, plan.loss_per_publisher);
    reap(&sys.site.cgi_bin.display().to_string());
    eprintln!("e2e: 2 loss: nchan");
    loss.extend(nchan_loss(&sys, plan.loss_per_publisher));
    eprintln!("e2e: 2 loss: seed");
    loss.extend(seed_loss(&sys, if smoke { 5 } else { 100 }));
    release_seed_waiters(&sys);

    eprintln!("e2e: 3 fan-out");
    let fan = ours_fanout(&sys, plan.fanout_subscribers, plan.fanout_messages);
    reap(&sys.site.cgi_bin.display().to_string());

    eprintln!("e2e: 4 memory");
    let mut mem = Vec::new();
    let a = sys.apache.port;
    let cgi = |name: &str| sys.site.cgi_bin.join(name).display().to_string();
    let peer = |name: &str| sys.peers.join(name).display().to_string();
    for &n in &plan.memory_counts {
        mem.push(memory(
            "serverpush nph-clock (SSE)",
            apache_pid,
            a,
            "/cgi-bin/nph-clock?transport=sse&interval=3600",
            n,
            b"data:",
            &[],
            Some(&cgi("nph-clock")),
        ));
        mem.push(memory(
            "serverpush nph-longpoll (SSE)",
            apache_pid,
            a,
            "/cgi-bin/nph-longpoll/idle?transport=sse",
            n,
            b"retry:",
            &[],
            Some(&cgi("nph-longpoll")),
        ));
        mem.push(memory(
            "nchan EventSource",
            nginx_pid,
            sys.nginx.port,
            "/ev?id=mem",
            n,
            b"",
            &["Accept: text/event-stream"],
            None,
        ));
    }
    let pn = plan.peer_memory_count;
    mem.push(memory(
        "seed 002 Perl CGI.pm clock",
        apache_pid,
        a,
        "/peers/nph-clock.pl",
        pn,
        b"current time",
        &[],
        Some(&peer("nph-clock.pl")),
    ));
    mem.push(memory(
        "seed 003 PHP iframe clock",
        apache_pid,
        a,
        "/peers/iframe-backend.php",
        pn,
        b"printServerTime",
        &[],
        Some(&peer("iframe-backend.php")),
    ));
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    mem.push(memory(
        "seed 004 PHP long-poll",
        apache_pid,
        a,
        &format!("/peers/longpoll.php?timestamp={now}"),
        pn,
        b"",
        &[],
        Some(&peer("longpoll.php")),
    ));

    eprintln!("e2e: 5 idle CPU");
    let mut idle = vec![idle_cpu(
        "no clients (baseline)",
        apache_pid,
        a,
        "",
        0,
        plan.idle_secs,
        b"",
        None,
    )];
    idle.push(idle_cpu(
        "serverpush long-poll, waiting",
        apache_pid,
        a,
        "/cgi-bin/nph-longpoll/idle?timeout=120",
        plan.idle_subscribers,
        plan.idle_secs,
        b"",
        Some(&cgi("nph-longpoll")),
    ));
    idle.push(idle_cpu(
        "serverpush SSE, waiting",
        apache_pid,
        a,
        "/cgi-bin/nph-longpoll/idle?transport=sse",
        plan.idle_subscribers,
        plan.idle_secs,
        b"retry:",
        Some(&cgi("nph-longpoll")),
    ));
    idle.push(idle_cpu(
        "nchan long-poll, waiting",
        nginx_pid,
        sys.nginx.port,
        "/sub?id=idle",
        plan.idle_subscribers,
        plan.idle_secs,
        b"",
        None,
    ));
    idle.push(idle_cpu(
        "seed 004 PHP long-poll, waiting",
        apache_pid,
        a,
        &format!("/peers/longpoll.php?timestamp={now}"),
        pn,
        plan.idle_secs,
        b"",
        Some(&peer("longpoll.php")),
    ));

    eprintln!("e2e: 6 webcam");
    let mut sim = Command::new(util::bin("serverpush-camsim"))
        .arg("--out")
        .arg(sys.site.cams.join("cam.jpg"))
        .args([
            "--fps",
            "30",
            "--width",
            "640",
            "--height",
            "480",
            "--seconds",
            &(plan.webcam_secs * 2 + 20).to_string(),
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let cam_ours = webcam(
        "serverpush nph-webcam",
        a,
        "/cgi-bin/nph-webcam",
        plan.webcam_viewers,
        plan.webcam_secs,
    );
    let _ = sim.kill();
    let _ = sim.wait();
    let mut sim = Command::new(util::bin("serverpush-camsim"))
        .arg("--out")
        .arg(&sys.peer_cam)
        .args([
            "--fps",
            "30",
            "--width",
            "640",
            "--height",
            "480",
            "--seconds",
            &(plan.webcam_secs * 2 + 20).to_string(),
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    reap(&sys.site.cgi_bin.display().to_string());
    let cam_seed = webcam(
        "seed 000 PHP webcam",
        a,
        "/peers/webcam.php",
        1,
        plan.webcam_secs,
    );
    reap(&sys.peers.display().to_string());
    let _ = sim.kill();
    let _ = sim.wait();

    eprintln!("e2e: 7 spawn cost");
    let rounds = plan.rounds;
    let spawn = vec![
        wrk(
            "C hello CGI (floor)",
            a,
            "/peers/hello.cgi",
            false,
            plan.wrk_secs,
            rounds,
            tmp.path(),
        ),
        wrk(
            "serverpush publish (POST nph-longpoll)",
            a,
            "/cgi-bin/nph-longpoll/spawn",
            true,
            plan.wrk_secs,
            rounds,
            tmp.path(),
        ),
        wrk(
            "serverpush publish under lighttpd",
            sys.lighttpd.port,
            "/cgi-bin/nph-longpoll/lspawn",
            true,
            plan.wrk_secs,
            rounds,
            tmp.path(),
        ),
        wrk(
            "seed PHP hello (php-cgi)",
            a,
            "/peers/hello.php",
            false,
            plan.wrk_secs,
            rounds,
            tmp.path(),
        ),
        wrk(
            "nchan publish",
            sys.nginx.port,
            "/pub?id=spawn",
            true,
            plan.wrk_secs,
            rounds,
            tmp.path(),
        ),
    ];

    // Versions and machine.
    let versions = [
        format!("serverpush {}", env!("CARGO_PKG_VERSION")),
        output("apache2 -v | head -1"),
        output("lighttpd -v 2>&1 | head -1"),
        output("nginx -v 2>&1"),
        output("dpkg-query -W -f='nchan ${Version}' libnginx-mod-nchan"),
        output("php-cgi -v | head -1"),
        output("perl -MCGI -e 'print \"Perl $^V, CGI.pm $CGI::VERSION\"'"),
        output("wrk -v 2>&1 | head -1"),
        output("rustc -V"),
    ];
    let machine = format!(
        "{} cores ({}), {} memory, kernel {}",
        output("nproc"),
        output("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").trim(),
        output("free -h | awk '/Mem:/ {print $2}'"),
        output("uname -r")
    );

    plot_latency(
        &plot_dir.join("latency.svg"),
        &[&lat_c, &lat_lp, &lat_sse, &lat_local, &lat_nlp, &lat_nes],
    );
    plot_memory(&plot_dir.join("memory.svg"), &mem);

    let mut md = String::new();
    let w = &mut md;
    writeln!(w, "# Benchmarks\n").unwrap();
    writeln!(
        w,
        "Measured by `cargo bench --bench e2e` on {date}{}, in {:.0} s.",
        if smoke {
            " (smoke run: tiny N, figures meaningless)"
        } else {
            ""
        },
        started.elapsed().as_secs_f64()
    )
    .unwrap();
    writeln!(w, "Machine: {machine}.").unwrap();
    writeln!(w, "Software: {}.", versions.join("; ")).unwrap();
    writeln!(w, "Everything runs on loopback on the same cores as the load client; Apache runs mpm_event + mod_cgid from `apache-conf/httpd.conf.in` with the worker limit raised, lighttpd runs from `apache-conf/lighttpd.conf.in` (latency and spawn cost, where the server's CGI handling differs), the peers are the scripts in `benches/peers/`, nchan runs in nginx.").unwrap();
    writeln!(w, "Figures are medians over {} interleaved rounds where marked; ratios compare systems measured in this same run.\n", plan.rounds).unwrap();

    writeln!(w, "## 1. Publish-to-delivery latency\n").unwrap();
    writeln!(w, "A subscriber is parked, then a message is published; the time runs from just before the publish is sent to when the subscriber has the whole message (its `Content-Length`, last chunk or close, as a browser would count it). {} samples per system ({} for the seed, whose whole-second mtimes allow one publish a second). ![latency](benches/plots/latency.svg)\n", plan.rounds * plan.latency_per_round, plan.seed_latency).unwrap();
    writeln!(w, "| system | p50 ms | p99 ms | p50 / C-CGI floor | p99 / C-CGI floor |\n|---|---|---|---|---|").unwrap();
    let floor = (lat_c.p50(), lat_c.p99());
    for l in [
        &lat_c, &lat_lp, &lat_sse, &lat_local, &lat_l_lp, &lat_l_sse, &lat_nlp, &lat_nes, &lat_seed,
    ] {
        writeln!(
            w,
            "| {} | {:.2} | {:.2} | {:.2}× | {:.2}× |",
            l.name,
            l.p50(),
            l.p99(),
            l.p50() / floor.0,
            l.p99() / floor.1
        )
        .unwrap();
    }
    writeln!(w, "\nTargets: an HTTP publish costs one CGI start, so ours should be within 1.2× of the C-CGI round trip at p50 and 2× at p99: long-poll {}, SSE {}. A local publish (the library, as `serverpush-publish` uses it) should be ≤ 1 ms at p50: {:.2} ms, {}.\n",
        verdict(lat_lp.p50() <= 1.2 * floor.0 && lat_lp.p99() <= 2.0 * floor.1),
        verdict(lat_sse.p50() <= 1.2 * floor.0 && lat_sse.p99() <= 2.0 * floor.1),
        lat_local.p50(), verdict(lat_local.p50() <= 1.0)).unwrap();

    writeln!(w, "## 2. Loss under load\n").unwrap();
    writeln!(w, "Four publishers send {} messages at full speed (HTTP POST each) while a long-poll subscriber re-polls with its cursor and an SSE subscriber follows. The seed takes a burst of {} publishes 10 ms apart.\n", plan.loss_per_publisher * 4, if smoke { 5 } else { 100 }).unwrap();
    writeln!(w, "| subscriber | sent | received | lost | repeated | out of order |\n|---|---|---|---|---|---|").unwrap();
    for l in &loss {
        writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} |",
            l.name, l.sent, l.received, l.lost, l.repeated, l.out_of_order
        )
        .unwrap();
    }

    writeln!(w, "\n## 3. Fan-out\n").unwrap();
    writeln!(w, "{} SSE subscribers on one channel (one CGI process each), {} messages published locally at 10 per second.\n", fan.subscribers, fan.messages).unwrap();
    writeln!(
        w,
        "| delivered | of | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|"
    )
    .unwrap();
    writeln!(
        w,
        "| {} | {} | {:.1} | {:.1} | {:.1} |",
        fan.delivered,
        fan.subscribers * fan.messages,
        fan.p50,
        fan.p99,
        fan.max
    )
    .unwrap();
    writeln!(
        w,
        "\nTarget: all delivered, p99 ≤ 100 ms: {}.\n",
        verdict(fan.delivered == fan.subscribers * fan.messages && fan.p99 <= 100.0)
    )
    .unwrap();

    writeln!(w, "## 4. Memory per connected client\n").unwrap();
    writeln!(w, "For the CGI systems, the PSS (`/proc/PID/smaps_rollup`) of the program's processes with N clients connected, divided by N; Apache's own share per connection is about 0, its worker threads being preallocated. For nchan, the PSS of its whole process tree with the clients minus without. ![memory](benches/plots/memory.svg)\n").unwrap();
    writeln!(w, "| system | clients | KiB per client |\n|---|---|---|").unwrap();
    for m in &mem {
        writeln!(
            w,
            "| {} | {} | {:.0} |",
            m.name, m.clients, m.kib_per_client
        )
        .unwrap();
    }
    writeln!(w, "\nTarget: ours ≤ 300 KiB per client.\n").unwrap();

    writeln!(w, "## 5. Idle CPU\n").unwrap();
    writeln!(w, "CPU time of the server tree over {} s with waiting subscribers that receive nothing ({} for ours and nchan, {} for the seed).\n", plan.idle_secs, plan.idle_subscribers, pn).unwrap();
    writeln!(
        w,
        "| system | waiting clients | % of one core |\n|---|---|---|"
    )
    .unwrap();
    for i in &idle {
        writeln!(
            w,
            "| {} | {} | {:.2} |",
            i.name, i.clients, i.percent_of_core
        )
        .unwrap();
    }

    writeln!(w, "\n## 6. Webcam\n").unwrap();
    writeln!(w, "The simulator writes 640×480 JPEGs at 30 frames/s by rename; viewers read for {} s. Delay is from the frame file's mtime to the part's arrival.\n", plan.webcam_secs).unwrap();
    writeln!(w, "| system | viewers | slowest viewer fps | median fps | delay p50 ms | delay p99 ms |\n|---|---|---|---|---|---|").unwrap();
    for c in [&cam_ours, &cam_seed] {
        let delay = |d: f64| {
            if d.is_nan() {
                "n/a (no timestamps)".to_owned()
            } else {
                format!("{d:.1}")
            }
        };
        writeln!(
            w,
            "| {} | {} | {:.1} | {:.1} | {} | {} |",
            c.name,
            c.viewers,
            c.min_fps,
            c.median_fps,
            delay(c.delay_p50),
            delay(c.delay_p99)
        )
        .unwrap();
    }
    writeln!(
        w,
        "\nTarget: ≥ 29 frames/s to every viewer, delay p99 ≤ 20 ms: {}.\n",
        verdict(cam_ours.min_fps >= 29.0 && cam_ours.delay_p99 <= 20.0)
    )
    .unwrap();

    writeln!(w, "## 7. Spawn cost\n").unwrap();
    writeln!(
        w,
        "`wrk -t2 -c16 -d{}s`, {} rounds, median requests per second.\n",
        plan.wrk_secs, rounds
    )
    .unwrap();
    writeln!(
        w,
        "| target | req/s (median) | rounds | / C-CGI floor |\n|---|---|---|---|"
    )
    .unwrap();
    let c_floor = median(&spawn[0].runs);
    for s in &spawn {
        let m = median(&s.runs);
        writeln!(
            w,
            "| {} | {:.0} | {} | {:.2}× |",
            s.name,
            m,
            s.runs
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(", "),
            m / c_floor
        )
        .unwrap();
    }
    writeln!(
        w,
        "\nTarget: ours ≥ 0.8× the C floor: {}.",
        verdict(median(&spawn[1].runs) >= 0.8 * c_floor)
    )
    .unwrap();

    let path = out_dir.join("BENCHMARKS.md");
    std::fs::write(&path, md).unwrap();
    eprintln!(
        "e2e: wrote {} and plots in {} ({:.0} s)",
        path.display(),
        plot_dir.display(),
        started.elapsed().as_secs_f64()
    );
}

fn verdict(reached: bool) -> &'static str {
    if reached {
        "reached"
    } else {
        "**not reached**"
    }
}
