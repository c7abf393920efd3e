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
}

/// `subscribers` SSE streams through `port`; `messages` published into `store` (the store of
/// the programs behind `port`) at 10 per second.
pub(crate) fn ours_fanout(
    port: u16,
    store: &mut dyn ChannelStore,
    subscribers: usize,
    messages: usize,
) -> Fanout {
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
