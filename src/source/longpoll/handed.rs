//! A channel stream handed to the hub: what its program tells the hub ([`Handed`]), and the
//! stream as the hub serves it ([`HandedStream`]), with the same rounds as a stream served by
//! its own program (`subscribe`'s `send_round`), so both modes send the same bytes.
//!
//! The program has written the head and the transport's start; the description carries what
//! the transport's writer needs to go on (the boundary, the callback, the framing), the cursor
//! the program had reached, and the stream's limits.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::cursor::{Cursor, Position};
use super::subscribe::{MIXED_HEARTBEAT, send_round};
use crate::name::Channel;
use crate::pacing::{Due, Pacing};
use crate::store::ChannelStore;
use crate::stream::{Output, Writer};
use crate::transport::chunked::{ChunkedWriter, Framing};
use crate::transport::iframe::{Callback, IframeWriter};
use crate::transport::multipart::{MultipartWriter, Style};
use crate::transport::sse::SseWriter;

/// How a handed stream frames its units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HandedTransport {
    /// `text/event-stream`.
    Sse,
    /// A forever frame calling `callback`.
    Iframe {
        /// The callback, validated by the program.
        callback: String,
    },
    /// Chunked JSON lines; `chunked` when the program frames the chunks (NPH to HTTP/1.1).
    Chunked {
        /// The program writes the chunks' sizes.
        chunked: bool,
    },
    /// `multipart/x-mixed-replace` parts under `boundary`.
    Mixed {
        /// The response's boundary.
        boundary: String,
    },
}

/// One channel's place in a handed stream's cursor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandedPosition {
    /// The channel's name.
    pub channel: String,
    /// The last id sent.
    pub id: u64,
    /// The channel's epoch then.
    pub epoch: Option<String>,
}

/// What a program tells the hub of the stream it hands over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handed {
    /// The spool its channels are in: a hub serving another spool refuses the stream.
    pub spool: PathBuf,
    /// Its framing.
    pub transport: HandedTransport,
    /// Where it is in each channel.
    pub cursor: Vec<HandedPosition>,
    /// Its heartbeat interval, in milliseconds.
    pub heartbeat_ms: u64,
    /// What is left of its lifetime, in milliseconds.
    pub lifetime_ms: u64,
    /// The most one round may send.
    pub max_answer_bytes: usize,
}

impl Handed {
    /// The description of a stream at `cursor`, framed as `transport`.
    pub fn new(
        spool: &Path,
        transport: HandedTransport,
        cursor: &Cursor,
        (heartbeat, lifetime): (Duration, Duration),
        max_answer_bytes: usize,
    ) -> Handed {
        Handed {
            spool: spool.to_owned(),
            transport,
            cursor: cursor
                .0
                .iter()
                .map(|p| HandedPosition {
                    channel: p.channel.as_str().to_owned(),
                    id: p.id,
                    epoch: p.epoch.clone(),
                })
                .collect(),
            heartbeat_ms: u64::try_from(heartbeat.as_millis()).unwrap_or(u64::MAX),
            lifetime_ms: u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX),
            max_answer_bytes,
        }
    }
}

/// Why the hub will not serve a handed stream.
#[derive(Debug)]
pub struct NotServed(pub String);

impl std::fmt::Display for NotServed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a handed stream not served: {}", self.0)
    }
}

impl std::error::Error for NotServed {}

/// A handed stream as the hub serves it: its writer over the bytes not yet sent to the client.
#[derive(Debug)]
pub struct HandedStream {
    writer: Writer<Vec<u8>>,
    cursor: Cursor,
    max_answer_bytes: usize,
    pacing: Pacing,
    /// True when the last round was cut by its budget: more is waiting.
    more: bool,
    /// True once its end was written: nothing is written after it.
    ended: bool,
    /// Lines for the hub's log (messages passed over).
    pub notes: Vec<String>,
}

/// What a handed stream owes now, by the clock.
#[derive(Debug, PartialEq, Eq)]
pub enum Owed {
    /// Nothing until the next look.
    Nothing,
    /// A heartbeat was written: send it.
    Wrote,
    /// Its lifetime is over: its end was written; send it and close.
    Ended,
}

impl HandedStream {
    /// The stream `description` tells of, in the hub whose config is `config`, received at
    /// `now` by the hub's clock. The hub's own limits hold: a description's heartbeat and round
    /// size are its config's, and its lifetime is at most the config's.
    pub fn open(
        description: &[u8],
        config: &crate::config::Config,
        now: Duration,
    ) -> Result<Self, NotServed> {
        let spool = config.spool_dir.as_path();
        let handed: Handed = serde_json::from_slice(description)
            .map_err(|e| NotServed(format!("its description cannot be read: {e}")))?;
        if handed.spool != spool {
            return Err(NotServed(format!(
                "its spool {} is not the hub's {}",
                handed.spool.display(),
                spool.display()
            )));
        }
        let mut positions = Vec::with_capacity(handed.cursor.len());
        for p in handed.cursor {
            let channel = Channel::parse(&p.channel)
                .map_err(|_| NotServed(format!("{:?} is not a channel's name", p.channel)))?;
            positions.push(Position {
                channel,
                id: p.id,
                epoch: p.epoch,
            });
        }
        if positions.is_empty() {
            return Err(NotServed("it follows no channel".into()));
        }
        let out = Vec::new();
        let writer = match handed.transport {
            HandedTransport::Sse => Writer::Sse(SseWriter::new(out)),
            HandedTransport::Iframe { callback } => {
                let callback = Callback::parse(&callback)
                    .map_err(|_| NotServed(format!("{callback:?} is not a callback")))?;
                Writer::Iframe(IframeWriter::new(out, callback))
            }
            HandedTransport::Chunked { chunked } => {
                let framing = if chunked {
                    Framing::Chunked
                } else {
                    Framing::Raw
                };
                Writer::Chunked(ChunkedWriter::new(out, framing))
            }
            HandedTransport::Mixed { boundary } => Writer::Multipart(
                MultipartWriter::new(out, boundary, Style::Standard)
                    .with_heartbeat(MIXED_HEARTBEAT.0, MIXED_HEARTBEAT.1)
                    .map_err(|e| NotServed(e.to_string()))?,
            ),
        };
        let lifetime = Duration::from_millis(handed.lifetime_ms)
            .min(Duration::from_secs(config.max_lifetime_secs));
        Ok(HandedStream {
            writer,
            cursor: Cursor(positions),
            max_answer_bytes: config.max_answer_bytes,
            // The pacing's end is on the hub's clock.
            pacing: Pacing::new(
                Duration::from_secs(config.heartbeat_secs),
                now.saturating_add(lifetime),
                now,
            ),
            more: false,
            ended: false,
            notes: Vec::new(),
        })
    }

    /// The channels it follows.
    pub fn channels(&self) -> impl Iterator<Item = &Channel> {
        self.cursor.0.iter().map(|p| &p.channel)
    }

    /// Sends what its channels hold after its cursor into its pending bytes, round after round
    /// while fewer than `max_answer_bytes` wait to be sent (the rest when they have gone:
    /// [`HandedStream::has_more`]); true when it wrote. An error is the store's: the stream
    /// ends (its client reconnects and resumes).
    pub fn deliver(
        &mut self,
        store: &mut dyn ChannelStore,
        now: Duration,
    ) -> Result<bool, crate::store::StoreError> {
        let mut wrote = false;
        loop {
            if self.ended {
                self.more = false;
                break;
            }
            if self.writer.get_mut().len() >= self.max_answer_bytes {
                self.more = true;
                break;
            }
            // Writing into memory does not fail.
            let sent = match send_round(
                store,
                &mut self.cursor,
                self.max_answer_bytes,
                &mut self.writer,
                &mut self.notes,
            ) {
                Ok(sent) => sent?,
                Err(e) => return Err(crate::store::StoreError::Failed(e.to_string())),
            };
            wrote |= sent.wrote;
            self.more = sent.more;
            if !sent.more {
                break;
            }
        }
        if wrote {
            self.pacing.wrote(now);
        }
        Ok(wrote)
    }

    /// True when a round was cut short: the rest is read once its pending bytes are sent.
    pub fn has_more(&self) -> bool {
        self.more
    }

    /// Writes what the clock says is due: a heartbeat (unless bytes still wait to be sent,
    /// which will show the stream alive), or the end.
    pub fn tend(&mut self, now: Duration) -> Owed {
        if self.ended {
            return Owed::Nothing;
        }
        match self.pacing.due(now) {
            Some(Due::End) => {
                self.finish();
                Owed::Ended
            }
            Some(Due::Heartbeat) => {
                self.pacing.wrote(now);
                if !self.writer.get_mut().is_empty() {
                    return Owed::Nothing;
                }
                let _ = self.writer.heartbeat();
                Owed::Wrote
            }
            None => Owed::Nothing,
        }
    }

    /// Ends the stream normally now (its lifetime is over, or the hub is leaving): its end is
    /// written, and nothing after it.
    pub fn finish(&mut self) {
        if !std::mem::replace(&mut self.ended, true) {
            let _ = self.writer.finish();
        }
        self.more = false;
    }

    /// True once its end was written.
    pub fn has_ended(&self) -> bool {
        self.ended
    }

    /// The bytes written and not yet sent to the client.
    pub fn pending(&mut self) -> &mut Vec<u8> {
        self.writer.get_mut()
    }
}
