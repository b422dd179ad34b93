//! External mode: the same `Lab` handle built from the addresses of services the
//! harness did not start. Here they are a local lab's, fed back through the JSON that
//! `harness lab up --json` prints, as a user would with compose.yaml or a real cluster.

mod common;

use lab::{Endpoints, Lab, LabError, LabSpec, ServiceId};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_lab_is_probed_and_refuses_process_faults() {
    let local = common::start_lab(LabSpec::default()).await;
    let json = serde_json::to_string(local.endpoints()).expect("endpoints JSON");
    let external = Lab::external(Endpoints::from_json(&json).expect("parse endpoints"));
    assert!(!external.is_local());
    assert_eq!(external.endpoints(), local.endpoints());

    let probes = lab::probe(external.endpoints()).await;
    assert_eq!(
        probes.len(),
        6,
        "toxiproxy, redis x2, kafka x2, kafka permission: {probes:?}"
    );
    assert!(probes.iter().all(|p| p.error.is_none()), "{probes:?}");

    // Process faults need a process: an external lab says so instead of guessing.
    match external.kill(ServiceId::Kafka(1)) {
        Err(LabError::NoProcessControl { service, .. }) => assert_eq!(service, "kafka-1"),
        other => panic!("kill on an external lab: {other:?}"),
    }

    // The CLI agrees: all ok while the services run...
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), &json).expect("write endpoints");
    let check = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
            .args(["lab", "check", "--endpoints"])
            .arg(file.path())
            .output()
            .expect("run harness lab check")
    };
    let up = check();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stdout)
    );

    // ...and exit 1, naming what failed, once they are gone.
    drop(local);
    let down = check();
    let stdout = String::from_utf8_lossy(&down.stdout);
    assert_eq!(down.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL  redis PING (direct)"), "{stdout}");
}
