//! The envelope protects the server it runs in: the streams cap through Apache and lighttpd,
//! slots that come back when clients leave or stream processes die, and departure at scale.

use std::time::Duration;

use crate::client::request;
use crate::fixtures::{Server, Site};
use crate::served::post;
use crate::util::{pids_of, wait_for};

const T: Duration = Duration::from_secs(30);

const CAPPED: &str = "spool_dir = \"@SPOOL@\"\nopen_channels = [\"chat\"]\nmax_streams = 20\nheartbeat_secs = 1\nkeepalive_secs = 1\n";

fn open_stream(server: &Server, path: &str) -> crate::client::Response {
    request(server.port, "GET", path, "HTTP/1.1", &[])
}

/// With `max_streams = 20`, the 21st stream is 503 with `Retry-After` and a log line, while
/// one-shot answers are served; slots come back when clients leave and when stream processes
/// are killed.
fn the_cap_holds_and_slots_come_back(server: &Server, site: &Site) {
    let clock = site.program("nph-clock");
    let longpoll = site.program("nph-longpoll");
    // Streams of two programs share the cap.
    let mut held: Vec<_> = (0..20)
        .map(|i| {
            let path = if i % 2 == 0 {
                "/cgi-bin/nph-clock?transport=sse&interval=3600"
            } else {
                "/cgi-bin/nph-longpoll/chat?transport=sse"
            };
            let mut r = open_stream(server, path);
            assert_eq!(r.status(), 200, "{}: stream {i}", server.name);
            r.read_some(Duration::from_millis(200));
            r
        })
        .collect();
    let mut refused = open_stream(server, "/cgi-bin/nph-longpoll/chat?transport=sse");
    assert_eq!(refused.status(), 503, "{}: the 21st stream", server.name);
    assert_eq!(refused.header("retry-after"), Some("5"));
    refused.read_complete(T);
    assert!(String::from_utf8_lossy(&refused.body).contains("max_streams"));
    // A waiting long-poll counts too; a publish and a JSON clock do not.
    assert_eq!(
        open_stream(server, "/cgi-bin/nph-longpoll/chat?timeout=5").status(),
        503
    );
    assert!(post(server, "chat", "still served", "HTTP/1.1") > 0);
    let mut json = open_stream(server, "/cgi-bin/nph-clock?transport=json");
    assert_eq!(json.status(), 200);
    json.read_complete(T);
    assert!(
        server.error_log().contains("max_streams"),
        "{}: the refusal is logged",
        server.name
    );
    // Clients leave: their processes end at the next heartbeat, and their slots are free.
    held.truncate(15);
    wait_for(T, "five slots to come back", || {
        let r = open_stream(server, "/cgi-bin/nph-clock?transport=sse&interval=3600");
        (r.status() == 200).then_some(r)
    });
    // Stream processes killed outright free their slots too.
    let victims: Vec<u32> = pids_of(&longpoll).into_iter().take(3).collect();
    assert!(!victims.is_empty());
    for pid in &victims {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    wait_for(T, "the killed streams' slots to come back", || {
        let r = open_stream(server, "/cgi-bin/nph-longpoll/chat?transport=sse");
        (r.status() == 200).then_some(r)
    });
    drop(held);
    wait_for(T, "every stream process to end", || {
        (pids_of(&clock).is_empty() && pids_of(&longpoll).is_empty()).then_some(())
    });
}

#[test]
fn the_streams_cap_under_apache() {
    let site = Site::new(CAPPED);
    let server = Server::apache(&site);
    the_cap_holds_and_slots_come_back(&server, &site);
}

#[test]
fn the_streams_cap_under_lighttpd() {
    let site = Site::new(CAPPED);
    let server = Server::lighttpd(&site);
    the_cap_holds_and_slots_come_back(&server, &site);
}

/// A thousand clients through Apache drop at once: every stream process is gone within two
/// heartbeats.
#[test]
fn a_thousand_departures_leave_no_process() {
    // A thousand sockets in this process, beside the other tests'.
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(8192),
            maximum: Some(8192),
        },
    );
    let site = Site::new("max_streams = 2000\nheartbeat_secs = 2\n");
    let server = Server::apache_with(&site, |conf| crate::fixtures::raise_workers(conf, 1280));
    crate::served::departed_clients_leave_no_process(
        &server,
        &site,
        "nph-clock",
        "/cgi-bin/nph-clock?transport=sse&interval=3600",
        b"data:",
        1000,
        2,
    );
}
