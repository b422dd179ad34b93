//! One polled batch through its service: decoded once, the state it needs read in one
//! round trip ([`Handler::reads`]), prepared by the handler ([`Handler::prepare`]: the
//! outside waits of a batch overlap), decided input by input in order, then made
//! durable by one flush. An input whose changes conflict at the flush (on Redis,
//! another instance moved a counter below its floor since the batch read it) is not
//! applied, nor is anything after it; those inputs are decided again from fresh state,
//! up to [`DECISIONS`] rounds, and past that given back to be consumed again.

use std::time::{Duration, Instant};

use events::{Envelope, Event};
use rand::rngs::StdRng;
use tokio::sync::watch;

use super::runner::{Ctx, Handler, give_all_back, give_back, lane, sleep_or_stop};
use super::step::{DECISIONS, Decoded, Step, attempt_id, decode, process};
use crate::bus::Delivery;
use crate::resilience::{Backoff, Parking};

/// Decides `batch` and makes it durable (see the module).
pub(super) async fn decide<H: Handler>(
    ctx: &mut Ctx<'_, H>,
    parking: &mut Parking<Delivery>,
    batch: Vec<Delivery>,
    backoff: &Backoff,
    rng: &mut StdRng,
    shutdown: &mut watch::Receiver<bool>,
) {
    let mut todo = batch;
    for _ in 0..DECISIONS {
        if !pass(ctx, parking, &todo, backoff, rng, shutdown).await {
            return;
        }
        match ctx.consumer.end_batch().await {
            Ok(undone) if undone.is_empty() => return,
            Ok(undone) => {
                todo.retain(|d| undone.contains(&(d.topic.clone(), d.position.clone())));
                for _ in &todo {
                    ctx.metrics.outcome("conflict");
                }
                tracing::debug!(
                    inputs = todo.len(),
                    "state moved under the batch; deciding the rest again"
                );
            }
            Err(e) => {
                give_all_back(ctx.consumer, &todo, parking, ctx.metrics, &e).await;
                sleep_or_stop(Duration::from_millis(500), shutdown).await;
                return;
            }
        }
    }
    tracing::warn!(
        inputs = todo.len(),
        "state kept moving under {DECISIONS} decisions; the inputs are consumed again"
    );
    ctx.consumer.abandon(&todo).await;
}

/// Decodes the batch, reads the state it declares in one round trip and lets the
/// handler prepare the inputs that will be decided now.
async fn prepare<H: Handler>(
    ctx: &mut Ctx<'_, H>,
    parking: &Parking<Delivery>,
    batch: &[Delivery],
) -> Vec<Option<Decoded>> {
    let decoded: Vec<Option<Decoded>> = batch.iter().map(|d| decode(d).ok()).collect();
    // Parked inputs, and inputs that queue behind them, are not decided in this pass.
    let now: Vec<(&Delivery, &Envelope, &Event)> = batch
        .iter()
        .zip(&decoded)
        .filter_map(|(d, decoded)| decoded.as_ref().map(|(env, event)| (d, env, event)))
        .filter(|(d, _, _)| {
            !parking.contains(&attempt_id(d)) && !parking.holds(&lane(ctx.config, d))
        })
        .collect();
    let mut reads = Vec::new();
    let mut ids = Vec::with_capacity(now.len());
    for (_, envelope, event) in &now {
        reads.extend(ctx.handler.reads(event));
        ids.push(envelope.event_id.to_string());
    }
    if let Err(e) = ctx.consumer.prefetch(&reads, &ids).await {
        // Each decision reads what it needs itself (and fails there if it must).
        tracing::debug!(error = %e, "reading the batch's state failed");
    }
    let inputs: Vec<(&Envelope, &Event)> = now
        .iter()
        .zip(&ids)
        .filter(|(_, id)| !ctx.consumer.known_processed(id))
        .map(|((_, envelope, event), _)| (*envelope, *event))
        .collect();
    ctx.handler.prepare(&inputs).await;
    decoded
}

/// Decides each input of `batch` in order; false if it stopped and gave the rest back
/// (a dependency down, or a retry after backoff).
async fn pass<H: Handler>(
    ctx: &mut Ctx<'_, H>,
    parking: &mut Parking<Delivery>,
    batch: &[Delivery],
    backoff: &Backoff,
    rng: &mut StdRng,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let mut decoded = prepare(ctx, parking, batch).await;
    for (index, delivery) in batch.iter().enumerate() {
        let id = attempt_id(delivery);
        if parking.contains(&id) {
            // A copy of a parked input (re-read or claimed): the parked one decides.
            continue;
        }
        let lane = lane(ctx.config, delivery);
        if parking.holds(&lane) {
            parking.park(&lane, id, delivery.clone(), Instant::now());
            continue;
        }
        let started = Instant::now();
        let step = process(
            ctx.config,
            ctx.handler,
            ctx.consumer,
            ctx.source,
            delivery,
            decoded[index].take(),
            ctx.attempts,
        )
        .await;
        let metrics = ctx.metrics;
        metrics
            .processing_seconds
            .observe(started.elapsed().as_secs_f64());
        match step {
            Step::Done(outcome) => metrics.outcome(outcome),
            Step::DeadLettered => {
                metrics.outcome("dead_lettered");
                metrics.dead_letters.inc();
            }
            Step::NotYet(reason) => {
                metrics.outcome("not_yet");
                tracing::debug!(topic = %delivery.topic, position = %delivery.position, %reason, "early; waits for its state");
                parking.park(&lane, id, delivery.clone(), Instant::now());
            }
            Step::Wait(reason) => {
                metrics.outcome("waiting");
                tracing::debug!(topic = %delivery.topic, position = %delivery.position, %reason, "dependency unavailable");
                give_back(ctx.consumer, batch, index, metrics).await;
                sleep_or_stop(Duration::from_millis(200), shutdown).await;
                return false;
            }
            Step::Retry(reason) | Step::Error(reason) => {
                let attempt = ctx.attempts.failures(&attempt_id(delivery));
                metrics.retries.inc();
                metrics.outcome("retry");
                tracing::info!(topic = %delivery.topic, position = %delivery.position, attempt, %reason, "will retry");
                give_back(ctx.consumer, batch, index, metrics).await;
                let delay = backoff.delay(attempt, rng).unwrap_or(backoff.max);
                sleep_or_stop(delay, shutdown).await;
                return false;
            }
        }
    }
    true
}
