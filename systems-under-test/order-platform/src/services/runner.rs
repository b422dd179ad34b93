//! The consume loop every consuming service shares: poll, decode, decide, commit —
//! with poison messages and exhausted retries routed to the service's dead-letter
//! topic, conflicts decided again, and failures retried with backoff. Output envelopes
//! get ids derived from the input's id (uuid v5), so a redelivered input produces the
//! same event ids again: a duplicate shows up as the same id twice, not as a new event.
//!
//! An input that comes before the state its decision needs ([`Failure::NotYet`]) is
//! parked ([`Parking`]): it waits in its lane (the order key on Redis, the
//! topic-partition on Kafka) without counting as an attempt, while other lanes go on;
//! past [`RunnerConfig::state_wait`] it is dead-lettered as
//! [`ReasonKind::StateTimeout`].

use std::time::{Duration, Instant};

use events::{Envelope, Event, Source};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::watch;

pub use super::step::outputs;
use super::step::{Step, attempt_id, dead_letter, process};
use crate::bus::{BusConfig, BusError, Change, Consumer, Delivery};
use crate::http::Health;
use crate::metrics::Metrics;
use crate::resilience::{AttemptTracker, Backoff, Jitter, Parking, ReasonKind};

/// What a service decided for one input.
#[derive(Debug, Default)]
pub struct Decision {
    pub events: Vec<Event>,
    pub changes: Vec<Change>,
}

impl Decision {
    pub fn none() -> Self {
        Decision::default()
    }

    pub fn emit(events: impl IntoIterator<Item = Event>) -> Self {
        Decision {
            events: events.into_iter().collect(),
            changes: Vec::new(),
        }
    }
}

/// Why an input could not be processed now.
#[derive(Debug)]
pub enum Failure {
    /// Might work later (a dependency is down): retried with backoff, dead-lettered
    /// after the poison policy's attempts.
    Retry(String),
    /// Will never work (invalid content): dead-lettered at once.
    Poison(String),
    /// A dependency is known to be down (an open circuit breaker): not this input's
    /// fault, so it is retried without counting towards dead-lettering.
    Unavailable(String),
    /// The input came before state the service has not consumed yet (e.g. a payment
    /// for an order its read model has not seen): valid, only early. It waits in its
    /// lane (bounded by [`RunnerConfig::state_wait`]), without counting as an attempt
    /// and without holding other keys; a wait that runs out is dead-lettered as
    /// [`ReasonKind::StateTimeout`].
    NotYet(String),
}

/// Reads counters of the shard the current input belongs to.
#[derive(Debug)]
pub struct StateView<'c> {
    pub(super) consumer: &'c mut Consumer,
    pub(super) partition: i32,
}

impl StateView<'_> {
    pub async fn counter(&mut self, key: &str, field: &str) -> Result<i64, BusError> {
        self.consumer.counter(self.partition, key, field).await
    }

    /// Several counters of one key as one snapshot.
    pub async fn counters(&mut self, key: &str, fields: &[&str]) -> Result<Vec<i64>, BusError> {
        self.consumer.counters(self.partition, key, fields).await
    }

    /// The shard (Kafka partition; 0 on Redis) of the input being handled.
    pub fn shard(&self) -> i32 {
        self.partition
    }
}

/// A consuming service: which topics it reads and what it does with each event.
#[allow(async_fn_in_trait)]
pub trait Handler {
    /// Logical topics to consume.
    fn topics(&self) -> Vec<&'static str>;

    /// The counters deciding `event` will read, as (key, fields): the runner reads them
    /// for a whole batch in one round trip before the batch is decided (Redis; Kafka's
    /// state is in memory). A read not declared here still works, one round trip each.
    fn reads(&self, _event: &Event) -> Vec<(String, &'static [&'static str])> {
        Vec::new()
    }

    /// Called once per batch before its inputs are decided one by one, with the inputs
    /// that will be decided (in order): where deciding waits on something outside the
    /// bus (payment's gateway), the waits of a batch can overlap here, as long as per-key
    /// order is kept. [`handle`](Self::handle) must still work for an input not
    /// prepared (a parked input, or one given back and delivered again).
    async fn prepare(&mut self, _inputs: &[(&Envelope, &Event)]) {}

    /// Decides what to emit (and which counters to change) for one input. Called again
    /// with fresh state if the commit conflicts.
    async fn handle(
        &mut self,
        input: &Envelope,
        event: &Event,
        state: &mut StateView<'_>,
    ) -> Result<Decision, Failure>;
}

/// Settings of the loop.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub bus: BusConfig,
    /// Attempts before an input that keeps failing is dead-lettered.
    pub max_attempts: u32,
    pub batch: usize,
    pub poll_wait: Duration,
    pub seed: u64,
    /// How long an input may wait for the state it needs ([`Failure::NotYet`]) before
    /// it is dead-lettered as [`ReasonKind::StateTimeout`].
    pub state_wait: Duration,
}

/// How often a parked input is tried again.
const RECHECK: Duration = Duration::from_millis(100);
/// Most inputs parked at once per instance; past it no new input is taken until some
/// are decided (their waits are bounded, so this ends).
const PARKING_LIMIT: usize = 10_000;

/// The lane an input waits in when it is early: on Redis its key (entries are
/// acknowledged one by one, so only the key's later entries must wait behind it); on
/// Kafka its topic-partition (the committed offset is a watermark: nothing after a
/// parked offset may be committed before it, or a restart would skip it).
pub(super) fn lane(config: &RunnerConfig, delivery: &Delivery) -> String {
    match config.bus.backend {
        crate::bus::Backend::Redis => format!(
            "key:{}",
            delivery.key.as_deref().unwrap_or(&delivery.position)
        ),
        crate::bus::Backend::Kafka => format!("{}/{}", delivery.topic, delivery.partition),
    }
}

/// Runs `handler` until `shutdown` turns true, then leaves the group cleanly.
pub async fn run<H: Handler>(
    config: RunnerConfig,
    mut handler: H,
    metrics: Metrics,
    health: Health,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), BusError> {
    let topics = handler.topics();
    let mut consumer = loop {
        match Consumer::connect(&config.bus, &topics).await {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot join the group yet; retrying");
                if sleep_or_stop(Duration::from_secs(1), &mut shutdown).await {
                    return Ok(());
                }
            }
        }
    };
    health.set(true);
    let source = Source {
        service: config.bus.service.clone(),
        instance: config.bus.instance,
    };
    let mut attempts = AttemptTracker::new(std::num::NonZeroUsize::MIN.saturating_add(9_999));
    let backoff = Backoff {
        base: Duration::from_millis(50),
        max: Duration::from_secs(2),
        multiplier: 2.0,
        jitter: Jitter::Full,
        max_attempts: std::num::NonZeroU32::new(u32::MAX).unwrap_or(std::num::NonZeroU32::MIN),
    };
    let mut rng = StdRng::seed_from_u64(config.seed ^ u64::from(config.bus.instance));

    let mut parking: Parking<Delivery> = Parking::new(config.state_wait, RECHECK, PARKING_LIMIT);

    let mut ctx = Ctx {
        config: &config,
        handler: &mut handler,
        consumer: &mut consumer,
        source: &source,
        attempts: &mut attempts,
        metrics: &metrics,
    };
    while !*shutdown.borrow() {
        let parked_left = retry_parked(&mut ctx, &mut parking, &backoff, &mut rng).await;
        // Flushed only when parked inputs were decided: otherwise an open transaction
        // (Kafka exactly-once, `Consumer::end_batch`) goes on taking batches.
        let flushed = if parked_left.is_empty() {
            Ok(Vec::new())
        } else {
            ctx.consumer.flush().await
        };
        match flushed {
            Ok(undone) if !undone.is_empty() => {
                // Conflicted at the flush: they are consumed again and decided afresh.
                let back: Vec<Delivery> = parked_left
                    .into_iter()
                    .filter(|d| undone.contains(&(d.topic.clone(), d.position.clone())))
                    .collect();
                ctx.consumer.abandon(&back).await;
            }
            Ok(_) => {}
            Err(e) => {
                give_all_back(ctx.consumer, &parked_left, &mut parking, &metrics, &e).await;
                sleep_or_stop(Duration::from_millis(500), &mut shutdown).await;
                continue;
            }
        }
        if parking.is_full() {
            if let Err(e) = ctx.consumer.flush().await {
                tracing::warn!(error = %e, "flushing before waiting failed; the inputs will be consumed again");
                ctx.consumer.abandon(&[]).await;
            }
            let until = parking
                .next_due()
                .unwrap_or_else(|| Instant::now() + RECHECK);
            sleep_or_stop(
                until.saturating_duration_since(Instant::now()),
                &mut shutdown,
            )
            .await;
            continue;
        }
        // While inputs wait, poll no longer than until the next is due.
        let wait = parking.next_due().map_or(config.poll_wait, |due| {
            due.saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(1), config.poll_wait)
        });
        let batch = tokio::select! {
            batch = ctx.consumer.poll(config.batch, wait) => batch,
            _ = shutdown.changed() => break,
        };
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "poll failed");
                metrics.outcome("error");
                sleep_or_stop(Duration::from_millis(500), &mut shutdown).await;
                continue;
            }
        };
        // Before the batch queues behind them: inputs parked from a partition lost since
        // (and perhaps assigned back) are stale.
        drop_moved(ctx.consumer, &mut parking);
        let again = batch.iter().filter(|d| d.deliveries > 1).count();
        metrics.redelivered.inc_by(again as u64);
        super::batch::decide(
            &mut ctx,
            &mut parking,
            batch,
            &backoff,
            &mut rng,
            &mut shutdown,
        )
        .await;
    }
    // What a batch left staged (an open transaction) is made durable before leaving.
    if let Err(e) = ctx.consumer.flush().await {
        tracing::warn!(error = %e, "flushing at shutdown failed; the inputs will be consumed again");
    }
    health.set(false);
    consumer.close().await;
    Ok(())
}

/// After a failed flush: gives back what it was to make durable and every parked input
/// (they come again and are decided afresh).
pub(super) async fn give_all_back(
    consumer: &mut Consumer,
    unflushed: &[Delivery],
    parking: &mut Parking<Delivery>,
    metrics: &Metrics,
    error: &BusError,
) {
    tracing::warn!(%error, "flushing failed; the batch and the parked inputs will be consumed again");
    metrics.outcome("error");
    // One call, so each partition goes back to the earliest of both: two calls would
    // leave it at the later (a parked input queues behind the batch's inputs of its
    // partition), and the batch's inputs before it would never come again.
    let mut back = unflushed.to_vec();
    back.extend(parking.drain());
    consumer.abandon(&back).await;
}

/// Makes the deliveries before `index` durable and gives back the rest; if the flush
/// fails, the whole batch is given back.
pub(super) async fn give_back(
    consumer: &mut Consumer,
    batch: &[Delivery],
    index: usize,
    metrics: &Metrics,
) {
    match consumer.flush().await {
        // Inputs before `index` that conflicted at the flush stay pending and come again
        // (Redis, the only backend whose flush can conflict, re-reads its own pending).
        Ok(_) => consumer.abandon(&batch[index..]).await,
        Err(e) => {
            tracing::warn!(error = %e, "flushing before a retry failed; the batch comes again");
            metrics.outcome("error");
            consumer.abandon(batch).await;
        }
    }
}

/// Drops the parked inputs of every partition this member lost since the last call,
/// even one assigned back since: another member may have processed them meanwhile, and
/// this one consumes the partition again from its committed offset (deciding a stale
/// copy would apply it twice).
fn drop_moved(consumer: &mut Consumer, parking: &mut Parking<Delivery>) {
    let moved = consumer.take_moved();
    if moved.is_empty() {
        return;
    }
    let dropped = parking.release_unless(|d| !moved.contains(&(d.topic.clone(), d.partition)));
    if !dropped.is_empty() {
        tracing::info!(
            dropped = dropped.len(),
            "parked inputs of partitions moved since dropped"
        );
    }
}

/// What deciding a parked input needs, borrowed from [`run`].
pub(super) struct Ctx<'a, H> {
    pub(super) config: &'a RunnerConfig,
    pub(super) handler: &'a mut H,
    pub(super) consumer: &'a mut Consumer,
    pub(super) source: &'a Source,
    pub(super) attempts: &'a mut AttemptTracker,
    pub(super) metrics: &'a Metrics,
}

/// Tries the heads of the lanes that are due: a decided (or dead-lettered) head leaves
/// and the next of its lane is tried at once; a head still early waits on, and is
/// dead-lettered as [`ReasonKind::StateTimeout`] once it has waited the bound; a head
/// that fails otherwise keeps its place and is tried again after its backoff. Lanes of
/// a partition this member no longer holds are dropped (their new owner consumes them
/// from the committed offset). Returns the inputs decided (committed, not flushed):
/// if the flush that follows fails, they are given back with the rest.
async fn retry_parked<H: Handler>(
    ctx: &mut Ctx<'_, H>,
    parking: &mut Parking<Delivery>,
    backoff: &Backoff,
    rng: &mut StdRng,
) -> Vec<Delivery> {
    let dropped = parking.release_unless(|d| ctx.consumer.holds(d));
    if !dropped.is_empty() {
        tracing::info!(
            dropped = dropped.len(),
            "parked inputs of partitions no longer held dropped"
        );
    }
    let mut decided = Vec::new();
    for lane in parking.due(Instant::now()) {
        while let Some(delivery) = parking.head(&lane).cloned() {
            let step = process(
                ctx.config,
                ctx.handler,
                ctx.consumer,
                ctx.source,
                &delivery,
                None,
                ctx.attempts,
            )
            .await;
            let now = Instant::now();
            let step = match step {
                Step::NotYet(reason) if parking.expired(&lane, now) => {
                    let waited = parking.waited(&lane, now).as_secs_f64();
                    let reason = format!("waited {waited:.1} s for its state: {reason}");
                    let envelope = Envelope::from_bytes(&delivery.payload).ok();
                    dead_letter(
                        ctx.config,
                        ctx.consumer,
                        ctx.source,
                        &delivery,
                        envelope.as_ref(),
                        &reason,
                        ReasonKind::StateTimeout,
                        ctx.attempts,
                    )
                    .await
                }
                other => other,
            };
            if !finish_parked(
                ctx,
                parking,
                &lane,
                &delivery,
                step,
                backoff,
                rng,
                &mut decided,
            ) {
                break;
            }
        }
    }
    decided
}

/// Applies one parked head's outcome; true when it left its lane (try the next).
#[allow(clippy::too_many_arguments)]
fn finish_parked<H>(
    ctx: &mut Ctx<'_, H>,
    parking: &mut Parking<Delivery>,
    lane: &str,
    delivery: &Delivery,
    step: Step,
    backoff: &Backoff,
    rng: &mut StdRng,
    decided: &mut Vec<Delivery>,
) -> bool {
    let now = Instant::now();
    match step {
        Step::Done(outcome) => {
            ctx.metrics.outcome(outcome);
            decided.extend(parking.pop(lane, now));
            true
        }
        Step::DeadLettered => {
            ctx.metrics.outcome("dead_lettered");
            ctx.metrics.dead_letters.inc();
            decided.extend(parking.pop(lane, now));
            true
        }
        Step::NotYet(_) => {
            parking.recheck(lane, now);
            false
        }
        Step::Wait(reason) => {
            tracing::debug!(topic = %delivery.topic, position = %delivery.position, %reason, "parked input: dependency unavailable");
            parking.retry_at(lane, now + Duration::from_millis(200));
            false
        }
        Step::Retry(reason) | Step::Error(reason) => {
            let attempt = ctx.attempts.failures(&attempt_id(delivery));
            ctx.metrics.retries.inc();
            ctx.metrics.outcome("retry");
            tracing::info!(topic = %delivery.topic, position = %delivery.position, attempt, %reason, "parked input will retry");
            let delay = backoff.delay(attempt, rng).unwrap_or(backoff.max);
            parking.retry_at(lane, now + delay);
            false
        }
    }
}

/// Sleeps, or returns true early if shutdown was requested.
pub async fn sleep_or_stop(duration: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => {}
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
    *shutdown.borrow()
}
