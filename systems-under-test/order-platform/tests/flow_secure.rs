//! The order platform on a secured lab (`lab up --secure`): Kafka over SASL_SSL with
//! SCRAM-SHA-512 and Redis over TLS with an ACL user, through the proxies, the passwords
//! handed to the services by environment. Orders still reach exactly one terminal state,
//! judged by the checker on what the tap (itself connecting securely) read.

mod common;

use common::{Options, Platform};
use order_platform::bus::{Backend, Guarantee};

async fn orders_on_a_secure_lab(backend: Backend, guarantee: Guarantee) {
    let lab = common::secure_lab().await;
    let platform = Platform::start_on(lab, backend, guarantee, Options::default()).await;
    let what = format!("secure {backend:?} {guarantee:?}");
    let (orders, _) = platform.expect_clean_run(100, &what).await;
    assert_eq!(orders.len(), 100, "{what}");
    // No service's command line carries a password (every user can read it).
    let secrets: Vec<String> = std::fs::read_dir(lab.dir().expect("dir").join("secure"))
        .expect("secure dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".password"))
        .map(|e| {
            std::fs::read_to_string(e.path())
                .expect("password")
                .trim()
                .to_string()
        })
        .collect();
    assert_eq!(secrets.len(), 4);
    for (service, instance, pid) in platform.pids() {
        let Some(pid) = pid else { continue };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
        let cmdline = String::from_utf8_lossy(&cmdline);
        assert!(cmdline.contains("--kafka-security-protocol"), "{cmdline}");
        for secret in &secrets {
            assert!(
                !cmdline.contains(secret.as_str()),
                "{service}#{instance}: {cmdline}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_at_least_once_over_tls_with_an_acl_user() {
    orders_on_a_secure_lab(Backend::Redis, Guarantee::AtLeastOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_exactly_once_over_sasl_ssl_scram() {
    orders_on_a_secure_lab(Backend::Kafka, Guarantee::ExactlyOnce).await;
}
