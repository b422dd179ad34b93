//! Drain: after the load and the faults, wait (up to the experiment's `drain_timeout`)
//! until every acknowledged order has reached a terminal event on the tap.

use std::time::{Duration, Instant};

use super::Say;
use super::setup::Setup;
use super::status::{Phase, StatusBoard};
use crate::experiment::Experiment;
use crate::stop::Stop;

/// How the drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Drained {
    /// Every acknowledged order has a terminal event.
    Settled,
    /// `drain_timeout` ran out first.
    TimedOut,
    /// A stop came.
    Stopped,
}

/// Drains, unless a stop came already (then it only lets the tap read what is there).
pub(super) async fn drain(
    experiment: &Experiment,
    setup: &Setup,
    stop: &Stop,
    say: &Say,
    board: &StatusBoard,
) -> Drained {
    board.phase(Phase::Drain);
    let drained = if stop.is_stopped() {
        Drained::Stopped
    } else {
        say.line(format!(
            "harness: load done; draining (up to {:?})",
            experiment.drain_timeout
        ));
        wait_for_terminals(experiment, setup, stop).await
    };
    // Let the tap read what is already there.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drained
}

async fn wait_for_terminals(experiment: &Experiment, setup: &Setup, stop: &Stop) -> Drained {
    let acked: Vec<String> = setup
        .recorder
        .history()
        .sends
        .iter()
        .filter(|s| s.outcome == check::SendOutcome::Acked)
        .map(|s| s.order_id.clone())
        .collect();
    let deadline = Instant::now() + experiment.drain_timeout;
    loop {
        let done = setup
            .tap
            .lock()
            .map(|s| acked.iter().all(|o| s.terminal.contains(o)))
            .unwrap_or(false);
        if done {
            return Drained::Settled;
        }
        if Instant::now() >= deadline {
            return Drained::TimedOut;
        }
        if stop.sleep(Duration::from_millis(250)).await {
            return Drained::Stopped;
        }
    }
}
