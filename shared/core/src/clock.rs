//! Where "now" comes from: the system clock in a function, a clock the test moves by hand in
//! the tests (a retry 20 hours later, a renewal 30 days later), so no test sleeps.

use std::sync::{Arc, Mutex};

use time::{Duration, OffsetDateTime};

/// A source of the current time, to the microsecond (what the store keeps).
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        to_micros(OffsetDateTime::now_utc())
    }
}

/// A clock that stands still until it is told to move: `set` or `advance`.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<OffsetDateTime>>);

impl ManualClock {
    pub fn at(start: OffsetDateTime) -> ManualClock {
        ManualClock(Arc::new(Mutex::new(to_micros(start))))
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }

    pub fn set(&self, to: OffsetDateTime) {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = to_micros(to);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `t` truncated to the microsecond, the precision of stored times.
fn to_micros(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_microsecond(t.microsecond()).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(datetime!(2026-11-23 10:00:00.123456789 UTC));
        assert_eq!(clock.now(), datetime!(2026-11-23 10:00:00.123456 UTC));
        clock.advance(Duration::hours(20));
        assert_eq!(clock.now(), datetime!(2026-11-24 06:00:00.123456 UTC));
        clock.set(datetime!(2026-12-23 10:00 UTC));
        assert_eq!(clock.now(), datetime!(2026-12-23 10:00 UTC));
    }
}
