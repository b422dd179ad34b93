//! `lab up --secure` against real services: Kafka SASL_SSL (SCRAM-SHA-512 and PLAIN)
//! with ACLs and Redis TLS with an ACL user, through the proxies; and the probes'
//! messages for a wrong password, an untrusted CA and a user without permissions,
//! none of which (nor any log the lab wrote) holds a password.

mod common;

use std::path::{Path, PathBuf};

use connect::{KafkaSecurity, RedisSecurity, SaslMechanism};
use lab::secure::{RESTRICTED_USER, SecureFiles};
use lab::{Endpoints, LabSpec, smoke};

fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{what} holds a password: {text}"
        );
    }
}

/// Files under `dir` (recursively).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A CA of its own, which signed nothing the lab serves.
fn other_ca(dir: &Path) -> PathBuf {
    let ca = dir.join("other-ca.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=another CA", "-keyout"])
        .arg(dir.join("other-ca.key"))
        .arg("-out")
        .arg(&ca)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl (the base image has it)");
    assert!(status.success(), "openssl req for the other CA");
    ca
}

fn probe_error(probes: &[lab::Probe], what: &str) -> String {
    probes
        .iter()
        .find(|p| p.what == what)
        .unwrap_or_else(|| panic!("no probe {what:?} in {probes:?}"))
        .error
        .clone()
        .unwrap_or_else(|| panic!("probe {what:?} passed: {probes:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secure_lab_round_trips_and_explains_what_is_wrong() {
    let lab = common::start_lab(LabSpec {
        secure: true,
        ..LabSpec::default()
    })
    .await;
    let dir = lab
        .dir()
        .expect("a local lab has a directory")
        .to_path_buf();
    let files = SecureFiles::at(&dir);
    let secrets = common::secure_passwords(&dir);
    assert_eq!(secrets.len(), 4, "three Kafka users and the Redis user");
    for user in lab::secure::KAFKA_USERS {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(files.kafka_password(user)).expect("password file");
        assert_eq!(
            mode.permissions().mode() & 0o777,
            0o600,
            "{user}'s password file"
        );
    }
    let endpoints = lab.endpoints().clone();
    let json = serde_json::to_string(&endpoints).expect("json");
    assert!(
        json.contains("\"security_protocol\":\"SASL_SSL\""),
        "{json}"
    );
    assert!(json.contains("password_file"), "{json}");
    assert_no_secret("the endpoints JSON", &json, &secrets);

    // Round trips through the proxies: SCRAM-SHA-512 (the endpoints' own), Redis TLS + ACL.
    let report = smoke::run(&lab).await.expect("secure smoke round trip");
    assert!(report.redis_round_trip_ms.is_some() && report.kafka_round_trip_ms.is_some());
    // ...and PLAIN with the same user.
    let mut kafka = endpoints.kafka.clone().expect("kafka");
    kafka.security = files.kafka_security_for("harness", SaslMechanism::Plain);
    smoke::kafka_round_trip(&kafka, &common::unique("plain"))
        .await
        .expect("PLAIN round trip");
    // Plaintext clients are refused: the plain Redis port is off, Kafka wants SASL_SSL.
    let mut plain = endpoints.clone();
    plain.redis.as_mut().expect("redis").security = RedisSecurity::default();
    plain.kafka.as_mut().expect("kafka").security = KafkaSecurity::default();
    let probes = lab::probe(&plain).await;
    assert!(
        probes.iter().filter(|p| p.error.is_some()).count() >= 4,
        "{probes:?}"
    );

    let probes = lab::probe(&endpoints).await;
    assert!(probes.iter().all(|p| p.error.is_none()), "{probes:?}");

    // A wrong password, from a file (the CLI test takes one from the environment).
    let scratch = tempfile::tempdir().expect("tempdir");
    let wrong_file = scratch.path().join("wrong.password");
    std::fs::write(&wrong_file, "not-the-password\n").expect("write");
    let mut wrong = endpoints.clone();
    wrong.kafka.as_mut().expect("kafka").security.password_file = Some(wrong_file.clone());
    wrong.redis.as_mut().expect("redis").security.password_file = Some(wrong_file.clone());
    let probes = lab::probe(&wrong).await;
    let direct = &kafka.bootstrap_direct;
    let kafka_error = probe_error(&probes, "kafka metadata (direct)");
    assert_eq!(
        kafka_error,
        format!(
            "kafka {direct}: SASL authentication failed (SCRAM-SHA-512, user harness): check password_file {}",
            wrong_file.display()
        )
    );
    let redis = endpoints.redis.clone().expect("redis");
    let redis_error = probe_error(&probes, "redis PING (direct)");
    assert_eq!(
        redis_error,
        format!(
            "redis {}: authentication failed (TLS, user harness): check password_file {}",
            redis.direct,
            wrong_file.display()
        )
    );
    let all: String = probes.iter().filter_map(|p| p.error.clone()).collect();
    assert_no_secret("the probe errors", &all, &secrets);
    assert!(!all.contains("not-the-password"), "{all}");

    // An unset variable is named before anything connects.
    let mut unset = wrong.clone();
    let k = &mut unset.kafka.as_mut().expect("kafka").security;
    k.password_file = None;
    k.password_env = Some("LAB_SECURE_TEST_SURELY_UNSET".into());
    let probes = lab::probe(&unset).await;
    assert_eq!(
        probe_error(&probes, "security settings and passwords"),
        "kafka.security: password_env LAB_SECURE_TEST_SURELY_UNSET: the environment variable is not set"
    );

    // A CA that did not sign the servers' certificate.
    let ca = other_ca(scratch.path());
    let mut untrusted = endpoints.clone();
    untrusted.kafka.as_mut().expect("kafka").security.ca_file = Some(ca.clone());
    untrusted.redis.as_mut().expect("redis").security.ca_file = Some(ca.clone());
    let probes = lab::probe(&untrusted).await;
    let expected = format!(
        "the broker's TLS certificate is not trusted: ca_file {} did not sign it",
        ca.display()
    );
    let kafka_error = probe_error(&probes, "kafka metadata (direct)");
    assert_eq!(kafka_error, format!("kafka {direct}: {expected}"));
    let redis_error = probe_error(&probes, "redis PING (proxied)");
    assert_eq!(
        redis_error,
        format!(
            "redis {}: the server's TLS certificate is not trusted: ca_file {} did not sign it",
            redis.proxied,
            ca.display()
        )
    );

    // A user without ACLs: it connects, but may not create the run's topics.
    let mut restricted = endpoints.clone();
    restricted.kafka.as_mut().expect("kafka").security =
        files.kafka_security_for(RESTRICTED_USER, SaslMechanism::ScramSha512);
    let probes = lab::probe(&restricted).await;
    assert!(
        probe_error_none(&probes, "kafka metadata (direct)"),
        "{probes:?}"
    );
    let acl_error = probe_error(&probes, "kafka permission to create topics (direct)");
    assert!(
        acl_error.starts_with(&format!(
            "kafka {direct}: user restricted may not create topics ("
        )),
        "{acl_error}"
    );
    assert_no_secret("the permission error", &acl_error, &secrets);

    // Nothing the lab logged holds a password (its config files and password files do, mode 0600).
    for file in files_under(&dir.join("logs")) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).expect("log")).into_owned();
        assert_no_secret(&file.display().to_string(), &text, &secrets);
    }
    let _ = Endpoints::from_json(&json).expect("the JSON reads back");
}

fn probe_error_none(probes: &[lab::Probe], what: &str) -> bool {
    probes.iter().any(|p| p.what == what && p.error.is_none())
}
