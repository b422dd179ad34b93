//! Faults as typed values: what is disturbed ([`Target`]), how ([`FaultKind`], with
//! each kind's parameters) and when.

use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::duration;
use super::error::Location;
use super::model::{Ratio, Service, Stream};

/// What a fault acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// The Redis server (its process, or its proxy for network faults).
    Redis,
    /// Kafka broker `kafka-N`, numbered from 1.
    Broker(u32),
    /// The proxy in front of the payment gateway.
    Gateway,
    /// One instance of a service, `payment#0`; instances are numbered from 0.
    Service { name: Service, instance: u32 },
}

impl Target {
    /// Network faults act on a proxy: Redis's, a broker's, or the payment gateway's.
    pub fn is_proxied(self) -> bool {
        matches!(self, Target::Redis | Target::Broker(_) | Target::Gateway)
    }

    /// Process faults act on a process the harness started.
    pub fn is_process(self) -> bool {
        !matches!(self, Target::Gateway)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Redis => f.write_str("redis"),
            Target::Broker(n) => write!(f, "kafka-{n}"),
            Target::Gateway => f.write_str("gateway"),
            Target::Service { name, instance } => write!(f, "{name}#{instance}"),
        }
    }
}

/// Why a target did not parse: a message and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError {
    pub message: String,
    pub hint: String,
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(text: &str) -> Result<Self, TargetError> {
        let error = |message: String, hint: String| TargetError { message, hint };
        let shapes = "targets are redis, kafka-N, gateway, or a service instance such as payment#0";
        match text {
            "redis" => return Ok(Target::Redis),
            "gateway" => return Ok(Target::Gateway),
            "kafka" => {
                return Err(error(
                    "`kafka` names no single broker".into(),
                    "brokers are kafka-1, kafka-2, kafka-3".into(),
                ));
            }
            _ => {}
        }
        if let Some(number) = text.strip_prefix("kafka-") {
            return match number.parse::<u32>() {
                Ok(0) => Err(error(
                    "there is no broker `kafka-0`".into(),
                    "brokers are numbered from 1: kafka-1".into(),
                )),
                Ok(n) if !number.starts_with(['0', '+']) => Ok(Target::Broker(n)),
                _ => Err(error(
                    format!("unknown fault target `{text}`"),
                    "brokers are kafka-1, kafka-2, kafka-3".into(),
                )),
            };
        }
        let (service, instance) = match text.split_once('#') {
            Some((service, instance)) => (service, Some(instance)),
            None => (text, None),
        };
        let Some(name) = Service::from_name(service) else {
            let candidates = Service::NAMES
                .iter()
                .chain(&["redis", "gateway", "kafka-1"]);
            let hint = match super::error::did_you_mean(service, candidates.copied()) {
                Some(near) if instance.is_some() => {
                    format!("did you mean `{near}#{}`?", instance.unwrap_or("0"))
                }
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("{shapes}; services: {}", Service::NAMES.join(", ")),
            };
            return Err(error(format!("unknown fault target `{text}`"), hint));
        };
        let Some(instance) = instance else {
            return Err(error(
                format!("`{text}` names a service, not one instance of it"),
                format!("write `{text}#0` for its first instance"),
            ));
        };
        match instance.parse::<u32>() {
            Ok(i) if !instance.starts_with('+') => Ok(Target::Service { name, instance: i }),
            _ => Err(error(
                format!("unknown fault target `{text}`"),
                format!("instances are numbered from 0: `{service}#0`"),
            )),
        }
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One fault: what, where, when.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Offset from the start of the load phase.
    pub at: Duration,
    pub target: Target,
    pub kind: FaultKind,
    pub(crate) spans: FaultSpans,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FaultSpans {
    pub(crate) at: Location,
    pub(crate) target: Location,
    pub(crate) kind: Location,
    /// `for`, or `restart_after` for a kill.
    pub(crate) end: Location,
}

impl Fault {
    /// When the fault stops acting, from the start of the load phase; `None` when it
    /// lasts the rest of the run (a kill without restart). Equal to `at` for a restart.
    pub fn end(&self) -> Option<Duration> {
        match self.kind {
            FaultKind::Toxic { lasting, .. }
            | FaultKind::Down { lasting }
            | FaultKind::Pause { lasting } => Some(self.at.saturating_add(lasting)),
            FaultKind::Kill { restart_after } => restart_after.map(|r| self.at.saturating_add(r)),
            FaultKind::Restart => Some(self.at),
        }
    }
}

/// The fault kinds' names in experiment files: the history's list ([`check::FaultKind`]).
pub const FAULT_KINDS: &[&str] = &check::FaultKind::NAMES;

/// What a fault does, with the parameters that kind takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultKind {
    /// A Toxiproxy toxic on the target's proxy for `lasting` (`for` in the file).
    Toxic {
        toxic: Toxic,
        /// Default downstream.
        stream: Stream,
        /// Share of connections affected. Default 1.
        toxicity: Ratio,
        lasting: Duration,
    },
    /// The target's proxy disabled: connections refused and cut.
    Down { lasting: Duration },
    /// SIGKILL; started again after `restart_after` if given, else down for the rest of the run.
    Kill { restart_after: Option<Duration> },
    /// SIGSTOP, then SIGCONT after `lasting`.
    Pause { lasting: Duration },
    /// SIGTERM, then started again.
    Restart,
}

/// Toxiproxy toxics, with their parameters typed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Toxic {
    /// Each chunk of data delayed by `latency` ± `jitter` (Toxiproxy resolves milliseconds).
    Latency { latency: Duration, jitter: Duration },
    /// At most `rate_kbps` KB/s.
    Bandwidth { rate_kbps: NonZeroU64 },
    /// No data passes; the connection is closed after `timeout`, or held until the fault
    /// ends when `None`.
    Timeout { timeout: Option<Duration> },
    /// TCP RST `timeout` after data first passes. Default 0s.
    ResetPeer { timeout: Duration },
    /// Data cut into packets of `average_size` ± `size_variation` bytes, `delay` apart.
    Slicer {
        average_size: NonZeroU64,
        size_variation: u64,
        delay: Duration,
    },
    /// The connection closed after `bytes` bytes.
    LimitData { bytes: u64 },
}

impl FaultKind {
    /// The kind as the history records it (one list of kinds: [`check::FaultKind`]).
    pub fn record_kind(&self) -> check::FaultKind {
        match self {
            FaultKind::Toxic { toxic, .. } => toxic.record_kind(),
            FaultKind::Down { .. } => check::FaultKind::Down,
            FaultKind::Kill { .. } => check::FaultKind::Kill,
            FaultKind::Pause { .. } => check::FaultKind::Pause,
            FaultKind::Restart => check::FaultKind::Restart,
        }
    }

    /// The name used in experiment files (`latency`, `kill`, ...).
    pub fn name(&self) -> &'static str {
        self.record_kind().name()
    }

    /// Network faults act on a proxy; the others on a process.
    pub fn is_network(&self) -> bool {
        matches!(self, FaultKind::Toxic { .. } | FaultKind::Down { .. })
    }
}

impl Toxic {
    /// The kind this toxic is recorded as.
    pub fn record_kind(&self) -> check::FaultKind {
        use check::FaultKind as K;
        match self {
            Toxic::Latency { .. } => K::Latency,
            Toxic::Bandwidth { .. } => K::Bandwidth,
            Toxic::Timeout { .. } => K::Timeout,
            Toxic::ResetPeer { .. } => K::ResetPeer,
            Toxic::Slicer { .. } => K::Slicer,
            Toxic::LimitData { .. } => K::LimitData,
        }
    }

    pub fn name(&self) -> &'static str {
        self.record_kind().name()
    }
}

/// Faults appear in results.json as they are written in the file.
impl Serialize for Fault {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = duration::format;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("at", &d(self.at))?;
        map.serialize_entry("kind", self.kind.name())?;
        map.serialize_entry("target", &self.target)?;
        match self.kind {
            FaultKind::Toxic {
                toxic,
                stream,
                toxicity,
                lasting,
            } => {
                map.serialize_entry("for", &d(lasting))?;
                match toxic {
                    Toxic::Latency { latency, jitter } => {
                        map.serialize_entry("latency", &d(latency))?;
                        map.serialize_entry("jitter", &d(jitter))?;
                    }
                    Toxic::Bandwidth { rate_kbps } => {
                        map.serialize_entry("rate_kbps", &rate_kbps)?
                    }
                    Toxic::Timeout { timeout } => {
                        map.serialize_entry("timeout", &timeout.map(d))?;
                    }
                    Toxic::ResetPeer { timeout } => map.serialize_entry("timeout", &d(timeout))?,
                    Toxic::Slicer {
                        average_size,
                        size_variation,
                        delay,
                    } => {
                        map.serialize_entry("average_size", &average_size)?;
                        map.serialize_entry("size_variation", &size_variation)?;
                        map.serialize_entry("delay", &d(delay))?;
                    }
                    Toxic::LimitData { bytes } => map.serialize_entry("bytes", &bytes)?,
                }
                map.serialize_entry("stream", &stream)?;
                map.serialize_entry("toxicity", &toxicity)?;
            }
            FaultKind::Down { lasting } | FaultKind::Pause { lasting } => {
                map.serialize_entry("for", &d(lasting))?;
            }
            FaultKind::Kill { restart_after } => {
                map.serialize_entry("restart_after", &restart_after.map(d))?;
            }
            FaultKind::Restart => {}
        }
        map.end()
    }
}
