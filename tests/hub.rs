//! Hub mode (`hub = true`) behind real servers: under nginx (fcgiwrap) a channel stream's program
//! hands its connection to the user's hub and exits, and the hub serves every stream; under
//! Apache and lighttpd the mode is refused, with its reason in the error log, and each stream
//! keeps its process.
//!
//! Why: a handed stream's program exits while the server still holds its response. A server
//! that signals the program's pid afterwards may reach another process of the user that holds
//! that pid by then. [`servers_signal_no_ended_program`] watches every signal each server sends
//! (`strace` on its processes) while CGI programs hand their output to a process of their own
//! and exit, as hub mode's do, and shows which servers signal an ended program: Apache at the end
//! of every such request, lighttpd 1.4.69 when the lives of two programs overlap (it loses track
//! of the later one when the earlier is reaped), nginx and fcgiwrap never.

use std::path::Path;
use std::time::Duration;

use crate::client::{Response, request};
use crate::fixtures::{Server, Site};
use crate::served::{LONGPOLL_CONFIG, T, post};
use crate::util::{pids_of, wait_for};

/// The channel site with hub mode on, and a hub that leaves soon once idle.
fn hub_config() -> String {
    format!("{LONGPOLL_CONFIG}hub = true\nhub_idle_secs = 3\n")
}

/// The live processes of `exe` started as the hub, and the others.
fn hub_and_programs(exe: &Path) -> (Vec<u32>, Vec<u32>) {
    pids_of(exe).into_iter().partition(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.split(|b| *b == 0).next() == Some(b"serverpush-hub"))
    })
}

/// A stream of `chat` from `since` in `transport` (`sse` by `Accept`, the others by query),
/// read up to its start.
fn subscribe(server: &Server, transport: &str, since: u64) -> Response {
    let (query, headers, start): (String, &[&str], &[u8]) = match transport {
        "sse" => (
            format!("since={since}"),
            &["Accept: text/event-stream"],
            b"retry: ",
        ),
        "iframe" => (
            format!("since={since}&transport=iframe&callback=serverpush.receive"),
            &[],
            b"<!--",
        ),
        "mixed" => (format!("since={since}&transport=mixed"), &[], b"--"),
        _ => (format!("since={since}&transport=chunked"), &[], b" "),
    };
    let mut r = request(
        server.port,
        "GET",
        &format!("/cgi-bin/nph-longpoll/chat?{query}"),
        "HTTP/1.1",
        headers,
    );
    assert_eq!(r.status(), 200, "{}: {}", server.name, r.head_text());
    r.read_until_count(start, 1, T);
    r
}

/// Under `server`: streams in every transport handed to one hub, their programs gone; each
/// message reaches each stream; a client that leaves frees its slot; a hub killed ends every
/// stream and a client resumes from its last id through a new hub, missing nothing; the idle
/// hub leaves.
fn streams_go_to_one_hub(server: &Server, site: &Site) {
    let exe = site.program("nph-longpoll");
    assert_eq!(post(server, "chat", "first", "HTTP/1.1"), 1);
    let mut streams: Vec<(&str, Response)> = ["sse", "sse", "iframe", "mixed", "chunked"]
        .into_iter()
        .map(|t| (t, subscribe(server, t, 0)))
        .collect();
    for (transport, r) in &mut streams {
        r.read_until_count(b"first", 1, T);
        assert!(!r.body.is_empty(), "{transport}");
    }
    // One hub, and no program left: each handed its stream over and exited.
    let hub = wait_for(
        T,
        "one hub and no stream program",
        || match hub_and_programs(&exe) {
            (hub, programs) if hub.len() == 1 && programs.is_empty() => Some(hub[0]),
            _ => None,
        },
    );
    // The streams cap counts them: the hub holds their slots.
    let live = serverpush::slots::live(&site.dir.path().join("streams")).unwrap();
    assert_eq!(live.len(), streams.len(), "{live:?}");

    assert_eq!(post(server, "chat", "second", "HTTP/1.1"), 2);
    for (_, r) in &mut streams {
        r.read_until_count(b"second", 1, T);
    }
    // The SSE stream's ids are the cursors it resumes from, as in the default mode.
    let (_, sse) = &mut streams[0];
    let text = String::from_utf8_lossy(&sse.body).into_owned();
    assert!(text.contains("id: chat:2:"), "{text}");

    // A client that leaves: its stream ends at the hub's next write at the latest (its
    // heartbeat), and its slot is free.
    let (_, gone) = streams.pop().unwrap();
    gone.close();
    wait_for(
        Duration::from_secs(10),
        "the departed stream's slot free",
        || {
            (serverpush::slots::live(&site.dir.path().join("streams"))
                .unwrap()
                .len()
                == streams.len())
            .then_some(())
        },
    );

    // The hub killed: every stream ends; a client resumes from its last id, through a new hub,
    // with what was published meanwhile.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(hub as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    for (transport, r) in &mut streams {
        r.read_to_end(T);
        assert!(r.closed, "{transport}");
    }
    assert_eq!(post(server, "chat", "while away", "HTTP/1.1"), 3);
    let mut resumed = request(
        server.port,
        "GET",
        "/cgi-bin/nph-longpoll/chat",
        "HTTP/1.1",
        &[
            "Accept: text/event-stream",
            &format!("Last-Event-ID: {}", last_id(&text)),
        ],
    );
    resumed.read_until_count(b"while away", 1, T);
    let resumed_text = String::from_utf8_lossy(&resumed.body).into_owned();
    assert!(
        !resumed_text.contains("\"data\":\"second\""),
        "{resumed_text}"
    );
    let next = wait_for(T, "a new hub", || match hub_and_programs(&exe) {
        (hub, programs) if hub.len() == 1 && programs.is_empty() => Some(hub[0]),
        _ => None,
    });
    assert_ne!(next, hub);

    // Idle: once its last client has gone, the hub leaves.
    resumed.close();
    wait_for(Duration::from_secs(20), "the idle hub gone", || {
        pids_of(&exe).is_empty().then_some(())
    });
}

/// The last `id:` in an SSE body.
fn last_id(text: &str) -> String {
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix("id: "))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn streams_go_to_one_hub_under_nginx() {
    let site = Site::new(&hub_config());
    let server = Server::nginx(&site);
    streams_go_to_one_hub(&server, &site);
}

/// Under a server that may signal an ended program: no hub, each stream keeps its process, and
/// the error log says why.
fn refused(start: fn(&Site) -> Server, why: &str) {
    let site = Site::new(&hub_config());
    let server = start(&site);
    let exe = site.program("nph-longpoll");
    let mut r = subscribe(&server, "sse", 0);
    assert_eq!(post(&server, "chat", "one", "HTTP/1.1"), 1);
    r.read_until_count(b"one", 1, T);
    // The publish's own program may still be exiting: the stream's is the one that stays.
    let (hub, programs) = wait_for(T, "the stream's program alone", || {
        let (hub, programs) = hub_and_programs(&exe);
        (!hub.is_empty() || programs.len() == 1).then_some((hub, programs))
    });
    assert!(hub.is_empty(), "{}: a hub", server.name);
    assert_eq!(programs.len(), 1, "{}", server.name);
    wait_for(T, "the refusal's reason in the error log", || {
        let log = server.error_log();
        (log.contains("hub = true is not used here") && log.contains(why)).then_some(())
    });
}

#[test]
fn apache_keeps_a_process_per_stream() {
    refused(Server::apache, "Apache signals a program's recorded pid");
}

#[test]
fn lighttpd_keeps_a_process_per_stream() {
    refused(
        Server::lighttpd,
        "lighttpd 1.4.69 loses track of reaped CGI programs",
    );
}

/// A CGI program that hands its output to a background process of its own (which holds it for
/// `H` seconds) and exits after `E` seconds (query `H:E`), as hub mode's programs do; its body
/// starts with its pid.
const HANDING_PROGRAM: &str = "#!/bin/sh\n\
hold=${QUERY_STRING%%:*}\n\
leave=${QUERY_STRING##*:}\n\
printf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$$\"\n\
( sleep \"$hold\"; echo end ) &\n\
sleep \"$leave\"\n\
exit 0\n";

/// The pids of `root` and of every process below it.
fn tree(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit(") ")
            .next()
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut at = 0;
    while at < found.len() {
        let parent = found[at];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        at += 1;
    }
    found
}

/// The signals `server` sends to its CGI programs' pids after they exited, while two programs
/// whose lives overlap hand their output over and exit, and a third's client leaves early:
/// `(target, line)` for each.
fn signals_to_ended_programs(server: &Server, site: &Site) -> Vec<(u32, String)> {
    let probe = site.cgi_bin.join("handing-probe");
    std::fs::write(&probe, HANDING_PROGRAM).unwrap();
    std::fs::set_permissions(&probe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut pids: Vec<u32> = tree(server.pid());
    if let Some(helper) = server.helper_pid() {
        pids.extend(tree(helper));
    }
    let log = site.dir.path().join(format!("signals-{}.txt", server.name));
    let mut strace = std::process::Command::new("strace");
    strace.args([
        "-f",
        "-qq",
        "-e",
        "trace=kill,tkill,tgkill,pidfd_send_signal,exit_group",
    ]);
    strace.args(["-e", "signal=none", "-o"]).arg(&log);
    for pid in &pids {
        strace.arg("-p").arg(pid.to_string());
    }
    let mut tracer = strace
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("strace (scripts/install-deps.sh installs it)");
    wait_for(T, "strace attached to the server", || {
        pids.iter()
            .all(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
                    s.lines()
                        .any(|l| l.starts_with("TracerPid:") && l.trim_end() != "TracerPid:\t0")
                })
            })
            .then_some(())
    });
    // The first leaves while the second still runs: lighttpd 1.4.69 then loses the second.
    let mut first = request(
        server.port,
        "GET",
        "/cgi-bin/handing-probe?3:0.5",
        "HTTP/1.1",
        &[],
    );
    std::thread::sleep(Duration::from_millis(200));
    let mut second = request(
        server.port,
        "GET",
        "/cgi-bin/handing-probe?3:1.5",
        "HTTP/1.1",
        &[],
    );
    // A client that leaves while the handed output still runs.
    let mut left = request(
        server.port,
        "GET",
        "/cgi-bin/handing-probe?3:0.5",
        "HTTP/1.1",
        &[],
    );
    left.read_until_count(b"\n", 1, T);
    let mut programs = vec![pid_in(&left.body)];
    left.close();
    for r in [&mut first, &mut second] {
        assert_eq!(r.status(), 200, "{}: {}", server.name, r.head_text());
        r.read_to_end(Duration::from_secs(20));
        programs.push(pid_in(&r.body));
    }
    // What a server does at a response's end comes at once (Apache checks the pid again
    // within 3 s): then the trace is read.
    std::thread::sleep(Duration::from_secs(4));
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_raw(tracer.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    );
    let _ = tracer.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let mut ended = Vec::new();
    let mut signals = Vec::new();
    for line in text.lines() {
        let mut words = line.splitn(2, ' ');
        let (Some(who), Some(call)) = (words.next(), words.next()) else {
            continue;
        };
        // Its end: its own exit, or a signal that killed it (`+++ killed by SIGTERM +++`).
        if (call.starts_with("exit_group(") || call.starts_with("+++"))
            && let Ok(who) = who.parse::<u32>()
            && programs.contains(&who)
            && !ended.contains(&who)
        {
            ended.push(who);
        }
        for name in ["kill(", "tkill(", "tgkill("] {
            if let Some(args) = call.strip_prefix(name)
                && let Some(target) = args
                    .split(',')
                    .next()
                    .and_then(|t| t.trim().parse::<u32>().ok())
                && ended.contains(&target)
            {
                signals.push((target, line.to_owned()));
            }
        }
    }
    // The two that handed their output over ended by themselves; the one whose client left may
    // have been ended by the server while it ran (a signal to a live program, not counted).
    assert!(
        programs[1..].iter().all(|p| ended.contains(p)),
        "{}: the programs' ends not seen:\n{text}",
        server.name
    );
    eprintln!("{}: signals to ended programs: {signals:?}", server.name);
    signals
}

/// The pid a probe's body starts with.
fn pid_in(body: &[u8]) -> u32 {
    let text = String::from_utf8_lossy(body);
    text.lines()
        .next()
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap()
}

/// The reason hub mode is offered under nginx only, shown on each server.
#[test]
fn servers_signal_no_ended_program() {
    let site = Site::new("");
    let nginx = Server::nginx(&site);
    let signals = signals_to_ended_programs(&nginx, &site);
    assert!(
        signals.is_empty(),
        "nginx or fcgiwrap signalled an ended program: {signals:?}"
    );
    drop(nginx);
    let apache = Server::apache(&site);
    let signals = signals_to_ended_programs(&apache, &site);
    assert!(
        !signals.is_empty(),
        "Apache no longer signals an ended program: hub mode could be offered under it"
    );
    drop(apache);
    let lighttpd = Server::lighttpd(&site);
    let signals = signals_to_ended_programs(&lighttpd, &site);
    assert!(
        !signals.is_empty(),
        "this lighttpd no longer signals an ended program: hub mode could be offered under it"
    );
}
