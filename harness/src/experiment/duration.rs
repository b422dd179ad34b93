//! Durations as experiment files write them: a non-negative decimal number glued to a
//! unit, `250us`, `800ms`, `1.5s`, `2m`, `1h` (and `ns`, so that [`format()`] round-trips).

use std::time::Duration;

/// Why a duration string was rejected; [`DurationError::hint`] says how to write it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("durations cannot be negative")]
    Negative,
    #[error("`{0}` has no unit")]
    MissingUnit(String),
    #[error("`{text}` has a space between the number and the unit")]
    Space {
        text: String,
        unit: Option<&'static str>,
    },
    #[error("unknown unit `{unit}` in `{text}`")]
    UnknownUnit {
        text: String,
        unit: String,
        meant: Option<&'static str>,
    },
    #[error("`{0}` does not start with a number")]
    NotANumber(String),
    #[error("`{0}` is too long a duration")]
    TooLarge(String),
}

impl DurationError {
    /// How to write it instead, e.g. `write "10s" (units: us, ms, s, m, h)`.
    pub fn hint(&self) -> String {
        const UNITS: &str = "units: us, ms, s, m, h";
        match self {
            DurationError::Empty | DurationError::NotANumber(_) => {
                format!("write a number and a unit such as \"800ms\" or \"1.5s\" ({UNITS})")
            }
            DurationError::Negative => "use a value of 0s or more".to_owned(),
            DurationError::MissingUnit(number) => format!("write \"{number}s\" ({UNITS})"),
            DurationError::Space { text, unit } => {
                let number = text.split_whitespace().next().unwrap_or("10");
                format!("write \"{number}{}\" ({UNITS})", unit.unwrap_or("s"))
            }
            DurationError::UnknownUnit { text, unit, meant } => {
                let number = &text[..text.len() - unit.len()];
                format!("write \"{number}{}\" ({UNITS})", meant.unwrap_or("s"))
            }
            DurationError::TooLarge(_) => "durations go up to a million hours".to_owned(),
        }
    }
}

const NANOS: [(&str, u128); 6] = [
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Spellings people reach for, and the unit they mean.
const ALIASES: [(&str, &str); 19] = [
    ("µs", "us"),
    ("μs", "us"),
    ("usec", "us"),
    ("micros", "us"),
    ("msec", "ms"),
    ("millis", "ms"),
    ("sec", "s"),
    ("secs", "s"),
    ("second", "s"),
    ("seconds", "s"),
    ("S", "s"),
    ("min", "m"),
    ("mins", "m"),
    ("minute", "m"),
    ("minutes", "m"),
    ("hr", "h"),
    ("hrs", "h"),
    ("hour", "h"),
    ("hours", "h"),
];

/// The largest duration accepted: a million hours, far beyond any experiment, small
/// enough that sums of a few durations cannot overflow.
const MAX_NANOS: u128 = 1_000_000 * 3_600_000_000_000;

/// Parses `250us`, `800ms`, `1.5s`, `2m`, `1h`, `0s`. Fractions are exact to the nanosecond
/// (more digits are rounded down).
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    if trimmed.starts_with('-') {
        return Err(DurationError::Negative);
    }
    let number_end = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(trimmed.len());
    let (number, rest) = trimmed.split_at(number_end);
    let nanos_per_unit = |unit: &str| NANOS.iter().find(|(u, _)| *u == unit).map(|(_, n)| *n);
    let alias = |unit: &str| {
        ALIASES
            .iter()
            .find(|(a, _)| a.eq_ignore_ascii_case(unit))
            .map(|(_, u)| *u)
    };
    let (whole, fraction) =
        split_number(number).ok_or_else(|| DurationError::NotANumber(trimmed.to_owned()))?;
    if rest.is_empty() {
        return Err(DurationError::MissingUnit(number.to_owned()));
    }
    if rest.starts_with(char::is_whitespace) {
        let unit = rest.trim();
        let unit = NANOS
            .iter()
            .map(|(u, _)| *u)
            .find(|u| *u == unit)
            .or_else(|| alias(unit));
        return Err(DurationError::Space {
            text: trimmed.to_owned(),
            unit,
        });
    }
    let Some(per_unit) = nanos_per_unit(rest) else {
        return Err(DurationError::UnknownUnit {
            text: trimmed.to_owned(),
            unit: rest.to_owned(),
            meant: alias(rest),
        });
    };
    let too_large = || DurationError::TooLarge(trimmed.to_owned());
    let whole_nanos = whole.checked_mul(per_unit).ok_or_else(too_large)?;
    let fraction_nanos = fraction_nanos(fraction, per_unit);
    let total = whole_nanos
        .checked_add(fraction_nanos)
        .ok_or_else(too_large)?;
    if total > MAX_NANOS {
        return Err(too_large());
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| too_large())?;
    let nanos = u32::try_from(total % 1_000_000_000).map_err(|_| too_large())?;
    Ok(Duration::new(secs, nanos))
}

/// `"1.5"` → `(1, "5")`; `None` unless it is digits with at most one dot and a digit
/// on at least one side of it. Underscores between digits are allowed, as in TOML numbers.
fn split_number(number: &str) -> Option<(u128, &str)> {
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    if (whole.is_empty() && fraction.is_empty())
        || fraction.contains('.')
        || fraction.contains('_')
        || whole.starts_with('_')
        || whole.ends_with('_')
    {
        return None;
    }
    let digits: String = whole.chars().filter(|c| *c != '_').collect();
    let whole = if digits.is_empty() {
        0
    } else {
        // Too many digits to fit is "too large", reported by the caller's range check.
        digits.parse::<u128>().unwrap_or(u128::MAX)
    };
    Some((whole, fraction))
}

/// The nanoseconds that the decimal `fraction` (digits after the dot) of one unit adds.
fn fraction_nanos(fraction: &str, per_unit: u128) -> u128 {
    let mut nanos = 0u128;
    let mut scale = per_unit;
    for digit in fraction.bytes().map(|b| u128::from(b - b'0')) {
        if scale < 10 {
            break;
        }
        scale /= 10;
        nanos += digit * scale;
    }
    nanos
}

/// The shortest exact spelling in the largest whole unit: `1h`, `90s`, `1500ms`, `0s`.
pub fn format(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    for (unit, per_unit) in NANOS.iter().rev() {
        if nanos.is_multiple_of(*per_unit) {
            return format!("{}{unit}", nanos / per_unit);
        }
    }
    format!("{nanos}ns")
}

/// For `#[serde(serialize_with = ...)]`: durations appear in results.json as they are
/// written in experiment files.
pub(crate) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("800ms"), Ok(Duration::from_millis(800)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        assert_eq!(parse(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1_000ms"), Ok(Duration::from_secs(1)));
    }

    #[test]
    fn rejects_with_a_hint() {
        let e = parse("10 sec").unwrap_err();
        assert!(matches!(e, DurationError::Space { .. }), "{e:?}");
        assert_eq!(e.hint(), "write \"10s\" (units: us, ms, s, m, h)");
        assert_eq!(parse("-1s"), Err(DurationError::Negative));
        assert_eq!(parse("10"), Err(DurationError::MissingUnit("10".into())));
        let e = parse("10secs").unwrap_err();
        assert_eq!(e.hint(), "write \"10s\" (units: us, ms, s, m, h)");
        assert!(matches!(parse("s"), Err(DurationError::NotANumber(_))));
        assert!(matches!(parse("1.2.3s"), Err(DurationError::NotANumber(_))));
        assert!(matches!(parse("."), Err(DurationError::NotANumber(_))));
        assert!(matches!(
            parse("99999999999999999999999999999999999999999h"),
            Err(DurationError::TooLarge(_))
        ));
        assert!(matches!(parse("2000000h"), Err(DurationError::TooLarge(_))));
    }

    #[test]
    fn format_round_trips() {
        for text in ["0s", "1h", "90s", "1500ms", "250us", "7ns", "2m"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
        assert_eq!(format(Duration::from_secs(120)), "2m");
    }
}
