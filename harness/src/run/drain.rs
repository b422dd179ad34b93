//! Drain: after the load and the faults, wait for the system to finish what it was
//! given, up to the experiment's `drain_timeout`. It ends
//!
//! - `finished`: every acknowledged order has reached a terminal event on the tap;
//! - `idle`: every consumer group and the tap had caught up (lag 0, nothing pending in
//!   their latest samples, each taken after the load ended) and the tap read nothing
//!   new for [`SETTLE`]: the system has nothing left to do, so an unfinished order is
//!   not coming (the checker calls it lost);
//! - `timed_out`: the system was still busy when `drain_timeout` ran out (the checker
//!   calls the orders it had not reached in flight);
//! - `stopped`: a stop came.
//!
//! Then the tap is given [`TAP_GRACE`] to read what was written last, and every group
//! is sampled once more: the positions the checker's in-flight rule reads.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use check::DrainEnd;

use super::Say;
use super::setup::Setup;
use super::status::{Phase, StatusBoard};
use crate::experiment::Experiment;
use crate::stop::{Stop, Stopper};

/// How long nothing may move before an idle system counts as drained.
pub(super) const SETTLE: Duration = Duration::from_secs(2);
/// After the drain, for the tap to read the last entries written.
const TAP_GRACE: Duration = Duration::from_millis(500);

/// Drains, unless a stop came already (then it only lets the tap read what is there).
pub(super) async fn drain(
    experiment: &Experiment,
    setup: &Setup,
    stop: &Stop,
    say: &Say,
    board: &StatusBoard,
) -> DrainEnd {
    let ended = if stop.is_stopped() {
        board.phase(Phase::Drain);
        DrainEnd::Stopped
    } else {
        // Said before the phase changes, so the progress line starts below it.
        say.line(format!(
            "harness: load done; draining (up to {:?})",
            experiment.drain_timeout
        ));
        board.phase(Phase::Drain);
        // The counters and the live judgement go on being published while it waits.
        let following = Stopper::new();
        let status = {
            let (board, recorder, tap) = (board.clone(), setup.recorder.clone(), setup.tap.clone());
            let (planned, token) = (board.planned(), following.stop_token());
            tokio::spawn(async move { board.follow(recorder, tap, planned, token).await })
        };
        let ended = wait(experiment, setup, stop).await;
        following.stop();
        let _ = status.await;
        ended
    };
    tokio::time::sleep(TAP_GRACE).await;
    crate::observe::lag::sample_once(&setup.bus, &setup.recorder, &setup.tap).await;
    // The drain's last counters (and that last lag sample), for whoever watches.
    board.publish(&setup.recorder, &setup.tap, board.planned());
    ended
}

async fn wait(experiment: &Experiment, setup: &Setup, stop: &Stop) -> DrainEnd {
    let start_us = setup.recorder.now_us();
    let groups = expected_groups();
    let deadline = Instant::now() + experiment.drain_timeout;
    let mut last_observed = u64::MAX;
    let mut quiet_since = Instant::now();
    loop {
        let done = setup.recorder.live().orders.all_finished();
        let observed = setup.tap.lock().map(|s| s.observed).unwrap_or(0);
        if done {
            return DrainEnd::Finished;
        }
        if observed != last_observed {
            last_observed = observed;
            quiet_since = Instant::now();
        }
        let caught_up = caught_up(&setup.recorder.live().latest_lag, &groups, start_us);
        if caught_up && quiet_since.elapsed() >= SETTLE {
            return DrainEnd::Idle;
        }
        if Instant::now() >= deadline {
            return DrainEnd::TimedOut;
        }
        if stop.sleep(Duration::from_millis(250)).await {
            return DrainEnd::Stopped;
        }
    }
}

/// Every consuming service's group, and the tap.
fn expected_groups() -> Vec<&'static str> {
    let mut groups: Vec<&str> = events::Service::ALL
        .iter()
        .filter(|s| !s.subscriptions().is_empty())
        .map(|s| s.name())
        .collect();
    groups.push(check::TAP_GROUP);
    groups
}

/// Whether each of `groups` has its latest sample after `since_us`, showing no lag and
/// nothing pending.
fn caught_up(latest: &BTreeMap<String, check::LagSample>, groups: &[&str], since_us: u64) -> bool {
    groups.iter().all(|g| {
        latest
            .get(*g)
            .is_some_and(|s| s.t_us > since_us && s.lag == 0 && s.pending.unwrap_or(0) == 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_us: u64, group: &str, lag: u64, pending: Option<u64>) -> check::LagSample {
        check::LagSample {
            t_us,
            group: group.into(),
            lag,
            pending,
            positions: Vec::new(),
        }
    }

    #[test]
    fn caught_up_reads_each_groups_latest_sample_after_the_load() {
        let groups = ["inventory", "tap"];
        let mut latest = BTreeMap::new();
        let mut record = |s: check::LagSample| {
            latest.insert(s.group.clone(), s);
            latest.clone()
        };
        record(sample(1, "inventory", 0, Some(0)));
        let lags = record(sample(1, "tap", 0, None));
        // Samples from before the drain began do not count.
        assert!(!caught_up(&lags, &groups, 1));
        record(sample(2, "inventory", 5, Some(0)));
        let lags = record(sample(2, "tap", 0, None));
        assert!(!caught_up(&lags, &groups, 1), "inventory has lag");
        let lags = record(sample(3, "inventory", 0, Some(1)));
        assert!(!caught_up(&lags, &groups, 1), "inventory has one pending");
        let lags = record(sample(4, "inventory", 0, Some(0)));
        assert!(caught_up(&lags, &groups, 1));
        assert!(
            !caught_up(&lags, &["inventory", "tap", "payment"], 1),
            "a group without a sample is not known to be caught up"
        );
    }

    #[test]
    fn every_consuming_service_and_the_tap_are_expected() {
        let groups = expected_groups();
        assert!(groups.contains(&"inventory"));
        assert!(groups.contains(&"tap"));
    }
}
