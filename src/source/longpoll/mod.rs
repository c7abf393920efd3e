//! The *long-poll* program: publish to channels, subscribe to them by long-poll or as a stream,
//! and long-poll files other programs write.
//!
//! - `POST /cgi-bin/nph-longpoll/CHANNEL` (or `?channel=`) publishes the body; 201 with
//!   `{"channel":…,"id":…}` ([`publish`]).
//! - `GET` with one or more `channel`s long-polls: the answer comes as soon as any channel has
//!   messages after the client's [`cursor`], or after `timeout` seconds, as
//!   `{"messages":[…],"cursor":"a:42:EPOCH,b:7:EPOCH","missed":false}` ([`subscribe`]).
//! - `transport=sse` (or `Accept: text/event-stream`), `iframe`, `chunked` or `mixed` streams the same
//!   messages; SSE resumes from `Last-Event-ID` (or `last_event_id`, `lastEventID`). With
//!   `ready=1` an SSE stream opens with a `ready` event carrying the cursor it starts from.
//! - `GET ?file=NAME&since=VERSION` long-polls a watched file until its version changes
//!   ([`mod@file`]).
//!
//! The programs reach channels only through [`crate::store::ChannelStore`], so the spool and
//! the Redis store serve every one of these the same way.

pub mod cursor;
pub mod file;
pub mod handed;
pub mod publish;
pub mod subscribe;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::time::Duration;

use http::header::CONTENT_TYPE;
use http::{Method, StatusCode};
use serde_json::Value;

use crate::cgi::{Request, RequestError};
use crate::config::Config;
use crate::head::{self, Head};
use crate::name::Channel;
use crate::pacing::Time;
use crate::program::{Presence, Program, Response};
use crate::rights::Rights;
use crate::store::{self, ChannelStore, StoreError};
use crate::transport::accepts_event_stream;
use crate::transport::iframe::Callback;
use cursor::Position;

/// Messages read from one channel for one answer, at most.
pub const READ_LIMIT: usize = 1000;

/// The largest watched file served.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The default iframe callback of channel streams.
pub const DEFAULT_CALLBACK: &str = "serverpush.receive";

/// Seconds a client is asked to wait (`Retry-After`) when the store is unavailable.
pub const RETRY_AFTER_SECS: &str = "2";

/// The long-poll program.
#[derive(Clone, Copy, Debug, Default)]
pub struct LongPoll;

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
    /// `multipart/x-mixed-replace`, a JSON part per message (read with `fetch`).
    Mixed,
}

/// A validated long-poll request.
#[derive(Debug)]
pub enum LongPollPlan {
    /// The message was stored (or its idempotency key had been seen).
    Published(publish::Receipt),
    /// A subscription.
    Subscribe {
        /// The store, open.
        store: Box<dyn ChannelStore>,
        /// Where the client is, per channel; channels without a position start at their end
        /// ("new messages only").
        start: Vec<(Channel, Option<Position>)>,
        /// How to deliver.
        delivery: Delivery,
        /// Who subscribes (a token's `sub`, or `REMOTE_USER`), for presence.
        subscriber: Option<String>,
        /// The channels whose companion publishes this stream's join and leave.
        events: Vec<Channel>,
    },
    /// A watched file.
    File(file::WatchedFile),
    /// A report computed when asked: a channel's presence (JSON) or the host's metrics.
    Report {
        /// Its media type.
        content_type: &'static str,
        /// Its text.
        body: String,
    },
}

fn bad(reason: impl Into<String>) -> RequestError {
    RequestError::bad_request(reason)
}

/// The refusal a store failure gets before anything is answered; details go to the log only.
pub(crate) fn store_refusal(error: &StoreError) -> RequestError {
    match error {
        StoreError::Unavailable(_) => RequestError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the channel store is unavailable; try again shortly",
        )
        .with_header(http::header::RETRY_AFTER, RETRY_AFTER_SECS),
        StoreError::Full(_) => RequestError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "the channel store is full; nothing was stored",
        ),
        StoreError::Failed(_) => RequestError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the channel store failed; see the error log",
        ),
    }
    .with_detail(error.to_string())
}

/// The channels a request names: the path info's, then every `channel` parameter.
fn channels(request: &Request, config: &Config) -> Result<Vec<Channel>, RequestError> {
    let mut names: Vec<Channel> = Vec::new();
    let from_path = request
        .path_info
        .as_deref()
        .map(|p| p.trim_start_matches('/'))
        .filter(|p| !p.is_empty());
    for name in from_path
        .into_iter()
        .chain(request.query.get_all("channel"))
    {
        let channel = Channel::parse(name).map_err(|e| bad(e.to_string()))?;
        if !names.contains(&channel) {
            names.push(channel);
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

impl LongPollPlan {
    /// Validates the request; a publish is stored here, before anything is answered.
    pub fn from_request(
        request: &Request,
        config: &Config,
        body: &mut dyn Read,
    ) -> Result<LongPollPlan, RequestError> {
        let q = &request.query;
        if request.method == Method::POST {
            return publish::publish(request, config, body).map(LongPollPlan::Published);
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

        if q.get("metrics").is_some() {
            return report_metrics(request, config);
        }
        if q.get("presence").is_some() {
            return report_presence(request, config);
        }

        if let Some(name) = q.get("file") {
            return file::WatchedFile::from_request(request, name, q.get("since"), timeout, config)
                .map(LongPollPlan::File);
        }

        let names = channels(request, config)?;
        if names.is_empty() {
            return Err(bad(
                "name a channel: /cgi-bin/nph-longpoll/NAME or ?channel=NAME",
            ));
        }
        let mut rights = Rights::new(request, config);
        rights.check_subscribe(&names)?;
        let subscriber = rights.subscriber();
        let transport = match q.get("transport") {
            None if accepts_event_stream(request)? => "sse",
            _ => q.choice(
                "transport",
                &["longpoll", "sse", "iframe", "chunked", "mixed"],
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
            "mixed" => Delivery::Mixed,
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
        let mut since = match resume.or(q.get("since")) {
            Some(raw) => cursor::parse(raw, &names)?,
            None => BTreeMap::new(),
        };
        let start: Vec<(Channel, Option<Position>)> = names
            .into_iter()
            .map(|c| {
                let position = since.remove(&c);
                (c, position)
            })
            .collect();
        // A long-poll comes and goes with every message: only streams join and leave.
        let events = match delivery {
            Delivery::LongPoll { .. } => Vec::new(),
            _ => start
                .iter()
                .map(|(c, _)| c)
                .filter(|c| crate::rights::has_presence_events(config, c.as_str()))
                .cloned()
                .collect(),
        };
        // Opened last: a request refused for its own faults never costs a Redis connection.
        let store = store::open(config).map_err(|e| store_refusal(&e))?;
        Ok(LongPollPlan::Subscribe {
            store,
            start,
            delivery,
            subscriber,
            events,
        })
    }
}

/// The live streams' slots, for a report.
fn live_slots(config: &Config) -> Result<Vec<crate::slots::Live>, RequestError> {
    crate::slots::live(&config.streams_path()).map_err(|e| unreadable("the stream slots", &e))
}

/// A report's refusal when `what` cannot be read; the reason goes to the log.
fn unreadable(what: &str, error: &io::Error) -> RequestError {
    RequestError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("{what} cannot be read; see the error log"),
    )
    .with_detail(error.to_string())
}

/// `?metrics`: the host's figures in Prometheus's text format, for the holders of
/// `metrics_token` and the users of `metrics_users`.
fn report_metrics(request: &Request, config: &Config) -> Result<LongPollPlan, RequestError> {
    Rights::new(request, config).check_metrics()?;
    let live = live_slots(config)?;
    // A store that cannot be read is a figure (store_up 0), not a failed scrape.
    let heads = store::open(config)
        .ok()
        .and_then(|mut store| crate::source::presence::heads(store.as_mut(), &live, 20).ok());
    // A counter that cannot be read fails the scrape: left out, Prometheus would read its
    // return as a reset.
    let counters = crate::counters::totals(&config.streams_path())
        .map_err(|e| unreadable("the metrics' counters", &e))?;
    let mut body = Vec::new();
    crate::source::presence::write_metrics(&mut body, config, &live, heads.as_ref(), &counters, 20)
        .map_err(|e| unreadable("the metrics", &e))?;
    Ok(LongPollPlan::Report {
        content_type: crate::source::presence::METRICS_CONTENT_TYPE,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// `CHANNEL?presence`: who is on one channel now, for those who may subscribe to it.
fn report_presence(request: &Request, config: &Config) -> Result<LongPollPlan, RequestError> {
    let names = channels(request, config)?;
    let [channel] = names.as_slice() else {
        return Err(bad(
            "presence is asked of one channel: /cgi-bin/nph-longpoll/NAME?presence",
        ));
    };
    let mut rights = Rights::new(request, config);
    rights.check_subscribe(std::slice::from_ref(channel))?;
    // Who the others are is for an asker who is someone too (a token's subject, a user the
    // server authenticated): on a public channel, anyone may ask, and gets the count alone.
    let names = rights.subscriber().is_some();
    // Every host's streams when the store serves several.
    let refusal = |e: StoreError| store_refusal(&e).with_detail(e.to_string());
    let mut store = store::open(config).map_err(refusal)?;
    let records = crate::source::presence::live_records(config, store.as_mut()).map_err(refusal)?;
    let body =
        crate::source::presence::channel_presence(&records, channel.as_str(), names).to_string();
    Ok(LongPollPlan::Report {
        content_type: "application/json",
        body,
    })
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

/// Writes `refusal` as the whole answer: for failures found after `prepare`, before the head.
fn write_refusal<W: Write, T: Time>(response: &mut Response<W>, refusal: &RequestError, time: &T) {
    let _ = head::write_error(
        &mut response.out,
        refusal,
        response.mode,
        response.protocol,
        response.head_only,
        time.wall(),
    );
}

/// A store failure before the head: the refusal it gets (503 for an unavailable store, 507 for
/// a full one, 500 for the rest), and the error for the caller to log.
pub(crate) fn refuse_late<W: Write, T: Time>(
    response: &mut Response<W>,
    error: StoreError,
    time: &T,
) -> io::Error {
    write_refusal(response, &store_refusal(&error), time);
    io::Error::other(error)
}

impl Program for LongPoll {
    type Plan = LongPollPlan;

    fn presence(&self, plan: &LongPollPlan) -> Presence {
        match plan {
            LongPollPlan::Published(_) | LongPollPlan::Report { .. } => Presence::default(),
            LongPollPlan::File(file) => Presence {
                transport: "longpoll",
                resources: vec![format!("file:{}", file.name)],
                ..Presence::default()
            },
            LongPollPlan::Subscribe {
                start,
                delivery,
                subscriber,
                events,
                ..
            } => Presence {
                transport: match delivery {
                    Delivery::LongPoll { .. } => "longpoll",
                    Delivery::Sse { .. } => "sse",
                    Delivery::Iframe(_) => "iframe",
                    Delivery::Chunked => "chunked",
                    Delivery::Mixed => "mixed",
                },
                resources: start.iter().map(|(c, _)| c.to_string()).collect(),
                subscriber: subscriber.clone(),
                mercure: None,
                events: events.iter().map(|c| c.to_string()).collect(),
            },
        }
    }

    fn holds_connection(&self, plan: &LongPollPlan) -> bool {
        match plan {
            LongPollPlan::Published(_) | LongPollPlan::Report { .. } => false,
            LongPollPlan::File(file) => !file.timeout.is_zero(),
            LongPollPlan::Subscribe { delivery, .. } => match delivery {
                Delivery::LongPoll { timeout } => !timeout.is_zero(),
                _ => true,
            },
        }
    }

    fn may_hand_over(&self, plan: &LongPollPlan) -> bool {
        matches!(plan, LongPollPlan::Subscribe { delivery, .. }
            if !matches!(delivery, Delivery::LongPoll { .. }))
    }

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
            LongPollPlan::Published(receipt) => receipt.respond(response, time),
            LongPollPlan::Report { content_type, body } => {
                let head = Head::new(StatusCode::OK)
                    .header_static(CONTENT_TYPE, content_type)
                    .header_static(http::header::CACHE_CONTROL, "no-store");
                response.write_whole(head, body.as_bytes(), time)
            }
            LongPollPlan::File(watched) => watched.respond(response, time),
            LongPollPlan::Subscribe {
                store,
                start,
                delivery,
                events,
                ..
            } => {
                // Streams of a channel that announces joins and leaves, and those following its
                // announcements, publish the leaves ended streams owe.
                let sweeps = !events.is_empty()
                    || start.iter().any(|(c, _)| {
                        crate::rights::presence_base(&response.config, c.as_str()).is_some()
                    });
                subscribe::subscribe(store, start, delivery, sweeps, response, time)
            }
        }
    }
}
