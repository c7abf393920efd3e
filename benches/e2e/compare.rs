//! `--compare DIR`: this build's `nph-longpoll` beside another build's (the programs in `DIR`,
//! such as a release built from an earlier commit), in one run on the same servers: fan-out to
//! the plan's subscribers, SSE publish-to-delivery, and a stream's start (what a slot, and the
//! presence record written into it, cost), under Apache and lighttpd. The two
//! builds take turns, round by round and in alternating order, so drift in the machine falls
//! on both. Writes `benches/compare.md` (under `target/` for `--smoke`).

#[allow(unused_imports)]
use super::*;

/// One build's figures for one measure.
struct Figures {
    p50: Vec<f64>,
    p99: Vec<f64>,
}

impl Figures {
    fn new() -> Figures {
        Figures {
            p50: Vec::new(),
            p99: Vec::new(),
        }
    }
}

/// Puts the build's `nph-longpoll` (`dir`, or this build's) in place under both of its names;
/// renamed over the old file, so a program starting meanwhile runs one or the other, whole.
fn install(site: &Site, dir: Option<&Path>) {
    let from = match dir {
        Some(dir) => dir.join("nph-longpoll"),
        None => util::bin("nph-longpoll"),
    };
    for name in ["nph-longpoll", "longpoll"] {
        let tmp = site.cgi_bin.join(format!(".{name}.new"));
        std::fs::copy(&from, &tmp).unwrap();
        std::fs::rename(&tmp, site.cgi_bin.join(name)).unwrap();
    }
}

/// `n` SSE streams started one after another, each timed from its request to its opening
/// event (`retry:`) and closed then.
fn stream_starts(port: u16, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let t0 = Instant::now();
            let mut r = request(
                port,
                "GET",
                "/cgi-bin/nph-longpoll/starts?transport=sse",
                "HTTP/1.1",
                &[],
            );
            r.read_until_count(b"retry:", 1, Duration::from_secs(30));
            ms(t0.elapsed())
        })
        .collect()
}

pub(crate) fn run_compare(plan: &Plan, old: &Path, date: &str, out: &Path) {
    assert!(
        old.join("nph-longpoll").is_file(),
        "--compare: {} has no nph-longpoll",
        old.display()
    );
    let sys = start(plan);
    let _leftovers = Leftovers(sys.peers.clone());
    let mut spool = store_of(&sys.site);
    let servers = [("Apache", sys.apache.port), ("lighttpd", sys.lighttpd.port)];
    let measures = [
        "fan-out p50/p99 ms",
        "SSE publish-to-delivery p50/p99 ms",
        "SSE stream start, request to its first event, p50/p99 ms",
    ];
    // [build][server][measure]
    let mut figures: Vec<Vec<Vec<Figures>>> = (0..2)
        .map(|_| {
            (0..servers.len())
                .map(|_| (0..measures.len()).map(|_| Figures::new()).collect())
                .collect()
        })
        .collect();
    let started = Instant::now();
    for round in 0..plan.rounds {
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for build in order {
            install(&sys.site, (build == 1).then_some(old));
            for (s, (server, port)) in servers.iter().enumerate() {
                eprintln!("e2e: compare round {round}, build {build}, {server}");
                let fan = ours_fanout(
                    *port,
                    spool.as_mut(),
                    "fan",
                    plan.fanout_subscribers,
                    plan.fanout_messages,
                    || 0,
                );
                reap(&sys.site.cgi_bin.display().to_string());
                figures[build][s][0].p50.push(fan.p50);
                figures[build][s][0].p99.push(fan.p99);
                // The site's open channels for publish-to-delivery, as the default run uses.
                let channel = ["sse", "lsse"][s];
                let samples = sorted(ours_sse(
                    spool.as_mut(),
                    *port,
                    plan.latency_per_round,
                    false,
                    channel,
                ));
                reap(&sys.site.cgi_bin.display().to_string());
                figures[build][s][1].p50.push(percentile(&samples, 0.5));
                figures[build][s][1].p99.push(percentile(&samples, 0.99));
                let starts = sorted(stream_starts(*port, plan.latency_per_round));
                reap(&sys.site.cgi_bin.display().to_string());
                figures[build][s][2].p50.push(percentile(&starts, 0.5));
                figures[build][s][2].p99.push(percentile(&starts, 0.99));
            }
        }
    }
    install(&sys.site, None);

    let mut w = String::new();
    writeln!(w, "# This build beside another, in one run\n").unwrap();
    writeln!(
        w,
        "Measured by `scripts/bench.sh --compare-with {}` on {date}, in {:.0} s: {} rounds, this build's `nph-longpoll` and that commit's taking turns in alternating order on the same Apache and lighttpd, spool store. Fan-out: {} SSE subscribers, {} messages at 10 a second, each message's delivery timed to every subscriber. Publish-to-delivery: one SSE subscriber, {} publishes over HTTP one after another. Stream start: as many SSE streams started one after another, each timed to its first event and closed. Each figure is the median of the rounds' p50 and p99.\n",
        std::env::var("SERVERPUSH_COMPARE_REV").unwrap_or_else(|_| "(another build)".to_owned()),
        started.elapsed().as_secs_f64(),
        plan.rounds,
        plan.fanout_subscribers,
        plan.fanout_messages,
        plan.latency_per_round,
    )
    .unwrap();
    writeln!(
        w,
        "| server | measure | this build p50 | p99 | that commit's p50 | p99 | ratio p50 | ratio p99 | p99 by round, this build | that commit's |"
    )
    .unwrap();
    writeln!(w, "|---|---|---|---|---|---|---|---|---|---|").unwrap();
    for (s, (server, _)) in servers.iter().enumerate() {
        for (m, measure) in measures.iter().enumerate() {
            let (new, old) = (&figures[0][s][m], &figures[1][s][m]);
            let (n50, n99) = (median(&new.p50), median(&new.p99));
            let (o50, o99) = (median(&old.p50), median(&old.p99));
            let rounds = |f: &Figures| {
                f.p99
                    .iter()
                    .map(|v| format!("{v:.1}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            writeln!(
                w,
                "| {server} | {measure} | {n50:.2} | {n99:.2} | {o50:.2} | {o99:.2} | {:.2}× | {:.2}× | {} | {} |",
                n50 / o50,
                n99 / o99,
                rounds(new),
                rounds(old)
            )
            .unwrap();
        }
    }
    let path = if plan.smoke {
        out.join("compare.md")
    } else {
        repo().join("benches/compare.md")
    };
    std::fs::write(&path, &w).unwrap();
    eprintln!("{w}\ne2e: wrote {}", path.display());
}
