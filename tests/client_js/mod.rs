//! Ring 3: `www/serverpush.js` in headless Chromium against real servers: resuming across a
//! server restart and a killed program, falling back from SSE behind a buffering server, one
//! connection shared by five tabs, `missed` after a reload and after a channel reset, the
//! iframe transport; and (`relays`) tabs that stay correct against stray and forged posts on
//! their shared channel.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::browser::Browser;
use crate::fixtures::{Server, Site, StartServer, run_as};
use crate::served::post;
use crate::util::{bin, pids_of, wait_for};

mod relays;

const T: Duration = Duration::from_secs(20);

/// A page that subscribes as its query says and records what the client reports: `got` (each
/// message's data), `states` ("state role transport"), `missed` (onmissed calls).
const PAGE: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>client test</title></head><body>
@SCRIPT@
function start(serverpush) {
  var q = new URLSearchParams(location.search);
  if (q.has("nolocks")) {
    // A browser without Web Locks: the tabs elect their leader over BroadcastChannel.
    Object.defineProperty(Navigator.prototype, "locks", { get: function () { return undefined; } });
  }
  hooks(q);
  window.got = [];
  window.states = [];
  window.missed = 0;
  window.sub = serverpush.subscribe("/cgi-bin/nph-longpoll", q.get("channel"), {
    transport: q.get("transport") || "auto",
    persist: q.has("persist"),
    onmessage: function (m) { got.push(m.data); },
    since: q.get("since") || undefined,
    onmissed: function () { missed++; },
    onstatus: function (s) { states.push(s.state + " " + s.role + " " + s.transport); }
  });
}
// What the tests see of the client from outside. `groupName` is the name of the client's
// BroadcastChannel; `testEnds` counts the "test-end" posts its handler has run for, so a test
// knows its posts were handled. The client's history reads (its long-polls with timeout=0) go
// to a missing page while `failHistory` is set, and wait for `releaseHistory()` in `heldReads`
// while `holdHistory` is.
function hooks(q) {
  window.testEnds = 0;
  var handler = Object.getOwnPropertyDescriptor(BroadcastChannel.prototype, "onmessage");
  Object.defineProperty(BroadcastChannel.prototype, "onmessage", {
    configurable: true,
    get: handler.get,
    set: function (f) {
      window.groupName = this.name;
      handler.set.call(this, function (e) {
        try {
          return f.call(this, e);
        } finally {
          if (e.data && e.data.t == "test-end") testEnds++;
        }
      });
    }
  });
  window.failHistory = q.has("failhistory");
  window.holdHistory = q.has("holdhistory");
  window.heldReads = [];
  var open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url) {
    var args = [].slice.call(arguments);
    this.historyRead = /[?&]timeout=0(&|$)/.test(url);
    if (this.historyRead && failHistory) args[1] = "/no-such-page";
    return open.apply(this, args);
  };
  XMLHttpRequest.prototype.send = function () {
    var x = this, args = arguments;
    if (!(x.historyRead && holdHistory)) return send.apply(x, args);
    heldReads.push(function () { send.apply(x, args); });
  };
  window.releaseHistory = function () {
    holdHistory = false;
    heldReads.splice(0).forEach(function (go) { go(); });
  };
}
</script></body></html>"#;

/// The classic script, started after the page's load (streams hold the load event back).
const CLASSIC: &str = r#"<script src="serverpush.js"></script><script>
window.addEventListener("load", function () { start(window.serverpush); });"#;

/// The ES module entry point.
const MODULE: &str = r#"<script type="module">
import * as serverpush from "./serverpush.mjs";
start(serverpush);
</script><script>"#;

/// A site with the test pages (`client.html`, `client-module.html`) and open channels.
fn site(extra_config: &str) -> Site {
    let site = Site::new(&format!(
        "spool_dir = \"@SPOOL@\"\nopen_channels = [\"chat\", \"news\", \"r\", \"old\"]\nheartbeat_secs = 2\n{extra_config}"
    ));
    std::fs::write(
        site.www.join("client.html"),
        PAGE.replace("@SCRIPT@", CLASSIC),
    )
    .unwrap();
    std::fs::write(
        site.www.join("client-module.html"),
        PAGE.replace("@SCRIPT@", MODULE),
    )
    .unwrap();
    site
}

fn got(browser: &Browser) -> Vec<String> {
    serde_json::from_value(browser.eval("return window.got || [];")).unwrap()
}

fn states(browser: &Browser) -> Vec<String> {
    serde_json::from_value(browser.eval("return window.states || [];")).unwrap()
}

fn numbered(prefix: &str, range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|n| format!("{prefix}{n}")).collect()
}

/// Waits until the page has received exactly `want` (failing early on a repeat or a reorder).
fn wait_got(browser: &Browser, want: &[String], what: &str) {
    wait_for(T, what, || {
        let have = got(browser);
        assert!(
            want.starts_with(&have),
            "{what}: received {have:?}, wanted a prefix of {want:?}"
        );
        (have.len() == want.len()).then_some(())
    });
}

/// Waits until the page's last reported state starts with `state`.
fn wait_state(browser: &Browser, state: &str) -> String {
    wait_for(T, &format!("the client to be {state}"), || {
        states(browser).pop().filter(|s| s.starts_with(state))
    })
}

/// Publishes from the server machine, as the server's CGI user, while the web server is down.
fn publish_locally(site: &Site, channel: &str, message: &str) {
    let publisher = site.cgi_bin.join("serverpush-publish");
    if !publisher.exists() {
        std::fs::copy(bin("serverpush-publish"), &publisher).unwrap();
    }
    let (user, _) = run_as();
    let mut cmd = if user == "www-data" {
        let mut c = Command::new("runuser");
        c.args(["-u", "www-data", "--"]).arg(&publisher);
        c
    } else {
        Command::new(&publisher)
    };
    let status = cmd
        .arg("--config")
        .arg(&site.config)
        .args([channel, message])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "serverpush-publish {channel} {message}: {status}"
    );
}

/// Kills the subscriber's program, as an out-of-memory killer or an administrator might.
fn kill_subscriber(site: &Site) {
    let program = site.program("nph-longpoll");
    let pids = wait_for(T, "one subscriber process", || {
        let pids = pids_of(&program);
        (pids.len() == 1).then_some(pids)
    });
    Command::new("kill")
        .arg("-KILL")
        .arg(pids[0].to_string())
        .status()
        .unwrap();
}

/// The states a client reported, with consecutive repeats merged.
fn transitions(states: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in states {
        let state = s.split(' ').next().unwrap_or_default().to_owned();
        if out.last() != Some(&state) {
            out.push(state);
        }
    }
    out
}

/// Chat through Apache: messages arrive in order exactly once while Apache is stopped and
/// started again, and while the subscriber's program is killed; `onstatus` reports each outage
/// and each recovery, and the client stays on SSE.
#[test]
fn resumes_across_an_apache_restart_and_a_killed_program() {
    resumes_across_a_restart_and_a_killed_program(Server::apache, "client.html");
}

/// The same through nginx and fcgiwrap, from the ES module.
#[test]
fn resumes_across_an_nginx_restart_and_a_killed_program() {
    resumes_across_a_restart_and_a_killed_program(Server::nginx, "client-module.html");
}

fn resumes_across_a_restart_and_a_killed_program(start: StartServer, page: &str) {
    let site = site("");
    let server = start(&site);
    let browser = Browser::start();
    browser.open(&format!(
        "http://127.0.0.1:{}/{page}?channel=chat",
        server.port
    ));
    wait_state(&browser, "live");
    // The client's own publish, through the server.
    let ids = browser.eval(
        r#"return (async function () {
            var ids = [];
            for (var n = 1; n <= 10; n++) {
                ids.push(await serverpush.publish("/cgi-bin/nph-longpoll", "chat", "m" + n));
            }
            return ids;
        })();"#,
    );
    assert_eq!(ids, json!((1..=10).collect::<Vec<u32>>()));
    wait_got(&browser, &numbered("m", 1..=10), "the first ten");

    server.stop();
    for n in 11..=15 {
        publish_locally(&site, "chat", &format!("m{n}"));
    }
    wait_state(&browser, "backoff");
    let restarted = server.start_again();
    wait_got(
        &browser,
        &numbered("m", 1..=15),
        "the five published while the server was down",
    );
    wait_state(&browser, "live");

    kill_subscriber(&site);
    for n in 16..=20 {
        post(&server, "chat", &format!("m{n}"), "HTTP/1.1");
    }
    wait_got(&browser, &numbered("m", 1..=20), "the five after the kill");
    wait_state(&browser, "live");

    let states = states(&browser);
    // Each outage is one or more rounds of backing off and trying again.
    let mut text = transitions(&states).join(" ");
    let round = "backoff connecting";
    while text.contains(&format!("{round} {round}")) {
        text = text.replace(&format!("{round} {round}"), round);
    }
    assert_eq!(
        text, "connecting live backoff connecting live backoff connecting live",
        "{states:?}"
    );
    assert!(
        states.iter().all(|s| s.ends_with(" sse")),
        "never fell back: {states:?}"
    );
    drop(restarted);
}

/// Behind a server that holds a stream's output until it ends (lighttpd without
/// `server.stream-response-body`), `auto` gives up on SSE after the first-event time and
/// delivers by long-poll.
#[test]
fn falls_back_to_long_poll_behind_a_buffering_server() {
    let site = site("");
    let lighttpd = Server::lighttpd_with(&site, |conf| {
        let streaming = "server.stream-response-body = 2";
        assert!(conf.contains(streaming));
        conf.replace(streaming, "")
    });
    falls_back_to_long_poll(&lighttpd);
}

/// The same behind nginx whose fcgiwrap holds the programs' output (no `NO_BUFFERING`).
#[test]
fn falls_back_to_long_poll_behind_a_buffering_fcgiwrap() {
    let site = site("");
    let nginx = Server::nginx_with(&site, 64, |_, conf| {
        conf.replace("fastcgi_param NO_BUFFERING 1;", "")
    });
    assert!(
        !nginx
            .config("serverpush-fastcgi.conf")
            .contains("NO_BUFFERING")
    );
    falls_back_to_long_poll(&nginx);
}

fn falls_back_to_long_poll(server: &Server) {
    let browser = Browser::start();
    let start = Instant::now();
    browser.open(&format!(
        "http://127.0.0.1:{}/client.html?channel=news",
        server.port
    ));
    let live = wait_state(&browser, "live");
    assert!(live.ends_with(" longpoll"), "{live}");
    let fallback = start.elapsed();
    assert!(fallback < Duration::from_secs(10), "{fallback:?}");
    for n in 1..=3 {
        post(server, "news", &format!("n{n}"), "HTTP/1.1");
    }
    wait_got(&browser, &numbered("n", 1..=3), "messages by long-poll");
    let states = states(&browser);
    assert_eq!(
        states.first().map(String::as_str),
        Some("connecting leader sse"),
        "{states:?}"
    );
}

/// The WebDriver handle of the current window.
pub(crate) fn current_window(browser: &Browser) -> String {
    let path = format!("/session/{}/window", browser.session);
    browser
        .call("GET", &path, Value::Null)
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) fn switch_to(browser: &Browser, handle: &str) {
    let path = format!("/session/{}/window", browser.session);
    browser.call("POST", &path, json!({ "handle": handle }));
}

/// Opens a new window (not a tab, so no page of the test runs in the background, where
/// Chromium slows timers down) and switches to it.
pub(crate) fn new_window(browser: &Browser) -> String {
    let path = format!("/session/{}/window/new", browser.session);
    let handle = browser.call("POST", &path, json!({ "type": "window" }))["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    switch_to(browser, &handle);
    handle
}

/// Five pages of one browser on one channel: one subscriber process on the server, every
/// message in every page in order once, and nothing lost when the leader's page closes.
#[test]
fn five_tabs_share_one_connection() {
    five_tabs("");
}

/// The same where Web Locks are missing: the BroadcastChannel heartbeat elects the leader.
#[test]
fn five_tabs_share_one_connection_without_web_locks() {
    five_tabs("&nolocks");
}

fn five_tabs(query: &str) {
    let site = site("");
    let apache = Server::apache(&site);
    let browser = Browser::start();
    // Every page asks for the whole channel: a page that joins late reads what it missed from
    // the server, then takes the leader's relays.
    let url = format!(
        "http://127.0.0.1:{}/client.html?channel=news&since=news:0{query}",
        apache.port
    );
    let mut windows = vec![current_window(&browser)];
    browser.open(&url);
    wait_state(&browser, "live");
    for n in 1..=30 {
        post(&apache, "news", &format!("n{n}"), "HTTP/1.1");
    }
    // The other four pages open while messages keep coming.
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for n in 31..=100 {
                post(&apache, "news", &format!("n{n}"), "HTTP/1.1");
            }
        });
        for _ in 1..5 {
            windows.push(new_window(&browser));
            browser.open(&url);
        }
    });
    for w in &windows {
        switch_to(&browser, w);
        wait_got(
            &browser,
            &numbered("n", 1..=100),
            "100 messages in every page",
        );
    }
    let roles: Vec<String> = windows
        .iter()
        .map(|w| {
            switch_to(&browser, w);
            wait_state(&browser, "live")
        })
        .collect();
    let leaders: Vec<usize> = (0..5).filter(|&i| roles[i].contains("leader")).collect();
    assert_eq!(leaders.len(), 1, "{roles:?}");
    let program = site.program("nph-longpoll");
    wait_for(T, "one subscriber process", || {
        (pids_of(&program).len() == 1).then_some(())
    });
    assert_eq!(pids_of(&program).len(), 1, "still one subscriber");

    // Close the leader's page, and publish while another takes over.
    let leader = windows.remove(leaders[0]);
    switch_to(&browser, &leader);
    let path = format!("/session/{}/window", browser.session);
    browser.call("DELETE", &path, Value::Null);
    for n in 101..=150 {
        post(&apache, "news", &format!("n{n}"), "HTTP/1.1");
    }
    for w in &windows {
        switch_to(&browser, w);
        wait_got(
            &browser,
            &numbered("n", 1..=150),
            "the takeover losing nothing",
        );
    }
    // Without Web Locks several pages may lead for a moment: they settle on one.
    wait_for(T, "one leader again", || {
        let roles: Vec<String> = windows
            .iter()
            .map(|w| {
                switch_to(&browser, w);
                states(&browser).pop().unwrap()
            })
            .collect();
        (roles.iter().filter(|r| r.contains("leader")).count() == 1).then_some(())
    });
    // The old leader's program ends at its next heartbeat, when Apache finds its client gone.
    wait_for(T, "one subscriber process again", || {
        (pids_of(&program).len() == 1).then_some(())
    });
}

/// A page that keeps its cursor comes back after a burst larger than the channel's retention:
/// `onmissed` fires once and delivery goes on from the oldest message kept. The page loads the
/// client as an ES module.
#[test]
fn missed_once_after_a_reload_beyond_retention() {
    let site = site("retention_messages = 5\n");
    let apache = Server::apache(&site);
    let browser = Browser::start();
    let url = format!(
        "http://127.0.0.1:{}/client-module.html?channel=r&persist",
        apache.port
    );
    browser.open(&url);
    wait_state(&browser, "live");
    post(&apache, "r", "r1", "HTTP/1.1");
    wait_got(&browser, &numbered("r", 1..=1), "the first message");
    browser.open("about:blank");
    for n in 2..=21 {
        post(&apache, "r", &format!("r{n}"), "HTTP/1.1");
    }
    browser.open(&url);
    wait_got(&browser, &numbered("r", 17..=21), "the five kept");
    post(&apache, "r", "r22", "HTTP/1.1");
    wait_got(&browser, &numbered("r", 17..=22), "the next one");
    assert_eq!(browser.eval("return window.missed;"), json!(1));
}

/// A page that forces the iframe transport (what a browser without EventSource gets) receives
/// messages in order once, also across a killed program.
#[test]
fn iframe_transport_when_forced() {
    iframe_transport(Server::apache);
}

#[test]
fn iframe_transport_through_nginx() {
    iframe_transport(Server::nginx);
}

fn iframe_transport(start: StartServer) {
    let site = site("");
    let apache = start(&site);
    let browser = Browser::start();
    browser.open(&format!(
        "http://127.0.0.1:{}/client.html?channel=old&transport=iframe",
        apache.port
    ));
    let live = wait_state(&browser, "live");
    assert!(live.ends_with(" iframe"), "{live}");
    for n in 1..=3 {
        post(&apache, "old", &format!("o{n}"), "HTTP/1.1");
    }
    wait_got(
        &browser,
        &numbered("o", 1..=3),
        "messages through the frame",
    );
    kill_subscriber(&site);
    for n in 4..=6 {
        post(&apache, "old", &format!("o{n}"), "HTTP/1.1");
    }
    wait_got(&browser, &numbered("o", 1..=6), "messages after the kill");
    let states = states(&browser);
    assert!(states.iter().all(|s| s.ends_with(" iframe")), "{states:?}");
}

/// A channel whose store is reset starts again from id 1: the client reports `missed` once and
/// delivers the new messages, although it has seen their ids before.
#[test]
fn a_reset_channel_starts_again_from_id_1() {
    let site = site("");
    let apache = Server::apache(&site);
    let browser = Browser::start();
    browser.open(&format!(
        "http://127.0.0.1:{}/client.html?channel=news",
        apache.port
    ));
    wait_state(&browser, "live");
    for n in 1..=3 {
        post(&apache, "news", &format!("a{n}"), "HTTP/1.1");
    }
    wait_got(&browser, &numbered("a", 1..=3), "the first three");
    std::fs::remove_dir_all(site.spool.join("news")).unwrap();
    kill_subscriber(&site);
    wait_state(&browser, "backoff");
    wait_state(&browser, "live");
    for n in 1..=2 {
        assert_eq!(post(&apache, "news", &format!("b{n}"), "HTTP/1.1"), n);
    }
    let mut want = numbered("a", 1..=3);
    want.extend(numbered("b", 1..=2));
    wait_got(&browser, &want, "the channel's new messages 1 and 2");
    assert_eq!(browser.eval("return window.missed;"), json!(1));
}
