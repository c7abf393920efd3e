//! The end-to-end benchmark: serverpush, the seeds' PHP and Perl scripts, and nchan, measured the
//! same way in one run on this machine. `scripts/bench.sh` (`cargo bench --bench e2e` with the
//! programs built as they are deployed, static-pie) runs it in full and writes `BENCHMARKS.md`
//! and `benches/plots/*.svg`; `scripts/bench.sh --smoke` runs every scenario briefly (CI does,
//! so the benchmark cannot rot) and writes under `target/`.
//!
//! Every system runs on loopback, started here and stopped at the end; every loop is bounded.
//! Figures are reported, never asserted: a machine is noisy, ratios within one run are what count.
//!
//! Layout: `systems` starts what is measured (serverpush with the spool store under Apache and
//! lighttpd, with the Redis store under a second Apache, the seeds' scripts, nchan in nginx with
//! and without Redis); `measure` holds the helpers every scenario uses; one module per scenario
//! (`latency`, `loss`, `fanout`, `footprint` for memory and idle CPU, `camera`, `spawn`);
//! `report` writes BENCHMARKS.md and the plots. `main` runs the scenarios in order.

#![allow(
    // A scenario's knobs are spelled out at each call, where the report's rows are made.
    clippy::too_many_arguments,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    dead_code
)]

#[path = "../../tests/client.rs"]
mod client;
#[path = "../../tests/fixtures.rs"]
mod fixtures;
#[path = "../../tests/util.rs"]
mod util;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serverpush::store::ChannelStore;

use client::{request, send};
use fixtures::{Redis, Server, Site, run_as};
use util::{StoreExt, free_port, repo, wait_for};

mod camera;
mod compare;
mod crowd;
mod fanout;
mod footprint;
mod latency;
mod loss;
mod measure;
mod report;
mod spawn;
mod systems;

use camera::*;
use compare::*;
use crowd::*;
use fanout::*;
use footprint::*;
use latency::*;
use loss::*;
use measure::*;
use report::*;
use spawn::*;
use systems::*;

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
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--crowd") {
        let n = args
            .get(at + 1)
            .and_then(|a| a.parse().ok())
            .unwrap_or(10_000);
        // `--crowd-under apache` (or `lighttpd`) runs one server's crowds only, for trying a
        // change; its report goes under `target/`, since the committed one shows both.
        let under = args
            .iter()
            .position(|a| a == "--crowd-under")
            .and_then(|at| args.get(at + 1))
            .map(|s| s.to_ascii_lowercase());
        let crowds = run_crowds(n, under.as_deref());
        let text = crowd_report(&crowds, &date, started.elapsed().as_secs_f64());
        let path = if smoke || under.is_some() {
            repo().join("target/crowd.md")
        } else {
            repo().join("benches/crowd.md")
        };
        std::fs::write(&path, &text).unwrap();
        eprintln!("{text}\ne2e: wrote {}", path.display());
        return;
    }
    if let Some(old) = args
        .iter()
        .position(|a| a == "--compare")
        .and_then(|at| args.get(at + 1))
    {
        run_compare(&plan, Path::new(old), &date, &out_dir);
        return;
    }
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
    let mut lat_r_lp = Latency::new("serverpush long-poll over Redis (HTTP publish)");
    let mut lat_r_sse = Latency::new("serverpush SSE over Redis (HTTP publish)");
    let mut lat_r_local = Latency::new("serverpush SSE over Redis (local publish)");
    let mut lat_nr_lp = Latency::new("nchan long-poll over Redis");
    let mut lat_nr_es = Latency::new("nchan EventSource over Redis");
    let mut spool = store_of(&sys.site);
    let mut redis = store_of(&sys.site_redis);
    let r = sys.apache_redis.port;
    let mut lat_lp_close = Latency::new("serverpush long-poll, to the connection's close");
    let mut lat_l_lp_close =
        Latency::new("serverpush long-poll under lighttpd, to the connection's close");
    let (mut cursor, mut l_cursor, mut r_cursor) = (0, 0, 0);
    // [server][answer], Apache then lighttpd.
    let mut one_shots: Vec<Vec<Latency>> = ["Apache", "lighttpd"]
        .iter()
        .map(|server| {
            ONE_SHOTS
                .iter()
                .map(|(what, ..)| Latency::new(&format!("{what} under {server}")))
                .collect()
        })
        .collect();
    spool.put("waiting", "a message for every long-poll");
    for round in 0..plan.rounds {
        let n = plan.latency_per_round;
        for (server, port) in [sys.apache.port, sys.lighttpd.port].into_iter().enumerate() {
            for (which, row) in one_shots[server].iter_mut().enumerate() {
                row.round(one_shot(port, which, n / 3));
            }
        }
        let n = plan.latency_per_round;
        let mut closes = Vec::new();
        lat_c.round(c_cgi(&sys, n, &mut closes));
        closes.clear();
        lat_lp.round(ours_longpoll(
            sys.apache.port,
            "lat",
            n,
            &mut cursor,
            &mut closes,
        ));
        lat_lp_close.round(std::mem::take(&mut closes));
        lat_sse.round(ours_sse(spool.as_mut(), sys.apache.port, n, false, "sse"));
        lat_local.round(ours_sse(spool.as_mut(), sys.apache.port, n, true, "local"));
        lat_r_lp.round(ours_longpoll(r, "lat", n, &mut r_cursor, &mut closes));
        closes.clear();
        lat_r_sse.round(ours_sse(redis.as_mut(), r, n, false, "sse"));
        lat_r_local.round(ours_sse(redis.as_mut(), r, n, true, "local"));
        lat_l_lp.round(ours_longpoll(
            sys.lighttpd.port,
            "llat",
            n,
            &mut l_cursor,
            &mut closes,
        ));
        lat_l_lp_close.round(std::mem::take(&mut closes));
        lat_l_sse.round(ours_sse(
            spool.as_mut(),
            sys.lighttpd.port,
            n,
            false,
            "lsse",
        ));
        lat_nlp.round(nchan_longpoll(
            &sys,
            n,
            &format!("lp{round}"),
            Nchan::Memory,
        ));
        lat_nes.round(nchan_sse(&sys, n, &format!("es{round}"), Nchan::Memory));
        lat_nr_lp.round(nchan_longpoll(
            &sys,
            n,
            &format!("rlp{round}"),
            Nchan::Redis,
        ));
        lat_nr_es.round(nchan_sse(&sys, n, &format!("res{round}"), Nchan::Redis));
    }
    lat_seed.round(seed_longpoll(&sys, plan.seed_latency));

    eprintln!("e2e: 2 loss");
    let per = plan.loss_per_publisher;
    let mut loss = ours_loss(sys.apache.port, spool.as_mut(), per, "");
    reap(&sys.site.cgi_bin.display().to_string());
    loss.extend(ours_loss(r, redis.as_mut(), per, " over Redis"));
    reap(&sys.site_redis.cgi_bin.display().to_string());
    eprintln!("e2e: 2 loss: nchan");
    loss.extend(nchan_loss(&sys, per, Nchan::Memory));
    loss.extend(nchan_loss(&sys, per, Nchan::Redis));
    eprintln!("e2e: 2 loss: seed");
    loss.extend(seed_loss(&sys, if smoke { 5 } else { 100 }));
    release_seed_waiters(&sys);

    eprintln!("e2e: 3 fan-out");
    let (subscribers, messages) = (plan.fanout_subscribers, plan.fanout_messages);
    let fan = ours_fanout(sys.apache.port, spool.as_mut(), subscribers, messages);
    reap(&sys.site.cgi_bin.display().to_string());
    let fan_redis = ours_fanout(r, redis.as_mut(), subscribers, messages);
    reap(&sys.site_redis.cgi_bin.display().to_string());
    let fan_floor = floor_fanout(sys.apache.port, &sys.floor_dir, subscribers, messages);
    reap(&sys.site.cgi_bin.display().to_string());
    let l = sys.lighttpd.port;
    let fan_l = ours_fanout(l, spool.as_mut(), subscribers, messages);
    reap(&sys.site.cgi_bin.display().to_string());
    let fan_l_floor = floor_fanout(l, &sys.floor_dir, subscribers, messages);
    reap(&sys.site.cgi_bin.display().to_string());

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

    eprintln!("e2e: 6 webcam");
    let mut sim = camsim(&sys.site.cams.join("cam.jpg"), plan.webcam_secs * 2 + 20);
    std::thread::sleep(Duration::from_secs(1));
    let cam_ours = webcam(
        "serverpush nph-webcam",
        a,
        "/cgi-bin/nph-webcam",
        plan.webcam_viewers,
        plan.webcam_secs,
    );
    reap(&sys.site.cgi_bin.display().to_string());
    let cam_floor = webcam(
        "C floor (inotify, one part per file)",
        a,
        &format!(
            "/cgi-bin/nph-mjpeg-floor?{}",
            sys.site.cams.join("cam.jpg").display()
        ),
        plan.webcam_viewers,
        plan.webcam_secs,
    );
    let _ = sim.kill();
    let _ = sim.wait();
    let mut sim = camsim(&sys.peer_cam, plan.webcam_secs * 2 + 20);
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
        output("redis-server --version | cut -d' ' -f1-3"),
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

    let results = Results {
        lat_lp_close,
        lat_l_lp_close,
        one_shots,
        smoke,
        date,
        elapsed_secs: started.elapsed().as_secs_f64(),
        machine,
        versions: versions.to_vec(),
        lat_c,
        lat_lp,
        lat_sse,
        lat_local,
        lat_l_lp,
        lat_l_sse,
        lat_r_lp,
        lat_r_sse,
        lat_r_local,
        lat_nlp,
        lat_nes,
        lat_nr_lp,
        lat_nr_es,
        lat_seed,
        loss,
        fan,
        fan_redis,
        fan_floor,
        fan_l,
        fan_l_floor,
        mem,
        idle,
        cam_ours,
        cam_floor,
        cam_seed,
        spawn,
    };
    let md = report::write(results, &plan, &plot_dir);
    let path = out_dir.join("BENCHMARKS.md");
    std::fs::write(&path, md).unwrap();
    eprintln!(
        "e2e: wrote {} and plots in {} ({:.0} s)",
        path.display(),
        plot_dir.display(),
        started.elapsed().as_secs_f64()
    );
}
