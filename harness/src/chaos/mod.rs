//! Fault injection: [`executor`] applies an experiment's fault plan at its times and
//! heals it. Network faults go through the Toxiproxy client ([`lab::toxiproxy`]);
//! process faults (kill, pause, restart) are methods of [`lab::Lab`] and
//! [`lab::platform::Platform`]. Both live in the `lab` crate, a layer below.

pub mod executor;
