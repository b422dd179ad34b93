//! Parsing `metric = "OP VALUE"` pairs. Never panics on any input (property-tested):
//! offsets are byte offsets on char boundaries, slicing only at them.

use crate::anomaly::Anomaly;
use crate::index::KNOWN_TYPES;
use crate::stats::Pct;

use super::{Kind, Metric, Op, Part, Quantity, Threshold, ThresholdError};

/// Metrics with a fixed name, for parsing and for "did you mean".
const FIXED: [(&str, Metric); 8] = [
    ("throughput.mean", Metric::ThroughputMean),
    ("lag.max", Metric::LagMax),
    ("shortfall.dropped", Metric::ShortfallDropped),
    ("shortfall.late", Metric::ShortfallLate),
    ("errors", Metric::Errors),
    ("rejected", Metric::Rejected),
    ("recovery.max", Metric::RecoveryMax),
    ("drain.max", Metric::DrainMax),
];

const E2E: &str = "latency.e2e.";
const HOP: &str = "latency.hop.";
const SERVICE: &str = "service.";
const PCT_HINT: &str = "use p50, p90, p99, p99.9 or max";

fn error(part: Part, offset: usize, message: String, hint: &str) -> ThresholdError {
    ThresholdError {
        part,
        offset,
        message,
        hint: hint.to_string(),
    }
}

/// Parses one threshold: `metric` names what is compared, `expr` is `OP VALUE`.
///
/// ```
/// let t = check::parse_threshold("latency.e2e.p99", "< 800ms").unwrap();
/// assert_eq!(t.value, 800_000.0); // durations are compared in microseconds
/// let e = check::parse_threshold("latency.e2e.p99", "< 800mss").unwrap_err();
/// assert_eq!((e.part, e.offset), (check::Part::Expression, 5));
/// assert_eq!(e.to_string(), "unknown unit `mss`; use us, ms, s or m (durations) or /s (rates) (byte 5 of the expression)");
/// ```
pub fn parse_threshold(metric: &str, expr: &str) -> Result<Threshold, ThresholdError> {
    let parsed = parse_metric(metric)?;
    let (op, quantity, value_at) = parse_expr(expr)?;
    let value = match (parsed.kind(), quantity) {
        (Kind::Count, Quantity::Number(n)) => n,
        (Kind::Duration, Quantity::Duration { us }) => us,
        (Kind::Rate, Quantity::Rate { per_s }) => per_s,
        // 0 needs no unit
        (Kind::Duration | Kind::Rate, Quantity::Number(0.0)) => 0.0,
        (Kind::Count, _) => {
            return Err(error(
                Part::Expression,
                value_at,
                format!("`{metric}` is a count, so the value takes no unit"),
                "compare with a plain number, e.g. `== 0`",
            ));
        }
        (Kind::Duration, _) => {
            return Err(error(
                Part::Expression,
                value_at,
                format!("`{metric}` is a duration, so the value needs a time unit"),
                "write e.g. `< 800ms` (us, ms, s or m)",
            ));
        }
        (Kind::Rate, _) => {
            return Err(error(
                Part::Expression,
                value_at,
                format!("`{metric}` is a rate, so the value needs `/s`"),
                "write e.g. `>= 280/s`",
            ));
        }
    };
    Ok(Threshold {
        metric: parsed,
        metric_text: metric.to_string(),
        expression: expr.to_string(),
        op,
        quantity,
        value,
    })
}

fn parse_metric(metric: &str) -> Result<Metric, ThresholdError> {
    if metric.trim().is_empty() {
        return Err(error(
            Part::Metric,
            0,
            "the metric name is empty".into(),
            "name an anomaly (`lost`) or a measurement (`latency.e2e.p99`)",
        ));
    }
    if let Some(anomaly) = Anomaly::from_name(metric) {
        return Ok(Metric::Anomaly(anomaly));
    }
    if let Some((_, m)) = FIXED.iter().find(|(name, _)| *name == metric) {
        return Ok(m.clone());
    }
    if let Some(pct) = metric.strip_prefix(E2E) {
        return Pct::from_name(pct).map(Metric::E2e).ok_or_else(|| {
            error(
                Part::Metric,
                E2E.len(),
                format!("unknown percentile `{pct}`"),
                PCT_HINT,
            )
        });
    }
    if let Some(rest) = metric.strip_prefix(HOP) {
        return parse_hop(rest);
    }
    if let Some(rest) = metric.strip_prefix(SERVICE)
        && let Some((service, name)) = rest.split_once('.')
        && !service.is_empty()
        && !name.is_empty()
    {
        return Ok(Metric::Service {
            service: service.to_string(),
            name: name.to_string(),
        });
    }
    let message = format!("unknown metric `{metric}`");
    Err(match closest(metric, known_metrics()) {
        Some(name) => error(Part::Metric, 0, message, &format!("did you mean `{name}`?")),
        None => error(
            Part::Metric,
            0,
            message,
            "use an anomaly name (`lost`, `duplicate_effect`...), `latency.e2e.<pct>`, \
             `latency.hop.<From>-><To>.<pct>`, `throughput.mean`, `lag.max`, \
             `shortfall.dropped`, `shortfall.late`, `errors`, `rejected`, `recovery.max`, \
             `drain.max` or `service.<service>.<counter>`",
        ),
    })
}

fn parse_hop(rest: &str) -> Result<Metric, ThresholdError> {
    let shape =
        "write `latency.hop.<From>-><To>.<pct>`, e.g. `latency.hop.OrderPlaced->StockReserved.p99`";
    let Some((hop, pct)) = Pct::ALL.into_iter().find_map(|p| {
        rest.strip_suffix(p.name())
            .and_then(|h| h.strip_suffix('.'))
            .map(|h| (h, p))
    }) else {
        let at = HOP.len() + rest.rfind('.').map_or(rest.len(), |i| i + 1);
        return Err(error(
            Part::Metric,
            at,
            "expected a percentile at the end of the hop metric".into(),
            PCT_HINT,
        ));
    };
    let Some((from, to)) = hop.split_once("->") else {
        return Err(error(
            Part::Metric,
            HOP.len(),
            format!("`{hop}` is not a hop"),
            shape,
        ));
    };
    for (name, at) in [(from, HOP.len()), (to, HOP.len() + from.len() + 2)] {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(error(
                Part::Metric,
                at,
                format!("`{name}` is not an event type"),
                shape,
            ));
        }
        if !KNOWN_TYPES.contains(&name)
            && let Some(known) = closest(name, KNOWN_TYPES.iter().map(|t| t.to_string()))
        {
            return Err(error(
                Part::Metric,
                at,
                format!("unknown event type `{name}`"),
                &format!("did you mean `{known}`?"),
            ));
        }
    }
    Ok(Metric::Hop {
        from: from.to_string(),
        to: to.to_string(),
        pct,
    })
}

fn known_metrics() -> impl Iterator<Item = String> {
    Anomaly::ALL
        .into_iter()
        .map(|a| a.name().to_string())
        .chain(FIXED.iter().map(|(n, _)| n.to_string()))
        .chain(Pct::ALL.into_iter().map(|p| format!("{E2E}{}", p.name())))
}

/// The known name nearest to `word` by edit distance, if it is near enough to be a typo.
fn closest(word: &str, known: impl Iterator<Item = String>) -> Option<String> {
    if word.len() > 80 {
        return None; // no typo of a known name is that long
    }
    let limit = (word.chars().count() / 4).clamp(1, 3);
    known
        // Optimal string alignment: a swap of neighbours is one edit (`lots` → `lost`).
        .map(|k| (strsim::osa_distance(word, &k), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Parses `OP VALUE`; returns the byte offset where the value starts.
fn parse_expr(expr: &str) -> Result<(Op, Quantity, usize), ThresholdError> {
    let fail = |at: usize, message: String, hint: &str| error(Part::Expression, at, message, hint);
    let example = "write e.g. `< 800ms`, `== 0` or `>= 280/s`";
    let mut at = skip_spaces(expr, 0);
    let rest = &expr[at..];
    if rest.is_empty() {
        return Err(fail(at, "the expression is empty".into(), example));
    }
    let ops = [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    let Some((symbol, op)) = ops.into_iter().find(|(s, _)| rest.starts_with(s)) else {
        let hint = if rest.starts_with("=<") {
            "write `<=`"
        } else if rest.starts_with("=>") {
            "write `>=`"
        } else if rest.starts_with('=') {
            "write `==` to compare for equality"
        } else {
            "expected an operator like `<` or `==`, e.g. `< 800ms`"
        };
        return Err(fail(
            at,
            format!("`{}` is not an operator", head(rest)),
            hint,
        ));
    };
    at = skip_spaces(expr, at + symbol.len());
    let value_at = at;
    let digits = |from: usize| {
        expr[from..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(expr.len(), |i| from + i)
    };
    let mut end = digits(at);
    if end == at {
        let rest = &expr[at..];
        let message = if rest.is_empty() {
            format!("expected a value after `{symbol}`")
        } else if rest.starts_with('-') {
            "the value cannot be negative".into()
        } else {
            format!("expected a number, found `{}`", head(rest))
        };
        return Err(fail(at, message, example));
    }
    if expr[end..].starts_with('.') {
        let fraction = digits(end + 1);
        if fraction == end + 1 {
            return Err(fail(
                end + 1,
                "expected digits after the decimal point".into(),
                "write e.g. `2.5`",
            ));
        }
        end = fraction;
    }
    let number: f64 = match expr[at..end].parse() {
        Ok(n) if f64::is_finite(n) => n,
        _ => return Err(fail(at, "the number is too large".into(), example)),
    };
    let unit_at = skip_spaces(expr, end);
    let unit_end = expr[unit_at..]
        .find(|c: char| !(c.is_alphabetic() || c == '/'))
        .map_or(expr.len(), |i| unit_at + i);
    let unit = &expr[unit_at..unit_end];
    let quantity = match unit {
        "" => Quantity::Number(number),
        "us" | "µs" => Quantity::Duration { us: number },
        "ms" => Quantity::Duration { us: number * 1e3 },
        "s" => Quantity::Duration { us: number * 1e6 },
        "m" => Quantity::Duration { us: number * 60e6 },
        "/s" => Quantity::Rate { per_s: number },
        u if u.starts_with('/') => {
            return Err(fail(unit_at, format!("unknown rate unit `{u}`"), "use /s"));
        }
        u => {
            return Err(fail(
                unit_at,
                format!("unknown unit `{u}`"),
                "use us, ms, s or m (durations) or /s (rates)",
            ));
        }
    };
    let tail = skip_spaces(expr, unit_end);
    if tail < expr.len() {
        return Err(fail(
            tail,
            format!("unexpected `{}` after the value", &expr[tail..]),
            "a threshold is one comparison, e.g. `< 800ms`",
        ));
    }
    Ok((op, quantity, value_at))
}

fn skip_spaces(text: &str, from: usize) -> usize {
    text[from..]
        .find(|c: char| !c.is_whitespace())
        .map_or(text.len(), |i| from + i)
}

/// The first word-ish piece of `text`, for messages (at most 12 chars).
fn head(text: &str) -> &str {
    let end = text
        .char_indices()
        .take(12)
        .find(|(i, c)| *i > 0 && c.is_whitespace())
        .map_or_else(
            || text.char_indices().nth(12).map_or(text.len(), |(i, _)| i),
            |(i, _)| i,
        );
    &text[..end]
}
