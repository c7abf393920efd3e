//! The end-to-end benchmark: serverpush, the seeds' PHP and Perl scripts, and nchan, measured the
//! same way in one run on this machine. `scripts/bench.sh` (`cargo bench --bench e2e` with the
//! programs built as they are deployed, static-pie) runs it in full and writes `BENCHMARKS.md`
//! and `benches/plots/*.svg`; `scripts/bench.sh --smoke` runs every scenario briefly (CI does,
//! so the benchmark cannot rot) and writes under `target/`.
//!
//! Every system runs on loopback, started here and stopped at the end; every loop is bounded.
//! Figures are reported, never asserted: a machine is noisy, ratios within one run are what count.
//!
//! Layout: `systems` starts what is measured (serverpush with the spool store under Apache,
//! lighttpd and nginx through fcgiwrap, with the Redis store under a second Apache, the seeds'
//! scripts, nchan in the same nginx with and without Redis); `measure` holds the helpers every scenario uses; one module per scenario
//! (`latency`, `loss`, `fanout`, `footprint` for memory and idle CPU, `camera`, `spawn`), each
//! with a `run` that returns its rows (a system, its figures, and a key the report's ratios look
//! up); `report` renders the rows into BENCHMARKS.md and the plots. `main` runs the scenarios in
//! order. Apart: `crowd` (`--crowd`) and `compare` (`--compare DIR`, this build beside another).

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
use util::{StoreExt, repo};

mod camera;
mod compare;
mod crowd;
mod fanout;
mod footprint;
mod latency;
mod loss;
mod measure;
mod mercure;
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
use mercure::*;
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
        // `--crowd-under apache` (or `lighttpd`, `nginx`) runs one server's crowds only, for trying a
        // change; its report goes under `target/`, since the committed one shows them all.
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
    let mut stores = Stores::of(&sys);
    // The scenarios, in the order of the report; each returns its rows.
    let latency = latency::run(&sys, &plan, &mut stores);
    let loss = loss::run(&sys, &plan, &mut stores);
    let fanout = fanout::run(&sys, &plan, &mut stores);
    let (memory, idle) = footprint::run(&sys, &plan);
    let webcam = camera::run(&sys, &plan);
    let spawn = spawn::run(&sys, &plan);

    let results = Results {
        about: About::this_run(smoke, date, started.elapsed().as_secs_f64()),
        latency,
        loss,
        fanout,
        memory,
        idle,
        webcam,
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
