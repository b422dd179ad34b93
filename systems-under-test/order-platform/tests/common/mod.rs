//! A deployed order platform for the integration tests: every service as a real
//! process (`order-platform` binary) against a real lab (Redis, Kafka, Toxiproxy). One
//! lab per test binary; each test gets its own namespace (streams, topics, groups), so
//! tests share the brokers without seeing each other's events.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use events::{Envelope, Event, EventType};
use harness::chaos::toxiproxy::{ProxyConfig, Toxiproxy};
use harness::lab::{Lab, LabSpec};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use order_platform::bus::{Backend, BusConfig, Guarantee, Reader};
use tokio::sync::OnceCell;

static LAB: OnceCell<Lab> = OnceCell::const_new();

/// The lab shared by the tests of this binary (Redis and one Kafka broker).
pub async fn lab() -> &'static Lab {
    LAB.get_or_init(|| async {
        match Lab::start(LabSpec {
            brokers: 1,
            ..LabSpec::default()
        })
        .await
        {
            Ok(lab) => lab,
            Err(e) => panic!("could not start the lab (is it installed? `lab/install`): {e}"),
        }
    })
    .await
}

#[derive(Debug, Clone)]
pub struct Options {
    pub inventory: u32,
    pub decline_ratio: f64,
    pub skus: u32,
    pub initial_stock: i64,
    pub partitions: i32,
    pub claim_idle_ms: u64,
    pub breaker_open_ms: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            inventory: 1,
            decline_ratio: 0.0,
            skus: 10,
            initial_stock: 1000,
            partitions: 3,
            claim_idle_ms: 2000,
            breaker_open_ms: 1000,
        }
    }
}

#[derive(Debug)]
struct Service {
    name: String,
    instance: u32,
    child: Child,
    http: SocketAddr,
}

/// Every service of the platform, running.
#[derive(Debug)]
pub struct Platform {
    pub backend: Backend,
    pub guarantee: Guarantee,
    pub namespace: String,
    pub options: Options,
    /// The gateway's proxy in Toxiproxy (payment reaches the gateway through it).
    pub gateway_proxy: String,
    services: Vec<Service>,
    lab: &'static Lab,
    http: reqwest::Client,
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_order-platform")
}

impl Platform {
    pub async fn start(backend: Backend, guarantee: Guarantee, options: Options) -> Platform {
        let lab = lab().await;
        let namespace = format!("t{}", uuid::Uuid::new_v4().simple());
        let mut platform = Platform {
            backend,
            guarantee,
            gateway_proxy: format!("gateway-{namespace}"),
            namespace,
            options,
            services: Vec::new(),
            lab,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .no_proxy()
                .build()
                .expect("http client"),
        };
        let gateway = platform.spawn("payment-gateway", 0, &[]);
        // Payment reaches the gateway through a proxy, like any external dependency.
        let proxy = platform
            .toxiproxy()
            .create_proxy(&ProxyConfig::new(
                &platform.gateway_proxy,
                "127.0.0.1:0".parse().expect("addr"),
                gateway,
            ))
            .await
            .expect("gateway proxy");
        let gateway_url = format!("http://{}", proxy.listen);
        platform.spawn("payment", 0, &["--gateway-url", &gateway_url]);
        for i in 0..platform.options.inventory {
            platform.spawn("inventory", i, &[]);
        }
        for name in ["order", "shipping", "notification", "analytics"] {
            platform.spawn(name, 0, &[]);
        }
        platform.wait_healthy().await;
        platform
    }

    /// A namespace on the shared lab with no services: for tests that drive the bus or
    /// the consume loop themselves.
    pub async fn reader_only(backend: Backend) -> Platform {
        let lab = lab().await;
        Platform {
            backend,
            guarantee: Guarantee::AtLeastOnce,
            namespace: format!("t{}", uuid::Uuid::new_v4().simple()),
            gateway_proxy: String::new(),
            options: Options::default(),
            services: Vec::new(),
            lab,
            http: reqwest::Client::new(),
        }
    }

    pub fn toxiproxy(&self) -> Toxiproxy {
        self.lab.toxiproxy().expect("the lab has toxiproxy")
    }

    pub fn lab(&self) -> &'static Lab {
        self.lab
    }

    fn spawn(&mut self, name: &str, instance: u32, extra: &[&str]) -> SocketAddr {
        let e = self.lab.endpoints();
        let redis = e.redis.as_ref().expect("redis").proxied_url();
        let kafka = e.kafka.as_ref().expect("kafka").bootstrap_proxied.clone();
        let backend = match self.backend {
            Backend::Redis => "redis",
            Backend::Kafka => "kafka",
        };
        let o = &self.options;
        let mut child = Command::new(binary())
            .arg(name)
            .args(["--backend", backend, "--guarantee", self.guarantee.name()])
            .args([
                "--instance",
                &instance.to_string(),
                "--namespace",
                &self.namespace,
            ])
            .args(["--redis-url", &redis, "--kafka-bootstrap", &kafka])
            .args([
                "--partitions",
                &o.partitions.to_string(),
                "--skus",
                &o.skus.to_string(),
            ])
            .args([
                "--initial-stock",
                &o.initial_stock.to_string(),
                "--decline-ratio",
                &o.decline_ratio.to_string(),
            ])
            .args([
                "--claim-idle-ms",
                &o.claim_idle_ms.to_string(),
                "--breaker-open-ms",
                &o.breaker_open_ms.to_string(),
            ])
            .args(extra)
            .env("RUST_LOG", "warn,order_platform=info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn order-platform");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) else {
            // Not yet in `services`, so Drop would not reap it.
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name}#{instance} did not announce its address within 30 s");
        };
        let doc: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{name}: {line:?}: {e}"));
        let http: SocketAddr = doc["http"].as_str().expect("http").parse().expect("addr");
        self.services.push(Service {
            name: name.to_string(),
            instance,
            child,
            http,
        });
        http
    }

    pub fn http(&self, name: &str, instance: u32) -> SocketAddr {
        self.services
            .iter()
            .find(|s| s.name == name && s.instance == instance)
            .map(|s| s.http)
            .expect("service")
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        for s in &self.services {
            loop {
                let ok = self
                    .http
                    .get(format!("http://{}/health", s.http))
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                if ok {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{}#{} never became healthy",
                    s.name,
                    s.instance
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// SIGKILL one service instance.
    pub fn kill(&mut self, name: &str, instance: u32) {
        let s = self
            .services
            .iter_mut()
            .find(|s| s.name == name && s.instance == instance)
            .expect("service");
        let _ = s.child.kill();
        let _ = s.child.wait();
    }

    /// Places an order; `Ok(order_id)` when the platform acknowledged it (201).
    pub async fn place(&self, order_id: &str, sku: u32, quantity: u32) -> Result<String, String> {
        let body = serde_json::json!({
            "order_id": order_id, "customer_id": format!("c-{}", order_id.len() + sku as usize), "sku": format!("sku-{sku}"), "quantity": quantity
        });
        let response = self
            .http
            .post(format!("http://{}/orders", self.http("order", 0)))
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

    /// Places `n` orders (ids `{prefix}-{i}`, SKUs round robin, quantity 1..=3).
    pub async fn place_many(&self, prefix: &str, n: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for i in 0..n {
            let id = format!("{prefix}-{i}");
            self.place(&id, (i as u32) % self.options.skus, 1 + (i as u32 % 3))
                .await
                .expect("order accepted");
            ids.push(id);
        }
        ids
    }

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
            kafka_bootstrap: e.kafka.as_ref().expect("kafka").bootstrap_direct.clone(),
            partitions: self.options.partitions,
            replication: -1,
            claim_idle: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            topics: Vec::new(),
        }
    }

    /// Every envelope on `topics` so far (read directly, unfaulted).
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

    /// Decoded events of the order flow.
    pub async fn events(&self) -> Vec<(Envelope, Event)> {
        self.read_all(&["orders", "inventory", "payments", "shipping"])
            .await
            .into_iter()
            .filter_map(|(_, bytes)| {
                let envelope = Envelope::from_bytes(&bytes).ok()?;
                let event = envelope.decode().ok()?;
                Some((envelope, event))
            })
            .collect()
    }

    /// Waits until every order has a terminal event (OrderShipped or OrderCancelled);
    /// returns the orders still without one after `timeout`.
    pub async fn wait_terminal(&self, orders: &[String], timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let terminal = terminal_orders(&self.events().await);
            let missing: Vec<String> = orders
                .iter()
                .filter(|o| !terminal.contains_key(*o))
                .cloned()
                .collect();
            if missing.is_empty() || Instant::now() >= deadline {
                return missing;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    pub async fn get_json(&self, service: &str, path: &str) -> serde_json::Value {
        let url = format!("http://{}{path}", self.http(service, 0));
        self.http
            .get(&url)
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("JSON")
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
        for s in &self.services {
            let _ = kill(Pid::from_raw(s.child.id() as i32), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for s in &mut self.services {
            while s.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
    }
}

/// Terminal event types per order id (an order may have more than one: a bug to count).
pub fn terminal_orders(events: &[(Envelope, Event)]) -> HashMap<String, Vec<EventType>> {
    let mut out: HashMap<String, Vec<EventType>> = HashMap::new();
    for (_, event) in events {
        if event.event_type().is_terminal_for_order()
            && let Some(id) = event.order_id()
        {
            out.entry(id.to_string())
                .or_default()
                .push(event.event_type());
        }
    }
    out
}

/// Occurrences of each event id (duplicates are ids seen more than once).
pub fn id_counts(events: &[(Envelope, Event)]) -> BTreeMap<uuid::Uuid, usize> {
    let mut counts = BTreeMap::new();
    for (e, _) in events {
        *counts.entry(e.event_id).or_insert(0) += 1;
    }
    counts
}

/// (order id, event type) pairs with more than one distinct event id: one step applied twice.
pub fn duplicate_effects(events: &[(Envelope, Event)]) -> Vec<(String, EventType)> {
    let mut ids: BTreeMap<(String, EventType), std::collections::BTreeSet<uuid::Uuid>> =
        BTreeMap::new();
    for (e, ev) in events {
        // StockUpdated and LowStockAlert legitimately repeat for one order (reserve, release).
        if matches!(
            ev.event_type(),
            EventType::StockUpdated | EventType::LowStockAlert
        ) {
            continue;
        }
        if let Some(order) = ev.order_id() {
            ids.entry((order.to_string(), ev.event_type()))
                .or_default()
                .insert(e.event_id);
        }
    }
    ids.into_iter()
        .filter(|(_, set)| set.len() > 1)
        .map(|(k, _)| k)
        .collect()
}
