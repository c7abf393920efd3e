//! *Pacing* decides when a stream writes: its next unit, a heartbeat when it has been silent
//! for a heartbeat interval, or its normal end when its lifetime is over.
//!
//! Time is injected through [`Time`], so tests drive hours of stream in microseconds with
//! [`FakeTime`] and the binaries use [`RealTime`].

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// A source of wall-clock time, monotonic time and sleep.
pub trait Time {
    /// The wall-clock time, for what is shown to users.
    fn wall(&self) -> DateTime<Utc>;
    /// Monotonic time since this source was made, for scheduling.
    fn elapsed(&self) -> Duration;
    /// Blocks for `duration`.
    fn sleep(&mut self, duration: Duration);
}

/// The system clock.
#[derive(Debug)]
pub struct RealTime {
    start: Instant,
}

impl RealTime {
    /// A source whose monotonic time starts now.
    pub fn new() -> RealTime {
        RealTime {
            start: Instant::now(),
        }
    }
}

impl Default for RealTime {
    fn default() -> Self {
        RealTime::new()
    }
}

impl Time for RealTime {
    fn wall(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A clock for tests: sleeping advances it at once.
#[derive(Clone, Debug)]
pub struct FakeTime {
    start: DateTime<Utc>,
    elapsed: Duration,
}

impl FakeTime {
    /// A clock that starts at `start`.
    pub fn new(start: DateTime<Utc>) -> FakeTime {
        FakeTime {
            start,
            elapsed: Duration::ZERO,
        }
    }
}

impl Time for FakeTime {
    fn wall(&self) -> DateTime<Utc> {
        self.start + self.elapsed
    }
    fn elapsed(&self) -> Duration {
        self.elapsed
    }
    fn sleep(&mut self, duration: Duration) {
        self.elapsed += duration;
    }
}

/// What the pacing says is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// A heartbeat: the stream has been silent for a heartbeat interval.
    Heartbeat,
    /// The normal end: the stream's lifetime is over.
    End,
}

/// The rule every stream keeps, whatever it waits on: it writes at least every heartbeat
/// interval, and ends when its lifetime is over. The stream engine asks it what is due and how
/// long a source may wait before something is.
#[derive(Clone, Debug)]
pub struct Pacing {
    heartbeat: Duration,
    lifetime: Duration,
    last_write: Duration,
}

impl Pacing {
    /// A stream that started at `now` (monotonic time): a heartbeat after `heartbeat` of
    /// silence, the end at `lifetime` (from the time source's start).
    pub fn new(heartbeat: Duration, lifetime: Duration, now: Duration) -> Pacing {
        Pacing {
            heartbeat,
            lifetime,
            last_write: now,
        }
    }

    /// Something was written at `now`.
    pub fn wrote(&mut self, now: Duration) {
        self.last_write = now;
    }

    /// What is due at `now`, if anything.
    pub fn due(&self, now: Duration) -> Option<Due> {
        if now >= self.lifetime {
            Some(Due::End)
        } else if now >= self.last_write + self.heartbeat {
            Some(Due::Heartbeat)
        } else {
            None
        }
    }

    /// The longest a source may wait from `now` before a heartbeat or the end is due.
    pub fn budget(&self, now: Duration) -> Duration {
        (self.last_write + self.heartbeat)
            .min(self.lifetime)
            .saturating_sub(now)
    }
}

/// Units at a fixed interval (a clock's ticks): when the next is due, and a rest after each.
#[derive(Clone, Debug)]
pub struct Schedule {
    interval: Duration,
    next_unit: Duration,
}

impl Schedule {
    /// A schedule whose first unit is due at once.
    pub fn new(interval: Duration) -> Schedule {
        Schedule {
            interval,
            next_unit: Duration::ZERO,
        }
    }

    /// When the next unit is due.
    pub fn next(&self) -> Duration {
        self.next_unit
    }

    /// A unit is being sent at `now` (it was due): the next one is due an interval after the
    /// last one was due, but a late unit (a slow write, a stopped process) causes no burst of
    /// catch-up units: the schedule restarts from now.
    pub fn sending(&mut self, now: Duration) {
        self.next_unit = (self.next_unit + self.interval).max(now + self.interval / 2);
    }

    /// The unit was sent, and writing it ended at `now`: a unit that took longer than the
    /// interval must not make the next one due at once, or a slow unit turns the stream into a
    /// busy loop, so rest at least half an interval after each unit.
    pub fn sent(&mut self, now: Duration) {
        self.next_unit = self.next_unit.max(now + self.interval / 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_come_after_silence_and_the_end_at_the_lifetime() {
        let s = Duration::from_secs;
        let mut pacing = Pacing::new(s(4), s(25), s(0));
        assert_eq!(pacing.due(s(3)), None);
        assert_eq!(pacing.budget(s(3)), s(1));
        assert_eq!(pacing.due(s(4)), Some(Due::Heartbeat));
        pacing.wrote(s(4));
        assert_eq!(pacing.due(s(7)), None);
        pacing.wrote(s(20));
        assert_eq!(pacing.budget(s(22)), s(2));
        pacing.wrote(s(23));
        // The end comes before the next heartbeat would.
        assert_eq!(pacing.budget(s(24)), s(1));
        assert_eq!(pacing.due(s(25)), Some(Due::End));
        assert_eq!(pacing.budget(s(30)), Duration::ZERO);
    }

    #[test]
    fn a_late_unit_restarts_the_schedule() {
        let s = Duration::from_secs;
        let mut schedule = Schedule::new(s(10));
        assert_eq!(schedule.next(), s(0));
        schedule.sending(s(0));
        assert_eq!(schedule.next(), s(10));
        // Sent 25 s late: the next is half an interval later, not at once.
        schedule.sending(s(35));
        assert_eq!(schedule.next(), s(40));
        schedule.sent(s(50));
        assert_eq!(schedule.next(), s(55));
    }
}
