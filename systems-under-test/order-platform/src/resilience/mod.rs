//! Resilience primitives for the order platform's services: pure, deterministic, I/O-free.
//!
//! None of these types reads a clock or owns a source of randomness: time comes in as
//! [`std::time::Instant`] or [`std::time::Duration`], randomness from a caller-seeded RNG, so
//! a run with the same seed and the same inputs behaves the same way, and tests need no sleeps.
//!
//! - [`mod@retry`]: [`Backoff`] (exponential, capped, jittered) and the [`retry()`] loop —
//!   every consumer, and the payment service's gateway client.
//! - [`breaker`]: [`CircuitBreaker`] with a [`Transition`] log and counters — payment, around
//!   the gateway.
//! - [`poison`]: [`PoisonPolicy`] verdicts and [`AttemptTracker`] failure counts (the tracker
//!   for Kafka, which does not count deliveries) — every consumer.
//! - [`dlq`]: the [`DeadLetter`] JSON record and [`dlq_topic`] naming — every consumer.
//! - [`parking`]: [`Parking`], inputs that came before the state they need, waiting per
//!   lane (bounded) instead of counting as failed attempts — every consumer.
//!
//! A consumer's failure path reads: [`PoisonPolicy::classify`] before processing → on error
//! [`PoisonPolicy::after_failure`] → [`Verdict::Retry`] waits [`Backoff::delay`], while
//! [`Verdict::DeadLetter`] publishes a [`DeadLetter`] to [`dlq_topic`] and acknowledges the
//! original.

pub mod breaker;
pub mod dlq;
pub mod parking;
pub mod poison;
pub mod retry;

pub use breaker::{
    BreakerConfig, BreakerStats, CircuitBreaker, FailureRatio, Permit, Rejected, State, Transition,
};
pub use dlq::{
    DeadLetter, DeadLetterReason, DlqError, OriginalPayload, Position, ReasonKind, dlq_topic,
    sniff_event_id,
};
pub use parking::Parking;
pub use poison::{AttemptTracker, PoisonPolicy, Reason, Verdict};
pub use retry::{Backoff, BackoffError, Jitter, RetryError, Retryable, retry, retry_with_sleep};
