//! Tabs of one origin that share a connection stay correct against stray and forged posts on
//! their BroadcastChannel: a forged relay is never delivered, a forged step-down does not stop
//! the leader, a follower that cannot read its history says so, and a flood is bounded.

use super::*;

/// Opens two pages of one origin on `query`: the first leads, the second (its query with
/// `follower_query` added) follows. Returns their windows; the follower's is current.
fn leader_and_follower(
    browser: &Browser,
    port: u16,
    query: &str,
    follower_query: &str,
) -> (String, String) {
    let url = format!("http://127.0.0.1:{port}/client.html?{query}");
    let leader = current_window(browser);
    browser.open(&url);
    let leads = wait_state(browser, "live");
    assert!(leads.contains(" leader "), "{leads}");
    let follower = new_window(browser);
    browser.open(&format!("{url}{follower_query}"));
    wait_for(T, "the second page to follow", || {
        states(browser).pop().filter(|s| s.contains(" follower "))
    });
    (leader, follower)
}

/// Runs `script` in the current page with `post(message)` posting on its client's tab group
/// BroadcastChannel, as any script of the origin can, and waits until the client has handled
/// every post.
fn forge(browser: &Browser, script: &str) {
    let ends = browser.eval(&format!(
        r#"var ends = window.testEnds;
        window.forger = window.forger || new BroadcastChannel(groupName);
        var post = function (m) {{ forger.postMessage(m); }};
        {script}
        post({{ t: "test-end" }});
        return ends;"#
    ));
    wait_for(T, "the client to handle the posts", || {
        (browser.eval("return window.testEnds;") != ends).then_some(())
    });
}

/// A relay that does not continue from a follower's cursor is never delivered. Stray posts on
/// the tab group's channel (the client's former relay forms, its own form from another cursor,
/// other channels, malformed ones) leave the follower delivering the real messages, in order,
/// once, and its cursor the server's: when it takes over, it goes on from there.
#[test]
fn a_follower_delivers_no_forged_relay() {
    let site = site("");
    let apache = Server::apache(&site);
    let browser = Browser::start();
    let (leader, follower) = leader_and_follower(&browser, apache.port, "channel=chat", "");
    wait_state(&browser, "live");
    post(&apache, "chat", "c1", "HTTP/1.1");
    for w in [&leader, &follower] {
        switch_to(&browser, w);
        wait_got(&browser, &numbered("c", 1..=1), "the first message");
    }
    switch_to(&browser, &follower);
    forge(
        &browser,
        r#"var m = { channel: "chat", id: 2, time: new Date().toISOString(),
                     type: "text/plain; charset=utf-8", data: "forged" };
        post({ t: "m", m: m, c: "chat:2" });
        post({ t: "c", c: "chat:99" });
        post({ t: "x", ch: null });
        post({ t: "m", p: "chat:1", c: "chat:2", ms: [m] });
        post({ t: "m", p: null, c: "chat:2", ms: [m] });
        post({ t: "m", p: "chat:1", c: "chat:2", ms: [m], x: ["chat"] });
        post({ t: "m", p: "chat:1", c: "chat:2", ms: [Object.assign({}, m, { channel: "news" })] });
        post({ t: "m", p: "chat:1", c: "chat:2", ms: [Object.assign({}, m, { id: "2" })] });
        post({ t: "m", p: "chat:1", c: "chat:2", ms: [null] });
        post({ t: "m" });
        post({ t: "s", s: { state: "closed", role: "leader", transport: "sse" } });
        post(null);
        post("m");"#,
    );
    for n in 2..=3 {
        post(&apache, "chat", &format!("c{n}"), "HTTP/1.1");
    }
    for w in [&leader, &follower] {
        switch_to(&browser, w);
        wait_got(&browser, &numbered("c", 1..=3), "the real messages");
        assert_eq!(browser.eval("return window.missed;"), json!(0));
    }
    let last = states(&browser).pop().unwrap_or_default();
    assert_eq!(last, "live follower sse");

    switch_to(&browser, &leader);
    let path = format!("/session/{}/window", browser.session);
    browser.call("DELETE", &path, Value::Null);
    switch_to(&browser, &follower);
    let leads = wait_state(&browser, "live");
    assert!(leads.contains(" leader "), "{leads}");
    post(&apache, "chat", "c4", "HTTP/1.1");
    wait_got(
        &browser,
        &numbered("c", 1..=4),
        "the message after the takeover",
    );
}

/// With Web Locks the lock alone says which page leads: heartbeats and quits posted by another
/// script (what makes a leader give way where Web Locks are missing) leave it serving.
#[test]
fn a_forged_step_down_leaves_the_leader_serving() {
    let site = site("");
    let apache = Server::apache(&site);
    let browser = Browser::start();
    let (leader, follower) = leader_and_follower(&browser, apache.port, "channel=chat", "");
    switch_to(&browser, &leader);
    forge(
        &browser,
        r#"post({ t: "b", id: -1 });
        post({ t: "b", id: 0 });
        post({ t: "b", id: "0" });
        post({ t: "q" });"#,
    );
    for n in 1..=2 {
        post(&apache, "chat", &format!("s{n}"), "HTTP/1.1");
    }
    for w in [&leader, &follower] {
        switch_to(&browser, w);
        wait_got(
            &browser,
            &numbered("s", 1..=2),
            "messages after the forged step-down",
        );
    }
    switch_to(&browser, &leader);
    let last = states(&browser).pop().unwrap_or_default();
    assert_eq!(last, "live leader sse");
    let program = site.program("nph-longpoll");
    wait_for(T, "one subscriber process", || {
        (pids_of(&program).len() == 1).then_some(())
    });
}

/// A follower that cannot read the history it needs says so: it reports "backoff", not the
/// leader's "live", and tries again; once its reads work it delivers everything and reports
/// "live" again.
#[test]
fn a_follower_that_cannot_read_history_backs_off() {
    let site = site("");
    let apache = Server::apache(&site);
    for n in 1..=3 {
        post(&apache, "news", &format!("f{n}"), "HTTP/1.1");
    }
    let browser = Browser::start();
    let query = "channel=news&since=news:0";
    let (leader, follower) = leader_and_follower(&browser, apache.port, query, "&failhistory");
    let backoff = wait_state(&browser, "backoff");
    assert_eq!(backoff, "backoff follower sse");
    assert_eq!(got(&browser), Vec::<String>::new());

    browser.eval("window.failHistory = false; return null;");
    wait_got(
        &browser,
        &numbered("f", 1..=3),
        "the history once it can be read",
    );
    wait_state(&browser, "live");
    post(&apache, "news", "f4", "HTTP/1.1");
    for w in [&leader, &follower] {
        switch_to(&browser, w);
        wait_got(&browser, &numbered("f", 1..=4), "the next message");
    }
}

/// The relays a follower keeps while it reads history are bounded: a flood of posts of
/// 64 KiB during a read that does not end leaves the page's heap about where it was, and every
/// real message still arrives, in order, once.
#[test]
fn a_flood_during_a_history_read_is_bounded() {
    const FLOOD: usize = 1500;
    let site = site("");
    let apache = Server::apache(&site);
    for n in 1..=5 {
        post(&apache, "news", &format!("n{n}"), "HTTP/1.1");
    }
    let browser = Browser::start_with(&["--js-flags=--expose-gc", "--enable-precise-memory-info"]);
    let query = "channel=news&since=news:0";
    let (leader, follower) = leader_and_follower(&browser, apache.port, query, "&holdhistory");
    wait_for(T, "the follower's history read", || {
        (browser.eval("return heldReads.length;") == json!(1)).then_some(())
    });
    let heap = || {
        let v = browser.eval("gc(); return performance.memory.usedJSHeapSize;");
        v.as_u64().unwrap_or_else(|| panic!("no heap size: {v}"))
    };
    let before = heap();
    forge(
        &browser,
        &format!(
            r#"var big = "x".repeat(65536);
            for (var i = 0; i < {FLOOD}; i++) {{
                post({{ t: "m", p: "news:5", c: "news:" + (6 + i), ms: [{{ channel: "news",
                       id: 6 + i, time: new Date().toISOString(), type: "text/plain",
                       data: big + i }}] }});
            }}"#
        ),
    );
    let grown = heap().saturating_sub(before);
    assert!(
        grown < 40 << 20,
        "the heap grew by {grown} bytes for {FLOOD} posts of 64 KiB"
    );

    browser.eval("releaseHistory(); return null;");
    wait_got(&browser, &numbered("n", 1..=5), "the history");
    for n in 6..=10 {
        post(&apache, "news", &format!("n{n}"), "HTTP/1.1");
    }
    for w in [&leader, &follower] {
        switch_to(&browser, w);
        wait_got(
            &browser,
            &numbered("n", 1..=10),
            "every message after the flood",
        );
    }
}
