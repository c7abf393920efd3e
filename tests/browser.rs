//! Ring 3: the demo pages in a real headless Chromium (Debian's `chromium`), driven over
//! WebDriver by Debian's `chromedriver`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::fixtures::{Server, Site};
use crate::util::{free_port, pids_of, require_tool, wait_for};

/// A Chromium session behind a chromedriver process; both end on drop.
pub struct Browser {
    driver: Child,
    base: String,
    pub(crate) session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn start() -> Browser {
        Browser::start_with(&[])
    }

    /// A browser with more command-line switches (`--ignore-certificate-errors` for the test
    /// servers' self-signed certificates).
    pub(crate) fn start_with(switches: &[&str]) -> Browser {
        require_tool("/usr/bin/chromium", "chromium");
        require_tool("/usr/bin/chromedriver", "chromium-driver");
        let port = free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        wait_for(Duration::from_secs(15), "chromedriver", || {
            ureq::get(&format!("{base}/status")).call().ok()
        });
        let profile = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,900",
        ]
        .iter()
        .chain(switches)
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "eager",
            "timeouts": {"pageLoad": 20000, "script": 10000},
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": args,
            }
        }}});
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            _profile: profile,
        };
        let answer = browser.call("POST", "/session", caps);
        browser.session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_owned();
        browser
    }

    pub(crate) fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let result = match method {
            "POST" => ureq::post(&url).send_json(&body),
            "DELETE" => ureq::delete(&url).call(),
            _ => ureq::get(&url).call(),
        };
        let mut response = result.unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let value: Value = response.body_mut().read_json().unwrap();
        value["value"].clone()
    }

    pub fn open(&self, url: &str) {
        self.call(
            "POST",
            &format!("/session/{}/url", self.session),
            json!({"url": url}),
        );
    }

    /// Runs `script` (a function body) in the page and returns its result.
    pub fn eval(&self, script: &str) -> Value {
        self.call(
            "POST",
            &format!("/session/{}/execute/sync", self.session),
            json!({"script": script, "args": []}),
        )
    }

    /// Types `text` into the element matching `css`, as a user would.
    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css);
        self.call(
            "POST",
            &format!("/session/{}/element/{element}/value", self.session),
            json!({ "text": text }),
        );
    }

    /// Clicks the element matching `css`.
    pub fn click(&self, css: &str) {
        let element = self.element(css);
        self.call(
            "POST",
            &format!("/session/{}/element/{element}/click", self.session),
            json!({}),
        );
    }

    fn element(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            &format!("/session/{}/element", self.session),
            json!({ "using": "css selector", "value": css }),
        );
        v["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_owned()
    }

    /// Saves a screenshot as PNG.
    pub fn screenshot(&self, path: &std::path::Path) {
        use base64_decode::decode;
        let value = self.call(
            "GET",
            &format!("/session/{}/screenshot", self.session),
            Value::Null,
        );
        std::fs::write(path, decode(value.as_str().unwrap_or_default())).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Just enough base64 for screenshots.
mod base64_decode {
    pub fn decode(text: &str) -> Vec<u8> {
        let value = |c: u8| match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        };
        let digits: Vec<u8> = text.bytes().filter_map(value).collect();
        digits
            .chunks(4)
            .flat_map(|q| {
                let n = q.iter().fold(0u32, |acc, &d| (acc << 6) | d as u32) << (6 * (4 - q.len()));
                let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
                bytes.into_iter().take(q.len().saturating_sub(1))
            })
            .collect()
    }
}

/// What the clock page shows now: each pane's text and a hash of the image pane's pixels.
pub(crate) const READ_CLOCK_PAGE: &str = r#"
    var text = function (id) { return document.getElementById(id).textContent; };
    var img = document.getElementById("image");
    var hash = null;
    if (img.complete && img.naturalWidth > 0) {
        var canvas = document.createElement("canvas");
        canvas.width = img.naturalWidth;
        canvas.height = img.naturalHeight;
        var ctx = canvas.getContext("2d");
        ctx.drawImage(img, 0, 0);
        var data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        hash = 0;
        for (var i = 0; i < data.length; i++) { hash = (hash * 31 + data[i]) | 0; }
    }
    return { iframe: text("iframe"), sse: text("sse"), mixed: text("mixed"),
             chunked: text("chunked"), json: text("json"), image: hash,
             width: img.naturalWidth };
"#;

/// clock.html through every server: the iframe, SSE, image, mixed and chunked panes all change
/// over time.
#[test]
fn clock_page_panes_change() {
    let site = Site::new("");
    let browser = Browser::start();
    for (name, start) in crate::fixtures::SERVERS {
        let server = start(&site);
        clock_page_panes_change_through(&browser, &site, &server, name);
    }
}

/// Waits until every pane of the clock page shows a value; the page's values.
pub fn clock_panes_shown(browser: &Browser, what: &str) -> Value {
    wait_for(
        Duration::from_secs(20),
        &format!("{what}: every pane's first value"),
        || {
            let v = browser.eval(READ_CLOCK_PAGE);
            let ready = ["iframe", "sse", "mixed", "chunked", "json"]
                .iter()
                .all(|k| {
                    v[k].as_str()
                        .is_some_and(|s| s != "waiting…" && !s.is_empty())
                })
                && v["image"].is_i64();
            ready.then_some(v)
        },
    )
}

/// Waits until every streamed pane shows another value than in `first`; the page's values.
pub fn clock_panes_changed(browser: &Browser, what: &str, first: &Value) -> Value {
    wait_for(
        Duration::from_secs(20),
        &format!("{what}: every streamed pane to change"),
        || {
            let v = browser.eval(READ_CLOCK_PAGE);
            ["iframe", "sse", "mixed", "chunked", "image"]
                .iter()
                .all(|k| v[k] != first[k])
                .then_some(v)
        },
    )
}

fn clock_page_panes_change_through(browser: &Browser, site: &Site, server: &Server, name: &str) {
    browser.open(&format!("http://127.0.0.1:{}/clock.html", server.port));

    let first = clock_panes_shown(browser, name);
    assert_eq!(first["width"], 200, "{name}: the clock image has its size");
    let changed = clock_panes_changed(browser, name, &first);
    // Perl's scalar(localtime) layout: "Sun Nov 22 02:41:21 2026".
    for k in ["iframe", "sse", "mixed", "chunked"] {
        let text = changed[k].as_str().unwrap();
        assert_eq!(text.split_whitespace().count(), 5, "{name} {k}: {text}");
    }
    let shot = format!("clock-{}.png", name.to_lowercase());
    browser.screenshot(&site.dir.path().join(&shot));
    if let Ok(dir) = std::env::var("SERVERPUSH_SCREENSHOTS") {
        let _ = std::fs::copy(
            site.dir.path().join(&shot),
            std::path::Path::new(&dir).join(&shot),
        );
    }
}

/// What the webcam page's live image shows: its size and a hash of its pixels.
pub(crate) const READ_WEBCAM_PAGE: &str = r#"
    var img = document.getElementById("live");
    if (!img.complete || img.naturalWidth === 0) { return null; }
    var canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    var ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    var data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    var hash = 0;
    for (var i = 0; i < data.length; i++) { hash = (hash * 31 + data[i]) | 0; }
    var options = Array.prototype.map.call(document.getElementById("camera").options, function (o) { return o.value; });
    return { width: img.naturalWidth, height: img.naturalHeight, hash: hash, cameras: options };
"#;

/// The camera simulator writing `site`'s default camera (320×240, 5 frames/s, a minute), once
/// its first frame is there.
pub(crate) fn camera_simulator(site: &Site) -> std::process::Child {
    let sim = Command::new(crate::util::bin("serverpush-camsim"))
        .arg("--out")
        .arg(site.cams.join("cam.jpg"))
        .args([
            "--fps",
            "5",
            "--width",
            "320",
            "--height",
            "240",
            "--seconds",
            "60",
        ])
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(10), "the first camera frame", || {
        site.cams.join("cam.jpg").exists().then_some(())
    });
    sim
}

/// webcam.html from a test Apache, fed by the camera simulator: the `<img>` has the
/// simulator's size and its pixels change over time.
#[test]
fn webcam_page_shows_the_moving_picture() {
    let site = Site::new("[cameras]\ndefault = \"@CAMS@/cam.jpg\"\nyard = \"@CAMS@/yard.jpg\"\n");
    let apache = Server::apache(&site);
    let mut sim = camera_simulator(&site);
    let browser = Browser::start();
    browser.open(&format!("http://127.0.0.1:{}/webcam.html", apache.port));
    let first = wait_for(Duration::from_secs(20), "the live image", || {
        let v = browser.eval(READ_WEBCAM_PAGE);
        (!v.is_null()).then_some(v)
    });
    assert_eq!(
        (first["width"].as_u64(), first["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert_eq!(first["cameras"], json!(["default", "yard"]));
    wait_for(Duration::from_secs(20), "the live image to change", || {
        let v = browser.eval(READ_WEBCAM_PAGE);
        (v["hash"] != first["hash"]).then_some(())
    });
    browser.screenshot(&site.dir.path().join("webcam.png"));
    if let Ok(dir) = std::env::var("SERVERPUSH_SCREENSHOTS") {
        let _ = std::fs::copy(
            site.dir.path().join("webcam.png"),
            std::path::Path::new(&dir).join("webcam.png"),
        );
    }
    // No broken-image icon before the first snapshot, and the live picture inside its pane.
    let layout = browser.eval(
        r#"var live = document.getElementById("live");
        var img = live.getBoundingClientRect(), pane = live.parentNode.getBoundingClientRect();
        return { still: document.getElementById("still").offsetWidth,
                 inside: img.left >= pane.left && img.right <= pane.right };"#,
    );
    assert_eq!(layout, json!({"still": 0, "inside": true}));
    browser.eval("document.getElementById('snapshot').click(); return null;");
    wait_for(Duration::from_secs(10), "the snapshot", || {
        let v = browser.eval(
            "var i = document.getElementById('still'); return i.complete ? i.naturalWidth : 0;",
        );
        (v == 320).then_some(())
    });
    let _ = sim.kill();
    let _ = sim.wait();
}

pub(crate) const CHAT_LINES: &str = r##"
    return Array.prototype.map.call(document.querySelectorAll("#log .text"), function (e) {
        return e.textContent;
    }).concat(["imgs:" + document.querySelectorAll("#log img").length]);
"##;

/// Opens the chat page `url` for alice (long-polling) and bob (on SSE), and has alice send
/// "hello bob".
pub fn say_hello_bob(alice: &Browser, bob: &Browser, url: &str) {
    alice.open(url);
    bob.open(&format!("{url}?sse"));
    wait_for(Duration::from_secs(10), "both pages loaded", || {
        let ready =
            |b: &Browser| b.eval("return document.readyState === 'complete';") == json!(true);
        (ready(alice) && ready(bob)).then_some(())
    });
    alice.type_into("#name", "alice");
    alice.type_into("#text", "hello bob");
    alice.click("#send button");
}

/// Two chat pages on one channel: a line typed in one appears in the other, and markup in a
/// line shows as text, never as an element.
#[test]
fn two_chat_pages_talk() {
    let site = Site::new("spool_dir = \"@SPOOL@\"\nopen_channels = [\"chat\"]\n");
    let apache = Server::apache(&site);
    two_chat_pages_talk_through(&site, &apache);
}

/// The chat through nginx and fcgiwrap.
#[test]
fn two_chat_pages_talk_through_nginx() {
    let site = Site::new("spool_dir = \"@SPOOL@\"\nopen_channels = [\"chat\"]\n");
    let nginx = Server::nginx(&site);
    two_chat_pages_talk_through(&site, &nginx);
}

fn two_chat_pages_talk_through(site: &Site, server: &Server) {
    let url = format!("http://127.0.0.1:{}/chat.html", server.port);
    let alice = Browser::start();
    let bob = Browser::start();
    say_hello_bob(&alice, &bob, &url);
    wait_for(Duration::from_secs(15), "bob to see alice's line", || {
        let lines = bob.eval(CHAT_LINES);
        (lines == json!(["hello bob", "imgs:0"])).then_some(())
    });
    let evil = "<img src=x onerror=alert(1)>";
    bob.type_into("#text", evil);
    bob.click("#send button");
    for (who, page) in [("alice", &alice), ("bob", &bob)] {
        wait_for(
            Duration::from_secs(15),
            &format!("{who} to see the markup as text"),
            || {
                let lines = page.eval(CHAT_LINES);
                (lines == json!(["hello bob", evil, "imgs:0"])).then_some(())
            },
        );
    }
    let shot = format!("chat-{}.png", server.name);
    alice.screenshot(&site.dir.path().join(&shot));
    if let Ok(dir) = std::env::var("SERVERPUSH_SCREENSHOTS") {
        let _ = std::fs::copy(
            site.dir.path().join(&shot),
            std::path::Path::new(&dir).join(&shot),
        );
    }
}

/// The chat page says how many are in the room, and one fewer when a browser closes.
#[test]
fn the_chat_page_shows_who_is_in_the_room() {
    let site =
        Site::new("spool_dir = \"@SPOOL@\"\nopen_channels = [\"chat\"]\nheartbeat_secs = 2\n");
    let apache = Server::apache(&site);
    let url = format!("http://127.0.0.1:{}/chat.html", apache.port);
    let alice = Browser::start();
    let bob = Browser::start();
    alice.open(&url);
    bob.open(&url);
    let here = |b: &Browser| b.eval("return document.getElementById('here').textContent;");
    wait_for(Duration::from_secs(20), "alice's page to count two", || {
        (here(&alice) == json!("2 connections in the room")).then_some(())
    });
    // Bob's browser goes; his stream ends at its next heartbeat's write.
    drop(bob);
    wait_for(Duration::from_secs(20), "alice's page to count one", || {
        (here(&alice) == json!("1 connection in the room")).then_some(())
    });
}

// Chromium over HTTP/2 (HTTPS, h2 to both servers).

/// The client ports of the connections that the running processes of `program` serve, from
/// the `REMOTE_PORT` each got from the server.
fn remote_ports(program: &std::path::Path) -> Vec<String> {
    pids_of(program)
        .into_iter()
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/environ")).ok())
        .filter_map(|environ| {
            environ.split(|b| *b == 0).find_map(|var| {
                var.strip_prefix(b"REMOTE_PORT=")
                    .map(|port| String::from_utf8_lossy(port).into_owned())
            })
        })
        .collect()
}

/// What the page loaded over which protocol, from the Resource Timing entries (a stream appears
/// there only once it ends, so this covers the page, its style sheet and the JSON polls).
const PROTOCOLS: &str = r#"
    return performance.getEntriesByType("navigation")
        .concat(performance.getEntriesByType("resource"))
        .map(function (e) { return e.nextHopProtocol + " " + e.name; });
"#;

/// clock.html over HTTPS with HTTP/2: every streamed pane changes, everything the page loaded
/// came over h2, and all its streams share one connection.
fn clock_page_over_h2(server: &Server, site: &Site, program: &str) {
    let port = server.tls_port.unwrap();
    let browser = Browser::start_with(&["--ignore-certificate-errors"]);
    browser.open(&format!("https://127.0.0.1:{port}/clock.html"));
    let what = format!("{} clock.html over h2", server.name);
    let first = clock_panes_shown(&browser, &what);
    clock_panes_changed(&browser, &what, &first);
    // Chromium lists a multipart `<img>` after its first part, with no protocol yet.
    let protocols: Vec<String> = browser
        .eval(PROTOCOLS)
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_owned))
        .filter(|p| !p.starts_with(' '))
        .collect();
    assert!(
        protocols.len() >= 3 && protocols.iter().all(|p| p.starts_with("h2 ")),
        "{what}: {protocols:?}"
    );
    // The streams run the program named `program` (under Apache, the parsed-header name), all
    // for the same client port: one connection. (Chromium may hold a spare connection open too.)
    let mut ports = remote_ports(&site.program(program));
    assert!(
        ports.len() >= 5,
        "{what}: five streams of {program}: {ports:?}"
    );
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 1, "{what}: the streams' client ports");
}

#[test]
fn chromium_apache_clock_page_over_h2() {
    let site = Site::new("");
    let apache = Server::apache_tls(&site);
    clock_page_over_h2(&apache, &site, "clock");
    assert!(pids_of(&site.program("nph-clock")).is_empty());
}

#[test]
fn chromium_lighttpd_clock_page_over_h2() {
    let site = Site::new("");
    let lighttpd = Server::lighttpd_tls(&site);
    clock_page_over_h2(&lighttpd, &site, "nph-clock");
}

/// webcam.html over HTTPS with HTTP/2 from Apache, fed by the camera simulator: the live
/// `<img>` changes.
#[test]
fn chromium_apache_webcam_page_over_h2() {
    use crate::browser::{Browser, READ_WEBCAM_PAGE};
    let site = Site::new("[cameras]\ndefault = \"@CAMS@/cam.jpg\"\n");
    let apache = Server::apache_tls(&site);
    let mut sim = crate::browser::camera_simulator(&site);
    let port = apache.tls_port.unwrap();
    let browser = Browser::start_with(&["--ignore-certificate-errors"]);
    browser.open(&format!("https://127.0.0.1:{port}/webcam.html"));
    let first = wait_for(Duration::from_secs(20), "the live image", || {
        let v = browser.eval(READ_WEBCAM_PAGE);
        (!v.is_null()).then_some(v)
    });
    assert_eq!(first["width"].as_u64(), Some(320));
    wait_for(Duration::from_secs(20), "the live image to change", || {
        let v = browser.eval(READ_WEBCAM_PAGE);
        (v["hash"] != first["hash"]).then_some(())
    });
    assert!(
        !pids_of(&site.program("webcam")).is_empty(),
        "the parsed-header webcam streams"
    );
    let _ = sim.kill();
    let _ = sim.wait();
}

/// Two chat pages over HTTPS with HTTP/2 from Apache, one long-polling and one on SSE: a line
/// typed in one appears in the other, both ways.
#[test]
fn chromium_apache_chat_over_h2() {
    use crate::browser::{Browser, CHAT_LINES};
    use serde_json::json;
    let site = Site::new("spool_dir = \"@SPOOL@\"\nopen_channels = [\"chat\"]\n");
    let apache = Server::apache_tls(&site);
    let url = format!("https://127.0.0.1:{}/chat.html", apache.tls_port.unwrap());
    let alice = Browser::start_with(&["--ignore-certificate-errors"]);
    let bob = Browser::start_with(&["--ignore-certificate-errors"]);
    say_hello_bob(&alice, &bob, &url);
    wait_for(Duration::from_secs(15), "bob to see alice's line", || {
        (bob.eval(CHAT_LINES) == json!(["hello bob", "imgs:0"])).then_some(())
    });
    bob.type_into("#text", "hello alice");
    bob.click("#send button");
    for (who, page) in [("alice", &alice), ("bob", &bob)] {
        wait_for(
            Duration::from_secs(15),
            &format!("{who} to see both lines"),
            || {
                (page.eval(CHAT_LINES) == json!(["hello bob", "hello alice", "imgs:0"]))
                    .then_some(())
            },
        );
    }
    assert!(
        pids_of(&site.program("nph-longpoll")).is_empty(),
        "no nph- program over HTTP/2"
    );
}
