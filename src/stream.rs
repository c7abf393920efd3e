//! The *stream engine*: every answer that holds its connection (the clock, a camera, channel
//! streams) writes through one [`Writer`] over the streamed transports and is paced by one loop,
//! [`run`], so the rule every stream keeps lives here once: a stream writes at least every
//! heartbeat interval and ends cleanly when its lifetime is over, whatever it waits on (a
//! sleep, a file watch, a store's wait, a doorbell).
//!
//! A *source* ([`Source`]) is what a stream pushes: it waits, within the time the engine gives
//! it, for something to send, and sends it as *units* ([`Unit`]), each of which knows how it
//! looks in every transport. A new transport is one arm of [`Writer`] and one method of
//! [`Unit`]; a new source is one [`Source`].

use std::borrow::Cow;
use std::io::{self, Write};
use std::time::Duration;

use serde_json::Value;

use crate::pacing::{Due, Pacing, Time};
use crate::transport::chunked::ChunkedWriter;
use crate::transport::iframe::IframeWriter;
use crate::transport::multipart::MultipartWriter;
use crate::transport::sse::SseWriter;

/// A unit as a `multipart/x-mixed-replace` part.
#[derive(Debug)]
pub struct Part<'a> {
    /// The part's `Content-Type`.
    pub content_type: Cow<'a, str>,
    /// Further headers of the part.
    pub headers: Vec<(&'static str, String)>,
    /// The part's body.
    pub body: Cow<'a, [u8]>,
}

/// A unit as an SSE event.
#[derive(Debug)]
pub struct Event<'a> {
    /// The event's id: what a client resumes from.
    pub id: Option<Cow<'a, str>>,
    /// The event's name; `None` for a plain message.
    pub name: Option<Cow<'a, str>>,
    /// The reconnection delay the event asks the client for, in milliseconds.
    pub retry: Option<u64>,
    /// The event's data.
    pub data: Cow<'a, str>,
}

/// Something a stream sends, as each transport frames it. A source implements the forms its
/// streams can be asked for; the others say so with an error (a request never reaches them:
/// each program offers only the transports its units have).
pub trait Unit {
    /// As a multipart part.
    fn part(&self) -> io::Result<Part<'_>> {
        Err(unsupported("multipart"))
    }
    /// As an SSE event.
    fn event(&self) -> io::Result<Event<'_>> {
        Err(unsupported("SSE"))
    }
    /// As the arguments of a forever frame's callback.
    fn call(&self) -> io::Result<Vec<Value>> {
        Err(unsupported("iframe"))
    }
    /// As a piece of a chunked body.
    fn piece(&self) -> io::Result<Cow<'_, [u8]>> {
        Err(unsupported("chunked"))
    }
}

fn unsupported(transport: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("this stream's units have no {transport} form"),
    )
}

/// What the engine writes a stream through: units, heartbeats and the end.
pub trait Output {
    /// Writes one unit (and flushes it).
    fn unit(&mut self, unit: &dyn Unit) -> io::Result<()>;
    /// Writes the transport's heartbeat.
    fn heartbeat(&mut self) -> io::Result<()>;
    /// Ends the stream normally.
    fn finish(&mut self) -> io::Result<()>;
}

/// The streamed transports, started, behind one interface.
#[derive(Debug)]
pub enum Writer<W: Write> {
    /// `multipart/x-mixed-replace`.
    Multipart(MultipartWriter<W>),
    /// A chunked (or close-delimited) body.
    Chunked(ChunkedWriter<W>),
    /// A forever frame.
    Iframe(IframeWriter<W>),
    /// `text/event-stream`.
    Sse(SseWriter<W>),
}

impl<W: Write> Writer<W> {
    /// What it writes to.
    pub fn get_mut(&mut self) -> &mut W {
        match self {
            Writer::Multipart(w) => w.get_mut(),
            Writer::Chunked(w) => w.get_mut(),
            Writer::Iframe(w) => w.get_mut(),
            Writer::Sse(w) => w.get_mut(),
        }
    }
}

impl<W: Write> Output for Writer<W> {
    fn unit(&mut self, unit: &dyn Unit) -> io::Result<()> {
        match self {
            Writer::Multipart(w) => {
                let part = unit.part()?;
                let headers: Vec<(&str, &str)> = part
                    .headers
                    .iter()
                    .map(|(name, value)| (*name, value.as_str()))
                    .collect();
                w.part(&part.content_type, &headers, &part.body)
            }
            Writer::Chunked(w) => w.data(&unit.piece()?),
            Writer::Iframe(w) => w.call(&unit.call()?),
            Writer::Sse(w) => {
                let event = unit.event()?;
                w.event_with_retry(
                    event.id.as_deref(),
                    event.name.as_deref(),
                    event.retry,
                    &event.data,
                )
            }
        }
    }

    fn heartbeat(&mut self) -> io::Result<()> {
        match self {
            Writer::Multipart(w) => w.heartbeat(),
            Writer::Chunked(w) => w.heartbeat(),
            Writer::Iframe(w) => w.heartbeat(),
            Writer::Sse(w) => w.heartbeat(),
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        match self {
            Writer::Multipart(w) => w.finish(),
            Writer::Chunked(w) => w.finish(),
            Writer::Iframe(w) => w.finish(),
            // EventSource reconnects by itself when a stream ends: nothing to write.
            Writer::Sse(_) => Ok(()),
        }
    }
}

/// What a source's step did.
#[derive(Debug)]
pub enum Flow {
    /// It wrote something.
    Wrote,
    /// It waited and wrote nothing (its wait ended, or woke for nothing to send).
    Quiet,
    /// It has nothing more to send: the stream ends normally.
    End,
    /// Its own means failed (a store): the stream ends cleanly, so the client reconnects and
    /// resumes, and the error goes to the log.
    Failed(io::Error),
}

/// What a stream pushes.
pub trait Source {
    /// When the source's next unit is due by the clock (a clock's tick), for a source that
    /// keeps a schedule; sources that wait for news have none. A unit due is sent before a
    /// heartbeat due at the same time, so a schedule as frequent as the heartbeat needs none.
    fn scheduled(&self) -> Option<Duration> {
        None
    }

    /// Sends what there is to send through `out`; with nothing to send, waits at most `budget`
    /// (the time until a heartbeat or the end is due, or the schedule's next unit) and returns,
    /// so the engine looks at what is due before the next step. Writes come first in a step.
    fn step<O: Output + ?Sized, T: Time>(
        &mut self,
        out: &mut O,
        budget: Duration,
        time: &mut T,
    ) -> io::Result<Flow>;
}

/// Runs a stream to its end: the source's units as they come, a heartbeat whenever the stream
/// has been silent for the pacing's interval, the normal end at its lifetime or when the source
/// has no more. A failed write (the client went away) ends it at once with that error.
pub fn run<O: Output + ?Sized, S: Source, T: Time>(
    out: &mut O,
    source: &mut S,
    pacing: &mut Pacing,
    time: &mut T,
) -> io::Result<()> {
    loop {
        let now = time.elapsed();
        let scheduled = source.scheduled();
        let budget = match pacing.due(now) {
            Some(Due::End) => return out.finish(),
            _ if scheduled.is_some_and(|at| now >= at) => Duration::ZERO,
            Some(Due::Heartbeat) => {
                out.heartbeat()?;
                pacing.wrote(now);
                continue;
            }
            None => {
                let budget = pacing.budget(now);
                scheduled.map_or(budget, |at| budget.min(at.saturating_sub(now)))
            }
        };
        match source.step(out, budget, time)? {
            // Sources write at the start of their step, before any wait.
            Flow::Wrote => pacing.wrote(now),
            Flow::Quiet => {}
            Flow::End => return out.finish(),
            Flow::Failed(error) => {
                out.finish()?;
                return Err(error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pacing::{FakeTime, Schedule};
    use crate::testing::fixed_now;

    /// An output that records into a shared log with the fake time of each write.
    struct Recorder<'a> {
        log: &'a std::cell::RefCell<Vec<(Duration, &'static str)>>,
        time: &'a std::cell::Cell<Duration>,
    }

    impl Recorder<'_> {
        fn note(&mut self, what: &'static str) -> io::Result<()> {
            self.log.borrow_mut().push((self.time.get(), what));
            Ok(())
        }
    }

    impl Output for Recorder<'_> {
        fn unit(&mut self, _: &dyn Unit) -> io::Result<()> {
            self.note("unit")
        }
        fn heartbeat(&mut self) -> io::Result<()> {
            self.note("heartbeat")
        }
        fn finish(&mut self) -> io::Result<()> {
            self.note("end")
        }
    }

    struct Tick;
    impl Unit for Tick {}

    /// Ticks at an interval, each taking `slow` to write; ends after `count` ticks.
    struct Ticks<'a> {
        schedule: Schedule,
        slow: Duration,
        count: usize,
        clock: &'a std::cell::Cell<Duration>,
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
                self.clock.set(time.elapsed());
                return Ok(Flow::Quiet);
            }
            self.schedule.sending(now);
            out.unit(&Tick)?;
            time.sleep(self.slow);
            self.clock.set(time.elapsed());
            self.schedule.sent(time.elapsed());
            self.count -= 1;
            Ok(if self.count == 0 {
                Flow::End
            } else {
                Flow::Wrote
            })
        }
    }

    /// The first `n` things a ticking stream does, in whole seconds.
    fn steps(interval: u64, heartbeat: u64, lifetime: u64, n: usize) -> Vec<(u64, &'static str)> {
        ticking(interval, heartbeat, lifetime, 0, n)
            .into_iter()
            .map(|(t, what)| (t.as_secs(), what))
            .collect()
    }

    /// The first `n` things a ticking stream does whose every unit takes `slow` seconds.
    fn ticking(
        interval: u64,
        heartbeat: u64,
        lifetime: u64,
        slow: u64,
        n: usize,
    ) -> Vec<(Duration, &'static str)> {
        let log = std::cell::RefCell::new(Vec::new());
        let clock = std::cell::Cell::new(Duration::ZERO);
        let mut time = FakeTime::new(fixed_now());
        let mut out = Recorder {
            log: &log,
            time: &clock,
        };
        let mut ticks = Ticks {
            schedule: Schedule::new(Duration::from_secs(interval)),
            slow: Duration::from_secs(slow),
            count: n,
            clock: &clock,
        };
        let mut pacing = Pacing::new(
            Duration::from_secs(heartbeat),
            Duration::from_secs(lifetime),
            Duration::ZERO,
        );
        let _ = run(&mut out, &mut ticks, &mut pacing, &mut time);
        let mut log = log.into_inner();
        log.truncate(n);
        log
    }

    #[test]
    fn units_without_heartbeats_when_frequent() {
        assert_eq!(
            steps(1, 15, 3, 4),
            vec![(0, "unit"), (1, "unit"), (2, "unit"), (3, "end")]
        );
    }

    #[test]
    fn a_unit_due_with_a_heartbeat_goes_first_and_makes_it_needless() {
        assert_eq!(
            steps(4, 4, 9, 4),
            vec![(0, "unit"), (4, "unit"), (8, "unit"), (9, "end")]
        );
    }

    #[test]
    fn heartbeats_fill_silences() {
        assert_eq!(
            steps(10, 4, 25, 8),
            vec![
                (0, "unit"),
                (4, "heartbeat"),
                (8, "heartbeat"),
                (10, "unit"),
                (14, "heartbeat"),
                (18, "heartbeat"),
                (20, "unit"),
                (24, "heartbeat")
            ]
        );
    }

    #[test]
    fn a_slow_unit_still_leaves_a_rest() {
        // Writing a unit takes three intervals: each starts half an interval after the last
        // one was written.
        let starts: Vec<u128> = ticking(1, 100, 1000, 3, 4)
            .iter()
            .map(|(t, _)| t.as_millis())
            .collect();
        assert_eq!(starts, vec![0, 3500, 7000, 10500]);
    }

    #[test]
    fn lifetime_ends() {
        assert_eq!(steps(100, 100, 5, 2)[1], (5, "end"));
    }

    #[test]
    fn a_quiet_source_gets_heartbeats() {
        /// Never has anything to send.
        struct Quiet;
        impl Source for Quiet {
            fn step<O: Output + ?Sized, T: Time>(
                &mut self,
                _: &mut O,
                budget: Duration,
                time: &mut T,
            ) -> io::Result<Flow> {
                time.sleep(budget);
                Ok(Flow::Quiet)
            }
        }
        let mut bytes = Vec::new();
        let mut out = Writer::Sse(SseWriter::new(&mut bytes));
        let mut time = FakeTime::new(fixed_now());
        let mut pacing = Pacing::new(
            Duration::from_secs(1),
            Duration::from_secs(5),
            Duration::ZERO,
        );
        run(&mut out, &mut Quiet, &mut pacing, &mut time).unwrap();
        drop(out);
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(text.matches(": heartbeat").count(), 4, "{text}");
    }
}
