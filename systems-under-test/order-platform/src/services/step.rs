//! One delivery through its service: decode, decide, commit, and what comes of it (a
//! [`Step`]): done, dead-lettered (poison, or out of attempts), retried, or waiting.
//! A decision whose changes cross a floor of the state it was made from is decided
//! again, up to [`DECISIONS`] times; past that the attempt counts as failed, so a
//! conflict that does not resolve ends in a dead letter instead of stalling its
//! partition.

use events::{Envelope, Event, Source};
use time::OffsetDateTime;
use uuid::Uuid;

use super::runner::{Failure, Handler, RunnerConfig, StateView};
use crate::bus::{Commit, CommitOutcome, Consumer, Delivery, Outgoing};
use crate::resilience::{
    AttemptTracker, DeadLetter, DeadLetterReason, OriginalPayload, Position, ReasonKind, dlq_topic,
};

pub(super) enum Step {
    Done(&'static str),
    DeadLettered,
    Retry(String),
    Error(String),
    /// A dependency is down: hand the batch back and wait a little, without counting.
    Wait(String),
    /// Early: the state it needs is not there yet; park it.
    NotYet(String),
}

pub(super) fn attempt_id(delivery: &Delivery) -> String {
    format!(
        "{}/{}/{}",
        delivery.topic, delivery.partition, delivery.position
    )
}

/// An input decoded once for its batch (the runner decodes a batch before it prefetches
/// the state the batch needs).
pub(super) type Decoded = (Envelope, Event);

/// Why a delivery could not be decoded: its envelope if that much decoded, and the
/// reason.
pub(super) type Undecodable = Box<(Option<Envelope>, String)>;

/// Decodes a delivery's envelope and event, or says why it is poison.
pub(super) fn decode(delivery: &Delivery) -> Result<Decoded, Undecodable> {
    let envelope = Envelope::from_bytes(&delivery.payload)
        .map_err(|e| Box::new((None, format!("undecodable envelope: {e}"))))?;
    match envelope.decode() {
        Ok(event) => Ok((envelope, event)),
        Err(e) => Err(Box::new((
            Some(envelope),
            format!("undecodable payload: {e}"),
        ))),
    }
}

pub(super) async fn process<H: Handler>(
    config: &RunnerConfig,
    handler: &mut H,
    consumer: &mut Consumer,
    source: &Source,
    delivery: &Delivery,
    decoded: Option<Decoded>,
    attempts: &mut AttemptTracker,
) -> Step {
    let id = attempt_id(delivery);
    let decoded = match decoded {
        Some(d) => Ok(d),
        None => decode(delivery),
    };
    let (envelope, event) = match decoded {
        Ok(d) => d,
        Err(undecodable) => {
            let (envelope, reason) = *undecodable;
            return dead_letter(
                config,
                consumer,
                source,
                delivery,
                envelope.as_ref(),
                &reason,
                ReasonKind::Undecodable,
                attempts,
            )
            .await;
        }
    };
    let input_id = envelope.event_id.to_string();
    if consumer.known_processed(&input_id) {
        // Exactly-once on Redis: the batch's read of the processed-id set found it done;
        // it is acknowledged without being decided again.
        let commit = Commit {
            input_id: Some(input_id),
            ..Commit::default()
        };
        return match consumer.commit(delivery, commit).await {
            Ok(_) => {
                attempts.forget(&id);
                Step::Done("duplicate")
            }
            Err(e) => Step::Error(e.to_string()),
        };
    }
    for _ in 0..DECISIONS {
        let mut state = StateView {
            consumer,
            partition: delivery.partition,
        };
        let decision = match handler.handle(&envelope, &event, &mut state).await {
            Ok(d) => d,
            Err(Failure::Poison(reason)) => {
                return dead_letter(
                    config,
                    consumer,
                    source,
                    delivery,
                    Some(&envelope),
                    &reason,
                    ReasonKind::Rejected,
                    attempts,
                )
                .await;
            }
            Err(Failure::Unavailable(reason)) => return Step::Wait(reason),
            Err(Failure::NotYet(reason)) => return Step::NotYet(reason),
            Err(Failure::Retry(reason)) => {
                return failed_attempt(
                    config, consumer, source, delivery, &envelope, reason, attempts,
                )
                .await;
            }
        };
        let commit = match outputs(&envelope, source, decision.events) {
            Ok(outputs) => Commit {
                outputs,
                changes: decision.changes,
                input_id: Some(input_id.clone()),
            },
            Err(e) => return Step::Error(format!("encoding outputs: {e}")),
        };
        match consumer.commit(delivery, commit).await {
            Ok(CommitOutcome::Committed) => {
                attempts.forget(&id);
                return Step::Done("committed");
            }
            Ok(CommitOutcome::Duplicate) => {
                attempts.forget(&id);
                return Step::Done("duplicate");
            }
            Ok(CommitOutcome::Conflict) => continue,
            Err(e) => {
                attempts.record_failure(&id);
                return Step::Error(e.to_string());
            }
        }
    }
    let reason = format!("state kept changing under {DECISIONS} decisions");
    failed_attempt(
        config, consumer, source, delivery, &envelope, reason, attempts,
    )
    .await
}

/// How many times one delivery is decided again when its changes conflict with the
/// state (a floor crossed) before the attempt counts as failed.
pub const DECISIONS: usize = 20;

/// A failed attempt: retried, or dead-lettered once it is the last one allowed.
async fn failed_attempt(
    config: &RunnerConfig,
    consumer: &mut Consumer,
    source: &Source,
    delivery: &Delivery,
    envelope: &Envelope,
    reason: String,
    attempts: &mut AttemptTracker,
) -> Step {
    let failures = attempts
        .record_failure(&attempt_id(delivery))
        .max(delivery.deliveries);
    if failures < config.max_attempts {
        return Step::Retry(reason);
    }
    let reason = format!("failed {failures} times; last: {reason}");
    dead_letter(
        config,
        consumer,
        source,
        delivery,
        Some(envelope),
        &reason,
        ReasonKind::TooManyAttempts,
        attempts,
    )
    .await
}

/// Envelopes for a decision's events: same key and correlation as the input, the next
/// sequence numbers, the input as cause, ids derived from the input's id.
pub fn outputs(
    input: &Envelope,
    source: &Source,
    events: Vec<Event>,
) -> Result<Vec<Outgoing>, serde_json::Error> {
    let now = OffsetDateTime::now_utc();
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            let name = format!("{}#{i}", event.event_type().as_str());
            let id = Uuid::new_v5(&input.event_id, name.as_bytes());
            let envelope = Envelope::new(
                &event,
                source.clone(),
                input.key.clone(),
                input.seq + 1 + i as u64,
                input.correlation_id.clone(),
                Some(input.event_id),
                now,
                id,
            );
            Ok(Outgoing {
                topic: event.topic().as_str().to_string(),
                key: input.key.clone(),
                payload: envelope.to_bytes()?,
            })
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn dead_letter(
    config: &RunnerConfig,
    consumer: &mut Consumer,
    source: &Source,
    delivery: &Delivery,
    envelope: Option<&Envelope>,
    reason: &str,
    kind: ReasonKind,
    attempts: &mut AttemptTracker,
) -> Step {
    let id = attempt_id(delivery);
    let failures = attempts.failures(&id).max(delivery.deliveries);
    let now = OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let original_position = match (config.bus.backend, delivery.position.parse::<i64>()) {
        (crate::bus::Backend::Kafka, Ok(offset)) => Position::KafkaOffset {
            partition: delivery.partition,
            offset,
        },
        _ => Position::StreamId {
            id: delivery.position.clone(),
        },
    };
    let record = DeadLetter {
        schema_version: crate::resilience::dlq::DEAD_LETTER_SCHEMA_VERSION,
        service: source.service.clone(),
        instance: format!("{}#{}", source.service, source.instance),
        original_topic: delivery.topic.clone(),
        original_position,
        original_payload: OriginalPayload::from_bytes(&delivery.payload),
        reason: DeadLetterReason {
            kind,
            message: reason.to_string(),
        },
        attempts: failures,
        first_failed_at: now.clone(),
        dead_lettered_at: now,
        original_event_id: envelope
            .map(|e| e.event_id.to_string())
            .or_else(|| crate::resilience::sniff_event_id(&delivery.payload)),
    };
    let payload = match record.to_json() {
        Ok(p) => p,
        Err(e) => return Step::Error(format!("encoding dead letter: {e}")),
    };
    let key = envelope
        .map(|e| e.key.clone())
        .or_else(|| delivery.key.clone())
        .unwrap_or_else(|| delivery.position.clone());
    let commit = Commit {
        outputs: vec![Outgoing {
            topic: dlq_topic(&config.bus.service),
            key,
            payload,
        }],
        changes: Vec::new(),
        input_id: envelope.map(|e| e.event_id.to_string()),
    };
    match consumer.commit(delivery, commit).await {
        Ok(_) => {
            attempts.forget(&id);
            tracing::warn!(topic = %delivery.topic, position = %delivery.position, %reason, "dead-lettered");
            Step::DeadLettered
        }
        Err(e) => Step::Error(format!("dead-lettering: {e}")),
    }
}
