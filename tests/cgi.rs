//! Ring 2: `nph-clock` run as a CGI program, its output read with deadlines.

use std::time::{Duration, Instant};

use crate::harness::{CgiRequest, split_head};
use crate::util::bin;

const T: Duration = Duration::from_secs(10);

fn clock() -> std::path::PathBuf {
    bin("nph-clock")
}

#[test]
fn nph_mixed_stream_is_alive_and_ticks() {
    let mut cgi = CgiRequest::get("nph-clock", "interval=0.1&tz=utc").spawn(&clock());
    cgi.read_until_count(b"\r\n--", 4, T);
    assert!(cgi.alive(), "the stream must still be running");
    let (head, body) = split_head(&cgi.out);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("\r\nConnection: close"), "{head}");
    assert!(head.contains("\r\nContent-Type: multipart/x-mixed-replace;boundary="));
    assert!(!head.contains("Transfer-Encoding"), "{head}");
    assert!(body.starts_with(b"--"));
}

#[test]
fn cgi_name_writes_a_status_head() {
    let mut cgi = CgiRequest::get("clock", "transport=sse&interval=0.1").spawn(&clock());
    cgi.read_until_count(b"data: ", 2, T);
    let (head, _) = split_head(&cgi.out);
    assert!(head.starts_with("Status: 200 OK\r\n"), "{head}");
    assert!(!head.contains("Connection:"), "{head}");
    assert!(head.contains("Content-Type: text/event-stream"), "{head}");
}

#[test]
fn http10_gets_http10_and_no_chunking() {
    let mut req = CgiRequest::get("nph-clock", "transport=chunked&count=2&interval=0.1");
    req.protocol = "HTTP/1.0";
    let (status, out, _) = req.spawn(&clock()).finish(T);
    assert!(status.success());
    let (head, body) = split_head(&out);
    assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
    assert!(!head.contains("Transfer-Encoding"), "{head}");
    assert!(body.starts_with(b"    "), "padding comes raw");
    assert!(!body.ends_with(b"0\r\n\r\n"));
}

#[test]
fn http11_nph_chunked_ends_with_last_chunk() {
    let (status, out, _) = CgiRequest::get("nph-clock", "transport=chunked&count=2&interval=0.1")
        .spawn(&clock())
        .finish(T);
    assert!(status.success());
    let (head, body) = split_head(&out);
    assert!(head.contains("\r\nTransfer-Encoding: chunked"), "{head}");
    assert!(body.starts_with(b"fa0\r\n"));
    assert!(body.ends_with(b"\r\n0\r\n\r\n"));
}

#[test]
fn count_ends_normally_with_final_boundary() {
    let (status, out, stderr) = CgiRequest::get("nph-clock", "count=5&interval=0.1")
        .spawn(&clock())
        .finish(T);
    assert!(status.success(), "{stderr}");
    let (head, body) = split_head(&out);
    let boundary = head
        .split("boundary=")
        .nth(1)
        .unwrap()
        .split("\r\n")
        .next()
        .unwrap();
    let closing = format!("\r\n--{boundary}--\r\n");
    assert!(body.ends_with(closing.as_bytes()));
    assert_eq!(
        crate::client::occurrences(body, b"Content-Type: text/plain"),
        5
    );
}

#[test]
fn head_request_gets_the_head_alone() {
    let (status, out, _) = CgiRequest {
        method: "HEAD",
        ..CgiRequest::get("nph-clock", "")
    }
    .spawn(&clock())
    .finish(T);
    assert!(status.success());
    let (head, body) = split_head(&out);
    assert!(head.starts_with("HTTP/1.1 200 OK"));
    assert!(body.is_empty(), "{body:?}");
}

#[test]
fn json_is_one_answer() {
    let (status, out, _) = CgiRequest::get("nph-clock", "transport=json&tz=utc")
        .spawn(&clock())
        .finish(T);
    assert!(status.success());
    let (head, body) = split_head(&out);
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["tz"], "utc");
    let length: usize = head
        .split("Content-Length: ")
        .nth(1)
        .unwrap()
        .split("\r\n")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(length, body.len());
}

/// A departed client: the server closes the program's stdout; the program's next writes fail
/// and it must exit quietly with success.
#[test]
fn departed_reader_ends_the_process_quietly() {
    let mut cgi = CgiRequest::get("nph-clock", "interval=0.1").spawn(&clock());
    cgi.read_until_count(b"\r\n--", 2, T);
    cgi.close_stdout();
    let status = cgi.wait_exit(Duration::from_secs(3));
    assert!(status.success(), "{status}");
}

#[test]
fn sigterm_and_sighup_end_the_process_within_a_second() {
    for signal in ["TERM", "HUP", "PIPE"] {
        // A long interval: the program is asleep when the signal comes.
        let mut cgi = CgiRequest::get("nph-clock", "interval=3600").spawn(&clock());
        cgi.read_until_count(b"\r\n--", 2, T);
        let sent = Instant::now();
        cgi.signal(signal);
        let status = cgi.wait_exit(Duration::from_secs(1));
        assert!(sent.elapsed() < Duration::from_secs(1), "SIG{signal}");
        assert!(status.success(), "SIG{signal}: {status}");
    }
}

#[test]
fn heartbeat_keeps_a_silent_stream_writing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "heartbeat_secs = 1\n").unwrap();
    let mut req = CgiRequest::get("nph-clock", "transport=sse&interval=3600");
    req.config = Some(&config);
    let mut cgi = req.spawn(&clock());
    cgi.read_until_count(b": heartbeat\n\n", 2, Duration::from_secs(5));
    assert!(cgi.alive());
}

#[test]
fn max_lifetime_ends_the_stream_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "max_lifetime_secs = 1\n").unwrap();
    let mut req = CgiRequest::get("nph-clock", "transport=chunked&interval=0.2");
    req.config = Some(&config);
    let (status, out, _) = req.spawn(&clock()).finish(Duration::from_secs(5));
    assert!(status.success());
    assert!(out.ends_with(b"\r\n0\r\n\r\n"));
}

#[test]
fn bad_config_is_a_500_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "heartbeat_secs = \"often\"\n").unwrap();
    let mut req = CgiRequest::get("nph-clock", "");
    req.config = Some(&config);
    let (_, out, stderr) = req.spawn(&clock()).finish(T);
    let (head, _) = split_head(&out);
    assert!(head.starts_with("HTTP/1.1 500"), "{head}");
    assert!(stderr.contains(&config.display().to_string()), "{stderr}");
    assert!(stderr.contains("heartbeat_secs"), "{stderr}");
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
}

/// Every bad input gets a complete 4xx answer, a line on stderr, and no panic.
#[test]
fn bad_input_gets_a_clear_4xx() {
    let long_query = format!("format={}", "a".repeat(100_000));
    let cases: Vec<(CgiRequest, u16)> = vec![
        (
            CgiRequest::get("nph-clock", "").var("HTTP_ACCEPT", b"text/\xffevent".to_vec()),
            400,
        ),
        (
            CgiRequest {
                protocol: "FOO",
                ..CgiRequest::get("nph-clock", "")
            },
            400,
        ),
        (CgiRequest::get("nph-clock", &long_query), 414),
        (
            CgiRequest::get("nph-clock", "transport=carrier-pigeon"),
            400,
        ),
        (CgiRequest::get("nph-clock", "interval=0"), 400),
        (CgiRequest::get("nph-clock", "interval=-1"), 400),
        (CgiRequest::get("nph-clock", "interval=NaN"), 400),
        (CgiRequest::get("nph-clock", "interval=1e308"), 400),
        (CgiRequest::get("nph-clock", "format=%25Q%25"), 400),
        (
            CgiRequest::get("nph-clock", "transport=iframe&callback=alert(1)//"),
            400,
        ),
        (
            CgiRequest {
                method: "DELETE",
                ..CgiRequest::get("nph-clock", "")
            },
            405,
        ),
        (
            CgiRequest::get("nph-clock", "callback=%7B").var("REQUEST_URI", "/x"),
            200,
        ),
    ];
    for (req, want) in cases {
        let what = format!(
            "{} {:?} {:?}",
            req.method,
            String::from_utf8_lossy(req.query)
                .chars()
                .take(60)
                .collect::<String>(),
            req.vars
        );
        let cgi = req.spawn(&clock());
        let out = if want == 200 {
            let mut cgi = cgi;
            cgi.read_until_count(b"\r\n\r\n", 1, T);
            cgi.out.clone()
        } else {
            let (status, out, stderr) = cgi.finish(T);
            assert!(status.success(), "{what}: {status}");
            assert!(!stderr.contains("panicked"), "{what}: {stderr}");
            assert!(
                stderr.contains(&want.to_string()),
                "{what}: no log line: {stderr:?}"
            );
            out
        };
        let (head, body) = split_head(&out);
        let status_line = head.lines().next().unwrap();
        assert!(status_line.contains(&format!(" {want} ")), "{what}: {head}");
        if want != 200 {
            assert!(head.contains("Content-Type: text/plain"), "{what}");
            assert!(!body.is_empty(), "{what}: a reason");
        }
        if want == 405 {
            assert!(head.contains("\r\nAllow: GET, HEAD"), "{head}");
        }
    }
}

/// `{`, `|` and `"` in REQUEST_URI: never read, never a problem.
#[test]
fn odd_request_uri_is_served() {
    for uri in [
        "/cgi-bin/nph-clock?{",
        "/cgi-bin/nph-clock|x",
        "/cgi-bin/\"nph-clock\"",
    ] {
        let (status, out, _) = CgiRequest::get("nph-clock", "transport=json")
            .var("REQUEST_URI", uri)
            .spawn(&clock())
            .finish(T);
        assert!(status.success());
        assert!(out.starts_with(b"HTTP/1.1 200 OK"), "{uri}");
    }
}

#[test]
fn http3_and_http2_are_answered_without_chunking() {
    for protocol in ["HTTP/3", "HTTP/2", "HTTP/2.0"] {
        let (status, out, _) = CgiRequest {
            protocol,
            ..CgiRequest::get("nph-clock", "transport=chunked&count=1")
        }
        .spawn(&clock())
        .finish(T);
        assert!(status.success());
        let (head, _) = split_head(&out);
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{protocol}: {head}");
        assert!(!head.contains("Transfer-Encoding"), "{protocol}");
    }
}

/// `compat=cgipm` writes the body Perl CGI.pm writes for the same parts, byte for byte,
/// compared with the real module (Debian's libcgi-pm-perl).
#[test]
fn cgipm_compat_matches_real_cgi_pm() {
    crate::util::require_tool("/usr/share/perl5/CGI.pm", "libcgi-pm-perl");
    let (status, ours, _) =
        CgiRequest::get("nph-clock", "compat=cgipm&count=2&interval=0.1&format=X")
            .spawn(&clock())
            .finish(T);
    assert!(status.success());
    let (head, body) = split_head(&ours);
    let boundary = head
        .split("boundary=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        boundary.starts_with("------- =_") && boundary.len() == 27,
        "{boundary}"
    );
    let script = format!(
        "use CGI qw/:push -nph/; $| = 1;\
         print multipart_init(-boundary => '{boundary}');\
         for (1..2) {{ print multipart_start(-type => 'text/plain'), \"X\\n\", multipart_end; }}\
         print multipart_final;"
    );
    let perl = std::process::Command::new("perl")
        .arg("-e")
        .arg(&script)
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .output()
        .unwrap();
    assert!(
        perl.status.success(),
        "{}",
        String::from_utf8_lossy(&perl.stderr)
    );
    let (perl_head, perl_body) = split_head(&perl.stdout);
    assert!(
        perl_head.contains(&format!(
            "Content-Type: multipart/x-mixed-replace;boundary=\"{boundary}\""
        )),
        "{perl_head}"
    );
    assert!(
        head.contains(&format!(
            "Content-Type: multipart/x-mixed-replace;boundary=\"{boundary}\""
        )),
        "{head}"
    );
    assert_eq!(
        body.escape_ascii().to_string(),
        perl_body.escape_ascii().to_string()
    );
}
