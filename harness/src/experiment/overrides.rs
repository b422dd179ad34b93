//! `--set KEY=VALUE`: changes to the file applied before anything is checked, so an
//! override is validated like the line it replaces.

use std::str::FromStr;
use std::sync::Arc;

use toml::de::{DeTable, DeValue};

use super::error::Location;
use super::tree::{Node, Source, Value, relocate};

/// One `KEY=VALUE` override. The key is a dotted TOML key path (`workload.rate`,
/// `system.guarantee`, `thresholds."latency.e2e.p99"`, `faults.0.at` for the first
/// fault); the value is a TOML value, and anything that is not one is a string, so
/// `system.guarantee=exactly-once` and `duration=30s` need no quotes.
#[derive(Debug, Clone)]
pub struct Override {
    text: Arc<str>,
    path: Vec<String>,
    value: Node,
}

/// A `--set` argument that is not `KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    #[error("override `{0}` is not KEY=VALUE (e.g. workload.rate=100)")]
    NotAssignment(String),
    #[error("override `{text}`: `{key}` is not a key path such as workload.rate")]
    BadKey { text: String, key: String },
}

impl Override {
    pub fn parse(text: &str) -> Result<Self, OverrideError> {
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| OverrideError::NotAssignment(text.to_owned()))?;
        let path = key_path(key.trim()).ok_or_else(|| OverrideError::BadKey {
            text: text.to_owned(),
            key: key.trim().to_owned(),
        })?;
        let text: Arc<str> = text.into();
        let at = Location::Override(text.clone());
        let value = value.trim();
        let mut node = Source::new(text.clone(), value)
            .parse_value()
            .unwrap_or_else(|| Node::new(Value::String(value.to_owned()), at.clone()));
        relocate(&mut node, &at);
        Ok(Override {
            text,
            path,
            value: node,
        })
    }

    /// The override as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The key path, one element per key.
    pub fn path(&self) -> &[String] {
        &self.path
    }

    pub(crate) fn value(&self) -> &Node {
        &self.value
    }

    pub(crate) fn location(&self) -> Location {
        Location::Override(self.text.clone())
    }
}

impl FromStr for Override {
    type Err = OverrideError;

    fn from_str(text: &str) -> Result<Self, OverrideError> {
        Override::parse(text)
    }
}

/// The keys of a dotted TOML key, by letting the TOML parser read `KEY = 0`.
fn key_path(key: &str) -> Option<Vec<String>> {
    if key.is_empty() || key.contains(['\n', '\r']) {
        return None;
    }
    let document = format!("{key} = 0");
    let mut table = DeTable::parse(&document).ok()?.into_inner();
    let mut path = Vec::new();
    loop {
        if table.len() != 1 {
            return None;
        }
        let (key, value) = table.into_iter().next()?;
        path.push(key.into_inner().into_owned());
        match value.into_inner() {
            DeValue::Table(inner) => table = inner,
            DeValue::Integer(_) => return Some(path),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values() {
        let o = Override::parse("workload.rate=100").unwrap();
        assert_eq!(o.path(), ["workload", "rate"]);
        assert!(matches!(o.value().value, Value::Integer(100)));
        let o = Override::parse("system.guarantee=exactly-once").unwrap();
        assert!(matches!(&o.value().value, Value::String(s) if s == "exactly-once"));
        let o = Override::parse("thresholds.\"latency.e2e.p99\"=< 500ms").unwrap();
        assert_eq!(o.path(), ["thresholds", "latency.e2e.p99"]);
        assert!(matches!(&o.value().value, Value::String(s) if s == "< 500ms"));
        let o = Override::parse(" duration = \"30s\" ").unwrap();
        assert!(matches!(&o.value().value, Value::String(s) if s == "30s"));
        assert_eq!(
            o.value().at,
            Location::Override(" duration = \"30s\" ".into())
        );
    }

    #[test]
    fn malformed() {
        assert!(matches!(
            Override::parse("seed"),
            Err(OverrideError::NotAssignment(_))
        ));
        assert!(matches!(
            Override::parse("=3"),
            Err(OverrideError::BadKey { .. })
        ));
        assert!(matches!(
            Override::parse("a b=3"),
            Err(OverrideError::BadKey { .. })
        ));
        assert!(matches!(
            Override::parse("a\nb=3"),
            Err(OverrideError::BadKey { .. })
        ));
    }
}
