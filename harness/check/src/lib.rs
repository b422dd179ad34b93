//! Pure analysis of what a run observed. No clock, no file, no socket, no async:
//! values in, values out, so every rule here is tested on literal histories.
//!
//! Modules:
//! - [`anomaly`]: the named anomalies a verdict counts (lost, duplicate_delivery, ...),
//!   each with a count and a sample of ids.

pub mod anomaly;

pub use anomaly::{Anomaly, AnomalyReport, Finding};
