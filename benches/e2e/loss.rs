//! Scenario 2: loss under load.

#[allow(unused_imports)]
use super::*;

// Scenario 2: loss

pub(crate) struct Loss {
    pub(crate) name: String,
    pub(crate) sent: usize,
    pub(crate) received: usize,
    pub(crate) lost: usize,
    pub(crate) repeated: usize,
    pub(crate) out_of_order: usize,
}

pub(crate) fn count_loss(name: &str, sent: usize, got: &[u64]) -> Loss {
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

/// Ours: 4 HTTP publishers at full speed; a long-poll and an SSE subscriber follow. `store` is
/// the store of the programs behind `port`; `label` names it in the report.
pub(crate) fn ours_loss(
    port: u16,
    store: &mut dyn ChannelStore,
    per_publisher: usize,
    label: &str,
) -> Vec<Loss> {
    let total = per_publisher * 4;
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
    let batch = store
        .read_after(
            &serverpush::name::Channel::parse("loss").unwrap(),
            start,
            100_000,
        )
        .unwrap();
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
        count_loss(&format!("serverpush long-poll{label}"), total, &poll_by_id),
        count_loss(&format!("serverpush SSE{label}"), total, &sse_ids),
    ]
}

pub(crate) fn nchan_loss(sys: &Systems, per_publisher: usize, mode: Nchan) -> Vec<Loss> {
    let prefix = mode.prefix();
    let port = sys.nginx.port;
    let total = per_publisher * 4;
    let mut sse = request(
        port,
        "GET",
        &format!("/{prefix}ev?id=loss"),
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
                        &format!("/{prefix}pub?id=loss"),
                        &format!("{}", p * per_publisher + i + 1),
                    );
                }
            })
        })
        .collect();
    for p in publishers {
        p.join().unwrap();
    }
    // What arrived within a minute of the last publish counts; a loss is reported, not fatal.
    let deadline = Instant::now() + Duration::from_secs(60);
    while crate::client::occurrences(&sse.body, b"data: ") < total && Instant::now() < deadline {
        sse.read_some(Duration::from_millis(500));
    }
    let ids: Vec<u64> = (1..=crate::client::occurrences(&sse.body, b"data: ") as u64).collect();
    let label = match mode {
        Nchan::Memory => "nchan EventSource",
        Nchan::Redis => "nchan EventSource over Redis",
    };
    vec![count_loss(label, total, &ids)]
}

/// The seed 004 PHP long-poll: a burst of 100 publishes 10 ms apart, one re-polling subscriber.
pub(crate) fn seed_loss(sys: &Systems, n: usize) -> Vec<Loss> {
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
pub(crate) fn release_seed_waiters(sys: &Systems) {
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&sys.data_file, format!("release {:?}", SystemTime::now())).unwrap();
    std::thread::sleep(Duration::from_millis(300));
}

/// Scenario 2: ours over each store, nchan in memory and on Redis, the seed; a row each.
pub(crate) fn run(sys: &Systems, plan: &Plan, stores: &mut Stores) -> Vec<Loss> {
    let r = sys.apache_redis.port;
    eprintln!("e2e: 2 loss");
    let per = plan.loss_per_publisher;
    let mut loss = ours_loss(sys.apache.port, stores.spool.as_mut(), per, "");
    reap(&sys.site.cgi_bin.display().to_string());
    loss.extend(mercure_loss(sys.apache.port, per));
    reap(&sys.site.cgi_bin.display().to_string());
    loss.extend(ours_loss(r, stores.redis.as_mut(), per, " over Redis"));
    reap(&sys.site_redis.cgi_bin.display().to_string());
    eprintln!("e2e: 2 loss: nchan");
    loss.extend(nchan_loss(sys, per, Nchan::Memory));
    loss.extend(nchan_loss(sys, per, Nchan::Redis));
    eprintln!("e2e: 2 loss: seed");
    loss.extend(seed_loss(sys, if plan.smoke { 5 } else { 100 }));
    release_seed_waiters(sys);

    loss
}
