//! Time for the engine: the real clock for the server, a simulated one that a simulation
//! moves forward by years in seconds.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

/// Where the engine reads the time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct SimulatedClock {
    micros: AtomicI64,
}

impl SimulatedClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            micros: AtomicI64::new(start.timestamp_micros()),
        }
    }

    /// Moves the clock to `time` if that is later than now (time never runs backwards).
    pub fn advance_to(&self, time: DateTime<Utc>) {
        self.micros
            .fetch_max(time.timestamp_micros(), Ordering::SeqCst);
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        let step = by.num_microseconds().unwrap_or(i64::MAX).max(0);
        self.micros.fetch_add(step, Ordering::SeqCst);
    }
}

impl Clock for SimulatedClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.micros.load(Ordering::SeqCst)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_time_moves_only_forward() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        let clock = SimulatedClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(chrono::Duration::days(400));
        assert_eq!(clock.now(), start + chrono::Duration::days(400));
        clock.advance_to(start);
        assert_eq!(
            clock.now(),
            start + chrono::Duration::days(400),
            "never backwards"
        );
        clock.advance_to(start + chrono::Duration::days(401));
        assert_eq!(clock.now(), start + chrono::Duration::days(401));
    }
}
