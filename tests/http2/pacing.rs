//! Every program's units over HTTP/2 and HTTP/1.1 on the same servers arrive as they are
//! written, with the heads each protocol needs.

use std::time::{Duration, Instant};

use crate::curl::{Protocol, curl};
use crate::fixtures::{Server, Site};
use crate::served::{LONGPOLL_CONFIG, T, TRANSPORTS};
use crate::util::{pids_of, wait_for};

use super::{WEBCAM_CONFIG, assert_paced, check_head, interval_of};

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

use super::NGINX_PROTOCOLS;

#[test]
fn nginx_clock_over_h2_and_http11() {
    let site = Site::new("heartbeat_secs = 2\n");
    let nginx = Server::nginx_tls(&site);
    for protocol in NGINX_PROTOCOLS {
        clock_over(&nginx, protocol);
    }
}

#[test]
fn nginx_webcam_over_h2_and_http11() {
    let site = Site::new(WEBCAM_CONFIG);
    let nginx = Server::nginx_tls(&site);
    for protocol in NGINX_PROTOCOLS {
        webcam_over(&nginx, &site, protocol);
    }
}

#[test]
fn nginx_longpoll_over_h2_and_http11() {
    let site = Site::new(LONGPOLL_CONFIG);
    let nginx = Server::nginx_tls(&site);
    for (n, protocol) in NGINX_PROTOCOLS.into_iter().enumerate() {
        longpoll_over(&nginx, protocol, &format!("room{n}"));
    }
}
