//! Exponential backoff with jitter, and an async retry loop built on it.
//!
//! [`Backoff::delay`] is a pure function of the attempt number and a caller-provided RNG, so a
//! seeded `StdRng` gives the same schedule on every run. [`retry_with_sleep`] takes the sleep
//! function as a parameter (tests pass one that records delays); [`retry`] uses
//! `tokio::time::sleep`.

use std::future::Future;
use std::num::NonZeroU32;
use std::time::Duration;

use rand::Rng;

/// How a computed delay is randomised, so that many clients failing together do not retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// No randomness: the delay is exactly the exponential value (capped at `max`).
    None,
    /// Uniform in `[0, computed]` ("full jitter"): best at spreading load, may retry at once.
    #[default]
    Full,
    /// `computed / 2 + uniform[0, computed / 2]` ("equal jitter"): never less than half the delay.
    Equal,
}

/// An exponential backoff schedule: `base * multiplier^(attempt - 1)`, capped at `max`, jittered.
///
/// The fields are public so configuration can build one directly; [`Backoff::validate`] reports
/// nonsensical values, and [`Backoff::delay`] tolerates them anyway (it never panics).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay after the first failed attempt, before jitter.
    pub base: Duration,
    /// Upper bound for any delay, before and after jitter.
    pub max: Duration,
    /// Growth factor per attempt; values below 1, NaN or infinite are treated as 1.
    pub multiplier: f64,
    /// How the computed delay is randomised.
    pub jitter: Jitter,
    /// Total attempts allowed, the first one included: `1` means "never retry".
    pub max_attempts: NonZeroU32,
}

/// Why a [`Backoff`] configuration is rejected by [`Backoff::validate`].
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum BackoffError {
    /// The multiplier is NaN, infinite or below 1, so delays would not grow.
    #[error("backoff multiplier must be a finite number >= 1, got {0}")]
    BadMultiplier(f64),
    /// `base` is larger than `max`, so every delay would be `max`.
    #[error("backoff base ({base_ms}ms) is larger than max ({max_ms}ms)")]
    BaseAboveMax {
        /// The configured base, in milliseconds.
        base_ms: u128,
        /// The configured maximum, in milliseconds.
        max_ms: u128,
    },
}

impl Backoff {
    /// Checks that the configuration makes sense; call it where configuration is parsed.
    pub fn validate(&self) -> Result<(), BackoffError> {
        if !self.multiplier.is_finite() || self.multiplier < 1.0 {
            return Err(BackoffError::BadMultiplier(self.multiplier));
        }
        if self.base > self.max {
            return Err(BackoffError::BaseAboveMax {
                base_ms: self.base.as_millis(),
                max_ms: self.max.as_millis(),
            });
        }
        Ok(())
    }

    /// The delay after failed attempt `attempt` before jitter: `base * multiplier^(attempt-1)`,
    /// capped at `max`. Attempt `0` is treated as `1`. Non-decreasing in `attempt`.
    pub fn delay_without_jitter(&self, attempt: u32) -> Duration {
        let multiplier = if self.multiplier.is_finite() && self.multiplier >= 1.0 {
            self.multiplier
        } else {
            1.0
        };
        let exponent = f64::from(attempt.saturating_sub(1));
        let secs = self.base.as_secs_f64() * multiplier.powf(exponent);
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            return self.max;
        }
        Duration::try_from_secs_f64(secs).map_or(self.max, |d| d.min(self.max))
    }

    /// The wait before the next attempt, given that attempt number `attempt` (1-based) has just
    /// failed; `None` when `attempt >= max_attempts`, i.e. no attempts are left.
    ///
    /// The result never exceeds `max`. Randomness comes only from `rng`, so the same seed yields
    /// the same delays.
    pub fn delay<R: Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> Option<Duration> {
        if attempt >= self.max_attempts.get() {
            return None;
        }
        let computed = self.delay_without_jitter(attempt);
        Some(match self.jitter {
            Jitter::None => computed,
            Jitter::Full => uniform_up_to(computed, rng),
            Jitter::Equal => {
                let half = computed / 2;
                // Bound `computed - half` (not `half`) lets odd nanosecond counts reach `computed`.
                half + uniform_up_to(computed - half, rng)
            }
        })
    }
}

/// A uniformly random duration in `[0, upper]` (nanosecond resolution, saturating at ~584 years).
fn uniform_up_to<R: Rng + ?Sized>(upper: Duration, rng: &mut R) -> Duration {
    let nanos = u64::try_from(upper.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.random_range(0..=nanos)).min(upper)
}

/// Whether a failed operation is worth trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retryable {
    /// A transient failure (timeout, connection reset, 503): try again after a delay.
    Yes,
    /// A permanent failure (validation error, 4xx): retrying cannot help.
    No,
}

/// Why [`retry`] gave up. Both variants carry the number of attempts made and the last error.
#[derive(Debug, thiserror::Error)]
pub enum RetryError<E> {
    /// Every allowed attempt failed with a retryable error.
    #[error("gave up after {attempts} attempts: {last}")]
    Exhausted {
        /// Attempts made, equal to the backoff's `max_attempts`.
        attempts: u32,
        /// The error of the final attempt.
        #[source]
        last: E,
    },
    /// An attempt failed with an error classified as [`Retryable::No`].
    #[error("permanent failure on attempt {attempts}: {error}")]
    Permanent {
        /// Attempts made, the failing one included.
        attempts: u32,
        /// The permanent error.
        #[source]
        error: E,
    },
}

impl<E> RetryError<E> {
    /// How many attempts were made before giving up (at least 1).
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Exhausted { attempts, .. } | Self::Permanent { attempts, .. } => *attempts,
        }
    }

    /// The last error seen.
    pub fn last_error(&self) -> &E {
        match self {
            Self::Exhausted { last, .. } => last,
            Self::Permanent { error, .. } => error,
        }
    }

    /// Consumes the error, returning the last underlying error.
    pub fn into_last_error(self) -> E {
        match self {
            Self::Exhausted { last, .. } => last,
            Self::Permanent { error, .. } => error,
        }
    }
}

/// Runs `op` until it succeeds, fails permanently, or the backoff runs out of attempts,
/// sleeping with `tokio::time::sleep` between attempts.
///
/// `op` receives the 1-based attempt number, so callers can count retries on success too.
pub async fn retry<T, E, R, C, Op, Fut>(
    backoff: &Backoff,
    rng: &mut R,
    classify: C,
    op: Op,
) -> Result<T, RetryError<E>>
where
    R: Rng + ?Sized,
    C: Fn(&E) -> Retryable,
    Op: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry_with_sleep(backoff, rng, classify, tokio::time::sleep, op).await
}

/// [`retry`] with the sleep function supplied by the caller (tests pass one that records delays).
pub async fn retry_with_sleep<T, E, R, C, S, SleepFut, Op, Fut>(
    backoff: &Backoff,
    rng: &mut R,
    classify: C,
    mut sleep: S,
    mut op: Op,
) -> Result<T, RetryError<E>>
where
    R: Rng + ?Sized,
    C: Fn(&E) -> Retryable,
    S: FnMut(Duration) -> SleepFut,
    SleepFut: Future<Output = ()>,
    Op: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt: u32 = 1;
    loop {
        let error = match op(attempt).await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if classify(&error) == Retryable::No {
            return Err(RetryError::Permanent {
                attempts: attempt,
                error,
            });
        }
        let Some(delay) = backoff.delay(attempt, rng) else {
            return Err(RetryError::Exhausted {
                attempts: attempt,
                last: error,
            });
        };
        sleep(delay).await;
        attempt = attempt.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn backoff(
        base_ms: u64,
        max_ms: u64,
        multiplier: f64,
        jitter: Jitter,
        attempts: u32,
    ) -> Backoff {
        Backoff {
            base: Duration::from_millis(base_ms),
            max: Duration::from_millis(max_ms),
            multiplier,
            jitter,
            max_attempts: NonZeroU32::new(attempts).unwrap_or(NonZeroU32::MIN),
        }
    }

    fn jitter() -> impl Strategy<Value = Jitter> {
        prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal)]
    }

    #[test]
    fn doubles_then_caps_without_jitter() {
        let b = backoff(100, 1_000, 2.0, Jitter::None, 7);
        let mut rng = StdRng::seed_from_u64(1);
        let delays: Vec<u128> = (1..=7)
            .map_while(|a| b.delay(a, &mut rng))
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1_000, 1_000]);
    }

    #[test]
    fn one_attempt_means_no_retry() {
        let b = backoff(100, 1_000, 2.0, Jitter::None, 1);
        assert_eq!(b.delay(1, &mut StdRng::seed_from_u64(1)), None);
    }

    #[test]
    fn validate_rejects_nonsense() {
        assert!(backoff(100, 1_000, 2.0, Jitter::Full, 3).validate().is_ok());
        assert!(matches!(
            backoff(100, 1_000, 0.5, Jitter::Full, 3).validate(),
            Err(BackoffError::BadMultiplier(_))
        ));
        assert!(
            backoff(100, 1_000, f64::NAN, Jitter::Full, 3)
                .validate()
                .is_err()
        );
        assert_eq!(
            backoff(2_000, 1_000, 2.0, Jitter::Full, 3).validate(),
            Err(BackoffError::BaseAboveMax {
                base_ms: 2_000,
                max_ms: 1_000
            })
        );
    }

    #[test]
    fn extreme_values_do_not_panic() {
        let mut rng = StdRng::seed_from_u64(7);
        for multiplier in [f64::NAN, f64::INFINITY, -3.0, 0.0, 1e308] {
            let b = Backoff {
                base: Duration::MAX,
                max: Duration::MAX,
                multiplier,
                jitter: Jitter::Equal,
                max_attempts: NonZeroU32::MAX,
            };
            for attempt in [0, 1, 2, 1_000, u32::MAX - 1] {
                let _ = b.delay(attempt, &mut rng);
            }
        }
    }

    #[tokio::test]
    async fn retry_reports_attempts_and_delays() {
        let b = backoff(10, 1_000, 2.0, Jitter::None, 4);
        let mut slept = Vec::new();
        let result: Result<(), _> = retry_with_sleep(
            &b,
            &mut StdRng::seed_from_u64(3),
            |_: &&str| Retryable::Yes,
            |d| {
                slept.push(d.as_millis());
                std::future::ready(())
            },
            |_| std::future::ready(Err("boom")),
        )
        .await;
        let err = result.expect_err("every attempt fails");
        assert!(matches!(
            err,
            RetryError::Exhausted {
                attempts: 4,
                last: "boom"
            }
        ));
        assert_eq!(slept, vec![10, 20, 40]);
    }

    #[tokio::test]
    async fn retry_stops_on_permanent_error_and_on_success() {
        let b = backoff(0, 0, 2.0, Jitter::Full, 10);
        let mut rng = StdRng::seed_from_u64(3);
        let permanent: Result<(), _> = retry(
            &b,
            &mut rng,
            |e: &u32| {
                if *e == 2 {
                    Retryable::No
                } else {
                    Retryable::Yes
                }
            },
            |attempt| std::future::ready(Err(attempt)),
        )
        .await;
        assert_eq!(
            permanent.map_err(|e| (e.attempts(), e.into_last_error())),
            Err((2, 2))
        );

        let ok = retry(
            &b,
            &mut rng,
            |_: &u32| Retryable::Yes,
            |attempt| {
                std::future::ready(if attempt < 3 {
                    Err(attempt)
                } else {
                    Ok(attempt)
                })
            },
        )
        .await;
        assert_eq!(ok.ok(), Some(3));
    }

    proptest! {
        #[test]
        fn delays_never_exceed_max(
            base in 0u64..10_000, max in 0u64..10_000, multiplier in 0.0f64..10.0,
            jitter in jitter(), attempts in 1u32..64, seed: u64,
        ) {
            let b = backoff(base, max, multiplier, jitter, attempts);
            let mut rng = StdRng::seed_from_u64(seed);
            for attempt in 0..attempts {
                if let Some(d) = b.delay(attempt, &mut rng) {
                    prop_assert!(d <= b.max, "attempt {attempt}: {d:?} > {:?}", b.max);
                    prop_assert!(d <= b.delay_without_jitter(attempt));
                    if jitter == Jitter::Equal {
                        prop_assert!(d >= b.delay_without_jitter(attempt) / 2);
                    }
                }
            }
        }

        #[test]
        fn non_decreasing_without_jitter(
            base in 0u64..10_000, max in 0u64..100_000, multiplier in 1.0f64..10.0,
            attempts in 1u32..200,
        ) {
            let b = backoff(base, max, multiplier, Jitter::None, attempts);
            let mut rng = StdRng::seed_from_u64(0);
            let delays: Vec<Duration> = (1..).map_while(|a| b.delay(a, &mut rng)).collect();
            prop_assert!(delays.windows(2).all(|w| w[0] <= w[1]), "{delays:?}");
        }

        #[test]
        fn attempts_are_bounded(attempts in 1u32..1_000, jitter in jitter(), seed: u64) {
            let b = backoff(1, 50, 1.5, jitter, attempts);
            let mut rng = StdRng::seed_from_u64(seed);
            let retries = (1..=u32::MAX).map_while(|a| b.delay(a, &mut rng)).count();
            prop_assert_eq!(retries, attempts as usize - 1);
            prop_assert_eq!(b.delay(attempts, &mut rng), None);
            prop_assert_eq!(b.delay(u32::MAX, &mut rng), None);
        }

        #[test]
        fn same_seed_same_delays(seed: u64, jitter in jitter(), attempts in 1u32..50) {
            let b = backoff(3, 5_000, 2.0, jitter, attempts);
            let run = |seed| {
                let mut rng = StdRng::seed_from_u64(seed);
                (1..).map_while(|a| b.delay(a, &mut rng)).collect::<Vec<_>>()
            };
            prop_assert_eq!(run(seed), run(seed));
        }
    }
}
