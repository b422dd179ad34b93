//! The command line of `order-platform`: one process per service instance.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use connect::{KafkaSecurity, RedisSecurity, SaslMechanism, SecurityProtocol};

use crate::bus::{Backend, BusConfig, Guarantee};

/// The services of the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServiceKind {
    Order,
    Inventory,
    Payment,
    Shipping,
    Notification,
    Analytics,
    PaymentGateway,
}

impl ServiceKind {
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Order => "order",
            ServiceKind::Inventory => "inventory",
            ServiceKind::Payment => "payment",
            ServiceKind::Shipping => "shipping",
            ServiceKind::Notification => "notification",
            ServiceKind::Analytics => "analytics",
            ServiceKind::PaymentGateway => "payment-gateway",
        }
    }
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "order-platform",
    version,
    about = "Reference order platform (the system under test)"
)]
pub struct Args {
    /// Which service this process runs.
    #[arg(value_enum)]
    pub service: ServiceKind,
    /// `redis` or `kafka`.
    #[arg(long, default_value = "redis")]
    pub backend: Backend,
    /// `at-most-once`, `at-least-once` or `exactly-once`.
    #[arg(long, default_value = "at-least-once")]
    pub guarantee: Guarantee,
    /// Instance number within the service's consumer group.
    #[arg(long, default_value_t = 0)]
    pub instance: u32,
    /// Prefix of every stream, topic and group (one deployment per namespace).
    #[arg(long, default_value = "op")]
    pub namespace: String,
    /// `redis://HOST:PORT/`, or `rediss://` for TLS. No password here: it is read from
    /// the environment variable ORDER_PLATFORM_REDIS_PASSWORD (a command line is
    /// readable by every user of the machine).
    #[arg(long, default_value = "redis://127.0.0.1:6379/")]
    pub redis_url: String,
    /// Redis ACL user (its password: ORDER_PLATFORM_REDIS_PASSWORD).
    #[arg(long)]
    pub redis_username: Option<String>,
    /// PEM file of the CA that signed the Redis server's certificate (`rediss://`).
    #[arg(long)]
    pub redis_ca_file: Option<PathBuf>,
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub kafka_bootstrap: String,
    /// Kafka `security.protocol`: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    #[arg(long, default_value = "PLAINTEXT")]
    pub kafka_security_protocol: SecurityProtocol,
    /// Kafka SASL mechanism: PLAIN or SCRAM-SHA-512 (with SASL_*).
    #[arg(long)]
    pub kafka_sasl_mechanism: Option<SaslMechanism>,
    /// Kafka SASL user (its password: the environment variable ORDER_PLATFORM_KAFKA_PASSWORD).
    #[arg(long)]
    pub kafka_username: Option<String>,
    /// PEM file of the CA that signed the brokers' certificates (SSL, SASL_SSL).
    #[arg(long)]
    pub kafka_ca_file: Option<PathBuf>,
    /// Kafka partitions per topic.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
    /// Kafka replication factor for created topics; -1: the broker's default.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub replication: i32,
    /// HTTP listen address (/health, /metrics and the service's API); port 0: any free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub http: SocketAddr,
    /// Payment: the gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8480")]
    pub gateway_url: String,
    /// Number of SKUs in the catalog (sku-0 ..).
    #[arg(long, default_value_t = 50)]
    pub skus: u32,
    /// Units of each SKU at start (per shard on Kafka).
    #[arg(long, default_value_t = 1000)]
    pub initial_stock: i64,
    #[arg(long, default_value_t = 20)]
    pub low_stock_threshold: i64,
    /// Gateway: share of orders declined.
    #[arg(long, default_value_t = 0.02)]
    pub decline_ratio: f64,
    /// Gateway: share of requests failing with 503.
    #[arg(long, default_value_t = 0.0)]
    pub error_ratio: f64,
    /// Gateway: added latency per charge, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Seed for every random choice (jitter, gateway errors).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Processing attempts before an input is dead-lettered.
    #[arg(long, default_value_t = 8)]
    pub max_attempts: u32,
    /// Redis: claim a dead consumer's pending entries after this idle time (ms).
    #[arg(long, default_value_t = 5000)]
    pub claim_idle_ms: u64,
    /// How long an input that came before the state it needs (a payment for an order
    /// the read model has not seen yet) waits for it before it is dead-lettered as
    /// `state_timeout`, in milliseconds.
    #[arg(long, default_value_t = 30000)]
    pub state_wait_ms: u64,
    /// Upper bound on broker and gateway requests (ms).
    #[arg(long, default_value_t = 5000)]
    pub request_timeout_ms: u64,
    /// Payment: consecutive gateway failures that open the circuit breaker.
    #[arg(long, default_value_t = 5)]
    pub breaker_failures: u32,
    /// Payment: how long the breaker stays open (ms) before a half-open probe.
    #[arg(long, default_value_t = 2000)]
    pub breaker_open_ms: u64,
    /// Order: snapshot the event-sourced aggregate every N events.
    #[arg(long, default_value_t = 4)]
    pub snapshot_every: usize,
    /// Most inputs a service takes per poll (XREADGROUP COUNT; Kafka messages per batch).
    #[arg(long, env = "ORDER_PLATFORM_BATCH", default_value_t = crate::bus::DEFAULT_BATCH)]
    pub batch: usize,
    /// Kafka producers' `linger.ms`.
    #[arg(long, env = "ORDER_PLATFORM_LINGER_MS", default_value_t = crate::bus::DEFAULT_LINGER_MS)]
    pub linger_ms: u32,
    /// Kafka producers' `compression.type` (`none`, `lz4`, `zstd`, `snappy`, `gzip`).
    #[arg(long, env = "ORDER_PLATFORM_COMPRESSION", default_value = crate::bus::DEFAULT_COMPRESSION)]
    pub compression: String,
    /// Kafka consumers' `fetch.min.bytes`.
    #[arg(long, env = "ORDER_PLATFORM_FETCH_MIN_BYTES", default_value_t = crate::bus::DEFAULT_FETCH_MIN_BYTES)]
    pub fetch_min_bytes: u32,
    /// Kafka consumers' `fetch.wait.max.ms`.
    #[arg(long, env = "ORDER_PLATFORM_FETCH_WAIT_MS", default_value_t = crate::bus::DEFAULT_FETCH_WAIT_MS)]
    pub fetch_wait_ms: u32,
    /// Kafka exactly-once: keep a transaction open up to this long (ms) to take more
    /// batches while input is ready; 0 commits every batch.
    #[arg(long, env = "ORDER_PLATFORM_COMMIT_INTERVAL_MS", default_value_t = crate::bus::DEFAULT_COMMIT_INTERVAL_MS)]
    pub commit_interval_ms: u32,
}

impl Args {
    pub fn bus(&self, topics: Vec<String>) -> BusConfig {
        BusConfig {
            backend: self.backend,
            guarantee: self.guarantee,
            namespace: self.namespace.clone(),
            service: self.service.name().to_string(),
            instance: self.instance,
            redis_url: self.redis_url.clone(),
            redis_security: self.redis_security(),
            kafka_bootstrap: self.kafka_bootstrap.clone(),
            kafka_security: self.kafka_security(),
            partitions: self.partitions,
            replication: self.replication,
            claim_idle: Duration::from_millis(self.claim_idle_ms),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            topics,
            tuning: crate::bus::Tuning {
                linger_ms: self.linger_ms,
                compression: self.compression.clone(),
                fetch_min_bytes: self.fetch_min_bytes,
                fetch_wait_ms: self.fetch_wait_ms,
                commit_interval_ms: self.commit_interval_ms.min(1000),
            },
        }
    }

    /// The Kafka settings of the flags; with SASL the password is read from
    /// [`connect::KAFKA_PASSWORD_ENV`].
    pub fn kafka_security(&self) -> KafkaSecurity {
        let sasl = self.kafka_security_protocol.uses_sasl();
        KafkaSecurity {
            security_protocol: self.kafka_security_protocol,
            sasl_mechanism: self.kafka_sasl_mechanism,
            username: self.kafka_username.clone(),
            password_env: sasl.then(|| connect::KAFKA_PASSWORD_ENV.to_string()),
            password_file: None,
            ca_file: self.kafka_ca_file.clone(),
        }
    }

    /// The Redis settings of the flags: TLS from a `rediss://` URL; a password from
    /// [`connect::REDIS_PASSWORD_ENV`] when a user is named or the variable is set and
    /// not empty (the harness sets it empty for a lab without AUTH).
    pub fn redis_security(&self) -> RedisSecurity {
        let password = self.redis_username.is_some()
            || is_set(std::env::var_os(connect::REDIS_PASSWORD_ENV).as_deref());
        RedisSecurity {
            tls: self.redis_url.starts_with("rediss://"),
            ca_file: self.redis_ca_file.clone(),
            username: self.redis_username.clone(),
            password_env: password.then(|| connect::REDIS_PASSWORD_ENV.to_string()),
            password_file: None,
        }
    }

    /// Rejects values that parse but make no sense, with the flag's name.
    pub fn validate(&self) -> Result<(), String> {
        check_redis_url(&self.redis_url)?;
        self.kafka_security()
            .validate()
            .map_err(|e| format!("--kafka-*: {e}"))?;
        self.redis_security()
            .validate()
            .map_err(|e| format!("--redis-*: {e}"))?;
        let ratio = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("--{name} {v}: must be between 0 and 1"))
            }
        };
        ratio("decline-ratio", self.decline_ratio)?;
        ratio("error-ratio", self.error_ratio)?;
        if self.partitions < 1 {
            return Err(format!("--partitions {}: at least 1", self.partitions));
        }
        if self.skus == 0 || self.initial_stock < 0 {
            return Err("--skus must be at least 1 and --initial-stock not negative".into());
        }
        if !self.http.ip().is_loopback() {
            return Err(format!(
                "--http {}: the platform binds loopback addresses only",
                self.http
            ));
        }
        if self.batch == 0 || self.batch > 10_000 {
            return Err(format!("--batch {}: between 1 and 10000", self.batch));
        }
        if !["none", "lz4", "zstd", "snappy", "gzip"].contains(&self.compression.as_str()) {
            return Err(format!(
                "--compression {:?}: none, lz4, zstd, snappy or gzip",
                self.compression
            ));
        }
        if self.max_attempts == 0 || self.breaker_failures == 0 {
            return Err("--max-attempts and --breaker-failures must be at least 1".into());
        }
        if self.namespace.is_empty()
            || !self
                .namespace
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "--namespace {:?}: letters, digits, '-' and '_' only",
                self.namespace
            ));
        }
        Ok(())
    }
}

/// Whether a password variable counts as given: set and not empty. An empty value is
/// unset, so a lab without AUTH can clear a password inherited from the environment.
fn is_set(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| !v.is_empty())
}

/// Refuses a `--redis-url` with user info (`redis://user:pass@host`): the password would
/// be on the command line, readable by every user of the machine, and would bypass
/// `--redis-username`. The message shows the URL without its user info.
fn check_redis_url(url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(());
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return Ok(());
    };
    Err(format!(
        "--redis-url {scheme}://<user info>@{}: no user or password in the URL; give the \
         password in the environment variable {} and the user with --redis-username",
        &rest[at + 1..],
        connect::REDIS_PASSWORD_ENV
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        Args::try_parse_from(["order-platform", "order"].iter().chain(extra)).expect("args")
    }

    #[test]
    fn an_empty_password_variable_is_unset() {
        assert!(!is_set(None));
        assert!(!is_set(Some("".as_ref())));
        assert!(is_set(Some("s3cret".as_ref())));
    }

    #[test]
    fn a_redis_url_with_user_info_is_refused_without_its_password() {
        for url in [
            "redis://user:hunter2@127.0.0.1:6379/",
            "rediss://:hunter2@redis.example:6380",
            "redis://hunter2@127.0.0.1:6379/0?protocol=resp3",
        ] {
            let err = args(&["--redis-url", url])
                .validate()
                .expect_err("user info");
            assert!(!err.contains("hunter2"), "{err}");
            assert!(err.contains(connect::REDIS_PASSWORD_ENV), "{err}");
            assert!(err.contains("--redis-username"), "{err}");
            assert!(err.starts_with("--redis-url redis"), "{err}");
        }
        let err = args(&["--redis-url", "rediss://:pw@redis.example:6380/"])
            .validate()
            .expect_err("user info");
        assert!(
            err.starts_with("--redis-url rediss://<user info>@redis.example:6380/: "),
            "{err}"
        );
        for url in [
            "redis://127.0.0.1:6379/",
            "rediss://redis.example:6380/0",
            "redis://127.0.0.1:6379/0?note=a@b",
        ] {
            assert_eq!(check_redis_url(url), Ok(()), "{url}");
        }
    }
}
