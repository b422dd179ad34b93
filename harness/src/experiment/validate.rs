//! Rules that relate fields to each other: faults against the system they disturb and
//! the load phase they happen in, schedules against the load phase, and threshold
//! expressions (through the caller's checker).

use std::time::Duration;

use super::duration::format as d;
use super::error::{Diagnostics, ExperimentError};
use super::fault::{Fault, FaultKind, Target};
use super::model::{Backend, Driver, Experiment, System};
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
    finish(experiment, diagnostics)
}

pub(crate) fn check(
    experiment: &Experiment,
    thresholds: &ThresholdCheck<'_>,
    diagnostics: &mut Diagnostics,
) {
    schedule_fits(experiment, diagnostics);
    external_platform(experiment, diagnostics);
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

/// The lab an experiment runs against, for [`against_lab`].
#[derive(Debug, Clone, Copy)]
pub enum LabKind<'a> {
    /// The harness starts its own lab: it controls every process.
    Local,
    /// Services someone else runs, described by an endpoints file (named `file` in
    /// messages): no process control; network faults only through its Toxiproxy.
    External {
        file: &'a str,
        endpoints: &'a lab::Endpoints,
    },
}

/// Checks what an experiment asks of the lab it runs against: an external platform
/// needs an external lab; on an external lab, process faults on its services (redis,
/// kafka-N) are refused (the harness does not run them) and each network fault needs
/// a proxy in the endpoints file's Toxiproxy. Every problem is located in the file.
pub fn against_lab(experiment: &Experiment, lab: LabKind<'_>) -> Result<(), ExperimentError> {
    let mut d = Diagnostics::default();
    let (file, endpoints) = match lab {
        LabKind::Local => {
            if experiment.system.platform.external().is_some() {
                let message = "platform = \"external\" runs against services you run: it needs their endpoints";
                let hint = "give --endpoints FILE, or endpoints = \"FILE\" in [lab] (the shape `harness lab up --json` prints)";
                d.error(
                    &experiment.spans.platform,
                    "system.platform",
                    message,
                    hint.to_owned(),
                );
            }
            return finish(experiment, d);
        }
        LabKind::External { file, endpoints } => (file, endpoints),
    };
    for (i, fault) in experiment.faults.iter().enumerate() {
        let path = format!("faults[{i}].target");
        let at = &fault.spans.target;
        let (kind, target) = (fault.kind.name(), fault.target);
        if !fault.kind.is_network() {
            if matches!(target, Target::Redis | Target::Broker(_)) {
                let message = format!(
                    "`{kind}` on `{target}`: the lab is external ({file}); the harness does not run its processes"
                );
                let hint = "use a network fault through its Toxiproxy (latency, down, timeout, ...) \
                            on the same target, or run without --endpoints (the harness's own lab)";
                d.error(at, &path, message, hint.to_owned());
            }
            continue;
        }
        if endpoints.toxiproxy.is_none() {
            let message =
                format!("`{kind}` on `{target}` is a network fault, and {file} names no Toxiproxy");
            let hint = "add \"toxiproxy\" (its API address) and the proxies to the endpoints file, or remove the fault";
            d.error(at, &path, message, hint.to_owned());
            continue;
        }
        let proxy = match target {
            Target::Redis => endpoints.redis.as_ref().map(|r| r.proxy.clone()),
            Target::Broker(n) => endpoints.broker(n).map(|b| b.proxy.clone()),
            // The harness creates the gateway's proxy itself, per run.
            Target::Gateway | Target::Service { .. } => continue,
        };
        let listed = |name: &str| endpoints.proxies.iter().any(|p| p.name == name);
        match proxy {
            Some(name) if listed(&name) => {}
            Some(name) => {
                let message = format!(
                    "`{kind}` on `{target}` needs the proxy `{name}`, which {file} does not list under \"proxies\""
                );
                let hint =
                    "list the proxy (name, listen, upstream) in the endpoints file".to_owned();
                d.error(at, &path, message, hint);
            }
            None => {
                let message =
                    format!("`{kind}` on `{target}`: {file} has no `{target}` with a proxy");
                let hint = "fault a service the endpoints file describes".to_owned();
                d.error(at, &path, message, hint);
            }
        }
    }
    finish(experiment, d)
}

/// The problems found in one (matrix-expanded) experiment, each naming its combination.
fn finish(experiment: &Experiment, d: Diagnostics) -> Result<(), ExperimentError> {
    if d.is_empty() {
        return Ok(());
    }
    let mut list = d.list;
    if !experiment.combination.is_empty() {
        for diagnostic in &mut list {
            diagnostic.combination = Some(experiment.name.clone());
        }
    }
    Err(ExperimentError::Invalid(list))
}

/// Rules of an external platform that hold on any lab: the harness runs none of its
/// processes and none of the reference platform's parts (the gateway proxy), and the
/// http driver needs the order API's address.
fn external_platform(experiment: &Experiment, diagnostics: &mut Diagnostics) {
    let Some(external) = experiment.system.platform.external() else {
        return;
    };
    for (i, fault) in experiment.faults.iter().enumerate() {
        let target = fault.target;
        let refused = match target {
            Target::Service { .. } if !fault.kind.is_network() => {
                "the platform is external: the harness does not run its processes"
            }
            Target::Gateway => {
                "the gateway proxy belongs to the reference platform, which an external platform does not run"
            }
            _ => continue,
        };
        let message = format!("`{}` on `{target}`: {refused}", fault.kind.name());
        let hint = "fault the lab's services through Toxiproxy (redis, kafka-N)".to_owned();
        diagnostics.error(
            &fault.spans.target,
            &format!("faults[{i}].target"),
            message,
            hint,
        );
    }
    if experiment.workload.driver == Driver::Http && external.order_url.is_none() {
        let message = "the http driver needs the order API of the external platform";
        let hint = "add order_url = \"http://HOST:PORT\" to [system.external], or driver = \"direct\" in [workload]";
        diagnostics.error(
            &experiment.spans.platform,
            "system.external.order_url",
            message,
            hint.to_owned(),
        );
    }
    // The direct driver's OrderPlaced events go to `input`: a tap that does not read it
    // would find every order unobserved.
    if experiment.workload.driver == Driver::Direct && !external.topics.contains(&external.input) {
        let message = format!(
            "the direct driver produces OrderPlaced to `{}`, which `topics` does not list: every order would look unobserved",
            external.input
        );
        let hint = format!("add \"{}\" to [system.external] topics", external.input);
        diagnostics.error(
            &experiment.spans.platform,
            "system.external.topics",
            message,
            hint,
        );
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
