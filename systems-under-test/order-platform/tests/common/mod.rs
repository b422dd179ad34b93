//! A deployed order platform for the integration tests, through the one launcher the
//! harness uses too ([`lab::platform::Platform`]): every service a real
//! `order-platform` process against a real lab (Redis, Kafka, Toxiproxy). One lab per
//! test binary; each test gets its own namespace (streams, topics, groups) and its own
//! gateway proxy, so tests share the brokers without seeing each other's events.
//!
//! Orders go out open loop ([`load`]); a live tap ([`tap`]) records what the topics
//! carried; [`Platform::judge`] hands both, with the gateway's ledger and the final
//! stock, to the pure checker (`check::analyze` + `check::verdict`).

#![allow(dead_code)]

mod judged;
pub mod load;
mod reads;
pub mod tap;

pub use judged::Judged;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use check::{AnalysisOptions, Anomaly, Decision, History, Meta, SendRecord};
use events::{Envelope, Event};
use lab::platform::{PlatformSpec, Tuning};
use lab::toxiproxy::Toxiproxy;
use lab::{Lab, LabSpec};
use order_platform::bus::{Backend, BusConfig, Guarantee, Outgoing, Producer, Reader};
use tokio::sync::OnceCell;

use load::Order;
use tap::{Clock, Tap};

static LAB: OnceCell<Lab> = OnceCell::const_new();
static SECURE_LAB: OnceCell<Lab> = OnceCell::const_new();

/// The lab shared by the tests of this binary (Redis and one Kafka broker).
pub async fn lab() -> &'static Lab {
    LAB.get_or_init(|| start_lab(false)).await
}

/// The same, secured (`lab up --secure`: Kafka SASL_SSL, Redis TLS with an ACL user).
pub async fn secure_lab() -> &'static Lab {
    SECURE_LAB.get_or_init(|| start_lab(true)).await
}

async fn start_lab(secure: bool) -> Lab {
    let spec = LabSpec {
        brokers: 1,
        secure,
        ..LabSpec::default()
    };
    match Lab::start(spec).await {
        Ok(lab) => lab,
        Err(e) => panic!("could not start the lab (is it installed? `lab/install`): {e}"),
    }
}

/// What a test deploys (mapped onto the launcher's [`PlatformSpec`] and [`Tuning`]).
#[derive(Debug, Clone)]
pub struct Options {
    /// Instances of every service but the gateway (horizontal scale).
    pub instances: u32,
    /// Inventory instances (one consumer group), at least `instances`.
    pub inventory: u32,
    /// The gateway declines this share of orders.
    pub decline_ratio: f64,
    pub skus: u32,
    pub initial_stock: u32,
    pub partitions: u32,
    /// Redis: a dead consumer's pending entries are claimed after this.
    pub claim_idle: Duration,
    /// Payment: the breaker stays open this long before a half-open probe.
    pub breaker_open: Duration,
    /// Order: an early payment waits this long for its order (`None`: the default).
    pub state_wait: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            instances: 1,
            inventory: 1,
            decline_ratio: 0.0,
            skus: 10,
            initial_stock: 1000,
            partitions: 3,
            claim_idle: Duration::from_secs(2),
            breaker_open: Duration::from_secs(1),
            state_wait: None,
        }
    }
}

/// What no mode may show without faults (duplicate deliveries are not claimed here).
pub const NONE_WITHOUT_FAULTS: [Anomaly; 6] = [
    Anomaly::Lost,
    Anomaly::Unobserved,
    Anomaly::DuplicateEffect,
    Anomaly::OrderingViolation,
    Anomaly::Phantom,
    Anomaly::InvariantViolation,
];

/// Orders per second of [`Platform::place_many`].
pub const RATE: u32 = 50;

/// Every service of the platform, running, with a tap on its topics.
#[derive(Debug)]
pub struct Platform {
    pub backend: Backend,
    pub guarantee: Guarantee,
    pub namespace: String,
    pub options: Options,
    /// The gateway's proxy in Toxiproxy (payment reaches the gateway through it).
    pub gateway_proxy: String,
    /// `None` for [`reader_only`](Self::reader_only); taken by `Drop` to shut down.
    deployed: Option<lab::platform::Platform>,
    lab: &'static Lab,
    http: reqwest::Client,
    clock: Clock,
    tap: Option<Tap>,
    /// Every order sent (open loop), for the checker.
    sends: Arc<Mutex<Vec<SendRecord>>>,
}

/// The tap reads several topics; an effect may be read up to a batch before its cause
/// (the harness allows the same). Recorded in the kept history's meta line, so
/// `harness check` on it judges alike.
fn analysis_options() -> AnalysisOptions {
    AnalysisOptions {
        causality_slack_us: 250_000,
        ..AnalysisOptions::default()
    }
}

impl Platform {
    pub async fn start(backend: Backend, guarantee: Guarantee, options: Options) -> Platform {
        Self::start_on(lab().await, backend, guarantee, options).await
    }

    /// [`start`](Self::start) on another lab (the secure one).
    pub async fn start_on(
        lab: &'static Lab,
        backend: Backend,
        guarantee: Guarantee,
        options: Options,
    ) -> Platform {
        let mut platform = Self::reader_on(lab, backend);
        platform.guarantee = guarantee;
        platform.options = options;
        let o = &platform.options;
        let spec = PlatformSpec {
            backend,
            guarantee,
            namespace: platform.namespace.clone(),
            partitions: o.partitions,
            skus: o.skus,
            initial_stock: o.initial_stock,
            decline_ratio: o.decline_ratio,
            seed: 42,
            replicas: ["order", "payment", "shipping", "notification", "analytics"]
                .into_iter()
                .map(|s| (s.to_string(), o.instances))
                .chain([("inventory".to_string(), o.inventory.max(o.instances))])
                .collect(),
            claim_idle: o.claim_idle,
            replication: None,
        };
        let tuning = Tuning {
            breaker_open: Some(o.breaker_open),
            gateway_proxy: Some(format!("gateway-{}", platform.namespace)),
            state_wait: o.state_wait,
        };
        let lab = platform.lab;
        let logs = platform.dir();
        let deployed = lab::platform::Platform::deploy_tuned(
            lab,
            &spec,
            &tuning,
            &logs,
            Duration::from_secs(90),
        )
        .await
        .unwrap_or_else(|e| {
            panic!("deploying the order platform ({backend:?} {guarantee:?}): {e}")
        });
        platform.gateway_proxy = deployed.gateway_proxy.clone();
        platform.deployed = Some(deployed);
        platform.tap = Some(Tap::start(&platform.reader_config(), platform.clock).await);
        platform
    }

    /// A namespace on the shared lab with no services: for tests that drive the bus or
    /// the consume loop themselves.
    pub async fn reader_only(backend: Backend) -> Platform {
        Self::reader_on(lab().await, backend)
    }

    fn reader_on(lab: &'static Lab, backend: Backend) -> Platform {
        Platform {
            backend,
            guarantee: Guarantee::AtLeastOnce,
            namespace: format!("t{}", uuid::Uuid::new_v4().simple()),
            gateway_proxy: String::new(),
            options: Options::default(),
            deployed: None,
            lab,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .no_proxy()
                .build()
                .expect("http client"),
            clock: Clock::start(),
            tap: None,
            sends: Arc::default(),
        }
    }

    pub fn toxiproxy(&self) -> Toxiproxy {
        self.lab.toxiproxy().expect("the lab has toxiproxy")
    }

    pub fn lab(&self) -> &'static Lab {
        self.lab
    }

    /// Where the services' logs and the judged history go: kept after the test (under
    /// cargo's target tmp dir), so a failure can be read, or re-checked with
    /// `harness check`.
    pub fn dir(&self) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("platform-{}", self.namespace))
    }

    fn deployed(&self) -> &lab::platform::Platform {
        self.deployed.as_ref().expect("a deployed platform")
    }

    fn tap(&self) -> &Tap {
        self.tap.as_ref().expect("a deployed platform has a tap")
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    pub fn http(&self, name: &str, instance: u32) -> std::net::SocketAddr {
        self.deployed()
            .http(name, instance)
            .unwrap_or_else(|| panic!("no service {name}#{instance}"))
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    /// Every service instance's (service, instance, pid).
    pub fn pids(&self) -> Vec<(String, u32, Option<u32>)> {
        self.deployed().pids()
    }

    /// SIGKILL one service instance.
    pub fn kill(&self, name: &str, instance: u32) {
        self.deployed()
            .kill(name, instance)
            .unwrap_or_else(|e| panic!("kill {name}#{instance}: {e}"));
    }

    /// SIGSTOP one service instance.
    pub fn pause(&self, name: &str, instance: u32) {
        self.deployed()
            .pause(name, instance)
            .unwrap_or_else(|e| panic!("pause {name}#{instance}: {e}"));
    }

    /// SIGCONT one paused service instance.
    pub fn resume(&self, name: &str, instance: u32) {
        self.deployed()
            .resume(name, instance)
            .unwrap_or_else(|e| panic!("resume {name}#{instance}: {e}"));
    }

    /// Places one order (not recorded for the checker: for the benchmark's closed
    /// saturation loop); `Ok(order_id)` when the platform acknowledged it (201). With
    /// several order instances, an order goes to one chosen by its id.
    pub async fn place(&self, order_id: &str, sku: u32, quantity: u32) -> Result<String, String> {
        let body = serde_json::json!({
            "order_id": order_id, "customer_id": format!("c-{sku}"), "sku": format!("sku-{sku}"), "quantity": quantity
        });
        let orders = self
            .deployed()
            .instances()
            .iter()
            .filter(|(service, _, _)| service == "order")
            .count()
            .max(1) as u32;
        let instance = order_id.bytes().map(u32::from).sum::<u32>() % orders;
        let response = self
            .http
            .post(format!("http://{}/orders", self.http("order", instance)))
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status() == reqwest::StatusCode::CREATED {
            Ok(order_id.to_string())
        } else {
            Err(format!(
                "{}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            ))
        }
    }

    /// The orders `{prefix}-{i}` (SKUs round robin, quantity 1..=3) of an open-loop
    /// schedule at `per_second`.
    pub fn orders(&self, prefix: &str, n: usize) -> Vec<Order> {
        (0..n)
            .map(|i| Order {
                id: format!("{prefix}-{i}"),
                sku: (i as u32) % self.options.skus,
                quantity: 1 + (i as u32 % 3),
            })
            .collect()
    }

    /// Sends `orders` open loop at `per_second` starting at `start`, recording each
    /// send for the checker; returns when all were answered.
    pub async fn send_open_loop(&self, orders: Vec<Order>, start: Instant, per_second: u32) {
        let urls: Vec<String> = self
            .deployed()
            .instances()
            .into_iter()
            .filter(|(service, _, _)| service == "order")
            .map(|(_, _, http)| format!("http://{http}/orders"))
            .collect();
        load::open_loop(
            &self.http,
            &urls,
            self.clock,
            start,
            per_second,
            orders,
            self.sends.clone(),
        )
        .await;
    }

    /// Places `n` orders open loop at [`RATE`]; every one must be acknowledged.
    pub async fn place_many(&self, prefix: &str, n: usize) -> Vec<String> {
        let orders = self.orders(prefix, n);
        let ids: Vec<String> = orders.iter().map(|o| o.id.clone()).collect();
        self.send_open_loop(orders, Instant::now(), RATE).await;
        let refused: Vec<SendRecord> = self
            .sends
            .lock()
            .expect("sends")
            .iter()
            .filter(|s| ids.contains(&s.order_id) && s.outcome != check::SendOutcome::Acked)
            .cloned()
            .collect();
        assert!(refused.is_empty(), "orders not accepted: {refused:?}");
        ids
    }

    /// Waits for every order of `orders` to reach a terminal state (panics naming those
    /// that did not within `within`).
    pub async fn expect_terminal(&self, orders: &[String], within: Duration, what: &str) {
        let missing = self.wait_terminal(orders, within).await;
        assert!(
            missing.is_empty(),
            "{what}: no terminal state for {} orders, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
    }

    /// Places `n` orders open loop, waits for all to end and requires the checker's
    /// pass with none of [`NONE_WITHOUT_FAULTS`] and all `n` completed.
    pub async fn expect_clean_run(&self, n: usize, what: &str) -> (Vec<String>, Judged) {
        let orders = self.place_many("o", n).await;
        self.expect_terminal(&orders, Duration::from_secs(120), what)
            .await;
        let judged = self.judge().await;
        eprintln!("{what}: {}", judged.summary());
        judged.expect(what, Decision::Pass, &NONE_WITHOUT_FAULTS);
        let completed = judged.analysis.counts.completed;
        assert_eq!(completed, n as u64, "{what}: {}", judged.summary());
        (orders, judged)
    }

    pub async fn get_json(&self, service: &str, path: &str) -> serde_json::Value {
        self.deployed()
            .get_json(service, path)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn metrics(&self, service: &str, instance: u32) -> String {
        let url = format!("http://{}/metrics", self.http(service, instance));
        self.http
            .get(&url)
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("text")
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.tap = None;
        // SIGTERM first: consumers leave their groups, Kafka producers end cleanly.
        if let Some(deployed) = self.deployed.take() {
            deployed.shutdown(Duration::from_secs(5));
        }
    }
}

/// Publishes the example `OrderPlaced` `n` times to `orders` (for tests that drive the
/// bus or the consume loop themselves), and returns it.
/// Polls until `n` deliveries came, or `within` passed.
pub async fn poll_for(
    consumer: &mut order_platform::bus::Consumer,
    n: usize,
    within: Duration,
) -> Vec<order_platform::bus::Delivery> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < deadline {
        out.extend(
            consumer
                .poll(n - out.len(), Duration::from_millis(300))
                .await
                .expect("poll"),
        );
    }
    out
}

pub async fn publish_example_order(bus: &BusConfig, n: usize) -> Envelope {
    let producer = Producer::connect(bus).await.expect("producer");
    let input = events::example(events::EventType::OrderPlaced);
    for _ in 0..n {
        producer
            .publish(Outgoing {
                topic: "orders".into(),
                key: input.key.clone(),
                payload: input.to_bytes().expect("json"),
            })
            .await
            .expect("publish");
    }
    input
}
