//! The *long-poll* program: publish to channels, subscribe to them by long-poll or as a stream,
//! and long-poll files other programs write.
//!
//! - `POST /cgi-bin/nph-longpoll/CHANNEL` (or `?channel=`) publishes the body; 201 with
//!   `{"channel":…,"id":…}`. Publishing needs the bearer token, a user the server
//!   authenticated, or a channel listed in `open_channels`.
//! - `GET` with one or more `channel`s long-polls: the answer comes as soon as any channel has
//!   messages after the client's cursor (`since=a:41,b:7`, or `since=41` for one channel), or
//!   after `timeout` seconds, as `{"messages":[…],"cursor":"a:42,b:7","missed":false}`.
//! - `transport=sse` (or `Accept: text/event-stream`), `iframe` or `chunked` streams the same
//!   messages; SSE resumes from `Last-Event-ID` (or `last_event_id`, `lastEventID`). With
//!   `ready=1` an SSE stream opens with a `ready` event carrying the cursor it starts from.
//! - `GET ?file=NAME&since=VERSION` long-polls a watched file until its version changes.
//!
//! A cursor's ids are what the client has; `missed` tells it that messages after its cursor
//! were dropped by retention before it came back.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use http::header::{CONTENT_TYPE, TRANSFER_ENCODING, WWW_AUTHENTICATE};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cgi::{Request, RequestError};
use crate::config::{Config, is_name};
use crate::head::{self, Head};
use crate::pacing::Time;
use crate::program::{Program, Response};
use crate::source::watch::{DirWatch, FileWatch, LeaveOpen};
use crate::store::{ChannelStore, Message, Retention, SpoolStore};
use crate::transport::accepts_event_stream;
use crate::transport::chunked::{ChunkedWriter, Framing};
use crate::transport::iframe::{Callback, IframeWriter};
use crate::transport::sse::SseWriter;

/// Messages read from one channel for one answer, at most.
pub const READ_LIMIT: usize = 1000;

/// The largest watched file served.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The default iframe callback of channel streams.
pub const DEFAULT_CALLBACK: &str = "serverpush.receive";

/// The long-poll program.
#[derive(Clone, Copy, Debug, Default)]
pub struct LongPoll;

/// A client's position: per channel, the last id it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor(pub Vec<(String, u64)>);

impl Cursor {
    /// The cursor as clients send it back: `a:42,b:7`.
    pub fn render(&self) -> String {
        self.0
            .iter()
            .map(|(c, id)| format!("{c}:{id}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// How a subscription is delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// One JSON answer.
    LongPoll {
        /// How long to wait for a message.
        timeout: Duration,
    },
    /// `text/event-stream`.
    Sse {
        /// Open with a `ready` event: comments and `retry:` are invisible to `EventSource`, so a
        /// page can tell a live stream from a buffering proxy only by an event it can see.
        ready: bool,
    },
    /// A forever frame.
    Iframe(Callback),
    /// Chunked JSON lines.
    Chunked,
}

/// A validated long-poll request.
#[derive(Clone, Debug)]
pub enum LongPollPlan {
    /// The message was stored.
    Published {
        /// The channel.
        channel: String,
        /// Its id.
        id: u64,
    },
    /// A subscription.
    Subscribe {
        /// The store.
        store: SpoolStore,
        /// Where the client is; ids not given are resolved to "new messages only".
        cursor: Vec<(String, Option<u64>)>,
        /// How to deliver.
        delivery: Delivery,
    },
    /// A watched file.
    File {
        /// Its name.
        name: String,
        /// Its path.
        path: PathBuf,
        /// The version the client has.
        since: Option<String>,
        /// How long to wait for a change.
        timeout: Duration,
    },
}

fn bad(reason: impl Into<String>) -> RequestError {
    RequestError::bad_request(reason)
}

fn store_of(config: &Config) -> SpoolStore {
    SpoolStore::new(
        &config.spool_dir,
        Retention {
            messages: config.retention_messages,
            max_age: Duration::from_secs(config.retention_secs),
        },
    )
}

/// The channels a request names: the path info's, then every `channel` parameter.
fn channels(request: &Request, config: &Config) -> Result<Vec<String>, RequestError> {
    let mut names: Vec<String> = Vec::new();
    let from_path = request
        .path_info
        .as_deref()
        .map(|p| p.trim_start_matches('/'))
        .filter(|p| !p.is_empty());
    for name in from_path
        .into_iter()
        .chain(request.query.get_all("channel"))
    {
        if !is_name(name) {
            return Err(bad(
                "channel names are 1 to 64 of A-Z a-z 0-9 _ . - (and not . or ..)",
            ));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    if names.len() > config.max_subscribe_channels {
        return Err(bad(format!(
            "at most {} channels in one request",
            config.max_subscribe_channels
        )));
    }
    Ok(names)
}

/// Parses `since` (or a `Last-Event-ID`): `a:41,b:7`, or `41` when one channel is asked.
fn parse_since(raw: &str, channels: &[String]) -> Result<BTreeMap<String, u64>, RequestError> {
    let id = |s: &str| -> Result<u64, RequestError> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("since ids must be whole numbers of at least 0"));
        }
        s.parse::<u64>()
            .ok()
            .filter(|&v| v <= i64::MAX as u64)
            .ok_or_else(|| bad("since id is too large"))
    };
    let mut out = BTreeMap::new();
    if !raw.contains(':') {
        if channels.len() != 1 {
            return Err(bad(
                "a bare since id needs exactly one channel; use since=channel:id",
            ));
        }
        out.insert(channels[0].clone(), id(raw)?);
        return Ok(out);
    }
    for item in raw.split(',').filter(|s| !s.trim().is_empty()) {
        let (name, value) = item
            .split_once(':')
            .ok_or_else(|| bad("since must look like a:41,b:7"))?;
        let name = name.trim();
        if !channels.iter().any(|c| c == name) {
            return Err(bad(format!(
                "since names channel {:?}, which the request does not ask for",
                if is_name(name) { name } else { "(invalid)" }
            )));
        }
        out.insert(name.to_owned(), id(value)?);
    }
    Ok(out)
}

fn authorize(request: &Request, config: &Config, channel: &str) -> Result<(), RequestError> {
    if config.open_channels.iter().any(|c| c == channel) || request.remote_user.is_some() {
        return Ok(());
    }
    let given = request
        .header_str("authorization")?
        .and_then(|v| v.strip_prefix("Bearer "));
    match (&config.publish_token, given) {
        (Some(token), Some(given)) => {
            if constant_time_eq(token.as_bytes(), given.trim().as_bytes()) {
                Ok(())
            } else {
                Err(RequestError::new(
                    StatusCode::FORBIDDEN,
                    "the publish token is wrong",
                ))
            }
        }
        _ => Err(RequestError::new(
            StatusCode::UNAUTHORIZED,
            format!("publishing to {channel} needs authorization"),
        )
        .with_header(WWW_AUTHENTICATE, "Bearer realm=\"serverpush\"")),
    }
}

/// Compares without stopping at the first difference, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn publish(
    request: &Request,
    config: &Config,
    body: &mut dyn Read,
) -> Result<LongPollPlan, RequestError> {
    let names = channels(request, config)?;
    let [channel] = names.as_slice() else {
        return Err(bad("publish to exactly one channel"));
    };
    // The body is read (within its limit) before authorization is checked, so that a refused
    // client's body is consumed and the server logs only the refusal.
    let bytes = request.read_body(body, config.max_message_bytes)?;
    authorize(request, config, channel)?;
    let declared = request.header_str("content-type")?.unwrap_or("text/plain");
    let form_data = declared
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
        .then(|| {
            form_urlencoded::parse(&bytes)
                .find(|(k, _)| k == "data")
                .map(|(_, v)| v.into_owned())
        })
        .flatten();
    let (content_type, data) = if let Some(data) = form_data {
        ("text/plain; charset=utf-8".to_owned(), data)
    } else {
        // A form without a data field is what `curl -d 'text'` sends: keep the text as it is.
        let declared = if declared
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
        {
            "text/plain"
        } else {
            declared
        };
        let data = String::from_utf8(bytes).map_err(|_| {
            RequestError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "messages must be UTF-8 text",
            )
        })?;
        if declared.len() > 200 || !declared.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return Err(bad("Content-Type is not a plain media type"));
        }
        (declared.to_owned(), data)
    };
    let id = store_of(config)
        .publish(channel, &content_type, &data)
        .map_err(|e| {
            RequestError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the message could not be stored in the spool: {e}"),
            )
        })?;
    Ok(LongPollPlan::Published {
        channel: channel.clone(),
        id,
    })
}

impl LongPollPlan {
    /// Validates the request; a publish is stored here, before anything is answered.
    pub fn from_request(
        request: &Request,
        config: &Config,
        body: &mut dyn Read,
    ) -> Result<LongPollPlan, RequestError> {
        let q = &request.query;
        if request.method == Method::POST {
            return publish(request, config, body);
        }
        if q.get("data").is_some() || q.get("publish").is_some() {
            return Err(RequestError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "GET never publishes: POST the message to the channel",
            )
            .with_header(http::header::ALLOW, "POST"));
        }
        let timeout = Duration::from_secs(q.number(
            "timeout",
            0..=config.longpoll_timeout_secs,
            config.longpoll_timeout_secs,
        )?);

        if let Some(name) = q.get("file") {
            let path = config
                .files
                .get(name)
                .ok_or_else(|| {
                    RequestError::new(
                        StatusCode::NOT_FOUND,
                        format!(
                            "unknown watched file {}",
                            if is_name(name) { name } else { "(invalid)" }
                        ),
                    )
                })?
                .clone();
            return Ok(LongPollPlan::File {
                name: name.to_owned(),
                path,
                since: q.get("since").map(str::to_owned),
                timeout,
            });
        }

        let names = channels(request, config)?;
        if names.is_empty() {
            return Err(bad(
                "name a channel: /cgi-bin/nph-longpoll/NAME or ?channel=NAME",
            ));
        }
        let transport = match q.get("transport") {
            None if accepts_event_stream(request)? => "sse",
            _ => q.choice(
                "transport",
                &["longpoll", "sse", "iframe", "chunked"],
                "longpoll",
            )?,
        };
        let delivery = match transport {
            "sse" => Delivery::Sse {
                ready: q.get("ready") == Some("1"),
            },
            "iframe" => Delivery::Iframe(Callback::allowed(
                q.get("callback").unwrap_or(DEFAULT_CALLBACK),
                &config.iframe_callbacks,
            )?),
            "chunked" => Delivery::Chunked,
            _ => Delivery::LongPoll { timeout },
        };
        // SSE resumes from what the browser last saw; the query forms serve the first
        // connection, whose header a page cannot set.
        let resume = match delivery {
            Delivery::Sse { .. } => request
                .header_str("last-event-id")?
                .or(q.get("last_event_id"))
                .or(q.get("lastEventID")),
            _ => None,
        };
        let since = match resume.or(q.get("since")) {
            Some(raw) => parse_since(raw, &names)?,
            None => BTreeMap::new(),
        };
        let cursor = names
            .into_iter()
            .map(|c| {
                let id = since.get(&c).copied();
                (c, id)
            })
            .collect();
        Ok(LongPollPlan::Subscribe {
            store: store_of(config),
            cursor,
            delivery,
        })
    }
}

/// The JSON of a message as clients get it.
fn message_json(m: &Message) -> Value {
    json!({
        "channel": m.channel,
        "id": m.id,
        "time": m.time,
        "type": m.content_type,
        "data": m.data,
    })
}

/// Reads every channel after the cursor; moves the cursor past what was read.
fn collect(store: &SpoolStore, cursor: &mut Cursor) -> io::Result<(Vec<Message>, Vec<String>)> {
    let mut messages = Vec::new();
    let mut missed = Vec::new();
    for (channel, after) in cursor.0.iter_mut() {
        let mut batch = store.read_after(channel, *after, READ_LIMIT)?;
        if *after > batch.last_id {
            // The client is ahead of the channel (its spool was reset): start it again from
            // what is there, and say so.
            batch = store.read_after(channel, 0, READ_LIMIT)?;
            batch.missed = true;
            *after = 0;
        }
        if batch.missed {
            missed.push(channel.clone());
        }
        if let Some(last) = batch.messages.last() {
            *after = last.id;
        }
        messages.extend(batch.messages);
    }
    Ok((messages, missed))
}

/// The version of a file: changes on every rewrite, even several within one second.
fn file_version(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(format!(
        "{:x}.{:x}.{:x}.{:x}",
        m.mtime(),
        m.mtime_nsec(),
        m.size(),
        m.ino()
    ))
}

/// Reads a file with the version it had, retrying if it changed during the read.
fn read_versioned(path: &std::path::Path) -> io::Result<(Option<String>, Option<String>)> {
    for _ in 0..5 {
        let before = file_version(path);
        if before.is_none() {
            return Ok((None, None));
        }
        let mut bytes = Vec::new();
        match std::fs::File::open(path) {
            Ok(f) => {
                f.take(MAX_FILE_BYTES).read_to_end(&mut bytes)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
        if file_version(path) == before {
            return Ok((before, Some(String::from_utf8_lossy(&bytes).into_owned())));
        }
    }
    Err(io::Error::other("the file kept changing while it was read"))
}

fn json_response<W: Write, T: Time>(
    response: &mut Response<W>,
    status: StatusCode,
    body: &Value,
    time: &T,
) -> io::Result<()> {
    let head = Head::new(status).header_static(CONTENT_TYPE, "application/json");
    response.write_whole(head, body.to_string().as_bytes(), time)
}

/// A failure before the head: a 500 with a reason, logged by the caller's error.
fn internal<W: Write, T: Time>(
    response: &mut Response<W>,
    error: io::Error,
    time: &T,
) -> io::Error {
    let refusal = RequestError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the channel store could not be read; see the error log",
    );
    let _ = head::write_error(
        &mut response.out,
        &refusal,
        response.mode,
        response.protocol,
        response.head_only,
        time.wall(),
    );
    error
}

impl Program for LongPoll {
    type Plan = LongPollPlan;

    fn allow(&self) -> &'static str {
        "GET, HEAD, POST"
    }

    fn prepare(
        &self,
        request: &Request,
        config: &Config,
        body: &mut dyn Read,
    ) -> Result<LongPollPlan, RequestError> {
        LongPollPlan::from_request(request, config, body)
    }

    fn respond<W: Write, T: Time>(
        &self,
        plan: LongPollPlan,
        response: &mut Response<W>,
        time: &mut T,
    ) -> io::Result<()> {
        match plan {
            LongPollPlan::Published { channel, id } => json_response(
                response,
                StatusCode::CREATED,
                &json!({ "channel": channel, "id": id }),
                time,
            ),
            LongPollPlan::File {
                name,
                path,
                since,
                timeout,
            } => {
                if response.head_only {
                    return json_response(response, StatusCode::OK, &json!({}), time);
                }
                let mut watch = FileWatch::new(&path).map_err(|e| internal(response, e, time))?;
                let deadline = time.elapsed() + timeout;
                loop {
                    let (version, data) =
                        read_versioned(&path).map_err(|e| internal(response, e, time))?;
                    let version = version.unwrap_or_else(|| "none".to_owned());
                    let changed = since.as_deref() != Some(version.as_str());
                    let now = time.elapsed();
                    if changed || now >= deadline {
                        let mut body =
                            json!({ "file": name, "version": version, "changed": changed });
                        if changed {
                            body["data"] = data.map_or(Value::Null, Value::String);
                        }
                        watch.leave_open();
                        return json_response(response, StatusCode::OK, &body, time);
                    }
                    watch
                        .wait(deadline - now)
                        .map_err(|e| internal(response, e, time))?;
                }
            }
            LongPollPlan::Subscribe {
                store,
                cursor,
                delivery,
            } => subscribe(store, cursor, delivery, response, time),
        }
    }
}

fn subscribe<W: Write, T: Time>(
    store: SpoolStore,
    start: Vec<(String, Option<u64>)>,
    delivery: Delivery,
    response: &mut Response<W>,
    time: &mut T,
) -> io::Result<()> {
    // Watch first, then read: a message that lands between the two is seen by the read, and one
    // that lands after it wakes the watch.
    let mut dirs = Vec::with_capacity(start.len());
    for (channel, _) in &start {
        dirs.push(
            store
                .ensure_channel(channel)
                .map_err(|e| internal(response, e, time))?,
        );
    }
    let mut watch = DirWatch::new(dirs.iter().map(PathBuf::as_path))
        .map_err(|e| internal(response, e, time))?;
    let mut cursor = Cursor(Vec::with_capacity(start.len()));
    for (channel, since) in start {
        let id = match since {
            Some(id) => id,
            None => store
                .last_id(&channel)
                .map_err(|e| internal(response, e, time))?,
        };
        cursor.0.push((channel, id));
    }

    if let Delivery::LongPoll { timeout } = delivery {
        let deadline = time.elapsed() + timeout;
        loop {
            let (messages, missed) =
                collect(&store, &mut cursor).map_err(|e| internal(response, e, time))?;
            let now = time.elapsed();
            if !messages.is_empty() || !missed.is_empty() || now >= deadline || response.head_only {
                let body = json!({
                    "messages": messages.iter().map(message_json).collect::<Vec<_>>(),
                    "cursor": cursor.render(),
                    "missed": !missed.is_empty(),
                });
                watch.leave_open();
                return json_response(response, StatusCode::OK, &body, time);
            }
            watch
                .wait(deadline - now)
                .map_err(|e| internal(response, e, time))?;
        }
    }

    stream(&store, cursor, delivery, &mut watch, response, time)
}

/// A streamed subscription: messages as they come, heartbeats, a normal end at the lifetime.
fn stream<W: Write, T: Time>(
    store: &SpoolStore,
    mut cursor: Cursor,
    delivery: Delivery,
    watch: &mut DirWatch,
    response: &mut Response<W>,
    time: &mut T,
) -> io::Result<()> {
    let config = response.config.clone();
    let framing = Framing::for_response(response.mode, response.protocol);
    let content_type = match delivery {
        Delivery::Sse { .. } => "text/event-stream; charset=utf-8",
        Delivery::Iframe(_) => "text/html; charset=utf-8",
        _ => "application/x-ndjson; charset=utf-8",
    };
    let mut head = Head::new(StatusCode::OK).header_static(CONTENT_TYPE, content_type);
    if delivery == Delivery::Chunked && framing == Framing::Chunked {
        head = head.header_static(TRANSFER_ENCODING, "chunked");
    }
    if !response.write_head(&head, time)? {
        return Ok(());
    }
    let out = &mut response.out;
    let mut sink: Sink<&mut W> = match &delivery {
        Delivery::Sse { ready } => {
            let mut w = SseWriter::new(out);
            w.start(Some(config.sse_retry_ms))?;
            if *ready {
                let start = json!({ "cursor": cursor.render() });
                w.event(None, Some("ready"), &start.to_string())?;
            }
            Sink::Sse(w)
        }
        Delivery::Iframe(callback) => {
            let mut w = IframeWriter::new(out, callback.clone());
            w.start(config.iframe_padding_bytes)?;
            Sink::Iframe(w)
        }
        _ => {
            let mut w = ChunkedWriter::new(out, framing);
            w.start(config.chunked_padding_bytes)?;
            // The padding ends with a line break so every message is a line of its own.
            w.data(b"\n")?;
            Sink::Chunked(w)
        }
    };

    let heartbeat = Duration::from_secs(config.heartbeat_secs);
    let lifetime = Duration::from_secs(config.max_lifetime_secs);
    let mut last_write = time.elapsed();
    loop {
        let (messages, missed) = collect(store, &mut cursor)?;
        let now = time.elapsed();
        if !missed.is_empty() {
            sink.missed(&missed, &cursor)?;
            last_write = now;
        }
        // Each message carries the cursor just past it, so a client that resumes from any
        // event's id gets exactly the messages after that event.
        let mut position = cursor.clone();
        for (channel, id) in position.0.iter_mut() {
            if let Some(first) = messages.iter().find(|m| &m.channel == channel) {
                *id = first.id - 1;
            }
        }
        for m in &messages {
            if let Some(slot) = position.0.iter_mut().find(|(c, _)| *c == m.channel) {
                slot.1 = m.id;
            }
            sink.message(m, &position)?;
            last_write = now;
        }
        if now >= lifetime {
            return sink.finish();
        }
        if now >= last_write + heartbeat {
            sink.heartbeat()?;
            last_write = now;
        }
        let wake = (last_write + heartbeat).min(lifetime);
        watch.wait(wake.saturating_sub(time.elapsed()))?;
    }
}

/// The streamed transports behind one interface for the subscribe loop.
enum Sink<W: Write> {
    Sse(SseWriter<W>),
    Iframe(IframeWriter<W>),
    Chunked(ChunkedWriter<W>),
}

impl<W: Write> Sink<W> {
    fn message(&mut self, m: &Message, position: &Cursor) -> io::Result<()> {
        let cursor = position.render();
        match self {
            Sink::Sse(w) => w.event(Some(&cursor), None, &message_json(m).to_string()),
            Sink::Iframe(w) => {
                let mut v = message_json(m);
                v["cursor"] = Value::String(cursor);
                w.call(&[v])
            }
            Sink::Chunked(w) => {
                let mut v = message_json(m);
                v["cursor"] = Value::String(cursor);
                let mut line = v.to_string().into_bytes();
                line.push(b'\n');
                w.data(&line)
            }
        }
    }

    fn missed(&mut self, channels: &[String], cursor: &Cursor) -> io::Result<()> {
        let v = json!({ "missed": true, "channels": channels, "cursor": cursor.render() });
        match self {
            Sink::Sse(w) => w.event(None, Some("missed"), &v.to_string()),
            Sink::Iframe(w) => w.call(&[v]),
            Sink::Chunked(w) => {
                let mut line = v.to_string().into_bytes();
                line.push(b'\n');
                w.data(&line)
            }
        }
    }

    fn heartbeat(&mut self) -> io::Result<()> {
        match self {
            Sink::Sse(w) => w.heartbeat(),
            Sink::Iframe(w) => w.heartbeat(),
            Sink::Chunked(w) => w.heartbeat(),
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        match self {
            // EventSource reconnects by itself when the stream ends.
            Sink::Sse(_) => Ok(()),
            Sink::Iframe(w) => w.finish(),
            Sink::Chunked(w) => w.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn since_forms() {
        let one = names(&["a"]);
        let two = names(&["a", "b"]);
        assert_eq!(
            parse_since("41", &one)
                .ok()
                .and_then(|m| m.get("a").copied()),
            Some(41)
        );
        let m = parse_since("a:41,b:7", &two).unwrap_or_default();
        assert_eq!((m.get("a"), m.get("b")), (Some(&41), Some(&7)));
        for bad in [
            "-1",
            "x",
            "a:-1",
            "a:x",
            "99999999999999999999999",
            "c:1",
            "a",
            "a:",
            "1e3",
        ] {
            assert!(parse_since(bad, &one).is_err() || bad == "a", "{bad}");
        }
        assert!(parse_since("41", &two).is_err());
        assert!(parse_since("c:1", &two).is_err());
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
