//! The experiment file (DESIGN.md, "Experiment file (TOML)"): read, override, expand the
//! matrix, validate; every problem is reported with its file, line, column, key path and
//! a hint, all at once.
//!
//! Modules:
//! - `model`: the typed experiment ([`Experiment`], [`System`], [`Workload`], ...).
//! - `fault`: [`Fault`], [`Target`], [`FaultKind`] and its [`Toxic`]s.
//! - `schedule`: [`Schedule`], the open-loop rate over time, and intended send times.
//! - `duration`: `"250us"`, `"1.5s"`, `"2m"`: parsing and formatting.
//! - `tree` (private): the TOML document with a location on every key and value.
//! - `overrides`: [`Override`], `--set KEY=VALUE`, applied to the tree before reading.
//! - `fields` (private): typed readers over the tree (durations, enums, ranges, unknown keys).
//! - `parse`, `parse_fault`, `parse_external` (private): tree → model, every problem
//!   located (`parse_external`: `[lab]`, `system.platform` and `[system.external]`).
//! - `matrix`: `[matrix]` axes and their cartesian product ([`Combination`]).
//! - `validate`: rules across fields (fault targets, timing, overlaps; thresholds
//!   through a caller-supplied checker).
//! - `error`: [`ExperimentError`], [`Diagnostic`], [`Location`].
//!
//! Defaults for keys a file leaves out: `seed = 0`, `warmup = "5s"`,
//! `drain_timeout = "30s"`; `[system]`: `guarantee = "at-least-once"`, `brokers = 1`,
//! `partitions = 6`, `redis_persistence = "none"`, one replica per service, `skus = 50`,
//! `initial_stock = 1000`, `platform = "reference"` (with `"external"`:
//! `[system.external]` requires `namespace`; `input = "orders"`, `topics` every topic
//! of the catalog, `terminal_types` the catalog's); no `[lab]` (the harness starts
//! its own lab); `[workload]`: `driver = "http"`, `customers = 1000`,
//! `key_distribution = "uniform"`, both ratios 0; faults: `jitter = "0s"`,
//! `stream = "downstream"`, `toxicity = 1.0`, `reset_peer` `timeout = "0s"`,
//! `timeout` without `timeout` holds connections until the fault ends, slicer
//! `size_variation = 0` and `delay = "0s"`, kill without `restart_after` stays down.

pub mod duration;
mod error;
mod fault;
mod fields;
mod matrix;
mod matrix_fault;
mod model;
mod overrides;
mod parse;
mod parse_external;
mod parse_fault;
mod schedule;
mod tree;
mod validate;

use std::path::Path;
use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::StdRng;

pub use error::{Diagnostic, ExperimentError, Location};
pub use fault::{FAULT_KINDS, Fault, FaultKind, Target, TargetError, Toxic};
pub use matrix::{Combination, MatrixSetting, Skipped};
pub use model::{
    Backend, Brokers, Capacity, Driver, Experiment, ExternalSystem, Guarantee, KeyDistribution,
    LabSection, Platform, Ratio, RedisPersistence, Replicas, Service, Stream, System, Threshold,
    Workload,
};
pub use overrides::{Override, OverrideError};
pub use schedule::{Schedule, Step};
pub use validate::{LabKind, ThresholdCheck, accept_any_threshold, against_lab, validate};

use error::Diagnostics;
use tree::{Node, Source, Value};

impl Experiment {
    /// Reads an experiment file: overrides applied, matrix expanded (one experiment per
    /// combination, in order), everything validated except threshold expressions, which
    /// are only required to be non-empty strings (see [`Experiment::from_file_with`]).
    pub fn from_file(
        path: &Path,
        overrides: &[Override],
    ) -> Result<Vec<Experiment>, ExperimentError> {
        Self::from_file_with(path, overrides, &accept_any_threshold)
    }

    /// [`Experiment::from_file`], with threshold expressions checked by `thresholds`.
    pub fn from_file_with(
        path: &Path,
        overrides: &[Override],
        thresholds: &ThresholdCheck<'_>,
    ) -> Result<Vec<Experiment>, ExperimentError> {
        let bytes = std::fs::read(path).map_err(|source| ExperimentError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(&bytes, &path.display().to_string(), overrides, thresholds)
    }

    /// Reads an experiment from text; `origin` names it in messages (usually its path).
    pub fn from_str(
        text: &str,
        origin: &str,
        overrides: &[Override],
    ) -> Result<Vec<Experiment>, ExperimentError> {
        Self::from_str_with(text, origin, overrides, &accept_any_threshold)
    }

    /// [`Experiment::from_str`], with threshold expressions checked by `thresholds`.
    pub fn from_str_with(
        text: &str,
        origin: &str,
        overrides: &[Override],
        thresholds: &ThresholdCheck<'_>,
    ) -> Result<Vec<Experiment>, ExperimentError> {
        load(text, origin.into(), overrides, thresholds)
    }

    /// Reads an experiment from bytes that should be UTF-8 (a file, standard input).
    pub fn from_bytes(
        bytes: &[u8],
        origin: &str,
        overrides: &[Override],
        thresholds: &ThresholdCheck<'_>,
    ) -> Result<Vec<Experiment>, ExperimentError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::from_str_with(text, origin, overrides, thresholds),
            Err(e) => {
                let valid = String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned();
                let source = Source::new(origin.into(), &valid);
                let mut d = Diagnostics::default();
                let hint = "save the file as UTF-8".to_owned();
                d.error(
                    &source.location(valid.len()),
                    "",
                    "the file is not valid UTF-8",
                    hint,
                );
                Err(ExperimentError::Invalid(d.list))
            }
        }
    }

    /// A random number generator for one named purpose (`"keys"`, `"poison"`, ...),
    /// seeded from the experiment's seed and the name: the same file gives the same
    /// choices on every run and on every matrix combination, and purposes do not
    /// disturb each other's sequences.
    pub fn rng(&self, stream: &str) -> StdRng {
        StdRng::from_seed(sub_seed(self.seed, stream))
    }
}

/// A 32-byte seed from a seed and a name: FNV-1a over the name, mixed with splitmix64.
/// Stable across platforms and Rust versions (unlike `DefaultHasher`).
fn sub_seed(seed: u64, stream: &str) -> [u8; 32] {
    let mut name_hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in stream.bytes() {
        name_hash = (name_hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut state = seed ^ splitmix64(name_hash ^ stream.len() as u64);
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        chunk.copy_from_slice(&splitmix64(state).to_le_bytes());
    }
    out
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn load(
    text: &str,
    origin: Arc<str>,
    overrides: &[Override],
    thresholds: &ThresholdCheck<'_>,
) -> Result<Vec<Experiment>, ExperimentError> {
    let source = Source::new(origin.clone(), text);
    let mut root = source.parse().map_err(ExperimentError::Invalid)?;
    let mut up_front = Diagnostics::default();
    for o in overrides {
        if let Err(message) = tree::set(&mut root, o.path(), o.value().clone(), &o.location(), true)
        {
            let key = o.path().join(".");
            up_front.error(
                &o.location(),
                &key,
                message,
                "override keys are paths such as workload.rate".to_owned(),
            );
        }
    }
    let overridden: Vec<Vec<String>> = overrides.iter().map(|o| o.path().to_vec()).collect();
    let axes = matrix::axes(&root, &overridden, &mut up_front);
    let combinations = matrix::combinations(&axes);
    let label_base = match root.get("name").map(|n| &n.value) {
        Some(Value::String(name)) => name.clone(),
        _ => "experiment".to_owned(),
    };

    let mut experiments = Vec::new();
    let mut skipped: Vec<Skipped> = Vec::new();
    let mut per_combination: Vec<(String, Vec<Diagnostic>)> = Vec::new();
    for indices in &combinations {
        let mut tree = root.clone();
        let mut settings = Vec::new();
        for (axis, &i) in axes.iter().zip(indices) {
            let (setting, node): &(MatrixSetting, Node) = &axis.values[i];
            matrix::apply(&mut tree, axis, setting, node);
            settings.push(setting.clone());
        }
        let combination = Combination(settings);
        let label = format!("{label_base}[{combination}]");
        let mut d = Diagnostics::default();
        if let Some(experiment) = parse::experiment(&tree, &origin, combination, &mut d) {
            // A varied fault that cannot act on its target in this system: a cell of
            // the grid that does not exist, not a mistake in the file.
            if let Some(reason) = unsuited_fault(&experiment) {
                skipped.push(Skipped {
                    name: label,
                    combination: experiment.combination.clone(),
                    reason,
                });
                continue;
            }
            validate::check(&experiment, thresholds, &mut d);
            experiments.push(experiment);
        }
        per_combination.push((label, d.list));
    }
    if experiments.is_empty() && !skipped.is_empty() && up_front.list.is_empty() {
        let at = root.get("matrix").map(|m| m.at.clone());
        if let Some(at) = at {
            let message = format!(
                "every combination of the matrix is skipped (first: {}: {})",
                skipped[0].name, skipped[0].reason
            );
            up_front.error(
                &at,
                "matrix",
                message,
                "list targets the faults can act on".to_owned(),
            );
        }
    }
    let skipped: Arc<[Skipped]> = Arc::from(skipped);
    for experiment in &mut experiments {
        experiment.skipped = Arc::clone(&skipped);
    }

    let mut all = up_front.list;
    all.extend(merge(per_combination, !axes.is_empty()));
    if all.is_empty() {
        return Ok(experiments);
    }
    all.sort_by(|a, b| a.location.sort_key().cmp(&b.location.sort_key()));
    let mut unique: Vec<Diagnostic> = Vec::with_capacity(all.len());
    for diagnostic in all {
        if !unique.contains(&diagnostic) {
            unique.push(diagnostic);
        }
    }
    Err(ExperimentError::Invalid(unique))
}

/// Why a fault the matrix varies cannot act on its target in this combination's system.
fn unsuited_fault(experiment: &Experiment) -> Option<String> {
    let varied: Vec<usize> = experiment
        .combination
        .0
        .iter()
        .filter_map(MatrixSetting::fault_index)
        .collect();
    experiment
        .faults
        .iter()
        .enumerate()
        .filter(|(i, _)| varied.contains(i))
        .find_map(|(_, fault)| validate::target_problem(&experiment.system, fault))
        .map(|(message, _)| message)
}

/// A problem found in every combination is the file's, and is reported once; one found
/// in some combinations only is reported for each of them, naming it.
fn merge(per_combination: Vec<(String, Vec<Diagnostic>)>, has_matrix: bool) -> Vec<Diagnostic> {
    let count = per_combination.len();
    let mut merged = Vec::new();
    for (label, diagnostics) in &per_combination {
        for diagnostic in diagnostics {
            let everywhere = per_combination
                .iter()
                .filter(|(_, ds)| ds.contains(diagnostic))
                .count()
                == count;
            let mut diagnostic = diagnostic.clone();
            if has_matrix && !everywhere {
                diagnostic.combination = Some(label.clone());
            }
            merged.push(diagnostic);
        }
    }
    merged
}
