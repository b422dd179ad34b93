//! Latency percentiles over an HdrHistogram in microseconds (3 significant digits: a
//! reported percentile is within 0.1 % of the true value), the histogram itself in the
//! text form HdrHistogram's other implementations read ([`encode`], [`decode`]), the
//! percentile spectrum drawn from it ([`spectrum`]), and the exact nearest-rank p99
//! used for the small per-second groups.
//!
//! **The text form** is HdrHistogram's "V2 compressed" encoding (the Java
//! implementation's `encodeIntoCompressedByteBuffer`: a V2 histogram, DEFLATE-compressed
//! inside a cookie-tagged header) in standard base64, so it starts `HISTFAAA`. The Java,
//! Go, Python and JavaScript HdrHistograms decode it; `tests/histogram_interop.rs`
//! reads ours back with the Python package.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Percentiles of one latency distribution, in microseconds. All `None` when `count`
/// is 0: there is nothing to report, and 0 would read as "instant".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Percentiles {
    pub count: u64,
    pub p50_us: Option<u64>,
    pub p90_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub p999_us: Option<u64>,
    /// The exact largest value recorded (not rounded to a histogram bucket).
    pub max_us: Option<u64>,
    /// Every value recorded, as the HdrHistogram they were read from (microseconds, 3
    /// significant digits), in the V2 compressed base64 text form (see the module
    /// docs): what a comparison overlays, the spectrum chart draws and a merge adds.
    /// Absent when nothing was recorded, and in documents written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<String>,
}

/// Which percentile of [`Percentiles`] a threshold names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Pct {
    #[serde(rename = "p50")]
    P50,
    #[serde(rename = "p90")]
    P90,
    #[serde(rename = "p99")]
    P99,
    #[serde(rename = "p99.9")]
    P999,
    #[serde(rename = "max")]
    Max,
}

impl Pct {
    pub const ALL: [Pct; 5] = [Pct::P50, Pct::P90, Pct::P99, Pct::P999, Pct::Max];

    /// The name in threshold metrics (`p50`, `p90`, `p99`, `p99.9`, `max`).
    pub fn name(self) -> &'static str {
        match self {
            Pct::P50 => "p50",
            Pct::P90 => "p90",
            Pct::P99 => "p99",
            Pct::P999 => "p99.9",
            Pct::Max => "max",
        }
    }

    pub fn from_name(name: &str) -> Option<Pct> {
        Pct::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl Percentiles {
    pub fn get(&self, pct: Pct) -> Option<u64> {
        match pct {
            Pct::P50 => self.p50_us,
            Pct::P90 => self.p90_us,
            Pct::P99 => self.p99_us,
            Pct::P999 => self.p999_us,
            Pct::Max => self.max_us,
        }
    }
}

/// Collects latencies; [`Recorder::finish`] turns them into [`Percentiles`].
#[derive(Debug)]
pub struct Recorder {
    /// 32-bit counts: half the memory of 64-bit ones, and recording is bound by the
    /// cache misses on them (a history has far fewer than 4 G values per histogram);
    /// the encoding does not depend on the counts' width.
    histogram: Histogram<u32>,
    max: Option<u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            histogram: new_histogram(),
            max: None,
        }
    }

    pub fn record(&mut self, value_us: u64) {
        // `record` grows the auto-resizing histogram; only a value beyond any histogram's
        // reach (about 2^63) fails, and is then clamped to the largest trackable value.
        if self.histogram.record(value_us).is_err() {
            self.histogram.saturating_record(value_us);
        }
        self.max = Some(self.max.map_or(value_us, |m| m.max(value_us)));
    }

    pub fn finish(&self) -> Percentiles {
        percentiles_of(&self.histogram, self.max)
    }
}

/// An empty histogram of microseconds at 3 significant digits that grows to hold any
/// value recorded or added.
pub fn new_histogram<T: hdrhistogram::Counter>() -> Histogram<T> {
    // Auto-resizing: never fails for sigfig in 0..=5.
    Histogram::new(3).expect("3 significant digits is a valid precision")
}

/// The percentiles of `h` (empty when it is): each the highest value of the bucket
/// holding it, never above `max`, the exact largest value recorded (`None` when it is
/// not known, as for a sum of histograms of which only p99s were kept: then the
/// histogram's own largest value, a bucket's top).
pub fn percentiles_of<T: hdrhistogram::Counter>(h: &Histogram<T>, max: Option<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    let max = max.unwrap_or_else(|| h.max());
    let at = |q: f64| Some(value_at(h, q, max));
    Percentiles {
        count: h.len(),
        p50_us: at(0.50),
        p90_us: at(0.90),
        p99_us: at(0.99),
        p999_us: at(0.999),
        max_us: Some(max),
        histogram: encode(h).ok(),
    }
}

/// The value at quantile `q` of `h`: the highest value of the bucket holding it, never
/// above the exact maximum `max` (a bucket's top can be up to 0.1 % past it).
fn value_at<T: hdrhistogram::Counter>(h: &Histogram<T>, q: f64, max: u64) -> u64 {
    h.value_at_quantile(q).min(max)
}

/// A histogram's text form could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    #[error("a histogram is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("a histogram is not HdrHistogram's V2 (compressed) encoding: {0}")]
    Format(hdrhistogram::serialization::DeserializeError),
    #[error("a histogram could not be encoded: {0}")]
    Encode(hdrhistogram::serialization::V2DeflateSerializeError),
}

/// `h` in the V2 compressed base64 text form.
pub fn encode<T: hdrhistogram::Counter>(h: &Histogram<T>) -> Result<String, HistogramError> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .map_err(HistogramError::Encode)?;
    Ok(STANDARD.encode(bytes))
}

/// Reads the text form back (any V2 or V2 compressed histogram, from any
/// implementation).
pub fn decode(text: &str) -> Result<Histogram<u64>, HistogramError> {
    let bytes = STANDARD.decode(text.trim())?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(HistogramError::Format)
}

/// The quantiles of the percentile spectrum: p50 to p99.999, each step a halving or
/// fifth of the distance to 1, as HdrHistogram's percentile plots space them on the
/// `1 / (1 - p)` axis. The spectrum ends with the exact maximum.
pub const SPECTRUM_QUANTILES: [f64; 11] = [
    0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99995, 0.99999,
];

/// One point of a percentile spectrum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectrumPoint {
    /// The quantile (0.5 … 0.99999); `None` for the maximum.
    pub quantile: Option<f64>,
    pub value_us: u64,
}

/// The percentile spectrum of `p`: the value at each of [`SPECTRUM_QUANTILES`] read
/// from its histogram (by the rule [`Recorder::finish`] reads p50 … p99.9 with), then
/// the exact maximum. Empty without a histogram or without values; an error when the
/// histogram cannot be read.
pub fn spectrum(p: &Percentiles) -> Result<Vec<SpectrumPoint>, HistogramError> {
    let Some(text) = &p.histogram else {
        return Ok(Vec::new());
    };
    let h = decode(text)?;
    if h.is_empty() {
        return Ok(Vec::new());
    }
    let max = p.max_us.unwrap_or_else(|| h.max());
    let mut points: Vec<SpectrumPoint> = SPECTRUM_QUANTILES
        .iter()
        .map(|&q| SpectrumPoint {
            quantile: Some(q),
            value_us: value_at(&h, q, max),
        })
        .collect();
    points.push(SpectrumPoint {
        quantile: None,
        value_us: max,
    });
    Ok(points)
}

/// Exact nearest-rank 99th percentile of a small sample (sorts it in place).
pub fn p99_exact(values: &mut [u64]) -> Option<u64> {
    nearest_rank(values, 99)
}

/// Exact nearest-rank median of a small sample (sorts it in place).
pub fn p50_exact(values: &mut [u64]) -> Option<u64> {
    nearest_rank(values, 50)
}

/// Exact nearest-rank `percent`-th percentile (sorts `values` in place): the value of
/// rank `ceil(percent / 100 × n)`, 1-based. `None` for an empty sample.
fn nearest_rank(values: &mut [u64], percent: usize) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    let rank = (n * percent).div_ceil(100).clamp(1, n);
    Some(values[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_recorder_reports_nothing() {
        assert_eq!(Recorder::new().finish(), Percentiles::default());
    }

    #[test]
    fn percentiles_of_one_to_a_thousand() {
        let mut r = Recorder::new();
        for v in 1..=1000 {
            r.record(v);
        }
        r.record(10_000_000); // grows the histogram
        r.record(u64::MAX); // beyond any histogram: clamped, max stays exact
        let p = r.finish();
        assert_eq!(p.count, 1002);
        assert_eq!(p.p50_us, Some(501));
        assert_eq!(p.p99_us, Some(992));
        assert_eq!(p.max_us, Some(u64::MAX));
    }

    #[test]
    fn the_histogram_round_trips_through_its_text_form() {
        let mut r = Recorder::new();
        for v in 1..=1000 {
            r.record(v * 37);
        }
        let p = r.finish();
        let text = p.histogram.clone().expect("a histogram");
        assert!(text.starts_with("HISTFAAA"), "{text}");
        let h = decode(&text).expect("decodes");
        assert_eq!(h.len(), 1000);
        assert_eq!(value_at(&h, 0.99, 37_000), p.p99_us.expect("p99"));
        let points = spectrum(&p).expect("spectrum");
        assert_eq!(points.len(), SPECTRUM_QUANTILES.len() + 1);
        assert_eq!(points[0].value_us, p.p50_us.expect("p50"));
        assert_eq!(points.last().map(|x| x.value_us), Some(37_000));
        assert!(points.windows(2).all(|w| w[0].value_us <= w[1].value_us));
    }

    #[test]
    fn a_bad_histogram_is_an_error_not_a_panic() {
        assert!(matches!(
            decode("not base64!"),
            Err(HistogramError::Base64(_))
        ));
        assert!(matches!(decode("SElTVA=="), Err(HistogramError::Format(_))));
        let p = Percentiles {
            histogram: Some("HISTFAAAAAA=".into()),
            ..Percentiles::default()
        };
        assert!(spectrum(&p).is_err());
        assert_eq!(spectrum(&Percentiles::default()).expect("none"), vec![]);
    }

    #[test]
    fn exact_p99_uses_the_nearest_rank() {
        assert_eq!(p99_exact(&mut []), None);
        assert_eq!(p99_exact(&mut [7]), Some(7));
        let mut values: Vec<u64> = (1..=200).rev().collect();
        assert_eq!(p99_exact(&mut values), Some(198));
    }

    #[test]
    fn exact_median_uses_the_nearest_rank() {
        assert_eq!(p50_exact(&mut []), None);
        assert_eq!(p50_exact(&mut [7]), Some(7));
        assert_eq!(p50_exact(&mut [4, 1, 3, 2]), Some(2));
        assert_eq!(p50_exact(&mut [5, 1, 3, 2, 4]), Some(3));
    }
}
