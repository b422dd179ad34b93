//! A circuit breaker (Closed → Open → HalfOpen → Closed) driven by caller-supplied instants.
//!
//! * **Closed**: calls flow. `failure_threshold` consecutive failures — or, if configured, a
//!   failure ratio over the last `window` calls — open the breaker.
//! * **Open**: every call is rejected until `open_for` has elapsed since it opened.
//! * **HalfOpen**: up to `half_open_probes` calls are admitted. The first success closes the
//!   breaker, a failure re-opens it. If all probes were admitted and none has reported back
//!   `open_for` after the last one (a probe was cancelled or hung), a fresh round is admitted.
//!
//! [`CircuitBreaker::allow`] hands out a [`Permit`] that must be given back with the outcome.
//! The permit remembers the breaker's generation, so an outcome from a call admitted before a
//! transition (a slow call from the Closed era reporting while HalfOpen) is counted but cannot
//! move the state. Every transition is logged as a [`Transition`] for metrics and events.

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

/// At most this many transitions are kept between drains; older ones are dropped and counted.
pub const TRANSITION_LOG_CAPACITY: usize = 1024;

/// Configuration of a [`CircuitBreaker`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// Consecutive failures, while closed, that open the breaker.
    pub failure_threshold: NonZeroU32,
    /// How long the breaker rejects calls once open; also the probe timeout while half-open.
    pub open_for: Duration,
    /// Probe calls admitted per half-open round.
    pub half_open_probes: NonZeroU32,
    /// Optional second trip condition, for dependencies that fail often but not consecutively.
    pub failure_ratio: Option<FailureRatio>,
}

/// Opens the breaker when the share of failures among the last `window` closed-state calls
/// reaches `threshold` (evaluated on each failure).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailureRatio {
    /// How many of the most recent calls are considered.
    pub window: NonZeroU32,
    /// Minimum calls in the window before the ratio counts, so two early failures cannot trip it.
    pub min_calls: NonZeroU32,
    /// Failure share in `(0, 1]` at or above which the breaker opens; NaN never trips.
    pub threshold: f64,
}

/// The externally visible state of a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls flow normally.
    Closed,
    /// Calls are rejected until `open_for` has elapsed.
    Open,
    /// A limited number of probe calls test whether the dependency has recovered.
    HalfOpen,
}

impl State {
    /// A stable snake_case name, suitable as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One state change. `at` is when it logically happened: an Open → HalfOpen transition is
/// stamped with the instant `open_for` elapsed, even if it is noticed later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
    /// When it happened.
    pub at: Instant,
}

/// Cumulative counters, for export as Prometheus counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BreakerStats {
    /// Calls admitted by [`CircuitBreaker::allow`].
    pub allowed: u64,
    /// Calls rejected by [`CircuitBreaker::allow`].
    pub rejected: u64,
    /// Successes reported (stale ones included).
    pub successes: u64,
    /// Failures reported (stale ones included).
    pub failures: u64,
    /// Outcomes of calls admitted before the latest transition; they do not change the state.
    pub stale_outcomes: u64,
    /// State transitions so far.
    pub transitions: u64,
    /// Transitions dropped from the log because it was not drained in time.
    pub transitions_dropped: u64,
}

/// Proof that a call was admitted; hand it back to [`CircuitBreaker::on_success`] or
/// [`CircuitBreaker::on_failure`].
#[must_use = "report the call's outcome with on_success or on_failure"]
#[derive(Debug)]
pub struct Permit {
    generation: u64,
}

/// Why [`CircuitBreaker::allow`] refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// The breaker is open.
    #[error("circuit breaker open; next probe in {}ms", retry_after.as_millis())]
    Open {
        /// Time left until the breaker turns half-open.
        retry_after: Duration,
    },
    /// The breaker is half-open and every probe of this round is still in flight.
    #[error("circuit breaker half-open; all {probes} probe calls are in flight")]
    ProbesInFlight {
        /// Probes admitted in this round.
        probes: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed {
        consecutive_failures: u32,
    },
    Open {
        since: Instant,
    },
    HalfOpen {
        probes_admitted: u32,
        last_probe_at: Option<Instant>,
    },
}

/// A circuit breaker. Pure: it never reads the clock; every method takes `now`.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    phase: Phase,
    /// Bumped on every transition; permits from an older generation are stale.
    generation: u64,
    /// Closed-state outcomes for the failure ratio (`true` = failure); empty without one.
    recent: VecDeque<bool>,
    /// Failures in `recent`, kept to avoid rescanning the window.
    recent_failures: usize,
    log: Vec<Transition>,
    stats: BreakerStats,
}

impl CircuitBreaker {
    /// A closed breaker with the given configuration.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            phase: Phase::Closed {
                consecutive_failures: 0,
            },
            generation: 0,
            recent: VecDeque::new(),
            recent_failures: 0,
            log: Vec::new(),
            stats: BreakerStats::default(),
        }
    }

    /// The configuration this breaker was built with.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The state as of `now` (an open breaker whose `open_for` has elapsed reports HalfOpen).
    pub fn state(&self, now: Instant) -> State {
        match self.phase {
            Phase::Closed { .. } => State::Closed,
            Phase::Open { since } if self.open_elapsed(since, now) => State::HalfOpen,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
        }
    }

    /// Asks to make a call at `now`. On `Ok`, make the call and report its outcome with the permit.
    pub fn allow(&mut self, now: Instant) -> Result<Permit, Rejected> {
        self.advance(now);
        let probes = self.config.half_open_probes.get();
        let verdict = match &mut self.phase {
            Phase::Closed { .. } => Ok(()),
            Phase::Open { since } => Err(Rejected::Open {
                retry_after: self
                    .config
                    .open_for
                    .saturating_sub(now.saturating_duration_since(*since)),
            }),
            Phase::HalfOpen {
                probes_admitted,
                last_probe_at,
            } => {
                let timed_out = last_probe_at
                    .is_some_and(|t| now.saturating_duration_since(t) >= self.config.open_for);
                if *probes_admitted >= probes && timed_out {
                    *probes_admitted = 0;
                }
                if *probes_admitted < probes {
                    *probes_admitted += 1;
                    *last_probe_at = Some(now);
                    Ok(())
                } else {
                    Err(Rejected::ProbesInFlight {
                        probes: *probes_admitted,
                    })
                }
            }
        };
        match verdict {
            Ok(()) => {
                self.stats.allowed = self.stats.allowed.saturating_add(1);
                Ok(Permit {
                    generation: self.generation,
                })
            }
            Err(rejected) => {
                self.stats.rejected = self.stats.rejected.saturating_add(1);
                Err(rejected)
            }
        }
    }

    /// Reports that the call behind `permit` succeeded.
    pub fn on_success(&mut self, permit: Permit, now: Instant) {
        self.stats.successes = self.stats.successes.saturating_add(1);
        if self.is_stale(&permit, now) {
            return;
        }
        match &mut self.phase {
            Phase::Closed {
                consecutive_failures,
            } => {
                *consecutive_failures = 0;
                self.record_recent(false);
            }
            Phase::HalfOpen { .. } => self.transition(State::Closed, now),
            Phase::Open { .. } => {}
        }
    }

    /// Reports that the call behind `permit` failed.
    pub fn on_failure(&mut self, permit: Permit, now: Instant) {
        self.stats.failures = self.stats.failures.saturating_add(1);
        if self.is_stale(&permit, now) {
            return;
        }
        match &mut self.phase {
            Phase::Closed {
                consecutive_failures,
            } => {
                *consecutive_failures = consecutive_failures.saturating_add(1);
                let tripped = *consecutive_failures >= self.config.failure_threshold.get();
                self.record_recent(true);
                if tripped || self.ratio_tripped() {
                    self.transition(State::Open, now);
                }
            }
            Phase::HalfOpen { .. } => self.transition(State::Open, now),
            Phase::Open { .. } => {}
        }
    }

    /// Cumulative counters.
    pub fn stats(&self) -> BreakerStats {
        self.stats
    }

    /// Transitions logged since the last drain, oldest first.
    pub fn transitions(&self) -> &[Transition] {
        &self.log
    }

    /// Takes the logged transitions, oldest first, leaving the log empty.
    pub fn drain_transitions(&mut self) -> Vec<Transition> {
        std::mem::take(&mut self.log)
    }

    fn open_elapsed(&self, since: Instant, now: Instant) -> bool {
        now.saturating_duration_since(since) >= self.config.open_for
    }

    /// Applies the time-driven Open → HalfOpen transition, stamped when `open_for` elapsed.
    fn advance(&mut self, now: Instant) {
        if let Phase::Open { since } = self.phase
            && self.open_elapsed(since, now)
        {
            let at = since.checked_add(self.config.open_for).unwrap_or(now);
            self.transition(State::HalfOpen, at);
        }
    }

    fn is_stale(&mut self, permit: &Permit, now: Instant) -> bool {
        self.advance(now);
        let stale = permit.generation != self.generation;
        if stale {
            self.stats.stale_outcomes = self.stats.stale_outcomes.saturating_add(1);
        }
        stale
    }

    fn record_recent(&mut self, failed: bool) {
        let Some(ratio) = self.config.failure_ratio else {
            return;
        };
        let window = usize::try_from(ratio.window.get()).unwrap_or(usize::MAX);
        while self.recent.len() >= window {
            if self.recent.pop_front() == Some(true) {
                self.recent_failures = self.recent_failures.saturating_sub(1);
            }
        }
        self.recent.push_back(failed);
        if failed {
            self.recent_failures += 1;
        }
    }

    fn ratio_tripped(&self) -> bool {
        let Some(ratio) = self.config.failure_ratio else {
            return false;
        };
        let calls = self.recent.len();
        let min_calls = usize::try_from(ratio.min_calls.get()).unwrap_or(usize::MAX);
        calls >= min_calls && (self.recent_failures as f64 / calls as f64) >= ratio.threshold
    }

    fn transition(&mut self, to: State, at: Instant) {
        let from = match self.phase {
            Phase::Closed { .. } => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
        };
        self.phase = match to {
            State::Closed => Phase::Closed {
                consecutive_failures: 0,
            },
            State::Open => Phase::Open { since: at },
            State::HalfOpen => Phase::HalfOpen {
                probes_admitted: 0,
                last_probe_at: None,
            },
        };
        self.recent.clear();
        self.recent_failures = 0;
        self.generation = self.generation.wrapping_add(1);
        self.stats.transitions = self.stats.transitions.saturating_add(1);
        if self.log.len() >= TRANSITION_LOG_CAPACITY {
            self.log.remove(0);
            self.stats.transitions_dropped = self.stats.transitions_dropped.saturating_add(1);
        }
        self.log.push(Transition { from, to, at });
    }
}

#[cfg(test)]
mod tests;
