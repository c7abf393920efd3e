//! The rule every stream keeps: it writes at least every `heartbeat_secs`, whatever its source
//! and transport. Each program streams from a quiet source (a clock ticking once an hour, a
//! camera that shows one picture, a channel nobody publishes to) with a one-second heartbeat,
//! and the longest silence its reader sees stays near a second.

use std::time::Duration;

use crate::client::request;
use crate::fixtures::{SERVERS, Site};
use crate::harness::Cgi;
use crate::longpoll::Spool;
use crate::util::{bin, wait_for};
use serverpush::source::camsim::Writing;

use crate::webcam::Camera;

/// How long each stream is read, and the longest silence allowed in it: a heartbeat a second,
/// with room for a loaded machine.
const READ: Duration = Duration::from_millis(4500);
const MOST: Duration = Duration::from_millis(1800);

/// Reads the stream for a while after its first bytes, then asserts it never fell silent.
fn never_silent(mut cgi: Cgi, what: &str) {
    cgi.read_until_count(b"\r\n\r\n", 1, Duration::from_secs(10));
    let silence = cgi.longest_silence(READ);
    assert!(
        silence <= MOST,
        "{what}: silent for {silence:?}; output: {:?}",
        String::from_utf8_lossy(&cgi.out)
    );
    cgi.signal("KILL");
    cgi.wait_exit(Duration::from_secs(10));
}

#[test]
fn every_clock_transport_keeps_writing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "heartbeat_secs = 1\n").unwrap();
    for transport in ["mixed", "chunked", "iframe", "sse", "image"] {
        let query = format!("transport={transport}&interval=3600");
        let mut req = crate::harness::CgiRequest::get("nph-clock", "");
        req.query = query.as_bytes();
        req.config = Some(&config);
        never_silent(req.spawn(&bin("nph-clock")), &format!("clock {transport}"));
    }
}

#[test]
fn a_quiet_camera_keeps_writing() {
    // The camera's own keepalive is far off: the heartbeat is what keeps the stream writing.
    let camera = Camera::new("heartbeat_secs = 1\nkeepalive_secs = 300");
    camera.write(1, Writing::Rename);
    never_silent(camera.run(""), "webcam");
}

#[test]
fn every_channel_stream_keeps_writing() {
    let spool = Spool::new("heartbeat_secs = 1\n");
    for transport in ["sse", "mixed", "chunked", "iframe"] {
        let query = format!("channel=quiet&transport={transport}&callback=chat.receive");
        let mut req = spool.get("");
        req.query = query.as_bytes();
        never_silent(
            req.spawn(&bin("nph-longpoll")),
            &format!("channel {transport}"),
        );
    }
}

#[test]
fn a_channel_streams_as_multipart_parts() {
    let spool = Spool::new("");
    let mut parts = spool
        .get("channel=parts&transport=mixed")
        .spawn(&bin("nph-longpoll"));
    parts.read_until_count(b"\r\n\r\n", 1, Duration::from_secs(10));
    wait_for(Duration::from_secs(10), "the stream to watch", || {
        parts.watching().then_some(())
    });
    let (code, _) = spool.run(spool.post("parts", b"hello"));
    assert_eq!(code, 201);
    parts.read_until_count(b"\"data\":\"hello\"", 1, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&parts.out).into_owned();
    assert!(
        text.contains("multipart/x-mixed-replace;boundary=")
            && text.contains("Content-Type: application/json\r\n")
            && text.contains("\"cursor\":\"parts:1:"),
        "{text}"
    );
    parts.signal("KILL");
    parts.wait_exit(Duration::from_secs(10));
}

/// Through every server, a quiet stream's heartbeats reach the client as they are written.
#[test]
fn every_server_passes_the_heartbeats_on() {
    let site = Site::new("spool_dir = \"@SPOOL@\"\nheartbeat_secs = 1\n");
    for (name, start) in SERVERS {
        let server = start(&site);
        for path in [
            "/cgi-bin/nph-clock?transport=sse&interval=3600",
            "/cgi-bin/nph-longpoll/quiet?transport=sse",
        ] {
            let mut stream = request(server.port, "GET", path, "HTTP/1.1", &[]);
            // The first heartbeat comes a second after the head, the third two seconds later.
            stream.read_until_count(b": heartbeat", 3, Duration::from_secs(6));
            assert!(!stream.closed, "{name} {path}");
        }
    }
}
