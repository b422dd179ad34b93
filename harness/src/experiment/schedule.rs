//! Open-loop load as data: orders per second over the load phase, and each order's
//! intended send time. Pure functions of the schedule and the phase's length.
//!
//! Order `k` (from 0) is intended at the instant `t` from which the integral of the
//! rate over `[0, t]` exceeds `k`: the first order goes at 0, a constant 300/s sends
//! order `k` at `k / 300` s, and a step at rate 0 sends nothing. Latency is measured from these instants, never from when
//! a busy sender got round to it.

use std::time::Duration;

use serde::Serialize;

use super::duration;

/// Orders per second over the load phase. Rates are finite and non-negative (checked
/// when the file is read; the maths treats anything else as 0).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// `rate = 300`: the same rate throughout (positive).
    Constant(f64),
    /// `schedule = [{ for = "10s", rate = 100 }, ...]`: steps in order; after the last
    /// one its rate holds until the load phase ends.
    Steps(Vec<Step>),
    /// `ramp = { from = 50, to = 400 }`: linear from `from` to `to` over `over` (the
    /// load phase), then `to`.
    Ramp {
        from: f64,
        to: f64,
        #[serde(serialize_with = "duration::serialize")]
        over: Duration,
    },
}

/// One step of a [`Schedule::Steps`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Step {
    /// `for` in the file.
    #[serde(rename = "for", serialize_with = "duration::serialize")]
    pub lasting: Duration,
    pub rate: f64,
}

/// A piece of the rate curve: linear from `r0` to `r1` over `[start, start + len)`. The
/// last segment has an infinite length and a constant rate.
#[derive(Debug, Clone, Copy)]
struct Segment {
    start: f64,
    len: f64,
    r0: f64,
    r1: f64,
}

impl Segment {
    fn slope(&self) -> f64 {
        if self.len.is_finite() {
            (self.r1 - self.r0) / self.len
        } else {
            0.0
        }
    }

    /// Orders in the first `tau` seconds of the segment.
    fn integral(&self, tau: f64) -> f64 {
        let tau = tau.clamp(0.0, self.len);
        if tau == 0.0 {
            return 0.0;
        }
        self.r0 * tau + self.slope() * tau * tau / 2.0
    }

    /// The first `tau` at which the segment's integral reaches `x` (0 ≤ x ≤ its total).
    fn inverse(&self, x: f64) -> f64 {
        if x <= 0.0 {
            return 0.0;
        }
        let a = self.slope();
        // 2x / (r0 + sqrt(r0² + 2ax)) solves r0·τ + a·τ²/2 = x without cancellation.
        let root = (self.r0 * self.r0 + 2.0 * a * x).max(0.0).sqrt();
        let denominator = self.r0 + root;
        if denominator <= 0.0 {
            return self.len;
        }
        (2.0 * x / denominator).min(self.len)
    }
}

fn sane(rate: f64) -> f64 {
    if rate.is_finite() { rate.max(0.0) } else { 0.0 }
}

impl Schedule {
    fn segments(&self) -> Vec<Segment> {
        let hold = |start: f64, rate: f64| Segment {
            start,
            len: f64::INFINITY,
            r0: sane(rate),
            r1: sane(rate),
        };
        match self {
            Schedule::Constant(rate) => vec![hold(0.0, *rate)],
            Schedule::Steps(steps) => {
                let mut segments = Vec::with_capacity(steps.len() + 1);
                let mut start = 0.0;
                for step in steps.iter().filter(|s| !s.lasting.is_zero()) {
                    let len = step.lasting.as_secs_f64();
                    let rate = sane(step.rate);
                    segments.push(Segment {
                        start,
                        len,
                        r0: rate,
                        r1: rate,
                    });
                    start += len;
                }
                segments.push(hold(start, steps.last().map_or(0.0, |s| s.rate)));
                segments
            }
            Schedule::Ramp { from, to, over } if !over.is_zero() => vec![
                Segment {
                    start: 0.0,
                    len: over.as_secs_f64(),
                    r0: sane(*from),
                    r1: sane(*to),
                },
                hold(over.as_secs_f64(), *to),
            ],
            Schedule::Ramp { to, .. } => vec![hold(0.0, *to)],
        }
    }

    /// Orders per second at offset `t` into the load phase.
    pub fn rate_at(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        let segments = self.segments();
        let segment = segments
            .iter()
            .find(|s| t < s.start + s.len)
            .or(segments.last());
        match segment {
            Some(s) if s.len.is_finite() => s.r0 + (s.r1 - s.r0) * ((t - s.start) / s.len),
            Some(s) => s.r0,
            None => 0.0,
        }
    }

    /// The expected number of orders in `[0, t)`: the integral of the rate.
    pub fn integral(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        self.segments()
            .iter()
            .take_while(|s| s.start < t)
            .map(|s| s.integral(t - s.start))
            .sum()
    }

    /// How many orders a load phase of `duration` sends: the integral rounded up, as
    /// orders go out as the integral passes 0, 1, 2, ... (a hair of floating-point error is
    /// forgiven, so 300/s for 60s is 18000, not 18001).
    pub fn total_orders(&self, duration: Duration) -> u64 {
        let integral = self.integral(duration);
        let forgiven = integral - 1e-9 * integral.max(1.0);
        // Saturating float-to-int conversion: absurd rates give u64::MAX, not a panic.
        forgiven.ceil().max(0.0) as u64
    }

    /// The `total_orders(duration)` intended send offsets, in order, all within
    /// `[0, duration)`.
    pub fn intended_times(&self, duration: Duration) -> impl Iterator<Item = Duration> + use<> {
        IntendedTimes {
            segments: self.segments(),
            segment: 0,
            before_segment: 0.0,
            next: 0,
            total: self.total_orders(duration),
            last: duration.saturating_sub(Duration::from_nanos(1)),
            previous: Duration::ZERO,
        }
    }

    /// The summed length of the steps, for a step schedule.
    pub fn steps_length(&self) -> Option<Duration> {
        match self {
            Schedule::Steps(steps) => Some(
                steps
                    .iter()
                    .fold(Duration::ZERO, |sum, s| sum.saturating_add(s.lasting)),
            ),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct IntendedTimes {
    segments: Vec<Segment>,
    segment: usize,
    /// Orders due before the current segment starts.
    before_segment: f64,
    next: u64,
    total: u64,
    /// The latest offset handed out: just before the end of the load phase.
    last: Duration,
    previous: Duration,
}

impl Iterator for IntendedTimes {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.next >= self.total {
            return None;
        }
        let target = self.next as f64;
        self.next += 1;
        while self.segment + 1 < self.segments.len() {
            let current = self.segments[self.segment];
            let full = current.integral(current.len);
            if target < self.before_segment + full {
                break;
            }
            self.before_segment += full;
            self.segment += 1;
        }
        let segment = self.segments[self.segment];
        let reachable = segment.len.is_finite() || segment.r0 > 0.0;
        let t = if reachable {
            segment.start + segment.inverse(target - self.before_segment)
        } else {
            f64::INFINITY
        };
        let t = Duration::try_from_secs_f64(t)
            .unwrap_or(self.last)
            .clamp(self.previous, self.last.max(self.previous));
        self.previous = t;
        Some(t)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.total - self.next).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn constant_rate() {
        let s = Schedule::Constant(300.0);
        assert_eq!(s.rate_at(secs(12.0)), 300.0);
        assert_eq!(s.total_orders(secs(60.0)), 18_000);
        let times: Vec<_> = s.intended_times(secs(0.01)).collect();
        assert_eq!(times.len(), 3);
        assert_eq!(times[0], Duration::ZERO);
        assert!((times[1].as_secs_f64() - 1.0 / 300.0).abs() < 1e-9);
    }

    #[test]
    fn steps_hold_the_last_rate() {
        let s = Schedule::Steps(vec![
            Step {
                lasting: secs(10.0),
                rate: 100.0,
            },
            Step {
                lasting: secs(20.0),
                rate: 300.0,
            },
        ]);
        assert_eq!(s.rate_at(secs(5.0)), 100.0);
        assert_eq!(s.rate_at(secs(10.0)), 300.0);
        assert_eq!(s.rate_at(secs(99.0)), 300.0);
        assert_eq!(s.total_orders(secs(30.0)), 7_000);
        assert_eq!(s.total_orders(secs(40.0)), 10_000);
        assert_eq!(s.steps_length(), Some(secs(30.0)));
        let times: Vec<_> = s.intended_times(secs(30.0)).collect();
        assert_eq!(times.iter().filter(|t| **t < secs(10.0)).count(), 1_000);
    }

    #[test]
    fn ramp_is_linear_then_flat() {
        let s = Schedule::Ramp {
            from: 0.0,
            to: 100.0,
            over: secs(10.0),
        };
        assert_eq!(s.rate_at(secs(5.0)), 50.0);
        assert_eq!(s.rate_at(secs(20.0)), 100.0);
        assert_eq!(s.total_orders(secs(10.0)), 500);
        let times: Vec<_> = s.intended_times(secs(10.0)).collect();
        assert_eq!(times.len(), 500);
        // Half the area of the triangle is reached at t = 10/√2.
        let t = times[250].as_secs_f64();
        assert!((t - 10.0 / 2f64.sqrt()).abs() < 1e-6, "{t}");
    }

    #[test]
    fn a_quiet_step_sends_nothing() {
        let s = Schedule::Steps(vec![
            Step {
                lasting: secs(1.0),
                rate: 10.0,
            },
            Step {
                lasting: secs(1.0),
                rate: 0.0,
            },
            Step {
                lasting: secs(1.0),
                rate: 10.0,
            },
        ]);
        let times: Vec<_> = s.intended_times(secs(3.0)).collect();
        assert_eq!(times.len(), 20);
        assert!(times.iter().all(|t| *t < secs(1.0) || *t >= secs(2.0)));
    }
}
