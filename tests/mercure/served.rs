//! The hub at `/.well-known/mercure` behind real Apache and lighttpd: the Symfony Mercure
//! component (Debian's `php-symfony-mercure`) publishes public and private updates, and
//! subscribers receive them with the ids the component was given; two Apache hosts sharing one
//! Redis are one hub.

use std::process::Command;

use super::{Ev, SECRET, events, publisher, subscriber};
use crate::client::{Response, request};
use crate::fixtures::{Redis, Server, Site};
use crate::util::{repo, require_tool};

use super::T;

pub fn site(extra: &str) -> Site {
    Site::new(&format!(
        "spool_dir = \"@SPOOL@\"\njwt_secret = \"{SECRET}\"\nmercure_anonymous = true\nheartbeat_secs = 1\n{extra}\n"
    ))
}

/// Publishes the Symfony script's three updates to the hub of the server on `port`; their ids.
fn symfony_publish(port: u16) -> Vec<String> {
    require_tool("/usr/bin/php", "php-cli");
    require_tool(
        "/usr/share/php/Symfony/Component/Mercure/Hub.php",
        "php-symfony-mercure",
    );
    let out = Command::new("/usr/bin/php")
        .arg(repo().join("tests/mercure/symfony-publish.php"))
        .arg(format!("http://127.0.0.1:{port}/.well-known/mercure"))
        .arg(publisher(&["https://example.com/{+path}"]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "php: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    ids
}

/// Publishes `form` over HTTP to the hub of the server on `port`, with a token for every topic;
/// the update's id.
pub fn post(port: u16, form: &str) -> String {
    let length = format!("Content-Length: {}", form.len());
    let auth = format!("Authorization: Bearer {}", publisher(&["*"]));
    let body = format!("\r\n{form}");
    let mut r = request(
        port,
        "POST",
        "/.well-known/mercure",
        "HTTP/1.1",
        &[
            &length,
            &auth,
            "Content-Type: application/x-www-form-urlencoded",
            "Connection: close",
            &body,
        ],
    );
    assert_eq!(r.status(), 200, "{}", r.head_text());
    r.read_complete(T);
    String::from_utf8_lossy(&r.body).into_owned()
}

/// Opens a subscription on the hub of the server on `port`, with `headers`.
fn subscribe(port: u16, query: &str, headers: &[&str]) -> Response {
    let r = request(
        port,
        "GET",
        &format!("/.well-known/mercure?{query}"),
        "HTTP/1.1",
        headers,
    );
    assert_eq!(r.status(), 200, "{}", r.head_text());
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream")),
        "{}",
        r.head_text()
    );
    r
}

/// Reads `r` until it holds `count` events; returns them.
fn read(r: &mut Response, count: usize) -> Vec<Ev> {
    r.read_until_count(b"\nid: ", count, T);
    events(&r.body)
}

const BOOKS: &str = "topic=https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D";

/// What a Symfony application and its pages see through `server`.
fn symfony_application_through(server: &Server) {
    let reader = subscriber(&["https://example.com/books/{id}"]);
    let auth = format!("Authorization: Bearer {reader}");
    // Connected before the publishes: the head came once the stream watched the log.
    let mut live_public = subscribe(server.port, BOOKS, &[]);
    let mut live_private = subscribe(server.port, BOOKS, &[&auth]);
    let ids = symfony_publish(server.port);
    let public = read(&mut live_public, 2);
    assert_eq!(
        public
            .iter()
            .map(|e| (e.id.clone().unwrap_or_default(), e.data.clone()))
            .collect::<Vec<_>>(),
        [
            (ids[0].clone(), r#"{"title":"a public book"}"#.to_owned()),
            (ids[2].clone(), "two\nlines".to_owned()),
        ],
        "{}",
        server.name
    );
    assert_eq!(ids[2], "book-3-v1", "the component's own id is kept");
    assert_eq!(public[1].kind.as_deref(), Some("change"));
    assert_eq!(public[1].retry.as_deref(), Some("1500"));
    let private = read(&mut live_private, 3);
    assert_eq!(
        private[1].data,
        "a private book",
        "{}: {private:?} from {:?}",
        server.name,
        String::from_utf8_lossy(&live_private.body)
    );
    assert_eq!(private[1].id.as_deref(), Some(ids[1].as_str()));
    // A page that reconnects with the first id gets the rest, once, and the header says where
    // it resumed.
    let mut resumed = subscribe(
        server.port,
        BOOKS,
        &[&auth, &format!("Last-Event-ID: {}", ids[0])],
    );
    assert_eq!(resumed.header("last-event-id"), Some(ids[0].as_str()));
    let rest = read(&mut resumed, 2);
    assert_eq!(
        rest.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(),
        ["a private book", "two\nlines"]
    );
    // The alternate topic matches too; a selector for other topics gets nothing of these.
    let mut alternate = subscribe(
        server.port,
        "topic=https%3A%2F%2Fexample.com%2Falt%2F%7Bid%7D&lastEventID=earliest",
        &[&format!("Authorization: Bearer {}", subscriber(&["*"]))],
    );
    assert_eq!(read(&mut alternate, 1)[0].data, "a private book");
    live_public.close();
    live_private.close();
    resumed.close();
    alternate.close();
}

#[test]
fn a_symfony_application_uses_the_hub_through_apache() {
    let site = site("");
    let apache = Server::apache(&site);
    symfony_application_through(&apache);
}

#[test]
fn a_symfony_application_uses_the_hub_through_lighttpd() {
    let site = site("");
    let lighttpd = Server::lighttpd(&site);
    symfony_application_through(&lighttpd);
}

#[test]
fn a_symfony_application_uses_the_hub_through_nginx() {
    let site = site("");
    let nginx = Server::nginx(&site);
    symfony_application_through(&nginx);
}

/// Two Apache hosts sharing one Redis are one hub: an update published on one reaches a
/// subscriber of the other, and a subscriber of the other resumes from an id the first minted.
#[test]
fn two_hosts_over_redis_are_one_hub() {
    let redis = Redis::start();
    let config = format!(
        "store = \"redis\"\nredis_url = \"{}\"\nredis_key_prefix = \"mercure-test:\"\nmercure_subscriptions = true",
        redis.url()
    );
    let (site_a, site_b) = (site(&config), site(&config));
    let (a, b) = (Server::apache(&site_a), Server::apache(&site_b));
    let mut on_b = subscribe(b.port, BOOKS, &[]);
    let ids = symfony_publish(a.port);
    let got = read(&mut on_b, 2);
    assert_eq!(got[0].id.as_deref(), Some(ids[0].as_str()));
    let mut resumed_on_b = subscribe(b.port, BOOKS, &[&format!("Last-Event-ID: {}", ids[0])]);
    assert_eq!(resumed_on_b.header("last-event-id"), Some(ids[0].as_str()));
    let rest = read(&mut resumed_on_b, 1);
    assert_eq!(rest[0].id.as_deref(), Some("book-3-v1"));
    // A's subscriptions API lists B's two subscriptions.
    let auth = format!(
        "Authorization: Bearer {}",
        subscriber(&["/.well-known/mercure/subscriptions{/topic}{/subscriber}"])
    );
    let mut listed = request(
        a.port,
        "GET",
        "/.well-known/mercure/subscriptions",
        "HTTP/1.1",
        &[&auth, "Connection: close"],
    );
    listed.read_complete(T);
    let answer: serde_json::Value = serde_json::from_slice(&listed.body).unwrap_or_default();
    assert_eq!(
        answer["subscriptions"].as_array().map(Vec::len),
        Some(2),
        "{answer}"
    );
    on_b.close();
    resumed_on_b.close();
}

/// The hub through `server` over `protocol`: Apache reaches the parsed-header name over
/// HTTP/2, lighttpd frames the NPH head itself, and the stream is live in every case.
fn hub_over(server: &Server, protocol: crate::curl::Protocol, n: usize) {
    use crate::curl::curl;
    let what = format!("{} {protocol:?} hub", server.name);
    let topic = format!("urn:protocol:{n}");
    let mut sse = curl(
        server,
        protocol,
        &format!("/.well-known/mercure?topic={topic}"),
        &[],
    );
    crate::http2::check_head(&mut sse, server, protocol, &what);
    sse.read_until_count(b"retry: ", 1, T);
    let auth = format!("Authorization: Bearer {}", publisher(&["*"]));
    let mut published = curl(
        server,
        protocol,
        "/.well-known/mercure",
        &[
            "-H",
            &auth,
            "-d",
            &format!("topic={topic}"),
            "-d",
            "data=pushed",
        ],
    );
    published.read_to_end(T);
    assert!(
        published.status_line().contains(" 200"),
        "{what}: {}",
        published.text()
    );
    let text = published.text();
    let id = text
        .rsplit("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_owned();
    sse.read_until_count(b"data: pushed\n", 1, T);
    assert!(
        sse.text().contains(&format!("id: {id}\n")),
        "{what}: {id:?} in {}",
        sse.text()
    );
}

#[test]
fn the_hub_over_http2_and_http11() {
    let site = site("");
    let servers = [Server::apache_tls(&site), Server::lighttpd_tls(&site)];
    for server in &servers {
        for (n, protocol) in crate::curl::Protocol::ALL.into_iter().enumerate() {
            hub_over(server, protocol, n);
        }
    }
    let nginx = Server::nginx_tls(&site);
    for (n, protocol) in crate::http2::NGINX_PROTOCOLS.into_iter().enumerate() {
        hub_over(&nginx, protocol, 10 + n);
    }
}

/// The active subscriptions through `server`: a watcher sees a page's subscription start and,
/// once the page goes, end; the API lists it by its encoded topic and subscriber in between.
fn subscriptions_through(server: &Server) {
    const WATCH: &str =
        "topic=%2F.well-known%2Fmercure%2Fsubscriptions%7B%2Ftopic%7D%7B%2Fsubscriber%7D";
    let watching = subscriber(&["/.well-known/mercure/subscriptions{/topic}{/subscriber}"]);
    let auth = format!("Authorization: Bearer {watching}");
    let mut watcher = subscribe(server.port, WATCH, &[&auth]);
    watcher.read_until_count(b"retry: ", 1, T);
    let page = subscribe(server.port, BOOKS, &[]);
    let started = read(&mut watcher, 1);
    let change: serde_json::Value = serde_json::from_str(&started[0].data).unwrap();
    assert_eq!(change["active"], true, "{}", server.name);
    let id = change["subscriber"].as_str().unwrap().to_owned();
    let get = |path: &str| {
        let mut r = request(
            server.port,
            "GET",
            path,
            "HTTP/1.1",
            &[&auth, "Connection: close"],
        );
        r.read_complete(T);
        let body = String::from_utf8_lossy(&r.body).into_owned();
        (
            r.status(),
            serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default(),
        )
    };
    let to_books =
        "/.well-known/mercure/subscriptions/https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D";
    let (status, listed) = get(to_books);
    assert_eq!(status, 200, "{}: {listed}", server.name);
    assert_eq!(
        listed["subscriptions"][0]["subscriber"],
        id.as_str(),
        "{}: {listed}",
        server.name
    );
    let (status, one) = get(&format!("{to_books}/{}", id.replace(':', "%3A")));
    assert_eq!(
        (status, &one["topic"]),
        (200, &serde_json::json!("https://example.com/books/{id}")),
        "{}",
        server.name
    );
    page.close();
    let ended = read(&mut watcher, 2);
    let change: serde_json::Value = serde_json::from_str(&ended[1].data).unwrap();
    assert_eq!(
        (change["active"].clone(), change["subscriber"].clone()),
        (serde_json::json!(false), serde_json::json!(id)),
        "{}",
        server.name
    );
    watcher.close();
}

#[test]
fn subscriptions_are_told_and_listed_through_apache_lighttpd_and_nginx() {
    // A site each: a watcher's own end, swept later, would reach the next server's watcher.
    for start in [Server::apache, Server::lighttpd, Server::nginx] {
        let site = site("mercure_subscriptions = true");
        subscriptions_through(&start(&site));
    }
}
