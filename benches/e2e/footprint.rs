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
    /// What the figure is made of, when it adds several parts.
    pub(crate) parts: Option<String>,
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
        parts: None,
    }
}

/// PSS per stream of serverpush under nginx, everything a stream adds: its program, the
/// fcgiwrap worker it holds (each worker is preforked and costs the same busy or idle, so the
/// workers' PSS over their count), and nginx's share (its tree with the clients minus without:
/// the client's connection and the FastCGI one).
pub(crate) fn nginx_memory(sys: &Systems, n: usize) -> Memory {
    let program = sys.site.program("nph-longpoll").display().to_string();
    settle();
    let nginx_idle = tree_pss(sys.nginx.pid());
    let clients = hold(
        sys.nginx.port,
        "/cgi-bin/nph-longpoll/idle?transport=sse",
        n,
        b"retry:",
        &[],
    );
    settle();
    let programs: u64 = pids_matching(&program).into_iter().map(pss_kib).sum();
    let nginx = tree_pss(sys.nginx.pid()).saturating_sub(nginx_idle);
    let workers: Vec<u32> = sys
        .nginx
        .helper_pid()
        .map(tree)
        .unwrap_or_default()
        .into_iter()
        .filter(|&pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "fcgiwrap")
        })
        .collect();
    let worker_kib =
        workers.iter().map(|&pid| pss_kib(pid)).sum::<u64>() as f64 / workers.len().max(1) as f64;
    drop(clients);
    reap(&program);
    let (program_kib, nginx_kib) = (programs as f64 / n as f64, nginx as f64 / n as f64);
    Memory {
        name: "serverpush nph-longpoll (SSE) under nginx + fcgiwrap".to_owned(),
        clients: n,
        kib_per_client: program_kib + worker_kib + nginx_kib,
        redis_kib_per_client: None,
        parts: Some(format!(
            "program {program_kib:.0} + fcgiwrap worker {worker_kib:.0} + nginx {nginx_kib:.0}"
        )),
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

/// Scenarios 4 and 5: memory per client at each count, then idle CPU; a row each.
pub(crate) fn run(sys: &Systems, plan: &Plan) -> (Vec<Memory>, Vec<Idle>) {
    let apache_pid = sys.apache.pid();
    let nginx_pid = sys.nginx.pid();
    let r = sys.apache_redis.port;
    eprintln!("e2e: 4 memory");
    let mut mem = Vec::new();
    let a = sys.apache.port;
    let cgi = |name: &str| sys.site.cgi_bin.join(name).display().to_string();
    let cgi_redis = |name: &str| sys.site_redis.cgi_bin.join(name).display().to_string();
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
            None,
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
            None,
        ));
        mem.push(memory(
            "serverpush nph-longpoll over Redis (SSE)",
            sys.apache_redis.pid(),
            r,
            "/cgi-bin/nph-longpoll/idle?transport=sse",
            n,
            b"retry:",
            &[],
            Some(&cgi_redis("nph-longpoll")),
            Some(&sys.redis),
        ));
        mem.push(nginx_memory(sys, n));
        mem.push(memory(
            "nchan EventSource",
            nginx_pid,
            sys.nginx.port,
            "/ev?id=mem",
            n,
            b"",
            &["Accept: text/event-stream"],
            None,
            None,
        ));
        mem.push(memory(
            "nchan EventSource over Redis",
            nginx_pid,
            sys.nginx.port,
            "/rev?id=mem",
            n,
            b"",
            &["Accept: text/event-stream"],
            None,
            Some(&sys.redis),
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
        None,
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
        None,
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
        None,
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
        "serverpush SSE over Redis, waiting",
        sys.apache_redis.pid(),
        r,
        "/cgi-bin/nph-longpoll/idle?transport=sse",
        plan.idle_subscribers,
        plan.idle_secs,
        b"retry:",
        Some(&cgi_redis("nph-longpoll")),
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

    (mem, idle)
}
