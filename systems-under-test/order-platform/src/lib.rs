//! The reference order platform: the system under test. The same service code runs on
//! Redis Streams or Kafka, at-most-once, at-least-once or exactly-once; the bus decides.
//!
//! Modules:
//! - [`config`]: the command line (one process per service instance).
//! - [`bus`]: the event bus over Redis Streams and Kafka, each mode's ack/commit logic,
//!   and whole-topic readers for read models.
//! - [`services`]: order (HTTP API, saga end, event-sourced read model), inventory,
//!   payment, payment-gateway, shipping, notification, analytics; and the shared
//!   consume loop ([`services::runner`]).
//! - [`resilience`]: retry with backoff and jitter, circuit breaker, poison detection,
//!   dead letters.
//! - [`http`], [`metrics`]: `/health`, `/metrics` and the HTTP server every service runs.

pub mod bus;
pub mod config;
pub mod http;
pub mod metrics;
pub mod resilience;
pub mod services;
