//! Ring 2: `nph-longpoll` and `serverpush-publish` run as processes against a spool directory.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use serverpush::store::{ChannelStore, Retention, SpoolStore};

use crate::harness::{Cgi, CgiRequest, split_head};
use crate::util::{StoreExt, bin, ch, wait_for};

const T: Duration = Duration::from_secs(20);
pub const TOKEN: &str = "s3cret-token-for-tests";

/// A spool directory and a config naming it.
pub struct Spool {
    pub dir: tempfile::TempDir,
    pub spool: PathBuf,
    pub config: PathBuf,
}

impl Spool {
    pub fn new(extra: &str) -> Spool {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).unwrap();
        let config = dir.path().join("serverpush.toml");
        let retention = if extra.contains("retention_messages") {
            ""
        } else {
            "retention_messages = 20000\n"
        };
        let extra = &crate::fixtures::stream_cap_for_tests(extra, &dir.path().join("streams"));
        std::fs::write(
            &config,
            format!(
                "spool_dir = \"{}\"\npublish_token = \"{TOKEN}\"\nopen_channels = [\"open\"]\nmax_subscribe_channels = 8\niframe_callbacks = [\"chat.receive\"]\n{retention}{extra}\n",
                spool.display()
            ),
        )
        .unwrap();
        Spool { dir, spool, config }
    }

    pub fn store(&self) -> SpoolStore {
        SpoolStore::new(
            &self.spool,
            Retention {
                messages: 20000,
                max_age: Duration::from_secs(3600),
                idempotency: Duration::from_secs(60),
            },
        )
    }

    pub fn get<'a>(&'a self, query: &'a str) -> CgiRequest<'a> {
        let mut req = CgiRequest::get("nph-longpoll", query);
        req.config = Some(&self.config);
        req
    }

    pub fn post<'a>(&'a self, channel: &'a str, body: &'a [u8]) -> CgiRequest<'a> {
        let mut req = self.get("");
        req.method = "POST";
        req.body = body;
        req.var("PATH_INFO", format!("/{channel}"))
            .var("HTTP_AUTHORIZATION", format!("Bearer {TOKEN}"))
    }

    /// Runs a request to its end: status code, body.
    pub fn run(&self, req: CgiRequest) -> (u16, Vec<u8>) {
        let (status, out, stderr) = req.spawn(&bin("nph-longpoll")).finish(T);
        assert!(status.success(), "{status}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let (head, body) = split_head(&out);
        (
            head.split(' ').nth(1).unwrap().parse().unwrap(),
            body.to_vec(),
        )
    }

    /// The data of every message of a long-poll answer, in order.
    pub fn datas(v: &Value) -> Vec<&str> {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["data"].as_str().unwrap())
            .collect()
    }

    pub fn json(&self, req: CgiRequest) -> Value {
        let (code, body) = self.run(req);
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }

    /// Publishes with `serverpush-publish`.
    pub fn publisher(&self, channel: &str, message: &str, repeat: u64) -> Command {
        let mut cmd = Command::new(bin("serverpush-publish"));
        cmd.arg("--config")
            .arg(&self.config)
            .arg("--repeat")
            .arg(repeat.to_string())
            .arg(channel)
            .arg(message);
        cmd.stdout(std::process::Stdio::null());
        cmd
    }
}

/// A cursor without its epochs: `a:42:3f9c,b:7` is `a:42,b:7`.
pub fn bare(cursor: &Value) -> String {
    cursor
        .as_str()
        .unwrap()
        .split(',')
        .map(|p| p.splitn(3, ':').take(2).collect::<Vec<_>>().join(":"))
        .collect::<Vec<_>>()
        .join(",")
}

fn datas(v: &Value) -> Vec<String> {
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["data"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn eight_parallel_publishers_lose_nothing() {
    let spool = Spool::new("");
    let mut children: Vec<_> = (0..8)
        .map(|p| {
            spool
                .publisher("busy", &format!("p{p}-{{n}}"), 1000)
                .spawn()
                .unwrap()
        })
        .collect();
    for c in &mut children {
        assert!(c.wait().unwrap().success());
    }
    let batch = spool.store().read_after(&ch("busy"), 0, 100_000).unwrap();
    assert!(!batch.missed);
    assert_eq!(batch.last_id, 8000);
    let ids: Vec<u64> = batch.messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, (1..=8000).collect::<Vec<_>>());
    // Each publisher's messages are all there, intact, in its own order.
    for p in 0..8 {
        let prefix = format!("p{p}-");
        let ns: Vec<u64> = batch
            .messages
            .iter()
            .filter_map(|m| m.data.strip_prefix(&prefix))
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(ns, (1..=1000).collect::<Vec<_>>(), "publisher {p}");
    }
}

#[test]
fn publishers_killed_at_any_point_leave_a_consistent_channel() {
    let spool = Spool::new("");
    let mut store = spool.store();
    for round in 0..15u64 {
        let before = store.last_id("k");
        let mut child = spool
            .publisher("k", "message {n}", 1_000_000)
            .spawn()
            .unwrap();
        // Let it publish a few, then kill it wherever it is.
        wait_for(T, "the publisher to start", || {
            (store.last_id("k") > before + round % 5).then_some(())
        });
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let last = store.last_id("k");
    let batch = store.read_after(&ch("k"), 0, 1_000_000).unwrap();
    assert_eq!(
        batch.messages.len() as u64,
        last,
        "every id from 1 to the last is there and parses"
    );
    assert!(
        batch
            .messages
            .iter()
            .enumerate()
            .all(|(i, m)| m.id == i as u64 + 1)
    );
    assert!(
        batch
            .messages
            .iter()
            .all(|m| m.data.starts_with("message "))
    );
    assert_eq!(store.put("k", "after"), last + 1);
}

#[test]
fn publish_by_post_answers_201() {
    let spool = Spool::new("");
    let (code, body) = spool.run(spool.post("news", b"hello"));
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (v["channel"].as_str(), v["id"].as_u64()),
        (Some("news"), Some(1))
    );
    // A form post with data=.
    let req = spool
        .post("news", b"data=caf%C3%A9+%3Cb%3E")
        .var("CONTENT_TYPE", "application/x-www-form-urlencoded");
    assert_eq!(spool.run(req).0, 201);
    let v = spool.json(spool.get("channel=news&since=0"));
    assert_eq!(datas(&v), vec!["hello", "café <b>"]);
    assert_eq!(bare(&v["cursor"]), "news:2");
    let epoch = spool.store().head(&ch("news")).unwrap().1.unwrap();
    assert_eq!(v["cursor"], format!("news:2:{epoch}"));
    assert_eq!(v["messages"][1]["type"], "text/plain; charset=utf-8");
}

#[test]
fn publish_authorization() {
    let spool = Spool::new("");
    let mut store = spool.store();
    let post = |channel: &'static str, auth: Option<&str>, user: Option<&str>| {
        let mut req = spool.get("");
        req.method = "POST";
        req.body = b"x";
        req = req.var("PATH_INFO", format!("/{channel}"));
        if let Some(a) = auth {
            req = req.var("HTTP_AUTHORIZATION", a.to_owned());
        }
        if let Some(u) = user {
            req = req.var("REMOTE_USER", u.to_owned());
        }
        spool.run(req).0
    };
    assert_eq!(post("a", None, None), 401);
    assert_eq!(post("a", Some("Bearer wrong-token-wrong-token"), None), 403);
    assert_eq!(post("a", Some("Basic Zm9vOmJhcg=="), None), 401);
    assert_eq!(store.last_id("a"), 0, "nothing stored");
    assert_eq!(post("a", Some(&format!("Bearer {TOKEN}")), None), 201);
    // A user the server authenticated publishes only to the channels remote_user_channels
    // gives them (none here).
    assert_eq!(post("a", None, Some("alice")), 403);
    assert_eq!(post("open", None, None), 201);
    assert_eq!(store.last_id("a"), 1);
}

#[test]
fn a_poller_with_its_cursor_gets_1000_fast_messages_in_order_exactly_once() {
    let spool = Spool::new("");
    let v = spool.json(spool.get("channel=fast&timeout=0"));
    let mut cursor = v["cursor"].as_str().unwrap().to_owned();
    let mut publisher = spool.publisher("fast", "m{n}", 1000).spawn().unwrap();
    let mut got: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < 1000 {
        assert!(Instant::now() < deadline, "only {} of 1000", got.len());
        let query = format!("channel=fast&since={cursor}&timeout=5");
        let v = spool.json(spool.get(&query));
        assert_eq!(v["missed"], false);
        got.extend(datas(&v));
        cursor = v["cursor"].as_str().unwrap().to_owned();
    }
    assert!(publisher.wait().unwrap().success());
    assert_eq!(got, (1..=1000).map(|n| format!("m{n}")).collect::<Vec<_>>());
    assert_eq!(bare(&Value::from(cursor)), "fast:1000");
}

#[test]
fn a_long_poll_wakes_for_any_of_its_channels() {
    let spool = Spool::new("");
    let mut cgi: Cgi = spool
        .get("channel=a&channel=b&timeout=20")
        .spawn(&bin("nph-longpoll"));
    // Subscribers never create channels: the program watches the spool for them.
    wait_for(T, "the subscriber to watch", || {
        cgi.watching().then_some(())
    });
    let start = Instant::now();
    spool.store().put("b", "for b");
    cgi.read_until_count(b"for b", 1, T);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    let (_, body) = split_head(&cgi.out);
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(bare(&v["cursor"]), "a:0,b:1");
}

#[test]
fn the_timeout_answer_is_empty_with_the_same_cursor() {
    let spool = Spool::new("");
    spool.store().put("t", "old");
    let start = Instant::now();
    let v = spool.json(spool.get("channel=t&timeout=1"));
    assert!(start.elapsed() >= Duration::from_millis(900));
    assert_eq!(
        v["messages"].as_array().unwrap().len(),
        0,
        "no since: new messages only"
    );
    assert_eq!(
        (bare(&v["cursor"]).as_str(), v["missed"].as_bool()),
        ("t:1", Some(false))
    );
}

#[test]
fn missed_when_retention_dropped_the_position() {
    let spool = Spool::new("retention_messages = 5");
    let mut store = SpoolStore::new(
        &spool.spool,
        Retention {
            messages: 5,
            max_age: Duration::from_secs(3600),
            idempotency: Duration::from_secs(60),
        },
    );
    for n in 1..=20 {
        store.put("r", &format!("m{n}"));
    }
    let v = spool.json(spool.get("channel=r&since=r:2"));
    assert_eq!(v["missed"], true);
    assert_eq!(
        datas(&v),
        (16..=20).map(|n| format!("m{n}")).collect::<Vec<_>>()
    );
    let v = spool.json(spool.get("channel=r&since=16&timeout=0"));
    assert_eq!(v["missed"], false);
    assert_eq!(datas(&v).len(), 4);
}

/// The streamed transports deliver the same messages as long-poll, resumable from an event id.
#[test]
fn sse_iframe_and_chunked_streams() {
    let spool = Spool::new("heartbeat_secs = 1");
    let mut store = spool.store();
    for n in 1..=3 {
        store.put("s", &format!("m{n}"));
    }
    let mut sse = spool
        .get("channel=s&transport=sse&last_event_id=s:1")
        .spawn(&bin("nph-longpoll"));
    let mut iframe = spool
        .get("channel=s&transport=iframe&since=1&callback=chat.receive")
        .spawn(&bin("nph-longpoll"));
    let mut chunked = spool
        .get("channel=s&transport=chunked&since=1")
        .spawn(&bin("nph-longpoll"));
    store.put("s", "m4 </script>");
    sse.read_until_count(b"\ndata: ", 3, T);
    iframe.read_until_count(b"<script>window.parent.chat.receive(", 3, T);
    chunked.read_until_count(b"\"channel\":\"s\"", 3, T);
    for out in [&sse.out, &iframe.out, &chunked.out] {
        let text = String::from_utf8_lossy(out);
        for m in ["m2", "m3", "m4"] {
            assert!(text.contains(m), "{m} in {text}");
        }
        assert!(!text.contains("\"m1\""));
        assert!(
            !text.contains("</script><"),
            "a payload never closes the script"
        );
    }
    let text = String::from_utf8_lossy(&sse.out);
    let epoch = store.head(&ch("s")).unwrap().1.unwrap();
    assert!(
        text.contains(&format!("id: s:2:{epoch}\n"))
            && text.contains(&format!("id: s:4:{epoch}\n")),
        "{text}"
    );
    // Heartbeats keep the stream writing.
    sse.read_until_count(b": heartbeat", 1, Duration::from_secs(5));
    // Resuming from the second event's id gives exactly the messages after it.
    let mut resumed = spool
        .get("channel=s&transport=sse")
        .var("HTTP_LAST_EVENT_ID", "s:3")
        .spawn(&bin("nph-longpoll"));
    resumed.read_until_count(b"\ndata: ", 1, T);
    let text = String::from_utf8_lossy(&resumed.out);
    assert!(text.contains("m4") && !text.contains("\"m3\""), "{text}");
}

#[test]
fn three_rewrites_within_a_second_give_three_versions() {
    let spool = Spool::new("");
    let file = spool.dir.path().join("status.json");
    std::fs::write(&file, "v0").unwrap();
    let mut config = std::fs::read_to_string(&spool.config).unwrap();
    config.push_str(&format!("[files]\nstatus = \"{}\"\n", file.display()));
    std::fs::write(&spool.config, config).unwrap();

    let v = spool.json(spool.get("file=status"));
    let mut version = v["version"].as_str().unwrap().to_owned();
    assert_eq!(v["data"], "v0");
    let mut seen = vec![version.clone()];
    let start = Instant::now();
    for n in 1..=3 {
        // The same size each time, within one second: only a nanosecond mtime tells them apart.
        std::fs::write(&file, format!("v{n}")).unwrap();
        let query = format!("file=status&since={version}&timeout=5");
        let v = spool.json(spool.get(&query));
        assert_eq!(v["changed"], true);
        assert_eq!(v["data"], format!("v{n}"));
        version = v["version"].as_str().unwrap().to_owned();
        assert!(!seen.contains(&version), "a new version each time");
        seen.push(version.clone());
    }
    assert!(start.elapsed() < Duration::from_secs(3));
    let query = format!("file=status&since={version}&timeout=1");
    assert_eq!(spool.json(spool.get(&query))["changed"], false);
}

#[test]
fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let spool = Spool::new("max_message_bytes = 100");
    let mut store = spool.store();
    store.put("kept", "one");
    let long = format!("channel={}", "a".repeat(65));
    let fifty: String = (0..50).map(|i| format!("channel=c{i}&")).collect();
    let cases: Vec<(CgiRequest, u16)> = vec![
        (spool.get("channel=a/b"), 400),
        (spool.get("channel=.."), 400),
        (spool.get("channel=a%2Fb"), 400),
        (spool.get("channel=a%00"), 400),
        (spool.get(&long), 400),
        (spool.get("").var("PATH_INFO", "/../kept"), 400),
        (spool.get("channel=kept&since=-1"), 400),
        (spool.get("channel=kept&since=abc"), 400),
        (spool.get("channel=kept&since=99999999999999999999999"), 400),
        (spool.get("channel=kept&since=other:3"), 400),
        (spool.get(&fifty), 400),
        (spool.get("channel=kept&data=hi"), 405),
        (spool.get("channel=kept&timeout=99999"), 400),
        (spool.get("channel=kept&transport=pigeon"), 400),
        (spool.get("file=nope"), 404),
        (spool.get(""), 400),
        (spool.post("kept", &[b'x'; 101]), 413),
        (
            spool.post("kept", b"short").var("CONTENT_LENGTH", "50"),
            400,
        ),
        (spool.post("kept", b"\xff\xfe"), 415),
        (
            spool
                .post("kept", b"x")
                .var("HTTP_AUTHORIZATION", "Bearer nope-nope-nope-nope"),
            403,
        ),
    ];
    for (req, want) in cases {
        let what = format!(
            "{} {:?} {:?}",
            req.method,
            String::from_utf8_lossy(req.query)
                .chars()
                .take(50)
                .collect::<String>(),
            req.vars
        );
        let (code, body) = spool.run(req);
        assert_eq!(code, want, "{what}: {}", String::from_utf8_lossy(&body));
        assert!(!body.is_empty(), "{what}: a reason");
    }
    assert_eq!(store.last_id("kept"), 1, "the stored channel is unchanged");
    let entries: Vec<_> = std::fs::read_dir(&spool.spool)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        entries,
        vec![std::ffi::OsString::from("kept")],
        "no channel was created"
    );
}

/// A message file that cannot be read is told as missed once, and the cursor moves past it: a
/// client never gets the same notice again and again.
#[test]
fn an_unreadable_newest_message_does_not_make_clients_spin() {
    let spool = Spool::new("");
    let mut store = spool.store();
    store.put("bad", "one");
    std::fs::write(
        spool.spool.join("bad").join(format!("{:020}.msg", 2)),
        b"garbage",
    )
    .unwrap();
    let (_, out, stderr) = spool
        .get("channel=bad&since=1&timeout=2")
        .spawn(&bin("nph-longpoll"))
        .finish(T);
    assert!(
        stderr.contains("channel bad message 2 cannot be read"),
        "logged: {stderr}"
    );
    let v: Value = serde_json::from_slice(split_head(&out).1).unwrap();
    assert_eq!(v["missed"], true);
    assert_eq!(bare(&v["cursor"]), "bad:2");
    let cursor = v["cursor"].as_str().unwrap().to_owned();
    let start = Instant::now();
    let query = format!("channel=bad&since={cursor}&timeout=1");
    let v = spool.json(spool.get(&query));
    assert_eq!(v["missed"], false, "told once");
    assert!(start.elapsed() >= Duration::from_millis(900), "it waited");
}

/// `ready=1` opens an SSE stream with an event a page can see, naming the start cursor; without
/// it the stream starts as before.
#[test]
fn sse_ready_event_names_the_start() {
    let spool = Spool::new("");
    spool.store().put("r", "old");
    let mut ready = spool
        .get("channel=r&transport=sse&ready=1")
        .spawn(&bin("nph-longpoll"));
    ready.read_until_count(b"\n\n", 2, T);
    let (_, body) = split_head(&ready.out);
    let epoch = spool.store().head(&ch("r")).unwrap().1.unwrap();
    assert_eq!(
        String::from_utf8_lossy(body),
        format!("retry: 2000\n\nevent: ready\ndata: {{\"cursor\":\"r:1:{epoch}\"}}\n\n")
    );
    let mut plain = spool
        .get("channel=r&transport=sse")
        .spawn(&bin("nph-longpoll"));
    plain.read_until_count(b"\n\n", 1, T);
    spool.store().put("r", "new");
    plain.read_until_count(b"\ndata: ", 1, T);
    let (_, body) = split_head(&plain.out);
    assert!(!String::from_utf8_lossy(body).contains("ready"));
}

/// A long-poll sleeps on a doorbell of its own, not on inotify: closing an inotify instance at
/// exit waits for a kernel grace period, and Apache closes a CGI response's connection only once
/// the program is gone. It removes its doorbell when it has answered. Streams watch with inotify.
#[test]
fn long_polls_wait_on_doorbells_and_streams_on_inotify() {
    let spool = Spool::new("");
    let mut last = spool.store().put("rung", "before");
    let room = spool.spool.join("rung/.waiting");
    for query in [
        "channel=rung&since={last}&timeout=20",
        "channel=rung&channel=unmade&cursor=rung:{last},unmade:0&timeout=20",
        "channel=rung&channel=unmade&transport=sse",
    ] {
        let query = query.replace("{last}", &last.to_string());
        let mut cgi = spool.get(&query).spawn(&bin("nph-longpoll"));
        let stream = query.contains("sse");
        let expected = if stream {
            (0, 1)
        } else if query.contains("unmade") {
            // A channel not made yet is awaited in the spool's room for new channels.
            (2, 0)
        } else {
            (1, 0)
        };
        let what = format!("{query} to wait on {expected:?} doorbells and inotify instances");
        wait_for(T, &what, || {
            let fds = cgi.descriptors();
            let doorbells = fds.iter().filter(|l| l.contains("waiting/")).count();
            let inotify = fds.iter().filter(|l| l.contains("inotify")).count();
            ((doorbells, inotify) == expected).then_some(())
        });
        last = spool.store().put("rung", "after");
        cgi.read_until_count(b"after", 1, T);
        if stream {
            cgi.signal("TERM");
        }
        cgi.wait_exit(T);
        assert_eq!(
            std::fs::read_dir(&room).unwrap().count(),
            0,
            "{query}: removed"
        );
    }
}

/// Something other than a directory in a waiting room's place (planted, or left by a tool) is
/// never used: the long-poll watches with inotify instead, and still wakes for the next message.
#[test]
fn a_file_in_a_waiting_rooms_place_falls_back_to_inotify() {
    let spool = Spool::new("");
    let last = spool.store().put("plain", "before");
    let room = spool.spool.join("plain/.waiting");
    std::fs::remove_dir(&room).unwrap();
    std::fs::write(&room, b"not a room").unwrap();
    let mut cgi = spool
        .get(&format!("channel=plain&since={last}&timeout=20"))
        .spawn(&bin("nph-longpoll"));
    wait_for(T, "the subscriber to watch", || {
        cgi.descriptors()
            .iter()
            .any(|l| l.contains("inotify"))
            .then_some(())
    });
    spool.store().put("plain", "after");
    cgi.read_until_count(b"after", 1, T);
    let (_, out, _) = cgi.finish(T);
    let (_, body) = split_head(&out);
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["messages"][0]["data"], "after");
    assert_eq!(
        std::fs::read(&room).unwrap(),
        b"not a room",
        "left as it was"
    );
}

/// A watched file through every server: a long-poll parked on its version answers with the
/// rewritten file as soon as it changes.
#[test]
fn a_watched_file_through_every_server() {
    for (name, start) in crate::fixtures::SERVERS {
        let site = crate::fixtures::Site::new("[files]\nstatus = \"@CAMS@/status.json\"\n");
        let file = site.cams.join("status.json");
        std::fs::write(&file, "v0").unwrap();
        let server = start(&site);
        let get = |query: &str| -> Value {
            let mut r = crate::client::request(
                server.port,
                "GET",
                &format!("/cgi-bin/nph-longpoll?{query}"),
                "HTTP/1.0",
                &[],
            );
            assert_eq!(r.status(), 200, "{name}: {}", r.head_text());
            r.read_complete(T);
            serde_json::from_slice(&r.body)
                .unwrap_or_else(|e| panic!("{name}: {e}: {:?}", String::from_utf8_lossy(&r.body)))
        };
        let v = get("file=status");
        assert_eq!(v["data"], "v0", "{name}");
        let version = v["version"].as_str().unwrap().to_owned();
        let mut parked = crate::client::send(
            server.port,
            "GET",
            &format!("/cgi-bin/nph-longpoll?file=status&since={version}&timeout=20"),
            "HTTP/1.0",
            &[],
        );
        // The program is waiting before the file changes.
        let program = site.program("nph-longpoll");
        wait_for(T, "the parked long-poll's program", || {
            (!crate::util::pids_of(&program).is_empty()).then_some(())
        });
        let written = Instant::now();
        std::fs::write(&file, "v1").unwrap();
        parked.wait_head();
        parked.read_complete(T);
        let v: Value = serde_json::from_slice(&parked.body).unwrap();
        assert_eq!(
            (v["changed"].clone(), v["data"].clone()),
            (Value::Bool(true), "v1".into()),
            "{name}"
        );
        assert!(
            written.elapsed() < Duration::from_secs(5),
            "{name}: {:?}",
            written.elapsed()
        );
    }
}
