//! `harness lab up --secure --json` then `harness lab check --endpoints` on what it
//! printed, as a user of a secured cluster runs them: the password from a file (as
//! printed) or from the environment passes; a wrong or unset one fails with a line
//! naming the endpoint and where the password comes from, and no output holds a
//! password; `lab down` leaves nothing.

mod common;

use std::path::Path;

use common::{DownOnDrop, harness, with_dir};
use std::time::{Duration, Instant};

fn check(endpoints: &Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = harness()
        .args(["lab", "check", "--endpoints"])
        .arg(endpoints)
        .env_remove("HARNESS_KAFKA_PASSWORD")
        .env_remove("HARNESS_REDIS_PASSWORD")
        .envs(env.iter().copied())
        .output()
        .expect("run harness lab check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{what} holds a password:\n{text}"
        );
    }
}

#[test]
fn secure_up_check_with_file_env_and_wrong_passwords_then_down() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("lab");
    let _down = DownOnDrop(&dir);
    let up = with_dir(&["lab", "up", "--secure", "--json"], &dir);
    assert!(
        up.status.success(),
        "lab up --secure: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let printed = String::from_utf8_lossy(&up.stdout).trim().to_string();
    let endpoints = lab::Endpoints::from_json(&printed).expect("endpoints JSON on stdout");

    let secrets = common::secure_passwords(&dir);
    let files = lab::secure::SecureFiles::at(&std::path::absolute(&dir).expect("absolute"));
    let read = |p: std::path::PathBuf| {
        std::fs::read_to_string(p)
            .expect("password")
            .trim()
            .to_string()
    };
    let kafka_password = read(files.kafka_password("harness"));
    let redis_password = read(files.redis_password());
    assert_no_secret("lab up --json", &printed, &secrets);
    let status = with_dir(&["lab", "status", "--json"], &dir);
    assert_no_secret(
        "lab status",
        &String::from_utf8_lossy(&status.stdout),
        &secrets,
    );
    let state_files: Vec<_> = std::fs::read_dir(&dir)
        .expect("lab dir")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .collect();
    assert!(!state_files.is_empty(), "a state file in the lab dir");
    for file in state_files {
        let text = std::fs::read_to_string(file.path()).expect("state file");
        assert_no_secret("the state file", &text, &secrets);
    }

    // As printed: the passwords from the files it names.
    let as_printed = parent.path().join("printed.json");
    std::fs::write(&as_printed, &printed).expect("write");
    let (code, text) = check(&as_printed, &[]);
    assert_eq!(code, Some(0), "{text}");

    // The same endpoints, the passwords from the environment.
    let from_env = common::passwords_from_env(endpoints.clone());
    let env_file = parent.path().join("env.json");
    std::fs::write(&env_file, serde_json::to_string(&from_env).expect("json")).expect("write");
    let right = [
        ("HARNESS_KAFKA_PASSWORD", kafka_password.as_str()),
        ("HARNESS_REDIS_PASSWORD", redis_password.as_str()),
    ];
    let (code, text) = check(&env_file, &right);
    assert_eq!(code, Some(0), "{text}");
    assert_no_secret("lab check", &text, &secrets);

    // Wrong passwords: exit 1, a line per endpoint naming the cause and the variable.
    let wrong = [
        ("HARNESS_KAFKA_PASSWORD", "wrong-kafka-password"),
        ("HARNESS_REDIS_PASSWORD", "wrong-redis-password"),
    ];
    let (code, text) = check(&env_file, &wrong);
    assert_eq!(code, Some(1), "{text}");
    let kafka = endpoints.kafka.as_ref().expect("kafka");
    let redis = endpoints.redis.as_ref().expect("redis");
    assert!(
        text.contains(&format!(
            "FAIL  kafka metadata (direct): kafka {}: SASL authentication failed (SCRAM-SHA-512, user harness): check password_env HARNESS_KAFKA_PASSWORD",
            kafka.bootstrap_direct
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "FAIL  redis PING (proxied): redis {}: authentication failed (TLS, user harness): check password_env HARNESS_REDIS_PASSWORD",
            redis.proxied
        )),
        "{text}"
    );
    assert_no_secret("lab check", &text, &secrets);
    assert!(!text.contains("wrong-kafka-password") && !text.contains("wrong-redis-password"));

    // Unset: exit 2, the file and the variable named before anything connects.
    let (code, text) = check(&env_file, &[("HARNESS_REDIS_PASSWORD", &redis_password)]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains(&format!(
            "{}: kafka.security: password_env HARNESS_KAFKA_PASSWORD: the environment variable is not set",
            env_file.display()
        )),
        "{text}"
    );
    // A password written into the file itself is refused, and not repeated.
    let inline = parent.path().join("inline.json");
    std::fs::write(
        &inline,
        printed.replacen(
            "\"password_file\"",
            "\"password\":\"hunter2-inline\",\"password_file\"",
            1,
        ),
    )
    .expect("write");
    let (code, text) = check(&inline, &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("unknown field `password`"), "{text}");
    assert!(!text.contains("hunter2-inline"), "{text}");

    let pids: Vec<u32> = serde_json::from_slice::<serde_json::Value>(&status.stdout)
        .expect("status JSON")["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .map(|p| p["pid"].as_u64().expect("pid") as u32)
        .collect();
    assert_eq!(pids.len(), 3, "toxiproxy, redis, one broker");
    let down = with_dir(&["lab", "down"], &dir);
    assert!(
        down.status.success(),
        "down: {}",
        String::from_utf8_lossy(&down.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|&p| common::alive(p)) {
        assert!(
            Instant::now() < deadline,
            "still running after down: {pids:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !dir.exists(),
        "down removes the lab directory, certificates and passwords with it"
    );
}
