//! Where the lab's services answer. Printed by `harness lab up --json`, recorded in the
//! state file, and accepted back as the description of an external lab.
//!
//! A secured service carries a `security` object ([`connect::KafkaSecurity`],
//! [`connect::RedisSecurity`]): where its password is, never the password, since this
//! value is written to the state file, printed, and copied into a run's results.
//! Absent means plaintext, as in files written before it existed.
//!
//! Every level refuses fields it does not know: a misspelled `securty`, or a `password`
//! beside `bootstrap_proxied`, would otherwise be dropped and the lab reached without
//! security, failing later as an authentication error far from the typo.

use std::net::SocketAddr;

use connect::{KafkaSecurity, RedisSecurity};
use serde::{Deserialize, Serialize};

/// Every address a client, the tap or a script needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    /// Toxiproxy's HTTP API; `None` for an external lab without one (no network faults).
    pub toxiproxy: Option<SocketAddr>,
    pub redis: Option<RedisEndpoints>,
    pub kafka: Option<KafkaEndpoints>,
    /// Every proxy the lab created, by name.
    #[serde(default)]
    pub proxies: Vec<ProxyEndpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisEndpoints {
    /// Through the `redis` proxy: what the system under test uses.
    pub proxied: SocketAddr,
    /// Straight to redis-server: the harness's own tap and readers.
    pub direct: SocketAddr,
    /// The proxy's name in Toxiproxy.
    pub proxy: String,
    /// TLS, ACL user and where its password is; absent: plaintext without AUTH.
    #[serde(default, skip_serializing_if = "RedisSecurity::is_plaintext")]
    pub security: RedisSecurity,
}

impl RedisEndpoints {
    /// `redis://` or, with TLS, `rediss://` (never with a password in it).
    pub fn proxied_url(&self) -> String {
        connect::redis_url(self.proxied, &self.security)
    }

    pub fn direct_url(&self) -> String {
        connect::redis_url(self.direct, &self.security)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaEndpoints {
    /// Bootstrap list through the proxies (each broker advertises its proxy's port here).
    pub bootstrap_proxied: String,
    /// Bootstrap list on the DIRECT listeners (never faulted).
    pub bootstrap_direct: String,
    pub brokers: Vec<BrokerEndpoints>,
    /// security.protocol, SASL user and where its password is, CA file; the same for
    /// the proxied and the direct listeners. Absent: PLAINTEXT.
    #[serde(default, skip_serializing_if = "KafkaSecurity::is_plaintext")]
    pub security: KafkaSecurity,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerEndpoints {
    pub node_id: u32,
    /// `kafka-N`: the name used for fault targets and the proxy.
    pub name: String,
    /// The proxy's listen address = the broker's advertised CLIENT address.
    pub proxied: SocketAddr,
    /// The broker's DIRECT listener.
    pub direct: SocketAddr,
    /// Where the CLIENT listener really binds (the proxy's upstream, `host:port`).
    pub client_listener: String,
    pub proxy: String,
}

/// One Toxiproxy proxy: name, listen address and upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyEndpoint {
    pub name: String,
    pub listen: SocketAddr,
    /// `host:port` as Toxiproxy sees it (a container name in compose.yaml).
    pub upstream: String,
}

impl Endpoints {
    /// The broker with this node id.
    pub fn broker(&self, node_id: u32) -> Option<&BrokerEndpoints> {
        self.kafka
            .as_ref()?
            .brokers
            .iter()
            .find(|b| b.node_id == node_id)
    }

    /// Reads endpoints (the `harness lab up --json` shape) from JSON text.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Security settings that cannot work together, named by service (`kafka.security:
    /// ...`). Passwords are not read here: [`resolve_secrets`](Self::resolve_secrets).
    pub fn validate_security(&self) -> Result<(), String> {
        if let Some(kafka) = &self.kafka {
            kafka
                .security
                .validate()
                .map_err(|e| format!("kafka.security: {e}"))?;
        }
        if let Some(redis) = &self.redis {
            redis
                .security
                .validate()
                .map_err(|e| format!("redis.security: {e}"))?;
        }
        Ok(())
    }

    /// Reads every password the file points to, so a missing variable or file is
    /// reported (naming it) before anything connects.
    pub fn resolve_secrets(&self) -> Result<(), String> {
        self.validate_security()?;
        let sources = [
            self.kafka
                .as_ref()
                .map(|k| ("kafka", k.security.password_source())),
            self.redis
                .as_ref()
                .map(|r| ("redis", r.security.password_source())),
        ];
        for (service, source) in sources.into_iter().flatten() {
            if let Some(source) = source.map_err(|e| format!("{service}.security: {e}"))? {
                source
                    .resolve()
                    .map_err(|e| format!("{service}.security: {e}"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPOSE: &str = include_str!("../../../lab/compose-endpoints.json");

    /// `compose-endpoints.json` with `field: value` added to the object named `at`.
    fn with_field(at: &str, field: &str, value: serde_json::Value) -> String {
        let mut json: serde_json::Value = serde_json::from_str(COMPOSE).expect("compose JSON");
        json[at][field] = value;
        json.to_string()
    }

    #[test]
    fn the_compose_file_and_what_is_printed_parse() {
        let endpoints = Endpoints::from_json(COMPOSE).expect("compose-endpoints.json");
        let printed = serde_json::to_string(&endpoints).expect("json");
        assert_eq!(
            Endpoints::from_json(&printed).expect("round trip"),
            endpoints
        );
    }

    #[test]
    fn a_password_beside_the_kafka_addresses_is_refused() {
        let text = with_field("kafka", "password", "hunter2".into());
        let err = Endpoints::from_json(&text).expect_err("password at the kafka level");
        assert!(
            err.to_string().contains("unknown field `password`"),
            "{err}"
        );
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn a_misspelled_security_section_is_refused() {
        let security = serde_json::json!({"tls": true, "password_env": "HARNESS_REDIS_PASSWORD"});
        let err = Endpoints::from_json(&with_field("redis", "securty", security))
            .expect_err("misspelled security");
        assert!(err.to_string().contains("unknown field `securty`"), "{err}");
        let misplaced = serde_json::json!({"security_protocol": "SASL_SSL"});
        let mut json: serde_json::Value = serde_json::from_str(COMPOSE).expect("compose JSON");
        json["security"] = misplaced;
        let err = Endpoints::from_json(&json.to_string()).expect_err("security at the top");
        assert!(
            err.to_string().contains("unknown field `security`"),
            "{err}"
        );
    }
}
