//! The Mercure hub beside the suite's own SSE channel stream, same store, same server: its
//! requests and its publishes, for the latency, loss and fan-out scenarios.

#[allow(unused_imports)]
use super::*;

use serverpush::name::Channel;
use serverpush::source::mercure::update::{CONTENT_TYPE, Update};

/// The benchmark site's token secret (`CONFIG`), for its publishers' tokens.
pub(crate) const SECRET: &str = "the-benchmark-hub-secret-of-32-bytes-or-more"; // as in `CONFIG`

/// A publisher's token for every topic.
pub(crate) fn publisher_token() -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({ "mercure": { "publish": ["*"] } }),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// The hub's subscription URL for the topic `urn:bench:NAME`.
pub(crate) fn subscription(name: &str) -> String {
    format!("/.well-known/mercure?topic=urn%3Abench%3A{name}")
}

/// Publishes `data` to `urn:bench:NAME` over HTTP, as a Mercure publisher does; the answer,
/// unread.
pub(crate) fn post_update(port: u16, name: &str, data: &str, token: &str) -> client::Response {
    let form = format!("topic=urn%3Abench%3A{name}&data={data}");
    let length = format!("Content-Length: {}", form.len());
    let auth = format!("Authorization: Bearer {token}");
    let body = format!("\r\n{form}");
    send(
        port,
        "POST",
        "/.well-known/mercure",
        "HTTP/1.1",
        &[
            &length,
            &auth,
            "Content-Type: application/x-www-form-urlencoded",
            "Connection: close",
            &body,
        ],
    )
}

/// Publishes `data` to `urn:bench:NAME` into `store` in-process, as the hub stores it.
pub(crate) fn put_update(store: &mut dyn ChannelStore, name: &str, data: &str) {
    let update = Update {
        topics: vec![format!("urn:bench:{name}")],
        data: data.to_owned(),
        ..Update::default()
    };
    let text = update.encode();
    let message = serverpush::store::NewMessage {
        content_type: CONTENT_TYPE,
        data: &text,
        idempotency_key: None,
    };
    store.publish(&Channel::mercure_hub(), &message).unwrap();
}

/// The hub's position of an event id it minted (`urn:serverpush:EPOCH:N`).
pub(crate) fn position(id: &str) -> Option<u64> {
    id.rsplit(':').next()?.parse().ok()
}

/// One Mercure subscriber, publishes over HTTP (`local` false) or in-process into `store`, the
/// store the server's programs use (`local` true): as `ours_sse`, for the hub.
pub(crate) fn ours_mercure(
    store: &mut dyn ChannelStore,
    port: u16,
    n: usize,
    local: bool,
    name: &str,
) -> Vec<f64> {
    let token = publisher_token();
    let mut sub = request(port, "GET", &subscription(name), "HTTP/1.1", &[]);
    sub.read_until_count(b"retry:", 1, Duration::from_secs(10));
    (0..n)
        .map(|i| {
            let t0 = Instant::now();
            if local {
                put_update(store, name, &format!("m{i}"));
                sub.read_until_count(b"\ndata: ", i + 1, Duration::from_secs(30));
                return ms(t0.elapsed());
            }
            let mut p = post_update(port, name, &format!("m{i}"), &token);
            sub.read_until_count(b"\ndata: ", i + 1, Duration::from_secs(30));
            let took = ms(t0.elapsed());
            p.wait_head();
            p.read_to_end(Duration::from_secs(30));
            took
        })
        .collect()
}

/// Scenario 2 for the hub: 4 HTTP publishers at full speed, one Mercure subscriber following.
pub(crate) fn mercure_loss(port: u16, per_publisher: usize) -> Vec<Loss> {
    let total = per_publisher * 4;
    let mut sse = request(port, "GET", &subscription("loss"), "HTTP/1.1", &[]);
    sse.read_until_count(b"retry:", 1, Duration::from_secs(10));
    let token: Arc<str> = publisher_token().into();
    let publishers: Vec<_> = (0..4)
        .map(|p| {
            let token = token.clone();
            std::thread::spawn(move || {
                for i in 0..per_publisher {
                    let mut r = post_update(
                        port,
                        "loss",
                        &format!("{}", p * per_publisher + i + 1),
                        &token,
                    );
                    r.wait_head();
                    r.read_to_end(Duration::from_secs(30));
                }
            })
        })
        .collect();
    for p in publishers {
        p.join().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while crate::client::occurrences(&sse.body, b"\ndata: ") < total && Instant::now() < deadline {
        sse.read_some(Duration::from_millis(500));
    }
    // Delivery order is the hub's order: positions, from the first one seen.
    let positions: Vec<u64> = String::from_utf8_lossy(&sse.body)
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .filter_map(position)
        .collect();
    let first = positions.iter().copied().min().unwrap_or(1);
    let ids: Vec<u64> = positions.iter().map(|p| p - first + 1).collect();
    vec![count_loss("serverpush Mercure hub", total, &ids)]
}

/// Scenario 3 for the hub: `subscribers` Mercure streams through `port`, updates published into
/// `store`.
pub(crate) fn mercure_fanout(
    port: u16,
    store: &mut dyn ChannelStore,
    subscribers: usize,
    messages: usize,
    cpu_of: impl Fn() -> u64,
) -> Fanout {
    fanout(
        port,
        &subscription("fan"),
        subscribers,
        messages,
        |m| put_update(store, "fan", m),
        cpu_of,
    )
}
