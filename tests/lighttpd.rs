//! Ring 3: the programs behind a real lighttpd 1.4 (mod_cgi, stream-response-body = 2).

use crate::client::request;
use crate::fixtures::{Server, Site};
use crate::served::{
    self, LONGPOLL_CONFIG, T, bad_input_is_refused_and_logged, every_clock_transport,
    longpoll_works, webcam_streams, webcam_unreadable_file_is_503,
};

#[test]
fn clock_every_transport_nph() {
    let site = Site::new("");
    let server = Server::lighttpd(&site);
    every_clock_transport(&server, "nph-clock");
}

#[test]
fn clock_every_transport_cgi() {
    let site = Site::new("");
    let server = Server::lighttpd(&site);
    every_clock_transport(&server, "clock");
}

/// lighttpd reads the NPH head and frames the body itself: chunked for HTTP/1.1.
#[test]
fn nph_head_is_reframed() {
    let site = Site::new("");
    let server = Server::lighttpd(&site);
    let mut r = request(
        server.port,
        "GET",
        "/cgi-bin/nph-clock?count=2&interval=0.2",
        "HTTP/1.1",
        &[],
    );
    assert!(
        r.status_line.starts_with("HTTP/1.1 200"),
        "{}",
        r.head_text()
    );
    assert_eq!(
        r.header("transfer-encoding"),
        Some("chunked"),
        "{}",
        r.head_text()
    );
    r.read_until_count(b"--\r\n", 1, T);
}

#[test]
fn clock_bad_input() {
    let site = Site::new("");
    let server = Server::lighttpd(&site);
    bad_input_is_refused_and_logged(&server, "nph-clock");
}

/// With `tcp-fin-propagate`, lighttpd signals a program as soon as its client closes.
#[test]
fn departed_clients_leave_no_process() {
    let site = Site::new("heartbeat_secs = 2\n");
    let server = Server::lighttpd(&site);
    served::departed_clients_leave_no_process(
        &server,
        &site,
        "nph-clock",
        "/cgi-bin/nph-clock?interval=3600",
        b"Content-Type: text/plain",
        20,
        2,
    );
}

const WEBCAM_CONFIG: &str = "keepalive_secs = 2\n[cameras]\ndefault = \"@CAMS@/cam.jpg\"\n";

#[test]
fn webcam_streams_through_lighttpd() {
    let site = Site::new(WEBCAM_CONFIG);
    let server = Server::lighttpd(&site);
    webcam_streams(&server, &site);
    webcam_unreadable_file_is_503(&server, &site);
}

#[test]
fn longpoll_publish_poll_and_sse() {
    let site = Site::new(LONGPOLL_CONFIG);
    let server = Server::lighttpd(&site);
    longpoll_works(&server);
}
