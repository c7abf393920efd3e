//! The *Mercure hub* front: the Mercure protocol (the wire format of hub v0.x, draft-07 on) at
//! `/.well-known/mercure`, over the same stores, rights, streams cap and stream engine as the
//! suite's own channels, so an application written for a Mercure hub (Symfony's Mercure
//! component, API Platform, any Mercure client) uses the site as its hub.
//!
//! - `POST` a form (`topic` repeated, `data`, `private`, `id`, `type`, `retry`) with a token
//!   whose `mercure.publish` selectors match every topic: `200 text/plain` with the update's id
//!   ([`publish`]).
//! - `GET ?topic=SELECTOR` (repeated) streams the matching updates as `text/event-stream`,
//!   resuming after `Last-Event-ID` (or `lastEventID`; `earliest` for all history) ([`hub`]).
//! - `OPTIONS` answers CORS preflights for `cors_origins`.
//! - With `mercure_subscriptions`, subscriptions are published as they start and end, and
//!   `GET /subscriptions[/{topic}[/{subscriber}]]` lists them ([`subscriptions`]).
//!
//! Every update goes to one ordered log, the store channel
//! [`Channel::mercure_hub`](crate::name::Channel::mercure_hub), as the reference hub keeps one
//! log: Mercure ids are global (one `Last-Event-ID` resumes a subscription to many selectors),
//! and selectors are templates that no per-topic channel could be found from. Retention, both
//! stores, and several hosts over Redis come with the store; private updates live only in that
//! log, which no channel request can name, and are sent only to subscribers whose token grants
//! one of their topics.

pub mod hub;
pub mod publish;
pub mod selector;
pub mod subscriptions;
pub mod update;

use std::io::{self, Read, Write};

use http::header::{CONTENT_TYPE, HeaderName};
use http::{Method, StatusCode};

use crate::cgi::{Request, RequestError};
use crate::config::Config;
use crate::head::Head;
use crate::pacing::Time;
use crate::program::{Presence, Program, Response};

/// The most topics one update or one subscription may have.
pub const MAX_TOPICS: usize = 64;

/// The Mercure hub program.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mercure;

/// A validated Mercure request.
#[derive(Debug)]
pub enum MercurePlan {
    /// A CORS preflight.
    Preflight(Cors),
    /// An update was stored: its id.
    Published {
        /// The update's event id.
        id: String,
        /// The answer's CORS headers.
        cors: Cors,
    },
    /// A subscription.
    Subscribe(hub::Subscription),
    /// The subscriptions API's answer (JSON-LD).
    Subscriptions {
        /// The answer's body.
        body: String,
        /// The answer's CORS headers.
        cors: Cors,
    },
}

/// The CORS headers an answer gets: the request's origin with credentials when `cors_origins`
/// names it; any origin without credentials when it holds `*`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cors {
    origin: Option<String>,
    credentials: bool,
}

impl Cors {
    /// The CORS answer for `request`.
    pub fn of(request: &Request, config: &Config) -> Result<Cors, RequestError> {
        let Some(origin) = request.header_str("origin")? else {
            return Ok(Cors::default());
        };
        let named = config.cors_origins.iter().any(|allowed| allowed == origin);
        let any = config.cors_origins.iter().any(|allowed| allowed == "*");
        Ok(Cors {
            origin: (named || any).then(|| origin.to_owned()),
            credentials: named,
        })
    }

    /// `head` with the CORS headers, when the origin is allowed. A named origin may send
    /// credentials (the `mercureAuthorization` cookie carries a browser's token), so it is
    /// named in the answer; `*` lets any page subscribe, but never with the cookies a browser
    /// holds for this site, which would hand any page its user's private updates.
    pub fn apply(&self, head: Head) -> io::Result<Head> {
        let Some(origin) = &self.origin else {
            return Ok(head);
        };
        let head = if self.credentials {
            head.header(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin)
                .map_err(io::Error::other)?
                .header_static(http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true")
                .header_static(http::header::VARY, "Origin")
        } else {
            head.header_static(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        };
        Ok(head.header_static(http::header::ACCESS_CONTROL_EXPOSE_HEADERS, "Last-Event-ID"))
    }

    /// The preflight's own headers: the methods and the request headers a subscriber or a
    /// publisher sends (`Last-Event-ID` among them, which `EventSource` adds on reconnection).
    fn preflight(&self, head: Head) -> io::Result<Head> {
        let head = self.apply(head)?;
        if self.origin.is_none() {
            return Ok(head);
        }
        Ok(head
            .header_static(
                http::header::ACCESS_CONTROL_ALLOW_METHODS,
                "GET, POST, OPTIONS",
            )
            .header_static(
                http::header::ACCESS_CONTROL_ALLOW_HEADERS,
                "Authorization, Last-Event-ID, Cache-Control, Content-Type",
            )
            .header_static(http::header::ACCESS_CONTROL_MAX_AGE, "600"))
    }
}

/// The `Last-Event-ID` response header.
pub fn last_event_id_header() -> HeaderName {
    HeaderName::from_static("last-event-id")
}

impl Program for Mercure {
    type Plan = MercurePlan;

    fn allow(&self) -> &'static str {
        "GET, HEAD, POST, OPTIONS"
    }

    fn holds_connection(&self, plan: &MercurePlan) -> bool {
        matches!(plan, MercurePlan::Subscribe(_))
    }

    fn presence(&self, plan: &MercurePlan) -> Presence {
        match plan {
            MercurePlan::Subscribe(subscription) => subscription.presence(),
            _ => Presence::default(),
        }
    }

    fn prepare(
        &self,
        request: &Request,
        config: &Config,
        body: &mut dyn Read,
    ) -> Result<MercurePlan, RequestError> {
        let cors = Cors::of(request, config)?;
        if request.method == Method::OPTIONS {
            return Ok(MercurePlan::Preflight(cors));
        }
        if request.method == Method::POST {
            let id = publish::publish(request, config, body)?;
            return Ok(MercurePlan::Published { id, cors });
        }
        if let Some(asked) = request
            .path_info
            .as_deref()
            .and_then(subscriptions::Asked::of)
        {
            return subscriptions_api(request, config, asked, cors);
        }
        hub::Subscription::from_request(request, config, cors).map(MercurePlan::Subscribe)
    }

    fn respond<W: Write, T: Time>(
        &self,
        plan: MercurePlan,
        response: &mut Response<W>,
        time: &mut T,
    ) -> io::Result<()> {
        match plan {
            MercurePlan::Preflight(cors) => {
                let head = cors.preflight(Head::new(StatusCode::NO_CONTENT))?;
                response.write_head(&head, time).map(|_| ())
            }
            MercurePlan::Published { id, cors } => {
                let head = Head::new(StatusCode::OK)
                    .header_static(CONTENT_TYPE, "text/plain; charset=utf-8");
                response.write_whole(cors.apply(head)?, id.as_bytes(), time)
            }
            MercurePlan::Subscribe(subscription) => subscription.respond(response, time),
            MercurePlan::Subscriptions { body, cors } => {
                let head = Head::new(StatusCode::OK)
                    .header_static(CONTENT_TYPE, "application/ld+json")
                    .header_static(http::header::CACHE_CONTROL, "no-store");
                response.write_whole(cors.apply(head)?, body.as_bytes(), time)
            }
        }
    }
}

/// A `GET` of `/subscriptions…` below the hub's address: the subscriptions API when the site
/// turned it on, 404 otherwise.
fn subscriptions_api(
    request: &Request,
    config: &Config,
    asked: subscriptions::Asked,
    cors: Cors,
) -> Result<MercurePlan, RequestError> {
    let not_found = || RequestError::new(StatusCode::NOT_FOUND, "no such resource on this hub");
    if !config.mercure_subscriptions {
        return Err(not_found());
    }
    // Nothing is read for a request without a token.
    let grant = subscriptions::grant(request, config)?;
    let refusal = |e: crate::store::StoreError| {
        crate::source::longpoll::store_refusal(&e).with_detail(e.to_string())
    };
    let mut store = crate::store::open(config).map_err(refusal)?;
    let records = crate::source::presence::live_records(config, store.as_mut()).map_err(refusal)?;
    subscriptions::authorize(&grant, &asked)?;
    let asked = asked.resolved(&records);
    subscriptions::authorize(&grant, &asked)?;
    let (last, epoch) = store
        .head(&crate::name::Channel::mercure_hub())
        .map_err(refusal)?;
    let last_event_id = match epoch {
        Some(epoch) if last > 0 => update::minted(&epoch, last),
        _ => "earliest".to_owned(),
    };
    let answer = subscriptions::answer(&asked, &records, &last_event_id).ok_or_else(not_found)?;
    Ok(MercurePlan::Subscriptions {
        body: answer.to_string(),
        cors,
    })
}
