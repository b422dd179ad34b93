//! Poison detection by attempts: an input that keeps failing is retried with backoff
//! and then dead-lettered with reason `too_many_attempts` and its attempt count, on both
//! backends — the shared consume loop, driven by a handler that always fails, against
//! real Redis and Kafka. A decision that always crosses a floor of the state (a
//! conflict that never resolves) ends the same way instead of stalling its partition.

mod common;

use std::time::{Duration, Instant};

use events::{Envelope, Event};
use order_platform::bus::{Backend, Change, Guarantee, Reader};
use order_platform::http::Health;
use order_platform::metrics::Metrics;
use order_platform::resilience::{DeadLetter, ReasonKind};
use order_platform::services::runner::{self, Decision, Failure, Handler, RunnerConfig, StateView};

/// Fails every input, as a handler whose dependency rejects this one message would.
#[derive(Debug)]
struct AlwaysFails;

impl Handler for AlwaysFails {
    fn topics(&self) -> Vec<&'static str> {
        vec!["orders"]
    }

    async fn handle(
        &mut self,
        _input: &Envelope,
        _event: &Event,
        _state: &mut StateView<'_>,
    ) -> Result<Decision, Failure> {
        Err(Failure::Retry("the downstream rejects this order".into()))
    }
}

/// Decides a change that can never fit: one unit taken from a counter that is zero,
/// with a floor of zero.
#[derive(Debug)]
struct NeverFits;

impl Handler for NeverFits {
    fn topics(&self) -> Vec<&'static str> {
        vec!["orders"]
    }

    async fn handle(
        &mut self,
        _input: &Envelope,
        _event: &Event,
        _state: &mut StateView<'_>,
    ) -> Result<Decision, Failure> {
        Ok(Decision {
            events: Vec::new(),
            changes: vec![Change {
                key: "stock:none".into(),
                field: "units".into(),
                delta: -1,
                floor: Some(0),
            }],
        })
    }
}

async fn dead_letters(
    config: &order_platform::bus::BusConfig,
    within: Duration,
) -> Vec<DeadLetter> {
    let mut reader = Reader::connect(config, &["dlq.flaky"])
        .await
        .expect("reader");
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.is_empty() && Instant::now() < deadline {
        for d in reader
            .next_batch(10, Duration::from_millis(300))
            .await
            .expect("read")
        {
            out.push(DeadLetter::from_json(&d.payload).expect("dead letter"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_failing_every_time_is_dead_lettered_after_max_attempts() {
    for backend in [Backend::Redis, Backend::Kafka] {
        dead_lettered_after_max_attempts(backend, AlwaysFails, "the downstream rejects this order")
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_that_never_resolves_is_dead_lettered_not_retried_forever() {
    for backend in [Backend::Redis, Backend::Kafka] {
        dead_lettered_after_max_attempts(backend, NeverFits, "state kept changing").await;
    }
}

async fn dead_lettered_after_max_attempts<H: Handler>(
    backend: Backend,
    handler: H,
    expected: &str,
) {
    let (letters, input) = consume_while(
        backend,
        "flaky",
        Guarantee::AtLeastOnce,
        handler,
        |bus, input| async move { (dead_letters(&bus, Duration::from_secs(60)).await, input) },
    )
    .await;
    assert_eq!(letters.len(), 1, "{backend:?}: {letters:?}");
    let letter = &letters[0];
    assert_eq!(
        letter.reason.kind,
        ReasonKind::TooManyAttempts,
        "{backend:?}: {letter:?}"
    );
    assert!(
        letter.attempts >= 3,
        "{backend:?}: attempts {}",
        letter.attempts
    );
    assert!(letter.reason.message.contains(expected), "{letter:?}");
    assert_eq!(
        letter.original_event_id.as_deref(),
        Some(input.event_id.to_string().as_str())
    );
}

/// Fails every input and counts how often it was asked.
#[derive(Debug, Clone, Default)]
struct CountsFailures(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Handler for CountsFailures {
    fn topics(&self) -> Vec<&'static str> {
        vec!["orders"]
    }

    async fn handle(
        &mut self,
        _input: &Envelope,
        _event: &Event,
        _state: &mut StateView<'_>,
    ) -> Result<Decision, Failure> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(Failure::Retry("the gateway's answer was lost".into()))
    }
}

/// At-most-once: an input whose processing failed is given up, not processed again (a
/// retried charge whose answer was lost is a second charge); the sweep's gateway
/// timeout cells found Kafka seeking back over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_once_processes_a_failing_input_once_on_both_backends() {
    for backend in [Backend::Redis, Backend::Kafka] {
        let handler = CountsFailures::default();
        let calls = handler.0.clone();
        consume_while(
            backend,
            "once",
            Guarantee::AtMostOnce,
            handler,
            |_, _| async {
                // The first call, then long enough for several retries (100 ms backoff
                // and up) to have come: what is tested is that none does.
                let deadline = Instant::now() + Duration::from_secs(30);
                while calls.load(std::sync::atomic::Ordering::SeqCst) == 0
                    && Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                tokio::time::sleep(Duration::from_secs(4)).await;
            },
        )
        .await;
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "{backend:?}"
        );
    }
}

/// Runs the consume loop with `handler` as service `service` of a fresh namespace, with
/// one example order published, until `watch` (given the bus and the order) ends.
async fn consume_while<H: Handler, T, F: std::future::Future<Output = T>>(
    backend: Backend,
    service: &str,
    guarantee: Guarantee,
    handler: H,
    watch: impl FnOnce(order_platform::bus::BusConfig, Envelope) -> F,
) -> T {
    let platform_less = common::Platform::reader_only(backend).await;
    let mut bus = platform_less.reader_config();
    bus.service = service.into();
    bus.guarantee = guarantee;
    bus.topics = vec!["orders".into(), format!("dlq.{service}")];
    let input = common::publish_example_order(&bus, 1).await;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let config = RunnerConfig {
        bus: bus.clone(),
        max_attempts: 3,
        batch: 10,
        poll_wait: Duration::from_millis(200),
        seed: 1,
        state_wait: Duration::from_secs(30),
    };
    let metrics = Metrics::new(service, 0);
    let consume = runner::run(config, handler, metrics, Health::default(), shutdown);
    let watched = async {
        let out = watch(bus.clone(), input).await;
        let _ = stop.send(true);
        out
    };
    let (result, out) = tokio::join!(consume, watched);
    result.expect("the consume loop ends cleanly on shutdown");
    out
}
