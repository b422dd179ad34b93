//! Reading values out of the located tree: one function per kind of value, each
//! recording a located error and returning `None` when the value does not fit.

use std::num::NonZeroU32;
use std::time::Duration;

use super::duration;
use super::error::{Diagnostics, Location, did_you_mean, suggestion};
use super::model::Ratio;
use super::tree::{Entry, Node, Table, Value, join};

/// A table being read: remembers which keys were used, so the rest can be reported.
pub(crate) struct Fields<'t> {
    table: &'t Table,
    at: &'t Location,
    path: String,
    used: Vec<bool>,
}

impl<'t> Fields<'t> {
    pub(crate) fn new(table: &'t Table, at: &'t Location, path: String) -> Self {
        Fields {
            used: vec![false; table.entries.len()],
            table,
            at,
            path,
        }
    }

    pub(crate) fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    pub(crate) fn get(&mut self, key: &str) -> Option<&'t Node> {
        let index = self.table.entries.iter().position(|e| e.key == key)?;
        self.used[index] = true;
        Some(&self.table.entries[index].value)
    }

    pub(crate) fn entry(&self, key: &str) -> Option<&'t Entry> {
        self.table.entries.iter().find(|e| e.key == key)
    }

    pub(crate) fn required(
        &mut self,
        key: &str,
        hint: &str,
        d: &mut Diagnostics,
    ) -> Option<&'t Node> {
        let node = self.get(key);
        if node.is_none() {
            let message = match self.path.as_str() {
                "" => format!("missing key `{key}`"),
                path => format!("missing key `{key}` in `{path}`"),
            };
            d.error(self.at, &self.path(key), message, hint.to_owned());
        }
        node
    }

    pub(crate) fn unused(&self) -> impl Iterator<Item = &'t Entry> + '_ {
        let table = self.table;
        self.used
            .iter()
            .zip(&table.entries)
            .filter(|(used, _)| !**used)
            .map(|(_, e)| e)
    }

    /// Reports every key that was not read as unknown, suggesting near misses in `known`.
    pub(crate) fn finish(self, known: &[&str], d: &mut Diagnostics) {
        self.finish_with(known, |_| None, d);
    }

    /// [`Fields::finish`], with `elsewhere` giving a better hint for some keys (a key that
    /// belongs in another table).
    pub(crate) fn finish_with(
        self,
        known: &[&str],
        elsewhere: impl Fn(&str) -> Option<String>,
        d: &mut Diagnostics,
    ) {
        for entry in self.unused() {
            let hint =
                elsewhere(&entry.key).unwrap_or_else(|| suggestion(&entry.key, known, "keys here"));
            let message = format!("unknown key `{}`", entry.key);
            d.error(&entry.key_at, &self.path(&entry.key), message, hint);
        }
    }
}

pub(crate) fn table<'n>(
    node: &'n Node,
    path: &str,
    hint: &str,
    d: &mut Diagnostics,
) -> Option<&'n Table> {
    match &node.value {
        Value::Table(t) => Some(t),
        _ => {
            let message = format!("expected a table, found {}", node.kind());
            d.error(&node.at, path, message, hint.to_owned());
            None
        }
    }
}

pub(crate) fn string<'n>(node: &'n Node, path: &str, d: &mut Diagnostics) -> Option<&'n str> {
    match &node.value {
        Value::String(s) => Some(s),
        _ => {
            let message = format!("expected a string, found {}", node.kind());
            let hint = format!("quote it: \"{}\"", node.render());
            d.error(&node.at, path, message, hint);
            None
        }
    }
}

/// An integer of at least `min`.
pub(crate) fn integer(node: &Node, path: &str, min: u64, d: &mut Diagnostics) -> Option<u64> {
    match node.value {
        Value::Integer(i) if i >= 0 && i.unsigned_abs() >= min => Some(i.unsigned_abs()),
        Value::Integer(i) => {
            let message = format!("must be {min} or more, found {i}");
            d.error(&node.at, path, message, None);
            None
        }
        _ => {
            let message = format!("expected an integer, found {}", node.kind());
            d.error(&node.at, path, message, None);
            None
        }
    }
}

pub(crate) fn nonzero_u32(node: &Node, path: &str, d: &mut Diagnostics) -> Option<NonZeroU32> {
    let value = integer(node, path, 1, d)?;
    match u32::try_from(value).ok().and_then(NonZeroU32::new) {
        Some(n) => Some(n),
        None => {
            d.error(&node.at, path, format!("{value} is too large"), None);
            None
        }
    }
}

pub(crate) fn u32_(node: &Node, path: &str, d: &mut Diagnostics) -> Option<u32> {
    let value = integer(node, path, 0, d)?;
    let n = u32::try_from(value).ok();
    if n.is_none() {
        d.error(&node.at, path, format!("{value} is too large"), None);
    }
    n
}

/// A finite number (integer or float) of at least 0.
pub(crate) fn non_negative(node: &Node, path: &str, d: &mut Diagnostics) -> Option<f64> {
    let value = match node.value {
        Value::Integer(i) => i as f64,
        Value::Float(x) => x,
        _ => {
            let message = format!("expected a number, found {}", node.kind());
            d.error(&node.at, path, message, None);
            return None;
        }
    };
    if value.is_finite() && value >= 0.0 {
        Some(value)
    } else {
        let message = format!("must be a number of 0 or more, found {}", node.render());
        d.error(&node.at, path, message, None);
        None
    }
}

pub(crate) fn ratio(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Ratio> {
    let value = non_negative(node, path, d)?;
    let ratio = Ratio::new(value);
    if ratio.is_none() {
        let message = format!("must be between 0 and 1, found {}", node.render());
        d.error(&node.at, path, message, "a share: 0.02 is 2%".to_owned());
    }
    ratio
}

pub(crate) fn duration(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Duration> {
    match &node.value {
        Value::String(text) => match duration::parse(text) {
            Ok(duration) => Some(duration),
            Err(e) => {
                d.error(&node.at, path, format!("bad duration: {e}"), e.hint());
                None
            }
        },
        Value::Integer(_) | Value::Float(_) => {
            let message = format!("a duration needs a unit: `{}`", node.render());
            let hint = format!("write \"{}s\" (units: us, ms, s, m, h)", node.render());
            d.error(&node.at, path, message, hint);
            None
        }
        _ => {
            let message = format!("expected a duration such as \"60s\", found {}", node.kind());
            d.error(&node.at, path, message, None);
            None
        }
    }
}

/// A whole number of `unit`s (Toxiproxy's resolution for that parameter).
pub(crate) fn duration_in(
    node: &Node,
    path: &str,
    unit: Duration,
    unit_name: &str,
    d: &mut Diagnostics,
) -> Option<Duration> {
    let value = duration(node, path, d)?;
    if value.as_nanos() % unit.as_nanos() != 0 {
        let message = format!("Toxiproxy takes this in whole {unit_name}");
        let hint = format!("round `{}` to {unit_name}", node.render());
        d.error(&node.at, path, message, hint);
        return None;
    }
    Some(value)
}

/// One of a fixed set of names.
pub(crate) fn choice<T>(
    node: &Node,
    path: &str,
    what: &str,
    names: &[&str],
    from_name: impl Fn(&str) -> Option<T>,
    d: &mut Diagnostics,
) -> Option<T> {
    let text = string(node, path, d)?;
    let value = from_name(text);
    if value.is_none() {
        let message = format!(
            "unknown {what} `{text}`: expected one of {}",
            names.join(", ")
        );
        let hint =
            did_you_mean(text, names.iter().copied()).map(|n| format!("did you mean `{n}`?"));
        d.error(&node.at, path, message, hint);
    }
    value
}

pub(crate) fn or_default<T>(
    node: Option<&Node>,
    default: T,
    read: impl FnOnce(&Node) -> Option<T>,
) -> Option<T> {
    match node {
        Some(node) => read(node),
        None => Some(default),
    }
}
