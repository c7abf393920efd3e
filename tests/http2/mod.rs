//! Ring 3 over HTTP/2: the programs behind Apache (mod_ssl and mod_http2; `serverpush.conf`
//! sends HTTP/2 requests to the programs' parsed-header names) and lighttpd (h2 and h2c), with
//! HTTP/1.1 on the same servers, over TLS and in clear text. curl is the client; a unit must
//! arrive when it is written, not when the program ends (`pacing`), and a client that resets
//! its streams or closes its connection leaves no process behind (`departure`). Chromium over
//! HTTP/2 is with the other browser tests.

use std::time::Instant;

use crate::curl::Protocol;
use crate::fixtures::Server;

mod departure;
mod pacing;

/// A site with one camera, whose frame is re-sent every 2 s.
const WEBCAM_CONFIG: &str = "keepalive_secs = 2\n[cameras]\ndefault = \"@CAMS@/cam.jpg\"\n";

/// The `interval=` of a query, in seconds.
fn interval_of(query: &str) -> f64 {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("interval="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0)
}

/// Units arrived one by one, paced by `interval`: the first to the last took at least 0.4 of
/// the intervals between them (the programs leave at least half an interval between units; the
/// rest is slack for a loaded machine), and at most one pair of units arrived together.
/// Held-back output arrives all at once when the program ends, or never for an endless stream.
fn assert_paced(what: &str, times: &[Instant], interval: f64) {
    let intervals = (times.len() - 1) as f64;
    let span = times[times.len() - 1]
        .duration_since(times[0])
        .as_secs_f64();
    assert!(
        span >= intervals * interval * 0.4,
        "{what}: {} units in {span:.3} s; the interval is {interval} s",
        times.len()
    );
    assert!(
        span <= intervals * interval + 3.0,
        "{what}: {span:.3} s for {} units",
        times.len()
    );
    let mut distinct = times.to_vec();
    distinct.dedup();
    assert!(
        distinct.len() + 1 >= times.len(),
        "{what}: only {} distinct arrivals for {} units",
        distinct.len(),
        times.len()
    );
}

/// The head every streamed response must have over `protocol`: no hop-by-hop headers over
/// HTTP/2. Under Apache, HTTP/2 reaches the parsed-header program (Apache's own `Server`), and
/// HTTP/1.x the `nph-` one (the program's `Server` and `Connection: close`).
/// The protocols nginx is tested with: it speaks HTTP/2 over TLS only, on a port of its own
/// (no h2c beside HTTP/1.1).
pub(crate) const NGINX_PROTOCOLS: [crate::curl::Protocol; 3] = [
    crate::curl::Protocol::H2,
    crate::curl::Protocol::Http11Tls,
    crate::curl::Protocol::Http11,
];

pub(crate) fn check_head(
    r: &mut crate::curl::Curl,
    server: &Server,
    protocol: Protocol,
    what: &str,
) {
    let status = r.status_line();
    assert!(
        status.starts_with(&format!("{} 200", protocol.version())),
        "{what}: {}",
        r.head()
    );
    let ours = r
        .header("server")
        .is_some_and(|s| s.starts_with("serverpush/"));
    if protocol.is_h2() {
        assert_eq!(r.header("connection"), None, "{what}: {}", r.head());
        assert_eq!(r.header("transfer-encoding"), None, "{what}: {}", r.head());
        if server.name == "apache" {
            assert!(
                !ours,
                "{what}: an nph- program answered over HTTP/2: {}",
                r.head()
            );
        }
    } else if server.name == "apache" {
        assert!(
            ours,
            "{what}: the nph- program answers HTTP/1.1: {}",
            r.head()
        );
        assert_eq!(r.header("connection").as_deref(), Some("close"), "{what}");
    }
}
