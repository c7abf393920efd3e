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

/// What a stream does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Write the next unit.
    Unit,
    /// Write a heartbeat.
    Heartbeat,
    /// End the stream normally.
    End,
}

/// Schedules units at a fixed interval, heartbeats in silences, and the end of a stream's life.
#[derive(Clone, Debug)]
pub struct Pacer {
    interval: Duration,
    heartbeat: Duration,
    lifetime: Duration,
    next_unit: Duration,
    last_write: Duration,
    after_unit: bool,
}

impl Pacer {
    /// A pacer whose first unit is due at once.
    pub fn new(interval: Duration, heartbeat: Duration, lifetime: Duration) -> Pacer {
        Pacer {
            interval,
            heartbeat,
            lifetime,
            next_unit: Duration::ZERO,
            last_write: Duration::ZERO,
            after_unit: false,
        }
    }

    /// Sleeps until the next step is due and returns it.
    pub fn next<T: Time>(&mut self, time: &mut T) -> Step {
        if std::mem::take(&mut self.after_unit) {
            // A unit that took longer than the interval to write must not make the next one due
            // at once, or a slow unit turns the stream into a busy loop: rest at least half an
            // interval after each unit.
            let now = time.elapsed();
            self.next_unit = self.next_unit.max(now + self.interval / 2);
        }
        loop {
            let now = time.elapsed();
            if now >= self.lifetime {
                return Step::End;
            }
            if now >= self.next_unit {
                // A late unit (a slow write, a stopped process) does not cause a burst of
                // catch-up units: the schedule restarts from now.
                self.next_unit = (self.next_unit + self.interval).max(now + self.interval / 2);
                self.last_write = now;
                self.after_unit = true;
                return Step::Unit;
            }
            let heartbeat_due = self.last_write + self.heartbeat;
            if now >= heartbeat_due {
                self.last_write = now;
                return Step::Heartbeat;
            }
            let wake = self.next_unit.min(heartbeat_due).min(self.lifetime);
            time.sleep(wake - now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fixed_now;

    fn steps(interval: u64, heartbeat: u64, lifetime: u64, n: usize) -> Vec<(u64, Step)> {
        let mut time = FakeTime::new(fixed_now());
        let mut pacer = Pacer::new(
            Duration::from_secs(interval),
            Duration::from_secs(heartbeat),
            Duration::from_secs(lifetime),
        );
        (0..n)
            .map(|_| {
                let step = pacer.next(&mut time);
                (time.elapsed().as_secs(), step)
            })
            .collect()
    }

    #[test]
    fn units_without_heartbeats_when_frequent() {
        use Step::*;
        assert_eq!(
            steps(1, 15, 3, 4),
            vec![(0, Unit), (1, Unit), (2, Unit), (3, End)]
        );
    }

    #[test]
    fn heartbeats_fill_silences() {
        use Step::*;
        assert_eq!(
            steps(10, 4, 25, 8),
            vec![
                (0, Unit),
                (4, Heartbeat),
                (8, Heartbeat),
                (10, Unit),
                (14, Heartbeat),
                (18, Heartbeat),
                (20, Unit),
                (24, Heartbeat)
            ]
        );
    }

    /// A clock whose every sleep and every unit take time, as a slow encoder would.
    struct SlowTime(FakeTime, Duration);

    impl Time for SlowTime {
        fn wall(&self) -> DateTime<Utc> {
            self.0.wall()
        }
        fn elapsed(&self) -> Duration {
            self.0.elapsed()
        }
        fn sleep(&mut self, d: Duration) {
            self.0.sleep(d);
        }
    }

    #[test]
    fn a_slow_unit_still_leaves_a_rest() {
        let mut time = SlowTime(FakeTime::new(fixed_now()), Duration::from_secs(3));
        let mut pacer = Pacer::new(
            Duration::from_secs(1),
            Duration::from_secs(100),
            Duration::from_secs(1000),
        );
        let mut starts = Vec::new();
        for _ in 0..4 {
            assert_eq!(pacer.next(&mut time), Step::Unit);
            starts.push(time.elapsed().as_millis());
            // Writing the unit takes three intervals.
            let slow = time.1;
            time.0.sleep(slow);
        }
        // Each unit starts half an interval after the previous one finished.
        assert_eq!(starts, vec![0, 3500, 7000, 10500]);
    }

    #[test]
    fn lifetime_ends() {
        assert_eq!(steps(100, 100, 5, 2)[1], (5, Step::End));
    }
}
