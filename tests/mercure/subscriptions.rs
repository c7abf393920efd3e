//! The protocol's active subscriptions (`mercure_subscriptions`) through the CGI harness: the
//! updates a subscription's start and end publish (a SIGKILLed stream's end too), and the
//! `/subscriptions` API, each for the tokens granted its address only.

use serde_json::{Value, json};

use super::{Hub, T, bearer, events, jwt, now, publisher, split_head, subscriber};

const WATCH: &str = "/.well-known/mercure/subscriptions{/topic}{/subscriber}";

/// The subscription updates in what `cgi` sent, as JSON.
fn changes(cgi: &crate::harness::Cgi) -> Vec<Value> {
    events(split_head(&cgi.out).1)
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect()
}

/// Waits until `watcher` has received `count` subscription updates; returns them.
fn wait_changes(watcher: &mut crate::harness::Cgi, count: usize) -> Vec<Value> {
    watcher.read_until_count(b"\nid: ", count, T);
    changes(watcher)
}

/// A `GET` of the API at `path` with `token`: the status and the body as JSON (`Null` when not
/// JSON).
fn api(hub: &Hub, path: &str, token: Option<&str>) -> (u16, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut vars = vec![("PATH_INFO", path)];
    if let Some(a) = &auth {
        vars.push(("HTTP_AUTHORIZATION", a.as_str()));
    }
    let (status, _, body) = hub.answer("GET", "", &vars);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn subscriptions_are_published_as_they_start_and_end_and_listed() {
    let hub = Hub::new("mercure_subscriptions = true\nmercure_anonymous = true");
    let watching = subscriber(&[WATCH]);
    let mut watcher = hub.subscribe(&format!("topic={WATCH}"), &[bearer(&watching)]);

    let alice = jwt(json!({ "mercure": { "subscribe": [], "payload": { "name": "alice" } } }));
    let mut alice_stream = hub.subscribe(
        "topic=https://example.com/books/{id}&topic=https://example.com/chat",
        &[bearer(&alice)],
    );
    let started = wait_changes(&mut watcher, 2);
    let id = started[0]["subscriber"].as_str().unwrap().to_owned();
    assert!(id.starts_with("urn:uuid:"), "{started:?}");
    let topics: Vec<&str> = started
        .iter()
        .map(|c| c["topic"].as_str().unwrap())
        .collect();
    assert_eq!(
        topics,
        ["https://example.com/books/{id}", "https://example.com/chat"]
    );
    for change in &started {
        assert_eq!(change["@context"], "https://mercure.rocks/");
        assert_eq!(change["type"], "Subscription");
        assert_eq!(change["active"], true);
        assert_eq!(change["subscriber"], id.as_str());
        assert_eq!(change["payload"], json!({ "name": "alice" }));
    }
    assert_eq!(
        started[1]["id"],
        format!(
            "/.well-known/mercure/subscriptions/https%3A%2F%2Fexample.com%2Fchat/{}",
            id.replace(':', "%3A")
        )
    );

    // The API: every live subscription (the watcher's own among them), those to a topic, one.
    let (status, all) = api(&hub, "/subscriptions", Some(&watching));
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["type"], "Subscriptions");
    assert!(
        all["lastEventID"]
            .as_str()
            .unwrap()
            .starts_with("urn:serverpush:")
    );
    assert_eq!(all["subscriptions"].as_array().unwrap().len(), 3, "{all}");
    // As Apache and lighttpd hand the path: decoded, but for its slashes.
    let chat = "/subscriptions/https:%2F%2Fexample.com%2Fchat";
    let (status, to_chat) = api(&hub, chat, Some(&watching));
    assert_eq!(status, 200);
    assert_eq!(to_chat["subscriptions"][0]["subscriber"], id.as_str());
    assert_eq!(to_chat["subscriptions"].as_array().unwrap().len(), 1);
    let (status, one) = api(&hub, &format!("{chat}/{id}"), Some(&watching));
    assert_eq!((status, &one["payload"]["name"]), (200, &json!("alice")));
    assert_eq!(one["active"], true);

    // Only for the tokens granted the address asked for.
    assert_eq!(api(&hub, "/subscriptions", None).0, 401);
    let other = subscriber(&["https://example.com/chat"]);
    assert_eq!(api(&hub, "/subscriptions", Some(&other)).0, 403);
    let one_topic = subscriber(&["/.well-known/mercure/subscriptions/{topic}"]);
    assert_eq!(api(&hub, chat, Some(&one_topic)).0, 200);
    assert_eq!(api(&hub, "/subscriptions", Some(&one_topic)).0, 403);
    assert_eq!(
        api(&hub, &format!("{chat}/urn:uuid:0"), Some(&watching)).0,
        404
    );
    // Another path below the hub is the hub, as it always was (here without a topic: 400).
    assert_eq!(api(&hub, "/elsewhere", Some(&watching)).0, 400);
    // Nobody may publish on those topics, whatever the token grants.
    let forged = format!(
        "topic={}&data={{}}&private=on",
        started[0]["id"].as_str().unwrap()
    );
    let (status, _, _) = hub.post(Some(&publisher(&["*"])), &forged, &[]);
    assert_eq!(status, 403);

    // A SIGKILLed stream ends by the next sweep, a heartbeat later.
    alice_stream.signal("KILL");
    alice_stream.wait_exit(T);
    let ended = wait_changes(&mut watcher, 4);
    assert_eq!(
        ended[2..]
            .iter()
            .map(|c| c["active"].clone())
            .collect::<Vec<_>>(),
        [json!(false), json!(false)]
    );
    assert!(ended[2..].iter().all(|c| c["subscriber"] == id.as_str()));
    let (_, all) = api(&hub, "/subscriptions", Some(&watching));
    assert_eq!(all["subscriptions"].as_array().unwrap().len(), 1, "{all}");

    // A stream that ends by itself (its token expires) says so.
    let brief = jwt(json!({ "mercure": { "subscribe": [] }, "exp": now() + 2 }));
    let mut bob = hub.subscribe("topic=https://example.com/chat", &[bearer(&brief)]);
    bob.wait_exit(T);
    let all_changes = wait_changes(&mut watcher, 6);
    assert_eq!(
        all_changes[4..]
            .iter()
            .map(|c| c["active"].clone())
            .collect::<Vec<_>>(),
        [json!(true), json!(false)]
    );
}

#[test]
fn without_the_setting_nothing_is_published_or_listed() {
    let hub = Hub::new("mercure_anonymous = true");
    let watching = subscriber(&[WATCH]);
    let mut watcher = hub.subscribe(&format!("topic={WATCH}"), &[bearer(&watching)]);
    let _anyone = hub.subscribe("topic=https://example.com/chat", &[]);
    assert_eq!(api(&hub, "/subscriptions", Some(&watching)).0, 404);
    // Two heartbeats of the watcher and no update.
    watcher.read_until_count(b": heartbeat", 2, T);
    assert!(changes(&watcher).is_empty());
}
