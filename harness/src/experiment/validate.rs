//! Rules that relate fields to each other: faults against the system they disturb and
//! the load phase they happen in, schedules against the load phase, and threshold
//! expressions (through the caller's checker).

use std::time::Duration;

use super::duration::format as d;
use super::error::{Diagnostics, ExperimentError};
use super::fault::{Fault, FaultKind, Target};
use super::model::{Backend, Experiment, System};
use super::tree::join;

/// Checks one threshold: `(metric, expression)` → `Err((byte offset in the expression,
/// message))`. The checker owns the expression language; this module only locates its
/// errors in the file.
pub type ThresholdCheck<'a> = dyn Fn(&str, &str) -> Result<(), (usize, String)> + 'a;

/// A [`ThresholdCheck`] that accepts every expression, for callers that check them later.
pub fn accept_any_threshold(_metric: &str, _expression: &str) -> Result<(), (usize, String)> {
    Ok(())
}

/// Checks the rules that relate fields: fault targets exist in the system and suit the
/// fault's kind, faults fall inside the load phase and do not overlap on one target, a
/// step schedule fits the load phase, and every threshold passes `thresholds`. All
/// problems are reported, each with its place in the file.
pub fn validate(
    experiment: &Experiment,
    thresholds: &ThresholdCheck<'_>,
) -> Result<(), ExperimentError> {
    let mut diagnostics = Diagnostics::default();
    check(experiment, thresholds, &mut diagnostics);
    if diagnostics.is_empty() {
        return Ok(());
    }
    let mut list = diagnostics.list;
    if !experiment.combination.is_empty() {
        for diagnostic in &mut list {
            diagnostic.combination = Some(experiment.name.clone());
        }
    }
    Err(ExperimentError::Invalid(list))
}

pub(crate) fn check(
    experiment: &Experiment,
    thresholds: &ThresholdCheck<'_>,
    diagnostics: &mut Diagnostics,
) {
    schedule_fits(experiment, diagnostics);
    let mut usable = Vec::new();
    for (i, fault) in experiment.faults.iter().enumerate() {
        let path = format!("faults[{i}]");
        let problem = target_problem(&experiment.system, fault);
        let suits = problem.is_none();
        if let Some((message, hint)) = problem {
            let at = &fault.spans.target;
            diagnostics.error(at, &format!("{path}.target"), message, hint);
        }
        let timely = inside_load_phase(experiment.duration, fault, &path, diagnostics);
        if suits && timely {
            usable.push(i);
        }
    }
    overlaps(&experiment.faults, &usable, diagnostics);
    let slo = experiment.capacity.iter().flat_map(|c| &c.slo);
    let all = experiment
        .thresholds
        .iter()
        .map(|t| ("thresholds", t))
        .chain(slo.map(|t| ("capacity.slo", t)));
    for (root, threshold) in all {
        if let Err((offset, message)) = thresholds(&threshold.metric, &threshold.expression) {
            let path = join(root, &threshold.metric);
            diagnostics.error(&threshold.location_of(offset), &path, message, None);
        }
    }
}

fn schedule_fits(experiment: &Experiment, diagnostics: &mut Diagnostics) {
    let Some(length) = experiment.workload.schedule.steps_length() else {
        return;
    };
    if length > experiment.duration {
        let message = format!(
            "the schedule's steps last {}, longer than the load phase (duration = {})",
            d(length),
            d(experiment.duration)
        );
        let hint =
            "shorten the steps or raise `duration`; after the last step its rate holds to the end";
        let at = &experiment.spans.schedule;
        diagnostics.error(at, "workload.schedule", message, hint.to_owned());
    }
}

/// `count` names, all of them when few, else the first and the last.
fn listing(count: u32, name: impl Fn(u32) -> String) -> String {
    match count {
        0..=4 => (0..count).map(name).collect::<Vec<_>>().join(", "),
        _ => format!("{} ... {}", name(0), name(count - 1)),
    }
}

/// Why `fault` cannot act on its target in `system` (message, hint): the target does
/// not exist there, or it does not suit the fault's kind.
pub(crate) fn target_problem(system: &System, fault: &Fault) -> Option<(String, String)> {
    target_missing(system, fault).or_else(|| kind_unsuited(fault))
}

fn target_missing(system: &System, fault: &Fault) -> Option<(String, String)> {
    let target = fault.target;
    let brokers = system.brokers.count();
    let kafka_targets = || {
        let list = listing(brokers, |i| format!("kafka-{}", i + 1));
        format!("targets on kafka: {list}, gateway, or a service instance such as payment#0")
    };
    match (target, system.backend) {
        (Target::Redis, Backend::Kafka) => Some((
            "unknown fault target `redis`: the system runs on kafka".to_owned(),
            kafka_targets(),
        )),
        (Target::Broker(_), Backend::Redis) => Some((
            format!("unknown fault target `{target}`: the system runs on redis"),
            "targets on redis: redis, gateway, or a service instance such as payment#0".to_owned(),
        )),
        (Target::Broker(n), Backend::Kafka) if n > brokers => {
            let list = listing(brokers, |i| format!("kafka-{}", i + 1));
            let noun = if brokers == 1 { "broker" } else { "brokers" };
            Some((
                format!("unknown fault target `{target}`: the system has {noun} {list}"),
                format!("brokers = {brokers}; brokers = 3 runs kafka-1, kafka-2 and kafka-3"),
            ))
        }
        (Target::Service { name, instance }, _) if instance >= system.replicas.get(name).get() => {
            let count = system.replicas.get(name).get();
            let list = listing(count, |i| format!("{name}#{i}"));
            let noun = if count == 1 { "instance" } else { "instances" };
            Some((
                format!("unknown fault target `{target}`: {name} runs {count} {noun} ({list})"),
                format!(
                    "instances are numbered from 0; replicas = {{ {name} = {} }} in [system] would run {target}",
                    instance.saturating_add(1)
                ),
            ))
        }
        _ => None,
    }
}

fn kind_unsuited(fault: &Fault) -> Option<(String, String)> {
    let kind = fault.kind.name();
    let target = fault.target;
    if fault.kind.is_network() && !target.is_proxied() {
        Some((
            format!(
                "`{kind}` is a network fault and needs a proxied target (redis, kafka-N or gateway); \
                 `{target}` is a service instance"
            ),
            "services are not behind proxies: use kill, pause or restart on them, or a network fault on their broker".to_owned(),
        ))
    } else if !fault.kind.is_network() && !target.is_process() {
        Some((
            format!(
                "`{kind}` needs a process (redis, kafka-N or a service instance); `{target}` is a proxy"
            ),
            "use a network kind on the gateway, e.g. down or timeout".to_owned(),
        ))
    } else {
        None
    }
}

fn inside_load_phase(
    load: Duration,
    fault: &Fault,
    path: &str,
    diagnostics: &mut Diagnostics,
) -> bool {
    if fault.at >= load {
        let message = format!(
            "the fault starts at {}, when the load phase is over (duration = {})",
            d(fault.at),
            d(load)
        );
        let hint = format!("faults happen during the load phase: at < {}", d(load));
        diagnostics.error(&fault.spans.at, &format!("{path}.at"), message, hint);
        return false;
    }
    let Some(end) = fault.end() else {
        return true;
    };
    if end <= load {
        return true;
    }
    let room = d(load - fault.at);
    let (key, message, hint) = match fault.kind {
        FaultKind::Kill { .. } => (
            "restart_after",
            format!(
                "the restart comes at {}, after the load phase ends at {}",
                d(end),
                d(load)
            ),
            format!(
                "restart_after at most {room}, leave it out to keep the process down, or raise `duration`"
            ),
        ),
        _ => (
            "for",
            format!(
                "the fault ends at {}, after the load phase ends at {}",
                d(end),
                d(load)
            ),
            format!("`for` at most {room}, or raise `duration`"),
        ),
    };
    diagnostics.error(&fault.spans.end, &format!("{path}.{key}"), message, hint);
    false
}

/// Two faults on one target at once would undo each other (a heal ends both).
fn overlaps(faults: &[Fault], usable: &[usize], diagnostics: &mut Diagnostics) {
    for (n, &j) in usable.iter().enumerate() {
        for &i in &usable[..n] {
            let (a, b) = (&faults[i], &faults[j]);
            if a.target != b.target {
                continue;
            }
            let (first, second, first_index, second_index) = if a.at <= b.at {
                (a, b, i, j)
            } else {
                (b, a, j, i)
            };
            let overlapping =
                second.at == first.at || first.end().is_none_or(|end| second.at < end);
            if !overlapping {
                continue;
            }
            let window = match first.end() {
                Some(end) if end == first.at => format!("at {}", d(end)),
                Some(end) => format!("from {} to {}", d(first.at), d(end)),
                None => format!("from {} to the end of the run", d(first.at)),
            };
            let message = format!(
                "overlaps faults[{first_index}] on `{}` ({window})",
                first.target
            );
            let hint = match first.end() {
                Some(end) if end > first.at => format!(
                    "one fault per target at a time: start this one at {} or later",
                    d(end)
                ),
                Some(_) => "one fault per target at a time: move one of them".to_owned(),
                None => {
                    "the target is killed without restart_after: add one to fault it again later"
                        .to_owned()
                }
            };
            diagnostics.error(
                &second.spans.at,
                &format!("faults[{second_index}].at"),
                message,
                hint,
            );
        }
    }
}
