//! The programs over the Redis store: through the CGI harness, through two Apache hosts that
//! share one Redis, and through Redis's failures (stopped, restarted from its append-only file,
//! flushed), each reproduced for real on a private Redis server.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::{SseEvent, request};
use crate::fixtures::{Redis, Server, Site};
use crate::harness::split_head;
use crate::longpoll::{Spool, TOKEN, bare};
use crate::served::post;
use crate::util::bin;

const T: Duration = Duration::from_secs(30);

fn redis_config(redis: &Redis, extra: &str) -> String {
    format!(
        "store = \"redis\"\nredis_url = \"{}\"\nredis_command_timeout_ms = 1000\nheartbeat_secs = 1\n{extra}",
        redis.url()
    )
}

fn messages(v: &Value) -> Vec<(String, u64, String)> {
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["channel"].as_str().unwrap().to_owned(),
                m["id"].as_u64().unwrap(),
                m["data"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Publish, multi-channel long-poll and SSE, retention and `serverpush-publish`, over Redis.
#[test]
fn the_programs_work_over_redis() {
    let redis = Redis::start();
    let spool = Spool::new(&redis_config(&redis, "retention_messages = 3\n"));
    // Publish by POST; the answer is the id.
    let (code, body) = spool.run(spool.post("a", b"first"));
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["id"], 1);
    // A retried publish with the same Idempotency-Key gets the first id and stores nothing.
    for _ in 0..2 {
        let req = spool
            .post("idem", b"once")
            .var("HTTP_IDEMPOTENCY_KEY", "order-7:try");
        let (code, body) = spool.run(req);
        assert_eq!(code, 201);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["id"], 1);
    }
    let v = spool.json(spool.get("channel=idem&since=0"));
    assert_eq!(messages(&v).len(), 1);
    let bad_key = spool.post("idem", b"x").var("HTTP_IDEMPOTENCY_KEY", "a b");
    assert_eq!(spool.run(bad_key).0, 400);
    // serverpush-publish writes to the same store.
    let out = spool.publisher("b", "b{n}", 2).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    // A multi-channel long-poll from the start of both.
    let v = spool.json(spool.get("channel=a&channel=b&since=a:0,b:0"));
    assert_eq!(
        messages(&v),
        vec![
            ("a".into(), 1, "first".into()),
            ("b".into(), 1, "b1".into()),
            ("b".into(), 2, "b2".into())
        ]
    );
    assert_eq!(bare(&v["cursor"]), "a:1,b:2");
    let cursor = v["cursor"].as_str().unwrap().to_owned();
    // A parked long-poll wakes for either channel.
    let query = format!("channel=a&channel=b&since={cursor}");
    let waiting = spool.get(&query).spawn(&bin("nph-longpoll"));
    let started = Instant::now();
    assert_eq!(spool.run(spool.post("b", b"news")).0, 201);
    let (_, out, stderr) = waiting.finish(T);
    let (_, body) = split_head(&out);
    let v: Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(messages(&v), vec![("b".into(), 3, "news".into())]);
    assert!(started.elapsed() < Duration::from_secs(5));
    // SSE over both channels; its ids are cursors with epochs.
    let mut sse = spool
        .get("channel=a&channel=b&transport=sse&since=a:0,b:0")
        .spawn(&bin("nph-longpoll"));
    sse.read_until_count(b"\ndata: ", 4, T);
    let text = String::from_utf8_lossy(&sse.out).into_owned();
    assert!(text.contains("\"data\":\"news\""), "{text}");
    assert!(
        text.contains("id: a:1:") && text.contains(",b:3:"),
        "{text}"
    );
    // Retention by count: 3 kept, a client from 0 is told it missed some.
    for n in 0..5 {
        assert_eq!(
            spool.run(spool.post("r", format!("r{n}").as_bytes())).0,
            201
        );
    }
    let v = spool.json(spool.get("channel=r&since=0"));
    assert_eq!(v["missed"], true);
    assert_eq!(
        messages(&v).iter().map(|m| m.1).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
}

/// Redis down: a publish is 503 with `Retry-After` and a line in the log; so is a subscribe.
/// Nothing is stored half: after Redis is back, the ids continue.
#[test]
fn redis_down_is_503_and_logged() {
    let mut redis = Redis::start();
    let spool = Spool::new(&redis_config(&redis, ""));
    assert_eq!(spool.run(spool.post("d", b"one")).0, 201);
    redis.kill();
    for req in [spool.post("d", b"two"), spool.get("channel=d&since=0")] {
        let (status, out, stderr) = req.spawn(&bin("nph-longpoll")).finish(T);
        assert!(status.success(), "{stderr}");
        let (head, body) = split_head(&out);
        assert!(head.starts_with("HTTP/1.1 503"), "{head}");
        assert!(head.contains("Retry-After: 2"), "{head}");
        assert!(
            String::from_utf8_lossy(body).contains("unavailable"),
            "{head}"
        );
        assert!(
            stderr.contains("unavailable") && stderr.contains("Redis"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"));
    }
    redis.restart();
    let (code, body) = spool.run(spool.post("d", b"three"));
    assert_eq!(code, 201);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["id"], 2);
}

/// Redis lost while subscribers wait: a long-poll answers 503 and an SSE stream ends, both at
/// once; no process stays behind spinning.
#[test]
fn subscribers_end_cleanly_when_redis_goes() {
    let mut redis = Redis::start();
    let spool = Spool::new(&redis_config(&redis, ""));
    assert_eq!(spool.run(spool.post("g", b"one")).0, 201);
    let poll = spool.get("channel=g&since=1").spawn(&bin("nph-longpoll"));
    let mut sse = spool
        .get("channel=g&transport=sse&since=1")
        .spawn(&bin("nph-longpoll"));
    sse.read_until_count(b"retry:", 1, T);
    redis.kill();
    let started = Instant::now();
    let (_, out, stderr) = poll.finish(T);
    let (head, _) = split_head(&out);
    assert!(head.starts_with("HTTP/1.1 503"), "{head}\n{stderr}");
    sse.wait_exit(Duration::from_secs(10));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// Redis killed and restarted from its append-only file (`appendfsync always`): every
/// acknowledged message is there, ids continue, nothing repeats.
#[test]
fn a_restart_from_the_append_only_file_loses_nothing() {
    let mut redis = Redis::start();
    let spool = Spool::new(&redis_config(&redis, ""));
    let out = spool.publisher("aof", "m{n}", 200).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let before = spool.json(spool.get("channel=aof&since=0"));
    redis.restart();
    assert_eq!(spool.run(spool.post("aof", b"after")).0, 201);
    let v = spool.json(spool.get("channel=aof&since=0"));
    let got = messages(&v);
    assert_eq!(got.len(), 201);
    assert_eq!(
        got.iter().map(|m| m.1).collect::<Vec<_>>(),
        (1..=201).collect::<Vec<_>>()
    );
    assert_eq!(got[199].2, "m200");
    assert_eq!(got[200].2, "after");
    assert_eq!(v["missed"], false);
    // The epoch survived: the old cursor is still good.
    let old = before["cursor"].as_str().unwrap();
    let query = format!("channel=aof&since={old}");
    let v = spool.json(spool.get(&query));
    assert_eq!(messages(&v).len(), 1);
    assert_eq!(v["missed"], false);
}

/// Redis flushed: the channel starts again in a new epoch, and a client with an old cursor is
/// told it missed messages, by long-poll and by a stream that was open across the flush.
#[test]
fn a_flushed_redis_tells_clients_they_missed() {
    let redis = Redis::start();
    let spool = Spool::new(&redis_config(&redis, ""));
    for n in 1..=5 {
        assert_eq!(
            spool.run(spool.post("f", format!("old{n}").as_bytes())).0,
            201
        );
    }
    let v = spool.json(spool.get("channel=f&since=0"));
    let old_cursor = v["cursor"].as_str().unwrap().to_owned();
    let query = format!("channel=f&transport=sse&since={old_cursor}");
    let mut sse = spool.get(&query).spawn(&bin("nph-longpoll"));
    sse.read_until_count(b"retry:", 1, T);
    let () = redis::cmd("FLUSHALL")
        .query(&mut redis.connection())
        .unwrap();
    // Fewer messages than the client had: ids alone could not tell.
    assert_eq!(spool.run(spool.post("f", b"new1")).0, 201);
    assert_eq!(spool.run(spool.post("f", b"new2")).0, 201);
    let query = format!("channel=f&since={old_cursor}");
    let v = spool.json(spool.get(&query));
    assert_eq!(v["missed"], true);
    assert_eq!(
        messages(&v),
        vec![
            ("f".into(), 1, "new1".into()),
            ("f".into(), 2, "new2".into())
        ]
    );
    assert_ne!(v["cursor"].as_str().unwrap(), old_cursor);
    assert_eq!(bare(&v["cursor"]), "f:2");
    // The stream notices at its next look (a heartbeat at the latest).
    sse.read_until_count(b"\"data\":\"new2\"", 1, T);
    let text = String::from_utf8_lossy(&sse.out).into_owned();
    assert!(text.contains("event: missed"), "{text}");
    assert!(!text.contains("old"), "{text}");
}

/// A channel deleted from Redis by an operator and made again by the next publish wakes an
/// open stream at once, not at its next heartbeat (the new ids, from 1, are below the one the
/// stream waits after).
#[test]
fn a_stream_hears_a_deleted_channel_made_again() {
    let redis = Redis::start();
    let config = redis_config(&redis, "").replace("heartbeat_secs = 1\n", "heartbeat_secs = 60\n");
    let spool = Spool::new(&config);
    for n in 1..=5 {
        let text = format!("old{n}");
        assert_eq!(spool.run(spool.post("d", text.as_bytes())).0, 201);
    }
    let mut sse = spool
        .get("channel=d&transport=sse&since=d:0")
        .spawn(&bin("nph-longpoll"));
    sse.read_until_count(b"\"data\":\"old5\"", 1, T);
    // What an operator clearing the channel does: every key of it.
    let mut con = redis.connection();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*{d}*").query(&mut con).unwrap();
    let () = redis::cmd("DEL").arg(&keys).query(&mut con).unwrap();
    let started = Instant::now();
    assert_eq!(spool.run(spool.post("d", b"new1")).0, 201);
    sse.read_until_count(b"\"data\":\"new1\"", 1, Duration::from_secs(5));
    assert_eq!(spool.run(spool.post("d", b"new2")).0, 201);
    sse.read_until_count(b"\"data\":\"new2\"", 1, Duration::from_secs(5));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(String::from_utf8_lossy(&sse.out).contains("event: missed"));
    sse.signal("KILL");
}

/// Reads SSE events from `sse` until `want` messages were collected, appending (id, data).
fn collect_sse(sse: &mut crate::client::Response, got: &mut Vec<(String, String)>, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while got.len() < want {
        assert!(
            Instant::now() < deadline && !sse.closed,
            "SSE: {} of {want} messages",
            got.len()
        );
        for SseEvent { id, name, data } in sse.sse_events(Duration::from_millis(500)) {
            assert_ne!(name.as_deref(), Some("missed"), "nothing may be missed");
            if let Some(id) = id {
                let v: Value = serde_json::from_str(&data).unwrap();
                got.push((id, v["data"].as_str().unwrap().to_owned()));
            }
        }
    }
}

/// Long-polls `port` from the channel's start until `want` messages came; returns their data.
fn long_poll_all(port: u16, want: usize) -> Vec<String> {
    let mut got = Vec::new();
    let mut cursor = "spread:0".to_owned();
    let deadline = Instant::now() + Duration::from_secs(180);
    while got.len() < want {
        assert!(
            Instant::now() < deadline,
            "long-poll: {} of {want}",
            got.len()
        );
        let mut r = request(
            port,
            "GET",
            &format!("/cgi-bin/nph-longpoll/spread?since={cursor}&timeout=5"),
            "HTTP/1.1",
            &["Connection: close"],
        );
        r.read_complete(T);
        assert_eq!(r.status(), 200, "{}", r.head_text());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["missed"], false);
        got.extend(messages(&v).into_iter().map(|m| m.2));
        cursor = v["cursor"].as_str().unwrap().to_owned();
    }
    got
}

/// Two Apache hosts with their own programs, configs and spools share one Redis. Four
/// publishers split across both send 10,000 messages; a long-poll subscriber on each host and
/// an SSE subscriber on host B get all of them, in order, once. An SSE stream on host A is cut
/// and resumed with `Last-Event-ID` on host B: nothing lost or repeated.
#[test]
fn two_hosts_share_channels_through_redis() {
    const TOTAL: usize = 10_000;
    let redis = Redis::start();
    let config = format!(
        "{}spool_dir = \"@SPOOL@\"\nopen_channels = [\"spread\"]\npublish_token = \"{TOKEN}\"\nretention_messages = 20000\n",
        redis_config(&redis, "")
    );
    let (site_a, site_b) = (Site::new(&config), Site::new(&config));
    let (host_a, host_b) = (Server::apache(&site_a), Server::apache(&site_b));
    let mut sse_b = request(
        host_b.port,
        "GET",
        "/cgi-bin/nph-longpoll/spread?since=0",
        "HTTP/1.1",
        &["Accept: text/event-stream"],
    );
    let mut sse_a = request(
        host_a.port,
        "GET",
        "/cgi-bin/nph-longpoll/spread?since=0",
        "HTTP/1.1",
        &["Accept: text/event-stream"],
    );
    let (expected, (polled_a, polled_b), (resumed, streamed_b)) = std::thread::scope(|scope| {
        let pollers = (
            scope.spawn(|| long_poll_all(host_a.port, TOTAL)),
            scope.spawn(|| long_poll_all(host_b.port, TOTAL)),
        );
        let streamed_b = scope.spawn(|| {
            let mut streamed = Vec::new();
            collect_sse(&mut sse_b, &mut streamed, TOTAL);
            streamed
        });
        let resumed = scope.spawn(|| {
            // Host A's stream is cut after part of the messages and resumed on host B.
            let mut resumed = Vec::new();
            collect_sse(&mut sse_a, &mut resumed, 3_000);
            let last = resumed.last().unwrap().0.clone();
            drop(sse_a);
            let mut again = request(
                host_b.port,
                "GET",
                "/cgi-bin/nph-longpoll/spread",
                "HTTP/1.1",
                &[
                    "Accept: text/event-stream",
                    &format!("Last-Event-ID: {last}"),
                ],
            );
            collect_sse(&mut again, &mut resumed, TOTAL);
            resumed
        });
        let publishers: Vec<_> = (0..4)
            .map(|p| {
                let host = if p % 2 == 0 { &host_a } else { &host_b };
                scope.spawn(move || {
                    for n in 0..TOTAL / 4 {
                        post(host, "spread", &format!("p{p}-{n}"), "HTTP/1.1");
                    }
                })
            })
            .collect();
        for p in publishers {
            p.join().unwrap();
        }
        let polled = (pollers.0.join().unwrap(), pollers.1.join().unwrap());
        let streamed = (resumed.join().unwrap(), streamed_b.join().unwrap());
        (polled.0.clone(), polled, streamed)
    });
    // Each publisher's messages appear in its own order, every one once.
    for p in 0..4 {
        let prefix = format!("p{p}-");
        let ns: Vec<usize> = expected
            .iter()
            .filter_map(|d| d.strip_prefix(&prefix))
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(ns, (0..TOTAL / 4).collect::<Vec<_>>(), "publisher {p}");
    }
    assert_eq!(polled_a.len(), TOTAL);
    assert_eq!(polled_b, polled_a, "both hosts see one order");
    let data = |events: &[(String, String)]| events.iter().map(|e| e.1.clone()).collect::<Vec<_>>();
    assert_eq!(data(&streamed_b), polled_a);
    assert_eq!(data(&resumed), polled_a, "cut on A, resumed on B");
}
