//! The *webcam* pushes a camera's image file as an MJPEG stream (`multipart/x-mixed-replace`
//! JPEG parts), or answers one snapshot, as µStreamer and mjpg-streamer do.
//!
//! A camera is a name in the config's `[cameras]` table; a request can only pick a name, never a
//! path. A new frame goes out as soon as the file is written or renamed into place (inotify),
//! only when it is a complete image and differs from the last one sent, at most `fps` times a
//! second (the newest frame wins), and the last frame is re-sent as the stream's heartbeat
//! (after `keepalive_secs`, or `heartbeat_secs` if shorter) so the connection stays open and a
//! departed viewer is noticed.
//!
//! Parameters: `action` (`stream`, `snapshot`, `list`: the camera names as JSON), `cam` (or the path info `/NAME`), `fps`
//! (0.1 to 60), `width` (16 to 4096), `quality` (1 to 100).

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use http::StatusCode;
use http::header::{CONTENT_TYPE, ETAG, LAST_MODIFIED};

use crate::cgi::{Request, RequestError};
use crate::config::Config;
use crate::head::{Caching, Head, http_date};
use crate::pacing::{Pacing, Time};
use crate::program::{Presence, Program, Response};
use crate::rights::Rights;
use crate::source::frame::{Frame, FrameError, Transform, read_frame};
use crate::stream::{self, Flow, Output, Part, Source, Unit, Writer};
use crate::transport::multipart::{MultipartWriter, Style};
use crate::watch::FileWatch;

/// The webcam program.
#[derive(Clone, Copy, Debug, Default)]
pub struct Webcam;

/// What the viewer gets.
#[derive(Clone, Debug)]
pub enum Action {
    /// An MJPEG stream whose first frame is still to be awaited ([`WebcamPlan::ready`]).
    Awaiting {
        /// The smallest time between two frames.
        min_gap: Duration,
    },
    /// An MJPEG stream.
    Stream {
        /// The first frame, already read and checked.
        first: Frame,
        /// The smallest time between two frames.
        min_gap: Duration,
    },
    /// The configured camera names, as JSON, for pages that offer a choice.
    List(Vec<String>),
    /// One JPEG.
    Snapshot {
        /// The frame.
        frame: Frame,
        /// True when the client's `If-None-Match` matches: answer 304.
        not_modified: bool,
    },
}

/// A validated webcam request.
#[derive(Clone, Debug)]
pub struct WebcamPlan {
    /// The camera's name (empty for the list of cameras).
    pub camera: String,
    /// The camera's file.
    pub path: PathBuf,
    /// What to apply to each frame.
    pub transform: Transform,
    /// Stream or snapshot.
    pub action: Action,
}

/// The camera a request names: `?cam=`, else the path info, else `default`, else the only one.
///
/// A name the config does not have is a 404, but only once the rights for that name are
/// checked: a name private cameras' patterns cover is refused alike whether or not it exists,
/// so a client without rights cannot tell which private names there are.
fn camera<'c>(
    request: &Request,
    config: &'c Config,
    rights: &mut Rights<'_>,
) -> Result<(&'c String, &'c PathBuf), RequestError> {
    let from_path = request
        .path_info
        .as_deref()
        .map(|p| p.trim_start_matches('/'))
        .filter(|p| !p.is_empty());
    let name = request.query.get("cam").or(from_path);
    let found = match name {
        Some(name) => config.cameras.get_key_value(name),
        None => config
            .cameras
            .get_key_value("default")
            .or_else(|| match config.cameras.len() {
                1 => config.cameras.iter().next(),
                _ => None,
            }),
    };
    if let Some(found) = found {
        return Ok(found);
    }
    // The name is echoed only when it is a plausible one; anything else is not repeated.
    let plausible = name.filter(|n| crate::name::is_name(n));
    if let Some(name) = plausible {
        rights.check_subscribe(&[format!("camera:{name}")])?;
    }
    Err(RequestError::new(
        StatusCode::NOT_FOUND,
        format!("unknown camera {}", plausible.unwrap_or("(none)")),
    ))
}

/// An entity tag for a frame as transformed.
fn etag(frame: &Frame, transform: Transform) -> String {
    format!(
        "\"{:016x}-{}-{}\"",
        frame.digest,
        transform.width.unwrap_or(0),
        transform.quality.unwrap_or(0)
    )
}

/// `value` if the config lists it: every variant costs an encoding per frame, so viewers choose
/// among the ones the site allows.
fn allowed<V: PartialEq + std::fmt::Display>(
    name: &str,
    value: V,
    list: &[V],
) -> Result<V, RequestError> {
    if list.contains(&value) {
        return Ok(value);
    }
    let listed: Vec<String> = list.iter().map(ToString::to_string).collect();
    Err(RequestError::bad_request(format!(
        "{name} must be one of: {}",
        if listed.is_empty() {
            "(none allowed here)".to_owned()
        } else {
            listed.join(", ")
        }
    )))
}

/// The shared cache of re-encoded frames.
fn cache(config: &Config) -> Option<std::path::PathBuf> {
    Some(crate::regular::for_this_user(&config.frame_cache_dir))
}

fn unavailable(error: FrameError) -> RequestError {
    match error {
        // System error text stays in the log; the answer says what kind of fault it is.
        FrameError::Unreadable(_) => RequestError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the camera file cannot be read; see the error log",
        )
        .with_detail(error.to_string()),
        _ => RequestError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
    }
}

impl WebcamPlan {
    /// Validates the request and, for a snapshot, reads the frame. A stream's first frame is
    /// waited for by [`WebcamPlan::ready`], once the stream holds its slot.
    pub fn from_request(request: &Request, config: &Config) -> Result<WebcamPlan, RequestError> {
        let q = &request.query;
        let mut action = q.choice("action", &["stream", "snapshot", "list"], "stream")?;
        let mut rights = Rights::new(request, config);
        if action == "list" {
            // Only the cameras this client may view: a private camera's name is not for
            // strangers (a bad token shows the public ones).
            let names = config
                .cameras
                .keys()
                .filter(|name| rights.check_subscribe(&[format!("camera:{name}")]).is_ok())
                .cloned()
                .collect();
            return Ok(WebcamPlan {
                camera: String::new(),
                path: PathBuf::new(),
                transform: Transform::default(),
                action: Action::List(names),
            });
        }
        let fps = match q.get("fps") {
            None => None,
            Some(_) => Some(q.number("fps", 0.1..=60.0, 60.0)?),
        };
        let transform = Transform {
            width: match q.get("width") {
                None => None,
                Some(_) => Some(allowed(
                    "width",
                    q.number("width", 16..=4096u32, 0)?,
                    &config.webcam_widths,
                )?),
            },
            quality: match q.get("quality") {
                None => None,
                Some(_) => Some(allowed(
                    "quality",
                    q.number("quality", 1..=100u8, 0)?,
                    &config.webcam_qualities,
                )?),
            },
        };
        let (name, path) = camera(request, config, &mut rights)?;
        rights.check_subscribe(&[format!("camera:{name}")])?;
        let path = path.clone();
        let name = name.clone();
        if let Some(agent) = request.header_str("user-agent")?
            && config
                .still_image_user_agents
                .iter()
                .any(|s| !s.is_empty() && agent.contains(s.as_str()))
        {
            action = "snapshot";
        }

        if action == "snapshot" {
            let frame =
                read_frame(&path, transform, cache(config).as_deref()).map_err(unavailable)?;
            let tag = etag(&frame, transform);
            let not_modified = request.header_str("if-none-match")?.is_some_and(|v| {
                v.split(',').any(|t| {
                    let t = t.trim();
                    t == "*" || t.trim_start_matches("W/") == tag
                })
            });
            return Ok(WebcamPlan {
                camera: name,
                path,
                transform,
                action: Action::Snapshot {
                    frame,
                    not_modified,
                },
            });
        }

        Ok(WebcamPlan {
            camera: name,
            path,
            transform,
            action: Action::Awaiting {
                min_gap: fps.map_or(Duration::ZERO, |f| Duration::from_secs_f64(1.0 / f)),
            },
        })
    }

    /// A stream's plan with its first frame, waited for up to `first_frame_wait_secs`; other
    /// plans as they are.
    pub fn ready<T: Time>(self, config: &Config, time: &mut T) -> Result<WebcamPlan, RequestError> {
        let Action::Awaiting { min_gap } = self.action else {
            return Ok(self);
        };
        let first = wait_for_first_frame(&self.path, self.transform, config, time)?;
        Ok(WebcamPlan {
            action: Action::Stream { first, min_gap },
            ..self
        })
    }
}

/// Waits up to `first_frame_wait_secs` for a complete frame; a 503 with the reason otherwise.
fn wait_for_first_frame<T: Time>(
    path: &std::path::Path,
    transform: Transform,
    config: &Config,
    time: &mut T,
) -> Result<Frame, RequestError> {
    let give_up = time.elapsed() + Duration::from_secs(config.first_frame_wait_secs);
    let mut watch = None;
    loop {
        let error = match read_frame(path, transform, cache(config).as_deref()) {
            Ok(frame) => return Ok(frame),
            // Waiting cannot help these.
            Err(e @ (FrameError::NotAFile | FrameError::Unreadable(_) | FrameError::TooLarge)) => {
                return Err(unavailable(e));
            }
            Err(e) => e,
        };
        let now = time.elapsed();
        if now >= give_up {
            return Err(unavailable(error));
        }
        if watch.is_none() {
            // Watching starts after the first look, so a frame that lands in between is seen
            // by the next look rather than missed.
            watch = Some(FileWatch::new(path).map_err(|e| {
                RequestError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the camera directory cannot be watched: {e}"),
                )
            })?);
            continue;
        }
        if let Some(w) = watch.as_mut() {
            w.wait(give_up - now).map_err(|e| {
                RequestError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("watch failed: {e}"),
                )
            })?;
        }
    }
}

fn timestamp(modified: SystemTime) -> String {
    let t: DateTime<Utc> = crate::head::file_time(modified);
    format!("{}.{:06}", t.timestamp(), t.timestamp_subsec_micros())
}

impl Program for Webcam {
    type Plan = WebcamPlan;

    fn holds_connection(&self, plan: &WebcamPlan) -> bool {
        matches!(plan.action, Action::Awaiting { .. } | Action::Stream { .. })
    }

    fn presence(&self, plan: &WebcamPlan) -> Presence {
        Presence {
            transport: "mjpeg",
            resources: vec![format!("camera:{}", plan.camera)],
            subscriber: None,
            ..Presence::default()
        }
    }

    fn ready<T: Time>(
        &self,
        plan: WebcamPlan,
        config: &Config,
        time: &mut T,
    ) -> Result<WebcamPlan, RequestError> {
        plan.ready(config, time)
    }

    fn allow(&self) -> &'static str {
        "GET, HEAD"
    }

    fn prepare(
        &self,
        request: &Request,
        config: &Config,
        _body: &mut dyn Read,
    ) -> Result<WebcamPlan, RequestError> {
        WebcamPlan::from_request(request, config)
    }

    fn respond<W: Write, T: Time>(
        &self,
        plan: WebcamPlan,
        response: &mut Response<W>,
        time: &mut T,
    ) -> io::Result<()> {
        match plan.action {
            Action::List(names) => {
                let body = serde_json::json!({ "cameras": names }).to_string();
                let head =
                    Head::new(StatusCode::OK).header_static(CONTENT_TYPE, "application/json");
                response.write_whole(head, body.as_bytes(), time)
            }
            Action::Snapshot {
                frame,
                not_modified,
            } => {
                let head = Head::new(StatusCode::OK)
                    .caching(Caching::Revalidate)
                    .header(ETAG, &etag(&frame, plan.transform))
                    .and_then(|h| {
                        h.header(
                            LAST_MODIFIED,
                            &http_date(crate::head::file_time(frame.modified)),
                        )
                    })
                    .map_err(io::Error::other)?;
                if not_modified {
                    let head = Head::new(StatusCode::NOT_MODIFIED)
                        .caching(Caching::Revalidate)
                        .header(ETAG, &etag(&frame, plan.transform))
                        .map_err(io::Error::other)?;
                    response.write_head(&head, time)?;
                    return Ok(());
                }
                response.write_whole(
                    head.header_static(CONTENT_TYPE, "image/jpeg"),
                    &frame.jpeg,
                    time,
                )
            }
            Action::Awaiting { .. } | Action::Stream { .. } => {
                let content_type =
                    MultipartWriter::<W>::content_type(&response.boundary, Style::Standard);
                let head = Head::new(StatusCode::OK)
                    .header(CONTENT_TYPE, &content_type)
                    .map_err(io::Error::other)?;
                if !response.write_head(&head, time)? {
                    // A HEAD request: the head is the answer, with no frame waited for.
                    return Ok(());
                }
                // The envelope calls `ready` before answering anything but a HEAD: a stream
                // still awaiting its first frame here is a bug, told in the log rather than
                // answered with a stream that has no frame.
                let Action::Stream { first, min_gap } = plan.action else {
                    return Err(io::Error::other(
                        "a webcam stream reached its answer without its first frame",
                    ));
                };
                let config = response.config.clone();
                let mut w = MultipartWriter::new(
                    &mut response.out,
                    response.boundary.clone(),
                    Style::Standard,
                );
                w.start()?;
                // The heartbeat of a camera stream is its last frame again; a camera may ask
                // for it sooner than other streams (`keepalive_secs`), never later.
                let heartbeat = config.keepalive_secs.min(config.heartbeat_secs);
                let mut pacing = Pacing::new(
                    Duration::from_secs(heartbeat),
                    Duration::from_secs(config.max_lifetime_secs),
                    time.elapsed(),
                );
                let mut frames = Frames {
                    watch: FileWatch::new(&plan.path)?,
                    path: &plan.path,
                    transform: plan.transform,
                    cache: cache(&config),
                    shown: first,
                    first_sent: false,
                    min_gap,
                    last_sent: Duration::ZERO,
                    pending: true,
                };
                stream::run(&mut Writer::Multipart(w), &mut frames, &mut pacing, time)
            }
        }
    }
}

/// A camera as a stream's source: a frame whenever the file changes to another picture, at
/// most one per `min_gap`, the newest winning.
struct Frames<'p> {
    watch: FileWatch,
    path: &'p std::path::Path,
    transform: Transform,
    cache: Option<PathBuf>,
    /// The frame last sent (or to be sent first). It stays alive until the next one replaces
    /// it: freed first, it would more often leave the heap's top free for the allocator to hand
    /// back to the kernel, to be faulted in again for the next frame (a frame is just under the
    /// allocator's threshold for a mapping of its own).
    shown: Frame,
    first_sent: bool,
    min_gap: Duration,
    last_sent: Duration,
    /// A change was seen and not yet looked at: it is read once the gap has passed, so when
    /// frames come faster than that, the newest one wins.
    pending: bool,
}

impl Source for Frames<'_> {
    fn step<O: Output + ?Sized, T: Time>(
        &mut self,
        out: &mut O,
        budget: Duration,
        time: &mut T,
    ) -> io::Result<Flow> {
        let now = time.elapsed();
        if !self.first_sent {
            self.first_sent = true;
            out.unit(&FrameUnit(&self.shown))?;
            self.last_sent = now;
            return Ok(Flow::Wrote);
        }
        let next_allowed = self.last_sent + self.min_gap;
        if self.pending && now >= next_allowed {
            self.pending = false;
            if let Ok(frame) = read_frame(self.path, self.transform, self.cache.as_deref())
                && frame.digest != self.shown.digest
            {
                out.unit(&FrameUnit(&frame))?;
                self.shown = frame;
                self.last_sent = now;
                return Ok(Flow::Wrote);
            }
        }
        let mut wake = budget;
        if self.pending {
            wake = wake.min(next_allowed.saturating_sub(now));
        }
        if self.watch.wait(wake)? {
            self.pending = true;
        }
        Ok(Flow::Quiet)
    }
}

/// A frame as a multipart part, stamped with its file's time.
struct FrameUnit<'f>(&'f Frame);

impl Unit for FrameUnit<'_> {
    fn part(&self) -> io::Result<Part<'_>> {
        Ok(Part {
            content_type: "image/jpeg".into(),
            headers: vec![("X-Timestamp", timestamp(self.0.modified))],
            body: Cow::Borrowed(&self.0.jpeg),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pacing::FakeTime;
    use crate::testing::fixed_now;

    fn request(query: &str, extra: &[(&str, &str)]) -> Request {
        let mut vars = vec![
            ("REQUEST_METHOD".into(), "GET".into()),
            ("QUERY_STRING".into(), query.into()),
        ];
        for (k, v) in extra {
            vars.push(((*k).into(), (*v).into()));
        }
        Request::from_vars(vars).unwrap()
    }

    fn config(dir: &std::path::Path) -> Config {
        let mut c = Config::default();
        c.cameras.insert("default".into(), dir.join("cam.jpg"));
        c.cameras.insert("back".into(), dir.join("back.jpg"));
        c.first_frame_wait_secs = 0;
        c
    }

    fn status(query: &str, extra: &[(&str, &str)], config: &Config) -> Option<StatusCode> {
        let mut time = FakeTime::new(fixed_now());
        WebcamPlan::from_request(&request(query, extra), config)
            .and_then(|plan| plan.ready(config, &mut time))
            .err()
            .map(|e| e.status)
    }

    #[test]
    fn names_are_keys_never_paths() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path());
        for q in [
            "cam=nope",
            "cam=../../etc/passwd",
            "cam=%2e%2e%2f",
            "cam=/etc/passwd",
            "cam=a%00b",
            "cam=",
        ] {
            assert_eq!(status(q, &[], &c), Some(StatusCode::NOT_FOUND), "{q}");
        }
        assert_eq!(
            status("", &[("PATH_INFO", "/../x")], &c),
            Some(StatusCode::NOT_FOUND)
        );
        // A known camera without a frame yet: 503, not 404.
        assert_eq!(
            status("cam=back", &[], &c),
            Some(StatusCode::SERVICE_UNAVAILABLE)
        );
        assert_eq!(
            status("", &[("PATH_INFO", "/back")], &c),
            Some(StatusCode::SERVICE_UNAVAILABLE)
        );
    }

    #[test]
    fn bad_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path());
        for q in [
            "fps=0",
            "fps=-1",
            "fps=NaN",
            "fps=1e9",
            "width=0",
            "width=100000",
            "quality=0",
            "quality=101",
            "action=record",
        ] {
            assert_eq!(status(q, &[], &c), Some(StatusCode::BAD_REQUEST), "{q}");
        }
    }
}
