//! Scenario 1: publish-to-delivery latency.

#[allow(unused_imports)]
use super::*;

// Scenario 1: latency

#[derive(Default)]
pub(crate) struct Latency {
    pub(crate) name: String,
    pub(crate) samples: Vec<f64>,
    pub(crate) round_p50: Vec<f64>,
    pub(crate) round_p99: Vec<f64>,
}

impl Latency {
    pub(crate) fn new(name: &str) -> Latency {
        Latency {
            name: name.to_owned(),
            ..Latency::default()
        }
    }
    pub(crate) fn round(&mut self, samples: Vec<f64>) {
        let s = sorted(samples.clone());
        self.round_p50.push(percentile(&s, 0.5));
        self.round_p99.push(percentile(&s, 0.99));
        self.samples.extend(samples);
    }
    pub(crate) fn p50(&self) -> f64 {
        median(&self.round_p50)
    }
    pub(crate) fn p99(&self) -> f64 {
        median(&self.round_p99)
    }
}

/// Ours: a parked long-poll, then a publish over HTTP; publish start to full answer, and (into
/// `closes`) to the connection's close, which is when a client that reads to the end is done.
pub(crate) fn ours_longpoll(
    port: u16,
    channel: &str,
    n: usize,
    cursor: &mut u64,
    closes: &mut Vec<f64>,
) -> Vec<f64> {
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
                // A client done with the connection: the server closes it after the answer
                // (lighttpd would keep it open for the next request otherwise).
                &["Connection: close"],
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
            sub.read_to_end(Duration::from_secs(30));
            closes.push(ms(t0.elapsed()));
            *cursor += 1;
            publish.wait_head();
            publish.read_to_end(Duration::from_secs(30));
            took
        })
        .collect()
}

/// Ours: one SSE stream, publishes over HTTP (`local` false) or in-process into `store`, the
/// store the server's programs use (`local` true).
pub(crate) fn ours_sse(
    store: &mut dyn ChannelStore,
    port: u16,
    n: usize,
    local: bool,
    channel: &str,
) -> Vec<f64> {
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

/// The floor: a C "hello" CGI round trip through the same Apache, to the whole answer and (into
/// `closes`) to the connection's close.
pub(crate) fn c_cgi(sys: &Systems, n: usize, closes: &mut Vec<f64>) -> Vec<f64> {
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
            let took = ms(t0.elapsed());
            r.read_to_end(Duration::from_secs(10));
            closes.push(ms(t0.elapsed()));
            took
        })
        .collect()
}

/// The floor of an HTTP publish's delivery: `benches/peers/nph-publish-floor.c` renames the
/// body into the directory `benches/peers/nph-sse-floor.c` watches for its one subscriber, both
/// CGI programs through the same Apache; to the subscriber's receipt, as ours are timed.
pub(crate) fn c_publish_floor(sys: &Systems, n: usize) -> Vec<f64> {
    let dir = crate::systems::publish_floor_dir(&sys.site);
    let port = sys.apache.port;
    let mut sub = request(
        port,
        "GET",
        &format!("/cgi-bin/nph-sse-floor?{}", dir.display()),
        "HTTP/1.1",
        &[],
    );
    sub.read_until_count(b"retry:", 1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(25));
    timed_publishes(&mut sub, n, b"\ndata: ", |i| {
        post(
            port,
            &format!("/cgi-bin/nph-publish-floor?{}", dir.display()),
            &format!("m{i}"),
        )
    })
}

/// Times `n` publishes over HTTP (`publish` sends the `i`th) each to its receipt by the open
/// stream `sub`, whose events each hold `needle` once; each publish's answer is read to its end.
fn timed_publishes(
    sub: &mut client::Response,
    n: usize,
    needle: &[u8],
    mut publish: impl FnMut(usize) -> client::Response,
) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let t0 = Instant::now();
            let mut p = publish(i);
            sub.read_until_count(needle, i + 1, Duration::from_secs(30));
            let took = ms(t0.elapsed());
            p.wait_head();
            p.read_to_end(Duration::from_secs(30));
            took
        })
        .collect()
}

/// nchan long-poll with its Last-Modified/Etag cursor.
pub(crate) fn nchan_longpoll(sys: &Systems, n: usize, channel: &str, mode: Nchan) -> Vec<f64> {
    let prefix = mode.prefix();
    let port = sys.nginx.port;
    post_done(port, &format!("/{prefix}pub?id={channel}"), "first");
    let mut r = request(
        port,
        "GET",
        &format!("/{prefix}sub?id={channel}"),
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
                &format!("/{prefix}sub?id={channel}"),
                "HTTP/1.1",
                &[
                    &format!("If-Modified-Since: {modified}"),
                    &format!("If-None-Match: {etag}"),
                    "Connection: close",
                ],
            );
            std::thread::sleep(Duration::from_millis(5));
            let t0 = Instant::now();
            let mut p = post(
                port,
                &format!("/{prefix}pub?id={channel}"),
                &format!("m{i}"),
            );
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
pub(crate) fn nchan_sse(sys: &Systems, n: usize, channel: &str, mode: Nchan) -> Vec<f64> {
    let prefix = mode.prefix();
    let port = sys.nginx.port;
    let mut sub = request(
        port,
        "GET",
        &format!("/{prefix}ev?id={channel}"),
        "HTTP/1.1",
        &["Accept: text/event-stream"],
    );
    std::thread::sleep(Duration::from_millis(25));
    timed_publishes(&mut sub, n, b"data: ", |i| {
        post(
            port,
            &format!("/{prefix}pub?id={channel}"),
            &format!("m{i}"),
        )
    })
}

/// The seed 004 PHP long-poll: each publish in a later wall-clock second than the last, since
/// its whole-second mtimes cannot tell two publishes of one second apart.
pub(crate) fn seed_longpoll(sys: &Systems, n: usize) -> Vec<f64> {
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

/// One-shot answers, each read to the connection's close: (what, method, target, body). The C
/// hello, by GET and by POST, is the floor; ours are the programs' answers that need no waiting,
/// each compared with the C hello of its own method ([`one_shot_floor`]).
pub(crate) const ONE_SHOTS: [(&str, &str, &str, &str); 5] = [
    ("C hello CGI", "GET", "/cgi-bin/hello.cgi", ""),
    ("C hello CGI, POST", "POST", "/cgi-bin/hello.cgi", "m"),
    ("publish", "POST", "/cgi-bin/nph-longpoll/once", "m"),
    (
        "long-poll with a message waiting",
        "GET",
        "/cgi-bin/nph-longpoll/waiting?since=0&timeout=60",
        "",
    ),
    ("JSON clock", "GET", "/cgi-bin/nph-clock?transport=json", ""),
];

/// The index in [`ONE_SHOTS`] of the C hello that `ONE_SHOTS[which]` is measured against: the
/// one sent with the same method (a server writes a POST's body to the program, which changes
/// how the program and the server's worker share the processors).
pub(crate) fn one_shot_floor(which: usize) -> usize {
    let method = ONE_SHOTS[which].1;
    ONE_SHOTS
        .iter()
        .position(|(what, m, ..)| what.starts_with("C hello") && *m == method)
        .unwrap_or(0)
}

/// `n` requests of `ONE_SHOTS[which]` through `port`, from the request's start to the
/// connection's close.
pub(crate) fn one_shot(port: u16, which: usize, n: usize) -> Vec<f64> {
    let (_, method, target, body) = ONE_SHOTS[which];
    (0..n)
        .map(|_| {
            let t0 = Instant::now();
            let mut r = if method == "POST" {
                post(port, target, body)
            } else {
                send(port, method, target, "HTTP/1.1", &["Connection: close"])
            };
            r.wait_head();
            r.read_to_end(Duration::from_secs(30));
            assert!(
                (200..300).contains(&r.status()),
                "{target}: {}",
                r.head_text()
            );
            ms(t0.elapsed())
        })
        .collect()
}

/// Scenario 1's rows: each system's publish-to-delivery latency under its key, and the
/// one-shot answers to the connection's close, `[server][ONE_SHOTS index]`.
pub(crate) struct LatencyRows {
    rows: Vec<(&'static str, Latency)>,
    pub(crate) one_shots: Vec<Vec<Latency>>,
}

impl LatencyRows {
    /// The row `key`.
    pub(crate) fn get(&self, key: &str) -> &Latency {
        &self
            .rows
            .iter()
            .find(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("no latency row {key}"))
            .1
    }
}

/// Scenario 1, every system, in interleaved rounds.
pub(crate) fn run(sys: &Systems, plan: &Plan, stores: &mut Stores) -> LatencyRows {
    eprintln!("e2e: 1 latency");
    let mut lat_lp = Latency::new("serverpush long-poll (HTTP publish)");
    let mut lat_sse = Latency::new("serverpush SSE (HTTP publish)");
    let mut lat_local = Latency::new("serverpush SSE (local publish)");
    let mut lat_hub = Latency::new("serverpush Mercure hub (HTTP publish)");
    let mut lat_hub_local = Latency::new("serverpush Mercure hub (local publish)");
    let mut lat_c = Latency::new("C hello CGI round trip (floor)");
    let mut lat_c_publish = Latency::new("C publish CGI to a C SSE subscriber (floor)");
    let mut lat_nlp = Latency::new("nchan long-poll");
    let mut lat_nes = Latency::new("nchan EventSource");
    let mut lat_seed = Latency::new("seed 004 PHP long-poll");
    let mut lat_l_lp = Latency::new("serverpush long-poll under lighttpd (HTTP publish)");
    let mut lat_l_sse = Latency::new("serverpush SSE under lighttpd (HTTP publish)");
    let mut lat_n_lp = Latency::new("serverpush long-poll under nginx + fcgiwrap (HTTP publish)");
    let mut lat_n_sse = Latency::new("serverpush SSE under nginx + fcgiwrap (HTTP publish)");
    let mut lat_r_lp = Latency::new("serverpush long-poll over Redis (HTTP publish)");
    let mut lat_r_sse = Latency::new("serverpush SSE over Redis (HTTP publish)");
    let mut lat_r_local = Latency::new("serverpush SSE over Redis (local publish)");
    let mut lat_nr_lp = Latency::new("nchan long-poll over Redis");
    let mut lat_nr_es = Latency::new("nchan EventSource over Redis");
    let r = sys.apache_redis.port;
    let mut lat_lp_close = Latency::new("serverpush long-poll, to the connection's close");
    let mut lat_l_lp_close =
        Latency::new("serverpush long-poll under lighttpd, to the connection's close");
    let mut lat_n_lp_close =
        Latency::new("serverpush long-poll under nginx + fcgiwrap, to the connection's close");
    let (mut cursor, mut l_cursor, mut r_cursor, mut n_cursor) = (0, 0, 0, 0);
    // [server][answer], Apache, lighttpd, nginx.
    let mut one_shots: Vec<Vec<Latency>> = ["Apache", "lighttpd", "nginx + fcgiwrap"]
        .iter()
        .map(|server| {
            ONE_SHOTS
                .iter()
                .map(|(what, ..)| Latency::new(&format!("{what} under {server}")))
                .collect()
        })
        .collect();
    stores.spool.put("waiting", "a message for every long-poll");
    for round in 0..plan.rounds {
        let n = plan.latency_per_round;
        let ports = [sys.apache.port, sys.lighttpd.port, sys.nginx.port];
        for (server, port) in ports.into_iter().enumerate() {
            for (which, row) in one_shots[server].iter_mut().enumerate() {
                row.round(one_shot(port, which, n / 3));
            }
        }
        let n = plan.latency_per_round;
        let mut closes = Vec::new();
        lat_c.round(c_cgi(sys, n, &mut closes));
        closes.clear();
        lat_c_publish.round(c_publish_floor(sys, n));
        lat_lp.round(ours_longpoll(
            sys.apache.port,
            "lat",
            n,
            &mut cursor,
            &mut closes,
        ));
        lat_lp_close.round(std::mem::take(&mut closes));
        lat_sse.round(ours_sse(
            stores.spool.as_mut(),
            sys.apache.port,
            n,
            false,
            "sse",
        ));
        lat_local.round(ours_sse(
            stores.spool.as_mut(),
            sys.apache.port,
            n,
            true,
            "local",
        ));
        lat_hub.round(ours_mercure(
            stores.spool.as_mut(),
            sys.apache.port,
            n,
            false,
            "sse",
        ));
        lat_hub_local.round(ours_mercure(
            stores.spool.as_mut(),
            sys.apache.port,
            n,
            true,
            "local",
        ));
        lat_r_lp.round(ours_longpoll(r, "lat", n, &mut r_cursor, &mut closes));
        closes.clear();
        lat_r_sse.round(ours_sse(stores.redis.as_mut(), r, n, false, "sse"));
        lat_r_local.round(ours_sse(stores.redis.as_mut(), r, n, true, "local"));
        lat_l_lp.round(ours_longpoll(
            sys.lighttpd.port,
            "llat",
            n,
            &mut l_cursor,
            &mut closes,
        ));
        lat_l_lp_close.round(std::mem::take(&mut closes));
        lat_l_sse.round(ours_sse(
            stores.spool.as_mut(),
            sys.lighttpd.port,
            n,
            false,
            "lsse",
        ));
        lat_n_lp.round(ours_longpoll(
            sys.nginx.port,
            "nlat",
            n,
            &mut n_cursor,
            &mut closes,
        ));
        lat_n_lp_close.round(std::mem::take(&mut closes));
        lat_n_sse.round(ours_sse(
            stores.spool.as_mut(),
            sys.nginx.port,
            n,
            false,
            "nsse",
        ));
        lat_nlp.round(nchan_longpoll(sys, n, &format!("lp{round}"), Nchan::Memory));
        lat_nes.round(nchan_sse(sys, n, &format!("es{round}"), Nchan::Memory));
        lat_nr_lp.round(nchan_longpoll(sys, n, &format!("rlp{round}"), Nchan::Redis));
        lat_nr_es.round(nchan_sse(sys, n, &format!("res{round}"), Nchan::Redis));
    }
    lat_seed.round(seed_longpoll(sys, plan.seed_latency));

    LatencyRows {
        rows: vec![
            ("c", lat_c),
            ("c_publish", lat_c_publish),
            ("lp", lat_lp),
            ("sse", lat_sse),
            ("local", lat_local),
            ("hub", lat_hub),
            ("hub_local", lat_hub_local),
            ("l_lp", lat_l_lp),
            ("l_sse", lat_l_sse),
            ("n_lp", lat_n_lp),
            ("n_sse", lat_n_sse),
            ("r_lp", lat_r_lp),
            ("r_sse", lat_r_sse),
            ("r_local", lat_r_local),
            ("nlp", lat_nlp),
            ("nes", lat_nes),
            ("nr_lp", lat_nr_lp),
            ("nr_es", lat_nr_es),
            ("seed", lat_seed),
            ("lp_close", lat_lp_close),
            ("l_lp_close", lat_l_lp_close),
            ("n_lp_close", lat_n_lp_close),
        ],
        one_shots,
    }
}
