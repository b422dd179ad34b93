//! The order platform's flags and environment for the endpoints' security settings.

use crate::LabError;

/// Environment variables of a child process, (name, value).
type Environment = Vec<(String, String)>;

/// The platform's flags for the endpoints' security settings, and its environment: the
/// passwords, read here, go to the child by environment variable, never on its command
/// line (`/proc/PID/cmdline` is readable by every user; `environ` only by the owner).
pub(super) fn security(
    endpoints: &crate::Endpoints,
) -> Result<(Vec<String>, Environment), LabError> {
    let mut args = Vec::new();
    let mut env = Vec::new();
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
            env.push((
                connect::KAFKA_PASSWORD_ENV.to_string(),
                password.expose().to_string(),
            ));
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
            env.push((
                connect::REDIS_PASSWORD_ENV.to_string(),
                password.expose().to_string(),
            ));
        }
    }
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
        // Plaintext: the protocol flag alone, no environment.
        let mut plain = endpoints;
        plain.redis = None;
        plain.kafka.as_mut().expect("kafka").security = Default::default();
        assert_eq!(
            security(&plain).expect("flags"),
            (
                vec!["--kafka-security-protocol".into(), "PLAINTEXT".into()],
                Vec::new()
            )
        );
    }
}
