//! Load and faults: the warm-up, then the measured load phase with the faults on their
//! schedule, all open loop (each order at its intended time). Then heal: every fault
//! that may still be active is undone.

use std::time::Instant;

use anyhow::Context;

use super::setup::Setup;
use super::status::{Phase, StatusBoard};
use crate::chaos::executor::{self, Targets};
use crate::experiment::{Driver, Experiment};
use crate::observe::tap;
use crate::stop::{Stop, Stopper};

/// When the measured load began and was planned to end, and whether a stop cut it short.
#[derive(Debug, Clone, Copy)]
pub(super) struct LoadPhase {
    pub load_start: Instant,
    pub load_end: Instant,
    pub interrupted: bool,
}

fn targets<'a>(experiment: &Experiment, setup: &'a Setup) -> Targets<'a> {
    Targets {
        lab: &setup.lab,
        platform: setup.platform.as_ref(),
        shared: experiment.shard.is_none_or(|s| s.injects_shared_faults()),
        toxic_prefix: &setup.toxic_prefix,
    }
}

/// Sends the planned orders (and the poison messages) while the faults run; returns when
/// the load phase ends or `stop` comes, with every load task finished.
pub(super) async fn load_and_faults(
    experiment: &Experiment,
    setup: &Setup,
    stop: &Stop,
    board: &StatusBoard,
) -> anyhow::Result<LoadPhase> {
    let recorder = &setup.recorder;
    let orders = crate::load::plan(experiment);
    let planned = orders.len();
    let load_start = recorder.t0() + experiment.warmup;
    let load_end = load_start + experiment.duration;
    let load_stopper = Stopper::new();
    let order_url = setup.order_url.clone();
    let mut producer_bus = setup.bus.clone();
    // The reference platform's topics are the run's to create; an external platform's
    // are its own.
    producer_bus.topics = match setup.platform {
        Some(_) => tap::TOPICS.iter().map(|t| t.to_string()).collect(),
        None => Vec::new(),
    };
    let input = setup.input.clone();
    let poison_count = (planned as f64 * experiment.workload.poison_ratio.get()).round() as u64;
    let poison = tokio::spawn(crate::load::direct::poison(
        poison_count,
        experiment.warmup + experiment.duration,
        producer_bus.clone(),
        input.clone(),
        load_stopper.stop_token(),
    ));
    let load = match experiment.workload.driver {
        Driver::Http => {
            let order_url = order_url.context("no order API to send orders to")?;
            let (recorder, stop, logs) = (
                recorder.clone(),
                load_stopper.stop_token(),
                setup.logs.clone(),
            );
            tokio::spawn(async move {
                crate::load::http::run(orders, order_url, recorder, stop, &logs).await
            })
        }
        Driver::Direct => tokio::spawn(crate::load::direct::run(
            orders,
            producer_bus,
            input,
            recorder.clone(),
            load_stopper.stop_token(),
        )),
    };
    board.phase(Phase::Load);
    let status = {
        let (board, recorder, tap, stop) = (
            board.clone(),
            recorder.clone(),
            setup.tap.clone(),
            load_stopper.stop_token(),
        );
        tokio::spawn(async move { board.follow(recorder, tap, planned, stop).await })
    };
    let mut interrupted = false;
    {
        let faults = executor::run(
            &experiment.faults,
            targets(experiment, setup),
            setup.toxiproxy.clone(),
            recorder.clone(),
            load_start,
            load_end,
            load_stopper.stop_token(),
        );
        tokio::pin!(faults);
        let mut faults_done = false;
        let deadline = tokio::time::sleep_until(load_end.into());
        tokio::pin!(deadline);
        // The end of the warm-up is a phase boundary: what came before it goes to disk.
        let warm = tokio::time::sleep_until(load_start.into());
        tokio::pin!(warm);
        let mut warmed = false;
        loop {
            tokio::select! {
                _ = &mut faults, if !faults_done => faults_done = true,
                _ = &mut warm, if !warmed => { warmed = true; recorder.sync().await; }
                _ = &mut deadline => break,
                _ = stop.stopped() => { interrupted = true; break; }
            }
        }
        load_stopper.stop();
        // Faults still active end now (their tasks see the stop and heal).
        if !faults_done {
            faults.await;
        }
    }
    let _ = load.await;
    let _ = poison.await;
    let _ = status.await;
    Ok(LoadPhase {
        load_start,
        load_end,
        interrupted,
    })
}

/// Undoes every fault that may still be active.
pub(super) async fn heal(experiment: &Experiment, setup: &Setup, board: &StatusBoard) {
    board.phase(Phase::Heal);
    executor::heal_all(
        &experiment.faults,
        targets(experiment, setup),
        setup.toxiproxy.as_ref(),
    )
    .await;
}
