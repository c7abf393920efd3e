//! Checks shared by the real-server tests: what every clock transport must look like to a client
//! of Apache or lighttpd.

use std::time::Duration;

use crate::client::{Response, request};
use crate::fixtures::Server;

pub const T: Duration = Duration::from_secs(10);

/// Each clock transport, its query, and the bytes that mark one unit in its body.
pub const TRANSPORTS: &[(&str, &str, &[u8])] = &[
    (
        "mixed",
        "transport=mixed&interval=0.2",
        b"Content-Type: text/plain",
    ),
    (
        "mixed-cgipm",
        "transport=mixed&compat=cgipm&interval=0.2",
        b"Content-Type: text/plain",
    ),
    ("chunked", "transport=chunked&interval=0.2", b"<div>"),
    (
        "iframe",
        "transport=iframe&interval=0.2",
        b"<script>window.parent.comet.printServerTime(",
    ),
    ("sse", "transport=sse&interval=0.2", b"data: "),
    (
        "image",
        "transport=image&interval=1&size=64",
        b"Content-Type: image/png",
    ),
];

/// Opens `program?query` and reads two units.
pub fn two_units(
    server: &Server,
    program: &str,
    query: &str,
    marker: &[u8],
    version: &str,
) -> Response {
    let target = format!("/cgi-bin/{program}?{query}");
    let mut r = request(server.port, "GET", &target, version, &[]);
    assert_eq!(
        r.status(),
        200,
        "{} {target} {version}: {}",
        server.name,
        r.head_text()
    );
    r.read_until_count(marker, 2, T);
    r
}

/// Every transport of `program` through `server` with HTTP/1.1 and HTTP/1.0, plus JSON and HEAD.
pub fn every_clock_transport(server: &Server, program: &str) {
    for (name, query, marker) in TRANSPORTS {
        for version in ["HTTP/1.1", "HTTP/1.0"] {
            let r = two_units(server, program, query, marker, version);
            let what = format!("{} {program} {name} {version}", server.name);
            if version == "HTTP/1.0" {
                assert!(r.status_line.starts_with("HTTP/1."), "{what}");
                assert!(
                    r.header("transfer-encoding").is_none(),
                    "{what}: {}",
                    r.head_text()
                );
            }
            if *name == "image" {
                let start = crate::client::occurrences(&r.body, b"\r\n\r\n");
                assert!(start > 0, "{what}");
                let at = r.body.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                let image =
                    image::load_from_memory_with_format(&r.body[at..], image::ImageFormat::Png);
                assert!(image.is_ok_and(|i| i.width() == 64), "{what}: a PNG part");
            }
            r.close();
        }
    }

    // SSE chosen by the Accept header alone, as EventSource asks.
    let mut r = request(
        server.port,
        "GET",
        &format!("/cgi-bin/{program}?interval=0.2"),
        "HTTP/1.1",
        &["Accept: text/event-stream"],
    );
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream")),
        "{}",
        r.head_text()
    );
    r.read_until_count(b"data: ", 1, T);
    r.close();

    for version in ["HTTP/1.1", "HTTP/1.0"] {
        let mut r = request(
            server.port,
            "GET",
            &format!("/cgi-bin/{program}?transport=json&tz=utc"),
            version,
            &[],
        );
        assert_eq!(r.status(), 200);
        r.read_to_end(T);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| {
            panic!(
                "{} {version} json: {e}: {:?}",
                server.name,
                String::from_utf8_lossy(&r.body)
            )
        });
        assert_eq!(v["tz"], "utc");
    }

    for version in ["HTTP/1.1", "HTTP/1.0"] {
        let mut r = request(
            server.port,
            "HEAD",
            &format!("/cgi-bin/{program}"),
            version,
            &[],
        );
        assert_eq!(r.status(), 200, "{} HEAD {version}", server.name);
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with("multipart/x-mixed-replace"))
        );
        r.read_to_end(T);
        assert!(
            r.body.is_empty(),
            "{} HEAD {version}: {:?}",
            server.name,
            r.body
        );
    }
}

/// A bad request through the server: a clear 4xx to the client and a line in the error log.
pub fn bad_input_is_refused_and_logged(server: &Server, program: &str) {
    let cases: &[(&str, &str, u16, &str)] = &[
        ("GET", "interval=0", 400, "interval must be"),
        ("GET", "transport=carrier-pigeon", 400, "transport must be"),
        (
            "GET",
            "transport=iframe&callback=alert(1)//",
            400,
            "callback must be",
        ),
        ("GET", "format=%25Q", 400, "format must be"),
        ("DELETE", "", 405, "method DELETE is not allowed"),
    ];
    for (method, query, status, logged) in cases {
        let mut r = request(
            server.port,
            method,
            &format!("/cgi-bin/{program}?{query}"),
            "HTTP/1.1",
            &[],
        );
        assert_eq!(
            r.status(),
            *status,
            "{} {method} {query}: {}",
            server.name,
            r.head_text()
        );
        r.read_until_count(logged.as_bytes(), 1, T);
        crate::util::wait_for(
            T,
            &format!("{logged:?} in the {} error log", server.name),
            || server.error_log().contains(logged).then_some(()),
        );
    }
    // The server and the program still answer afterwards.
    let mut r = request(
        server.port,
        "GET",
        &format!("/cgi-bin/{program}?transport=json"),
        "HTTP/1.1",
        &[],
    );
    assert_eq!(r.status(), 200);
    r.read_to_end(T);
}

/// The webcam through `server`: a stream delivers frames as the camera writes them, over
/// HTTP/1.1 and HTTP/1.0; HEAD gets the head; a snapshot is the current frame.
pub fn webcam_streams(server: &Server, site: &crate::fixtures::Site) {
    use serverpush::source::camsim::{Writing, write_frame};
    let file = site.cams.join("cam.jpg");
    write_frame(&file, &crate::webcam::frame(1), Writing::Rename).unwrap();
    for version in ["HTTP/1.1", "HTTP/1.0"] {
        let mut r = request(server.port, "GET", "/cgi-bin/nph-webcam", version, &[]);
        assert_eq!(
            r.status(),
            200,
            "{} {version}: {}",
            server.name,
            r.head_text()
        );
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with("multipart/x-mixed-replace"))
        );
        let parts = r.read_parts(1, T);
        assert_eq!(parts[0], crate::webcam::frame(1));
        write_frame(&file, &crate::webcam::frame(2), Writing::Rename).unwrap();
        let parts = r.read_parts(2, T);
        assert_eq!(
            parts[1],
            crate::webcam::frame(2),
            "{} {version}",
            server.name
        );
        write_frame(&file, &crate::webcam::frame(1), Writing::Rename).unwrap();
        r.read_parts(3, T);
        r.close();
    }
    for version in ["HTTP/1.1", "HTTP/1.0"] {
        let mut r = request(server.port, "HEAD", "/cgi-bin/nph-webcam", version, &[]);
        assert_eq!(r.status(), 200);
        r.read_to_end(T);
        assert!(r.body.is_empty());
    }
    let mut r = request(
        server.port,
        "GET",
        "/cgi-bin/nph-webcam?action=snapshot",
        "HTTP/1.1",
        &[],
    );
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    r.read_to_end(T);
    assert_eq!(r.body, crate::webcam::frame(1));
}

/// A camera file the server's workers cannot read: 503 with a reason, logged.
pub fn webcam_unreadable_file_is_503(server: &Server, site: &crate::fixtures::Site) {
    use std::os::unix::fs::PermissionsExt;
    let file = site.cams.join("cam.jpg");
    std::fs::write(&file, crate::webcam::frame(1)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let running_as_root = std::fs::metadata(&file)
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if !running_as_root {
        // Only root's workers run as another user; as a plain user the file stays readable.
        return;
    }
    let mut r = request(
        server.port,
        "GET",
        "/cgi-bin/nph-webcam?action=snapshot",
        "HTTP/1.1",
        &[],
    );
    assert_eq!(r.status(), 503, "{}: {}", server.name, r.head_text());
    r.read_until_count(b"cannot be read", 1, T);
    crate::util::wait_for(T, "the 503 in the error log", || {
        server
            .error_log()
            .contains("camera file cannot be read")
            .then_some(())
    });
}

/// The config the long-poll server tests use.
pub const LONGPOLL_CONFIG: &str = "spool_dir = \"@SPOOL@\"\nopen_channels = [\"chat\"]\npublish_token = \"token-token-token-token\"\nheartbeat_secs = 2\n";

/// Publishes `body` to `channel` over HTTP; returns the id.
pub fn post(server: &Server, channel: &str, body: &str, version: &str) -> u64 {
    let mut r = request(
        server.port,
        "POST",
        &format!("/cgi-bin/nph-longpoll/{channel}"),
        version,
        &[
            "Content-Type: text/plain",
            &format!("Content-Length: {}", body.len()),
            "Connection: close",
            &format!("\r\n{body}"),
        ],
    );
    assert_eq!(
        r.status(),
        201,
        "{} POST {version}: {}",
        server.name,
        r.head_text()
    );
    r.read_to_end(T);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["id"].as_u64().unwrap()
}

/// Publish, long-poll and SSE through `server`, with HTTP/1.1 and HTTP/1.0, and HEAD.
pub fn longpoll_works(server: &Server) {
    for version in ["HTTP/1.1", "HTTP/1.0"] {
        let channel = if version == "HTTP/1.1" {
            "chat"
        } else {
            "chat10"
        };
        // A long-poll parked before the publish is answered by it.
        let mut poll = crate::client::send(
            server.port,
            "GET",
            &format!("/cgi-bin/nph-longpoll/{channel}?since=0&timeout=20"),
            version,
            &[],
        );
        if channel == "chat10" {
            // Not an open channel: the token is needed.
            let mut r = request(
                server.port,
                "POST",
                "/cgi-bin/nph-longpoll/chat10",
                version,
                &["Content-Length: 2", "\r\nhi"],
            );
            assert_eq!(r.status(), 401, "{}", r.head_text());
            r.read_to_end(T);
            let mut r = request(
                server.port,
                "POST",
                "/cgi-bin/nph-longpoll/chat10",
                version,
                &[
                    "Content-Length: 2",
                    "Authorization: Bearer token-token-token-token",
                    "\r\nhi",
                ],
            );
            assert_eq!(r.status(), 201, "{}", r.head_text());
            r.read_to_end(T);
        } else {
            assert_eq!(post(server, channel, "hi", version), 1);
        }
        poll.wait_head();
        assert_eq!(
            poll.status(),
            200,
            "{} {version}: {}",
            server.name,
            poll.head_text()
        );
        poll.read_to_end(T);
        let v: serde_json::Value = serde_json::from_slice(&poll.body).unwrap();
        assert_eq!(v["messages"][0]["data"], "hi", "{} {version}", server.name);
        assert_eq!(crate::longpoll::bare(&v["cursor"]), format!("{channel}:1"));

        let mut sse = request(
            server.port,
            "GET",
            &format!("/cgi-bin/nph-longpoll/{channel}?since=1"),
            version,
            &["Accept: text/event-stream"],
        );
        assert!(
            sse.header("content-type")
                .is_some_and(|t| t.starts_with("text/event-stream")),
            "{}",
            sse.head_text()
        );
        sse.read_until_count(b"retry: ", 1, T);
        let mut r = request(
            server.port,
            "POST",
            &format!("/cgi-bin/nph-longpoll/{channel}"),
            version,
            &[
                "Content-Length: 5",
                "Authorization: Bearer token-token-token-token",
                "\r\nthere",
            ],
        );
        assert_eq!(r.status(), 201);
        r.read_to_end(T);
        sse.read_until_count(b"\"data\":\"there\"", 1, T);
        assert!(String::from_utf8_lossy(&sse.body).contains(&format!("id: {channel}:2:")));
        sse.close();

        let mut head = request(
            server.port,
            "HEAD",
            &format!("/cgi-bin/nph-longpoll/{channel}?timeout=20"),
            version,
            &[],
        );
        assert_eq!(head.status(), 200);
        head.read_to_end(Duration::from_secs(5));
        assert!(head.body.is_empty());
    }
}

/// `n` clients of `path` read one unit (the first `marker`) and leave at once; within two
/// silent intervals (`interval_secs`, the heartbeat or keepalive) plus a second, no process of
/// `program` is left.
pub fn departed_clients_leave_no_process(
    server: &Server,
    site: &crate::fixtures::Site,
    program: &str,
    path: &str,
    marker: &[u8],
    n: usize,
    interval_secs: u64,
) {
    let exe = site.program(program);
    let clients: Vec<_> = (0..n)
        .map(|_| {
            let mut r = request(server.port, "GET", path, "HTTP/1.1", &[]);
            r.read_until_count(marker, 1, T);
            r
        })
        .collect();
    assert_eq!(
        crate::util::pids_of(&exe).len(),
        n,
        "one process per client"
    );
    let left = std::time::Instant::now();
    drop(clients);
    crate::util::wait_for(
        Duration::from_secs(2 * interval_secs + 1),
        &format!("no {program} process left"),
        || crate::util::pids_of(&exe).is_empty().then_some(()),
    );
    eprintln!(
        "{}: all {n} {program} processes gone {:?} after their clients left",
        server.name,
        left.elapsed()
    );
}
