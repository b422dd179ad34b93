//! A tap on the platform's order-flow topics, read live on the DIRECT (unfaulted)
//! endpoints from the beginning: one [`check::Observation`] per message read, on the
//! test's clock, plus the decoded events for the tests' own assertions (read model,
//! saga, breaker). The checker judges what the tap saw.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use check::Observation;
use events::{Envelope, Event};
use order_platform::bus::{BusConfig, Reader};

/// The topics the order flow runs through.
pub const ORDER_FLOW: [&str; 4] = ["orders", "inventory", "payments", "shipping"];

/// The test's one monotonic clock: every recorded time is microseconds since `t0`.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    t0: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock { t0: Instant::now() }
    }

    pub fn us(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.t0).as_micros() as u64
    }

    pub fn now_us(&self) -> u64 {
        self.us(Instant::now())
    }
}

/// What the tap has read so far.
#[derive(Debug, Default, Clone)]
pub struct TapLog {
    pub observations: Vec<Observation>,
    /// Every decodable event, in read order (duplicates included).
    pub events: Vec<(Envelope, Event)>,
    /// Orders with a terminal event (shipped or cancelled).
    pub terminal: HashSet<String>,
}

/// The reading task; stopped when dropped.
#[derive(Debug)]
pub struct Tap {
    log: Arc<Mutex<TapLog>>,
    task: tokio::task::JoinHandle<()>,
}

impl Tap {
    pub async fn start(config: &BusConfig, clock: Clock) -> Tap {
        let mut reader = Reader::connect(config, &ORDER_FLOW)
            .await
            .unwrap_or_else(|e| panic!("tap: connecting to {:?}: {e}", config.backend));
        let log = Arc::new(Mutex::new(TapLog::default()));
        let shared = log.clone();
        let task = tokio::spawn(async move {
            loop {
                let batch = match reader.next_batch(1000, Duration::from_millis(200)).await {
                    Ok(batch) => batch,
                    Err(e) => {
                        eprintln!("tap: read failed (trying again): {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let observed_us = clock.now_us();
                let mut log = shared.lock().expect("tap log");
                for d in batch {
                    let Ok(envelope) = Envelope::from_bytes(&d.payload) else {
                        continue; // poison: the dead-letter tests read it themselves
                    };
                    if matches!(
                        envelope.event_type.as_str(),
                        "OrderShipped" | "OrderCancelled"
                    ) {
                        log.terminal.insert(envelope.key.clone());
                    }
                    log.observations.push(Observation {
                        event_id: envelope.event_id.to_string(),
                        event_type: envelope.event_type.clone(),
                        key: envelope.key.clone(),
                        seq: envelope.seq,
                        causation_id: envelope.causation_id.map(|c| c.to_string()),
                        produced_us: None,
                        observed_us,
                        topic: d.topic,
                        partition: u32::try_from(d.partition).unwrap_or(0),
                        position: d.position,
                    });
                    if let Ok(event) = envelope.decode() {
                        log.events.push((envelope, event));
                    }
                }
            }
        });
        Tap { log, task }
    }

    pub fn snapshot(&self) -> TapLog {
        self.log.lock().expect("tap log").clone()
    }

    /// The orders of `orders` without a terminal event yet.
    pub fn missing(&self, orders: &[String]) -> Vec<String> {
        let log = self.log.lock().expect("tap log");
        orders
            .iter()
            .filter(|o| !log.terminal.contains(*o))
            .cloned()
            .collect()
    }

    /// Waits until the tap has read nothing new for `quiet` (the topics are drained
    /// up to what was produced), or `timeout` passed.
    pub async fn settle(&self, quiet: Duration, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let reads = || self.log.lock().expect("tap log").observations.len();
        let (mut last, mut since) = (reads(), Instant::now());
        while since.elapsed() < quiet && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = reads();
            if now != last {
                (last, since) = (now, Instant::now());
            }
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
    }
}
