//! The fault axes of `[matrix]` (see [`super::matrix`]): which `faults.N...` keys may
//! vary, reading their values, and laying a value over fault N of a combination's tree.

use super::error::{Diagnostics, Location, suggestion};
use super::fault::{FAULT_KINDS, Target};
use super::fields::duration;
use super::matrix::{Axis, MatrixSetting};
use super::tree::{Node, Table, Value};

/// For a key of the shape `faults.N[.field]`: `Some(Some(path))` when fault N exists
/// and the field may vary, `Some(None)` when it was reported as an error, `None` when
/// the key is not a fault key.
pub(super) fn fault_key(
    root: &Table,
    key: &str,
    key_at: &Location,
    path: &str,
    d: &mut Diagnostics,
) -> Option<Option<Vec<String>>> {
    let rest = key.strip_prefix("faults.")?;
    let (index, field) = match rest.split_once('.') {
        Some((index, field)) => (index, Some(field)),
        None => (rest, None),
    };
    let count = match root.get("faults").map(|n| &n.value) {
        Some(Value::Array(items)) => items.len(),
        _ => 0,
    };
    let Ok(n) = index.parse::<usize>() else {
        let hint = "faults are numbered from 0 in file order: faults.0.kind".to_owned();
        d.error(
            key_at,
            path,
            format!("`{index}` is not a fault number"),
            hint,
        );
        return Some(None);
    };
    if n >= count {
        let message = format!(
            "the matrix varies fault {n}, but the file has {count} [[faults]] (numbered from 0)"
        );
        let hint = "write the fault as a [[faults]] table; the matrix varies its fields".to_owned();
        d.error(key_at, path, message, hint);
        return Some(None);
    }
    match field {
        None => Some(Some(vec!["faults".into(), n.to_string()])),
        Some(f @ ("kind" | "target" | "at")) => {
            Some(Some(vec!["faults".into(), n.to_string(), f.to_owned()]))
        }
        Some(other) => {
            let message = format!("`{other}` of a fault cannot be varied by the matrix");
            let hint = format!(
                "vary faults.{n}.kind, faults.{n}.target or faults.{n}.at, or list whole fault tables as faults.{n} = [{{ kind = \"latency\", latency = \"300ms\" }}, ...]"
            );
            d.error(key_at, path, message, hint);
            Some(None)
        }
    }
}

/// One value of a fault axis.
pub(super) fn fault_value(
    key: &str,
    index: usize,
    item: &Node,
    items: &[Node],
    path: &str,
    d: &mut Diagnostics,
) -> Option<MatrixSetting> {
    let string = |item: &Node, d: &mut Diagnostics| match &item.value {
        Value::String(s) => Some(s.clone()),
        _ => {
            let message = format!("expected a string, found {}", item.kind());
            d.error(&item.at, path, message, None);
            None
        }
    };
    let kind_name = |text: &str, at: &Location, d: &mut Diagnostics| {
        let found = FAULT_KINDS.iter().find(|k| **k == text).copied();
        if found.is_none() {
            let hint = suggestion(text, FAULT_KINDS, "fault kinds");
            d.error(at, path, format!("unknown fault kind `{text}`"), hint);
        }
        found
    };
    match key.rsplit('.').next() {
        Some("kind") => {
            let text = string(item, d)?;
            let kind = kind_name(&text, &item.at, d)?;
            Some(MatrixSetting::FaultKind { index, kind })
        }
        Some("target") => {
            let text = string(item, d)?;
            match text.parse::<Target>() {
                Ok(target) => Some(MatrixSetting::FaultTarget { index, target }),
                Err(e) => {
                    d.error(&item.at, path, e.message, e.hint);
                    None
                }
            }
        }
        Some("at") => duration(item, path, d).map(|at| MatrixSetting::FaultAt { index, at }),
        _ => {
            let Value::Table(table) = &item.value else {
                let message = format!("expected a fault table, found {}", item.kind());
                let hint = "e.g. { kind = \"latency\", latency = \"300ms\" }".to_owned();
                d.error(&item.at, path, message, hint);
                return None;
            };
            let kind = match table.get("kind") {
                Some(node) => {
                    let text = string(node, d)?;
                    Some(kind_name(&text, &node.at, d)?)
                }
                None => None,
            };
            let label = fault_label(kind, table, items);
            Some(MatrixSetting::Fault { index, label })
        }
    }
}

/// A fault table's name in run names: its kind, with its other fields when another
/// table of the axis has the same kind (or the table has no kind).
fn fault_label(kind: Option<&str>, table: &Table, items: &[Node]) -> String {
    let kind_of = |n: &Node| match &n.value {
        Value::Table(t) => t.get("kind").map(Node::render),
        _ => None,
    };
    let same = items
        .iter()
        .filter(|n| kind_of(n).as_deref() == kind)
        .count();
    let fields: Vec<String> = table
        .entries
        .iter()
        .filter(|e| e.key != "kind")
        .map(|e| format!("{}={}", e.key, e.value.render()))
        .collect();
    match kind {
        Some(kind) if same == 1 || fields.is_empty() => kind.to_owned(),
        Some(kind) => format!("{kind}({})", fields.join(",")),
        None => fields.join(","),
    }
}

/// Lays matrix value `node` of `axis` over `root` (one combination's tree).
pub(crate) fn apply(root: &mut Table, axis: &Axis, setting: &MatrixSetting, node: &Node) {
    match (setting, fault_table(root, setting.fault_index())) {
        (MatrixSetting::Fault { .. }, Some(fault)) => {
            let Value::Table(over) = &node.value else {
                return;
            };
            if over.get("kind").is_some() {
                fault
                    .entries
                    .retain(|e| matches!(e.key.as_str(), "at" | "target"));
            }
            for entry in &over.entries {
                let path = [entry.key.clone()];
                let _ = super::tree::set(fault, &path, entry.value.clone(), &entry.key_at, true);
            }
        }
        (MatrixSetting::FaultKind { kind, .. }, Some(fault)) => {
            let keys = super::parse_fault::kind_keys(kind);
            fault.entries.retain(|e| {
                super::parse_fault::FAULT_COMMON_KEYS.contains(&e.key.as_str())
                    || keys.contains(&e.key.as_str())
                    || !super::parse_fault::FAULT_PARAMETER_KEYS.contains(&e.key.as_str())
            });
            let _ = super::tree::set(fault, &axis.path[2..], node.clone(), &node.at, true);
        }
        (_, Some(fault)) => {
            let _ = super::tree::set(fault, &axis.path[2..], node.clone(), &node.at, true);
        }
        // Cannot fail: the matrix only sets keys of tables that exist.
        (_, None) => {
            let _ = super::tree::set(root, &axis.path, node.clone(), &node.at, false);
        }
    }
}

/// Fault `index`'s table in `root`, for a fault axis.
fn fault_table(root: &mut Table, index: Option<usize>) -> Option<&mut Table> {
    let index = index?;
    let entry = root.entries.iter_mut().find(|e| e.key == "faults")?;
    let Value::Array(items) = &mut entry.value.value else {
        return None;
    };
    match &mut items.get_mut(index)?.value {
        Value::Table(table) => Some(table),
        _ => None,
    }
}
