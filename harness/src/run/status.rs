//! What a run publishes about itself while it runs: its phase and, once a second during
//! the load, its counters. The run only publishes; whoever subscribes (the CLI's
//! progress line, a dashboard) decides how to show it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::experiment::Experiment;
use crate::journal::Recorder;
use crate::observe::tap::TapState;
use crate::stop::Stop;

/// The phases of a run, in order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Phase {
    #[default]
    Setup,
    Load,
    Heal,
    Drain,
    FinalReads,
    Teardown,
    Judge,
    Write,
    Done,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Setup => "setup",
            Phase::Load => "load",
            Phase::Heal => "heal",
            Phase::Drain => "drain",
            Phase::FinalReads => "final reads",
            Phase::Teardown => "teardown",
            Phase::Judge => "judge",
            Phase::Write => "write",
            Phase::Done => "done",
        }
    }
}

/// One snapshot of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    pub experiment: String,
    pub phase: Phase,
    /// Since the run's clock started (after setup).
    pub elapsed: Duration,
    /// Warm-up plus load.
    pub load_total: Duration,
    /// The drain's bound (`drain_timeout`).
    pub drain_total: Duration,
    pub planned: usize,
    pub sent: usize,
    pub acked: usize,
    /// Events the tap read.
    pub observed: u64,
    /// Orders with a terminal event.
    pub completed: usize,
    /// The latest lag sample summed over the consumer groups.
    pub lag: u64,
    /// What the live judge has found so far: orders judged, and the anomalies the
    /// lines seen prove (`check::stream::Live`).
    pub so_far: check::stream::SoFar,
    /// The run directory, once the results are written.
    pub results: Option<PathBuf>,
}

/// Where a run publishes its [`Status`]. Cloning shares the board; a board nobody
/// subscribed to costs a few stores.
#[derive(Debug, Clone)]
pub struct StatusBoard(Arc<watch::Sender<Status>>);

impl Default for StatusBoard {
    fn default() -> Self {
        StatusBoard(Arc::new(watch::channel(Status::default()).0))
    }
}

impl StatusBoard {
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.0.subscribe()
    }

    pub(crate) fn begin(&self, experiment: &Experiment) {
        self.0.send_replace(Status {
            experiment: experiment.name.clone(),
            load_total: experiment.warmup + experiment.duration,
            drain_total: experiment.drain_timeout,
            ..Status::default()
        });
    }

    pub(crate) fn phase(&self, phase: Phase) {
        self.0.send_modify(|s| s.phase = phase);
    }

    pub(crate) fn finish(&self, dir: &Path) {
        self.0.send_modify(|s| {
            s.phase = Phase::Done;
            s.results = Some(dir.to_path_buf());
        });
    }

    /// The orders the load planned (published by the load phase's [`follow`](Self::follow)).
    pub(crate) fn planned(&self) -> usize {
        self.0.borrow().planned
    }

    /// Publishes the counters once a second until `stop`.
    pub(crate) async fn follow(
        &self,
        recorder: Arc<Recorder>,
        tap: Arc<Mutex<TapState>>,
        planned: usize,
        stop: Stop,
    ) {
        let mut ticks = stop.every(Duration::from_secs(1));
        while ticks.next().await {
            let (sent, acked, completed, lag) = {
                let live = recorder.live();
                let lag: u64 = live.latest_lag.values().map(|l| l.lag).sum();
                (live.sends, live.orders.acked, live.orders.completed, lag)
            };
            let observed = tap.lock().map(|s| s.observed).unwrap_or(0);
            let so_far = recorder.so_far();
            self.0.send_modify(|s| {
                s.elapsed = recorder.t0().elapsed();
                s.planned = planned;
                s.sent = sent;
                s.acked = acked;
                s.observed = observed;
                s.completed = completed;
                s.lag = lag;
                s.so_far = so_far;
            });
        }
    }
}
