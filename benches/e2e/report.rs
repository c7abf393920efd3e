//! The report: BENCHMARKS.md and the plots.

#[allow(unused_imports)]
use super::*;

/// Everything one run measured, for the report.
pub(crate) struct Results {
    pub(crate) about: About,
    pub(crate) latency: LatencyRows,
    pub(crate) loss: Vec<Loss>,
    pub(crate) fanout: FanoutRows,
    pub(crate) memory: Vec<Memory>,
    pub(crate) idle: Vec<Idle>,
    pub(crate) webcam: WebcamRows,
    pub(crate) spawn: Vec<Spawn>,
}

/// When, where and with what a run was made.
pub(crate) struct About {
    pub(crate) smoke: bool,
    pub(crate) date: String,
    pub(crate) elapsed_secs: f64,
    pub(crate) machine: String,
    pub(crate) versions: Vec<String>,
}

impl About {
    /// This machine and the versions of everything measured.
    pub(crate) fn this_run(smoke: bool, date: String, elapsed_secs: f64) -> About {
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

        About {
            smoke,
            date,
            elapsed_secs,
            machine,
            versions: versions.to_vec(),
        }
    }
}

/// Draws the plots into `plot_dir` and returns BENCHMARKS.md's text.
pub(crate) fn write(results: Results, plan: &Plan, plot_dir: &Path) -> String {
    let Results {
        about:
            About {
                smoke,
                date,
                elapsed_secs,
                machine,
                versions,
            },
        latency,
        loss,
        fanout,
        memory: mem,
        idle,
        webcam,
        spawn,
    } = results;
    let one_shots = &latency.one_shots;
    let [lat_c, lat_lp, lat_sse, lat_local, lat_l_lp, lat_l_sse] =
        ["c", "lp", "sse", "local", "l_lp", "l_sse"].map(|k| latency.get(k));
    let [lat_r_lp, lat_r_sse, lat_r_local, lat_nlp, lat_nes] =
        ["r_lp", "r_sse", "r_local", "nlp", "nes"].map(|k| latency.get(k));
    let [lat_nr_lp, lat_nr_es, lat_seed, lat_lp_close, lat_l_lp_close] =
        ["nr_lp", "nr_es", "seed", "lp_close", "l_lp_close"].map(|k| latency.get(k));
    let [lat_hub, lat_hub_local, lat_c_publish] =
        ["hub", "hub_local", "c_publish"].map(|k| latency.get(k));
    let [lat_n_lp, lat_n_sse, lat_n_lp_close] =
        ["n_lp", "n_sse", "n_lp_close"].map(|k| latency.get(k));
    let fan_hub = fanout.get("apache_mercure");
    let [
        fan,
        fan_redis,
        fan_floor,
        fan_protocol_floor,
        fan_l,
        fan_l_floor,
        fan_l_protocol_floor,
        fan_n,
        fan_n_floor,
        fan_n_protocol_floor,
    ] = [
        "apache_spool",
        "apache_redis",
        "apache_floor",
        "apache_protocol_floor",
        "lighttpd_spool",
        "lighttpd_floor",
        "lighttpd_protocol_floor",
        "nginx_spool",
        "nginx_floor",
        "nginx_protocol_floor",
    ]
    .map(|k| fanout.get(k));
    let (cam_ours, cam_floor, cam_seed) = (&webcam.ours, &webcam.floor, &webcam.seed);
    plot_latency(
        &plot_dir.join("latency.svg"),
        &[
            lat_c, lat_lp, lat_sse, lat_local, lat_r_lp, lat_r_sse, lat_nlp, lat_nes, lat_nr_es,
        ],
    );
    plot_memory(&plot_dir.join("memory.svg"), &mem);

    let mut md = String::new();
    let w = &mut md;
    writeln!(w, "# Benchmarks\n").unwrap();
    writeln!(
        w,
        "Measured by `scripts/bench.sh` (the programs built as deployed, static-pie) on {date}{}, in {:.0} s.",
        if smoke {
            " (smoke run: tiny N, figures meaningless)"
        } else {
            ""
        },
        elapsed_secs
    )
    .unwrap();
    writeln!(w, "Machine: {machine}.").unwrap();
    writeln!(w, "Software: {}.", versions.join("; ")).unwrap();
    writeln!(w, "Everything runs on loopback on the same cores as the load client; Apache runs mpm_event + mod_cgid from `apache-conf/httpd.conf.in` with the worker limit raised, lighttpd runs from `apache-conf/lighttpd.conf.in` and nginx from `apache-conf/nginx.conf.in` with the shipped snippets, its programs run by fcgiwrap (latency, fan-out, memory and spawn cost, where the server's CGI handling differs), the peers are the scripts in `benches/peers/`, nchan runs in the same nginx (`benches/peers/nchan.conf.in`, two workers). One Redis serves both serverpush's Redis store (the same programs under a second Apache with `store = \"redis\"`) and nchan's Redis mode; it syncs its append-only file once a second (`appendfsync everysec`), since the spool store does not fsync either: `appendfsync always`, which `apache-conf/redis-serverpush.conf` recommends for durability, adds one fsync per publish.").unwrap();
    writeln!(w, "Figures are medians over {} interleaved rounds where marked; ratios compare systems measured in this same run.\n", plan.rounds).unwrap();

    writeln!(w, "## 1. Publish-to-delivery latency\n").unwrap();
    writeln!(w, "A subscriber is parked, then a message is published; the time runs from just before the publish is sent to when the subscriber has the whole message (its `Content-Length`, last chunk or close, as a browser would count it). {} samples per system ({} for the seed, whose whole-second mtimes allow one publish a second). ![latency](benches/plots/latency.svg)\n", plan.rounds * plan.latency_per_round, plan.seed_latency).unwrap();
    writeln!(w, "| system | p50 ms | p99 ms | p50 / C-CGI floor | p99 / C-CGI floor |\n|---|---|---|---|---|").unwrap();
    let floor = (lat_c.p50(), lat_c.p99());
    for l in [
        &lat_c,
        &lat_c_publish,
        &lat_lp,
        &lat_sse,
        &lat_local,
        &lat_hub,
        &lat_hub_local,
        &lat_l_lp,
        &lat_l_sse,
        &lat_n_lp,
        &lat_n_sse,
        &lat_r_lp,
        &lat_r_sse,
        &lat_r_local,
        &lat_nlp,
        &lat_nes,
        &lat_nr_lp,
        &lat_nr_es,
        &lat_seed,
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
    writeln!(w, "The hello's round trip is one CGI start; an HTTP publish's delivery is one CGI start and a second program's write through the server. Its own floor is the C pair (`benches/peers/nph-publish-floor.c`, which renames the body into the directory that `nph-sse-floor.c` watches, through the same Apache): {:.2} ms at p50, {:.2}× the hello's; against it, ours are: long-poll {:.2}× at p50 and {:.2}× at p99, SSE {:.2}× and {:.2}× (target 1.2× at p50: {}).\n",
        lat_c_publish.p50(), lat_c_publish.p50() / floor.0,
        lat_lp.p50() / lat_c_publish.p50(), lat_lp.p99() / lat_c_publish.p99(),
        lat_sse.p50() / lat_c_publish.p50(), lat_sse.p99() / lat_c_publish.p99(),
        verdict(lat_sse.p50() <= 1.2 * lat_c_publish.p50())).unwrap();
    writeln!(w, "### To the connection's close\n").unwrap();
    writeln!(w, "What a client that reads to the end (an HTTP/1.0 client, a script, many libraries) waits for, and how long the server's worker and connection stay taken. One-shot answers, from the request's start to the connection's close, beside a C hello CGI through the same server; {} of each per server.\n", plan.rounds * (plan.latency_per_round / 3)).unwrap();
    writeln!(
        w,
        "| one-shot answer | p50 ms | p90 ms | p99 ms | p50 / C hello's (same method) |\n|---|---|---|---|---|"
    )
    .unwrap();
    let mut reached = true;
    for rows in one_shots {
        for (which, l) in rows.iter().enumerate() {
            let floor = rows[one_shot_floor(which)].p50();
            let s = sorted(l.samples.clone());
            reached &= l.p50() <= 1.2 * floor;
            writeln!(
                w,
                "| {} | {:.2} | {:.2} | {:.2} | {:.2}× |",
                l.name,
                l.p50(),
                percentile(&s, 0.9),
                l.p99(),
                l.p50() / floor
            )
            .unwrap();
        }
    }
    writeln!(w, "\nTarget: every one-shot answer closes within 1.2× of the p50 of the C hello sent with the same method under the same server: {}. Apache makes sure a CGI program is gone before it closes the connection (mod_cgid sends SIGTERM and, if the process is still there, looks again 10, 20, 40 ms later): when the look comes a moment too early, the close waits 10 ms, for the C hello as for ours. For a POST it comes too early nearly every time on a 2-core host: the worker that wrote the body to the program shares the program's processor, the program's last close wakes it, and it runs (preempting the exiting program) before the exit has finished; a scheduler trace shows the order, and the C hello's POST row shows the same 10 ms as our publish's.\n", verdict(reached)).unwrap();
    writeln!(w, "A parked long-poll answered by a publish, to its close (compare with its delivery above: the close follows the answer's last byte):\n").unwrap();
    writeln!(w, "| parked long-poll | p50 ms | p99 ms |\n|---|---|---|").unwrap();
    for l in [&lat_lp_close, &lat_l_lp_close, &lat_n_lp_close] {
        writeln!(w, "| {} | {:.2} | {:.2} |", l.name, l.p50(), l.p99()).unwrap();
    }
    writeln!(w).unwrap();
    writeln!(w, "The Redis store: publish-to-delivery at p50 within 1.3× of the spool store's in this run: long-poll {:.2}× ({}), SSE {:.2}× ({}).\n",
        lat_r_lp.p50() / lat_lp.p50(),
        verdict(lat_r_lp.p50() <= 1.3 * lat_lp.p50()),
        lat_r_sse.p50() / lat_sse.p50(),
        verdict(lat_r_sse.p50() <= 1.3 * lat_sse.p50())).unwrap();

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
    writeln!(w, "{} SSE subscribers on one channel (one CGI process each), {} messages published locally (into the programs' store, as `serverpush publish` does) at 10 per second; the time runs from just before the publish to each subscriber's receipt. Two floors, each a C program run as ours is: the floor (`benches/peers/nph-sse-floor.c`) is the least a CGI program can do per subscriber: it waits on inotify for a file renamed into a directory and writes the file as one SSE event, with no store, ids, validation or heartbeat; its messages are written and renamed as the spool writes its own. The protocol's floor (`benches/peers/nph-sse-protocol-floor.c`) is the least a stream of this protocol can do: it watches the same spool channel as ours, and writes the same bytes per message (the id `channel:N:epoch` a client resumes from, the JSON envelope the JS client reads, the data escaped), with a heartbeat, and nothing else (no validation, rights, caps or lifetime).\n", fan.subscribers, fan.messages).unwrap();
    writeln!(
        w,
        "| server | program | delivered | of | p50 ms | p99 ms | max ms | p99 / floor's | p99 / protocol floor's |\n|---|---|---|---|---|---|---|---|---|"
    )
    .unwrap();
    let ours = "serverpush, spool store";
    let (bare, protocol) = (
        "C floor (inotify, one event)",
        "C protocol floor (the same events)",
    );
    for (server, program, f, (floor, protocol_floor)) in [
        ("Apache", ours, fan, (fan_floor, fan_protocol_floor)),
        (
            "Apache",
            "serverpush, Redis store",
            fan_redis,
            (fan_floor, fan_protocol_floor),
        ),
        ("Apache", bare, fan_floor, (fan_floor, fan_protocol_floor)),
        (
            "Apache",
            protocol,
            fan_protocol_floor,
            (fan_floor, fan_protocol_floor),
        ),
        ("lighttpd", ours, fan_l, (fan_l_floor, fan_l_protocol_floor)),
        (
            "lighttpd",
            bare,
            fan_l_floor,
            (fan_l_floor, fan_l_protocol_floor),
        ),
        (
            "lighttpd",
            protocol,
            fan_l_protocol_floor,
            (fan_l_floor, fan_l_protocol_floor),
        ),
        (
            "nginx + fcgiwrap",
            ours,
            fan_n,
            (fan_n_floor, fan_n_protocol_floor),
        ),
        (
            "nginx + fcgiwrap",
            bare,
            fan_n_floor,
            (fan_n_floor, fan_n_protocol_floor),
        ),
        (
            "nginx + fcgiwrap",
            protocol,
            fan_n_protocol_floor,
            (fan_n_floor, fan_n_protocol_floor),
        ),
    ] {
        writeln!(
            w,
            "| {server} | {program} | {} | {} | {:.1} | {:.1} | {:.1} | {:.2}× | {:.2}× |",
            f.delivered,
            f.subscribers * f.messages,
            f.p50,
            f.p99,
            f.max,
            f.p99 / floor.p99,
            f.p99 / protocol_floor.p99
        )
        .unwrap();
    }
    let all = |f: &Fanout| f.delivered == f.subscribers * f.messages;
    let within = |f: &Fanout, floor: &Fanout| verdict(all(f) && f.p99 <= 1.3 * floor.p99);
    writeln!(
        w,
        "\nTargets: all delivered, p99 ≤ 100 ms: spool {}, Redis {}. Within 1.3× of the floor's p99 under the same server: Apache {}, lighttpd {}, nginx {}; of the protocol's floor's: Apache {}, lighttpd {}, nginx {}. Over Redis no slower at p99 than over the spool: {:.2}× ({}).\n",
        verdict(all(fan) && fan.p99 <= 100.0),
        verdict(all(fan_redis) && fan_redis.p99 <= 100.0),
        within(fan, fan_floor),
        within(fan_l, fan_l_floor),
        within(fan_n, fan_n_floor),
        within(fan, fan_protocol_floor),
        within(fan_l, fan_l_protocol_floor),
        within(fan_n, fan_n_protocol_floor),
        fan_redis.p99 / fan.p99,
        verdict(fan_redis.p99 <= fan.p99)
    )
    .unwrap();

    writeln!(w, "### A channel made by its first message\n").unwrap();
    writeln!(w, "The same fan-out on a channel that does not exist while its {} subscribers connect (a new room, an event's page opened before it starts): its first message makes it. The first message's delivery beside the first message on a channel that held one before (each row's own run); target: within 1.3×.\n", fan.subscribers).unwrap();
    writeln!(
        w,
        "| server | store | existing channel: first p50 / p99 ms | new channel: first p50 / p99 ms | ratio p50 / p99 | all delivered |\n|---|---|---|---|---|---|"
    )
    .unwrap();
    let mut new_channel_met = true;
    for (server, store, old, new) in [
        ("Apache", "spool", fan, fanout.get("apache_spool_new")),
        ("lighttpd", "spool", fan_l, fanout.get("lighttpd_spool_new")),
        ("Apache", "Redis", fan_redis, fanout.get("apache_redis_new")),
    ] {
        let (p50, p99) = (new.first.0 / old.first.0, new.first.1 / old.first.1);
        new_channel_met &= all(new) && p50 <= 1.3 && p99 <= 1.3;
        writeln!(
            w,
            "| {server} | {store} | {:.1} / {:.1} | {:.1} / {:.1} | {p50:.2}× / {p99:.2}× | {} |",
            old.first.0,
            old.first.1,
            new.first.0,
            new.first.1,
            verdict(all(new))
        )
        .unwrap();
    }
    writeln!(
        w,
        "\nTarget: a new channel's first message within 1.3× of an existing channel's, at p50 and p99: {}. Section 8 has the same at 10,000.\n",
        verdict(new_channel_met)
    )
    .unwrap();

    writeln!(w, "### The Mercure hub beside the channel stream\n").unwrap();
    writeln!(w, "The same fan-out through the Mercure hub (`/.well-known/mercure?topic=…`, one `nph-mercure` process per subscriber, updates stored into the hub's log as its publishes store them) beside the channel stream, under the same Apache with the same spool store. CPU is the subscribers' processes' (`/proc/PID/schedstat`) from when all were subscribed to when every message had reached them all, per message delivered. The reference hub (a Go daemon built on Caddy) is not packaged by Debian, and the benchmark installs its peers from the distribution only, so it is not measured beside ours.\n").unwrap();
    writeln!(
        w,
        "| subscriber | delivered | of | p50 ms | p99 ms | CPU µs per delivery |\n|---|---|---|---|---|---|"
    )
    .unwrap();
    for (what, f) in [("channel SSE stream", fan), ("Mercure hub", fan_hub)] {
        writeln!(
            w,
            "| {what} | {} | {} | {:.1} | {:.1} | {:.1} |",
            f.delivered,
            f.subscribers * f.messages,
            f.p50,
            f.p99,
            f.cpu_us
        )
        .unwrap();
    }
    writeln!(
        w,
        "\nTarget: a Mercure subscriber costs no more than 1.2× a channel subscriber per delivery: CPU {:.2}× ({}), fan-out p99 {:.2}×, publish-to-delivery p50 with a local publish {:.2}× and with an HTTP publish {:.2}× (section 1).\n",
        fan_hub.cpu_us / fan.cpu_us,
        verdict(all(fan_hub) && fan_hub.cpu_us <= 1.2 * fan.cpu_us),
        fan_hub.p99 / fan.p99,
        lat_hub_local.p50() / lat_local.p50(),
        lat_hub.p50() / lat_sse.p50(),
    )
    .unwrap();

    writeln!(w, "## 4. Memory per connected client\n").unwrap();
    writeln!(w, "For the CGI systems, the PSS (`/proc/PID/smaps_rollup`) of the program's processes with N clients connected, divided by N; Apache's own share per connection is about 0, its worker threads being preallocated. Under nginx, everything a stream adds: its program, the fcgiwrap worker it holds (the workers are preforked, so their PSS over their count) and nginx's tree with the clients minus without (the client's and the FastCGI connection). For nchan, the PSS of its whole process tree with the clients minus without. ![memory](benches/plots/memory.svg)\n").unwrap();
    writeln!(w, "Systems over Redis add Redis's memory for their connections (`INFO memory`, `mem_clients_normal`, with the clients minus without) per client: each of our waiting subscribers holds one Redis connection; nchan shares a few.\n").unwrap();
    writeln!(
        w,
        "| system | clients | KiB per client | of which Redis |\n|---|---|---|---|"
    )
    .unwrap();
    for m in &mem {
        let redis = m.redis_kib_per_client.unwrap_or(0.0);
        writeln!(
            w,
            "| {}{} | {} | {:.0} | {} |",
            m.name,
            m.parts
                .as_ref()
                .map_or(String::new(), |p| format!(" ({p})")),
            m.clients,
            m.kib_per_client + redis,
            m.redis_kib_per_client
                .map_or("".to_owned(), |r| format!("{r:.0}"))
        )
        .unwrap();
    }
    writeln!(w, "\nTarget: ours ≤ 300 KiB per client.\n").unwrap();

    writeln!(w, "## 5. Idle CPU\n").unwrap();
    writeln!(w, "CPU time of the server tree over {} s with waiting subscribers that receive nothing ({} for ours and nchan, {} for the seed).\n", plan.idle_secs, plan.idle_subscribers, plan.peer_memory_count).unwrap();
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
    writeln!(w, "The simulator writes 640×480 JPEGs at 30 frames/s by rename; viewers read for {} s. Delay is from the frame file's mtime to the part's arrival. The floor is `benches/peers/nph-mjpeg-floor.c`, the least a CGI program can do per viewer: it waits on inotify for the camera file and sends it as one part, with no frame-rate cap, validation or keepalive; it runs right after ours, with the same camera and viewers.\n", plan.webcam_secs).unwrap();
    writeln!(w, "| system | viewers | slowest viewer fps | median fps | delay p50 ms | delay p99 ms |\n|---|---|---|---|---|---|").unwrap();
    for c in [&cam_ours, &cam_floor, &cam_seed] {
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
        "\nTarget: ≥ 29 frames/s to every viewer, delay p99 ≤ 20 ms: {}; the floor's delay p99 is {:.1} ms, ours is {:.2}× it.\n",
        verdict(cam_ours.min_fps >= 29.0 && cam_ours.delay_p99 <= 20.0),
        cam_floor.delay_p99,
        cam_ours.delay_p99 / cam_floor.delay_p99
    )
    .unwrap();

    writeln!(w, "## 7. Spawn cost\n").unwrap();
    writeln!(
        w,
        "`wrk -t2 -c16 -d{}s`, {} rounds, median requests per second.\n",
        plan.wrk_secs, plan.rounds
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
    let by_name = |name: &str| {
        spawn
            .iter()
            .find(|s| s.name == name)
            .map_or(f64::NAN, |s| median(&s.runs))
    };
    let (c_nginx, ours_nginx) = (
        by_name("C hello CGI under nginx + fcgiwrap"),
        by_name("serverpush publish under nginx + fcgiwrap"),
    );
    writeln!(
        w,
        "\nTarget: ours ≥ 0.8× the C floor: {}. Under nginx, ours ≥ 0.8× the C hello through the same fcgiwrap: {:.2}× ({}).",
        verdict(median(&spawn[1].runs) >= 0.8 * c_floor),
        ours_nginx / c_nginx,
        verdict(ours_nginx >= 0.8 * c_nginx)
    )
    .unwrap();

    // The ten-thousand-client scenario runs apart (it needs host limits raised and takes
    // minutes); its last report is part of this one.
    match std::fs::read_to_string(repo().join("benches/crowd.md")) {
        Ok(crowd) if !plan.smoke => writeln!(w, "\n{crowd}").unwrap(),
        _ => writeln!(
            w,
            "\n## 8. Ten thousand clients\n\nRun apart: `scripts/bench.sh --crowd`."
        )
        .unwrap(),
    }

    md
}

// Report

pub(crate) fn plot_latency(path: &Path, series: &[&Latency]) {
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

pub(crate) fn plot_memory(path: &Path, memory: &[Memory]) {
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

pub(crate) fn verdict(reached: bool) -> &'static str {
    if reached {
        "reached"
    } else {
        "**not reached**"
    }
}
