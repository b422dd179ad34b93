//! `[matrix]`: one run per combination of the listed values (cartesian product, the
//! first key outermost, values in file order).
//!
//! Besides system and workload keys, a matrix may vary a fault of `[[faults]]`:
//! `faults.N.kind`, `faults.N.target` and `faults.N.at` set one field of fault N;
//! `faults.N` takes inline tables, each laid over fault N (a table with a `kind`
//! replaces the fault's kind and all its parameters). When a kind is varied, parameters
//! of fault N that the chosen kind does not take are left out for that combination. A
//! combination whose varied fault cannot act on its target in that system (a network
//! fault on a service instance, `redis` on Kafka, `kafka-3` with one broker) is not an
//! error but skipped, with the reason (see [`Skipped`]).

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::error::{Diagnostics, Location, suggestion};
use super::fault::Target;
pub(crate) use super::matrix_fault::apply;
use super::matrix_fault::{fault_key, fault_value};
use super::model::{Backend, Brokers, Driver, Guarantee};
use super::parse;
use super::tree::{Node, Table, Value, join};

/// One matrix value chosen for a run.
#[derive(Debug, Clone, PartialEq)]
pub enum MatrixSetting {
    Guarantee(Guarantee),
    Backend(Backend),
    Brokers(Brokers),
    Partitions(NonZeroU32),
    WorkloadRate(f64),
    WorkloadDriver(Driver),
    /// `faults.N.kind`.
    FaultKind {
        index: usize,
        kind: &'static str,
    },
    /// `faults.N.target`.
    FaultTarget {
        index: usize,
        target: Target,
    },
    /// `faults.N.at`.
    FaultAt {
        index: usize,
        at: Duration,
    },
    /// `faults.N = [{ kind = "latency", latency = "300ms" }, ...]`: `label` is how the
    /// table shows in run names (`latency`, or `latency(latency=300ms)` when the axis
    /// lists one kind more than once).
    Fault {
        index: usize,
        label: String,
    },
}

/// A combination of the matrix that is not run, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    /// `sweep[backend=kafka,faults.0.target=redis]`.
    pub name: String,
    pub combination: Combination,
    pub reason: String,
}

/// The keys a matrix may vary, with the fields they set. `system.` may be spelled out.
const KEYS: &[(&str, [&str; 2])] = &[
    ("guarantee", ["system", "guarantee"]),
    ("backend", ["system", "backend"]),
    ("brokers", ["system", "brokers"]),
    ("partitions", ["system", "partitions"]),
    ("workload.rate", ["workload", "rate"]),
    ("workload.driver", ["workload", "driver"]),
];

impl MatrixSetting {
    /// The matrix key, as used in run names: `guarantee`, `workload.rate`,
    /// `faults.0.kind`, ...
    pub fn key(&self) -> String {
        match self {
            MatrixSetting::Guarantee(_) => "guarantee".into(),
            MatrixSetting::Backend(_) => "backend".into(),
            MatrixSetting::Brokers(_) => "brokers".into(),
            MatrixSetting::Partitions(_) => "partitions".into(),
            MatrixSetting::WorkloadRate(_) => "workload.rate".into(),
            MatrixSetting::WorkloadDriver(_) => "workload.driver".into(),
            MatrixSetting::FaultKind { index, .. } => format!("faults.{index}.kind"),
            MatrixSetting::FaultTarget { index, .. } => format!("faults.{index}.target"),
            MatrixSetting::FaultAt { index, .. } => format!("faults.{index}.at"),
            MatrixSetting::Fault { index, .. } => format!("faults.{index}"),
        }
    }

    pub fn value(&self) -> String {
        match self {
            MatrixSetting::Guarantee(g) => g.to_string(),
            MatrixSetting::Backend(b) => b.to_string(),
            MatrixSetting::Brokers(b) => b.count().to_string(),
            MatrixSetting::Partitions(p) => p.to_string(),
            MatrixSetting::WorkloadRate(r) => r.to_string(),
            MatrixSetting::WorkloadDriver(d) => d.to_string(),
            MatrixSetting::FaultKind { kind, .. } => (*kind).to_owned(),
            MatrixSetting::FaultTarget { target, .. } => target.to_string(),
            MatrixSetting::FaultAt { at, .. } => super::duration::format(*at),
            MatrixSetting::Fault { label, .. } => label.clone(),
        }
    }

    /// The fault this setting varies, if it is a fault axis.
    pub fn fault_index(&self) -> Option<usize> {
        match self {
            MatrixSetting::FaultKind { index, .. }
            | MatrixSetting::FaultTarget { index, .. }
            | MatrixSetting::FaultAt { index, .. }
            | MatrixSetting::Fault { index, .. } => Some(*index),
            _ => None,
        }
    }
}

/// The matrix values of one run, in the matrix's key order; empty without a matrix.
/// Displays as `guarantee=exactly-once,brokers=3`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Combination(pub Vec<MatrixSetting>);

impl Combination {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Combination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, setting) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}={}", setting.key(), setting.value())?;
        }
        Ok(())
    }
}

impl Serialize for Combination {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for setting in &self.0 {
            let key = setting.key();
            match setting {
                MatrixSetting::Guarantee(g) => map.serialize_entry(&key, g)?,
                MatrixSetting::Backend(b) => map.serialize_entry(&key, b)?,
                MatrixSetting::Brokers(b) => map.serialize_entry(&key, b)?,
                MatrixSetting::Partitions(p) => map.serialize_entry(&key, p)?,
                MatrixSetting::WorkloadRate(r) => map.serialize_entry(&key, r)?,
                MatrixSetting::WorkloadDriver(d) => map.serialize_entry(&key, d)?,
                _ => map.serialize_entry(&key, &setting.value())?,
            }
        }
        map.end()
    }
}

/// One varied key: the field it sets, and its values with their place in the file.
#[derive(Debug, Clone)]
pub(crate) struct Axis {
    pub(crate) path: Vec<String>,
    pub(crate) values: Vec<(MatrixSetting, Node)>,
}

/// Reads `[matrix]`. An axis whose field is also set by an override is dropped: the
/// override pins that value for every run.
pub(crate) fn axes(root: &Table, overridden: &[Vec<String>], d: &mut Diagnostics) -> Vec<Axis> {
    let Some(node) = root.get("matrix") else {
        return Vec::new();
    };
    let Value::Table(table) = &node.value else {
        let message = format!("expected a table, found {}", node.kind());
        let hint = "[matrix] with keys such as guarantee = [\"at-least-once\", \"exactly-once\"]";
        d.error(&node.at, "matrix", message, hint.to_owned());
        return Vec::new();
    };
    let mut leaves = Vec::new();
    flatten(table, "", None, &mut leaves);
    let mut axes: Vec<Axis> = Vec::new();
    for (name, key_at, values) in leaves {
        let path = join("matrix", &name);
        let short = name.strip_prefix("system.").unwrap_or(&name);
        let (key, field): (String, Vec<String>) =
            if let Some(fault) = fault_key(root, short, key_at, &path, d) {
                match fault {
                    Some(field) => (short.to_owned(), field),
                    None => continue,
                }
            } else if let Some((key, field)) = KEYS.iter().find(|(k, _)| *k == short) {
                (
                    (*key).to_owned(),
                    field.iter().map(|f| (*f).to_owned()).collect(),
                )
            } else {
                let mut names: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
                names.extend([
                    "faults.0.kind",
                    "faults.0.target",
                    "faults.0.at",
                    "faults.0",
                ]);
                let hint = suggestion(&name, &names, "matrix keys");
                d.error(
                    key_at,
                    &path,
                    format!("`{name}` cannot be varied by the matrix"),
                    hint,
                );
                continue;
            };
        // A fault's tables and its kind both set the kind.
        let kind_of = |p: &[String]| match p {
            [f, n] | [f, n, _] if f == "faults" && (p.len() == 2 || p[2] == "kind") => {
                Some(n.clone())
            }
            _ => None,
        };
        let clash = axes.iter().find(|a| {
            a.path == field || (kind_of(&a.path).is_some() && kind_of(&a.path) == kind_of(&field))
        });
        if let Some(other) = clash {
            let message = match other.path == field {
                true => format!("`{key}` is varied twice"),
                false => format!("`{key}` and `{}` vary the same fault", other.path.join(".")),
            };
            let hint = match other.path == field {
                true => "list all its values once".to_owned(),
                false => "vary the kind in one place: in the fault tables, or as faults.N.kind"
                    .to_owned(),
            };
            d.error(key_at, &path, message, hint);
            continue;
        }
        if overridden.contains(&field) {
            continue;
        }
        if key == "workload.rate" {
            let workload = root.get("workload").and_then(|w| match &w.value {
                Value::Table(t) => Some(t),
                _ => None,
            });
            if let Some(other) = ["schedule", "ramp"]
                .into_iter()
                .find(|k| workload.is_some_and(|w| w.get(k).is_some()))
            {
                let message =
                    format!("the matrix varies `workload.rate`, but the workload uses `{other}`");
                let hint = "vary the rate of a workload that has a constant `rate`".to_owned();
                d.error(key_at, &path, message, hint);
                continue;
            }
        }
        if let Some(values) = axis_values(&key, &path, values, d) {
            axes.push(Axis {
                path: field,
                values,
            });
        }
    }
    axes
}

/// `workload.rate = [...]` inside `[matrix]` is a nested table; `"workload.rate"` is not.
fn flatten<'t>(
    table: &'t Table,
    prefix: &str,
    prefix_at: Option<&'t Location>,
    out: &mut Vec<(String, &'t Location, &'t Node)>,
) {
    for entry in &table.entries {
        let name = match prefix {
            "" => entry.key.clone(),
            _ => format!("{prefix}.{}", entry.key),
        };
        let at = prefix_at.unwrap_or(&entry.key_at);
        match &entry.value.value {
            Value::Table(inner) => flatten(inner, &name, Some(at), out),
            _ => out.push((name, at, &entry.value)),
        }
    }
}

fn axis_values(
    key: &str,
    path: &str,
    node: &Node,
    d: &mut Diagnostics,
) -> Option<Vec<(MatrixSetting, Node)>> {
    let items = match &node.value {
        Value::Array(items) if !items.is_empty() => items,
        _ => {
            let message = format!(
                "expected a non-empty array of values, found {}",
                node.kind()
            );
            let hint = format!("e.g. {key} = [{}]", example(key));
            d.error(&node.at, path, message, hint);
            return None;
        }
    };
    let mut values: Vec<(MatrixSetting, Node)> = Vec::new();
    let before = d.list.len();
    let fault_index = key
        .strip_prefix("faults.")
        .and_then(|r| r.split('.').next())
        .and_then(|n| n.parse::<usize>().ok());
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let setting = match (fault_index, key) {
            (Some(index), _) => fault_value(key, index, item, items, &item_path, d),
            (None, "guarantee") => {
                parse::guarantee(item, &item_path, d).map(MatrixSetting::Guarantee)
            }
            (None, "backend") => parse::backend(item, &item_path, d).map(MatrixSetting::Backend),
            (None, "brokers") => parse::brokers(item, &item_path, d).map(MatrixSetting::Brokers),
            (None, "partitions") => {
                parse::partitions(item, &item_path, d).map(MatrixSetting::Partitions)
            }
            (None, "workload.rate") => {
                parse::constant_rate(item, &item_path, d).map(MatrixSetting::WorkloadRate)
            }
            _ => parse::driver(item, &item_path, d).map(MatrixSetting::WorkloadDriver),
        };
        let Some(setting) = setting else { continue };
        if values.iter().any(|(s, _)| *s == setting) {
            let message = format!("`{}` is listed twice", setting.value());
            d.error(
                &item.at,
                &item_path,
                message,
                "list each value once".to_owned(),
            );
            continue;
        }
        values.push((setting, item.clone()));
    }
    (d.list.len() == before).then_some(values)
}

fn example(key: &str) -> &'static str {
    if key.starts_with("faults.") {
        return match key.rsplit('.').next() {
            Some("kind") => "\"latency\", \"kill\"",
            Some("target") => "\"redis\", \"inventory#0\"",
            Some("at") => "\"10s\", \"20s\"",
            _ => "{ kind = \"kill\" }, { kind = \"pause\", for = \"5s\" }",
        };
    }
    match key {
        "guarantee" => "\"at-least-once\", \"exactly-once\"",
        "backend" => "\"redis\", \"kafka\"",
        "brokers" => "1, 3",
        "partitions" => "3, 6",
        "workload.rate" => "100, 300",
        _ => "\"http\", \"direct\"",
    }
}

/// Every combination as one value index per axis; the last axis varies fastest. No
/// axes: one empty combination.
pub(crate) fn combinations(axes: &[Axis]) -> Vec<Vec<usize>> {
    let mut all = vec![Vec::new()];
    for axis in axes {
        all = all
            .into_iter()
            .flat_map(|prefix| {
                (0..axis.values.len()).map(move |i| {
                    let mut combination = prefix.clone();
                    combination.push(i);
                    combination
                })
            })
            .collect();
    }
    all
}
