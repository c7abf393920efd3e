//! *Subscribe* to the hub: the updates whose topics match the request's selectors, as an event
//! stream, from where `Last-Event-ID` says the client was.
//!
//! Where a subscription starts:
//! - no id: the log's end now (new updates only), and no `Last-Event-ID` response header;
//! - `earliest`: the log's oldest stored update; the header says `earliest`;
//! - an id the log still holds (minted or a publisher's): the update after it; the header
//!   repeats the id;
//! - an id the log no longer holds (retention dropped it, the store was reset, or it was never
//!   this hub's): the oldest stored update, and the header says `earliest`, the protocol's way
//!   of saying that history could not cover the gap.
//!
//! A public update goes to every subscriber whose selectors match one of its topics; a private
//! one also needs one of its topics matched by the token's `mercure.subscribe` selectors. A
//! stream ends at `max_lifetime_secs` or when the token expires, whichever is first.

use std::borrow::Cow;
use std::io::{self, Write};
use std::time::Duration;

use http::StatusCode;
use http::header::CONTENT_TYPE;

use super::selector::Selector;
use super::update::{Update, own_id, parse_minted, sendable};
use super::{Cors, MAX_TOPICS, last_event_id_header, subscriptions};
use crate::cgi::{Request, RequestError};
use crate::config::Config;
use crate::head::Head;
use crate::name::Channel;
use crate::pacing::{Pacing, Time};
use crate::program::{Presence, Response};
use crate::rights::Rights;
use crate::source::longpoll::{READ_LIMIT, refuse_late, store_refusal};
use crate::store::{self, ChannelStore, StoreError, Waiting};
use crate::stream::{self, Event, Flow, Output, Source, Unit, Writer};
use crate::transport::sse::SseWriter;

/// The most bytes a subscription's selectors may have in all: each is matched against every
/// update's topics.
const MAX_SELECTOR_BYTES: usize = 8192;

/// The longest `Last-Event-ID` looked for.
const MAX_LAST_EVENT_ID_BYTES: usize = 1024;

/// A validated subscription.
pub struct Subscription {
    store: Box<dyn ChannelStore>,
    /// The request's selectors.
    selectors: Vec<Selector>,
    /// The token's `mercure.subscribe` selectors: the private updates it may receive.
    private: Vec<Selector>,
    last_event_id: Option<String>,
    /// When the token expires (seconds since 1970).
    expires: Option<u64>,
    cors: Cors,
    /// Its subscriber's id and its token's payload, when its start and end are published
    /// (`mercure_subscriptions`).
    announced: Option<Announced>,
}

/// What a subscription whose start and end are published needs.
struct Announced {
    id: String,
    payload: Option<serde_json::Value>,
}

impl Subscription {
    /// What the stream serves, for presence: the request's selectors as written
    /// (`mercure:SELECTOR`), as many as fit in a third of a slot's record, so that the record
    /// always fits; with `mercure_subscriptions`, the same as the events its start and end owe.
    pub fn presence(&self) -> Presence {
        let room = usize::try_from(crate::slots::MAX_RECORD_BYTES / 3).unwrap_or(usize::MAX);
        let mut used = 0;
        let resources: Vec<String> = self
            .selectors
            .iter()
            .map(|s| format!("{}{}", subscriptions::EVENT_PREFIX, s.text()))
            .take_while(|r| {
                // Room for its quotes and escapes too.
                used += 2 * r.len() + 3;
                used <= room
            })
            .collect();
        Presence {
            transport: "sse",
            events: match &self.announced {
                Some(_) => resources.clone(),
                None => Vec::new(),
            },
            resources,
            subscriber: None,
            mercure: self
                .announced
                .as_ref()
                .map(|a| (a.id.clone(), a.payload.clone())),
        }
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("selectors", &self.selectors)
            .field("last_event_id", &self.last_event_id)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// Validates a subscription request: its selectors, its token, its `Last-Event-ID`; opens
    /// the store.
    pub fn from_request(
        request: &Request,
        config: &Config,
        cors: Cors,
    ) -> Result<Subscription, RequestError> {
        let topics = request.query.get_all("topic");
        if topics.is_empty() {
            return Err(RequestError::bad_request("subscribe to at least one topic"));
        }
        if topics.len() > MAX_TOPICS {
            return Err(RequestError::bad_request(format!(
                "a subscription has at most {MAX_TOPICS} topics"
            )));
        }
        if topics.iter().map(|t| t.len()).sum::<usize>() > MAX_SELECTOR_BYTES {
            return Err(RequestError::bad_request(format!(
                "a subscription's topics are at most {MAX_SELECTOR_BYTES} bytes in all"
            )));
        }
        let selectors = topics
            .iter()
            .map(|t| Selector::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RequestError::bad_request(format!("a topic selector: {e}")))?;
        let grant = Rights::new(request, config).mercure_subscriber()?;
        let (private, expires, payload) = match grant {
            // A selector of the token's that does not parse grants nothing.
            Some(grant) => (
                grant
                    .subscribe
                    .iter()
                    .filter_map(|s| Selector::parse(s).ok())
                    .collect(),
                grant.expires,
                grant.payload,
            ),
            None => (Vec::new(), None, None),
        };
        // The header (what `EventSource` sends on reconnection) wins over the query parameter.
        let last_event_id = match request.header_str("last-event-id")? {
            Some(id) => Some(id),
            None => request.query.get("lastEventID"),
        };
        // Ids this hub gives are printable ASCII (a publisher's are refused otherwise), and the
        // answer repeats the id in a header.
        if last_event_id.is_some_and(|id| {
            id.len() > MAX_LAST_EVENT_ID_BYTES || !id.bytes().all(|b| (b' '..=b'~').contains(&b))
        }) {
            return Err(RequestError::bad_request(format!(
                "Last-Event-ID is at most {MAX_LAST_EVENT_ID_BYTES} printable ASCII characters"
            )));
        }
        let store =
            store::open(config).map_err(|e| store_refusal(&e).with_detail(e.to_string()))?;
        Ok(Subscription {
            store,
            selectors,
            private,
            last_event_id: last_event_id.map(str::to_owned),
            expires,
            cors,
            announced: config.mercure_subscriptions.then(|| Announced {
                id: subscriptions::new_subscriber_id(),
                payload,
            }),
        })
    }

    /// Finds where to start, writes the head, and streams.
    pub fn respond<W: Write, T: Time>(
        mut self,
        response: &mut Response<W>,
        time: &mut T,
    ) -> io::Result<()> {
        let hub = Channel::mercure_hub();
        // The watch starts before the first read, so an update stored between that read and
        // the first wait is not slept through.
        if !response.head_only {
            self.store
                .watch(std::slice::from_ref(&hub), Waiting::Stream)
                .map_err(|e| refuse_late(response, e, time))?;
        }
        let start = match start(self.store.as_mut(), &hub, self.last_event_id.as_deref()) {
            Ok(start) => start,
            Err(e) => return Err(refuse_late(response, e, time)),
        };
        let mut head = Head::new(StatusCode::OK)
            .header_static(CONTENT_TYPE, "text/event-stream; charset=utf-8");
        if let Some(id) = &start.header {
            head = head
                .header(last_event_id_header(), id)
                .map_err(io::Error::other)?;
        }
        let head = self.cors.apply(head)?;
        if !response.write_head(&head, time)? {
            return Ok(());
        }
        let config = &response.config;
        let mut lifetime = Duration::from_secs(config.max_lifetime_secs);
        if let Some(expires) = self.expires {
            let now = u64::try_from(time.wall().timestamp()).unwrap_or(0);
            lifetime = lifetime.min(Duration::from_secs(expires.saturating_sub(now)));
        }
        let mut pacing = Pacing::new(
            Duration::from_secs(config.heartbeat_secs),
            lifetime,
            time.elapsed(),
        );
        let max_answer_bytes = config.max_answer_bytes;
        let retry = config.sse_retry_ms;
        let mut source = HubStream {
            store: self.store.as_mut(),
            hub,
            after: start.after,
            epoch: start.epoch,
            selectors: &self.selectors,
            private: &self.private,
            max_answer_bytes,
            read_next: true,
            upkeep: crate::program::Upkeep::new(
                config,
                self.announced.is_some(),
                response.shared.clone(),
            ),
            notes: Vec::new(),
        };
        let mut writer = SseWriter::new(&mut response.out);
        writer.start(Some(retry))?;
        let result = stream::run(&mut Writer::Sse(writer), &mut source, &mut pacing, time);
        response.notes.append(&mut source.notes);
        result
    }
}

/// Where a subscription starts.
#[derive(Debug, PartialEq, Eq)]
struct Start {
    /// The log position it reads after.
    after: u64,
    /// The log's epoch then.
    epoch: Option<String>,
    /// The `Last-Event-ID` response header.
    header: Option<String>,
}

/// Where a subscription resuming from `last_event_id` starts.
fn start(
    store: &mut dyn ChannelStore,
    hub: &Channel,
    last_event_id: Option<&str>,
) -> Result<Start, StoreError> {
    let (last, epoch) = store.head(hub)?;
    let from_start = |epoch: Option<String>| Start {
        after: 0,
        epoch,
        header: Some("earliest".to_owned()),
    };
    let Some(id) = last_event_id else {
        return Ok(Start {
            after: last,
            epoch,
            header: None,
        });
    };
    if id == "earliest" {
        return Ok(from_start(epoch));
    }
    let found = match parse_minted(id) {
        Some((minted_epoch, n)) => {
            (epoch.as_deref() == Some(minted_epoch) && n <= last).then_some(n)
        }
        None => find(store, hub, id)?,
    };
    let Some(n) = found else {
        return Ok(from_start(epoch));
    };
    // Held still when retention has not dropped what came after it.
    let batch = store.read_within(hub, n, 1, 1)?;
    if batch.missed || batch.epoch != epoch {
        return Ok(from_start(batch.epoch));
    }
    Ok(Start {
        after: n,
        epoch,
        header: Some(id.to_owned()),
    })
}

/// The position of the newest stored update whose publisher gave it `id`: the log is read in
/// bounded batches, and retention bounds how many.
fn find(store: &mut dyn ChannelStore, hub: &Channel, id: &str) -> Result<Option<u64>, StoreError> {
    let mut after = 0;
    let mut found = None;
    loop {
        let batch = store.read_within(hub, after, READ_LIMIT, 1 << 20)?;
        for m in &batch.messages {
            if own_id(&m.data).is_some_and(|own| own == id) {
                found = Some(m.id);
            }
        }
        match batch.read_to() {
            Some(to) if to > after => after = to,
            _ => return Ok(found),
        }
    }
}

/// The hub's log as a stream's source: each round reads after the position, sends the updates
/// this subscriber may have, and waits in the store for more.
struct HubStream<'s> {
    store: &'s mut dyn ChannelStore,
    hub: Channel,
    after: u64,
    epoch: Option<String>,
    selectors: &'s [Selector],
    private: &'s [Selector],
    max_answer_bytes: usize,
    read_next: bool,
    /// Its presence's upkeep about once a heartbeat interval: the ends that killed streams of
    /// this host owe, when subscriptions are published; its entry in a store several hosts
    /// share.
    upkeep: Option<crate::program::Upkeep>,
    /// What the sweeps could not publish, for the log.
    notes: Vec<String>,
}

impl HubStream<'_> {
    /// True when this subscriber gets `update`.
    fn wants(&self, update: &Update) -> bool {
        if !sendable(update) {
            return false;
        }
        let asked = super::selector::any_matches(self.selectors, &update.topics);
        asked && (!update.private || super::selector::any_matches(self.private, &update.topics))
    }
}

impl Source for HubStream<'_> {
    fn step<O: Output + ?Sized, T: Time>(
        &mut self,
        out: &mut O,
        budget: Duration,
        time: &mut T,
    ) -> io::Result<Flow> {
        if self.read_next {
            let batch = match self.store.read_within(
                &self.hub,
                self.after,
                READ_LIMIT,
                self.max_answer_bytes,
            ) {
                Ok(batch) => batch,
                Err(e) => return Ok(Flow::Failed(io::Error::other(e))),
            };
            if batch.epoch != self.epoch || self.after > batch.last_id {
                // The log was lost and started again: its updates are all new to this client.
                self.epoch = batch.epoch;
                self.after = 0;
                return Ok(Flow::Quiet);
            }
            let epoch = self.epoch.clone().unwrap_or_default();
            let mut wrote = false;
            for m in &batch.messages {
                if let Some(update) = Update::decode(&m.data).filter(|u| self.wants(u)) {
                    out.unit(&Delivered {
                        id: update.event_id(&epoch, m.id),
                        update: &update,
                    })?;
                    wrote = true;
                }
            }
            let more = batch.messages.len() >= READ_LIMIT;
            if let Some(to) = batch.read_to() {
                self.after = to;
            }
            self.read_next = more;
            if wrote {
                return Ok(Flow::Wrote);
            }
            if more {
                return Ok(Flow::Quiet);
            }
        }
        // Only before a wait: an update never waits for presence's upkeep.
        crate::source::presence::tend(&mut self.upkeep, self.store, time, &mut self.notes);
        match self.store.wait(&[(&self.hub, self.after)], budget) {
            Ok(_) => {
                self.read_next = true;
                Ok(Flow::Quiet)
            }
            Err(e) => Ok(Flow::Failed(io::Error::other(e))),
        }
    }
}

/// An update as an SSE event.
struct Delivered<'u> {
    id: String,
    update: &'u Update,
}

impl Unit for Delivered<'_> {
    fn event(&self) -> io::Result<Event<'_>> {
        Ok(Event {
            id: Some(Cow::Borrowed(&self.id)),
            name: self.update.kind.as_deref().map(Cow::Borrowed),
            retry: self.update.retry,
            data: Cow::Borrowed(&self.update.data),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewMessage, Retention, SpoolStore};

    fn spool() -> (tempfile::TempDir, SpoolStore) {
        let dir = tempfile::tempdir().unwrap();
        let retention = Retention {
            messages: 3,
            max_age: Duration::from_secs(3600),
            idempotency: Duration::from_secs(60),
        };
        let store = SpoolStore::new(dir.path(), retention);
        (dir, store)
    }

    fn put(store: &mut SpoolStore, id: Option<&str>) -> (u64, String) {
        let update = Update {
            topics: vec!["t".into()],
            id: id.map(str::to_owned),
            ..Update::default()
        };
        let text = update.encode();
        let message = NewMessage {
            content_type: super::super::update::CONTENT_TYPE,
            data: &text,
            idempotency_key: None,
        };
        let p = store.publish(&Channel::mercure_hub(), &message).unwrap();
        (p.id, p.epoch)
    }

    #[test]
    fn starts_from_ids_earliest_or_the_end() {
        let (_dir, mut store) = spool();
        let hub = Channel::mercure_hub();
        let (_, epoch) = put(&mut store, Some("own-1"));
        put(&mut store, None);
        put(&mut store, Some("own-3"));
        let at = |store: &mut SpoolStore, id: Option<&str>| start(store, &hub, id).unwrap();
        let header = |s: &Start| s.header.clone();
        assert_eq!(at(&mut store, None).after, 3);
        assert_eq!(header(&at(&mut store, None)), None);
        let earliest = at(&mut store, Some("earliest"));
        assert_eq!(
            (earliest.after, header(&earliest)),
            (0, Some("earliest".into()))
        );
        let own = at(&mut store, Some("own-1"));
        assert_eq!((own.after, header(&own)), (1, Some("own-1".into())));
        let minted = super::super::update::minted(&epoch, 2);
        let from_minted = at(&mut store, Some(&minted));
        assert_eq!((from_minted.after, header(&from_minted)), (2, Some(minted)));
        // Unknown ids, another epoch's, and one past the end: from the oldest, said earliest.
        for unknown in [
            "never-published",
            "urn:serverpush:0000:1",
            "urn:serverpush:abc:99",
        ] {
            let s = at(&mut store, Some(unknown));
            assert_eq!(
                (s.after, header(&s)),
                (0, Some("earliest".into())),
                "{unknown}"
            );
        }
        // Retention keeps 3: once own-1 is gone, resuming from it is earliest too, and from
        // the id just after a dropped one as well.
        put(&mut store, None);
        put(&mut store, None);
        let gone = at(&mut store, Some("own-1"));
        assert_eq!(header(&gone), Some("earliest".into()));
        let dropped = super::super::update::minted(&epoch, 1);
        assert_eq!(
            header(&at(&mut store, Some(&dropped))),
            Some("earliest".into())
        );
        let kept = at(&mut store, Some("own-3"));
        assert_eq!((kept.after, header(&kept)), (3, Some("own-3".into())));
    }
}
