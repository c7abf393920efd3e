//! `serverpush probe` against servers that stream and servers that buffer.

use super::{STRONG_TOKEN, chmod, no_control_characters, serverpush, text};
use crate::fixtures::{Server, Site};

/// `serverpush probe URL`: the output and whether it said live.
fn probe(url: &str) -> (bool, String) {
    let output = serverpush(&["probe", "--interval", "0.3", "--ticks", "5", url]);
    let report = text(&output);
    eprintln!("serverpush probe {url}: {report}");
    assert!(matches!(output.status.code(), Some(0 | 1)), "{report}");
    (output.status.success(), report)
}

#[test]
fn probe_reports_live_through_apache() {
    let site = Site::new("");
    let apache = Server::apache(&site);
    for program in ["nph-clock", "clock"] {
        let (live, report) = probe(&format!(
            "http://127.0.0.1:{}/cgi-bin/{program}",
            apache.port
        ));
        assert!(live && report.contains("  live:"), "{report}");
    }
}

/// Over HTTP/2 (HTTPS with ALPN, and h2c) the probe says which protocol it used and finds the
/// shipped configuration live; an `nph-` program reached over HTTP/2 without the rewrite is
/// reported as buffered.
#[test]
fn probe_reports_the_protocol_and_http2_buffering() {
    let site = Site::new("");
    let apache = Server::apache_tls(&site);
    let tls = apache.tls_port.unwrap();
    let run = |args: &[&str]| {
        let output = serverpush(&[&["probe", "--interval", "0.5", "--ticks", "4"], args].concat());
        (output.status.success(), text(&output))
    };
    let https = format!("https://127.0.0.1:{tls}/cgi-bin/nph-clock");
    let (live, report) = run(&["--insecure", &https]);
    assert!(live && report.contains("protocol: HTTP/2"), "{report}");
    let h2c = format!("http://127.0.0.1:{}/cgi-bin/nph-clock", apache.port);
    let (live, report) = run(&["--http2", &h2c]);
    assert!(live && report.contains("protocol: HTTP/2"), "{report}");
    let (live, report) = run(&[&h2c]);
    assert!(live && report.contains("protocol: HTTP/1.1"), "{report}");
    // Without the rewrite, HTTP/2 reaches the nph- program and Apache holds its output back.
    drop(apache);
    let site = Site::new("");
    let cgi_bin = site.cgi_bin.display().to_string();
    let plain = Server::apache_with(&site, |c| {
        format!("{c}\n<Directory \"{cgi_bin}\">\n    RewriteEngine Off\n</Directory>\n")
    });
    let h2c = format!("http://127.0.0.1:{}/cgi-bin/nph-clock", plain.port);
    let (live, report) = run(&["--http2", &h2c]);
    assert!(!live && report.contains("protocol: HTTP/2"), "{report}");
}

#[test]
fn probe_names_compression_through_apache_with_deflate() {
    let site = Site::new("");
    let cgi_bin = site.cgi_bin.display().to_string();
    let apache = Server::apache_with(&site, |conf| {
        // mod_deflate applied to the programs, as a site-wide compression setup would.
        format!(
            "{conf}\nLoadModule filter_module @MODULES@/mod_filter.so\n\
             LoadModule deflate_module @MODULES@/mod_deflate.so\n\
             <Directory \"{cgi_bin}\">\n    UnsetEnv no-gzip\n    SetOutputFilter DEFLATE\n</Directory>\n"
        )
        .replace("@MODULES@", "/usr/lib/apache2/modules")
    });
    // The plain name: Apache's filters apply to parsed-header output (and to every program
    // over HTTP/2); an nph- program's output bypasses them over HTTP/1.x.
    let (live, report) = probe(&format!("http://127.0.0.1:{}/cgi-bin/clock", apache.port));
    assert!(!live, "{report}");
    assert!(report.contains("likely culprit: compression"), "{report}");
    assert!(report.contains("no-gzip"), "{report}");
}

#[test]
fn probe_names_lighttpd_without_streaming() {
    let site = Site::new("");
    let server = Server::lighttpd_with(&site, |conf| {
        conf.replace("server.stream-response-body = 2", "")
    });
    let (live, report) = probe(&format!(
        "http://127.0.0.1:{}/cgi-bin/nph-clock",
        server.port
    ));
    assert!(!live, "{report}");
    assert!(report.contains("only when the stream ended"), "{report}");
    assert!(
        report.contains("server.stream-response-body = 2"),
        "{report}"
    );
}

/// nginx whose fcgiwrap holds the programs' output (no `NO_BUFFERING`): the probe sees the
/// stream arrive at its end and names fcgiwrap's setting; the shipped configuration is live
/// under both names.
#[test]
fn probe_names_fcgiwrap_buffering_behind_nginx() {
    let site = Site::new("");
    let nginx = Server::nginx(&site);
    for program in ["nph-clock", "clock"] {
        let (live, report) = probe(&format!(
            "http://127.0.0.1:{}/cgi-bin/{program}",
            nginx.port
        ));
        assert!(live && report.contains("  live:"), "{report}");
    }
    drop(nginx);
    let site = Site::new("");
    let buffering = Server::nginx_with(&site, 4, |_, conf| {
        conf.replace("fastcgi_param NO_BUFFERING 1;", "")
    });
    assert!(
        !buffering
            .config("serverpush-fastcgi.conf")
            .contains("NO_BUFFERING")
    );
    let (live, report) = probe(&format!(
        "http://127.0.0.1:{}/cgi-bin/nph-clock",
        buffering.port
    ));
    assert!(!live, "{report}");
    assert!(report.contains("only when the stream ended"), "{report}");
    assert!(
        report.contains("likely culprit: nginx") && report.contains("NO_BUFFERING 1"),
        "{report}"
    );
}

/// An NPH program that answers as a hostile server (or anything in front of one) might: control
/// characters in its head, in a stream and in a long-poll's body. NPH output passes through
/// Apache untouched, so they reach the client as written.
const HOSTILE_PROGRAM: &str = r#"#!/bin/sh
case "$REQUEST_METHOD:$PATH_INFO" in
POST:*)
    cat > /dev/null
    printf 'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"id":1}\n'
    ;;
GET:/*)
    printf 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n'
    printf '{"data":"\033]0;owned\007ok\rfaked line\033]52;c;b3duZWQ=\007\302\2331A"}\n'
    ;;
*)
    printf 'HTTP/1.1 200 OK\r\nServer: hostile\033]0;owned\007\r\n'
    printf 'Content-Type: text/plain\033[2J\r\nContent-Encoding: gzip\033]52;c;b3duZWQ=\007\r\n'
    printf 'Via: 1.1 proxy\033[1A\302\233K\177\r\nConnection: close\r\n\r\n'
    printf 'data: tick\033[2J\r\n\r\n'
    ;;
esac
"#;

/// `probe` shows what a server sent with its control characters escaped: the head, the
/// headers it quotes in a culprit, and a long-poll's body.
#[test]
fn probe_escapes_control_characters_from_the_server() {
    let site = Site::new("");
    let program = site.cgi_bin.join("nph-hostile");
    std::fs::write(&program, HOSTILE_PROGRAM).unwrap();
    chmod(&program, "0755");
    let apache = Server::apache(&site);
    let url = format!("http://127.0.0.1:{}/cgi-bin/nph-hostile", apache.port);
    let output = serverpush(&[
        "probe",
        "--interval",
        "0.3",
        "--ticks",
        "3",
        "--channel",
        "hostile",
        "--longpoll-url",
        &url,
        &url,
    ]);
    let report = text(&output);
    eprintln!("serverpush probe {url}: {report}");
    assert_eq!(output.status.code(), Some(1), "{report}");
    no_control_characters("serverpush probe", &output.stdout);
    let stdout = String::from_utf8_lossy(&output.stdout);
    for shown in [
        "head: Server: hostile\\x1b]0;owned\\x07\n",
        "Content-Type is \"text/plain\\x1b[2J\"",
        "Content-Encoding: gzip\\x1b]52;c;b3duZWQ=\\x07",
        "via: 1.1 proxy\\x1b[1A\\u{9b}K\\x7f",
        "failed: {\"data\":\"\\x1b]0;owned\\x07ok\\rfaked line",
    ] {
        assert!(stdout.contains(shown), "no {shown:?} in {report}");
    }
}

#[test]
fn probe_times_a_long_poll_round_trip() {
    let site = Site::new(&format!(
        "spool_dir = \"@SPOOL@\"\npublish_token = \"{STRONG_TOKEN}\"\n"
    ));
    let apache = Server::apache(&site);
    let url = format!("http://127.0.0.1:{}/cgi-bin/nph-clock", apache.port);
    let output = serverpush(&[
        "probe",
        "--interval",
        "0.3",
        "--ticks",
        "4",
        "--channel",
        "probe",
        "--token",
        STRONG_TOKEN,
        &url,
    ]);
    let report = text(&output);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("long-poll round trip on probe"), "{report}");
}
