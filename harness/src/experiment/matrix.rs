//! `[matrix]`: one run per combination of the listed values (cartesian product, the
//! first key outermost, values in file order).

use std::fmt;
use std::num::NonZeroU32;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::error::{Diagnostics, Location, suggestion};
use super::model::{Backend, Brokers, Driver, Guarantee};
use super::parse;
use super::tree::{Node, Table, Value, join};

/// One matrix value chosen for a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MatrixSetting {
    Guarantee(Guarantee),
    Backend(Backend),
    Brokers(Brokers),
    Partitions(NonZeroU32),
    WorkloadRate(f64),
    WorkloadDriver(Driver),
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
    /// The matrix key, as used in run names: `guarantee`, `workload.rate`, ...
    pub fn key(&self) -> &'static str {
        match self {
            MatrixSetting::Guarantee(_) => "guarantee",
            MatrixSetting::Backend(_) => "backend",
            MatrixSetting::Brokers(_) => "brokers",
            MatrixSetting::Partitions(_) => "partitions",
            MatrixSetting::WorkloadRate(_) => "workload.rate",
            MatrixSetting::WorkloadDriver(_) => "workload.driver",
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
            match setting {
                MatrixSetting::Guarantee(g) => map.serialize_entry(setting.key(), g)?,
                MatrixSetting::Backend(b) => map.serialize_entry(setting.key(), b)?,
                MatrixSetting::Brokers(b) => map.serialize_entry(setting.key(), b)?,
                MatrixSetting::Partitions(p) => map.serialize_entry(setting.key(), p)?,
                MatrixSetting::WorkloadRate(r) => map.serialize_entry(setting.key(), r)?,
                MatrixSetting::WorkloadDriver(d) => map.serialize_entry(setting.key(), d)?,
            }
        }
        map.end()
    }
}

/// One varied key: the field it sets, and its values with their place in the file.
#[derive(Debug, Clone)]
pub(crate) struct Axis {
    pub(crate) path: [&'static str; 2],
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
        let Some((key, field)) = KEYS.iter().find(|(k, _)| *k == short) else {
            let names: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
            let hint = suggestion(&name, &names, "matrix keys");
            d.error(
                key_at,
                &path,
                format!("`{name}` cannot be varied by the matrix"),
                hint,
            );
            continue;
        };
        if axes.iter().any(|a| a.path == *field) {
            let message = format!("`{key}` is varied twice");
            d.error(
                key_at,
                &path,
                message,
                "list all its values once".to_owned(),
            );
            continue;
        }
        if overridden.iter().any(|o| o == field) {
            continue;
        }
        if *key == "workload.rate" {
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
        if let Some(values) = axis_values(key, &path, values, d) {
            axes.push(Axis {
                path: *field,
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
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let setting = match key {
            "guarantee" => parse::guarantee(item, &item_path, d).map(MatrixSetting::Guarantee),
            "backend" => parse::backend(item, &item_path, d).map(MatrixSetting::Backend),
            "brokers" => parse::brokers(item, &item_path, d).map(MatrixSetting::Brokers),
            "partitions" => parse::partitions(item, &item_path, d).map(MatrixSetting::Partitions),
            "workload.rate" => {
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
