//! The tap: reads every topic of the deployment from the beginning on the DIRECT
//! endpoints and records one observation per message read.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use check::Observation;
use events::{Envelope, Topic};
use order_platform::bus::{BusConfig, Reader};

use crate::journal::Recorder;
use crate::stop::Stop;

/// The topics the tap reads: every topic of the platform ([`Topic::ALL`]).
pub const TOPICS: [&str; Topic::ALL.len()] = {
    let mut out = [""; Topic::ALL.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = Topic::ALL[i].as_str();
        i += 1;
    }
    out
};

/// What the tap knows so far, for the drain phase and the progress line.
#[derive(Debug, Default)]
pub struct TapState {
    /// Orders with a terminal event (shipped or cancelled).
    pub terminal: HashSet<String>,
    pub observed: u64,
    /// Messages that were not envelopes (poison): read, not recorded.
    pub undecodable: u64,
    /// Distinct entries read per topic (partition, position), envelopes or not: what an
    /// independent reader of the same topic should count.
    pub entries: BTreeMap<String, HashSet<(i32, String)>>,
}

/// Reads until `stop`, recording observations.
pub async fn run(
    config: BusConfig,
    recorder: Arc<Recorder>,
    state: Arc<Mutex<TapState>>,
    stop: Stop,
) {
    let mut reader = loop {
        match Reader::connect(&config, &TOPICS).await {
            Ok(r) => break r,
            Err(e) => {
                tracing::warn!(error = %e, "tap: cannot connect yet");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.stopped() => return,
                }
            }
        }
    };
    loop {
        let batch = tokio::select! {
            b = reader.next_batch(2000, Duration::from_millis(200)) => b,
            _ = stop.stopped() => return,
        };
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "tap: read failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let observed_us = recorder.now_us();
        let mut observations = Vec::with_capacity(batch.len());
        let mut terminal = Vec::new();
        let mut undecodable = 0;
        let positions: Vec<(String, i32, String)> = batch
            .iter()
            .map(|d| (d.topic.clone(), d.partition, d.position.clone()))
            .collect();
        for d in batch {
            let Ok(envelope) = Envelope::from_bytes(&d.payload) else {
                undecodable += 1;
                continue;
            };
            if matches!(
                envelope.event_type.as_str(),
                "OrderShipped" | "OrderCancelled"
            ) {
                terminal.push(envelope.key.clone());
            }
            observations.push(Observation {
                event_id: envelope.event_id.to_string(),
                event_type: envelope.event_type,
                key: envelope.key,
                seq: envelope.seq,
                causation_id: envelope.causation_id.map(|c| c.to_string()),
                produced_us: recorder.wall_us(envelope.occurred_at),
                observed_us,
                topic: d.topic,
                partition: u32::try_from(d.partition).unwrap_or(0),
                position: d.position,
            });
        }
        if let Ok(mut s) = state.lock() {
            s.observed += observations.len() as u64;
            s.undecodable += undecodable;
            s.terminal.extend(terminal);
            for (topic, partition, position) in positions {
                s.entries
                    .entry(topic)
                    .or_default()
                    .insert((partition, position));
            }
        }
        recorder.history().observations.extend(observations);
    }
}
