//! `serverpush presence` and `serverpush metrics` while streams run: under Apache, through the
//! CGI harness with an authenticated user, and after a stream is killed with SIGKILL.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::{serverpush, text};
use crate::client::request;
use crate::fixtures::{SERVERS, Site};
use crate::harness::CgiRequest;
use crate::longpoll::Spool;
use crate::util::{bin, require_tool, wait_for};

const T: Duration = Duration::from_secs(20);

fn presence(config: &std::path::Path, channel: Option<&str>) -> String {
    let config = config.display().to_string();
    let mut args = vec!["presence", "--config", &config];
    args.extend(channel);
    let out = serverpush(&args);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn metrics(config: &std::path::Path) -> String {
    let out = serverpush(&["metrics", "--config", &config.display().to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Streams through every server are counted per channel, per program and per server; the
/// figures pass promtool's check; an ended stream leaves at once.
#[test]
fn presence_and_metrics_count_the_streams_of_every_server() {
    require_tool("/usr/bin/promtool", "prometheus");
    let site = Site::new("spool_dir = \"@SPOOL@\"\nopen_channels = [\"room\"]\n");
    for (name, start) in SERVERS {
        let server = start(&site);
        let server_label = name.to_ascii_lowercase();
        let open = |target: &str| {
            let r = request(
                server.port,
                "GET",
                target,
                "HTTP/1.1",
                &["Accept: text/event-stream"],
            );
            // The stream's record is written before its head.
            assert_eq!(r.status(), 200, "{name} {target}: {}", r.head_text());
            r
        };
        let room: Vec<_> = (0..2).map(|_| open("/cgi-bin/nph-longpoll/room")).collect();
        let both = open("/cgi-bin/nph-longpoll?channel=lobby&channel=room");
        let clock = open("/cgi-bin/nph-clock?transport=sse");
        let listed = wait_for(T, &format!("{name}: 3 subscribers on room"), || {
            let listed = presence(&site.config, Some("room"));
            listed.contains("3 subscriber(s) on room").then_some(listed)
        });
        assert!(listed.contains(&server_label), "{listed}");
        let figures = metrics(&site.config);
        for line in [
            "serverpush_channel_subscribers{channel=\"room\"} 3".to_owned(),
            "serverpush_channel_subscribers{channel=\"lobby\"} 1".to_owned(),
            format!(
                "serverpush_streams{{program=\"nph-longpoll\",transport=\"sse\",server=\"{server_label}\"}} 3"
            ),
            format!(
                "serverpush_streams{{program=\"nph-clock\",transport=\"sse\",server=\"{server_label}\"}} 1"
            ),
            "serverpush_stream_slots_used 4".to_owned(),
            "serverpush_store_up 1".to_owned(),
        ] {
            assert!(figures.contains(&line), "{name}: no {line} in\n{figures}");
        }
        let mut check = Command::new("/usr/bin/promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        check
            .stdin
            .take()
            .unwrap()
            .write_all(figures.as_bytes())
            .unwrap();
        let checked = check.wait_with_output().unwrap();
        assert!(
            checked.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
        drop((room, both, clock));
        drop(server);
        wait_for(T, &format!("{name}: every stream gone"), || {
            presence(&site.config, None)
                .contains("0 stream(s) open")
                .then_some(())
        });
    }
}

/// A user the server authenticated is named; a stream killed with SIGKILL leaves the list the
/// moment it is gone.
#[test]
fn presence_names_the_user_and_forgets_a_killed_stream() {
    let spool = Spool::new("");
    let start = |user: &'static str| {
        let mut req: CgiRequest = spool.get("transport=sse");
        req = req
            .var("PATH_INFO", "/open")
            .var("REMOTE_USER", user)
            .var("HTTP_ACCEPT", "text/event-stream");
        let mut cgi = req.spawn(&bin("nph-longpoll"));
        cgi.read_until_count(b"retry:", 1, T);
        cgi
    };
    let alice = start("alice");
    let mut bob = start("bob");
    let listed = presence(&spool.config, Some("open"));
    assert!(
        listed.contains("alice") && listed.contains("bob") && listed.contains("2 subscriber(s)"),
        "{listed}"
    );
    bob.signal("KILL");
    bob.wait_exit(T);
    let listed = presence(&spool.config, Some("open"));
    assert!(
        listed.contains("alice") && !listed.contains("bob") && listed.contains("1 subscriber(s)"),
        "{listed}"
    );
    drop(alice);
}
