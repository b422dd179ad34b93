//! Reads the typed [`Experiment`] out of the located tree: types, units, enums, ranges and
//! unknown keys, each problem recorded with its place. Rules that relate several fields
//! (fault targets against the system, overlaps) are in `validate.rs`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use super::error::{Diagnostics, Location, suggestion};
use super::fields::{
    Fields, choice, duration, integer, non_negative, nonzero_u32, or_default, ratio, string, table,
    u32_,
};
use super::matrix::Combination;
use super::model::{
    Backend, Brokers, Capacity, Driver, Experiment, ExperimentSpans, Guarantee, KeyDistribution,
    Ratio, RedisPersistence, Replicas, Service, System, Threshold, Workload,
};
use super::parse_fault;
use super::schedule::{Schedule, Step};
use super::tree::{Node, Table, Value, join};
use crate::journal::HistoryFormat;

pub(crate) const DEFAULT_SEED: u64 = 0;
pub(crate) const DEFAULT_WARMUP: Duration = Duration::from_secs(5);
pub(crate) const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const DEFAULT_PARTITIONS: NonZeroU32 = NonZeroU32::new(6).unwrap();
pub(crate) const DEFAULT_SKUS: NonZeroU32 = NonZeroU32::new(50).unwrap();
pub(crate) const DEFAULT_INITIAL_STOCK: u32 = 1000;
pub(crate) const DEFAULT_CUSTOMERS: NonZeroU32 = NonZeroU32::new(1000).unwrap();
pub(crate) const DEFAULT_CAPACITY_START: f64 = 100.0;
pub(crate) const DEFAULT_CAPACITY_MAX: f64 = 20_000.0;
pub(crate) const DEFAULT_CAPACITY_TRIAL: Duration = Duration::from_secs(10);

const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "seed",
    "duration",
    "warmup",
    "drain_timeout",
    "history",
    "system",
    "lab",
    "workload",
    "faults",
    "thresholds",
    "capacity",
    "matrix",
];
const CAPACITY_KEYS: &[&str] = &["start", "max", "trial", "resolution", "max_trials", "slo"];
const SYSTEM_KEYS: &[&str] = &[
    "backend",
    "guarantee",
    "brokers",
    "partitions",
    "redis_persistence",
    "replicas",
    "skus",
    "initial_stock",
    "platform",
    "external",
];
const WORKLOAD_KEYS: &[&str] = &[
    "driver",
    "rate",
    "schedule",
    "ramp",
    "customers",
    "key_distribution",
    "payment_failure_ratio",
    "poison_ratio",
];
/// Reads one experiment from a tree that already has its overrides and matrix values.
pub(crate) fn experiment(
    root: &Table,
    origin: &Arc<str>,
    combination: Combination,
    d: &mut Diagnostics,
) -> Option<Experiment> {
    let root_at = Location::Origin(origin.clone());
    let mut f = Fields::new(root, &root_at, String::new());
    let name = f
        .required("name", "e.g. name = \"kafka-broker-kill\"", d)
        .and_then(|n| experiment_name(n, d));
    let description = match f.get("description") {
        Some(n) => string(n, "description", d).map(|s| Some(s.to_owned())),
        None => Some(None),
    };
    let seed = or_default(f.get("seed"), DEFAULT_SEED, |n| integer(n, "seed", 0, d));
    let duration_node = f.required("duration", "the load phase, e.g. duration = \"60s\"", d);
    let load = duration_node.and_then(|n| load_duration(n, d));
    let warmup = or_default(f.get("warmup"), DEFAULT_WARMUP, |n| {
        duration(n, "warmup", d)
    });
    let drain = or_default(f.get("drain_timeout"), DEFAULT_DRAIN_TIMEOUT, |n| {
        duration(n, "drain_timeout", d)
    });
    let history = or_default(f.get("history"), HistoryFormat::default(), |n| {
        choice(
            n,
            "history",
            "history format",
            HistoryFormat::NAMES,
            HistoryFormat::from_name,
            d,
        )
    });
    let system = f
        .required(
            "system",
            "add [system] with backend = \"redis\" or \"kafka\"",
            d,
        )
        .and_then(|n| system(n, d));
    let lab = super::parse_external::lab(f.get("lab"), origin, d);
    let workload = f
        .required("workload", "add [workload] with rate = 100 (orders/s)", d)
        .and_then(|n| workload(n, load.unwrap_or_default(), d));
    let faults = or_default(f.get("faults"), Vec::new(), |n| parse_fault::faults(n, d));
    let thresholds = or_default(f.get("thresholds"), Vec::new(), |n| thresholds(n, d));
    let capacity = or_default(f.get("capacity"), None, |n| capacity(n, d).map(Some));
    f.get("matrix"); // read by matrix.rs
    let belongs_elsewhere = |key: &str| {
        [("system", SYSTEM_KEYS), ("workload", WORKLOAD_KEYS)]
            .into_iter()
            .find(|(_, keys)| keys.contains(&key))
            .map(|(table, _)| format!("`{key}` belongs in [{table}]: {table}.{key}"))
    };
    f.finish_with(TOP_KEYS, belongs_elsewhere, d);

    let name = name?;
    let (workload, schedule_at) = workload?;
    let (system, platform_at) = system?;
    Some(Experiment {
        name: match combination.is_empty() {
            true => name.clone(),
            false => format!("{name}[{combination}]"),
        },
        base_name: name,
        description: description?,
        origin: origin.to_string(),
        seed: seed?,
        duration: load?,
        warmup: warmup?,
        drain_timeout: drain?,
        history: history?,
        system,
        lab: lab?,
        workload,
        faults: faults?,
        thresholds: thresholds?,
        capacity: capacity?,
        combination,
        skipped: Arc::from(Vec::new()),
        shard: None,
        run_id: None,
        spans: ExperimentSpans {
            duration: duration_node?.at.clone(),
            schedule: schedule_at,
            platform: platform_at,
        },
    })
}

fn experiment_name(node: &Node, d: &mut Diagnostics) -> Option<String> {
    let name = string(node, "name", d)?;
    let safe = !name.is_empty()
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !safe {
        let message = format!("`{name}` cannot be used as a directory name under runs/");
        let hint = "use letters, digits, `-`, `_` and `.`, e.g. \"kafka-broker-kill\"";
        d.error(&node.at, "name", message, hint.to_owned());
        return None;
    }
    Some(name.to_owned())
}

fn load_duration(node: &Node, d: &mut Diagnostics) -> Option<Duration> {
    let value = duration(node, "duration", d)?;
    if value.is_zero() {
        let hint = "e.g. duration = \"60s\"".to_owned();
        d.error(&node.at, "duration", "the load phase cannot be empty", hint);
        return None;
    }
    Some(value)
}

/// `[system]`, and where its platform was chosen.
fn system(node: &Node, d: &mut Diagnostics) -> Option<(System, Location)> {
    let table = table(node, "system", "write it as [system]", d)?;
    let mut f = Fields::new(table, &node.at, "system".into());
    let backend = f
        .required("backend", "backend = \"redis\" or \"kafka\"", d)
        .and_then(|n| backend(n, "system.backend", d));
    let guarantee = or_default(f.get("guarantee"), Guarantee::AtLeastOnce, |n| {
        guarantee(n, "system.guarantee", d)
    });
    let brokers = or_default(f.get("brokers"), Brokers::One, |n| {
        brokers(n, "system.brokers", d)
    });
    let partitions = or_default(f.get("partitions"), DEFAULT_PARTITIONS, |n| {
        nonzero_u32(n, "system.partitions", d)
    });
    let persistence = or_default(f.get("redis_persistence"), RedisPersistence::None, |n| {
        let names = RedisPersistence::NAMES;
        choice(
            n,
            "system.redis_persistence",
            "persistence",
            names,
            RedisPersistence::from_name,
            d,
        )
    });
    let replicas = or_default(f.get("replicas"), Replicas::default(), |n| replicas(n, d));
    let skus = or_default(f.get("skus"), DEFAULT_SKUS, |n| {
        nonzero_u32(n, "system.skus", d)
    });
    let initial_stock = or_default(f.get("initial_stock"), DEFAULT_INITIAL_STOCK, |n| {
        u32_(n, "system.initial_stock", d)
    });
    let platform = super::parse_external::platform(&mut f, &node.at, d);
    f.finish(SYSTEM_KEYS, d);
    let (platform, platform_at) = platform?;
    let system = System {
        backend: backend?,
        guarantee: guarantee?,
        brokers: brokers?,
        partitions: partitions?,
        redis_persistence: persistence?,
        replicas: replicas?,
        skus: skus?,
        initial_stock: initial_stock?,
        platform,
    };
    Some((system, platform_at))
}

pub(crate) fn backend(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Backend> {
    choice(node, path, "backend", Backend::NAMES, Backend::from_name, d)
}

pub(crate) fn guarantee(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Guarantee> {
    choice(
        node,
        path,
        "guarantee",
        Guarantee::NAMES,
        Guarantee::from_name,
        d,
    )
}

pub(crate) fn driver(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Driver> {
    choice(node, path, "driver", Driver::NAMES, Driver::from_name, d)
}

pub(crate) fn brokers(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Brokers> {
    let found = match node.value {
        Value::Integer(i) => Brokers::from_count(i),
        _ => None,
    };
    if found.is_none() {
        let message = format!("brokers must be 1 or 3, found {}", node.render());
        let hint = "1 broker, or a 3-node cluster (replication 3, min ISR 2)".to_owned();
        d.error(&node.at, path, message, hint);
    }
    found
}

pub(crate) fn partitions(node: &Node, path: &str, d: &mut Diagnostics) -> Option<NonZeroU32> {
    nonzero_u32(node, path, d)
}

fn replicas(node: &Node, d: &mut Diagnostics) -> Option<Replicas> {
    let hint = "e.g. replicas = { inventory = 2, payment = 2 }";
    let table = table(node, "system.replicas", hint, d)?;
    let mut replicas = Replicas::default();
    let mut ok = true;
    for entry in &table.entries {
        let path = join("system.replicas", &entry.key);
        let Some(service) = Service::from_name(&entry.key) else {
            let message = format!("unknown service `{}`", entry.key);
            let hint = suggestion(&entry.key, Service::NAMES, "services");
            d.error(&entry.key_at, &path, message, hint);
            ok = false;
            continue;
        };
        match nonzero_u32(&entry.value, &path, d) {
            Some(count) => replicas.set(service, count),
            None => ok = false,
        }
    }
    ok.then_some(replicas)
}

/// The workload, and where its rate was written.
fn workload(node: &Node, load: Duration, d: &mut Diagnostics) -> Option<(Workload, Location)> {
    let table = table(node, "workload", "write it as [workload]", d)?;
    let mut f = Fields::new(table, &node.at, "workload".into());
    let driver = or_default(f.get("driver"), Driver::Http, |n| {
        driver(n, "workload.driver", d)
    });
    let rate = f.get("rate").map(|n| ("rate", n));
    let steps = f.get("schedule").map(|n| ("schedule", n));
    let ramp = f.get("ramp").map(|n| ("ramp", n));
    let given: Vec<(&str, &Node)> = [rate, steps, ramp].into_iter().flatten().collect();
    let schedule = match given.as_slice() {
        [] => {
            let hint = "rate = 100 (orders/s), schedule = [{ for = \"10s\", rate = 100 }, ...] \
                        or ramp = { from = 50, to = 400 }";
            let message = "missing the load: one of `rate`, `schedule` or `ramp`";
            d.error(&node.at, "workload.rate", message, hint.to_owned());
            None
        }
        [(key, value)] => {
            let at = f.entry(key).map_or(node.at.clone(), |e| e.key_at.clone());
            schedule(key, value, load, d).map(|s| (s, at))
        }
        [(first, _), (second, value), ..] => {
            let message = format!(
                "give only one of `rate`, `schedule` and `ramp`; found `{first}` and `{second}`"
            );
            let hint = "a schedule or ramp replaces the constant rate".to_owned();
            d.error(&value.at, &join("workload", second), message, hint);
            None
        }
    };
    let customers = or_default(f.get("customers"), DEFAULT_CUSTOMERS, |n| {
        nonzero_u32(n, "workload.customers", d)
    });
    let keys = or_default(f.get("key_distribution"), KeyDistribution::Uniform, |n| {
        let path = "workload.key_distribution";
        let text = string(n, path, d)?;
        text.parse()
            .map_err(|hint| d.error(&n.at, path, format!("bad key distribution `{text}`"), hint))
            .ok()
    });
    let failures = or_default(f.get("payment_failure_ratio"), Ratio::ZERO, |n| {
        ratio(n, "workload.payment_failure_ratio", d)
    });
    let poison = or_default(f.get("poison_ratio"), Ratio::ZERO, |n| {
        ratio(n, "workload.poison_ratio", d)
    });
    f.finish(WORKLOAD_KEYS, d);
    let (schedule, at) = schedule?;
    let workload = Workload {
        driver: driver?,
        schedule,
        customers: customers?,
        key_distribution: keys?,
        payment_failure_ratio: failures?,
        poison_ratio: poison?,
    };
    Some((workload, at))
}

/// `rate = R` must be positive.
pub(crate) fn constant_rate(node: &Node, path: &str, d: &mut Diagnostics) -> Option<f64> {
    let rate = non_negative(node, path, d)?;
    if rate == 0.0 {
        let hint = "orders per second, e.g. rate = 100; a schedule step may be 0".to_owned();
        d.error(&node.at, path, "rate must be above 0", hint);
        return None;
    }
    Some(rate)
}

fn schedule(key: &str, node: &Node, load: Duration, d: &mut Diagnostics) -> Option<Schedule> {
    let path = join("workload", key);
    match key {
        "rate" => constant_rate(node, &path, d).map(Schedule::Constant),
        "ramp" => {
            let table = table(node, &path, "ramp = { from = 50, to = 400 }", d)?;
            let mut f = Fields::new(table, &node.at, path.clone());
            let hint = "ramp = { from = 50, to = 400 } (orders/s, linear over `duration`)";
            let from = f
                .required("from", hint, d)
                .and_then(|n| non_negative(n, &f.path("from"), d));
            let to = f
                .required("to", hint, d)
                .and_then(|n| non_negative(n, &f.path("to"), d));
            f.finish(&["from", "to"], d);
            let (from, to) = (from?, to?);
            if from == 0.0 && to == 0.0 {
                d.error(&node.at, &path, "the ramp sends no orders", hint.to_owned());
                return None;
            }
            Some(Schedule::Ramp {
                from,
                to,
                over: load,
            })
        }
        _ => {
            let hint = "schedule = [{ for = \"10s\", rate = 100 }, { for = \"20s\", rate = 300 }]";
            let items = match &node.value {
                Value::Array(items) if !items.is_empty() => items,
                _ => {
                    let message =
                        format!("expected a non-empty array of steps, found {}", node.kind());
                    d.error(&node.at, &path, message, hint.to_owned());
                    return None;
                }
            };
            let mut steps = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let step_path = format!("{path}[{i}]");
                let Some(table) = table(item, &step_path, hint, d) else {
                    continue;
                };
                let mut f = Fields::new(table, &item.at, step_path);
                let lasting = f
                    .required("for", hint, d)
                    .and_then(|n| duration(n, &f.path("for"), d));
                let rate = f
                    .required("rate", hint, d)
                    .and_then(|n| non_negative(n, &f.path("rate"), d));
                f.finish(&["for", "rate"], d);
                if let (Some(lasting), Some(rate)) = (lasting, rate) {
                    steps.push(Step { lasting, rate });
                }
            }
            if steps.len() != items.len() {
                return None;
            }
            if steps.iter().all(|s| s.rate == 0.0 || s.lasting.is_zero()) {
                d.error(
                    &node.at,
                    &path,
                    "the schedule sends no orders",
                    hint.to_owned(),
                );
                return None;
            }
            Some(Schedule::Steps(steps))
        }
    }
}

fn thresholds(node: &Node, d: &mut Diagnostics) -> Option<Vec<Threshold>> {
    threshold_table(node, "thresholds", d)
}

fn threshold_table(node: &Node, root: &str, d: &mut Diagnostics) -> Option<Vec<Threshold>> {
    let table = table(node, root, &format!("write it as [{root}]"), d)?;
    let mut thresholds = Vec::new();
    let before = d.list.len();
    collect_thresholds(table, root, "", None, &mut thresholds, d);
    (d.list.len() == before).then_some(thresholds)
}

/// `[capacity]`: how `harness capacity` searches for the highest sustainable rate.
fn capacity(node: &Node, d: &mut Diagnostics) -> Option<Capacity> {
    let at = node.at.clone();
    let table = table(node, "capacity", "write it as [capacity]", d)?;
    let mut f = Fields::new(table, &at, "capacity".into());
    let rate = |n: &Node, path: &str, d: &mut Diagnostics| {
        let value = non_negative(n, path, d)?;
        if value < 1.0 {
            d.error(&n.at, path, "must be at least 1 order/s".to_owned(), None);
            return None;
        }
        Some(value)
    };
    let start = or_default(f.get("start"), DEFAULT_CAPACITY_START, |n| {
        rate(n, "capacity.start", d)
    });
    let max = or_default(f.get("max"), DEFAULT_CAPACITY_MAX, |n| {
        rate(n, "capacity.max", d)
    });
    let trial = or_default(f.get("trial"), DEFAULT_CAPACITY_TRIAL, |n| {
        duration(n, "capacity.trial", d)
    });
    let resolution = or_default(f.get("resolution"), 0.1, |n| {
        let value = non_negative(n, "capacity.resolution", d)?;
        if !(0.01..=1.0).contains(&value) {
            let message = format!("must be between 0.01 and 1, found {value}");
            let hint = "0.1 stops when the bracket is within 10 %".to_owned();
            d.error(&n.at, "capacity.resolution", message, hint);
            return None;
        }
        Some(value)
    });
    let max_trials = or_default(f.get("max_trials"), 8, |n| {
        let value = integer(n, "capacity.max_trials", 1, d)?;
        u32::try_from(value.min(100)).ok()
    });
    let slo = or_default(f.get("slo"), Vec::new(), |n| {
        threshold_table(n, "capacity.slo", d)
    });
    f.finish(CAPACITY_KEYS, d);
    let (start, max) = (start?, max?);
    if start > max {
        d.error(
            &at,
            "capacity",
            format!("start ({start}/s) is above max ({max}/s)"),
            None,
        );
        return None;
    }
    Some(Capacity {
        start,
        max,
        trial: trial?,
        resolution: resolution?,
        max_trials: max_trials?,
        slo: slo?,
    })
}

/// Dotted metric names written unquoted (`latency.e2e.p99 = ...`) arrive as nested
/// tables; they are flattened back into one name.
fn collect_thresholds(
    table: &Table,
    root: &str,
    prefix: &str,
    prefix_at: Option<&Location>,
    out: &mut Vec<Threshold>,
    d: &mut Diagnostics,
) {
    for entry in &table.entries {
        let metric = match prefix {
            "" => entry.key.clone(),
            _ => format!("{prefix}.{}", entry.key),
        };
        let metric_at = prefix_at.unwrap_or(&entry.key_at);
        let path = join(root, &metric);
        match &entry.value.value {
            Value::Table(inner) => {
                collect_thresholds(inner, root, &metric, Some(metric_at), out, d)
            }
            Value::String(expression) if !expression.trim().is_empty() => out.push(Threshold {
                metric,
                expression: expression.clone(),
                metric_at: metric_at.clone(),
                expression_at: entry.value.at.clone(),
                content_at: entry.value.content_at.clone(),
            }),
            _ => {
                let message = format!(
                    "a threshold is a quoted expression, found {}",
                    entry.value.kind()
                );
                let hint = "e.g. \"latency.e2e.p99\" = \"< 800ms\", lost = \"== 0\"".to_owned();
                d.error(&entry.value.at, &path, message, hint);
            }
        }
    }
}
