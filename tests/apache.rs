//! Ring 3: the programs behind a real Apache httpd 2.4 (mpm_event, mod_cgid).

use std::time::{Duration, Instant};

use crate::client::request;
use crate::fixtures::{Server, Site};
use crate::served::{
    self, LONGPOLL_CONFIG, T, bad_input_is_refused_and_logged, every_clock_transport,
    longpoll_works, webcam_streams, webcam_unreadable_file_is_503,
};

#[test]
fn clock_every_transport_nph() {
    let site = Site::new("");
    let apache = Server::apache(&site);
    every_clock_transport(&apache, "nph-clock");
}

#[test]
fn clock_every_transport_cgi() {
    let site = Site::new("");
    let apache = Server::apache(&site);
    every_clock_transport(&apache, "clock");
}

/// Apache passes NPH output through untouched: our status line, `Connection: close`, no
/// `Transfer-Encoding` on the multipart stream, and a part every interval.
#[test]
fn nph_mixed_head_is_passed_through() {
    let site = Site::new("");
    let apache = Server::apache(&site);
    let mut r = request(apache.port, "GET", "/cgi-bin/nph-clock", "HTTP/1.1", &[]);
    assert!(
        r.status_line.starts_with("HTTP/1.1 200 OK"),
        "{}",
        r.head_text()
    );
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(
        r.header("server").map(|s| s.starts_with("serverpush/")),
        Some(true)
    );
    assert!(r.header("transfer-encoding").is_none());
    let start = Instant::now();
    r.read_until_count(b"Content-Type: text/plain", 3, T);
    // Three parts at one per second: the third arrives about two seconds in.
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
}

/// Apache hands our chunked framing to an HTTP/1.1 client as is.
#[test]
fn nph_chunked_framing_reaches_the_client() {
    let site = Site::new("");
    let apache = Server::apache(&site);
    let mut r = request(
        apache.port,
        "GET",
        "/cgi-bin/nph-clock?transport=chunked&count=2&interval=0.2",
        "HTTP/1.1",
        &[],
    );
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    r.read_to_end(T);
    assert!(r.chunked_complete(), "the last chunk arrived");
    assert_eq!(crate::client::occurrences(&r.body, b"<div>"), 2);
}

#[test]
fn clock_bad_input() {
    let site = Site::new("");
    let apache = Server::apache(&site);
    bad_input_is_refused_and_logged(&apache, "nph-clock");
}

/// 50 clients read one unit each and leave; the programs, silent but for heartbeats, are all
/// gone within two heartbeat intervals (plus a second for signal delivery on 2 busy cores).
#[test]
fn departed_clients_leave_no_process() {
    let site = Site::new("heartbeat_secs = 2\n");
    let apache = Server::apache(&site);
    served::departed_clients_leave_no_process(
        &apache,
        &site,
        "nph-clock",
        "/cgi-bin/nph-clock?interval=3600",
        b"Content-Type: text/plain",
        50,
        2,
    );
}

const WEBCAM_CONFIG: &str =
    "keepalive_secs = 2\nheartbeat_secs = 2\n[cameras]\ndefault = \"@CAMS@/cam.jpg\"\n";

#[test]
fn webcam_streams_through_apache() {
    let site = Site::new(WEBCAM_CONFIG);
    let apache = Server::apache(&site);
    webcam_streams(&apache, &site);
}

#[test]
fn webcam_unreadable_camera_file() {
    let site = Site::new(WEBCAM_CONFIG);
    let apache = Server::apache(&site);
    webcam_unreadable_file_is_503(&apache, &site);
}

/// 50 viewers leave at once; within twice `keepalive_secs` (2) plus a margin, no
/// `nph-webcam` process is left.
#[test]
fn departed_viewers_leave_no_process() {
    let site = Site::new(WEBCAM_CONFIG);
    let apache = Server::apache(&site);
    serverpush::source::camsim::write_frame(
        &site.cams.join("cam.jpg"),
        &crate::webcam::frame(1),
        serverpush::source::camsim::Writing::Rename,
    )
    .unwrap();
    served::departed_clients_leave_no_process(
        &apache,
        &site,
        "nph-webcam",
        "/cgi-bin/nph-webcam",
        b"\r\n--",
        50,
        2,
    );
}

#[test]
fn longpoll_publish_poll_and_sse() {
    let site = Site::new(LONGPOLL_CONFIG);
    let server = Server::apache(&site);
    longpoll_works(&server);
}

/// An SSE subscriber through Apache, cut mid-stream and resumed with `Last-Event-ID`, gets every
/// message exactly once.
#[test]
fn sse_resumed_with_last_event_id_loses_and_repeats_nothing() {
    let site = Site::new(LONGPOLL_CONFIG);
    let apache = Server::apache(&site);
    let mut store = site.store();
    use crate::util::StoreExt;
    let mut received: Vec<String> = Vec::new();
    let mut last_event_id = "room:0".to_owned();
    let mut published = 0;
    for round in 0..4 {
        let mut sse = request(
            apache.port,
            "GET",
            "/cgi-bin/nph-longpoll/room",
            "HTTP/1.1",
            &[
                "Accept: text/event-stream",
                &format!("Last-Event-ID: {last_event_id}"),
            ],
        );
        for _ in 0..5 {
            published += 1;
            store.put("room", &format!("m{published}"));
        }
        // Read part of what was published, then cut the connection mid-stream.
        sse.read_until_count(b"\ndata: ", 3 + round % 2, T);
        let text = String::from_utf8_lossy(&sse.body).into_owned();
        for event in text.split("\n\n") {
            let id = event.lines().find_map(|l| l.strip_prefix("id: "));
            let data = event.lines().find_map(|l| l.strip_prefix("data: "));
            if let (Some(id), Some(data)) = (id, data) {
                let v: serde_json::Value = serde_json::from_str(data).unwrap();
                received.push(v["data"].as_str().unwrap().to_owned());
                last_event_id = id.to_owned();
            }
        }
        sse.close();
    }
    let mut sse = request(
        apache.port,
        "GET",
        "/cgi-bin/nph-longpoll/room",
        "HTTP/1.1",
        &[
            "Accept: text/event-stream",
            &format!("Last-Event-ID: {last_event_id}"),
        ],
    );
    let rest = published - received.len();
    sse.read_until_count(b"\ndata: ", rest, T);
    for line in String::from_utf8_lossy(&sse.body).lines() {
        if let Some(data) = line.strip_prefix("data: ") {
            let v: serde_json::Value = serde_json::from_str(data).unwrap();
            received.push(v["data"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        received,
        (1..=published).map(|n| format!("m{n}")).collect::<Vec<_>>()
    );
}
