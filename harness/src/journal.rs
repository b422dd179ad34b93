//! The journal (the bottom layer of the harness): the run's clock and its history. Every recorder (load generator, tap, samplers,
//! fault executor) stamps times from one monotonic clock and appends here.

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use check::History;
use time::OffsetDateTime;

#[derive(Debug)]
pub struct Recorder {
    t0: Instant,
    /// Wall time at `t0`, to turn envelope timestamps into run time.
    wall_t0: OffsetDateTime,
    history: Mutex<History>,
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            t0: Instant::now(),
            wall_t0: OffsetDateTime::now_utc(),
            history: Mutex::new(History::default()),
        }
    }

    pub fn t0(&self) -> Instant {
        self.t0
    }

    pub fn started_at(&self) -> OffsetDateTime {
        self.wall_t0
    }

    /// Microseconds since the run started.
    pub fn now_us(&self) -> u64 {
        self.at_us(Instant::now())
    }

    pub fn at_us(&self, instant: Instant) -> u64 {
        u64::try_from(instant.saturating_duration_since(self.t0).as_micros()).unwrap_or(u64::MAX)
    }

    /// A wall-clock time (an envelope's `occurred_at`) as run time, if after the start.
    pub fn wall_us(&self, wall: OffsetDateTime) -> Option<u64> {
        let micros = (wall - self.wall_t0).whole_microseconds();
        u64::try_from(micros).ok()
    }

    pub fn history(&self) -> MutexGuard<'_, History> {
        self.history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}
