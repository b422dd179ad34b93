//! Tests for the circuit breaker: literal sequences, then properties over random sequences.

use super::*;
use proptest::prelude::*;

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

fn config(threshold: u32, open_ms: u64, probes: u32) -> BreakerConfig {
    BreakerConfig {
        failure_threshold: nz(threshold),
        open_for: Duration::from_millis(open_ms),
        half_open_probes: nz(probes),
        failure_ratio: None,
    }
}

/// A clock for tests: milliseconds since an arbitrary origin.
struct Clock(Instant);

impl Clock {
    fn new() -> Self {
        Self(Instant::now())
    }
    fn at(&self, ms: u64) -> Instant {
        self.0 + Duration::from_millis(ms)
    }
}

fn fail(b: &mut CircuitBreaker, now: Instant) {
    let permit = b.allow(now).expect("call should be allowed");
    b.on_failure(permit, now);
}

fn succeed(b: &mut CircuitBreaker, now: Instant) {
    let permit = b.allow(now).expect("call should be allowed");
    b.on_success(permit, now);
}

#[test]
fn opens_after_consecutive_failures_only() {
    let t = Clock::new();
    let mut b = CircuitBreaker::new(config(3, 100, 1));
    fail(&mut b, t.at(0));
    fail(&mut b, t.at(1));
    succeed(&mut b, t.at(2)); // resets the streak
    fail(&mut b, t.at(3));
    fail(&mut b, t.at(4));
    assert_eq!(b.state(t.at(4)), State::Closed);
    fail(&mut b, t.at(5));
    assert_eq!(b.state(t.at(5)), State::Open);
    assert_eq!(
        b.transitions(),
        &[Transition {
            from: State::Closed,
            to: State::Open,
            at: t.at(5)
        }]
    );
}

#[test]
fn open_rejects_until_open_for_then_probes() {
    let t = Clock::new();
    let mut b = CircuitBreaker::new(config(1, 100, 2));
    fail(&mut b, t.at(0));
    assert_eq!(
        b.allow(t.at(40)).err(),
        Some(Rejected::Open {
            retry_after: Duration::from_millis(60)
        })
    );
    assert_eq!(b.state(t.at(99)), State::Open);
    assert_eq!(b.state(t.at(100)), State::HalfOpen);
    // Noticed late, but stamped when open_for elapsed.
    let p1 = b.allow(t.at(150)).expect("first probe");
    let p2 = b.allow(t.at(151)).expect("second probe");
    assert_eq!(
        b.allow(t.at(152)).err(),
        Some(Rejected::ProbesInFlight { probes: 2 })
    );
    assert_eq!(
        b.transitions()[1],
        Transition {
            from: State::Open,
            to: State::HalfOpen,
            at: t.at(100)
        }
    );
    b.on_success(p1, t.at(160));
    assert_eq!(b.state(t.at(160)), State::Closed);
    b.on_failure(p2, t.at(161)); // a probe of the previous generation: counted, ignored
    assert_eq!(b.state(t.at(161)), State::Closed);
    let stats = b.stats();
    assert_eq!(
        (stats.allowed, stats.rejected, stats.stale_outcomes),
        (3, 2, 1)
    );
    assert_eq!(
        (stats.successes, stats.failures, stats.transitions),
        (1, 2, 3)
    );
}

#[test]
fn failed_probe_reopens() {
    let t = Clock::new();
    let mut b = CircuitBreaker::new(config(1, 100, 1));
    fail(&mut b, t.at(0));
    fail(&mut b, t.at(100));
    assert_eq!(b.state(t.at(100)), State::Open);
    assert_eq!(b.state(t.at(199)), State::Open);
    assert_eq!(b.state(t.at(200)), State::HalfOpen);
    let drained = b.drain_transitions();
    let path: Vec<_> = drained.iter().map(|tr| (tr.from, tr.to)).collect();
    assert_eq!(
        path,
        vec![
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Open)
        ]
    );
    assert!(b.transitions().is_empty());
}

#[test]
fn stale_closed_era_success_does_not_close_half_open() {
    let t = Clock::new();
    let mut b = CircuitBreaker::new(config(1, 10, 1));
    let slow = b.allow(t.at(0)).expect("closed");
    fail(&mut b, t.at(1));
    b.on_success(slow, t.at(50)); // turns half-open first, then ignores the stale permit
    assert_eq!(b.state(t.at(50)), State::HalfOpen);
    assert_eq!(b.stats().stale_outcomes, 1);
}

#[test]
fn unanswered_probes_are_rearmed_after_open_for() {
    let t = Clock::new();
    let mut b = CircuitBreaker::new(config(1, 100, 1));
    fail(&mut b, t.at(0));
    let _lost = b.allow(t.at(100)).expect("probe");
    assert!(b.allow(t.at(199)).is_err());
    let retry = b.allow(t.at(200)).expect("new probe round");
    b.on_success(retry, t.at(201));
    assert_eq!(b.state(t.at(201)), State::Closed);
}

#[test]
fn failure_ratio_trips_without_a_streak() {
    let t = Clock::new();
    let mut b = CircuitBreaker::new(BreakerConfig {
        failure_ratio: Some(FailureRatio {
            window: nz(4),
            min_calls: nz(4),
            threshold: 0.5,
        }),
        ..config(10, 100, 1)
    });
    fail(&mut b, t.at(0));
    succeed(&mut b, t.at(1));
    fail(&mut b, t.at(2)); // 2/3: below min_calls
    assert_eq!(b.state(t.at(2)), State::Closed);
    succeed(&mut b, t.at(3));
    succeed(&mut b, t.at(4)); // window now S F S S: 1/4
    fail(&mut b, t.at(5)); // F S S F: 2/4
    assert_eq!(b.state(t.at(5)), State::Open);
}

#[test]
fn transition_log_is_bounded() {
    let t = Clock::new();
    let mut b = CircuitBreaker::new(config(1, 0, 1));
    for i in 0..(TRANSITION_LOG_CAPACITY as u64) {
        fail(&mut b, t.at(i)); // closed→open, then open→half-open→open on each later call
    }
    assert_eq!(b.transitions().len(), TRANSITION_LOG_CAPACITY);
    let stats = b.stats();
    assert_eq!(
        stats.transitions - stats.transitions_dropped,
        TRANSITION_LOG_CAPACITY as u64
    );
}

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Allow,
    Report { index: usize, ok: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0u64..60).prop_map(Op::Advance),
        3 => Just(Op::Allow),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(index, ok)| Op::Report { index, ok }),
    ]
}

/// Invariants over the log that hold for any sequence with non-decreasing `now`.
fn check_log(log: &[Transition], open_for: Duration) -> Result<(), TestCaseError> {
    for pair in log.windows(2) {
        prop_assert_eq!(pair[0].to, pair[1].from, "transitions chain: {:?}", log);
        prop_assert!(pair[0].at <= pair[1].at);
        if pair[1].from == State::Open {
            prop_assert_eq!(pair[1].to, State::HalfOpen);
            prop_assert_eq!(pair[1].at - pair[0].at, open_for);
        }
    }
    for tr in log {
        let legal = matches!(
            (tr.from, tr.to),
            (State::Closed, State::Open)
                | (State::Open, State::HalfOpen)
                | (State::HalfOpen, State::Closed | State::Open)
        );
        prop_assert!(legal, "illegal transition {:?}", tr);
    }
    Ok(())
}

proptest! {
    /// Calls reported immediately: the breaker must match a simple model exactly.
    #[test]
    fn synchronous_calls_follow_the_model(
        threshold in 1u32..5, open_ms in 0u64..100, probes in 1u32..4,
        steps in prop::collection::vec((0u64..40, any::<bool>()), 1..200),
    ) {
        let t = Clock::new();
        let open_for = Duration::from_millis(open_ms);
        let mut b = CircuitBreaker::new(config(threshold, open_ms, probes));
        let (mut ms, mut streak, mut opened_at) = (0u64, 0u32, None::<u64>);
        for (dt, ok) in steps {
            ms += dt;
            let now = t.at(ms);
            let before = b.state(now);
            match (before, opened_at) {
                (State::Open, Some(o)) => prop_assert!(ms < o + open_ms),
                (State::HalfOpen, Some(o)) => prop_assert!(ms >= o + open_ms),
                _ => {}
            }
            let Ok(permit) = b.allow(now) else {
                prop_assert_eq!(before, State::Open);
                continue;
            };
            prop_assert_ne!(before, State::Open, "allowed while open");
            if ok { b.on_success(permit, now) } else { b.on_failure(permit, now) }
            let after = b.state(now);
            match (before, ok) {
                (State::Closed, true) => { streak = 0; prop_assert_eq!(after, State::Closed) }
                (State::Closed, false) => {
                    streak += 1;
                    let expected = if streak >= threshold { State::Open } else { State::Closed };
                    // With open_for == 0 the breaker is already half-open again.
                    if !(open_ms == 0 && expected == State::Open) {
                        prop_assert_eq!(after, expected);
                    }
                }
                (_, true) => prop_assert_eq!(after, State::Closed),
                (_, false) => {}
            }
            if b.transitions().last().is_some_and(|tr| tr.to == State::Open && tr.at == now) {
                opened_at = Some(ms);
                streak = 0;
            }
        }
        check_log(b.transitions(), open_for)?;
        prop_assert_eq!(b.stats().stale_outcomes, 0);
    }

    /// Permits held and reported out of order: no panics, and the safety invariants hold.
    #[test]
    fn concurrent_calls_keep_invariants(
        threshold in 1u32..4, open_ms in 0u64..100, probes in 1u32..4,
        ops in prop::collection::vec(op(), 1..300),
    ) {
        let t = Clock::new();
        let open_for = Duration::from_millis(open_ms);
        let mut b = CircuitBreaker::new(config(threshold, open_ms, probes));
        let (mut now, mut held, mut calls, mut reports) = (t.at(0), Vec::new(), 0u64, 0u64);
        let mut probe_times: Vec<Instant> = Vec::new();
        for op in ops {
            match op {
                Op::Advance(ms) => now += Duration::from_millis(ms),
                Op::Allow => {
                    calls += 1;
                    let before = b.state(now);
                    let transitions = b.stats().transitions;
                    match b.allow(now) {
                        Ok(permit) => {
                            prop_assert_ne!(before, State::Open);
                            held.push(permit);
                            if before == State::HalfOpen {
                                if b.stats().transitions != transitions { probe_times.clear() }
                                probe_times.push(now);
                                // Any `probes + 1` probes of one half-open stretch span open_for.
                                if let Some(first) = probe_times.iter().rev().nth(probes as usize) {
                                    prop_assert!(now - *first >= open_for);
                                }
                            }
                        }
                        Err(Rejected::Open { retry_after }) => {
                            prop_assert_eq!(before, State::Open);
                            prop_assert!(retry_after > Duration::ZERO && retry_after <= open_for);
                        }
                        Err(Rejected::ProbesInFlight { probes: p }) => {
                            prop_assert_eq!(before, State::HalfOpen);
                            prop_assert_eq!(p, probes);
                        }
                    }
                }
                Op::Report { index, ok } if !held.is_empty() => {
                    reports += 1;
                    let permit = held.swap_remove(index % held.len());
                    let before = b.stats().transitions;
                    if ok { b.on_success(permit, now) } else { b.on_failure(permit, now) }
                    if b.stats().transitions != before { probe_times.clear() }
                }
                Op::Report { .. } => {}
            }
        }
        let stats = b.stats();
        prop_assert_eq!(stats.allowed + stats.rejected, calls);
        prop_assert_eq!(stats.successes + stats.failures, reports);
        prop_assert_eq!(stats.transitions, b.transitions().len() as u64);
        check_log(b.transitions(), open_for)?;
    }
}
