//! Clients that reset their HTTP/2 streams or close their connections leave no process.

use std::time::{Duration, Instant};

use crate::curl::{Protocol, curl};
use crate::fixtures::{Server, Site};
use crate::served::T;
use crate::util::{pids_of, wait_for};

use super::WEBCAM_CONFIG;

/// `n` streams of `path` on HTTP/2 connections in clear text, each read to its first `marker`,
/// are reset at once with `RST_STREAM` while their connections stay open: within two silent
/// intervals (`interval_secs`, the heartbeat) plus a second, no process of `program` is left.
///
/// Each connection carries at most 6 streams: Apache's mod_http2 runs only 6 streams of a new
/// connection at once and raises that limit as requests complete, which endless streams never
/// do (docs/servers.md); a browser's page loads raise it, and how far depends on timing.
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
