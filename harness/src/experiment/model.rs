//! The experiment as typed values: what the rest of the harness reads. Everything here
//! was checked when the file was read (see `parse.rs` and `validate.rs`). Faults are in
//! `fault.rs`.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::duration;
use super::error::Location;
use super::fault::Fault;
use super::matrix::Combination;
use super::schedule::Schedule;

/// The backend, the guarantee and the services are the platform's own definitions
/// (`events::platform`): experiment files use the same names.
pub use events::{Backend, Guarantee, Service};

/// One concrete run: a file with its overrides applied and one matrix combination chosen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Experiment {
    /// The file's `name`, with the matrix combination appended when the file has a
    /// matrix: `kafka-broker-kill[guarantee=exactly-once]`.
    pub name: String,
    /// The file's `name` as written: runs of one file's combinations share it.
    pub base_name: String,
    pub description: Option<String>,
    /// The file the experiment came from, so results point back at it.
    pub origin: String,
    /// Root of every random choice (see [`Experiment::rng`]). Default 0.
    pub seed: u64,
    /// The load phase; faults happen inside it. Never zero.
    #[serde(serialize_with = "duration::serialize")]
    pub duration: Duration,
    /// Load before the measured phase, to fill caches and settle consumer groups. Default 5s.
    #[serde(serialize_with = "duration::serialize")]
    pub warmup: Duration,
    /// After load and faults end, how long to wait for the pipeline to settle. Default 30s.
    #[serde(serialize_with = "duration::serialize")]
    pub drain_timeout: Duration,
    /// How the history file is stored: `jsonl` (default) or `zstd`
    /// (`history.jsonl.zst`, several times smaller; for long runs).
    pub history: crate::journal::HistoryFormat,
    pub system: System,
    /// `[lab]`: the services to run against (absent: the harness starts its own lab;
    /// then left out of the serialized config, which stays as it was before `[lab]`).
    #[serde(skip_serializing_if = "LabSection::is_default")]
    pub lab: LabSection,
    pub workload: Workload,
    /// In file order.
    pub faults: Vec<Fault>,
    /// In file order; expressions are checked by the caller's function (see `validate`).
    pub thresholds: Vec<Threshold>,
    /// `[capacity]`: how `harness capacity` searches (absent: its defaults).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
    /// The matrix values chosen for this run; empty when the file has no matrix.
    pub combination: Combination,
    /// `harness run --shard I/N`: the slice of the schedule this process runs (not in
    /// the file: every shard runs the same file). Absent for a whole run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<super::Shard>,
    /// Part of every order id of the run (`o<seed>-<run id>-<n>`), so that a system the
    /// harness did not start, whose topics outlive runs, never sees one order id in two
    /// runs: `--run-id` (the same in every shard of a sharded run), else drawn for each
    /// run of an external platform. Absent for the reference platform, whose streams
    /// and topics are the run's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The combinations of this file's matrix that are not run (a varied fault that
    /// cannot act on its target in that system); one list, shared by each of them.
    #[serde(skip)]
    pub skipped: std::sync::Arc<[super::matrix::Skipped]>,
    #[serde(skip)]
    pub(crate) spans: ExperimentSpans,
}

/// Where validated values were written, for cross-field errors.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExperimentSpans {
    pub(crate) duration: Location,
    pub(crate) schedule: Location,
    /// `system.platform` (or `[system]` when the key is left out).
    pub(crate) platform: Location,
}

/// `[lab]`: where the services are.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct LabSection {
    /// `endpoints = "PATH"`: an endpoints file (the shape `harness lab up --json`
    /// prints), resolved against the experiment file's directory. `--endpoints` wins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<std::path::PathBuf>,
}

/// `system.platform`: who runs the system under test.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// The reference order platform, started by the harness (the default).
    #[default]
    Reference,
    /// A system the harness does not start (`platform = "external"`), described by
    /// `[system.external]`; it must stamp the envelope (docs/envelope.md).
    External(ExternalSystem),
}

/// `[system.external]`: how to reach and read a system the harness did not start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExternalSystem {
    /// Prefix of the system's stream/topic names: `{namespace}:{topic}` on Redis,
    /// `{namespace}.{topic}` on Kafka.
    pub namespace: String,
    /// The order API's base URL (the http driver POSTs `{order_url}/orders`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_url: Option<String>,
    /// The topic/stream (logical name, under `namespace`) the direct driver produces
    /// `OrderPlaced` to. Default `orders`.
    pub input: String,
    /// The topics (logical names) the tap reads. Default: every topic of the catalog.
    pub topics: Vec<String>,
    /// The event types that end an order. Default `OrderShipped`, `OrderCancelled`.
    pub terminal_types: Vec<String>,
}

impl LabSection {
    fn is_default(&self) -> bool {
        self == &LabSection::default()
    }
}

impl Platform {
    fn is_reference(&self) -> bool {
        *self == Platform::Reference
    }

    pub fn external(&self) -> Option<&ExternalSystem> {
        match self {
            Platform::External(e) => Some(e),
            Platform::Reference => None,
        }
    }
}

// Choices written as one of a fixed set of names: the events crate's `named_enum!`.
use events::named_enum;

named_enum! {
    "redis persistence",
    /// Redis `appendfsync` (`none` turns the append-only file off).
    RedisPersistence {
        None = "none",
        Everysec = "everysec",
        Always = "always",
    }
}

named_enum! {
    "driver",
    /// How orders enter the system.
    Driver {
        /// `POST /orders` on the order service.
        Http = "http",
        /// `OrderPlaced` produced straight to the bus.
        Direct = "direct",
    }
}

named_enum! {
    "stream",
    /// The direction a toxic acts on.
    Stream {
        /// Client → broker.
        Upstream = "upstream",
        /// Broker → client (the default).
        Downstream = "downstream",
    }
}

/// How many Kafka brokers: one, or a three-node cluster (replication 3, min ISR 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Brokers {
    One,
    Three,
}

impl Brokers {
    pub fn count(self) -> u32 {
        match self {
            Brokers::One => 1,
            Brokers::Three => 3,
        }
    }

    pub fn from_count(count: i64) -> Option<Self> {
        match count {
            1 => Some(Brokers::One),
            3 => Some(Brokers::Three),
            _ => None,
        }
    }
}

impl Serialize for Brokers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.count())
    }
}

/// `[capacity]`: the search `harness capacity` makes for the highest rate the system
/// sustains. Each trial is a short run of the experiment at one constant rate
/// (without its faults), `trial` long after the file's warm-up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Capacity {
    /// The first trial's rate, orders/s. Default 100.
    pub start: f64,
    /// Never offer more, orders/s. Default 20000.
    pub max: f64,
    /// Each trial's load phase. Default 10s.
    #[serde(serialize_with = "duration::serialize")]
    pub trial: Duration,
    /// Stop when the highest sustained and lowest unsustained rates are within this
    /// share of each other (0.1: 10 %). Default 0.1.
    pub resolution: f64,
    /// At most this many trials per combination. Default 8.
    pub max_trials: u32,
    /// `[capacity.slo]`: what else a sustained rate must hold, in the thresholds'
    /// grammar (`"latency.e2e.p99" = "< 1s"`).
    pub slo: Vec<Threshold>,
}

/// `[system]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct System {
    pub backend: Backend,
    /// Default at-least-once.
    pub guarantee: Guarantee,
    /// Kafka only (ignored on Redis, so one file can compare backends). Default 1.
    pub brokers: Brokers,
    /// Partitions per topic; Kafka only. Default 6.
    pub partitions: NonZeroU32,
    /// Redis only. Default none.
    pub redis_persistence: RedisPersistence,
    /// Instances per service (members of its consumer group). Default 1 each.
    pub replicas: Replicas,
    /// Distinct products in the catalog. Default 50.
    pub skus: NonZeroU32,
    /// Stock of each SKU at the start. Default 1000.
    pub initial_stock: u32,
    /// Who runs the system: the harness (`reference`, the default, left out of the
    /// serialized config) or someone else.
    #[serde(skip_serializing_if = "Platform::is_reference")]
    pub platform: Platform,
}

/// Instances of each service; every service runs at least one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replicas([NonZeroU32; 6]);

impl Default for Replicas {
    fn default() -> Self {
        Replicas([NonZeroU32::MIN; 6])
    }
}

impl Replicas {
    pub fn get(&self, service: Service) -> NonZeroU32 {
        self.0[service as usize]
    }

    pub fn set(&mut self, service: Service, count: NonZeroU32) {
        self.0[service as usize] = count;
    }

    /// Every service with its instance count, in [`Service::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Service, NonZeroU32)> + '_ {
        Service::ALL.iter().map(|s| (*s, self.get(*s)))
    }
}

impl Serialize for Replicas {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(Service::ALL.len()))?;
        for (service, count) in self.iter() {
            map.serialize_entry(service.name(), &count)?;
        }
        map.end()
    }
}

/// `[workload]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    /// Default http.
    pub driver: Driver,
    /// Orders per second over the load phase (`rate`, `schedule` or `ramp` in the file).
    pub schedule: Schedule,
    /// Distinct customers placing orders. Default 1000.
    pub customers: NonZeroU32,
    /// How orders pick SKUs. Default uniform.
    pub key_distribution: KeyDistribution,
    /// Share of payments the fake gateway declines. Default 0.
    pub payment_failure_ratio: Ratio,
    /// Share of orders sent malformed, to exercise poison handling. Default 0.
    pub poison_ratio: Ratio,
}

/// `uniform` or `zipf:S`: how popular the most popular SKUs are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyDistribution {
    Uniform,
    /// Zipf with exponent `S > 0` (finite).
    Zipf(f64),
}

impl fmt::Display for KeyDistribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyDistribution::Uniform => f.write_str("uniform"),
            KeyDistribution::Zipf(s) => write!(f, "zipf:{s}"),
        }
    }
}

impl FromStr for KeyDistribution {
    type Err = String;

    /// Errors are the hint to show.
    fn from_str(text: &str) -> Result<Self, String> {
        if text == "uniform" {
            return Ok(KeyDistribution::Uniform);
        }
        let hint = "write \"uniform\" or \"zipf:S\" with S > 0, e.g. \"zipf:1.1\"".to_owned();
        let exponent = text.strip_prefix("zipf:").ok_or_else(|| hint.clone())?;
        match exponent.parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 => Ok(KeyDistribution::Zipf(s)),
            _ => Err(hint),
        }
    }
}

impl Serialize for KeyDistribution {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A share between 0 and 1 inclusive.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize)]
pub struct Ratio(f64);

impl Ratio {
    pub const ONE: Ratio = Ratio(1.0);
    pub const ZERO: Ratio = Ratio(0.0);

    pub fn new(value: f64) -> Option<Self> {
        (0.0..=1.0).contains(&value).then_some(Ratio(value))
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

/// A pass/fail rule on a metric, e.g. `"latency.e2e.p99" = "< 800ms"`. The expression is
/// the checker's business; here it is kept with its place in the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    pub metric: String,
    pub expression: String,
    /// Where the metric's key is written.
    #[serde(skip)]
    pub metric_at: Location,
    /// Where the expression's value starts (its opening quote).
    #[serde(skip)]
    pub expression_at: Location,
    /// Where the expression's first character is, when the file holds it verbatim.
    #[serde(skip)]
    pub(crate) content_at: Option<Location>,
}

impl Threshold {
    /// The location of byte `offset` inside the expression: exact when the expression
    /// is written without escapes on one line, else the start of the value.
    pub fn location_of(&self, offset: usize) -> Location {
        match &self.content_at {
            Some(Location::File {
                origin,
                line,
                column,
            }) => {
                let prefix = self.expression.get(..offset.min(self.expression.len()));
                let chars = prefix.map_or(0, |p| p.chars().count());
                Location::File {
                    origin: origin.clone(),
                    line: *line,
                    column: column + chars,
                }
            }
            _ => self.expression_at.clone(),
        }
    }
}
