//! Fault injection. For now: the Toxiproxy client that network faults go through.
//! Process faults (kill, pause, restart) are methods of [`crate::lab::Lab`].

pub mod executor;
pub mod toxiproxy;
