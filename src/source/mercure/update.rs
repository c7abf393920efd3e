//! *Updates* as the hub keeps them: each is one message of the hub's log
//! ([`Channel::mercure_hub`](crate::name::Channel::mercure_hub)), its fields as JSON, and its
//! event id either the publisher's own or one minted from the log's epoch and position.
//!
//! A minted id (`urn:serverpush:EPOCH:N`) names its place in the log, so resuming from it is one
//! read; a publisher's id is found by reading the log (bounded by retention).

use serde::{Deserialize, Serialize};

/// The content type of the hub's stored updates.
pub const CONTENT_TYPE: &str = "application/vnd.serverpush.mercure-update+json";

/// The prefix of minted ids; a publisher's id may not use it.
pub const MINTED_PREFIX: &str = "urn:serverpush:";

/// One update, as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    /// Its topics: the first is canonical, the others alternates.
    #[serde(rename = "t")]
    pub topics: Vec<String>,
    /// True when only subscribers granted one of its topics may receive it.
    #[serde(rename = "p", default, skip_serializing_if = "is_false")]
    pub private: bool,
    /// The publisher's own id, when it gave one.
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The SSE event name (`type`).
    #[serde(rename = "y", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The reconnection delay it asks for, in milliseconds (`retry`).
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<u64>,
    /// Its data.
    #[serde(rename = "d", default)]
    pub data: String,
}

fn is_false(b: &bool) -> bool {
    !b
}

impl Update {
    /// The JSON stored for it.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// An update from a stored message's text; `None` for one this hub did not write.
    pub fn decode(text: &str) -> Option<Update> {
        serde_json::from_str::<Update>(text)
            .ok()
            .filter(|u| !u.topics.is_empty())
    }

    /// Its event id: the publisher's, or the one minted for position `n` of the log in
    /// `epoch`.
    pub fn event_id(&self, epoch: &str, n: u64) -> String {
        match &self.id {
            Some(id) => id.clone(),
            None => minted(epoch, n),
        }
    }
}

/// The publisher's id of a stored update, read without copying the rest (its data may be large,
/// and resuming from a publisher's id reads the whole log).
pub fn own_id(text: &str) -> Option<std::borrow::Cow<'_, str>> {
    #[derive(Deserialize)]
    struct IdOnly<'a> {
        #[serde(rename = "i", borrow, default)]
        id: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_str::<IdOnly<'_>>(text).ok()?.id
}

/// True when `update` can be sent as an event: its id and type hold no line break or NUL. The
/// hub's publishes refuse others, but a log shared through Redis may hold what another host's
/// release wrote.
pub fn sendable(update: &Update) -> bool {
    let clean = |s: &Option<String>| s.as_deref().is_none_or(|s| !s.contains(['\r', '\n', '\0']));
    clean(&update.id) && clean(&update.kind)
}

/// The id minted for position `n` of the log in `epoch`.
pub fn minted(epoch: &str, n: u64) -> String {
    format!("{MINTED_PREFIX}{epoch}:{n}")
}

/// The epoch and position a minted id names.
pub fn parse_minted(id: &str) -> Option<(&str, u64)> {
    let (epoch, n) = id.strip_prefix(MINTED_PREFIX)?.split_once(':')?;
    let n = n.parse().ok()?;
    crate::store::is_epoch(epoch).then_some((epoch, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_round_trip_compactly() {
        let update = Update {
            topics: vec!["https://example.com/books/1".into(), "urn:alt".into()],
            private: true,
            id: None,
            kind: Some("change".into()),
            retry: Some(5000),
            data: "a\nb".into(),
        };
        let text = update.encode();
        assert_eq!(
            text,
            r#"{"t":["https://example.com/books/1","urn:alt"],"p":true,"y":"change","r":5000,"d":"a\nb"}"#
        );
        assert_eq!(Update::decode(&text), Some(update));
        assert_eq!(Update::decode(r#"{"t":[],"d":""}"#), None);
        assert_eq!(Update::decode("plain text"), None);
    }

    #[test]
    fn minted_ids_name_their_place() {
        let id = minted("a1b2c3", 42);
        assert_eq!(id, "urn:serverpush:a1b2c3:42");
        assert_eq!(parse_minted(&id), Some(("a1b2c3", 42)));
        assert_eq!(parse_minted("urn:serverpush:A!:1"), None);
        assert_eq!(parse_minted("urn:serverpush:ab:x"), None);
        assert_eq!(parse_minted("urn:uuid:1"), None);
        let own = Update {
            topics: vec!["t".into()],
            id: Some("custom".into()),
            ..Update::default()
        };
        assert_eq!(own.event_id("e", 3), "custom");
        assert_eq!(own_id(&own.encode()).as_deref(), Some("custom"));
        assert_eq!(own_id(r#"{"t":["t"],"d":"x"}"#), None);
        assert!(sendable(&own));
        let broken = Update {
            kind: Some("a\nb".into()),
            ..own
        };
        assert!(!sendable(&broken));
    }
}
