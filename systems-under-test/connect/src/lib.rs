//! How clients reach a secured Kafka or Redis. An endpoints file (and the platform's
//! flags) carry [`KafkaSecurity`] and [`RedisSecurity`]: the protocol, the SASL
//! mechanism, the user, the CA file and *where* the password is (an environment variable
//! or a file), never the password. The password is read when a client is built.
//!
//! One place per broker builds clients from them, shared by the order platform, the
//! lab's probes and smoke test, and the harness's tap and lag sampler, so every client
//! applies a setting the same way.
//!
//! Modules:
//! - `settings`: the settings types, their validation, [`PasswordSource`] and [`Secret`].
//! - `kafka`: [`kafka_config`] (an rdkafka `ClientConfig` with the settings applied),
//!   [`kcat_properties`], [`kafka::ErrorLog`] and [`kafka::explain`] (why a client failed).
//! - `redis`: [`redis_client`], [`redis_url`], the redis-cli options, [`redis::explain`].

/// The environment variable the order platform reads its Kafka SASL password from: the
/// launcher sets it in the child's environment, never on its command line (which every
/// user of the machine can read in `/proc/PID/cmdline`).
pub const KAFKA_PASSWORD_ENV: &str = "ORDER_PLATFORM_KAFKA_PASSWORD";
/// The same for the platform's Redis password.
pub const REDIS_PASSWORD_ENV: &str = "ORDER_PLATFORM_REDIS_PASSWORD";

pub mod kafka;
pub mod redis;
mod settings;

pub use kafka::{kafka_config, kcat_properties, metadata_consumer};
pub use redis::{redis_cli_args, redis_cli_env, redis_client, redis_url};
pub use settings::{
    KafkaSecurity, PasswordSource, RedisSecurity, SaslMechanism, Secret, SecurityError,
    SecurityProtocol,
};
