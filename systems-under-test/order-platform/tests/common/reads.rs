//! What a test reads back from a deployed platform: its topics on the DIRECT endpoints,
//! its dead letters, the tap's observations, and the history handed to the checker.

use super::*;

impl Platform {
    /// A bus config for reading this platform's topics on the DIRECT endpoints.
    pub fn reader_config(&self) -> BusConfig {
        let e = self.lab.endpoints();
        BusConfig {
            backend: self.backend,
            guarantee: self.guarantee,
            namespace: self.namespace.clone(),
            service: "test-reader".into(),
            instance: 0,
            redis_url: e.redis.as_ref().expect("redis").direct_url(),
            redis_security: e.redis.as_ref().expect("redis").security.clone(),
            kafka_bootstrap: e.kafka.as_ref().expect("kafka").bootstrap_direct.clone(),
            kafka_security: e.kafka.as_ref().expect("kafka").security.clone(),
            partitions: self.options.partitions as i32,
            replication: -1,
            claim_idle: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            topics: Vec::new(),
            tuning: Default::default(),
        }
    }

    /// Every message on `topics` so far (read directly, unfaulted): for topics the tap
    /// does not follow, such as dead-letter topics.
    pub async fn read_all(&self, topics: &[&str]) -> Vec<(String, Vec<u8>)> {
        let mut reader = Reader::connect(&self.reader_config(), topics)
            .await
            .expect("reader");
        let mut out = Vec::new();
        let mut idle = 0;
        while idle < 3 {
            let batch = reader
                .next_batch(1000, Duration::from_millis(500))
                .await
                .expect("read");
            if batch.is_empty() {
                idle += 1;
            } else {
                idle = 0;
            }
            out.extend(batch.into_iter().map(|d| (d.topic, d.payload)));
        }
        out
    }

    /// The dead letters of `service` so far (its `dlq.{service}`, read directly).
    pub async fn dead_letters(&self, service: &str) -> Vec<order_platform::resilience::DeadLetter> {
        let topic = events::dead_letter_topic(service);
        self.read_all(&[topic.as_str()])
            .await
            .into_iter()
            .filter_map(|(_, bytes)| order_platform::resilience::DeadLetter::from_json(&bytes).ok())
            .collect()
    }

    /// Every service's dead letters so far as history lines (as the harness's tap
    /// records them), for the checker's attribution of lost orders.
    pub async fn dead_letter_records(&self) -> Vec<check::DeadLetterRecord> {
        let topics: Vec<String> = events::Service::ALL
            .iter()
            .map(|s| s.dead_letter_topic())
            .collect();
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        let observed_us = self.clock.now_us();
        self.read_all(&topics)
            .await
            .into_iter()
            .filter_map(|(_, bytes)| order_platform::resilience::DeadLetter::from_json(&bytes).ok())
            .map(|letter| check::DeadLetterRecord {
                order_id: letter.original_key(),
                service: letter.service.clone(),
                reason_kind: letter.reason.kind.name().to_owned(),
                reason: letter.reason.message,
                attempts: letter.attempts,
                input_event_id: letter.original_event_id,
                input_topic: letter.original_topic,
                observed_us,
            })
            .collect()
    }

    /// Records an order acknowledged outside `POST /orders` (published straight to the
    /// bus, acknowledged by the broker): the checker holds the platform to it.
    pub fn record_acked(&self, order_id: &str) {
        let now = self.clock.now_us();
        self.sends.lock().expect("sends").push(SendRecord {
            order_id: order_id.into(),
            intended_us: now,
            sent_us: Some(now),
            acked_us: Some(now),
            outcome: check::SendOutcome::Acked,
            error: None,
        });
    }

    /// Of `orders`, those whose terminal event a fresh reader finds in the log now: for
    /// telling an order the platform lost from one the tap missed.
    pub async fn terminal_in_log(&self, orders: &[String]) -> Vec<String> {
        let log: std::collections::HashSet<String> = self
            .read_all(&["orders", "shipping"])
            .await
            .into_iter()
            .filter_map(|(_, bytes)| Envelope::from_bytes(&bytes).ok())
            .filter(|e| events::TERMINAL_TYPES.contains(&e.event_type.as_str()))
            .map(|e| e.key)
            .collect();
        orders
            .iter()
            .filter(|o| log.contains(*o))
            .cloned()
            .collect()
    }

    /// Decoded order-flow events the tap read, once it has caught up.
    pub async fn events(&self) -> Vec<(Envelope, Event)> {
        self.settle().await;
        self.tap().snapshot().events
    }

    /// What the tap has observed so far (topic, partition and position included).
    pub fn observations(&self) -> Vec<check::Observation> {
        self.tap().snapshot().observations
    }

    /// Waits until the tap has caught up with the topics (nothing new for a second).
    pub async fn settle(&self) {
        self.tap()
            .settle(Duration::from_secs(1), Duration::from_secs(30))
            .await;
    }

    /// Waits until every order has a terminal event (OrderShipped or OrderCancelled);
    /// returns the orders still without one after `timeout`.
    pub async fn wait_terminal(&self, orders: &[String], timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let missing = self.tap().missing(orders);
            if missing.is_empty() || Instant::now() >= deadline {
                return missing;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What the test observed, as the checker reads it: the sends, the tap's
    /// observations, the gateway's ledger and the final stock.
    pub async fn history(&self) -> History {
        self.settle().await;
        let sends = self.sends.lock().expect("sends").clone();
        let deployed = self.deployed();
        let charges = deployed.charges().await.expect("the gateway's ledger");
        let stock = deployed
            .stock(self.options.skus, i64::from(self.options.initial_stock))
            .await
            .expect("the inventory");
        assert!(
            stock.unreadable.is_empty(),
            "the inventory could not be read in full: {:?}",
            stock.unreadable
        );
        assert!(
            !stock.lines.is_empty(),
            "the inventory served no stock lines"
        );
        let stock = stock.lines;
        let meta = Meta {
            experiment: self.namespace.clone(),
            seed: 42,
            backend: self.backend,
            guarantee: self.guarantee,
            warmup_end_us: 0,
            load_end_us: sends.iter().map(|s| s.intended_us).max().unwrap_or(0),
            drain_end_us: self.clock.now_us(),
            complete: true,
            drain: None,
            analysis: Some(analysis_options()),
            thresholds: Vec::new(),
            faults: None,
        };
        History {
            meta: Some(meta),
            sends,
            observations: self.tap().snapshot().observations,
            charges,
            stock,
            dead_letters: self.dead_letter_records().await,
            ..History::default()
        }
    }

    /// The pure checker's analysis and verdict of [`history`](Self::history).
    pub async fn judge(&self) -> Judged {
        let history = self.history().await;
        let file = self.dir().join("history.jsonl");
        if let Err(e) = std::fs::write(&file, history.to_jsonl()) {
            eprintln!("could not keep the history at {}: {e}", file.display());
        }
        let analysis = check::analyze(&history, &analysis_options());
        let verdict = check::verdict(history.meta.as_ref(), &analysis, &[]);
        Judged {
            analysis,
            verdict,
            dir: self.dir(),
        }
    }
}
