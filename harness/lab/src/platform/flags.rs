//! The order platform's flags and environment for the endpoints' security settings.

use crate::LabError;

/// Environment variables of a child process, (name, value).
type Environment = Vec<(String, String)>;

/// The platform's flags for the endpoints' security settings, and its environment: the
/// passwords, read here, go to the child by environment variable, never on its command
/// line (`/proc/PID/cmdline` is readable by every user; `environ` only by the owner).
///
/// Both password variables are always set: to the password, or to the empty string
/// (which the platform reads as unset) when the endpoints carry none, so a variable left
/// in the harness's own environment is not inherited and does not turn AUTH on against
/// a plaintext lab.
pub(super) fn security(
    endpoints: &crate::Endpoints,
) -> Result<(Vec<String>, Environment), LabError> {
    let mut args = Vec::new();
    let (mut kafka_password, mut redis_password) = (String::new(), String::new());
    let secret = |service: &str, source: Result<Option<connect::PasswordSource>, _>| {
        let wrap = |e: connect::SecurityError| LabError::Spec(format!("{service}.security: {e}"));
        source
            .map_err(wrap)?
            .map(|s| s.resolve().map_err(wrap))
            .transpose()
    };
    if let Some(kafka) = &endpoints.kafka {
        let s = &kafka.security;
        args.extend([
            "--kafka-security-protocol".to_string(),
            s.security_protocol.name().to_string(),
        ]);
        if let Some(m) = s.sasl_mechanism {
            args.extend(["--kafka-sasl-mechanism".to_string(), m.name().to_string()]);
        }
        if let Some(user) = &s.username {
            args.extend(["--kafka-username".to_string(), user.clone()]);
        }
        if let Some(ca) = &s.ca_file {
            args.extend(["--kafka-ca-file".to_string(), ca.display().to_string()]);
        }
        if let Some(password) = secret("kafka", s.password_source())? {
            kafka_password = password.expose().to_string();
        }
    }
    if let Some(redis) = &endpoints.redis {
        let s = &redis.security;
        if let Some(user) = &s.username {
            args.extend(["--redis-username".to_string(), user.clone()]);
        }
        if let Some(ca) = &s.ca_file {
            args.extend(["--redis-ca-file".to_string(), ca.display().to_string()]);
        }
        if let Some(password) = secret("redis", s.password_source())? {
            redis_password = password.expose().to_string();
        }
    }
    let env = vec![
        (connect::KAFKA_PASSWORD_ENV.to_string(), kafka_password),
        (connect::REDIS_PASSWORD_ENV.to_string(), redis_password),
    ];
    Ok((args, env))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Endpoints, KafkaEndpoints, RedisEndpoints};

    #[test]
    fn passwords_go_to_the_environment_and_never_to_the_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = crate::secure::SecureFiles::at(dir.path());
        for (path, password) in [
            (files.kafka_password("harness"), "kafka-secret-1"),
            (files.redis_password(), "redis-secret-2"),
        ] {
            crate::secure::write_private(&path, password).expect("write");
        }
        let addr = "127.0.0.1:1".parse().expect("addr");
        let endpoints = Endpoints {
            toxiproxy: None,
            redis: Some(RedisEndpoints {
                proxied: addr,
                direct: addr,
                proxy: "redis".into(),
                security: files.redis_security(),
            }),
            kafka: Some(KafkaEndpoints {
                bootstrap_proxied: "127.0.0.1:1".into(),
                bootstrap_direct: "127.0.0.1:1".into(),
                brokers: Vec::new(),
                security: files.kafka_security(),
            }),
            proxies: Vec::new(),
        };
        let (args, env) = security(&endpoints).expect("flags");
        let joined = args.join(" ");
        assert!(
            joined.starts_with(
                "--kafka-security-protocol SASL_SSL --kafka-sasl-mechanism SCRAM-SHA-512 --kafka-username harness --kafka-ca-file "
            ),
            "{joined}"
        );
        assert!(
            joined.contains("--redis-username harness --redis-ca-file "),
            "{joined}"
        );
        assert!(!joined.contains("secret"), "{joined}");
        assert_eq!(
            env,
            [
                (
                    connect::KAFKA_PASSWORD_ENV.to_string(),
                    "kafka-secret-1".to_string()
                ),
                (
                    connect::REDIS_PASSWORD_ENV.to_string(),
                    "redis-secret-2".to_string()
                ),
            ]
        );
        // Plaintext: the protocol flag alone, and both passwords empty, so stale ones
        // in the harness's environment do not reach the child.
        let mut plain = endpoints;
        plain.redis.as_mut().expect("redis").security = Default::default();
        plain.kafka.as_mut().expect("kafka").security = Default::default();
        let empty = vec![
            (connect::KAFKA_PASSWORD_ENV.to_string(), String::new()),
            (connect::REDIS_PASSWORD_ENV.to_string(), String::new()),
        ];
        assert_eq!(
            security(&plain).expect("flags"),
            (
                vec!["--kafka-security-protocol".into(), "PLAINTEXT".into()],
                empty.clone()
            )
        );
        plain.redis = None;
        plain.kafka = None;
        assert_eq!(security(&plain).expect("flags"), (Vec::new(), empty));
    }
}
