//! What a run publishes about itself while it runs: its phase and, once a second during
//! the load and the drain, its counters, latency, lag, faults and the services'
//! health. The run only publishes; whoever subscribes (the CLI's progress line, the
//! dashboard and its `/metrics`) decides how to show it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::experiment::Experiment;
use crate::journal::{ActiveFault, LatencyTotals, Recorder, SecondLatency, ServiceNow};
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

/// Which of several runs of one command is running (a matrix's combinations, `--repeat`'s trials).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    /// `(k, of)`: the k-th combination (from 1) of a matrix's `of`.
    pub combination: Option<(usize, usize)>,
    /// `(i, of)`: the i-th trial (from 1) of `--repeat of`.
    pub trial: Option<(u32, u32)>,
}

/// One consumer group's latest lag sample.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupLag {
    pub lag: u64,
    /// Redis pending entries; `None` on Kafka.
    pub pending: Option<u64>,
    /// When it was sampled (run µs).
    pub t_us: u64,
}

/// One snapshot of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    /// Counts the runs this board has shown (1 for the first): a new number is a new run.
    pub run: u64,
    pub position: Position,
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
    /// Each consumer group's (and the tap's) latest lag sample.
    pub lags: BTreeMap<String, GroupLag>,
    /// Send lines by outcome (`acked`, `rejected`, `error`, `dropped`).
    pub outcomes: BTreeMap<&'static str, u64>,
    /// End-to-end latency of every order finished so far.
    pub e2e: LatencyTotals,
    /// The percentiles of the orders that finished in the last second.
    pub e2e_second: Option<SecondLatency>,
    /// Faults applied and not yet healed.
    pub faults_active: Vec<ActiveFault>,
    /// Faults that ended.
    pub faults_done: Vec<check::FaultRecord>,
    /// Each service instance's latest counters (retries, dead letters, breaker).
    pub services: BTreeMap<(String, u32), ServiceNow>,
    /// Each service instance's HTTP address (its `/metrics`), once the platform runs.
    pub targets: Vec<(String, u32, std::net::SocketAddr)>,
    /// What the live judge has found so far: orders judged, and the anomalies the
    /// lines seen prove (`check::stream::Live`).
    pub so_far: check::stream::SoFar,
    /// The run directory, once the results are written.
    pub results: Option<PathBuf>,
    /// The verdict, once judged.
    pub decision: Option<check::Decision>,
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

    /// Says which combination of a matrix the next runs are (kept by [`begin`](Self::begin)).
    pub fn combination(&self, combination: Option<(usize, usize)>) {
        self.0.send_modify(|s| s.position.combination = combination);
    }

    /// Says which trial of `--repeat` the next run is (kept by [`begin`](Self::begin)).
    pub fn trial(&self, trial: Option<(u32, u32)>) {
        self.0.send_modify(|s| s.position.trial = trial);
    }

    /// The ended run's directory moved to `dir` (a trial renamed into its set).
    pub fn moved(&self, dir: &Path) {
        self.0.send_modify(|s| s.results = Some(dir.to_path_buf()));
    }

    pub(crate) fn begin(&self, experiment: &Experiment) {
        self.0.send_modify(|s| {
            *s = Status {
                run: s.run + 1,
                position: s.position.clone(),
                experiment: experiment.name.clone(),
                load_total: experiment.warmup + experiment.duration,
                drain_total: experiment.drain_timeout,
                ..Status::default()
            }
        });
    }

    /// The platform's service instances and their HTTP addresses.
    pub(crate) fn targets(&self, targets: Vec<(String, u32, std::net::SocketAddr)>) {
        self.0.send_modify(|s| s.targets = targets);
    }

    pub(crate) fn phase(&self, phase: Phase) {
        self.0.send_modify(|s| s.phase = phase);
    }

    pub(crate) fn finish(&self, dir: &Path, decision: check::Decision) {
        self.0.send_modify(|s| {
            s.phase = Phase::Done;
            s.results = Some(dir.to_path_buf());
            s.decision = Some(decision);
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
            self.publish(&recorder, &tap, planned);
        }
    }

    /// One snapshot of the counters, published now.
    pub(crate) fn publish(&self, recorder: &Recorder, tap: &Mutex<TapState>, planned: usize) {
        let elapsed = recorder.t0().elapsed();
        let observed = tap.lock().map(|s| s.observed).unwrap_or(0);
        let so_far = recorder.so_far();
        let mut live = recorder.live();
        let lags: BTreeMap<String, GroupLag> = live
            .latest_lag
            .iter()
            .map(|(group, l)| {
                let lag = GroupLag {
                    lag: l.lag,
                    pending: l.pending,
                    t_us: l.t_us,
                };
                (group.clone(), lag)
            })
            .collect();
        let e2e_second = live.e2e_window.take();
        self.0.send_modify(|s| {
            s.elapsed = elapsed;
            s.planned = planned;
            s.sent = live.sends;
            s.acked = live.orders.acked;
            s.observed = observed;
            s.completed = live.orders.completed;
            s.lag = live.latest_lag.values().map(|l| l.lag).sum();
            s.lags = lags;
            s.outcomes = live.outcomes.clone();
            s.e2e = live.e2e.clone();
            s.e2e_second = e2e_second;
            s.faults_active = live.active_faults.clone();
            s.faults_done = live.faults.clone();
            s.services = live.services.clone();
            s.so_far = so_far;
        });
        drop(live);
    }
}
