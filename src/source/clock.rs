//! The *clock* pushes the server's time over every transport, as the seed scripts did with
//! CGI.pm (`multipart/x-mixed-replace` text), PHP (chunked, forever frame) and as SSE and a
//! live clock-face image.
//!
//! Parameters: `transport` (`mixed`, `chunked`, `iframe`, `sse`, `image`, `json`), `type`,
//! `compat=cgipm`, `interval` (seconds, 0.1 to 3600), `count`, `format` (strftime), `tz`
//! (`utc`, `local`), `callback` (iframe), `size` (image).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::time::Duration;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Local, Timelike, Utc};
use http::StatusCode;
use http::header::{CONTENT_TYPE, TRANSFER_ENCODING};
use serde_json::{Value, json};

use crate::cgi::{Request, RequestError};
use crate::config::Config;
use crate::head::Head;
use crate::pacing::{Pacing, Schedule, Time};
use crate::program::{Presence, Program, Response};
use crate::source::clockface;
use crate::stream::{self, Event, Flow, Output, Part, Source, Unit, Writer};
use crate::transport::accepts_event_stream;
use crate::transport::chunked::{ChunkedWriter, Framing};
use crate::transport::iframe::{Callback, IframeWriter};
use crate::transport::multipart::{MultipartWriter, Style};
use crate::transport::sse::SseWriter;

/// The default time format: what Perl's `scalar(localtime)` prints, as in the CGI.pm demo.
pub const DEFAULT_FORMAT: &str = "%a %b %e %H:%M:%S %Y";

/// The default iframe callback, the one the original forever-frame page defines.
pub const DEFAULT_CALLBACK: &str = "comet.printServerTime";

/// The longest `format` accepted.
pub const MAX_FORMAT_LEN: usize = 256;

/// The clock program.
#[derive(Clone, Copy, Debug, Default)]
pub struct Clock;

/// The time zone the clock shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zone {
    /// UTC.
    Utc,
    /// The server's local zone.
    Local,
}

/// How the time is pushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// `multipart/x-mixed-replace` text parts.
    Mixed {
        /// `text/plain` or `text/html`.
        part_type: &'static str,
        /// Standard or CGI.pm layout.
        style: Style,
    },
    /// Chunked text or HTML, one line per tick.
    Chunked {
        /// `text/plain` or `text/html`.
        content_type: &'static str,
    },
    /// A forever frame calling `callback(text, unix_ms)`.
    Iframe(Callback),
    /// SSE, one event per tick.
    Sse,
    /// `multipart/x-mixed-replace` clock-face images.
    Image {
        /// `image/png` or `image/jpeg`.
        part_type: &'static str,
        /// Width and height in pixels.
        size: u32,
    },
    /// One JSON answer.
    Json,
}

/// A validated clock request.
#[derive(Clone, Debug)]
pub struct ClockPlan {
    /// How the time is pushed.
    pub delivery: Delivery,
    /// Time between ticks.
    pub interval: Duration,
    /// Ticks before a normal end; `None` until the lifetime ends.
    pub count: Option<u64>,
    /// The time format, parsed.
    pub format: Vec<Item<'static>>,
    /// The zone shown.
    pub zone: Zone,
}

impl ClockPlan {
    /// Validates the clock's parameters.
    pub fn from_request(request: &Request, config: &Config) -> Result<ClockPlan, RequestError> {
        let q = &request.query;
        let transports = ["mixed", "chunked", "iframe", "sse", "image", "json"];
        let transport = match q.get("transport") {
            None if accepts_event_stream(request)? => "sse",
            _ => q.choice("transport", &transports, "mixed")?,
        };
        let part_type = |allowed: &[&'static str]| -> Result<&'static str, RequestError> {
            match q.get("type") {
                None => Ok(allowed[0]),
                Some(t) => allowed.iter().copied().find(|a| *a == t).ok_or_else(|| {
                    RequestError::bad_request(format!(
                        "type for transport={transport} must be one of: {}",
                        allowed.join(", ")
                    ))
                }),
            }
        };
        let compat = q.choice("compat", &["none", "cgipm"], "none")?;
        if compat == "cgipm" && transport != "mixed" {
            return Err(RequestError::bad_request(
                "compat=cgipm applies to transport=mixed only",
            ));
        }
        let delivery = match transport {
            "mixed" => Delivery::Mixed {
                part_type: part_type(&["text/plain", "text/html"])?,
                style: if compat == "cgipm" {
                    Style::CgiPm
                } else {
                    Style::Standard
                },
            },
            "chunked" => Delivery::Chunked {
                content_type: part_type(&["text/html", "text/plain"])?,
            },
            "iframe" => Delivery::Iframe(Callback::allowed(
                q.get("callback").unwrap_or(DEFAULT_CALLBACK),
                &config.iframe_callbacks,
            )?),
            "sse" => Delivery::Sse,
            "image" => Delivery::Image {
                part_type: part_type(&["image/png", "image/jpeg"])?,
                size: q.number("size", 32..=1024, 200)?,
            },
            _ => Delivery::Json,
        };
        let interval = q.number("interval", 0.1..=3600.0, 1.0)?;
        // A clock face changes once a second, and drawing one costs far more than a line of
        // text: faster image ticks would only burn CPU.
        if matches!(delivery, Delivery::Image { .. }) && interval < 1.0 {
            return Err(RequestError::bad_request(
                "interval for transport=image must be at least 1",
            ));
        }
        let count = match q.get("count") {
            None => None,
            Some(_) => Some(q.number("count", 1..=1_000_000u64, 1)?),
        };
        let zone = match q.choice("tz", &["local", "utc"], "local")? {
            "utc" => Zone::Utc,
            _ => Zone::Local,
        };
        let format = parse_format(q.get("format").unwrap_or(DEFAULT_FORMAT))?;
        Ok(ClockPlan {
            delivery,
            interval: Duration::from_secs_f64(interval),
            count,
            format,
            zone,
        })
    }

    /// The time formatted as asked.
    pub fn text(&self, now: DateTime<Utc>) -> String {
        format_time(now, self.zone, &self.format).unwrap_or_default()
    }
}

/// Parses a strftime pattern, refusing one chrono rejects or cannot render.
pub fn parse_format(raw: &str) -> Result<Vec<Item<'static>>, RequestError> {
    let refuse = || {
        RequestError::bad_request(format!(
            "format must be a strftime pattern of at most {MAX_FORMAT_LEN} bytes that chrono accepts"
        ))
    };
    if raw.len() > MAX_FORMAT_LEN {
        return Err(refuse());
    }
    let items = StrftimeItems::new(raw)
        .parse_to_owned()
        .map_err(|_| refuse())?;
    // Some specifiers parse but cannot be rendered for a date-time (chrono then fails the
    // formatting); trying both zones once refuses those here rather than mid-stream.
    let probe = DateTime::<Utc>::UNIX_EPOCH;
    for zone in [Zone::Utc, Zone::Local] {
        format_time(probe, zone, &items).ok_or_else(refuse)?;
    }
    Ok(items)
}

fn format_time(now: DateTime<Utc>, zone: Zone, items: &[Item<'static>]) -> Option<String> {
    let mut text = String::new();
    let written = match zone {
        Zone::Utc => write!(text, "{}", now.format_with_items(items.iter())),
        Zone::Local => write!(
            text,
            "{}",
            now.with_timezone(&Local).format_with_items(items.iter())
        ),
    };
    written.ok().map(|()| text)
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn face(plan: &ClockPlan, now: DateTime<Utc>, size: u32) -> image::RgbImage {
    let (h, m, s) = match plan.zone {
        Zone::Utc => (now.hour(), now.minute(), now.second()),
        Zone::Local => {
            let local = now.with_timezone(&Local);
            (local.hour(), local.minute(), local.second())
        }
    };
    clockface::draw(size, h, m, s)
}

fn encode(image: &image::RgbImage, part_type: &str) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(8192);
    let result = if part_type == "image/jpeg" {
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85).encode_image(image)
    } else {
        image::codecs::png::PngEncoder::new(&mut bytes).write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )
    };
    result.map_err(io::Error::other)?;
    Ok(bytes)
}

use image::ImageEncoder as _;

impl Program for Clock {
    type Plan = ClockPlan;

    fn holds_connection(&self, plan: &ClockPlan) -> bool {
        plan.delivery != Delivery::Json
    }

    fn presence(&self, plan: &ClockPlan) -> Presence {
        let transport = match plan.delivery {
            Delivery::Mixed { .. } => "mixed",
            Delivery::Chunked { .. } => "chunked",
            Delivery::Iframe(_) => "iframe",
            Delivery::Sse => "sse",
            Delivery::Image { .. } => "image",
            Delivery::Json => "json",
        };
        Presence {
            transport,
            // Not a channel name (those have no `:`): a channel may be called "clock".
            resources: vec!["clock:".to_owned()],
            subscriber: None,
            ..Presence::default()
        }
    }

    fn allow(&self) -> &'static str {
        "GET, HEAD"
    }

    fn prepare(
        &self,
        request: &Request,
        config: &Config,
        _body: &mut dyn Read,
    ) -> Result<ClockPlan, RequestError> {
        ClockPlan::from_request(request, config)
    }

    fn respond<W: Write, T: Time>(
        &self,
        plan: ClockPlan,
        response: &mut Response<W>,
        time: &mut T,
    ) -> io::Result<()> {
        let config = response.config.clone();
        if let Delivery::Mixed {
            style: Style::CgiPm,
            ..
        } = plan.delivery
        {
            // CGI.pm's own boundaries are "------- =_" and 17 random alphanumerics.
            let random: String = response.boundary.chars().take(17).collect();
            response.boundary = format!("------- =_{random}");
        }
        let content_type = match &plan.delivery {
            Delivery::Mixed { style, .. } => {
                MultipartWriter::<W>::content_type(&response.boundary, *style)
            }
            Delivery::Image { .. } => {
                MultipartWriter::<W>::content_type(&response.boundary, Style::Standard)
            }
            Delivery::Chunked { content_type } => format!("{content_type}; charset=utf-8"),
            Delivery::Iframe(_) => "text/html; charset=utf-8".into(),
            Delivery::Sse => "text/event-stream; charset=utf-8".into(),
            Delivery::Json => "application/json".into(),
        };
        let mut head = Head::new(StatusCode::OK)
            .header(CONTENT_TYPE, &content_type)
            .map_err(io::Error::other)?;

        if plan.delivery == Delivery::Json {
            let now = time.wall();
            let body = json!({
                "time": plan.text(now),
                "unix_ms": now.timestamp_millis(),
                "tz": if plan.zone == Zone::Utc { "utc" } else { "local" },
            })
            .to_string();
            return response.write_whole(head, body.as_bytes(), time);
        }

        let framing = Framing::for_response(response.mode, response.protocol);
        if matches!(plan.delivery, Delivery::Chunked { .. }) && framing == Framing::Chunked {
            head = head.header_static(TRANSFER_ENCODING, "chunked");
        }
        if !response.write_head(&head, time)? {
            return Ok(());
        }

        let boundary = response.boundary.clone();
        let out = &mut response.out;
        let mut writer = match &plan.delivery {
            Delivery::Mixed { style, .. } => {
                let mut w = MultipartWriter::new(out, boundary, *style);
                w.start()?;
                Writer::Multipart(w)
            }
            Delivery::Image { .. } => {
                let mut w = MultipartWriter::new(out, boundary, Style::Standard);
                w.start()?;
                Writer::Multipart(w)
            }
            Delivery::Chunked { .. } => {
                let mut w = ChunkedWriter::new(out, framing);
                w.start(config.chunked_padding_bytes)?;
                Writer::Chunked(w)
            }
            Delivery::Iframe(callback) => {
                let mut w = IframeWriter::new(out, callback.clone());
                w.start(config.iframe_padding_bytes)?;
                Writer::Iframe(w)
            }
            Delivery::Sse => {
                let mut w = SseWriter::new(out);
                w.start(Some(config.sse_retry_ms))?;
                Writer::Sse(w)
            }
            Delivery::Json => return Ok(()),
        };
        let mut pacing = Pacing::new(
            Duration::from_secs(config.heartbeat_secs),
            Duration::from_secs(config.max_lifetime_secs),
            time.elapsed(),
        );
        let mut ticks = Ticks {
            schedule: Schedule::new(plan.interval),
            plan: &plan,
            sent: 0,
        };
        stream::run(&mut writer, &mut ticks, &mut pacing, time)
    }
}

/// The clock as a stream's source: a tick at every interval, until `count` ticks if given.
struct Ticks<'p> {
    plan: &'p ClockPlan,
    schedule: Schedule,
    sent: u64,
}

impl Source for Ticks<'_> {
    fn scheduled(&self) -> Option<Duration> {
        Some(self.schedule.next())
    }

    fn step<O: Output + ?Sized, T: Time>(
        &mut self,
        out: &mut O,
        budget: Duration,
        time: &mut T,
    ) -> io::Result<Flow> {
        let now = time.elapsed();
        if now < self.schedule.next() {
            time.sleep(budget);
            return Ok(Flow::Quiet);
        }
        self.schedule.sending(now);
        self.sent += 1;
        out.unit(&Tick {
            plan: self.plan,
            now: time.wall(),
            number: self.sent,
        })?;
        self.schedule.sent(time.elapsed());
        if self.plan.count.is_some_and(|count| self.sent >= count) {
            return Ok(Flow::End);
        }
        Ok(Flow::Wrote)
    }
}

/// One tick of the clock, as each transport shows it.
struct Tick<'p> {
    plan: &'p ClockPlan,
    now: DateTime<Utc>,
    /// Its number in the stream, from 1: the SSE event's id.
    number: u64,
}

impl Unit for Tick<'_> {
    fn part(&self) -> io::Result<Part<'_>> {
        match &self.plan.delivery {
            Delivery::Mixed { part_type, style } => {
                let text = self.plan.text(self.now);
                let body = if *part_type == "text/html" {
                    format!(
                        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Server time</title></head><body><p>{}</p></body></html>\n",
                        escape_html(&text)
                    )
                } else {
                    format!("{text}\n")
                };
                // CGI.pm's demo names the bare type; the standard layout adds the charset so
                // non-ASCII formats show right.
                let content_type = match style {
                    Style::CgiPm => (*part_type).to_owned(),
                    Style::Standard => format!("{part_type}; charset=utf-8"),
                };
                Ok(Part {
                    content_type: content_type.into(),
                    headers: Vec::new(),
                    body: body.into_bytes().into(),
                })
            }
            Delivery::Image { part_type, size } => {
                let bytes = encode(&face(self.plan, self.now, *size), part_type)?;
                let stamp = format!("{:.6}", self.now.timestamp_micros() as f64 / 1e6);
                Ok(Part {
                    content_type: (*part_type).into(),
                    headers: vec![("X-Timestamp", stamp)],
                    body: bytes.into(),
                })
            }
            _ => Err(io::Error::other(
                "a clock tick as a part of a non-multipart stream",
            )),
        }
    }

    fn event(&self) -> io::Result<Event<'_>> {
        Ok(Event {
            id: Some(self.number.to_string().into()),
            name: None,
            retry: None,
            data: self.plan.text(self.now).into(),
        })
    }

    fn call(&self) -> io::Result<Vec<Value>> {
        Ok(vec![
            json!(self.plan.text(self.now)),
            json!(self.now.timestamp_millis()),
        ])
    }

    fn piece(&self) -> io::Result<Cow<'_, [u8]>> {
        let text = self.plan.text(self.now);
        let line = match &self.plan.delivery {
            Delivery::Chunked {
                content_type: "text/html",
            } => format!("<div>{}</div>\n", escape_html(&text)),
            _ => format!("{text}\n"),
        };
        Ok(line.into_bytes().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgi::{Mode, Protocol};
    use crate::pacing::FakeTime;
    use crate::testing::{assert_bytes, fixed_now};

    fn request(query: &str) -> Result<Request, RequestError> {
        Request::from_vars([
            ("REQUEST_METHOD".into(), "GET".into()),
            ("SERVER_PROTOCOL".into(), "HTTP/1.1".into()),
            ("QUERY_STRING".into(), query.into()),
        ])
    }

    fn plan(query: &str) -> Result<ClockPlan, RequestError> {
        ClockPlan::from_request(&request(query)?, &Config::default())
    }

    fn body(query: &str, mode: Mode) -> Vec<u8> {
        let Ok(plan) = plan(query) else {
            panic!("refused: {query}")
        };
        let mut response = Response {
            out: Vec::new(),
            mode,
            protocol: Protocol::Http11,
            head_only: false,
            config: Config::default(),
            boundary: "BOUNDARY".into(),
            notes: Vec::new(),
            shared: None,
            hub: None,
            handed: false,
        };
        let mut time = FakeTime::new(fixed_now());
        assert!(Clock.respond(plan, &mut response, &mut time).is_ok());
        let out = response.out;
        let end = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |i| i + 4);
        out[end..].to_vec()
    }

    #[test]
    fn bad_parameters_are_refused() {
        for q in [
            "transport=bogus",
            "interval=0",
            "interval=-1",
            "interval=NaN",
            "interval=1e308",
            "interval=0.05",
            "count=0",
            "count=x",
            "format=%Q",
            "format=%",
            "tz=mars",
            "transport=iframe&callback=alert(1)//",
            "transport=iframe&callback=eval&format=alert(1)",
            "transport=iframe&callback=setTimeout",
            "transport=image&interval=0.1",
            "transport=mixed&type=image/gif",
            "transport=sse&compat=cgipm",
            "transport=image&size=10000",
        ] {
            assert!(plan(q).is_err(), "{q}");
        }
    }

    #[test]
    fn defaults() {
        let p = plan("");
        assert!(p.is_ok_and(|p| p.delivery
            == Delivery::Mixed {
                part_type: "text/plain",
                style: Style::Standard
            }
            && p.interval == Duration::from_secs(1)
            && p.zone == Zone::Local));
    }

    #[test]
    fn accept_header_selects_sse() {
        let r = Request::from_vars([
            ("REQUEST_METHOD".into(), "GET".into()),
            ("HTTP_ACCEPT".into(), "text/event-stream".into()),
        ]);
        assert!(r.is_ok_and(|r| {
            ClockPlan::from_request(&r, &Config::default())
                .is_ok_and(|p| p.delivery == Delivery::Sse)
        }));
    }

    #[test]
    fn mixed_three_ticks() {
        assert_bytes(
            &body("tz=utc&count=3&format=%H:%M:%S", Mode::Nph),
            b"--BOUNDARY\r\n\
              Content-Type: text/plain; charset=utf-8\r\nContent-Length: 9\r\n\r\n22:13:20\n\r\n--BOUNDARY\r\n\
              Content-Type: text/plain; charset=utf-8\r\nContent-Length: 9\r\n\r\n22:13:21\n\r\n--BOUNDARY\r\n\
              Content-Type: text/plain; charset=utf-8\r\nContent-Length: 9\r\n\r\n22:13:22\n\r\n--BOUNDARY\r\n\
              \r\n--BOUNDARY--\r\n",
        );
    }

    #[test]
    fn html_parts_escape_the_format() {
        let out = body("tz=utc&count=1&type=text/html&format=<b>%H", Mode::Nph);
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("<p>&lt;b&gt;22</p>"), "{text}");
    }

    #[test]
    fn chunked_in_nph_and_cgi() {
        let nph = body(
            "transport=chunked&type=text/plain&tz=utc&count=2&format=%S",
            Mode::Nph,
        );
        let mut want = b"fa0\r\n".to_vec();
        want.extend_from_slice(&[b' '; 4000]);
        want.extend_from_slice(b"\r\n3\r\n20\n\r\n3\r\n21\n\r\n0\r\n\r\n");
        assert_bytes(&nph, &want);
        let cgi = body(
            "transport=chunked&type=text/plain&tz=utc&count=2&format=%S",
            Mode::Cgi,
        );
        let mut want = vec![b' '; 4000];
        want.extend_from_slice(b"20\n21\n");
        assert_bytes(&cgi, &want);
    }

    #[test]
    fn sse_ticks() {
        assert_bytes(
            &body("transport=sse&tz=utc&count=2&format=%S", Mode::Nph),
            b"retry: 2000\n\nid: 1\ndata: 20\n\nid: 2\ndata: 21\n\n",
        );
    }

    #[test]
    fn iframe_ticks() {
        let out = body(
            "transport=iframe&tz=utc&count=1&format=%S&callback=serverpush.receive",
            Mode::Nph,
        );
        assert!(out.ends_with(
            b"-->\n<script>window.parent.serverpush.receive(\"20\",1700000000000);</script>\n</body></html>\n"
        ));
    }

    #[test]
    fn heartbeats_between_slow_ticks() {
        // One tick every 40 s with heartbeats every 15 s: two heartbeats between ticks.
        let out = body(
            "transport=sse&tz=utc&count=2&interval=40&format=%S",
            Mode::Nph,
        );
        assert_bytes(
            &out,
            b"retry: 2000\n\nid: 1\ndata: 20\n\n: heartbeat\n\n: heartbeat\n\nid: 2\ndata: 00\n\n",
        );
    }

    #[test]
    fn image_parts_are_decodable() {
        for (t, format) in [
            ("image/png", image::ImageFormat::Png),
            ("image/jpeg", image::ImageFormat::Jpeg),
        ] {
            let out = body(
                &format!("transport=image&type={t}&count=1&size=64"),
                Mode::Nph,
            );
            let start = out
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(0, |i| i + 4);
            let img = image::load_from_memory_with_format(&out[start..], format);
            assert!(img.is_ok_and(|i| i.width() == 64), "{t}");
        }
    }

    #[test]
    fn json_answer() {
        let out = body("transport=json&tz=utc&format=%H:%M", Mode::Nph);
        assert_bytes(
            &out,
            b"{\"time\":\"22:13\",\"tz\":\"utc\",\"unix_ms\":1700000000000}",
        );
    }
}
