//! Scenario 3: fan-out to many SSE subscribers.

#[allow(unused_imports)]
use super::*;

// Scenario 3: fan-out

pub(crate) struct Fanout {
    pub(crate) subscribers: usize,
    pub(crate) messages: usize,
    pub(crate) delivered: usize,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
    /// The first message alone (p50, p99): on a channel made by it, what a waiting crowd sees.
    pub(crate) first: (f64, f64),
    /// CPU time of the subscribers' processes per message delivered, in microseconds, from
    /// when all were subscribed to when the last message had reached them all.
    pub(crate) cpu_us: f64,
}

/// `subscribers` SSE streams of `path` through `port`; `messages` published by `publish` (into
/// the store of the programs behind `port`, or the floor program's file) at 10 per second.
/// `cpu_of` tells the CPU time, in nanoseconds, of the processes serving the streams.
pub(crate) fn fanout(
    port: u16,
    path: &str,
    subscribers: usize,
    messages: usize,
    mut publish: impl FnMut(&str),
    cpu_of: impl Fn() -> u64,
) -> Fanout {
    let path: Arc<str> = path.into();
    let ready = Arc::new(Barrier::new(subscribers + 1));
    let handles: Vec<_> = (0..subscribers)
        .map(|_| {
            let ready = ready.clone();
            let path = path.clone();
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut r = request(port, "GET", &path, "HTTP/1.1", &[]);
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
                    // Held open until the CPU time is read: the process ends with it.
                    (arrivals, r)
                })
                .unwrap()
        })
        .collect();
    ready.wait();
    std::thread::sleep(Duration::from_millis(200));
    let cpu_before = cpu_of();
    let mut sent = Vec::new();
    let start = Instant::now();
    for i in 0..messages {
        let due = Duration::from_millis(100 * i as u64);
        std::thread::sleep(due.saturating_sub(start.elapsed()));
        sent.push(SystemTime::now());
        publish(&format!("m{i}"));
    }
    let mut delays = Vec::new();
    let mut firsts = Vec::new();
    let mut open = Vec::new();
    for h in handles {
        let (arrivals, r) = h.join().unwrap();
        for (n, at) in arrivals {
            let d = ms(at.duration_since(sent[n - 1]).unwrap_or_default());
            if n == 1 {
                firsts.push(d);
            }
            delays.push(d);
        }
        open.push(r);
    }
    let firsts = sorted(firsts);
    let cpu = cpu_of().saturating_sub(cpu_before);
    drop(open);
    let delivered = delays.len();
    let s = sorted(delays);
    Fanout {
        subscribers,
        messages,
        delivered,
        p50: percentile(&s, 0.5),
        p99: percentile(&s, 0.99),
        max: s.last().copied().unwrap_or(f64::NAN),
        first: (percentile(&firsts, 0.5), percentile(&firsts, 0.99)),
        cpu_us: cpu as f64 / 1000.0 / delivered.max(1) as f64,
    }
}

/// Ours: the spool or Redis store's SSE channel `channel`, published into `store`.
pub(crate) fn ours_fanout(
    port: u16,
    store: &mut dyn ChannelStore,
    channel: &str,
    subscribers: usize,
    messages: usize,
    cpu_of: impl Fn() -> u64,
) -> Fanout {
    fanout(
        port,
        &format!("/cgi-bin/nph-longpoll/{channel}?transport=sse"),
        subscribers,
        messages,
        |m| {
            store.put(channel, m);
        },
        cpu_of,
    )
}

/// The floor: `benches/peers/nph-sse-floor.c` in the site's `cgi-bin`, watching `dir`, where
/// each message is written to a temporary file and renamed to `message`, as the spool does.
pub(crate) fn floor_fanout(
    port: u16,
    dir: &Path,
    subscribers: usize,
    messages: usize,
    cpu_of: impl Fn() -> u64,
) -> Fanout {
    fanout(
        port,
        &format!("/cgi-bin/nph-sse-floor?{}", dir.display()),
        subscribers,
        messages,
        |m| {
            let tmp = dir.join(".message.tmp");
            std::fs::write(&tmp, m).unwrap();
            std::fs::rename(&tmp, dir.join("message")).unwrap();
        },
        cpu_of,
    )
}

/// The protocol's floor: `benches/peers/nph-sse-protocol-floor.c` in the site's `cgi-bin`,
/// watching the spool's `channel` in `spool`, which `store` publishes into as for ours: the
/// same events as ours, with none of the rest.
pub(crate) fn protocol_floor_fanout(
    port: u16,
    store: &mut dyn ChannelStore,
    (spool, channel): (&Path, &str),
    subscribers: usize,
    messages: usize,
    cpu_of: impl Fn() -> u64,
) -> Fanout {
    fanout(
        port,
        &format!(
            "/cgi-bin/nph-sse-protocol-floor?{}",
            spool.join(channel).display()
        ),
        subscribers,
        messages,
        |m| {
            store.put(channel, m);
        },
        cpu_of,
    )
}

/// Scenario 3's rows, by key: `apache_spool`, `apache_redis`, `apache_floor`, `apache_mercure`,
/// `lighttpd_spool`, `lighttpd_floor`, `nginx_spool`, `nginx_floor`, with `_protocol_floor`
/// (each server) the protocol's floor, and with `_new` (Apache's spool and Redis, lighttpd's
/// spool) the same on a channel its first message makes.
pub(crate) struct FanoutRows(Vec<(&'static str, Fanout)>);

impl FanoutRows {
    /// The row `key`.
    pub(crate) fn get(&self, key: &str) -> &Fanout {
        &self
            .0
            .iter()
            .find(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("no fan-out row {key}"))
            .1
    }
}

/// The CPU time, in nanoseconds, of the live processes of the executable `exe`.
pub(crate) fn program_cpu(exe: &Path) -> u64 {
    util::pids_of(exe)
        .into_iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Scenario 3: ours over each store and the C floor, under Apache, lighttpd and nginx, and the
/// Mercure hub beside the channel stream (same store, same server).
pub(crate) fn run(sys: &Systems, plan: &Plan, stores: &mut Stores) -> FanoutRows {
    let r = sys.apache_redis.port;
    eprintln!("e2e: 3 fan-out");
    let (subscribers, messages) = (plan.fanout_subscribers, plan.fanout_messages);
    let longpoll = sys.site.program("nph-longpoll");
    let cpu = || program_cpu(&longpoll);
    let floor = sys.site.program("nph-sse-floor");
    let floor_cpu = || program_cpu(&floor);
    let protocol_floor = sys.site.program("nph-sse-protocol-floor");
    let protocol_floor_cpu = || program_cpu(&protocol_floor);
    let spool = serverpush::config::Config::load(Some(&sys.site.config))
        .unwrap()
        .spool_dir;
    let protocol_floor_at = |port: u16, store: &mut dyn ChannelStore| {
        let fan = protocol_floor_fanout(
            port,
            store,
            (&spool, "fan"),
            subscribers,
            messages,
            protocol_floor_cpu,
        );
        reap(&sys.site.cgi_bin.display().to_string());
        fan
    };
    let redis_longpoll = sys.site_redis.program("nph-longpoll");
    // The channel exists before its subscribers come, as on a site that has published before;
    // the `_new` rows' channels are made by their first message, with the crowd waiting.
    stores.spool.put("fan", "before");
    stores.redis.put("fan", "before");
    let fan = ours_fanout(
        sys.apache.port,
        stores.spool.as_mut(),
        "fan",
        subscribers,
        messages,
        cpu,
    );
    reap(&sys.site.cgi_bin.display().to_string());
    // The channels the `_new` rows wait for are made as a site makes them: by a publisher of
    // the programs' user (over HTTP, or `serverpush publish` as root), who takes the waiting
    // streams' directory.
    let mut as_owner = owner_publisher(&sys.site);
    let mut new_fanout = |port: u16, channel: String| {
        let path = format!("/cgi-bin/nph-longpoll/{channel}?transport=sse");
        let publish = |m: &str| as_owner(&channel, m);
        fanout(port, &path, subscribers, messages, publish, cpu)
    };
    let fan_new = new_fanout(
        sys.apache.port,
        format!("fan-new-apache-{}", std::process::id()),
    );
    reap(&sys.site.cgi_bin.display().to_string());
    let hub = sys.site.program("nph-mercure");
    let fan_mercure = mercure_fanout(
        sys.apache.port,
        stores.spool.as_mut(),
        subscribers,
        messages,
        || program_cpu(&hub),
    );
    reap(&sys.site.cgi_bin.display().to_string());
    let redis_cpu = || program_cpu(&redis_longpoll);
    let fan_redis = ours_fanout(
        r,
        stores.redis.as_mut(),
        "fan",
        subscribers,
        messages,
        redis_cpu,
    );
    reap(&sys.site_redis.cgi_bin.display().to_string());
    let fan_redis_new = ours_fanout(
        r,
        stores.redis.as_mut(),
        &format!("fan-new-redis-{}", std::process::id()),
        subscribers,
        messages,
        redis_cpu,
    );
    reap(&sys.site_redis.cgi_bin.display().to_string());
    let fan_floor = floor_fanout(
        sys.apache.port,
        &sys.floor_dir,
        subscribers,
        messages,
        floor_cpu,
    );
    reap(&sys.site.cgi_bin.display().to_string());
    let fan_protocol_floor = protocol_floor_at(sys.apache.port, stores.spool.as_mut());
    let l = sys.lighttpd.port;
    let fan_l = ours_fanout(l, stores.spool.as_mut(), "fan", subscribers, messages, cpu);
    reap(&sys.site.cgi_bin.display().to_string());
    let fan_l_new = new_fanout(l, format!("fan-new-lighttpd-{}", std::process::id()));
    reap(&sys.site.cgi_bin.display().to_string());
    let fan_l_floor = floor_fanout(l, &sys.floor_dir, subscribers, messages, floor_cpu);
    reap(&sys.site.cgi_bin.display().to_string());
    let fan_l_protocol_floor = protocol_floor_at(l, stores.spool.as_mut());
    let n = sys.nginx.port;
    let fan_n = ours_fanout(n, stores.spool.as_mut(), "fan", subscribers, messages, cpu);
    reap(&sys.site.cgi_bin.display().to_string());
    let fan_n_floor = floor_fanout(n, &sys.floor_dir, subscribers, messages, floor_cpu);
    reap(&sys.site.cgi_bin.display().to_string());
    let fan_n_protocol_floor = protocol_floor_at(n, stores.spool.as_mut());

    FanoutRows(vec![
        ("apache_spool", fan),
        ("apache_spool_new", fan_new),
        ("apache_mercure", fan_mercure),
        ("apache_redis", fan_redis),
        ("apache_redis_new", fan_redis_new),
        ("apache_floor", fan_floor),
        ("apache_protocol_floor", fan_protocol_floor),
        ("lighttpd_spool", fan_l),
        ("lighttpd_spool_new", fan_l_new),
        ("lighttpd_floor", fan_l_floor),
        ("lighttpd_protocol_floor", fan_l_protocol_floor),
        ("nginx_spool", fan_n),
        ("nginx_floor", fan_n_floor),
        ("nginx_protocol_floor", fan_n_protocol_floor),
    ])
}
