//! What went wrong in an experiment file, where, and how to fix it.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    /// A position in the experiment file: 1-based line, 1-based column in characters.
    File {
        origin: Arc<str>,
        line: usize,
        column: usize,
    },
    /// A `--set KEY=VALUE` override, as the user wrote it: it has no place in the file.
    Override(Arc<str>),
    /// The file as a whole, e.g. for a required key that is missing at the top level.
    Origin(Arc<str>),
}

impl Location {
    /// Orders diagnostics: file positions first (in reading order), then overrides.
    pub(crate) fn sort_key(&self) -> (u8, usize, usize, &str) {
        match self {
            Location::Origin(origin) => (0, 0, 0, origin),
            Location::File {
                origin,
                line,
                column,
            } => (0, *line, *column, origin),
            Location::Override(text) => (1, 0, 0, text),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File {
                origin,
                line,
                column,
            } => write!(f, "{origin}:{line}:{column}"),
            Location::Override(text) => write!(f, "override `{text}`"),
            Location::Origin(origin) => write!(f, "{origin}"),
        }
    }
}

/// One problem in an experiment file.
///
/// Displays as `experiments/x.toml:12:10: faults[0].target: unknown fault target
/// `kafka-3`: the system has brokers kafka-1 (hint: ...)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub location: Location,
    /// The key path, e.g. `faults[0].target` or `thresholds."latency.e2e.p99"`; empty for
    /// a TOML syntax error.
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
    /// The expanded experiment's name (`x[brokers=1]`) when the problem exists in some
    /// matrix combinations only; `None` when it holds for the file as written.
    pub combination: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location)?;
        if let Some(combination) = &self.combination {
            write!(f, "in {combination}: ")?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// Loading an experiment failed.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error("cannot read experiment file {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Every problem found, in file order (syntax errors stop before validation).
    #[error("{}", DisplayAll(.0))]
    Invalid(Vec<Diagnostic>),
}

impl ExperimentError {
    /// The problems found; empty for a read error.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ExperimentError::Invalid(diagnostics) => diagnostics,
            ExperimentError::Read { .. } => &[],
        }
    }
}

struct DisplayAll<'a>(&'a [Diagnostic]);

impl fmt::Display for DisplayAll<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Collects diagnostics while a file is read, so all of them are reported at once.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics {
    pub(crate) list: Vec<Diagnostic>,
}

impl Diagnostics {
    pub(crate) fn error(
        &mut self,
        location: &Location,
        key: &str,
        message: impl Into<String>,
        hint: impl Into<Option<String>>,
    ) {
        self.list.push(Diagnostic {
            location: location.clone(),
            key: key.to_owned(),
            message: message.into(),
            hint: hint.into(),
            combination: None,
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// The candidate closest to `word` if it is a plausible typo of it (`rat` → `rate`,
/// `exactly_once` → `exactly-once`).
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let budget = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        // Optimal string alignment: a swap of two neighbours is one edit (`kafak` → `kafka`).
        .map(|c| (strsim::osa_distance(&word.to_lowercase(), c), c))
        .filter(|(d, _)| *d <= budget)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// A hint naming a near miss, or else listing what is allowed.
pub(crate) fn suggestion(word: &str, allowed: &[&str], what: &str) -> String {
    match did_you_mean(word, allowed.iter().copied()) {
        Some(near) => format!("did you mean `{near}`?"),
        None => format!("{what}: {}", allowed.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses() {
        assert_eq!(
            did_you_mean("rat", ["rate", "ramp", "driver"]),
            Some("rate")
        );
        assert_eq!(
            did_you_mean("exactly_once", ["at-least-once", "exactly-once"]),
            Some("exactly-once")
        );
        assert_eq!(did_you_mean("zzzz", ["rate", "ramp"]), None);
        // A swap of neighbours is one edit.
        assert_eq!(did_you_mean("kafak", ["redis", "kafka"]), Some("kafka"));
    }
}
