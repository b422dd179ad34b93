//! Reads `[[faults]]`: the common keys, the kind, and that kind's parameters. A key
//! that belongs to another kind is reported as not applying, rather than as unknown.

use std::num::NonZeroU64;
use std::time::Duration;

use super::error::{Diagnostics, Location, suggestion};
use super::fault::{FAULT_KINDS, Fault, FaultKind, FaultSpans, Target, Toxic};
use super::fields::{
    Fields, choice, duration, duration_in, integer, or_default, ratio, string, table,
};
use super::model::{Ratio, Stream};
use super::tree::{Node, Table, Value};

pub(crate) const FAULT_COMMON_KEYS: &[&str] = &["at", "target", "kind"];
pub(crate) const FAULT_PARAMETER_KEYS: &[&str] = &[
    "for",
    "latency",
    "jitter",
    "rate_kbps",
    "timeout",
    "average_size",
    "size_variation",
    "delay",
    "bytes",
    "restart_after",
    "stream",
    "toxicity",
];

/// The keys a fault of `kind` takes besides `at`, `target` and `kind`.
pub(crate) fn kind_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "latency" => &["for", "latency", "jitter", "stream", "toxicity"],
        "bandwidth" => &["for", "rate_kbps", "stream", "toxicity"],
        "timeout" | "reset_peer" => &["for", "timeout", "stream", "toxicity"],
        "slicer" => &[
            "for",
            "average_size",
            "size_variation",
            "delay",
            "stream",
            "toxicity",
        ],
        "limit_data" => &["for", "bytes", "stream", "toxicity"],
        "down" | "pause" => &["for"],
        "kill" => &["restart_after"],
        _ => &[],
    }
}

pub(crate) fn faults(node: &Node, d: &mut Diagnostics) -> Option<Vec<Fault>> {
    let hint = "write each fault as a [[faults]] table";
    let Value::Array(items) = &node.value else {
        let message = format!("expected an array of tables, found {}", node.kind());
        d.error(&node.at, "faults", message, hint.to_owned());
        return None;
    };
    let faults: Vec<Option<Fault>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let path = format!("faults[{i}]");
            let table = table(item, &path, hint, d)?;
            fault(table, &item.at, path, d)
        })
        .collect();
    faults.into_iter().collect()
}

fn fault(table: &Table, at: &Location, path: String, d: &mut Diagnostics) -> Option<Fault> {
    let mut f = Fields::new(table, at, path);
    let at_node = f.required(
        "at",
        "when it starts in the load phase, e.g. at = \"20s\"",
        d,
    );
    let start = at_node.and_then(|n| duration(n, &f.path("at"), d));
    let target_node = f.required("target", "e.g. target = \"kafka-1\" or \"payment#0\"", d);
    let target = target_node.and_then(|n| {
        let text = string(n, &f.path("target"), d)?;
        text.parse::<Target>()
            .map_err(|e| d.error(&n.at, &f.path("target"), e.message, e.hint))
            .ok()
    });
    let kind_node = f.required("kind", "e.g. kind = \"latency\"", d);
    let kind_name = kind_node.and_then(|n| {
        let names = FAULT_KINDS;
        choice(
            n,
            &f.path("kind"),
            "fault kind",
            names,
            |k| names.iter().find(|x| **x == k).copied(),
            d,
        )
    });
    let kind = kind_name.and_then(|k| fault_kind(k, &mut f, d));
    // Parameters that belong to another kind are reported as such, not as unknown.
    for entry in f.unused() {
        let key = &entry.key;
        let path = f.path(key);
        if FAULT_PARAMETER_KEYS.contains(&key.as_str()) {
            let Some(kind) = kind_name else { continue };
            let hint = match (kind, key.as_str()) {
                ("kill", "for") => {
                    "a kill lasts until `restart_after`, or to the end of the run".to_owned()
                }
                ("restart", "for") => "a restart is instantaneous".to_owned(),
                _ if kind_keys(kind).is_empty() => format!("`{kind}` takes no parameters"),
                _ => format!("`{kind}` takes {}", kind_keys(kind).join(", ")),
            };
            let message = format!("`{key}` does not apply to kind `{kind}`");
            d.error(&entry.key_at, &path, message, hint);
        } else {
            let known: Vec<&str> = FAULT_COMMON_KEYS
                .iter()
                .chain(FAULT_PARAMETER_KEYS)
                .copied()
                .collect();
            let hint = suggestion(key, &known, "fault keys");
            d.error(&entry.key_at, &path, format!("unknown key `{key}`"), hint);
        }
    }
    let (kind, end) = kind?;
    let kind_at = kind_node?.at.clone();
    Some(Fault {
        at: start?,
        target: target?,
        kind,
        spans: FaultSpans {
            at: at_node?.at.clone(),
            target: target_node?.at.clone(),
            end: end.unwrap_or_else(|| kind_at.clone()),
            kind: kind_at,
        },
    })
}

/// The kind's parameters, and where its end (`for` or `restart_after`) was written.
fn fault_kind(
    kind: &str,
    f: &mut Fields<'_>,
    d: &mut Diagnostics,
) -> Option<(FaultKind, Option<Location>)> {
    let ms = Duration::from_millis(1);
    let us = Duration::from_micros(1);
    let lasting = |f: &mut Fields<'_>, d: &mut Diagnostics| {
        let hint = format!("how long the {kind} lasts, e.g. for = \"10s\"");
        let node = f.required("for", &hint, d)?;
        let value = duration(node, &f.path("for"), d)?;
        if value.is_zero() {
            d.error(&node.at, &f.path("for"), "a fault cannot last 0s", hint);
            return None;
        }
        Some((value, node.at.clone()))
    };
    match kind {
        "down" => lasting(f, d).map(|(lasting, at)| (FaultKind::Down { lasting }, Some(at))),
        "pause" => lasting(f, d).map(|(lasting, at)| (FaultKind::Pause { lasting }, Some(at))),
        "restart" => Some((FaultKind::Restart, None)),
        "kill" => {
            let node = f.get("restart_after");
            let restart = or_default(node, None, |n| {
                duration(n, &f.path("restart_after"), d).map(Some)
            });
            restart.map(|restart_after| {
                (
                    FaultKind::Kill { restart_after },
                    node.map(|n| n.at.clone()),
                )
            })
        }
        toxic_kind => {
            let window = lasting(f, d);
            let toxic = toxic(toxic_kind, f, ms, us, d);
            let stream = or_default(f.get("stream"), Stream::Downstream, |n| {
                choice(
                    n,
                    &f.path("stream"),
                    "stream",
                    Stream::NAMES,
                    Stream::from_name,
                    d,
                )
            });
            let toxicity = or_default(f.get("toxicity"), Ratio::ONE, |n| {
                ratio(n, &f.path("toxicity"), d)
            });
            let (lasting, at) = window?;
            let kind = FaultKind::Toxic {
                toxic: toxic?,
                stream: stream?,
                toxicity: toxicity?,
                lasting,
            };
            Some((kind, Some(at)))
        }
    }
}

fn toxic(
    kind: &str,
    f: &mut Fields<'_>,
    ms: Duration,
    us: Duration,
    d: &mut Diagnostics,
) -> Option<Toxic> {
    let path = |f: &Fields<'_>, key: &str| f.path(key);
    match kind {
        "latency" => {
            let latency = f
                .required("latency", "e.g. latency = \"200ms\"", d)
                .and_then(|n| duration_in(n, &path(f, "latency"), ms, "milliseconds", d));
            let jitter = or_default(f.get("jitter"), Duration::ZERO, |n| {
                duration_in(n, &path(f, "jitter"), ms, "milliseconds", d)
            });
            Some(Toxic::Latency {
                latency: latency?,
                jitter: jitter?,
            })
        }
        "bandwidth" => {
            let rate = f
                .required("rate_kbps", "KB/s, e.g. rate_kbps = 64", d)
                .and_then(|n| integer(n, &path(f, "rate_kbps"), 1, d));
            Some(Toxic::Bandwidth {
                rate_kbps: NonZeroU64::new(rate?)?,
            })
        }
        "timeout" => {
            let timeout = or_default(f.get("timeout"), None, |n| {
                duration_in(n, &path(f, "timeout"), ms, "milliseconds", d).map(Some)
            });
            Some(Toxic::Timeout { timeout: timeout? })
        }
        "reset_peer" => {
            let timeout = or_default(f.get("timeout"), Duration::ZERO, |n| {
                duration_in(n, &path(f, "timeout"), ms, "milliseconds", d)
            });
            Some(Toxic::ResetPeer { timeout: timeout? })
        }
        "slicer" => {
            let size_node = f.required("average_size", "bytes, e.g. average_size = 64", d);
            let average = size_node.and_then(|n| integer(n, &path(f, "average_size"), 1, d));
            let variation = or_default(f.get("size_variation"), 0, |n| {
                integer(n, &path(f, "size_variation"), 0, d)
            });
            let delay = or_default(f.get("delay"), Duration::ZERO, |n| {
                duration_in(n, &path(f, "delay"), us, "microseconds", d)
            });
            let (average, variation) = (average?, variation?);
            if variation >= average {
                let message =
                    format!("size_variation ({variation}) must be below average_size ({average})");
                if let Some(node) = f.get("size_variation") {
                    d.error(&node.at, &path(f, "size_variation"), message, None);
                }
                return None;
            }
            Some(Toxic::Slicer {
                average_size: NonZeroU64::new(average)?,
                size_variation: variation,
                delay: delay?,
            })
        }
        _ => {
            let bytes = f
                .required("bytes", "e.g. bytes = 1024", d)
                .and_then(|n| integer(n, &path(f, "bytes"), 0, d));
            Some(Toxic::LimitData { bytes: bytes? })
        }
    }
}
