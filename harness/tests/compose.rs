//! compose.yaml cannot run here (no Docker engine), so its wiring is checked against
//! the lab's: the same four listeners as lab/kafka/server.properties, each broker's
//! advertised CLIENT port is a published Toxiproxy proxy whose upstream is that
//! broker's CLIENT listener, and lab/compose-endpoints.json describes the same ports.

use std::collections::{BTreeMap, BTreeSet};

use lab::Endpoints;
use serde_yaml_ng::Value;

const COMPOSE: &str = include_str!("../../compose.yaml");
const SERVER_PROPERTIES: &str = include_str!("../../lab/kafka/server.properties");
const COMPOSE_ENDPOINTS: &str = include_str!("../../lab/compose-endpoints.json");

/// `NAME://host:port,...` → {NAME: (host, port)}
fn listeners(list: &str) -> BTreeMap<String, (String, u16)> {
    list.split(',')
        .map(|l| {
            let (name, addr) = l
                .split_once("://")
                .unwrap_or_else(|| panic!("listener {l}"));
            let (host, port) = addr
                .rsplit_once(':')
                .unwrap_or_else(|| panic!("listener {l}"));
            let port = port.parse().unwrap_or_else(|_| panic!("port in {l}"));
            (name.to_string(), (host.to_string(), port))
        })
        .collect()
}

fn property<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} in server.properties"))
}

fn env<'a>(service: &'a Value, key: &str) -> &'a str {
    service["environment"][key]
        .as_str()
        .unwrap_or_else(|| panic!("environment {key}"))
}

/// Published `127.0.0.1:HOST:CONTAINER` ports of a service, as {container: host}.
fn published(service: &Value) -> BTreeMap<u16, u16> {
    service["ports"]
        .as_sequence()
        .map(|ports| {
            ports
                .iter()
                .map(|p| {
                    let text = p.as_str().expect("port mapping as a string");
                    let parts: Vec<&str> = text.split(':').collect();
                    assert_eq!(
                        parts.len(),
                        3,
                        "`{text}`: publish as 127.0.0.1:HOST:CONTAINER"
                    );
                    assert_eq!(parts[0], "127.0.0.1", "`{text}` must bind loopback only");
                    (
                        parts[2].parse().expect("port"),
                        parts[1].parse().expect("port"),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Debug, serde::Deserialize)]
struct ProxyConfig {
    name: String,
    listen: String,
    upstream: String,
}

#[test]
fn compose_wiring_matches_the_lab() {
    let compose: Value = serde_yaml_ng::from_str(COMPOSE).expect("compose.yaml parses");
    let services = &compose["services"];
    let proxies: Vec<ProxyConfig> = serde_json::from_str(
        compose["configs"]["proxies"]["content"]
            .as_str()
            .expect("proxies"),
    )
    .expect("toxiproxy config is JSON");
    let proxy_by_port: BTreeMap<u16, &ProxyConfig> = proxies
        .iter()
        .map(|p| {
            (
                p.listen
                    .rsplit_once(':')
                    .expect("listen")
                    .1
                    .parse()
                    .expect("port"),
                p,
            )
        })
        .collect();
    let toxiproxy_ports = published(&services["toxiproxy"]);

    // The lab's template has placeholders for ports: compare listener names.
    let lab_listeners: BTreeSet<String> = property(SERVER_PROPERTIES, "listeners")
        .split(',')
        .filter_map(|l| l.split_once("://").map(|(name, _)| name.to_string()))
        .collect();
    assert_eq!(
        lab_listeners.len(),
        4,
        "CLIENT, DIRECT, INTERNAL, CONTROLLER"
    );
    let brokers: Vec<&str> = services
        .as_mapping()
        .expect("services")
        .keys()
        .filter_map(Value::as_str)
        .filter(|name| name.starts_with("kafka-"))
        .collect();
    assert_eq!(brokers.len(), 3, "three brokers");

    for name in brokers {
        let service = &services[name];
        let bound = listeners(env(service, "KAFKA_LISTENERS"));
        let advertised = listeners(env(service, "KAFKA_ADVERTISED_LISTENERS"));
        assert_eq!(
            bound.keys().cloned().collect::<BTreeSet<_>>(),
            lab_listeners,
            "{name}"
        );
        assert_eq!(
            env(service, "KAFKA_INTER_BROKER_LISTENER_NAME"),
            property(SERVER_PROPERTIES, "inter.broker.listener.name")
        );
        assert_eq!(
            env(service, "KAFKA_CONTROLLER_LISTENER_NAMES"),
            property(SERVER_PROPERTIES, "controller.listener.names")
        );
        assert_eq!(env(service, "KAFKA_MIN_INSYNC_REPLICAS"), "2");
        assert_eq!(env(service, "KAFKA_DEFAULT_REPLICATION_FACTOR"), "3");

        // CLIENT is advertised as a proxy's port, published by toxiproxy, whose
        // upstream is this broker's CLIENT listener.
        let (host, port) = &advertised["CLIENT"];
        assert_eq!(host, "127.0.0.1", "{name}: CLIENT advertised on loopback");
        let proxy = proxy_by_port
            .get(port)
            .unwrap_or_else(|| panic!("{name}: no proxy listens on advertised CLIENT port {port}"));
        assert_eq!(proxy.name, name, "{name}: proxy name");
        assert_eq!(
            proxy.upstream,
            format!("{name}:{}", bound["CLIENT"].1),
            "{name}: proxy upstream"
        );
        assert_eq!(
            toxiproxy_ports.get(port),
            Some(port),
            "{name}: proxy port {port} published"
        );

        // DIRECT is advertised as itself and published on the same port.
        let (_, direct) = advertised["DIRECT"];
        assert_eq!(
            bound["DIRECT"].1, direct,
            "{name}: DIRECT bound where advertised"
        );
        assert_eq!(
            published(service).get(&direct),
            Some(&direct),
            "{name}: DIRECT published"
        );
        assert!(
            !advertised.contains_key("CONTROLLER"),
            "{name}: CONTROLLER is not advertised"
        );
    }

    let redis_proxy = proxies
        .iter()
        .find(|p| p.name == "redis")
        .expect("a redis proxy");
    assert_eq!(redis_proxy.upstream, "redis:6379");

    // The endpoints file for `harness lab check` describes the same ports.
    let endpoints = Endpoints::from_json(COMPOSE_ENDPOINTS).expect("compose-endpoints.json");
    let kafka = endpoints.kafka.as_ref().expect("kafka endpoints");
    for broker in &kafka.brokers {
        let service = &services[broker.name.as_str()];
        let advertised = listeners(env(service, "KAFKA_ADVERTISED_LISTENERS"));
        assert_eq!(
            broker.proxied.port(),
            advertised["CLIENT"].1,
            "{}",
            broker.name
        );
        assert_eq!(
            broker.direct.port(),
            advertised["DIRECT"].1,
            "{}",
            broker.name
        );
    }
    let redis = endpoints.redis.as_ref().expect("redis endpoints");
    let redis_listen: u16 = redis_proxy
        .listen
        .rsplit_once(':')
        .expect("listen")
        .1
        .parse()
        .expect("port");
    assert_eq!(redis.proxied.port(), redis_listen);
    assert_eq!(
        published(&services["redis"]).get(&6379),
        Some(&redis.direct.port())
    );
    assert_eq!(
        endpoints.toxiproxy.map(|a| a.port()),
        toxiproxy_ports.get(&8474).copied()
    );
}
