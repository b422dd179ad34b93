//! The journal (the bottom layer of the harness): the run's clock and its history.
//! Every recorder (load generator, tap, samplers, fault executor) stamps times from one
//! monotonic clock and hands its lines to [`Recorder`], which streams them to the run's
//! history file ([`writer`]) and keeps only the little the run itself reads while it
//! goes ([`Live`]: counts, each group's latest lag sample, the fault windows, the
//! orders still waited on: [`Orders`]). Memory follows the orders in flight, not the
//! run's length.

pub mod live;
mod orders;
mod read;
pub mod writer;

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use check::{
    Charge, DeadLetterRecord, FaultKind, FaultRecord, LagSample, Line, Meta, MetricSample,
    Observation, SendOutcome, SendRecord, StockLine,
};
use time::OffsetDateTime;

pub use live::{ActiveFault, LatencyTotals, Live, SecondLatency, ServiceNow};
pub use orders::Orders;
pub use read::{CheckedFile, check};
pub use writer::{HistoryFormat, Writer};

/// How long a key must be quiet (run time) before the live judge judges it: longer
/// than an order's usual trip through the platform, short enough that the progress
/// line shows an anomaly within seconds. A key judged too early can only hide an
/// anomaly from the live view, never invent one (`check::stream::Live`); the verdict
/// reads the whole history again.
pub const LIVE_QUIET: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug)]
pub struct Recorder {
    t0: Instant,
    /// Wall time at `t0`, to turn envelope timestamps into run time.
    wall_t0: OffsetDateTime,
    writer: Writer,
    live: Mutex<Live>,
    /// The run judged as it goes, from the same lines as the file.
    judge: Mutex<check::stream::Live>,
    /// The analysis options the run is judged by: which event types end an order
    /// (an external platform names its own), for the drain and the live latency.
    options: check::AnalysisOptions,
}

impl Recorder {
    /// Starts the clock and the history at `path` (created or truncated); the live
    /// judge applies `options`, as the verdict will.
    pub fn create(
        path: &Path,
        format: HistoryFormat,
        options: check::AnalysisOptions,
    ) -> std::io::Result<Recorder> {
        let quiet_us = u64::try_from(LIVE_QUIET.as_micros()).unwrap_or(u64::MAX);
        Ok(Recorder {
            t0: Instant::now(),
            wall_t0: OffsetDateTime::now_utc(),
            writer: Writer::create(path, format)?,
            live: Mutex::new(Live::default()),
            judge: Mutex::new(check::stream::Live::new(options.clone(), quiet_us)),
            options,
        })
    }

    /// What the live judge has found so far (keys quiet for [`LIVE_QUIET`] judged).
    pub fn so_far(&self) -> check::stream::SoFar {
        let now = self.now_us();
        let mut judge = self.judge();
        judge.advance(now);
        judge.so_far()
    }

    fn judge(&self) -> MutexGuard<'_, check::stream::Live> {
        self.judge
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn t0(&self) -> Instant {
        self.t0
    }

    pub fn started_at(&self) -> OffsetDateTime {
        self.wall_t0
    }

    /// Microseconds since the run started.
    pub fn now_us(&self) -> u64 {
        self.at_us(Instant::now())
    }

    pub fn at_us(&self, instant: Instant) -> u64 {
        u64::try_from(instant.saturating_duration_since(self.t0).as_micros()).unwrap_or(u64::MAX)
    }

    /// A wall-clock time (an envelope's `occurred_at`) as run time, if after the start.
    pub fn wall_us(&self, wall: OffsetDateTime) -> Option<u64> {
        let micros = (wall - self.wall_t0).whole_microseconds();
        u64::try_from(micros).ok()
    }

    /// The history file.
    pub fn path(&self) -> &Path {
        self.writer.path()
    }

    /// What the run has recorded so far, for the drain and the progress line.
    pub fn live(&self) -> MutexGuard<'_, Live> {
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn send(&self, record: SendRecord) {
        {
            let mut live = self.live();
            live.sends += 1;
            live.outcome(record.outcome);
            if record.outcome == SendOutcome::Acked {
                let latency = live.orders.acked(&record.order_id, record.intended_us);
                live.finished_in(latency);
            }
        }
        self.append([Line::Send(record)]);
    }

    /// What one read of the tap brought: observations and dead letters.
    pub fn observed(&self, observations: Vec<Observation>, letters: Vec<DeadLetterRecord>) {
        {
            let mut live = self.live();
            live.observations += observations.len() as u64;
            for o in &observations {
                if self.options.is_terminal(&o.event_type) {
                    let latency = live.orders.finished(&o.key, o.observed_us);
                    live.finished_in(latency);
                }
            }
        }
        self.append(
            observations
                .into_iter()
                .map(Line::Observe)
                .chain(letters.into_iter().map(Line::DeadLetter)),
        );
    }

    /// A fault was applied at `start_us` (its line is written when it ends: [`fault`](Self::fault)).
    pub fn fault_started(&self, id: &str, kind: FaultKind, target: &str, start_us: u64) {
        self.live().active_faults.push(ActiveFault {
            id: id.to_string(),
            kind,
            target: target.to_string(),
            start_us,
        });
    }

    /// A fault ended (healed, or given up at the end of the load).
    pub fn fault(&self, record: FaultRecord) {
        {
            let mut live = self.live();
            live.active_faults.retain(|f| f.id != record.id);
            live.faults.push(record.clone());
        }
        self.append([Line::Fault(record)]);
    }

    pub fn lags(&self, samples: Vec<LagSample>) {
        {
            let mut live = self.live();
            for s in &samples {
                live.latest_lag.insert(s.group.clone(), s.clone());
            }
        }
        self.append(samples.into_iter().map(Line::Lag));
    }

    pub fn metrics(&self, samples: Vec<MetricSample>) {
        {
            let mut live = self.live();
            for s in &samples {
                let now = live
                    .services
                    .entry((s.service.clone(), s.instance))
                    .or_default();
                match s.name.as_str() {
                    "retries_total" => now.retries = s.value,
                    "dead_letters_total" => now.dead_letters = s.value,
                    "redelivered_total" => now.redelivered = s.value,
                    "breaker_state" => now.breaker_state = Some(s.value),
                    _ => {}
                }
            }
        }
        self.append(samples.into_iter().map(Line::Metric));
    }

    pub fn charges(&self, charges: Vec<Charge>) {
        self.append(charges.into_iter().map(Line::Charge));
    }

    pub fn stock(&self, lines: Vec<StockLine>) {
        self.append(lines.into_iter().map(Line::Stock));
    }

    /// Everything recorded so far is on disk (a phase boundary).
    pub async fn sync(&self) {
        if let Err(e) = self.writer.sync().await {
            tracing::warn!("history: {e}");
        }
    }

    /// Ends the history with its meta line (what the run was, where its phases ended)
    /// and closes the file. Nothing is recorded after it.
    pub fn close(&self, meta: Meta) -> Result<(), String> {
        self.append([Line::Meta(meta)]);
        self.writer.close()
    }

    /// Serialises on the caller's thread (spreading the work over the recorders), one
    /// message to the writer per batch. The live judge sees the lines first (its lock
    /// held only for that).
    fn append(&self, lines: impl IntoIterator<Item = Line>) {
        let lines: Vec<Line> = lines.into_iter().collect();
        if lines
            .iter()
            .any(|l| matches!(l, Line::Send(_) | Line::Observe(_)))
        {
            let mut judge = self.judge();
            lines.iter().for_each(|l| judge.line(l));
        }
        let mut text = String::new();
        for line in lines {
            let _ = writeln!(text, "{}", line.to_json());
        }
        self.writer.append(text);
    }
}
