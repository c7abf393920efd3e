//! *Subscribe*: a long-poll or a stream over one or more channels, from a client's cursor.
//!
//! The loop is the same for both: read every channel after the cursor, deliver, then wait in
//! the store until a channel has news, a heartbeat is due, or the time is up. A cursor whose
//! epoch is not the channel's (the channel was lost and started again) or whose id is past
//! the channel's end is told `missed` and restarted from the channel's oldest message.

use std::borrow::Cow;
use std::io::{self, Write};
use std::time::Duration;

use http::StatusCode;
use http::header::{CONTENT_TYPE, TRANSFER_ENCODING};
use serde_json::{Value, json};

use super::cursor::{Cursor, Position};
use super::handed::{Handed, HandedTransport};
use super::{Delivery, READ_LIMIT, json_response, refuse_late};
use crate::head::Head;
use crate::name::Channel;
use crate::pacing::{Pacing, Time};
use crate::program::Response;
use crate::store::{ChannelStore, Message, StoreError, Waiting, answer_size};
use crate::stream::{self, Event, Flow, Output, Part, Source, Unit, Writer};
use crate::transport::chunked::{ChunkedWriter, Framing};
use crate::transport::iframe::IframeWriter;
use crate::transport::multipart::{MultipartWriter, Style};
use crate::transport::sse::SseWriter;

/// The JSON of a message as clients get it.
fn message_json(m: &Message) -> MessageJson<'_> {
    MessageJson {
        channel: m.channel.as_str(),
        data: &m.data,
        id: m.id,
        time: &m.time,
        content_type: &m.content_type,
    }
}

/// [`message_json`] as a value, for the transports that add to it.
fn message_value(m: &Message) -> Value {
    serde_json::to_value(message_json(m)).unwrap_or_default()
}

/// JSON text of `value`.
fn to_json(value: &impl serde::Serialize) -> io::Result<String> {
    serde_json::to_string(value).map_err(io::Error::other)
}

/// A message as clients receive it. Serialised from borrowed fields, since a stream writes one
/// per subscriber per message; the fields are in the order `json!` wrote them (sorted), so the
/// bytes are as they were.
#[derive(serde::Serialize)]
struct MessageJson<'a> {
    channel: &'a str,
    data: &'a str,
    id: u64,
    time: &'a str,
    #[serde(rename = "type")]
    content_type: &'a str,
}

/// What one round of reading found.
struct Round {
    /// The messages, channel by channel, in id order within each.
    messages: Vec<Message>,
    /// The channels that missed messages.
    missed: Vec<Channel>,
    /// True when the answer's budget or read limit stopped the round: more is waiting.
    more: bool,
    /// Messages passed over because they cannot be read, for the log.
    unreadable: Vec<String>,
}

/// Reads every channel after the cursor, within `budget` bytes; moves the cursor past what was
/// read.
fn collect(
    store: &mut dyn ChannelStore,
    cursor: &mut Cursor,
    budget: usize,
) -> Result<Round, StoreError> {
    let mut messages = Vec::new();
    let mut missed = Vec::new();
    let mut left = budget;
    let mut more = false;
    let mut unreadable = Vec::new();
    for p in cursor.0.iter_mut() {
        if left == 0 {
            // Full: the other channels are read for the next answer, from the cursor.
            more = true;
            break;
        }
        let mut batch = store.read_within(&p.channel, p.id, READ_LIMIT, left)?;
        let other_epoch = match (&p.epoch, &batch.epoch) {
            (Some(mine), Some(now)) => mine != now,
            // The channel the client knew is gone.
            (Some(_), None) => true,
            // A cursor without an epoch (an older client) takes the channel's.
            (None, _) => false,
        };
        if other_epoch || p.id > batch.last_id {
            // The channel was lost and started again, or the client is ahead of it: start it
            // again from what is there, and say so.
            batch = store.read_within(&p.channel, 0, READ_LIMIT, left)?;
            batch.missed = true;
            p.id = 0;
        }
        p.epoch = batch.epoch.clone();
        if batch.missed || !batch.unreadable.is_empty() {
            missed.push(p.channel.clone());
        }
        for id in &batch.unreadable {
            unreadable.push(format!(
                "channel {} message {id} cannot be read; passed over and told as missed",
                p.channel
            ));
        }
        if let Some(last) = batch.read_to() {
            p.id = last;
        }
        let size: usize = batch.messages.iter().map(answer_size).sum();
        left = left.saturating_sub(size);
        more |= batch.messages.len() >= READ_LIMIT;
        messages.extend(batch.messages);
    }
    more |= left == 0;
    Ok(Round {
        messages,
        missed,
        more,
        unreadable,
    })
}

/// Serves a subscription: one long-poll answer, or a stream.
pub fn subscribe<W: Write, T: Time>(
    mut store: Box<dyn ChannelStore>,
    start: Vec<(Channel, Option<Position>)>,
    delivery: Delivery,
    sweeps: bool,
    response: &mut Response<W>,
    time: &mut T,
) -> io::Result<()> {
    // A position is taken before the watch starts; every wait follows a read made after the
    // watch started, so a message landing before the watch is seen by that read, and one landing
    // after it ends the wait.
    let channels: Vec<Channel> = start.iter().map(|(c, _)| c.clone()).collect();
    let mut cursor = Cursor(Vec::with_capacity(start.len()));
    for (channel, since) in start {
        let (id, epoch) = match since {
            Some(position) => (position.id, position.epoch),
            // No position: new messages only, from the channel's end now.
            None => store
                .head(&channel)
                .map_err(|e| refuse_late(response, e, time))?,
        };
        cursor.0.push(Position { channel, id, epoch });
    }

    let budget = response.config.max_answer_bytes;
    if let Delivery::LongPoll { timeout } = delivery {
        let deadline = time.elapsed() + timeout;
        // A long-poll with something to say at once answers without ever watching.
        let mut watching = false;
        loop {
            let Round {
                messages,
                missed,
                unreadable,
                ..
            } = collect(store.as_mut(), &mut cursor, budget)
                .map_err(|e| refuse_late(response, e, time))?;
            response.notes.extend(unreadable);
            let now = time.elapsed();
            if !messages.is_empty() || !missed.is_empty() || now >= deadline || response.head_only {
                let body = json!({
                    "messages": messages.iter().map(message_json).collect::<Vec<_>>(),
                    "cursor": cursor.render(),
                    "missed": !missed.is_empty(),
                });
                store.leave_open();
                return json_response(response, StatusCode::OK, &body, time);
            }
            if !watching {
                store
                    .watch(&channels, Waiting::Once)
                    .map_err(|e| refuse_late(response, e, time))?;
                watching = true;
                continue;
            }
            store
                .wait(&cursor.ids(), deadline - now)
                .map_err(|e| refuse_late(response, e, time))?;
        }
    }

    store
        .watch(&channels, Waiting::Stream)
        .map_err(|e| refuse_late(response, e, time))?;
    stream(store.as_mut(), cursor, delivery, sweeps, response, time)
}

/// A streamed subscription: messages as they come, heartbeats, a normal end at the lifetime.
/// A store that fails mid-stream ends the stream (its framing closed) and the failure is
/// logged; clients reconnect and resume from their cursor.
fn stream<W: Write, T: Time>(
    store: &mut dyn ChannelStore,
    cursor: Cursor,
    delivery: Delivery,
    sweeps: bool,
    response: &mut Response<W>,
    time: &mut T,
) -> io::Result<()> {
    let config = response.config.clone();
    let door = response.hub.take();
    let framing = Framing::for_response(response.mode, response.protocol);
    let content_type = match delivery {
        Delivery::Sse { .. } => "text/event-stream; charset=utf-8".to_owned(),
        Delivery::Iframe(_) => "text/html; charset=utf-8".to_owned(),
        Delivery::Mixed => MultipartWriter::<W>::content_type(&response.boundary, Style::Standard),
        _ => "application/x-ndjson; charset=utf-8".to_owned(),
    };
    let mut head = Head::new(StatusCode::OK)
        .header(CONTENT_TYPE, &content_type)
        .map_err(io::Error::other)?;
    if delivery == Delivery::Chunked && framing == Framing::Chunked {
        head = head.header_static(TRANSFER_ENCODING, "chunked");
    }
    if !response.write_head(&head, time)? {
        return Ok(());
    }
    let mut source = Subscription {
        store,
        cursor,
        max_answer_bytes: config.max_answer_bytes,
        read_next: true,
        notes: Vec::new(),
        upkeep: crate::program::Upkeep::new(&config, sweeps, response.shared.clone()),
    };
    let boundary = response.boundary.clone();
    let ended = {
        let out = &mut response.out;
        let mut writer = match &delivery {
            Delivery::Sse { ready } => {
                let mut w = SseWriter::new(out);
                w.start(Some(config.sse_retry_ms))?;
                if *ready {
                    let start = json!({ "cursor": source.cursor.render() });
                    w.event(None, Some("ready"), &start.to_string())?;
                }
                Writer::Sse(w)
            }
            Delivery::Iframe(callback) => {
                let mut w = IframeWriter::new(out, callback.clone());
                w.start(config.iframe_padding_bytes)?;
                Writer::Iframe(w)
            }
            Delivery::Mixed => {
                let mut w = MultipartWriter::new(out, boundary.clone(), Style::Standard)
                    .with_heartbeat(MIXED_HEARTBEAT.0, MIXED_HEARTBEAT.1)?;
                w.start()?;
                Writer::Multipart(w)
            }
            _ => {
                let mut w = ChunkedWriter::new(out, framing);
                w.start(config.chunked_padding_bytes)?;
                // The padding ends with a line break so every message is a line of its own.
                w.data(b"\n")?;
                Writer::Chunked(w)
            }
        };
        let heartbeat = Duration::from_secs(config.heartbeat_secs);
        let lifetime = Duration::from_secs(config.max_lifetime_secs);
        // Hub mode: the stream goes on in the hub, where the program's rounds would have.
        if let Some(door) = &door
            && source.upkeep.is_none()
            && config.store == crate::config::StoreKind::Spool
        {
            let transport = match &delivery {
                Delivery::Sse { .. } => HandedTransport::Sse,
                Delivery::Iframe(callback) => HandedTransport::Iframe {
                    callback: callback.as_str().to_owned(),
                },
                Delivery::Mixed => HandedTransport::Mixed { boundary },
                _ => HandedTransport::Chunked {
                    chunked: framing == Framing::Chunked,
                },
            };
            let handed = Handed::new(
                &config.spool_dir,
                transport,
                &source.cursor,
                (heartbeat, lifetime.saturating_sub(time.elapsed())),
                config.max_answer_bytes,
            );
            writer.get_mut().flush()?;
            let description = serde_json::to_vec(&handed).map_err(io::Error::other)?;
            match door.hand(&description) {
                Ok(true) => {
                    response.handed = true;
                    return Ok(());
                }
                Ok(false) => {}
                Err(e) => source.notes.push(format!("not handed to the hub: {e}")),
            }
        }
        let mut pacing = Pacing::new(heartbeat, lifetime, time.elapsed());
        stream::run(&mut writer, &mut source, &mut pacing, time)
    };
    response.notes.append(&mut source.notes);
    ended
}

/// Channels as a stream's source: each round reads every channel after the cursor and sends
/// what it found, then waits in the store until a channel has news.
struct Subscription<'s> {
    store: &'s mut dyn ChannelStore,
    cursor: Cursor,
    max_answer_bytes: usize,
    /// True when the next step reads before it waits: at the start, after a wait, and after a
    /// round cut short by its budget.
    read_next: bool,
    /// Messages passed over because they cannot be read, for the log.
    notes: Vec<String>,
    /// Its presence's upkeep about once a heartbeat interval: the leaves that ended streams of
    /// this host owe, when it joined channels that publish joins and leaves (or follows their
    /// announcements); its entry in a store several hosts share.
    upkeep: Option<crate::program::Upkeep>,
}

impl Source for Subscription<'_> {
    fn step<O: Output + ?Sized, T: Time>(
        &mut self,
        out: &mut O,
        budget: Duration,
        time: &mut T,
    ) -> io::Result<Flow> {
        if self.read_next {
            let sent = match send_round(
                self.store,
                &mut self.cursor,
                self.max_answer_bytes,
                out,
                &mut self.notes,
            )? {
                Ok(sent) => sent,
                Err(e) => return Ok(Flow::Failed(io::Error::other(e))),
            };
            // A round cut by its budget reads on at once: what is left is already there. One
            // that sent something waits next, with a budget counted from now.
            self.read_next = sent.more;
            if sent.wrote {
                return Ok(Flow::Wrote);
            }
            if sent.more {
                return Ok(Flow::Quiet);
            }
        }
        // Only before a wait: a message never waits for presence's upkeep.
        crate::source::presence::tend(&mut self.upkeep, self.store, time, &mut self.notes);
        if let Err(e) = self.store.wait(&self.cursor.ids(), budget) {
            return Ok(Flow::Failed(io::Error::other(e)));
        }
        self.read_next = true;
        Ok(Flow::Quiet)
    }
}

/// The part a `multipart/x-mixed-replace` channel stream sends as its heartbeat: a message
/// repeated would be delivered twice, so it is a part of its own that readers pass over.
pub(super) const MIXED_HEARTBEAT: (&str, &[u8]) = ("application/json", b"{\"heartbeat\":true}");

/// What one round sent.
pub(super) struct Sent {
    /// It wrote something.
    pub(super) wrote: bool,
    /// Its budget or read limit stopped it: more is waiting.
    pub(super) more: bool,
}

/// One round of a stream: reads every channel after `cursor` within `max_answer_bytes`, writes
/// what it found to `out` and moves the cursor past it. The outer error is a failed write (the
/// client left), the inner one the store's.
pub(super) fn send_round<O: Output + ?Sized>(
    store: &mut dyn ChannelStore,
    cursor: &mut Cursor,
    max_answer_bytes: usize,
    out: &mut O,
    notes: &mut Vec<String>,
) -> io::Result<Result<Sent, StoreError>> {
    let Round {
        messages,
        missed,
        more,
        unreadable,
    } = match collect(store, cursor, max_answer_bytes) {
        Ok(found) => found,
        Err(e) => return Ok(Err(e)),
    };
    notes.extend(unreadable);
    // Each message carries the cursor just past it, so a client that resumes from any event's
    // id gets exactly the messages after that event; the position before this round's
    // messages is where a client told of a gap resumes without losing them.
    let mut position = cursor.clone();
    for p in position.0.iter_mut() {
        if let Some(first) = messages.iter().find(|m| m.channel == p.channel) {
            p.id = first.id - 1;
        }
    }
    if !missed.is_empty() {
        out.unit(&Missed {
            channels: &missed,
            cursor: position.render(),
        })?;
    }
    for m in &messages {
        if let Some(p) = position.0.iter_mut().find(|p| p.channel == m.channel) {
            p.id = m.id;
        }
        out.unit(&Delivered {
            message: m,
            cursor: position.render(),
        })?;
    }
    Ok(Ok(Sent {
        wrote: !messages.is_empty() || !missed.is_empty(),
        more,
    }))
}

/// A message as a stream sends it, with the cursor just past it.
struct Delivered<'m> {
    message: &'m Message,
    cursor: String,
}

impl Delivered<'_> {
    /// The message's JSON with its cursor, for the transports that carry a value.
    fn value(&self) -> Value {
        let mut v = message_value(self.message);
        v["cursor"] = Value::String(self.cursor.clone());
        v
    }
}

impl Unit for Delivered<'_> {
    fn part(&self) -> io::Result<Part<'_>> {
        Ok(json_part(&self.value()))
    }
    fn event(&self) -> io::Result<Event<'_>> {
        Ok(Event {
            id: Some(self.cursor.as_str().into()),
            name: None,
            retry: None,
            data: to_json(&message_json(self.message))?.into(),
        })
    }
    fn call(&self) -> io::Result<Vec<Value>> {
        Ok(vec![self.value()])
    }
    fn piece(&self) -> io::Result<Cow<'_, [u8]>> {
        Ok(json_line(&self.value()).into())
    }
}

/// The notice that `channels` lost messages; `cursor` is where the client can resume from
/// without losing what follows (the position before this round's messages).
struct Missed<'c> {
    channels: &'c [Channel],
    cursor: String,
}

impl Missed<'_> {
    fn value(&self) -> Value {
        json!({ "missed": true, "channels": self.channels, "cursor": self.cursor })
    }
}

impl Unit for Missed<'_> {
    fn part(&self) -> io::Result<Part<'_>> {
        Ok(json_part(&self.value()))
    }
    fn event(&self) -> io::Result<Event<'_>> {
        Ok(Event {
            id: None,
            name: Some("missed".into()),
            retry: None,
            data: self.value().to_string().into(),
        })
    }
    fn call(&self) -> io::Result<Vec<Value>> {
        Ok(vec![self.value()])
    }
    fn piece(&self) -> io::Result<Cow<'_, [u8]>> {
        Ok(json_line(&self.value()).into())
    }
}

/// A JSON value as a line of its own.
fn json_line(value: &Value) -> Vec<u8> {
    let mut line = value.to_string().into_bytes();
    line.push(b'\n');
    line
}

/// A JSON value as a multipart part.
fn json_part(value: &Value) -> Part<'static> {
    Part {
        content_type: "application/json".into(),
        headers: Vec::new(),
        body: value.to_string().into_bytes().into(),
    }
}
