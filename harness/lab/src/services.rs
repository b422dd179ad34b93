//! Config files and command lines for each service, and the start-up sequence:
//! ports → Toxiproxy (with its proxies) → Redis → Kafka storage format → brokers → ready.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;

use super::endpoints::{BrokerEndpoints, Endpoints, KafkaEndpoints, ProxyEndpoint, RedisEndpoints};
use super::ports::{free_ports, loopback};
use super::process::{ManagedProcess, ProcessSpec, log_tail};
use super::secure::{self, SecureFiles};
use super::{Installation, LabError, LabSpec, RedisPersistence, ServiceId, ready};

const KAFKA_PROPERTIES: &str = include_str!("../../../lab/kafka/server.properties");
const KAFKA_LOG4J2: &str = include_str!("../../../lab/kafka/log4j2.properties");
const REDIS_CONF: &str = include_str!("../../../lab/redis/redis.conf");

pub(crate) type Processes = Vec<(ServiceId, Mutex<ManagedProcess>)>;

/// Ports of one Kafka node.
#[derive(Debug, Clone, Copy)]
struct BrokerPorts {
    node_id: u32,
    client: u16,
    direct: u16,
    internal: u16,
    controller: u16,
    proxy: u16,
}

/// Fills `{{name}}` placeholders; an unfilled one is a bug in the template or here.
pub(crate) fn render(template: &str, values: &[(&str, String)]) -> Result<String, LabError> {
    let mut out = template.to_string();
    for (key, value) in values {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    match out.find("{{") {
        Some(at) => {
            let rest: String = out[at..].chars().take(40).collect();
            Err(LabError::Spec(format!(
                "unfilled placeholder in a lab template: {rest}"
            )))
        }
        None => Ok(out),
    }
}

fn write(path: &Path, text: &str) -> Result<(), LabError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))?;
    }
    std::fs::write(path, text).map_err(|e| LabError::io(path, e))
}

fn mkdir(path: &Path) -> Result<PathBuf, LabError> {
    std::fs::create_dir_all(path).map_err(|e| LabError::io(path, e))?;
    Ok(path.to_path_buf())
}

/// Starts everything `spec` asks for under `root`. On error, the processes started so
/// far are dropped (and so reaped) before the error is returned.
pub(crate) async fn start_all(
    installation: &Installation,
    spec: &LabSpec,
    root: &Path,
) -> Result<(Endpoints, Processes), LabError> {
    let logs = mkdir(&root.join("logs"))?;
    let brokers = u32::from(spec.brokers);
    let wants_redis = spec.redis.is_some();
    let count = 1 + if wants_redis { 2 } else { 0 } + 5 * brokers as usize;
    let mut ports = free_ports(count)?.into_iter();
    let mut next = || {
        ports
            .next()
            .ok_or_else(|| LabError::Ports("ran out of ports".into()))
    };

    let toxiproxy_api = next()?;
    let redis_ports = if wants_redis {
        Some((next()?, next()?))
    } else {
        None
    };
    let mut broker_ports = Vec::new();
    for node_id in 1..=brokers {
        broker_ports.push(BrokerPorts {
            node_id,
            client: next()?,
            direct: next()?,
            internal: next()?,
            controller: next()?,
            proxy: next()?,
        });
    }

    let mut proxies = Vec::new();
    if let Some((direct, proxy)) = redis_ports {
        proxies.push(ProxyEndpoint {
            name: "redis".into(),
            listen: loopback(proxy),
            upstream: loopback(direct).to_string(),
        });
    }
    for b in &broker_ports {
        proxies.push(ProxyEndpoint {
            name: format!("kafka-{}", b.node_id),
            listen: loopback(b.proxy),
            upstream: loopback(b.client).to_string(),
        });
    }
    let secure = spec.secure.then(|| secure::generate(root)).transpose()?;
    let endpoints = Endpoints {
        toxiproxy: Some(loopback(toxiproxy_api)),
        redis: redis_ports.map(|(direct, proxy)| RedisEndpoints {
            proxied: loopback(proxy),
            direct: loopback(direct),
            proxy: "redis".into(),
            security: secure
                .as_ref()
                .map(SecureFiles::redis_security)
                .unwrap_or_default(),
        }),
        kafka: (!broker_ports.is_empty()).then(|| KafkaEndpoints {
            security: secure
                .as_ref()
                .map(SecureFiles::kafka_security)
                .unwrap_or_default(),
            ..kafka_endpoints(&broker_ports)
        }),
        proxies,
    };

    let mut processes: Processes = Vec::new();
    processes.push((
        ServiceId::Toxiproxy,
        Mutex::new(start_toxiproxy(
            installation,
            spec,
            root,
            &logs,
            toxiproxy_api,
            &endpoints,
        )?),
    ));
    if let (Some(persistence), Some((direct, _))) = (spec.redis, redis_ports) {
        processes.push((
            ServiceId::Redis,
            Mutex::new(start_redis(
                installation,
                root,
                &logs,
                direct,
                persistence,
                secure.as_ref(),
            )?),
        ));
    }
    if !broker_ports.is_empty() {
        let cluster_id = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(uuid::Uuid::new_v4().as_bytes());
        let configs = write_kafka_configs(root, &broker_ports, secure.as_ref())?;
        format_kafka(installation, &logs, &cluster_id, &configs, secure.as_ref()).await?;
        for (b, config) in broker_ports.iter().zip(&configs) {
            let process = start_broker(installation, spec, root, &logs, b.node_id, config)?;
            processes.push((ServiceId::Kafka(b.node_id), Mutex::new(process)));
        }
    }
    ready::all(&endpoints, &processes, spec.ready_timeout).await?;
    if let (Some(files), Some(kafka)) = (&secure, &endpoints.kafka) {
        secure::grant_acls(installation, files, &kafka.bootstrap_direct, &logs).await?;
    }
    Ok((endpoints, processes))
}

fn kafka_endpoints(brokers: &[BrokerPorts]) -> KafkaEndpoints {
    let list = |port: fn(&BrokerPorts) -> u16| {
        brokers
            .iter()
            .map(|b| loopback(port(b)).to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    KafkaEndpoints {
        bootstrap_proxied: list(|b| b.proxy),
        bootstrap_direct: list(|b| b.direct),
        brokers: brokers
            .iter()
            .map(|b| BrokerEndpoints {
                node_id: b.node_id,
                name: format!("kafka-{}", b.node_id),
                proxied: loopback(b.proxy),
                direct: loopback(b.direct),
                client_listener: loopback(b.client).to_string(),
                proxy: format!("kafka-{}", b.node_id),
            })
            .collect(),
        security: Default::default(),
    }
}

fn start_toxiproxy(
    installation: &Installation,
    spec: &LabSpec,
    root: &Path,
    logs: &Path,
    api_port: u16,
    endpoints: &Endpoints,
) -> Result<ManagedProcess, LabError> {
    // Proxies come from a config file so they exist from the first moment (and again
    // after a restart of Toxiproxy itself).
    let config = root.join("toxiproxy/proxies.json");
    let proxies: Vec<_> = endpoints
        .proxies
        .iter()
        .map(|p| {
            serde_json::json!({
                "name": p.name, "listen": p.listen.to_string(),
                "upstream": p.upstream, "enabled": true
            })
        })
        .collect();
    write(
        &config,
        &serde_json::to_string_pretty(&proxies).unwrap_or_default(),
    )?;
    ManagedProcess::spawn(ProcessSpec {
        name: "toxiproxy".into(),
        program: installation.toxiproxy_server(),
        args: vec![
            "-host".into(),
            "127.0.0.1".into(),
            "-port".into(),
            api_port.to_string(),
            "-config".into(),
            config.display().to_string(),
            "-seed".into(),
            spec.toxiproxy_seed.to_string(),
        ],
        env: Vec::new(),
        cwd: Some(root.to_path_buf()),
        log: logs.join("toxiproxy.log"),
    })
}

fn start_redis(
    installation: &Installation,
    root: &Path,
    logs: &Path,
    port: u16,
    persistence: RedisPersistence,
    secure: Option<&SecureFiles>,
) -> Result<ManagedProcess, LabError> {
    let dir = mkdir(&root.join("redis"))?;
    let persistence = match persistence {
        RedisPersistence::None => "save \"\"\nappendonly no",
        RedisPersistence::Everysec => "save \"\"\nappendonly yes\nappendfsync everysec",
        RedisPersistence::Always => "save \"\"\nappendonly yes\nappendfsync always",
    };
    let listen = match secure {
        Some(files) => secure::redis_listen(files, port)?,
        None => format!("port {port}"),
    };
    let conf = render(
        REDIS_CONF,
        &[
            ("listen", listen),
            ("dir", dir.display().to_string()),
            ("persistence", persistence.to_string()),
        ],
    )?;
    let conf_path = dir.join("redis.conf");
    // 0600: a secure lab's file holds the ACL user's password.
    secure::write_private(&conf_path, &conf)?;
    ManagedProcess::spawn(ProcessSpec {
        name: "redis".into(),
        program: installation.redis_server(),
        args: vec![conf_path.display().to_string()],
        env: Vec::new(),
        cwd: Some(dir),
        log: logs.join("redis.log"),
    })
}

/// The plaintext lab's protocol map (the secure lab's is in `secure`).
const PLAINTEXT_PROTOCOLS: &str = "listener.security.protocol.map=CLIENT:PLAINTEXT,DIRECT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT";

fn write_kafka_configs(
    root: &Path,
    brokers: &[BrokerPorts],
    secure: Option<&SecureFiles>,
) -> Result<Vec<PathBuf>, LabError> {
    let security = match secure {
        Some(files) => secure::kafka_properties(files)?,
        None => PLAINTEXT_PROTOCOLS.to_string(),
    };
    let voters = brokers
        .iter()
        .map(|b| format!("{}@127.0.0.1:{}", b.node_id, b.controller))
        .collect::<Vec<_>>()
        .join(",");
    let (replication, min_isr) = if brokers.len() >= 3 { (3, 2) } else { (1, 1) };
    write(&root.join("kafka/log4j2.properties"), KAFKA_LOG4J2)?;
    brokers
        .iter()
        .map(|b| {
            let dir = mkdir(&root.join(format!("kafka-{}", b.node_id)))?;
            let text = render(
                KAFKA_PROPERTIES,
                &[
                    ("node_id", b.node_id.to_string()),
                    ("voters", voters.clone()),
                    ("client_port", b.client.to_string()),
                    ("direct_port", b.direct.to_string()),
                    ("internal_port", b.internal.to_string()),
                    ("controller_port", b.controller.to_string()),
                    ("proxy_port", b.proxy.to_string()),
                    ("log_dir", dir.join("data").display().to_string()),
                    ("replication", replication.to_string()),
                    ("min_isr", min_isr.to_string()),
                    ("security", security.clone()),
                ],
            )?;
            let path = dir.join("server.properties");
            // 0600: a secure lab's properties hold the PLAIN users' passwords.
            secure::write_private(&path, &text)?;
            Ok(path)
        })
        .collect()
}

/// `$JAVA_HOME/bin/java`, else `java` on `PATH`.
pub fn java() -> Result<PathBuf, LabError> {
    let from_home = std::env::var_os("JAVA_HOME").map(|home| PathBuf::from(home).join("bin/java"));
    let on_path = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("java"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    from_home
        .into_iter()
        .chain(on_path)
        .find(|p| p.is_file())
        .ok_or_else(|| LabError::NotInstalled {
            component: "java (a JDK 17+ for Kafka; set JAVA_HOME or put java on PATH)".into(),
            path: PathBuf::from("java"),
        })
}

/// `kafka-storage format` for every node, in parallel (each is a JVM start).
async fn format_kafka(
    installation: &Installation,
    logs: &Path,
    cluster_id: &str,
    configs: &[PathBuf],
    secure: Option<&SecureFiles>,
) -> Result<(), LabError> {
    let java = java()?;
    let scram = secure.map(secure::scram_arguments).transpose()?;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, config) in configs.iter().enumerate() {
        let log = logs.join(format!("kafka-{}-format.log", i + 1));
        let out = std::fs::File::create(&log).map_err(|e| LabError::io(&log, e))?;
        let err = out.try_clone().map_err(|e| LabError::io(&log, e))?;
        // `--cluster-id=ID` in one argument: a base64url id may start with `-`, which
        // the tool's argument parser would take for an option (1 start in 64 failed).
        let mut tool: Vec<String> = vec![
            "kafka.tools.StorageTool".into(),
            "format".into(),
            format!("--cluster-id={cluster_id}"),
            "-c".into(),
            config.display().to_string(),
        ];
        let mut command = tokio::process::Command::new(&java);
        command
            .args(["-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp"])
            .arg(installation.kafka_classpath());
        match &scram {
            // The SCRAM passwords go through a 0600 argfile, not the command line.
            Some(scram) => {
                tool.extend(scram.iter().cloned());
                let path = config.with_file_name("format.args");
                secure::argfile(&path, &tool)?;
                command.arg(format!("@{}", path.display()));
            }
            None => {
                command.args(&tool);
            }
        }
        command
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let name = format!("kafka-{} storage format", i + 1);
        tasks.spawn(async move {
            let status =
                match tokio::time::timeout(Duration::from_secs(120), command.status()).await {
                    Ok(Ok(status)) if status.success() => return Ok(()),
                    Ok(Ok(status)) => status.to_string(),
                    Ok(Err(e)) => format!("could not run java: {e} (is a JDK 17+ installed?)"),
                    Err(_) => "did not finish within 120 s".to_string(),
                };
            Err(LabError::Exited {
                name,
                status,
                log_tail: log_tail(&log, 20),
            })
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.map_err(|e| LabError::Spec(format!("format task: {e}")))??;
    }
    Ok(())
}

fn start_broker(
    installation: &Installation,
    spec: &LabSpec,
    root: &Path,
    logs: &Path,
    node_id: u32,
    config: &Path,
) -> Result<ManagedProcess, LabError> {
    let heap = spec.broker_heap_mb;
    ManagedProcess::spawn(ProcessSpec {
        name: format!("kafka-{node_id}"),
        program: java()?,
        args: vec![
            format!("-Xms{}m", heap.min(256)),
            format!("-Xmx{heap}m"),
            "-XX:+UseG1GC".into(),
            "-XX:MaxGCPauseMillis=20".into(),
            "-XX:ParallelGCThreads=1".into(),
            "-XX:ConcGCThreads=1".into(),
            "-Djava.awt.headless=true".into(),
            format!(
                "-Dlog4j2.configurationFile={}",
                root.join("kafka/log4j2.properties").display()
            ),
            format!("-Dkafka.logs.dir={}", logs.display()),
            "-cp".into(),
            installation.kafka_classpath(),
            "kafka.Kafka".into(),
            config.display().to_string(),
        ],
        env: Vec::new(),
        cwd: Some(root.to_path_buf()),
        log: logs.join(format!("kafka-{node_id}.log")),
    })
}

/// The socket a Kafka node's DIRECT listener binds, for probes.
pub(crate) fn broker_direct(endpoints: &Endpoints, node_id: u32) -> Option<SocketAddr> {
    endpoints.broker(node_id).map(|b| b.direct)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_without_leftovers() {
        let brokers: Vec<BrokerPorts> = (1..=3)
            .map(|n| BrokerPorts {
                node_id: n,
                client: 1000 + n as u16,
                direct: 2000 + n as u16,
                internal: 3000 + n as u16,
                controller: 4000 + n as u16,
                proxy: 5000 + n as u16,
            })
            .collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let configs = write_kafka_configs(dir.path(), &brokers, None).expect("configs");
        let text = std::fs::read_to_string(&configs[1]).expect("read");
        assert!(text.contains("node.id=2\n"));
        assert!(text.contains(
            "controller.quorum.voters=1@127.0.0.1:4001,2@127.0.0.1:4002,3@127.0.0.1:4003"
        ));
        assert!(
            text.contains("advertised.listeners=CLIENT://127.0.0.1:5002,DIRECT://127.0.0.1:2002")
        );
        assert!(text.contains("min.insync.replicas=2\n"));
        assert!(text.contains("default.replication.factor=3\n"));
    }

    #[test]
    fn render_rejects_unfilled_placeholders() {
        assert!(render("a={{a}} b={{b}}", &[("a", "1".into())]).is_err());
        assert_eq!(
            render("a={{a}}", &[("a", "1".into())]).expect("render"),
            "a=1"
        );
    }
}
