//! Scenarios 4 and 5: memory per connected client, and idle CPU.

#[allow(unused_imports)]
use super::*;

// Scenarios 4 and 5: memory and idle CPU

/// Opens `n` connections to `path` on `port`, each read until `marker`; returns them held open.
pub(crate) fn hold(
    port: u16,
    path: &str,
    n: usize,
    marker: &[u8],
    headers: &[&str],
) -> Vec<client::Response> {
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

pub(crate) struct Memory {
    pub(crate) name: String,
    pub(crate) clients: usize,
    pub(crate) kib_per_client: f64,
    /// What Redis holds per client for its connection, when the system uses Redis.
    pub(crate) redis_kib_per_client: Option<f64>,
}

/// Redis's memory for its normal clients' connections (`INFO memory`, `mem_clients_normal`),
/// in KiB.
pub(crate) fn redis_clients_kib(redis: &Redis) -> f64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query(&mut redis.connection())
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("mem_clients_normal:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

pub(crate) fn settle() {
    std::thread::sleep(Duration::from_millis(1500));
}

/// Processes whose command line contains `pattern` (a CGI program's or script's path).
pub(crate) fn pids_matching(pattern: &str) -> Vec<u32> {
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
pub(crate) fn reap(pattern: &str) {
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
pub(crate) fn memory(
    name: &str,
    server_pid: u32,
    port: u16,
    path: &str,
    n: usize,
    marker: &[u8],
    headers: &[&str],
    program: Option<&str>,
    redis: Option<&Redis>,
) -> Memory {
    settle();
    let idle = tree_pss(server_pid);
    let redis_idle = redis.map(redis_clients_kib);
    let clients = hold(port, path, n, marker, headers);
    settle();
    let redis_kib_per_client = redis
        .zip(redis_idle)
        .map(|(r, idle)| (redis_clients_kib(r) - idle).max(0.0) / n as f64);
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
        redis_kib_per_client,
    }
}

pub(crate) struct Idle {
    pub(crate) name: String,
    pub(crate) clients: usize,
    pub(crate) percent_of_core: f64,
}

pub(crate) fn idle_cpu(
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
