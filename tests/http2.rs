//! Ring 3 over HTTP/2: the programs behind Apache (mod_ssl and mod_http2; `serverpush.conf`
//! sends HTTP/2 requests to the programs' parsed-header names) and lighttpd (h2 and h2c), with
//! HTTP/1.1 on the same servers, over TLS and in clear text. curl is the client; a unit must
//! arrive when it is written, not when the program ends.

use std::time::{Duration, Instant};

use crate::curl::{Protocol, curl};
use crate::fixtures::{Server, Site};
use crate::served::{LONGPOLL_CONFIG, T, TRANSPORTS};
use crate::util::{pids_of, wait_for};

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
fn check_head(r: &mut crate::curl::Curl, server: &Server, protocol: Protocol, what: &str) {
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

/// Every clock transport of `nph-clock` over `protocol`: the head, four units paced by the
/// interval, a decodable image part, no chunk framing in the decoded body; then an SSE stream's
/// heartbeats (`heartbeat_secs = 2`), a JSON answer and a HEAD.
fn clock_over(server: &Server, protocol: Protocol) {
    for (name, query, marker) in TRANSPORTS {
        let what = format!("{} {protocol:?} {name}", server.name);
        let started = Instant::now();
        let mut r = curl(
            server,
            protocol,
            &format!("/cgi-bin/nph-clock?{query}"),
            &[],
        );
        check_head(&mut r, server, protocol, &what);
        let times = r.read_until_count(marker, 4, T);
        assert!(
            times[0].duration_since(started) < Duration::from_secs(5),
            "{what}: the first unit came {:?} after the request",
            times[0].duration_since(started)
        );
        assert_paced(&what, &times, interval_of(query));
        if *name == "chunked" {
            // curl removes HTTP/1.1 chunking; framing written by the program would remain.
            assert!(
                crate::curl::find(r.body(), b"\r\n<div>").is_none(),
                "{what}: chunk framing in the body: {}",
                r.text()
            );
        }
        if *name == "image" {
            let body = r.body();
            let at = crate::curl::find(body, b"\r\n\r\n").unwrap() + 4;
            let image = image::load_from_memory_with_format(&body[at..], image::ImageFormat::Png);
            assert!(image.is_ok_and(|i| i.width() == 64), "{what}: a PNG part");
        }
    }

    let what = format!("{} {protocol:?} heartbeat", server.name);
    let mut r = curl(
        server,
        protocol,
        "/cgi-bin/nph-clock?interval=3600",
        &["-H", "Accept: text/event-stream"],
    );
    check_head(&mut r, server, protocol, &what);
    r.read_until_count(b"data: ", 1, T);
    let beats = r.read_until_count(b": heartbeat\n", 2, T);
    assert_paced(&what, &beats, 2.0);

    let mut r = curl(
        server,
        protocol,
        "/cgi-bin/nph-clock?transport=json&tz=utc",
        &[],
    );
    r.read_to_end(T);
    let v: serde_json::Value = serde_json::from_slice(r.body())
        .unwrap_or_else(|e| panic!("{} {protocol:?} json: {e}: {}", server.name, r.text()));
    assert_eq!(v["tz"], "utc");

    let mut r = curl(server, protocol, "/cgi-bin/nph-clock", &["--head"]);
    r.read_to_end(T);
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("multipart/x-mixed-replace")),
        "{} {protocol:?} HEAD: {}",
        server.name,
        r.text()
    );
    assert!(r.body().is_empty(), "{} {protocol:?} HEAD", server.name);
}

/// What Apache runs for an HTTP/2 request: the program under its plain name with
/// `SERVER_PROTOCOL` `HTTP/2.0`. Every clock transport gets a `Status:` head with no hop-by-hop
/// header and a body with no framing of the program's own, and a silent SSE stream writes its
/// heartbeat.
#[test]
fn cgi_name_under_http2_writes_a_status_head_and_no_framing() {
    use crate::harness::{CgiRequest, split_head};
    for (name, query, marker) in TRANSPORTS {
        let query = format!("{query}&count=2");
        let (status, out, stderr) = CgiRequest {
            protocol: "HTTP/2.0",
            ..CgiRequest::get("clock", &query)
        }
        .spawn(&crate::util::bin("nph-clock"))
        .finish(T);
        assert!(status.success(), "{name}: {status} {stderr}");
        let (head, body) = split_head(&out);
        assert!(head.starts_with("Status: 200 OK\r\n"), "{name}: {head}");
        for hop_by_hop in ["Connection:", "Transfer-Encoding:", "Keep-Alive:"] {
            assert!(!head.contains(hop_by_hop), "{name}: {head}");
        }
        assert_eq!(crate::client::occurrences(body, marker), 2, "{name}");
        if *name == "chunked" {
            assert!(
                body.starts_with(b"    "),
                "{name}: the padding comes first, unframed"
            );
            assert!(
                crate::curl::find(body, b"\r\n<div>").is_none(),
                "{name}: chunk framing"
            );
            assert!(!body.ends_with(b"0\r\n\r\n"), "{name}: a last chunk");
        }
    }

    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), "heartbeat_secs = 1\n").unwrap();
    let mut cgi = CgiRequest {
        protocol: "HTTP/2.0",
        config: Some(config.path()),
        ..CgiRequest::get("clock", "transport=sse&interval=3600")
    }
    .spawn(&crate::util::bin("nph-clock"));
    cgi.read_until_count(b": heartbeat\n", 2, T);
}

/// A request that arrives over HTTP/1.1 and is upgraded to h2c is served over HTTP/2: under
/// Apache it reaches the parsed-header program too, and streams.
#[test]
fn apache_h2c_upgrade_streams() {
    let site = Site::new("");
    let apache = Server::apache(&site);
    let what = "apache h2c upgrade";
    let mut r = curl(
        &apache,
        Protocol::H2cUpgrade,
        "/cgi-bin/nph-clock?transport=sse&interval=0.3",
        &[],
    );
    assert!(r.head().starts_with("HTTP/1.1 101"), "{what}: {}", r.head());
    check_head(&mut r, &apache, Protocol::H2cUpgrade, what);
    let times = r.read_until_count(b"data: ", 4, T);
    assert_paced(what, &times, 0.3);
}

const WEBCAM_CONFIG: &str = "keepalive_secs = 2\n[cameras]\ndefault = \"@CAMS@/cam.jpg\"\n";

/// A webcam stream over `protocol`: the current frame at once, then each new frame as the
/// camera writes it, by the `/NAME` path form (PATH_INFO must survive the rewrite).
fn webcam_over(server: &Server, site: &Site, protocol: Protocol) {
    use serverpush::source::camsim::{Writing, write_frame};
    let what = format!("{} {protocol:?} webcam", server.name);
    let file = site.cams.join("cam.jpg");
    write_frame(&file, &crate::webcam::frame(1), Writing::Rename).unwrap();
    let mut r = curl(server, protocol, "/cgi-bin/nph-webcam/default", &[]);
    check_head(&mut r, server, protocol, &what);
    r.read_until_count(&crate::webcam::frame(1), 1, T);
    for n in [2, 3] {
        let written = Instant::now();
        write_frame(&file, &crate::webcam::frame(n), Writing::Rename).unwrap();
        let arrived = r.read_until_count(&crate::webcam::frame(n), 1, T)[0];
        assert!(
            arrived.duration_since(written) < Duration::from_secs(2),
            "{what}: frame {n} took {:?}",
            arrived.duration_since(written)
        );
    }
    let mut r = curl(server, protocol, "/cgi-bin/nph-webcam?action=snapshot", &[]);
    r.read_to_end(T);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("image/jpeg"),
        "{what}"
    );
    assert_eq!(r.body(), crate::webcam::frame(3), "{what} snapshot");
}

/// Publish, SSE and long-poll over `protocol` on `channel`: each published message reaches the
/// SSE subscriber before the next is published; a parked long-poll is answered by a publish.
fn longpoll_over(server: &Server, protocol: Protocol, channel: &str) {
    let what = format!("{} {protocol:?} long-poll", server.name);
    let publish = |text: &str| {
        let mut r = curl(
            server,
            protocol,
            &format!("/cgi-bin/nph-longpoll/{channel}"),
            &[
                "-H",
                "Content-Type: text/plain",
                "-H",
                "Authorization: Bearer token-token-token-token",
                "--data-binary",
                text,
            ],
        );
        r.read_to_end(T);
        let status = r.status_line();
        assert!(status.contains(" 201"), "{what} POST: {}", r.text());
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        v["id"].as_u64().unwrap()
    };
    let mut sse = curl(
        server,
        protocol,
        &format!("/cgi-bin/nph-longpoll/{channel}"),
        &["-H", "Accept: text/event-stream"],
    );
    check_head(&mut sse, server, protocol, &what);
    sse.read_until_count(b"retry: ", 1, T);
    for n in 1..=3 {
        let sent = Instant::now();
        let id = publish(&format!("m{n}"));
        let arrived = sse.read_until_count(format!("\"data\":\"m{n}\"").as_bytes(), 1, T)[0];
        assert!(
            arrived.duration_since(sent) < Duration::from_secs(3),
            "{what}: message {n} took {:?}",
            arrived.duration_since(sent)
        );
        assert!(
            sse.text().contains(&format!("id: {channel}:{id}:")),
            "{what}: {}",
            sse.text()
        );
    }
    // A heartbeat (heartbeat_secs = 2) while nothing is published.
    sse.read_until_count(b": heartbeat\n", 1, T);

    let mut poll = curl(
        server,
        protocol,
        &format!("/cgi-bin/nph-longpoll/{channel}?since={channel}:3&timeout=20"),
        &[],
    );
    // The poll is parked: nothing newer than 3 yet.
    poll.read_for(Duration::from_millis(300));
    assert!(
        !poll.ended,
        "{what}: the long-poll answered early: {}",
        poll.text()
    );
    publish("m4");
    poll.read_to_end(T);
    let v: serde_json::Value = serde_json::from_slice(poll.body())
        .unwrap_or_else(|e| panic!("{what}: {e}: {}", poll.text()));
    assert_eq!(v["messages"][0]["data"], "m4", "{what}");
    assert_eq!(
        crate::longpoll::bare(&v["cursor"]),
        format!("{channel}:4"),
        "{what}"
    );
}

#[test]
fn apache_clock_over_h2_and_http11() {
    let site = Site::new("heartbeat_secs = 2\n");
    let apache = Server::apache_tls(&site);
    for protocol in Protocol::ALL {
        clock_over(&apache, protocol);
    }
    // Every clock ends with its client, within two heartbeats and a margin.
    wait_for(Duration::from_secs(6), "no clock process left", || {
        let left =
            pids_of(&site.program("nph-clock")).len() + pids_of(&site.program("clock")).len();
        (left == 0).then_some(())
    });
}

#[test]
fn lighttpd_clock_over_h2_and_http11() {
    let site = Site::new("heartbeat_secs = 2\n");
    let lighttpd = Server::lighttpd_tls(&site);
    for protocol in Protocol::ALL {
        clock_over(&lighttpd, protocol);
    }
}

#[test]
fn apache_webcam_over_h2_and_http11() {
    let site = Site::new(WEBCAM_CONFIG);
    let apache = Server::apache_tls(&site);
    for protocol in Protocol::ALL {
        webcam_over(&apache, &site, protocol);
    }
}

#[test]
fn lighttpd_webcam_over_h2_and_http11() {
    let site = Site::new(WEBCAM_CONFIG);
    let lighttpd = Server::lighttpd_tls(&site);
    for protocol in Protocol::ALL {
        webcam_over(&lighttpd, &site, protocol);
    }
}

#[test]
fn apache_longpoll_over_h2_and_http11() {
    let site = Site::new(LONGPOLL_CONFIG);
    let apache = Server::apache_tls(&site);
    for (n, protocol) in Protocol::ALL.into_iter().enumerate() {
        longpoll_over(&apache, protocol, &format!("room{n}"));
    }
}

#[test]
fn lighttpd_longpoll_over_h2_and_http11() {
    let site = Site::new(LONGPOLL_CONFIG);
    let lighttpd = Server::lighttpd_tls(&site);
    for (n, protocol) in Protocol::ALL.into_iter().enumerate() {
        longpoll_over(&lighttpd, protocol, &format!("room{n}"));
    }
}

/// `n` streams of `path` on HTTP/2 connections in clear text, each read to its first `marker`,
/// are reset at once with `RST_STREAM` while their connections stay open: within two silent
/// intervals (`interval_secs`, the heartbeat) plus a second, no process of `program` is left.
///
/// Each connection carries at most 6 streams: Apache's mod_http2 runs only 6 streams of a new
/// connection at once and raises that limit as requests complete, which endless streams never
/// do (ARCHITECTURE.md); a browser's page loads raise it, and how far depends on timing.
fn reset_streams_leave_no_process(
    server: &Server,
    site: &Site,
    program: &str,
    path: &str,
    marker: &[u8],
    n: usize,
    interval_secs: u64,
) {
    use crate::h2::Connection;
    let exe = site.program(program);
    let mut connections = vec![Connection::open(server.port)];
    connections[0].pump_until(T, |c| c.max_concurrent_streams.is_some());
    let per_connection = connections[0]
        .max_concurrent_streams
        .map_or(6, |m| (m as usize).min(6));
    let mut streams: Vec<(usize, u32)> = Vec::new();
    for _ in 0..n {
        if connections
            .last()
            .is_some_and(|c| c.data.len() == per_connection)
        {
            connections.push(Connection::open(server.port));
        }
        let at = connections.len() - 1;
        let id = connections[at].get(path);
        streams.push((at, id));
    }
    for (at, connection) in connections.iter_mut().enumerate() {
        let ok = connection.pump_until(T, |c| {
            c.data
                .values()
                .all(|body| crate::curl::find(body, marker).is_some())
        });
        let got = connection
            .data
            .values()
            .filter(|body| crate::curl::find(body, marker).is_some())
            .count();
        assert!(
            ok,
            "{}: connection {at}: {got} of {} streams got their first unit ({} ended, {} processes)",
            server.name,
            connection.data.len(),
            connection.ended.len(),
            pids_of(&exe).len()
        );
    }
    assert_eq!(
        pids_of(&exe).len(),
        n,
        "{}: one {program} per stream",
        server.name
    );
    let left = Instant::now();
    for (at, connection) in connections.iter_mut().enumerate() {
        let ids: Vec<u32> = streams.iter().filter(|s| s.0 == at).map(|s| s.1).collect();
        connection.reset(&ids);
    }
    let deadline = left + Duration::from_secs(2 * interval_secs + 1);
    while !pids_of(&exe).is_empty() {
        assert!(
            Instant::now() < deadline,
            "{}: {} of {n} {program} processes left {:?} after their streams were reset",
            server.name,
            pids_of(&exe).len(),
            left.elapsed()
        );
        // The connections stay open and answered (PING, SETTINGS) meanwhile.
        for connection in &mut connections {
            connection.pump_for(Duration::from_millis(20));
        }
    }
    eprintln!(
        "{}: all {n} {program} processes gone {:?} after their streams were reset \
         ({} connections; the server allows {:?} streams on each)",
        server.name,
        left.elapsed(),
        connections.len(),
        connections[0].max_concurrent_streams
    );
}

/// `n` streams of `path` over HTTP/2 and TLS, five on each of `n / 5` curl processes, are
/// dropped at once by killing the processes, which closes their connections without a goodbye
/// (as when a browser quits): within two heartbeats plus a second, no process of `program` is
/// left. Five streams per connection stay within the 6 that Apache's mod_http2 starts on a new
/// connection.
fn closed_connections_leave_no_process(
    server: &Server,
    site: &Site,
    program: &str,
    path: &str,
    marker: &[u8],
    n: usize,
    interval_secs: u64,
) {
    let exe = site.program(program);
    let url = Protocol::H2.url(server, path);
    let mut clients: Vec<_> = (0..n / 5)
        .map(|_| {
            let mut args = vec!["--no-progress-meter", "-Z"];
            args.extend(vec![url.as_str(); 4]);
            curl(server, Protocol::H2, path, &args)
        })
        .collect();
    for client in &mut clients {
        client.read_until_count(marker, 5, T);
    }
    assert_eq!(
        pids_of(&exe).len(),
        n,
        "{}: one {program} per stream",
        server.name
    );
    let left = Instant::now();
    for client in &mut clients {
        client.kill();
    }
    wait_for(
        Duration::from_secs(2 * interval_secs + 1),
        &format!("no {program} process left after the connections closed"),
        || pids_of(&exe).is_empty().then_some(()),
    );
    eprintln!(
        "{}: all {n} {program} processes gone {:?} after their connections closed",
        server.name,
        left.elapsed()
    );
}

/// Apache: the streams reach the parsed-header `clock` (never `nph-clock`), and 50 of them
/// reset at once, or closed with their connections, leave no process after two heartbeats.
#[test]
fn apache_departed_h2_streams_leave_no_process() {
    let site = Site::new("heartbeat_secs = 2\n");
    let apache = Server::apache_tls(&site);
    let path = "/cgi-bin/nph-clock?interval=3600";
    reset_streams_leave_no_process(
        &apache,
        &site,
        "clock",
        path,
        b"Content-Type: text/plain",
        50,
        2,
    );
    closed_connections_leave_no_process(
        &apache,
        &site,
        "clock",
        path,
        b"Content-Type: text/plain",
        50,
        2,
    );
    assert!(pids_of(&site.program("nph-clock")).is_empty());
}

/// lighttpd runs `nph-clock` itself over HTTP/2; 50 streams reset at once, or closed with their
/// connections, leave no process after two heartbeats.
#[test]
fn lighttpd_departed_h2_streams_leave_no_process() {
    let site = Site::new("heartbeat_secs = 2\n");
    let lighttpd = Server::lighttpd_tls(&site);
    let path = "/cgi-bin/nph-clock?interval=3600";
    reset_streams_leave_no_process(
        &lighttpd,
        &site,
        "nph-clock",
        path,
        b"Content-Type: text/plain",
        50,
        2,
    );
    closed_connections_leave_no_process(
        &lighttpd,
        &site,
        "nph-clock",
        path,
        b"Content-Type: text/plain",
        50,
        2,
    );
}

/// Apache: 50 webcam viewers over HTTP/2 reset at once leave no process after two keepalives.
#[test]
fn apache_departed_h2_viewers_leave_no_process() {
    let site = Site::new(WEBCAM_CONFIG);
    let apache = Server::apache_tls(&site);
    serverpush::source::camsim::write_frame(
        &site.cams.join("cam.jpg"),
        &crate::webcam::frame(1),
        serverpush::source::camsim::Writing::Rename,
    )
    .unwrap();
    reset_streams_leave_no_process(
        &apache,
        &site,
        "webcam",
        "/cgi-bin/nph-webcam",
        b"\r\n--",
        50,
        2,
    );
}

/// The client ports of the connections that the running processes of `program` serve, from
/// the `REMOTE_PORT` each got from the server.
fn remote_ports(program: &std::path::Path) -> Vec<String> {
    pids_of(program)
        .into_iter()
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/environ")).ok())
        .filter_map(|environ| {
            environ.split(|b| *b == 0).find_map(|var| {
                var.strip_prefix(b"REMOTE_PORT=")
                    .map(|port| String::from_utf8_lossy(port).into_owned())
            })
        })
        .collect()
}

/// What the page loaded over which protocol, from the Resource Timing entries (a stream appears
/// there only once it ends, so this covers the page, its style sheet and the JSON polls).
const PROTOCOLS: &str = r#"
    return performance.getEntriesByType("navigation")
        .concat(performance.getEntriesByType("resource"))
        .map(function (e) { return e.nextHopProtocol + " " + e.name; });
"#;

/// clock.html over HTTPS with HTTP/2: every streamed pane changes, everything the page loaded
/// came over h2, and all its streams share one connection.
fn clock_page_over_h2(server: &Server, site: &Site, program: &str) {
    use crate::browser::{Browser, READ_CLOCK_PAGE};
    let port = server.tls_port.unwrap();
    let browser = Browser::start_with(&["--ignore-certificate-errors"]);
    browser.open(&format!("https://127.0.0.1:{port}/clock.html"));
    let what = format!("{} clock.html over h2", server.name);
    let first = wait_for(
        Duration::from_secs(20),
        &format!("{what}: every pane"),
        || {
            let v = browser.eval(READ_CLOCK_PAGE);
            let ready = ["iframe", "sse", "mixed", "chunked", "json"]
                .iter()
                .all(|k| {
                    v[k].as_str()
                        .is_some_and(|s| s != "waiting…" && !s.is_empty())
                })
                && v["image"].is_i64();
            ready.then_some(v)
        },
    );
    wait_for(
        Duration::from_secs(20),
        &format!("{what}: every streamed pane to change"),
        || {
            let v = browser.eval(READ_CLOCK_PAGE);
            ["iframe", "sse", "mixed", "chunked", "image"]
                .iter()
                .all(|k| v[k] != first[k])
                .then_some(())
        },
    );
    // Chromium lists a multipart `<img>` after its first part, with no protocol yet.
    let protocols: Vec<String> = browser
        .eval(PROTOCOLS)
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_owned))
        .filter(|p| !p.starts_with(' '))
        .collect();
    assert!(
        protocols.len() >= 3 && protocols.iter().all(|p| p.starts_with("h2 ")),
        "{what}: {protocols:?}"
    );
    // The streams run the program named `program` (under Apache, the parsed-header name), all
    // for the same client port: one connection. (Chromium may hold a spare connection open too.)
    let mut ports = remote_ports(&site.program(program));
    assert!(
        ports.len() >= 5,
        "{what}: five streams of {program}: {ports:?}"
    );
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 1, "{what}: the streams' client ports");
}

#[test]
fn chromium_apache_clock_page_over_h2() {
    let site = Site::new("");
    let apache = Server::apache_tls(&site);
    clock_page_over_h2(&apache, &site, "clock");
    assert!(pids_of(&site.program("nph-clock")).is_empty());
}

#[test]
fn chromium_lighttpd_clock_page_over_h2() {
    let site = Site::new("");
    let lighttpd = Server::lighttpd_tls(&site);
    clock_page_over_h2(&lighttpd, &site, "nph-clock");
}

/// webcam.html over HTTPS with HTTP/2 from Apache, fed by the camera simulator: the live
/// `<img>` changes.
#[test]
fn chromium_apache_webcam_page_over_h2() {
    use crate::browser::{Browser, READ_WEBCAM_PAGE};
    let site = Site::new("[cameras]\ndefault = \"@CAMS@/cam.jpg\"\n");
    let apache = Server::apache_tls(&site);
    let mut sim = crate::browser::camera_simulator(&site);
    let port = apache.tls_port.unwrap();
    let browser = Browser::start_with(&["--ignore-certificate-errors"]);
    browser.open(&format!("https://127.0.0.1:{port}/webcam.html"));
    let first = wait_for(Duration::from_secs(20), "the live image", || {
        let v = browser.eval(READ_WEBCAM_PAGE);
        (!v.is_null()).then_some(v)
    });
    assert_eq!(first["width"].as_u64(), Some(320));
    wait_for(Duration::from_secs(20), "the live image to change", || {
        let v = browser.eval(READ_WEBCAM_PAGE);
        (v["hash"] != first["hash"]).then_some(())
    });
    assert!(
        !pids_of(&site.program("webcam")).is_empty(),
        "the parsed-header webcam streams"
    );
    let _ = sim.kill();
    let _ = sim.wait();
}

/// Two chat pages over HTTPS with HTTP/2 from Apache, one long-polling and one on SSE: a line
/// typed in one appears in the other, both ways.
#[test]
fn chromium_apache_chat_over_h2() {
    use crate::browser::{Browser, CHAT_LINES};
    use serde_json::json;
    let site = Site::new("spool_dir = \"@SPOOL@\"\nopen_channels = [\"chat\"]\n");
    let apache = Server::apache_tls(&site);
    let url = format!("https://127.0.0.1:{}/chat.html", apache.tls_port.unwrap());
    let alice = Browser::start_with(&["--ignore-certificate-errors"]);
    let bob = Browser::start_with(&["--ignore-certificate-errors"]);
    alice.open(&url);
    bob.open(&format!("{url}?sse"));
    wait_for(Duration::from_secs(10), "both pages loaded", || {
        let ready =
            |b: &Browser| b.eval("return document.readyState === 'complete';") == json!(true);
        (ready(&alice) && ready(&bob)).then_some(())
    });
    alice.type_into("#name", "alice");
    alice.type_into("#text", "hello bob");
    alice.click("#send button");
    wait_for(Duration::from_secs(15), "bob to see alice's line", || {
        (bob.eval(CHAT_LINES) == json!(["hello bob", "imgs:0"])).then_some(())
    });
    bob.type_into("#text", "hello alice");
    bob.click("#send button");
    for (who, page) in [("alice", &alice), ("bob", &bob)] {
        wait_for(
            Duration::from_secs(15),
            &format!("{who} to see both lines"),
            || {
                (page.eval(CHAT_LINES) == json!(["hello bob", "hello alice", "imgs:0"]))
                    .then_some(())
            },
        );
    }
    assert!(
        pids_of(&site.program("nph-longpoll")).is_empty(),
        "no nph- program over HTTP/2"
    );
}
