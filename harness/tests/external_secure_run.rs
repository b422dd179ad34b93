//! `harness run --endpoints` against `harness lab up --secure` (Kafka SASL_SSL with
//! SCRAM-SHA-512, Redis TLS with an ACL user), the passwords from the environment as a
//! CI job would pass them: a short run on each backend passes; a wrong password is
//! refused with exit 2 before any load, naming the endpoint and the variable; and no
//! file of the run directory (results.json, reports, history, logs) nor anything the
//! harness printed holds a password.

mod common;

use std::path::{Path, PathBuf};

use common::external::{UpLab, harness, results, said};

fn experiment(backend: &str) -> String {
    format!(
        r#"
name = "secure-{backend}"
seed = 11
duration = "4s"
warmup = "1s"
drain_timeout = "40s"

[system]
backend = "{backend}"
brokers = 1
partitions = 2

[workload]
rate = 20
"#
    )
}

/// Every file under `dir` (recursively, not following symlinks), its bytes
/// decompressed when it is zstd (`history.jsonl.zst`).
fn every_file(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_symlink() {
            continue;
        }
        if path.is_dir() {
            out.extend(every_file(&path));
            continue;
        }
        let bytes = std::fs::read(&path).expect("read output file");
        let bytes = if path.extension().is_some_and(|x| x == "zst") {
            zstd::decode_all(bytes.as_slice()).unwrap_or(bytes)
        } else {
            bytes
        };
        out.push((path, bytes));
    }
    out
}

fn assert_nowhere(secrets: &[String], files: &[(PathBuf, Vec<u8>)], printed: &str) {
    for secret in secrets {
        assert!(
            !printed.contains(secret.as_str()),
            "the harness printed a password:\n{printed}"
        );
        for (path, bytes) in files {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{} holds a password", path.display());
        }
    }
}

#[test]
fn secure_runs_pass_with_env_passwords_and_refuse_a_wrong_one() {
    let lab = UpLab::up_secure();
    let secrets = common::secure_passwords(&lab.dir);
    let files = lab::secure::SecureFiles::at(&std::path::absolute(&lab.dir).expect("absolute"));
    let read = |p: PathBuf| {
        std::fs::read_to_string(p)
            .expect("password")
            .trim()
            .to_string()
    };
    let kafka_password = read(files.kafka_password("harness"));
    let redis_password = read(files.redis_password());
    let endpoints = common::passwords_from_env(lab.endpoints.clone());
    let work = tempfile::tempdir().expect("tempdir");
    let endpoints_file = work.path().join("secure-endpoints.json");
    std::fs::write(
        &endpoints_file,
        serde_json::to_string_pretty(&endpoints).expect("json"),
    )
    .expect("write");
    let runs = work.path().join("runs");

    let run = |backend: &str, kafka_pw: &str, redis_pw: &str| {
        let file = work.path().join(format!("secure-{backend}.toml"));
        std::fs::write(&file, experiment(backend)).expect("write experiment");
        harness()
            .arg("run")
            .arg(&file)
            .arg("--endpoints")
            .arg(&endpoints_file)
            .args(["--quiet", "--runs"])
            .arg(&runs)
            .env("HARNESS_KAFKA_PASSWORD", kafka_pw)
            .env("HARNESS_REDIS_PASSWORD", redis_pw)
            .output()
            .expect("run harness")
    };

    let mut printed = String::new();
    for backend in ["kafka", "redis"] {
        let out = run(backend, &kafka_password, &redis_password);
        printed.push_str(&said(&out));
        assert_eq!(out.status.code(), Some(0), "{backend}: {}", said(&out));
        let doc = results(&runs, &format!("secure-{backend}"));
        let acked = doc["counts"]["acknowledged"].as_u64().unwrap_or(0);
        assert!(acked > 0, "{backend}: orders were acknowledged: {doc}");
    }

    // A wrong Kafka password: exit 2 before any load, the endpoint and variable named.
    let out = run("kafka", "not-the-password", &redis_password);
    printed.push_str(&said(&out));
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let direct = &lab
        .endpoints
        .kafka
        .as_ref()
        .expect("kafka")
        .bootstrap_direct;
    assert!(
        stderr.contains(&format!(
            "kafka {direct}: SASL authentication failed (SCRAM-SHA-512, user harness): check password_env HARNESS_KAFKA_PASSWORD"
        )),
        "{}",
        said(&out)
    );
    assert!(!printed.contains("not-the-password"), "{printed}");

    let outputs = every_file(&runs);
    let names: Vec<String> = outputs
        .iter()
        .map(|(p, _)| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for expected in ["results.json", "report.html", "harness.log"] {
        assert!(
            names.iter().any(|n| n == expected),
            "no {expected} among {names:?}"
        );
    }
    assert!(
        names.iter().any(|n| n.starts_with("history")),
        "no history among {names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("payment-")),
        "no service log among {names:?}"
    );
    assert_nowhere(&secrets, &outputs, &printed);
}
