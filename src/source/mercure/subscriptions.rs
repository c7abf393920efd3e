//! The protocol's *active subscriptions* (`mercure_subscriptions`): who subscribes to what, as
//! updates and as an API.
//!
//! - A subscription's start and end are published as private updates on
//!   `/.well-known/mercure/subscriptions/{topic}/{subscriber}`, one per selector it asked for,
//!   with `"active": true` then `false` (JSON-LD, [`resource`]). They go through the machinery of
//!   a channel's joins and leaves ([`crate::source::presence::announce`]): the envelope publishes the
//!   start, the stream its own end, and a stream killed by SIGKILL is ended by the next sweep of
//!   the host's slots, about a heartbeat later.
//! - `GET /.well-known/mercure/subscriptions[/{topic}[/{subscriber}]]` answers the live ones
//!   (a `Subscriptions` collection, or one `Subscription`), read from the slots' records when
//!   asked.
//!
//! Both are for tokens whose `mercure.subscribe` selectors match the address asked for, as the
//! protocol says; nobody may publish on those topics but the hub.
//!
//! The address's parts are percent-encoded (every byte but RFC 3986's unreserved ones). A server
//! hands the program that path decoded once: Apache and lighttpd keep `%2F` encoded (Apache with
//! `AllowEncodedSlashes NoDecode`, which the suite's config sets), nginx decodes it too. So the
//! path is read as "decoded once, but for slashes": `%2F` is the only escape turned back.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use super::selector::Selector;
use super::update::{self, Update};
use crate::cgi::{Request, RequestError};
use crate::config::Config;
use crate::name::Channel;
use crate::rights::MercureGrant;
use crate::rights::Rights;
use crate::slots::Record;
use crate::store::{ChannelStore, NewMessage, StoreError};

/// Where the subscriptions are: the topics of their updates and the API's addresses.
pub const PREFIX: &str = "/.well-known/mercure/subscriptions";

/// The JSON-LD context the protocol names.
const CONTEXT: &str = "https://mercure.rocks/";

/// The resource's prefix of an event entry for a Mercure selector (`mercure:SELECTOR`), in a
/// slot's record.
pub const EVENT_PREFIX: &str = crate::slots::MERCURE_RESOURCE;

/// What a part of an address escapes: all but the unreserved characters.
const PART: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A new subscriber's id: a version 4 UUID as a URN, as the reference hub gives.
pub fn new_subscriber_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    // Each `RandomState` is keyed from the system's randomness once per thread, then moved on.
    let word = |salt: u64| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(salt);
        hasher.write_u32(std::process::id());
        hasher.finish()
    };
    let (high, low) = (word(1), word(2));
    let high = (high & !0xf000) | 0x4000;
    let low = (low & !(0b11 << 62)) | (0b10 << 62);
    format!(
        "urn:uuid:{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xffff,
        low >> 48,
        low & 0xffff_ffff_ffff
    )
}

/// The address of `subscriber`'s subscription to `topic`.
pub fn address(topic: &str, subscriber: &str) -> String {
    format!(
        "{PREFIX}/{}/{}",
        utf8_percent_encode(topic, PART),
        utf8_percent_encode(subscriber, PART)
    )
}

/// A subscription as JSON-LD; `context` for one that stands alone.
pub fn resource(
    topic: &str,
    subscriber: &str,
    payload: Option<&Value>,
    active: bool,
    context: bool,
) -> Value {
    let mut resource = json!({
        "id": address(topic, subscriber),
        "type": "Subscription",
        "topic": topic,
        "subscriber": subscriber,
        "active": active,
    });
    if let Some(payload) = payload {
        resource["payload"] = payload.clone();
    }
    if context {
        resource["@context"] = json!(CONTEXT);
    }
    resource
}

/// True for a topic only the hub publishes on.
pub fn is_reserved(topic: &str) -> bool {
    topic == PREFIX || topic.starts_with(&format!("{PREFIX}/"))
}

/// Publishes that the subscription `record` describes to `selector` started (`active`) or
/// ended, as a private update of the hub's log.
pub fn publish_change(
    store: &mut dyn ChannelStore,
    record: &Record,
    selector: &str,
    active: bool,
) -> Result<(), StoreError> {
    let Some(subscriber) = &record.mercure_id else {
        return Ok(());
    };
    let data = resource(
        selector,
        subscriber,
        record.mercure_payload.as_ref(),
        active,
        true,
    );
    let update = Update {
        topics: vec![address(selector, subscriber)],
        private: true,
        data: data.to_string(),
        ..Update::default()
    };
    let text = update.encode();
    let message = NewMessage {
        content_type: update::CONTENT_TYPE,
        data: &text,
        idempotency_key: None,
    };
    store.publish(&Channel::mercure_hub(), &message).map(|_| ())
}

/// What a request for the API asks: every subscription, those to a topic, or one.
#[derive(Debug, PartialEq, Eq)]
pub struct Asked {
    /// The topic selector, decoded.
    pub topic: Option<String>,
    /// The subscriber's id, decoded.
    pub subscriber: Option<String>,
}

impl Asked {
    /// The request's path after the hub's (`PATH_INFO`), when it is the API's: `None` for
    /// another path.
    pub fn of(path_info: &str) -> Option<Asked> {
        let rest = path_info.strip_prefix("/subscriptions")?;
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() {
            return Some(Asked {
                topic: None,
                subscriber: None,
            });
        }
        let rest = rest.strip_prefix('/')?;
        let unslashed = |s: &str| s.replace("%2F", "/").replace("%2f", "/");
        // A subscriber's id holds no slash, and the hub's all start so; a topic may hold many
        // (nginx decodes its `%2F`).
        if let Some((topic, last)) = rest.rsplit_once('/')
            && unslashed(last).starts_with("urn:uuid:")
        {
            return Some(Asked {
                topic: Some(unslashed(topic)),
                subscriber: Some(unslashed(last)),
            });
        }
        Some(Asked {
            topic: Some(unslashed(rest)),
            subscriber: None,
        })
    }

    /// The same, with its topic as a live subscription's selector writes it when they are the
    /// same but for runs of slashes: lighttpd and nginx merge them in a path (`https:%2F%2F`
    /// arrives as `https:%2F`).
    pub fn resolved(mut self, records: &[Record]) -> Asked {
        let merged = |s: &str| {
            let mut out = String::with_capacity(s.len());
            for c in s.chars() {
                if !(c == '/' && out.ends_with('/')) {
                    out.push(c);
                }
            }
            out
        };
        if let Some(topic) = &self.topic {
            let wanted = merged(topic);
            let live = || {
                records
                    .iter()
                    .flat_map(|r| r.events.iter())
                    .filter_map(|e| e.strip_prefix(EVENT_PREFIX))
            };
            // A selector written as asked wins over one that differs by its slashes.
            if live().any(|s| s == topic) {
                return self;
            }
            if let Some(found) = live().find(|s| merged(s) == wanted) {
                self.topic = Some(found.to_owned());
            }
        }
        self
    }

    /// The address asked for, which the token must be granted.
    fn address(&self) -> String {
        match (&self.topic, &self.subscriber) {
            (Some(topic), Some(subscriber)) => address(topic, subscriber),
            (Some(topic), None) => format!("{PREFIX}/{}", utf8_percent_encode(topic, PART)),
            _ => PREFIX.to_owned(),
        }
    }
}

/// The API's answer to `asked`, from the live streams' `records` and the hub's log's head
/// (`last_event_id`): `None` when one subscription was asked and none is live.
pub fn answer(asked: &Asked, records: &[Record], last_event_id: &str) -> Option<Value> {
    let mut found = Vec::new();
    for record in records {
        let Some(subscriber) = &record.mercure_id else {
            continue;
        };
        if asked.subscriber.as_ref().is_some_and(|s| s != subscriber) {
            continue;
        }
        for event in &record.events {
            let Some(selector) = event.strip_prefix(EVENT_PREFIX) else {
                continue;
            };
            if asked.topic.as_ref().is_some_and(|t| t != selector) {
                continue;
            }
            found.push(resource(
                selector,
                subscriber,
                record.mercure_payload.as_ref(),
                true,
                false,
            ));
        }
    }
    if asked.subscriber.is_some() {
        let mut one = found.into_iter().next()?;
        one["@context"] = json!(CONTEXT);
        one["lastEventID"] = json!(last_event_id);
        return Some(one);
    }
    Some(json!({
        "@context": CONTEXT,
        "id": asked.address(),
        "type": "Subscriptions",
        "lastEventID": last_event_id,
        "subscriptions": found,
    }))
}

/// The request's token, which the API needs (401 without one).
pub fn grant(request: &Request, config: &Config) -> Result<MercureGrant, RequestError> {
    Rights::new(request, config)
        .mercure_subscriber()?
        .ok_or_else(|| crate::rights::needs_token("the subscriptions API needs a token"))
}

/// Checks that `grant` may see `asked`: its `mercure.subscribe` selectors must match the
/// address (403 otherwise). Checked on the address as asked, then as resolved against the
/// live selectors, so a refusal never names a live selector the asker did not write.
pub fn authorize(grant: &MercureGrant, asked: &Asked) -> Result<(), RequestError> {
    let address = asked.address();
    let granted = grant
        .subscribe
        .iter()
        .filter_map(|s| Selector::parse(s).ok())
        .any(|s| s.matches(&address));
    if granted {
        Ok(())
    } else {
        Err(RequestError::new(
            http::StatusCode::FORBIDDEN,
            format!("the token's mercure.subscribe does not grant {address}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_urns_and_differ() {
        let a = new_subscriber_id();
        let b = new_subscriber_id();
        assert_ne!(a, b);
        let uuid = a.strip_prefix("urn:uuid:").unwrap();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        assert!("89ab".contains(&uuid[19..20]), "{a}");
    }

    #[test]
    fn addresses_escape_their_parts() {
        assert_eq!(
            address("https://example.com/books/{id}", "urn:uuid:1"),
            "/.well-known/mercure/subscriptions/https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D/urn%3Auuid%3A1"
        );
    }

    #[test]
    fn paths_as_servers_hand_them() {
        let all = Asked {
            topic: None,
            subscriber: None,
        };
        assert_eq!(Asked::of("/subscriptions"), Some(all));
        assert_eq!(Asked::of("/other"), None);
        assert_eq!(Asked::of("/subscriptionsX"), None);
        let one = Asked {
            topic: Some("https://example.com/a b".into()),
            subscriber: Some("urn:uuid:1".into()),
        };
        // Apache and lighttpd: decoded but for slashes; nginx: decoded.
        assert_eq!(
            Asked::of("/subscriptions/https:%2F%2Fexample.com%2Fa b/urn:uuid:1").as_ref(),
            Some(&one)
        );
        assert_eq!(
            Asked::of("/subscriptions/https://example.com/a b/urn:uuid:1").as_ref(),
            Some(&one)
        );
        let topic = Asked::of("/subscriptions/https:%2F%2Fexample.com%2Fa").unwrap();
        assert_eq!(
            (topic.topic.as_deref(), topic.subscriber.as_deref()),
            (Some("https://example.com/a"), None)
        );
        assert_eq!(
            topic.address(),
            "/.well-known/mercure/subscriptions/https%3A%2F%2Fexample.com%2Fa"
        );
    }

    #[test]
    fn merged_slashes_are_resolved_to_a_live_selector() {
        let record = Record {
            events: vec!["mercure:https://example.com/a".into()],
            ..Record::default()
        };
        let asked = Asked::of("/subscriptions/https:%2Fexample.com%2Fa").unwrap();
        let resolved = asked.resolved(std::slice::from_ref(&record));
        assert_eq!(resolved.topic.as_deref(), Some("https://example.com/a"));
        let other = Asked::of("/subscriptions/https:%2Fexample.com%2Fb").unwrap();
        assert_eq!(
            other.resolved(&[record]).topic.as_deref(),
            Some("https:/example.com/b")
        );
    }

    #[test]
    fn answers_list_the_live_ones() {
        let record = |id: &str, selectors: &[&str]| Record {
            mercure_id: Some(id.into()),
            mercure_payload: Some(json!({"name": id})),
            events: selectors.iter().map(|s| format!("mercure:{s}")).collect(),
            ..Record::default()
        };
        let records = [
            record("urn:uuid:1", &["a", "b"]),
            record("urn:uuid:2", &["b"]),
        ];
        let all = Asked::of("/subscriptions").unwrap();
        let answer_all = answer(&all, &records, "earliest").unwrap();
        assert_eq!(answer_all["type"], "Subscriptions");
        assert_eq!(answer_all["subscriptions"].as_array().unwrap().len(), 3);
        let b = answer(&Asked::of("/subscriptions/b").unwrap(), &records, "x").unwrap();
        assert_eq!(b["subscriptions"].as_array().unwrap().len(), 2);
        assert_eq!(b["id"], "/.well-known/mercure/subscriptions/b");
        let one = answer(
            &Asked::of("/subscriptions/a/urn:uuid:1").unwrap(),
            &records,
            "x",
        )
        .unwrap();
        assert_eq!(one["payload"]["name"], "urn:uuid:1");
        assert_eq!(one["active"], true);
        assert_eq!(one["@context"], CONTEXT);
        assert!(
            answer(
                &Asked::of("/subscriptions/a/urn:uuid:2").unwrap(),
                &records,
                "x"
            )
            .is_none()
        );
    }
}
