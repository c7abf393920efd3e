//! Ring 3: the programs behind a real nginx through fcgiwrap, with the shipped
//! `serverpush-nginx.conf.in`.

use crate::client::request;
use crate::fixtures::{Server, Site};
use crate::served::{
    self, LONGPOLL_CONFIG, T, bad_input_is_refused_and_logged, every_clock_transport,
    longpoll_works, webcam_streams, webcam_unreadable_file_is_503,
};

#[test]
fn clock_every_transport_under_both_names() {
    let site = Site::new("");
    let server = Server::nginx(&site);
    every_clock_transport(&server, "nph-clock");
    every_clock_transport(&server, "clock");
}

/// nginx does not read an NPH head: under it an `nph-` name writes a CGI head, so a status
/// reaches the client as it is and a chunked body is framed once, by nginx.
#[test]
fn nph_names_answer_with_their_own_status() {
    let site = Site::new(LONGPOLL_CONFIG);
    let server = Server::nginx(&site);
    let mut r = request(
        server.port,
        "GET",
        "/cgi-bin/nph-clock?transport=chunked&interval=0.2",
        "HTTP/1.1",
        &[],
    );
    assert_eq!(r.status(), 200, "{}", r.head_text());
    r.read_until_count(b"<div>", 2, T);
    assert!(
        !String::from_utf8_lossy(&r.body).contains("\r\n0\r\n"),
        "framed once: {:?}",
        String::from_utf8_lossy(&r.body)
    );
    r.close();
    let mut refused = request(
        server.port,
        "GET",
        "/cgi-bin/nph-clock?interval=0",
        "HTTP/1.1",
        &[],
    );
    assert_eq!(refused.status(), 400, "{}", refused.head_text());
    refused.read_complete(T);
}

/// Refusals are logged in nginx's error log (fcgiwrap `-f`), each line whole: fcgiwrap passes
/// every write of the program's stderr on as a record nginx logs on its own.
#[test]
fn clock_bad_input() {
    let site = Site::new("");
    let server = Server::nginx(&site);
    bad_input_is_refused_and_logged(&server, "nph-clock");
    let log = server.error_log();
    assert!(
        log.contains("FastCGI sent in stderr: \"nph-clock: 400 Bad Request: interval must be"),
        "{log}"
    );
}

/// fcgiwrap does not signal a program whose client left: the program learns it at its next
/// write, a heartbeat, and exits then, within two heartbeats, and its fcgiwrap worker is free
/// again: with as many workers as clients, a second crowd of 50 is served as the first was
/// (a worker still held would leave a client of the second crowd waiting without an answer).
#[test]
fn departed_clients_leave_no_process() {
    const CLIENTS: usize = 50;
    let site = Site::new("heartbeat_secs = 2\n");
    let server = Server::nginx_with(&site, CLIENTS, |_, conf| conf);
    for _crowd in 0..2 {
        served::departed_clients_leave_no_process(
            &server,
            &site,
            "nph-clock",
            "/cgi-bin/nph-clock?interval=3600",
            b"Content-Type: text/plain",
            CLIENTS,
            2,
        );
    }
}

const WEBCAM_CONFIG: &str = "keepalive_secs = 2\n[cameras]\ndefault = \"@CAMS@/cam.jpg\"\n";

#[test]
fn webcam_streams_through_nginx() {
    let site = Site::new(WEBCAM_CONFIG);
    let server = Server::nginx(&site);
    webcam_streams(&server, &site);
    webcam_unreadable_file_is_503(&server, &site);
}

#[test]
fn longpoll_publish_poll_and_sse() {
    let site = Site::new(LONGPOLL_CONFIG);
    let server = Server::nginx(&site);
    longpoll_works(&server);
}
