//! The Mercure hub (`nph-mercure`): every rule of the protocol through the CGI harness, then
//! through real Apache and lighttpd with the Symfony Mercure component as the publisher
//! ([`served`]).

mod browser;
pub mod served;
mod subscriptions;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub use crate::harness::{Cgi, CgiRequest, split_head};
use crate::util::bin;

pub const T: Duration = Duration::from_secs(20);
pub const SECRET: &str = "a-mercure-hub-secret-of-more-than-32-bytes";

/// A token signed with [`SECRET`] carrying `claims`.
pub fn jwt(claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// A publisher's token for `selectors`, with no `exp`, as Mercure tokens often are.
pub fn publisher(selectors: &[&str]) -> String {
    jwt(json!({ "mercure": { "publish": selectors } }))
}

/// A subscriber's token for the private updates of `selectors`.
pub fn subscriber(selectors: &[&str]) -> String {
    jwt(json!({ "mercure": { "subscribe": selectors } }))
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// One event as a client reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ev {
    pub id: Option<String>,
    pub kind: Option<String>,
    pub retry: Option<String>,
    pub data: String,
}

/// The events (not comments, not a lone `retry:`) in an event-stream body.
pub fn events(body: &[u8]) -> Vec<Ev> {
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut ev = Ev::default();
        let mut data: Vec<&str> = Vec::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id: ") {
                ev.id = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("event: ") {
                ev.kind = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("retry: ") {
                ev.retry = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push(v);
            }
        }
        if ev.id.is_some() || !data.is_empty() {
            ev.data = data.join("\n");
            out.push(ev);
        }
    }
    out
}

/// A hub: a spool and a config with the hub's keys.
pub struct Hub {
    _dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Hub {
    pub fn new(extra: &str) -> Hub {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).unwrap();
        let config = dir.path().join("serverpush.toml");
        let text = format!(
            "spool_dir = \"{}\"\njwt_secret = \"{SECRET}\"\nheartbeat_secs = 1\n{extra}\n",
            spool.display()
        );
        let text = crate::fixtures::stream_cap_for_tests(&text, &dir.path().join("streams"));
        std::fs::write(&config, text).unwrap();
        Hub { _dir: dir, config }
    }

    fn request<'a>(&'a self, method: &'a str, query: &'a str) -> CgiRequest<'a> {
        let mut req = CgiRequest::get("nph-mercure", query);
        req.method = method;
        req.config = Some(&self.config);
        req
    }

    /// Publishes `form` with `token` (as a bearer) and `vars`; the status, head and body.
    pub fn post(
        &self,
        token: Option<&str>,
        form: &str,
        vars: &[(&str, &str)],
    ) -> (u16, String, String) {
        let mut req = self.request("POST", "");
        req.body = form.as_bytes();
        req = req.var("CONTENT_TYPE", "application/x-www-form-urlencoded");
        let bearer = token.map(|t| format!("Bearer {t}"));
        if let Some(b) = &bearer {
            req = req.var("HTTP_AUTHORIZATION", b.as_str());
        }
        for (k, v) in vars {
            req = req.var(k, *v);
        }
        whole(&req)
    }

    /// Publishes `form` with a token for every topic; the update's id.
    pub fn publish(&self, form: &str) -> String {
        let (status, head, body) = self.post(Some(&publisher(&["*"])), form, &[]);
        assert_eq!(status, 200, "{head}\n{body}");
        body
    }

    /// Starts a subscription to `query` with `vars` (a token in `HTTP_AUTHORIZATION`, …).
    pub fn subscribe(&self, query: &str, vars: &[(&str, String)]) -> Cgi {
        let mut req = self.request("GET", query);
        for (k, v) in vars {
            req = req.var(k, v.as_str());
        }
        let mut cgi = req.spawn(&bin("nph-mercure"));
        cgi.read_until_count(b"\r\n\r\n", 1, T);
        cgi
    }

    /// A whole answer to a `method` request (a refusal, a preflight).
    pub fn answer(
        &self,
        method: &str,
        query: &str,
        vars: &[(&str, &str)],
    ) -> (u16, String, String) {
        let mut req = self.request(method, query);
        for (k, v) in vars {
            req = req.var(k, *v);
        }
        whole(&req)
    }
}

/// Runs `req` to its end: the answer's status, head and body.
fn whole(req: &CgiRequest<'_>) -> (u16, String, String) {
    let (_, out, _) = req.spawn(&bin("nph-mercure")).finish(T);
    let (head, body) = split_head(&out);
    (
        status_of(&head),
        head,
        String::from_utf8_lossy(body).into_owned(),
    )
}

/// The value of header `name` in a head's text, any case.
fn header_of(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// The `Last-Event-ID` a subscription's head carries.
fn resumed_from(cgi: &Cgi) -> Option<String> {
    header_of(&split_head(&cgi.out).0, "last-event-id")
}

fn status_of(head: &str) -> u16 {
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub fn bearer(token: &str) -> (&'static str, String) {
    ("HTTP_AUTHORIZATION", format!("Bearer {token}"))
}

/// Reads `cgi` until it has sent `count` events; returns them.
fn read_events(cgi: &mut Cgi, count: usize) -> Vec<Ev> {
    cgi.read_until_count(b"\nid: ", count, T);
    let (_, body) = split_head(&cgi.out);
    events(body)
}

/// Reads `cgi` until it has sent `count` events and a heartbeat after them, so no other event
/// was on its way; returns the events.
fn only_events(cgi: &mut Cgi, count: usize) -> Vec<Ev> {
    let before = read_events(cgi, count);
    let beats = crate::client::occurrences(&cgi.out, b": heartbeat");
    cgi.read_until_count(b": heartbeat", beats + 1, T);
    let (_, body) = split_head(&cgi.out);
    let after = events(body);
    assert_eq!(after, before, "no other event");
    after
}

fn data(events: &[Ev]) -> Vec<&str> {
    events.iter().map(|e| e.data.as_str()).collect()
}

#[test]
fn selectors_exact_star_templates_and_alternates() {
    let hub = Hub::new("mercure_anonymous = true");
    let mut books = hub.subscribe(
        "topic=https%3A%2F%2Fex.com%2Fbooks%2F%7Bid%7D&topic=urn%3Anews",
        &[],
    );
    let mut all = hub.subscribe("topic=*", &[]);
    let mut one = hub.subscribe("topic=https%3A%2F%2Fex.com%2Fbooks%2F1", &[]);
    for cgi in [&mut books, &mut all, &mut one] {
        crate::util::wait_for(T, "the subscriber to watch", || {
            cgi.watching().then_some(())
        });
    }
    hub.publish("topic=https%3A%2F%2Fex.com%2Fbooks%2F1&data=book1");
    hub.publish("topic=https%3A%2F%2Fex.com%2Fbooks%2F1%2Freviews&data=review");
    hub.publish("topic=https%3A%2F%2Fex.com%2Fusers%2F1&topic=urn%3Anews&data=alternate");
    hub.publish("topic=https%3A%2F%2Fex.com%2Fusers%2F2&data=user");
    assert_eq!(data(&only_events(&mut books, 2)), ["book1", "alternate"]);
    assert_eq!(
        data(&only_events(&mut all, 4)),
        ["book1", "review", "alternate", "user"]
    );
    assert_eq!(data(&only_events(&mut one, 1)), ["book1"]);
}

#[test]
fn private_updates_go_only_to_tokens_that_grant_a_topic() {
    let hub = Hub::new("mercure_anonymous = true");
    let granted = subscriber(&["https://ex.com/books/{id}"]);
    let other = subscriber(&["https://ex.com/users/{id}"]);
    // Asks for everything with a token that grants little: private updates of other topics
    // are still not its.
    let mut wide = hub.subscribe("topic=*", &[bearer(&other)]);
    let mut reader = hub.subscribe("topic=*", &[bearer(&granted)]);
    let mut anonymous = hub.subscribe("topic=*", &[]);
    for cgi in [&mut wide, &mut reader, &mut anonymous] {
        crate::util::wait_for(T, "the subscriber to watch", || {
            cgi.watching().then_some(())
        });
    }
    hub.publish("topic=https%3A%2F%2Fex.com%2Fbooks%2F1&data=secret&private=on");
    hub.publish("topic=urn%3Aother&topic=https%3A%2F%2Fex.com%2Fbooks%2F2&data=secret-alt&private");
    hub.publish("topic=https%3A%2F%2Fex.com%2Fbooks%2F3&data=public");
    assert_eq!(
        data(&only_events(&mut reader, 3)),
        ["secret", "secret-alt", "public"]
    );
    assert_eq!(data(&only_events(&mut wide, 1)), ["public"]);
    assert_eq!(data(&only_events(&mut anonymous, 1)), ["public"]);
}

#[test]
fn anonymous_subscribers_only_when_the_site_says_so() {
    let closed = Hub::new("");
    let (status, head, _) = closed.answer("GET", "topic=*", &[]);
    assert_eq!(status, 401, "{head}");
    assert!(
        header_of(&head, "www-authenticate").is_some_and(|v| v.starts_with("Bearer")),
        "{head}"
    );
    // Any valid token opens it: public updates for everyone who has one.
    let mut cgi = closed.subscribe("topic=*", &[bearer(&subscriber(&[]))]);
    crate::util::wait_for(T, "the subscriber to watch", || {
        cgi.watching().then_some(())
    });
    closed.publish("topic=t&data=seen");
    assert_eq!(data(&read_events(&mut cgi, 1)), ["seen"]);
    let open = Hub::new("mercure_anonymous = true");
    let (status, head, _) = open.answer("HEAD", "topic=*", &[]);
    assert_eq!(status, 200, "{head}");
}

#[test]
fn tokens_from_every_source() {
    let hub = Hub::new("");
    let token = subscriber(&["urn:p"]);
    let query = format!("topic=urn%3Ap&authorization={token}");
    let cookie = format!("other=1; mercureAuthorization={token}");
    let mut from_header = hub.subscribe("topic=urn%3Ap", &[bearer(&token)]);
    let mut from_query = hub.subscribe(&query, &[]);
    let mut from_cookie = hub.subscribe("topic=urn%3Ap", &[("HTTP_COOKIE", cookie.clone())]);
    for cgi in [&mut from_header, &mut from_query, &mut from_cookie] {
        crate::util::wait_for(T, "the subscriber to watch", || {
            cgi.watching().then_some(())
        });
    }
    hub.publish("topic=urn%3Ap&data=private&private=on");
    for cgi in [&mut from_header, &mut from_query, &mut from_cookie] {
        assert_eq!(data(&read_events(cgi, 1)), ["private"]);
    }
    // A token that does not verify is 401, wherever it came from; never quoted in the answer.
    let forged = format!("{}x", &token[..token.len() - 1]);
    for (name, value) in [
        ("HTTP_AUTHORIZATION", format!("Bearer {forged}")),
        ("HTTP_COOKIE", format!("mercureAuthorization={forged}")),
    ] {
        let (status, head, body) = hub.answer("GET", "topic=*", &[(name, &value)]);
        assert_eq!(status, 401, "{name}: {head}");
        assert!(!body.contains(&forged) && !head.contains(&forged));
    }
    let (status, _, _) = hub.answer("GET", &format!("topic=*&authorization={forged}"), &[]);
    assert_eq!(status, 401);
    // The Symfony component's tokens: `exp` with a fraction of a second, an audience.
    let symfony = jwt(json!({
        "exp": now() as f64 + 3600.25,
        "aud": ["https://app.example"],
        "mercure": { "publish": ["urn:p"], "subscribe": ["urn:p"] }
    }));
    let (status, head, body) = hub.post(Some(&symfony), "topic=urn%3Ap&data=x", &[]);
    assert_eq!(status, 200, "{head}\n{body}");
    let cgi = hub.subscribe("topic=urn%3Ap", &[bearer(&symfony)]);
    assert_eq!(status_of(&split_head(&cgi.out).0), 200);
    // Past its exp, within the leeway: a stream would end at once, so it is refused.
    let ending = jwt(json!({ "exp": now() - 5, "mercure": { "subscribe": ["*"] } }));
    let (status, _, body) = hub.answer(
        "GET",
        "topic=*",
        &[("HTTP_AUTHORIZATION", &format!("Bearer {ending}"))],
    );
    assert_eq!(status, 401, "{body}");
}

#[test]
fn publishing_needs_a_token_that_grants_every_topic() {
    let hub = Hub::new("allowed_origins = [\"https://app.example\"]");
    let form = "topic=https%3A%2F%2Fex.com%2Fbooks%2F1&topic=urn%3Aalt&data=x";
    let (status, head, _) = hub.post(None, form, &[]);
    assert_eq!(status, 401, "{head}");
    let books_only = publisher(&["https://ex.com/books/{id}"]);
    let (status, _, body) = hub.post(Some(&books_only), form, &[]);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("urn:alt"), "{body}");
    let (status, _, _) = hub.post(Some(&subscriber(&["*"])), form, &[]);
    assert_eq!(status, 403, "a subscribe claim does not publish");
    let (status, head, id) = hub.post(
        Some(&publisher(&["https://ex.com/books/{id}", "urn:alt"])),
        form,
        &[],
    );
    assert_eq!(status, 200, "{head}");
    assert!(
        header_of(&head, "content-type").is_some_and(|t| t.starts_with("text/plain")),
        "{head}"
    );
    assert!(id.starts_with("urn:serverpush:"), "{id}");
    // The cookie, which a browser sends on its own, needs an allowed origin.
    let cookie = format!("mercureAuthorization={}", publisher(&["*"]));
    let mut req = hub.request("POST", "");
    req.body = b"topic=t&data=from-a-page";
    let req = req
        .var("CONTENT_TYPE", "application/x-www-form-urlencoded")
        .var("HTTP_COOKIE", cookie.as_str());
    let foreign = req.var("HTTP_ORIGIN", "https://evil.example");
    assert_eq!(whole(&foreign).0, 403);
    let (status, _, _) = hub.post(
        None,
        "topic=t&data=from-a-page",
        &[
            ("HTTP_COOKIE", &cookie),
            ("HTTP_ORIGIN", "https://app.example"),
        ],
    );
    assert_eq!(status, 200);
}

#[test]
fn history_earliest_resumption_and_the_last_event_id_header() {
    let hub = Hub::new("mercure_anonymous = true\nretention_messages = 4");
    let first = hub.publish("topic=t&data=1");
    let second = hub.publish("topic=t&data=2&id=own-2");
    // A publisher repeating its id (a retried job) is answered alike and stores nothing.
    assert_eq!(hub.publish("topic=t&data=2-again&id=own-2"), "own-2");
    hub.publish("topic=t&data=3");
    let fourth = hub.publish("topic=t&data=4");
    assert_eq!(second, "own-2", "a publisher's id is kept");

    let mut earliest = hub.subscribe("topic=t&lastEventID=earliest", &[]);
    assert_eq!(resumed_from(&earliest).as_deref(), Some("earliest"));
    let all = only_events(&mut earliest, 4);
    assert_eq!(data(&all), ["1", "2", "3", "4"]);
    assert_eq!(all[0].id.as_deref(), Some(first.as_str()));
    assert_eq!(all[1].id.as_deref(), Some("own-2"));

    // From a minted id, from a publisher's id; the header wins over the query parameter.
    let mut minted = hub.subscribe(&format!("topic=t&lastEventID={first}"), &[]);
    assert_eq!(resumed_from(&minted), Some(first.clone()));
    assert_eq!(data(&only_events(&mut minted, 3)), ["2", "3", "4"]);
    let mut own = hub.subscribe(
        "topic=t&lastEventID=earliest",
        &[("HTTP_LAST_EVENT_ID", "own-2".to_owned())],
    );
    assert_eq!(resumed_from(&own).as_deref(), Some("own-2"));
    assert_eq!(data(&only_events(&mut own, 2)), ["3", "4"]);
    // Up to date: nothing from history, the id repeated.
    let mut current = hub.subscribe("topic=t", &[("HTTP_LAST_EVENT_ID", fourth.clone())]);
    crate::util::wait_for(T, "the subscriber to watch", || {
        current.watching().then_some(())
    });
    hub.publish("topic=t&data=5");
    assert_eq!(data(&only_events(&mut current, 1)), ["5"]);

    // Retention keeps 4 (2..5): the update after the first is still there, so resuming from
    // the first loses nothing. Once 2 is dropped too, the first's id, or one never seen,
    // resumes from the oldest stored and says earliest.
    let mut covered = hub.subscribe("topic=t", &[("HTTP_LAST_EVENT_ID", first.clone())]);
    assert_eq!(resumed_from(&covered), Some(first.clone()));
    assert_eq!(data(&only_events(&mut covered, 4)), ["2", "3", "4", "5"]);
    hub.publish("topic=t&data=6");
    for gone in [first.as_str(), "never-published"] {
        let mut cgi = hub.subscribe("topic=t", &[("HTTP_LAST_EVENT_ID", gone.to_owned())]);
        assert_eq!(resumed_from(&cgi).as_deref(), Some("earliest"), "{gone}");
        assert_eq!(
            data(&only_events(&mut cgi, 4)),
            ["3", "4", "5", "6"],
            "{gone}"
        );
    }
    // No id asked: no header, new updates only.
    let mut fresh = hub.subscribe("topic=t", &[]);
    assert_eq!(resumed_from(&fresh), None);
    crate::util::wait_for(T, "the subscriber to watch", || {
        fresh.watching().then_some(())
    });
    hub.publish("topic=t&data=7");
    assert_eq!(data(&only_events(&mut fresh, 1)), ["7"]);
}

#[test]
fn events_carry_type_retry_ids_and_multiline_data() {
    let hub = Hub::new("mercure_anonymous = true");
    hub.publish("topic=t&data=a+b%0Aid%3A+fake%0D%0Ac&type=change&retry=1500&id=custom-1");
    let mut cgi = hub.subscribe("topic=t&lastEventID=earliest", &[]);
    let got = only_events(&mut cgi, 1);
    assert_eq!(
        got,
        [Ev {
            id: Some("custom-1".into()),
            kind: Some("change".into()),
            retry: Some("1500".into()),
            data: "a b\nid: fake\nc".into(),
        }]
    );
    let (_, body) = split_head(&cgi.out);
    let text = String::from_utf8_lossy(body);
    assert!(
        text.contains("data: a b\ndata: id: fake\ndata: c\n"),
        "a line that looks like an id stays data: {text:?}"
    );
    assert!(text.starts_with("retry: "), "{text:?}");
}

#[test]
fn bad_requests_are_400_and_change_nothing() {
    let hub = Hub::new("mercure_anonymous = true");
    let token = publisher(&["*"]);
    let many = "topic=t&".repeat(5000) + "data=x";
    let huge = format!("topic={}&data=x", "a".repeat(3000));
    for form in [
        "data=no-topic",
        many.as_str(),
        huge.as_str(),
        "topic=t&retry=soon",
        "topic=t&id=%23frag",
        "topic=t&type=a%0Ab",
        "topic=%0A",
    ] {
        let (status, head, body) = hub.post(Some(&token), form, &[]);
        assert_eq!(status, 400, "{form:.60}: {head}\n{body}");
    }
    let mut req = hub.request("POST", "");
    let bearer = format!("Bearer {token}");
    req.body = b"topic=t&data=x";
    let req = req
        .var("CONTENT_TYPE", "application/json")
        .var("HTTP_AUTHORIZATION", bearer.as_str());
    assert_eq!(whole(&req).0, 415);
    let selectors = "topic=*&".repeat(100);
    let long_id = format!("topic=*&lastEventID={}", "x".repeat(1025));
    for query in [
        "",
        "lastEventID=earliest",
        "topic=*&lastEventID=a%0Ab",
        "topic=*&lastEventID=caf%C3%A9",
        long_id.as_str(),
        "topic=https%3A%2F%2Fex.com%2F%7Bid",
        "topic=%7B%3Dx%7D",
        selectors.as_str(),
    ] {
        let (status, head, body) = hub.answer("GET", query, &[]);
        assert_eq!(status, 400, "{query:.60}: {head}\n{body}");
        assert!(body.ends_with('\n') && !body.is_empty());
    }
    // Nothing was stored: a subscriber from the start sees none of it.
    hub.publish("topic=t&data=only");
    let mut cgi = hub.subscribe("topic=*&lastEventID=earliest", &[]);
    assert_eq!(data(&only_events(&mut cgi, 1)), ["only"]);
    // Unicode topics and selectors are topics like any other.
    hub.publish("topic=https%3A%2F%2Fex.com%2F%C3%A9t%C3%A9%2F1&data=unicode");
    let mut cgi = hub.subscribe(
        "topic=https%3A%2F%2Fex.com%2F%C3%A9t%C3%A9%2F%7B%2Bx%7D&lastEventID=earliest",
        &[],
    );
    assert_eq!(data(&only_events(&mut cgi, 1)), ["unicode"]);
}

#[test]
fn cors_preflight_and_answers_for_the_listed_origins() {
    let hub = Hub::new("mercure_anonymous = true\ncors_origins = [\"https://app.example\"]");
    let (status, head, _) = hub.answer(
        "OPTIONS",
        "",
        &[
            ("HTTP_ORIGIN", "https://app.example"),
            ("HTTP_ACCESS_CONTROL_REQUEST_METHOD", "GET"),
            ("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "last-event-id"),
        ],
    );
    assert_eq!(status, 204, "{head}");
    for (name, value) in [
        ("access-control-allow-origin", "https://app.example"),
        ("access-control-allow-credentials", "true"),
        ("access-control-allow-methods", "GET, POST, OPTIONS"),
        (
            "access-control-allow-headers",
            "Authorization, Last-Event-ID, Cache-Control, Content-Type",
        ),
    ] {
        assert_eq!(header_of(&head, name).as_deref(), Some(value), "{head}");
    }
    let (status, head, _) = hub.answer("OPTIONS", "", &[("HTTP_ORIGIN", "https://evil.example")]);
    assert_eq!(status, 204);
    assert_eq!(
        header_of(&head, "access-control-allow-origin"),
        None,
        "{head}"
    );
    let cgi = hub.subscribe(
        "topic=*",
        &[("HTTP_ORIGIN", "https://app.example".to_owned())],
    );
    let head = split_head(&cgi.out).0;
    assert_eq!(
        header_of(&head, "access-control-allow-origin").as_deref(),
        Some("https://app.example"),
        "{head}"
    );
    assert_eq!(
        header_of(&head, "access-control-expose-headers").as_deref(),
        Some("Last-Event-ID"),
        "{head}"
    );
}

#[test]
fn a_stream_ends_when_its_token_expires() {
    let hub = Hub::new("");
    let token = jwt(json!({ "exp": now() + 2, "mercure": { "subscribe": ["*"] } }));
    let cgi = hub.subscribe("topic=*", &[bearer(&token)]);
    let (status, _, _) = cgi.finish(T);
    assert!(status.success());
    let expired = jwt(json!({ "exp": now() - 120, "mercure": { "subscribe": ["*"] } }));
    let (status, _, _) = hub.answer(
        "GET",
        "topic=*",
        &[("HTTP_AUTHORIZATION", &format!("Bearer {expired}"))],
    );
    assert_eq!(status, 401);
}

/// The hub's log is a store channel that no channel request can name: its private updates are
/// never served by `nph-longpoll`, however it is asked.
#[test]
fn no_channel_request_reaches_the_hubs_log() {
    let hub = Hub::new("mercure_anonymous = true\nopen_channels = [\"open\"]");
    hub.publish("topic=t&data=private-data&private=on");
    for (query, path) in [
        ("channel=%2Bmercure&since=0&timeout=0", None),
        ("channel=%2Bmercure&transport=sse", None),
        ("since=0&timeout=0", Some("/+mercure")),
        ("channel=..%2F%2Bmercure&since=0&timeout=0", None),
    ] {
        let mut req = CgiRequest::get("nph-longpoll", query);
        req.config = Some(&hub.config);
        if let Some(path) = path {
            req = req.var("PATH_INFO", path);
        }
        let (_, out, _) = req.spawn(&bin("nph-longpoll")).finish(T);
        let (head, body) = split_head(&out);
        assert_eq!(status_of(&head), 400, "{query} {path:?}: {head}");
        assert!(!String::from_utf8_lossy(body).contains("private-data"));
    }
}
