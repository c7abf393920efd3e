//! The demo page `mercure.html` in Chromium: a plain `EventSource` on the hub, anonymous on one
//! origin and with the `mercureAuthorization` cookie from another (CORS with credentials),
//! through an Apache restart.

use std::time::Duration;

use serde_json::{Value, json};

use super::served::{post, site};
use super::subscriber;
use crate::browser::Browser;
use crate::client_js::{new_window, switch_to};
use crate::fixtures::Server;
use crate::util::wait_for;

const T: Duration = Duration::from_secs(20);

/// The data of the updates the current page received, in order.
fn received(browser: &Browser) -> Vec<String> {
    let v = browser.eval("return window.updates || [];");
    v.as_array()
        .into_iter()
        .flatten()
        .map(|u| u["data"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Waits until the current page has received exactly `want`.
fn wait_received(browser: &Browser, want: &[&str], what: &str) {
    let mut last = Vec::new();
    let done = wait_for_result(|| {
        last = received(browser);
        last == want
    });
    assert!(done, "{what}: wanted {want:?}, the page has {last:?}");
}

/// Polls `check` until it holds or [`T`] passes.
fn wait_for_result(mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + T;
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

fn wait_open(browser: &Browser) {
    wait_for(T, "the page's EventSource to open", || {
        let states = browser.eval("return window.states || [];");
        (states.as_array().and_then(|s| s.last()) == Some(&json!("open"))).then_some(())
    });
}

#[test]
fn pages_receive_what_they_may_and_resume_after_a_restart() {
    let site = site("");
    let apache = Server::apache(&site);
    let lighttpd = Server::lighttpd(&site);
    // The page on lighttpd's origin uses Apache's hub: it must be listed for CORS.
    let mut config = std::fs::read_to_string(&site.config).unwrap();
    config.push_str(&format!(
        "cors_origins = [\"http://127.0.0.1:{}\"]\n",
        lighttpd.port
    ));
    std::fs::write(&site.config, config).unwrap();
    let books = "topic=https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D";
    let browser = Browser::start();

    // Anonymous, on Apache's own origin (localhost: no cookie of 127.0.0.1 reaches it).
    let anonymous = new_window(&browser);
    browser.open(&format!(
        "http://localhost:{}/mercure.html?{books}",
        apache.port
    ));
    wait_open(&browser);
    // With the cookie, from another origin.
    let reader = new_window(&browser);
    browser.open(&format!("http://127.0.0.1:{}/index.html", lighttpd.port));
    let cookie = json!({ "cookie": {
        "name": "mercureAuthorization",
        "value": subscriber(&["https://example.com/books/{id}"]),
        "path": "/",
        "httpOnly": true,
    }});
    browser.call(
        "POST",
        &format!("/session/{}/cookie", browser.session),
        cookie,
    );
    browser.open(&format!(
        "http://127.0.0.1:{}/mercure.html?hub=http%3A%2F%2F127.0.0.1%3A{}%2F.well-known%2Fmercure&{books}",
        lighttpd.port, apache.port
    ));
    wait_open(&browser);

    post(
        apache.port,
        "topic=https%3A%2F%2Fexample.com%2Fbooks%2F1&data=one",
    );
    post(
        apache.port,
        "topic=https%3A%2F%2Fexample.com%2Fbooks%2F2&data=two&private=on",
    );
    post(
        apache.port,
        "topic=https%3A%2F%2Fexample.com%2Fbooks%2F3&data=three&type=change",
    );
    switch_to(&browser, &reader);
    wait_received(&browser, &["one", "two", "three"], "the reader");
    switch_to(&browser, &anonymous);
    wait_received(&browser, &["one", "three"], "the anonymous page");

    // Apache goes away; an update is published meanwhile (through lighttpd, same store);
    // the pages reconnect with Last-Event-ID and get it, once.
    apache.stop();
    post(
        lighttpd.port,
        "topic=https%3A%2F%2Fexample.com%2Fbooks%2F4&data=four",
    );
    post(
        lighttpd.port,
        "topic=https%3A%2F%2Fexample.com%2Fbooks%2F5&data=five&private=on",
    );
    let _again = apache.start_again();
    wait_received(
        &browser,
        &["one", "three", "four"],
        "the anonymous page after the restart",
    );
    switch_to(&browser, &reader);
    wait_received(
        &browser,
        &["one", "two", "three", "four", "five"],
        "the reader after the restart",
    );
    let ids: Value = browser.eval("return window.updates.map(function (u) { return u.id; });");
    let ids: Vec<&str> = ids
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        5,
        "every update once, each with its id: {ids:?}"
    );
    let states = browser.eval("return window.states;");
    assert!(
        states
            .as_array()
            .is_some_and(|s| s.contains(&json!("reconnecting"))),
        "the page saw the restart: {states}"
    );
}
