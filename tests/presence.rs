//! Presence and metrics over HTTP: a channel's presence (`?presence`) for those who may
//! subscribe to it, and the host's metrics (`?metrics`) scraped by a real Prometheus (Debian's
//! `prometheus`, started here on a private port with its own config and storage).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

use crate::client::request;
use crate::fixtures::{Server, Site};
use crate::harness::CgiRequest;
use crate::longpoll::Spool;
use crate::util::{bin, free_port, require_tool, wait_for};

const T: Duration = Duration::from_secs(30);
const SECRET: &str = "a-test-secret-of-more-than-32-bytes!";
const METRICS_TOKEN: &str = "a-metrics-token-for-the-scraper";

fn token(sub: &str, subscribe: &[&str]) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    jsonwebtoken::encode(
        &Header::default(),
        &json!({ "exp": exp, "sub": sub, "serverpush": { "subscribe": subscribe } }),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn site() -> Site {
    Site::new(&format!(
        "spool_dir = \"@SPOOL@\"\njwt_secret = \"{SECRET}\"\nprivate_channels = [\"secret\"]\n\
         metrics_token = \"{METRICS_TOKEN}\"\nheartbeat_secs = 2\n"
    ))
}

/// An SSE subscriber to `channel` holding `token`.
fn follow(server: &Server, channel: &str, token: &str) -> crate::client::Response {
    let auth = format!("Authorization: Bearer {token}");
    let r = request(
        server.port,
        "GET",
        &format!("/cgi-bin/nph-longpoll/{channel}"),
        "HTTP/1.1",
        &["Accept: text/event-stream", &auth],
    );
    assert_eq!(r.status(), 200, "{}", r.head_text());
    r
}

fn get(server: &Server, target: &str, extra: &[&str]) -> crate::client::Response {
    let mut lines = vec!["Connection: close"];
    lines.extend_from_slice(extra);
    let mut r = request(server.port, "GET", target, "HTTP/1.1", &lines);
    r.read_to_end(T);
    r
}

/// A private channel's presence: its count and the subscribers' token subjects, for a holder
/// of the right to subscribe; refused to anyone else, as a subscription would be.
#[test]
fn a_channels_presence_is_for_those_who_may_follow_it() {
    let site = site();
    let apache = Server::apache(&site);
    let alice = token("alice", &["secret"]);
    let bob = token("bob", &["secret"]);
    let _a = follow(&apache, "secret", &alice);
    let _b = follow(&apache, "secret", &bob);
    let asked = get(
        &apache,
        "/cgi-bin/nph-longpoll/secret?presence",
        &[&format!("Authorization: Bearer {alice}")],
    );
    assert_eq!(asked.status(), 200, "{}", asked.head_text());
    let v: Value = serde_json::from_slice(&asked.body).unwrap();
    assert_eq!(v["count"], 2, "{v}");
    let mut names: Vec<&str> = v["subscribers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subscriber"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["alice", "bob"]);
    let stranger = get(&apache, "/cgi-bin/nph-longpoll/secret?presence", &[]);
    assert!(
        matches!(stranger.status(), 401 | 403),
        "{}",
        stranger.head_text()
    );
    assert!(!String::from_utf8_lossy(&stranger.body).contains("alice"));
    let other = token("carol", &["other"]);
    let wrong = get(
        &apache,
        "/cgi-bin/nph-longpoll/secret?presence",
        &[&format!("Authorization: Bearer {other}")],
    );
    assert_eq!(wrong.status(), 403, "{}", wrong.head_text());
}

/// The metrics are off without a token or users in the config, refused without the token or
/// with a wrong one, and given to a listed user the server authenticated.
#[test]
fn the_metrics_are_guarded() {
    let spool = Spool::new("metrics_counters = true\n");
    let run = |vars: &[(&'static str, &str)]| {
        let mut req: CgiRequest = spool.get("metrics");
        for (k, v) in vars {
            req = req.var(k, *v);
        }
        let (_, out, _) = req.spawn(&bin("nph-longpoll")).finish(T);
        String::from_utf8_lossy(&out).into_owned()
    };
    assert!(run(&[]).starts_with("HTTP/1.1 404"), "off by default");
    let mut config = std::fs::read_to_string(&spool.config).unwrap();
    config.push_str(&format!(
        "metrics_token = \"{METRICS_TOKEN}\"\nmetrics_users = [\"ops\"]\n"
    ));
    std::fs::write(&spool.config, config).unwrap();
    assert!(run(&[]).starts_with("HTTP/1.1 401"));
    assert!(
        run(&[("HTTP_AUTHORIZATION", "Bearer not-the-metrics-token")]).starts_with("HTTP/1.1 403")
    );
    assert!(run(&[("REMOTE_USER", "eve")]).starts_with("HTTP/1.1 403"));
    let by_token = run(&[("HTTP_AUTHORIZATION", &format!("Bearer {METRICS_TOKEN}"))]);
    assert!(by_token.starts_with("HTTP/1.1 200"), "{by_token}");
    assert!(by_token.contains("text/plain; version=0.0.4"), "{by_token}");
    assert!(
        by_token.contains("serverpush_stream_slots_max"),
        "{by_token}"
    );
    // The refusals above, counted across their processes.
    for line in [
        "serverpush_refusals_total{program=\"nph-longpoll\",status=\"404\"} 1",
        "serverpush_refusals_total{program=\"nph-longpoll\",status=\"401\"} 1",
        "serverpush_refusals_total{program=\"nph-longpoll\",status=\"403\"} 2",
    ] {
        assert!(by_token.contains(line), "no {line} in {by_token}");
    }
    assert!(run(&[("REMOTE_USER", "ops")]).starts_with("HTTP/1.1 200"));

    // A stream turned away by max_streams is counted apart.
    let full = Spool::new("max_streams = 0\nmetrics_counters = true\n");
    let req: CgiRequest = full.get("transport=sse").var("PATH_INFO", "/open");
    let (_, out, _) = req.spawn(&bin("nph-longpoll")).finish(T);
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 503"));
    let out = Command::new(bin("serverpush"))
        .args(["metrics", "--config"])
        .arg(&full.config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("serverpush_streams_capped_total 1"), "{text}");
    assert!(
        text.contains("serverpush_refusals_total{program=\"nph-longpoll\",status=\"503\"} 1"),
        "{text}"
    );
}

/// A Prometheus started for the test, stopped on drop.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Scraping `server`'s metrics every second with the metrics token.
    fn scraping(server: &Server) -> Prometheus {
        require_tool("/usr/bin/prometheus", "prometheus");
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: serverpush\n    metrics_path: /cgi-bin/nph-longpoll\n\
                 \x20   params:\n      metrics: ['1']\n    authorization:\n      credentials: {METRICS_TOKEN}\n\
                 \x20   static_configs:\n      - targets: ['127.0.0.1:{}']\n",
                server.port
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let prometheus = Prometheus {
            child,
            port,
            _dir: dir,
        };
        wait_for(T, "prometheus to be ready", || {
            ureq::get(&format!("http://127.0.0.1:{port}/-/ready"))
                .call()
                .ok()
                .filter(|r| r.status() == 200)
        });
        prometheus
    }

    /// The value of the instant query `query`, when it has exactly one series.
    fn value(&self, query: &str) -> Option<String> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let mut answer = ureq::get(&url).query("query", query).call().ok()?;
        let v: Value = answer.body_mut().read_json().ok()?;
        let result = v["data"]["result"].as_array()?;
        match result.as_slice() {
            [one] => one["value"][1].as_str().map(str::to_owned),
            _ => None,
        }
    }

    /// Waits until `query` reads `want`.
    fn wait_value(&self, query: &str, want: &str) {
        wait_for(T, &format!("Prometheus to read {want} for {query}"), || {
            (self.value(query).as_deref() == Some(want)).then_some(())
        });
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real Prometheus scrapes the metrics while streams open and close and messages are
/// published, and reads back what the test did.
#[test]
fn prometheus_scrapes_what_happens() {
    let site = site();
    let apache = Server::apache(&site);
    let prometheus = Prometheus::scraping(&apache);
    prometheus.wait_value("up{job=\"serverpush\"}", "1");
    prometheus.wait_value("serverpush_store_up", "1");
    let alice = token("alice", &["secret"]);
    let first = follow(&apache, "secret", &alice);
    let second = follow(&apache, "secret", &alice);
    prometheus.wait_value("serverpush_channel_subscribers{channel=\"secret\"}", "2");
    prometheus.wait_value(
        "serverpush_streams{program=\"nph-longpoll\",transport=\"sse\",server=\"apache\"}",
        "2",
    );
    let mut store = site.store();
    use crate::util::StoreExt;
    for n in 0..3 {
        store.put("secret", &format!("m{n}"));
    }
    prometheus.wait_value("serverpush_channel_messages_total{channel=\"secret\"}", "3");
    drop(first);
    drop(second);
    // Apache notices a departed client at a write: a heartbeat's (every 2 s here).
    prometheus.wait_value("serverpush_stream_slots_used", "0");
}

/// 100 subscribers join and leave under Apache and under lighttpd; 10 of them are killed with
/// SIGKILL: the count follows every change, and the killed ones leave the moment they are gone.
#[test]
fn a_hundred_join_and_leave_under_apache_and_lighttpd() {
    let site =
        Site::new("spool_dir = \"@SPOOL@\"\nopen_channels = [\"crowd\"]\nheartbeat_secs = 2\n");
    let count = |site: &Site| -> u64 {
        let out = Command::new(bin("serverpush"))
            .args(["metrics", "--config"])
            .arg(&site.config)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("serverpush_channel_subscribers{channel=\"crowd\"} "))
            .map_or(0, |n| n.parse().unwrap())
    };
    let servers: [(&str, crate::fixtures::StartServer); 2] =
        [("Apache", Server::apache), ("lighttpd", Server::lighttpd)];
    for (name, start) in servers {
        let server = start(&site);
        let mut crowd: Vec<_> = (0..100)
            .map(|_| {
                let r = request(
                    server.port,
                    "GET",
                    "/cgi-bin/nph-longpoll/crowd",
                    "HTTP/1.1",
                    &["Accept: text/event-stream"],
                );
                assert_eq!(r.status(), 200, "{name}: {}", r.head_text());
                r
            })
            .collect();
        wait_for(T, &format!("{name}: 100 on crowd"), || {
            (count(&site) == 100).then_some(())
        });
        // Half leave.
        crowd.truncate(50);
        wait_for(T, &format!("{name}: 50 left"), || {
            (count(&site) == 50).then_some(())
        });
        // Ten are killed.
        let pids = crate::util::pids_of(&site.program("nph-longpoll"));
        assert_eq!(pids.len(), 50, "{name}: {pids:?}");
        for pid in &pids[..10] {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        wait_for(T, &format!("{name}: 40 after 10 were killed"), || {
            (count(&site) == 40).then_some(())
        });
        drop(crowd);
        wait_for(T, &format!("{name}: none left"), || {
            (count(&site) == 0).then_some(())
        });
    }
}

/// The SSE `data:` lines of `body` that are JSON objects, in order.
fn events_in(body: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| serde_json::from_str::<Value>(v["data"].as_str()?).ok())
        .collect()
}

/// A room that announces its joins and leaves (`presence_events`): a follower of `room.presence`
/// sees each stream join and leave in order, with the room's count, a SIGKILLed stream's leave
/// and the last one's included; the announcements cannot be forged, and a private room's are
/// for those who may follow the room.
#[test]
fn joins_and_leaves_are_announced_in_order_under_apache_and_lighttpd() {
    let site = Site::new(&format!(
        "spool_dir = \"@SPOOL@\"\njwt_secret = \"{SECRET}\"\nprivate_channels = [\"secret-room\"]\n\
         open_channels = [\"room\", \"room.presence\"]\npresence_events = [\"room\", \"secret-*\"]\n\
         heartbeat_secs = 1\n"
    ));
    let servers: [(&str, crate::fixtures::StartServer); 2] =
        [("Apache", Server::apache), ("lighttpd", Server::lighttpd)];
    for (name, start) in servers {
        let server = start(&site);
        let mut watcher = get_stream(&server, "room.presence", &[]);
        let seen = |watcher: &mut crate::client::Response, n: usize| -> Vec<Value> {
            wait_for(T, &format!("{name}: {n} announcements"), || {
                watcher.read_some(Duration::from_millis(200));
                let events = events_in(&watcher.body);
                (events.len() >= n).then_some(events)
            })
        };
        let a = get_stream(&server, "room", &[]);
        let joined = seen(&mut watcher, 1);
        let mut b = Some(get_stream(&server, "room", &[]));
        let events = seen(&mut watcher, 2);
        assert_eq!(events[0]["event"], "join", "{name}: {joined:?}");
        assert_eq!(
            (events[0]["count"].as_u64(), events[1]["count"].as_u64()),
            (Some(1), Some(2))
        );
        let first = events[0]["stream"].as_str().unwrap().to_owned();
        let pid = first.rsplit('-').next().unwrap().to_owned();
        // Killed: its leave comes from the next stream of the room to look (at a heartbeat).
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
        let events = seen(&mut watcher, 3);
        assert_eq!(
            (
                events[2]["event"].as_str(),
                events[2]["stream"].as_str(),
                events[2]["count"].as_u64()
            ),
            (Some("leave"), Some(first.as_str()), Some(1)),
            "{name}"
        );
        // The last one leaves: the follower's own stream says so.
        b.take();
        let events = seen(&mut watcher, 4);
        assert_eq!(
            (
                events[3]["event"].as_str(),
                events[3]["stream"].as_str(),
                events[3]["count"].as_u64()
            ),
            (Some("leave"), events[1]["stream"].as_str(), Some(0)),
            "{name}"
        );
        drop(a);
        // Nobody may write a join.
        let mut forged = request(
            server.port,
            "POST",
            "/cgi-bin/nph-longpoll/room.presence",
            "HTTP/1.1",
            &[
                "Content-Type: text/plain",
                "Content-Length: 2",
                "Connection: close",
                "\r\n{}",
            ],
        );
        assert_eq!(forged.status(), 403, "{name}: {}", forged.head_text());
        forged.read_to_end(T);
        // A private room's announcements need the room's right.
        let refused = get(&server, "/cgi-bin/nph-longpoll/secret-room.presence", &[]);
        assert_eq!(refused.status(), 401, "{name}");
        let auth = format!("Authorization: Bearer {}", token("carol", &["secret-room"]));
        let mut allowed = get_stream(&server, "secret-room.presence", &[&auth]);
        let _member = get_stream(&server, "secret-room", &[&auth]);
        let events = seen(&mut allowed, 1);
        assert_eq!(
            (
                events[0]["event"].as_str(),
                events[0]["subscriber"].as_str()
            ),
            (Some("join"), Some("carol"))
        );
    }
}

/// An SSE stream of `channel` through `server`, with `extra` header lines.
fn get_stream(server: &Server, channel: &str, extra: &[&str]) -> crate::client::Response {
    let mut lines = vec!["Accept: text/event-stream"];
    lines.extend_from_slice(extra);
    let r = request(
        server.port,
        "GET",
        &format!("/cgi-bin/nph-longpoll/{channel}"),
        "HTTP/1.1",
        &lines,
    );
    assert_eq!(r.status(), 200, "{channel}: {}", r.head_text());
    r
}

/// Two Apache hosts sharing one Redis: a channel's presence and its joins' counts cover both
/// hosts' streams; a stream killed on one host leaves the other's presence when its entry runs
/// out (three heartbeats), and its leave is said by the next stream of its own host.
#[test]
fn presence_covers_every_host_over_redis() {
    let redis = crate::fixtures::Redis::start();
    let config = format!(
        "spool_dir = \"@SPOOL@\"\nstore = \"redis\"\nredis_url = \"{}\"\nredis_key_prefix = \"presence-test:\"\n\
         open_channels = [\"room\", \"room.presence\"]\npresence_events = [\"room\"]\nheartbeat_secs = 1\n",
        redis.url()
    );
    let (site_a, site_b) = (Site::new(&config), Site::new(&config));
    let (a, b) = (Server::apache(&site_a), Server::apache(&site_b));
    let count_on = |server: &Server| -> u64 {
        let r = get(server, "/cgi-bin/nph-longpoll/room?presence", &[]);
        assert_eq!(r.status(), 200, "{}", r.head_text());
        let answer: Value = serde_json::from_slice(&r.body).unwrap();
        answer["count"].as_u64().unwrap()
    };
    let mut watcher = get_stream(&a, "room.presence", &[]);
    let seen = |watcher: &mut crate::client::Response, n: usize| -> Vec<Value> {
        wait_for(T, &format!("{n} announcements"), || {
            watcher.read_some(Duration::from_millis(200));
            let events = events_in(&watcher.body);
            (events.len() >= n).then_some(events)
        })
    };
    let _on_a = get_stream(&a, "room", &[]);
    seen(&mut watcher, 1);
    let on_b = get_stream(&b, "room", &[]);
    let events = seen(&mut watcher, 2);
    assert_eq!(
        (events[1]["event"].as_str(), events[1]["count"].as_u64()),
        (Some("join"), Some(2)),
        "{events:?}"
    );
    assert_eq!((count_on(&a), count_on(&b)), (2, 2));
    // The operator's commands on A count and list B's stream too.
    let command = |args: &[&str]| {
        let out = Command::new(bin("serverpush"))
            .args(args)
            .arg("--config")
            .arg(&site_a.config)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let channels = command(&["channels"]);
    let room: Vec<&str> = channels
        .lines()
        .find(|l| l.starts_with("room "))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(room.get(5), Some(&"2"), "{channels}");
    let listed = command(&["presence", "room"]);
    assert!(
        listed.contains("2 subscriber(s) on room") && listed.contains("other"),
        "{listed}"
    );

    // Killed on B: gone from A's presence once its entry runs out.
    let killed = events[1]["stream"].as_str().unwrap().to_owned();
    let pid = killed.rsplit('-').next().unwrap().to_owned();
    let _ = Command::new("kill").args(["-KILL", &pid]).status();
    wait_for(T, "the killed stream gone from A's presence", || {
        (count_on(&a) == 1).then_some(())
    });
    drop(on_b);
    // B's next stream says the killed one's leave before its own join.
    let _again_on_b = get_stream(&b, "room", &[]);
    let events = seen(&mut watcher, 4);
    assert_eq!(
        (events[2]["event"].as_str(), events[2]["stream"].as_str()),
        (Some("leave"), Some(killed.as_str())),
        "{events:?}"
    );
    assert_eq!(
        (events[3]["event"].as_str(), events[3]["count"].as_u64()),
        (Some("join"), Some(2)),
        "{events:?}"
    );
    assert_eq!(count_on(&a), 2);
}
