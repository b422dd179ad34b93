//! Where the lab's services answer. Printed by `harness lab up --json`, recorded in the
//! state file, and accepted back as the description of an external lab.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Every address a client, the tap or a script needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
pub struct RedisEndpoints {
    /// Through the `redis` proxy: what the system under test uses.
    pub proxied: SocketAddr,
    /// Straight to redis-server: the harness's own tap and readers.
    pub direct: SocketAddr,
    /// The proxy's name in Toxiproxy.
    pub proxy: String,
}

impl RedisEndpoints {
    pub fn proxied_url(&self) -> String {
        format!("redis://{}/", self.proxied)
    }

    pub fn direct_url(&self) -> String {
        format!("redis://{}/", self.direct)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaEndpoints {
    /// Bootstrap list through the proxies (each broker advertises its proxy's port here).
    pub bootstrap_proxied: String,
    /// Bootstrap list on the DIRECT listeners (never faulted).
    pub bootstrap_direct: String,
    pub brokers: Vec<BrokerEndpoints>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}
