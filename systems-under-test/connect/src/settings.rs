//! The security settings of an endpoints file and where their secrets come from.
//!
//! A setting names where its password is (`password_env`, `password_file`), never the
//! password itself: these values are serialized into the lab's state file, the output of
//! `harness lab up --json` and a run's results, so a secret must not be one of them.
//! [`Secret`] holds a resolved password and is neither `Serialize` nor printable.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Kafka's `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SecurityProtocol {
    #[default]
    #[serde(rename = "PLAINTEXT")]
    Plaintext,
    #[serde(rename = "SSL")]
    Ssl,
    #[serde(rename = "SASL_PLAINTEXT")]
    SaslPlaintext,
    #[serde(rename = "SASL_SSL")]
    SaslSsl,
}

impl SecurityProtocol {
    /// The name librdkafka and Kafka use.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }
}

impl std::str::FromStr for SecurityProtocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::Plaintext,
            Self::Ssl,
            Self::SaslPlaintext,
            Self::SaslSsl,
        ]
        .into_iter()
        .find(|p| p.name().eq_ignore_ascii_case(s))
        .ok_or_else(|| format!("`{s}`: expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"))
    }
}

/// The SASL mechanisms the harness speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

impl std::str::FromStr for SaslMechanism {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Plain, Self::ScramSha512]
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("`{s}`: expected PLAIN or SCRAM-SHA-512"))
    }
}

/// Where a password is: an environment variable or a file (its first line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    Env(String),
    File(PathBuf),
}

impl std::fmt::Display for PasswordSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordSource::Env(var) => write!(f, "password_env {var}"),
            PasswordSource::File(path) => write!(f, "password_file {}", path.display()),
        }
    }
}

impl PasswordSource {
    fn pick(env: &Option<String>, file: &Option<PathBuf>) -> Result<Option<Self>, SecurityError> {
        match (env, file) {
            (Some(_), Some(_)) => Err(SecurityError::Invalid(
                "password_env and password_file both given: name one".into(),
            )),
            // Not echoed: a value that is no name may be the password pasted in.
            (Some(var), None) if !is_variable_name(var) => Err(SecurityError::Invalid(
                "password_env is not a variable name (is it the password itself?)".into(),
            )),
            (Some(var), None) => Ok(Some(Self::Env(var.clone()))),
            (None, Some(path)) => Ok(Some(Self::File(path.clone()))),
            (None, None) => Ok(None),
        }
    }

    /// Reads the password now. A missing variable or file, or an empty password, is an
    /// error naming the variable or file (never the value).
    pub fn resolve(&self) -> Result<Secret, SecurityError> {
        let value = match self {
            PasswordSource::Env(var) => env_password(var, std::env::var(var))?,
            PasswordSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| SecurityError::ReadFile {
                    path: path.clone(),
                    reason: e.to_string(),
                })?
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        };
        if value.is_empty() {
            return Err(SecurityError::Empty {
                source_: self.to_string(),
            });
        }
        Ok(Secret(value))
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`: what a shell, a Kubernetes Secret reference and
/// `std::env::var` accept as a variable name without surprise.
fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The value of `var` as `std::env::var` returned it; an unset and a non-UTF-8
/// variable are different mistakes, so they get different messages (neither the value).
fn env_password(
    var: &str,
    value: Result<String, std::env::VarError>,
) -> Result<String, SecurityError> {
    value.map_err(|e| match e {
        std::env::VarError::NotPresent => SecurityError::MissingEnv {
            var: var.to_string(),
        },
        std::env::VarError::NotUnicode(_) => SecurityError::NotUnicodeEnv {
            var: var.to_string(),
        },
    })
}

/// A resolved password. Not `Serialize`, and `Debug` prints no value, so it cannot end
/// up in a state file, results or a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret held in memory (a generated password).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one call that hands it to a client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How Kafka clients authenticate and encrypt. All fields are optional in the file:
/// absent means PLAINTEXT without SASL, as before.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSecurity {
    #[serde(default)]
    pub security_protocol: SecurityProtocol,
    /// Required with SASL_PLAINTEXT and SASL_SSL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_mechanism: Option<SaslMechanism>,
    /// The SASL user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The environment variable holding the SASL password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// A file whose first line is the SASL password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// PEM file of the CA that signed the brokers' certificates (SSL, SASL_SSL);
    /// absent: the system's trust store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

impl KafkaSecurity {
    /// True when nothing is set (today's plaintext): serialized files leave it out.
    pub fn is_plaintext(&self) -> bool {
        *self == Self::default()
    }

    pub fn password_source(&self) -> Result<Option<PasswordSource>, SecurityError> {
        PasswordSource::pick(&self.password_env, &self.password_file)
    }

    /// Rejects settings that cannot work together, naming the field.
    pub fn validate(&self) -> Result<(), SecurityError> {
        let source = self.password_source()?;
        let protocol = self.security_protocol.name();
        if self.security_protocol.uses_sasl() {
            if self.sasl_mechanism.is_none() {
                return Err(SecurityError::Invalid(format!(
                    "security_protocol {protocol} needs sasl_mechanism (PLAIN or SCRAM-SHA-512)"
                )));
            }
            if self.username.is_none() || source.is_none() {
                return Err(SecurityError::Invalid(format!(
                    "security_protocol {protocol} needs username and password_env or password_file"
                )));
            }
        } else if self.sasl_mechanism.is_some() || self.username.is_some() || source.is_some() {
            return Err(SecurityError::Invalid(format!(
                "sasl_mechanism, username and password are for SASL_PLAINTEXT or SASL_SSL, not {protocol}"
            )));
        }
        if self.ca_file.is_some() && !self.security_protocol.uses_tls() {
            return Err(SecurityError::Invalid(format!(
                "ca_file is for SSL or SASL_SSL, not {protocol}"
            )));
        }
        Ok(())
    }

    /// `SCRAM-SHA-512, user harness` (or the protocol alone without SASL): how this
    /// client authenticates, for error messages.
    pub fn describe(&self) -> String {
        match (&self.sasl_mechanism, &self.username) {
            (Some(m), Some(u)) => format!("{}, user {u}", m.name()),
            _ => self.security_protocol.name().to_string(),
        }
    }
}

/// How Redis clients authenticate (ACL user, `AUTH`) and encrypt (`rediss://`). All
/// optional: absent means plaintext without AUTH, as before.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSecurity {
    /// TLS on the Redis port (the URL becomes `rediss://`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls: bool,
    /// PEM file of the CA that signed the server's certificate; absent: the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// The ACL user; absent with a password: `AUTH password` as the default user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

impl RedisSecurity {
    pub fn is_plaintext(&self) -> bool {
        *self == Self::default()
    }

    pub fn password_source(&self) -> Result<Option<PasswordSource>, SecurityError> {
        PasswordSource::pick(&self.password_env, &self.password_file)
    }

    pub fn validate(&self) -> Result<(), SecurityError> {
        let source = self.password_source()?;
        if self.username.is_some() && source.is_none() {
            return Err(SecurityError::Invalid(
                "redis username needs password_env or password_file".into(),
            ));
        }
        if self.ca_file.is_some() && !self.tls {
            return Err(SecurityError::Invalid(
                "redis ca_file needs \"tls\": true".into(),
            ));
        }
        Ok(())
    }

    /// `user harness` / `default user` / `no AUTH`, plus TLS, for error messages.
    pub fn describe(&self) -> String {
        let who = match (&self.username, self.password_source()) {
            (Some(u), _) => format!("user {u}"),
            (None, Ok(Some(_))) => "default user".to_string(),
            _ => "no AUTH".to_string(),
        };
        if self.tls { format!("TLS, {who}") } else { who }
    }
}

/// A setting that cannot be used, naming the field, variable or file involved.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("{0}")]
    Invalid(String),
    #[error("password_env {var}: the environment variable is not set")]
    MissingEnv { var: String },
    #[error("password_env {var}: the environment variable's value is not UTF-8")]
    NotUnicodeEnv { var: String },
    #[error("password_file {}: {reason}", path.display())]
    ReadFile { path: PathBuf, reason: String },
    #[error("{source_}: the password is empty")]
    Empty { source_: String },
    #[error("ca_file {}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("kafka client for {bootstrap}: {reason}")]
    Kafka { bootstrap: String, reason: String },
    #[error("redis client for {url}: {reason}")]
    Redis { url: String, reason: String },
}

/// Reads a CA file, naming it when it is missing or holds no PEM certificate.
pub(crate) fn read_ca(path: &Path) -> Result<Vec<u8>, SecurityError> {
    let pem = std::fs::read(path).map_err(|e| SecurityError::CaFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(SecurityError::CaFile {
            path: path.to_path_buf(),
            reason: "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        });
    }
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_settings_are_plaintext_and_serialize_to_nothing() {
        let k: KafkaSecurity = serde_json::from_str("{}").expect("parse");
        assert!(k.is_plaintext());
        assert!(k.validate().is_ok());
        let r: RedisSecurity = serde_json::from_str("{}").expect("parse");
        assert_eq!(serde_json::to_string(&r).expect("json"), "{}");
    }

    #[test]
    fn a_password_field_is_refused() {
        let err = serde_json::from_str::<KafkaSecurity>(r#"{"password": "hunter2"}"#)
            .expect_err("password in the file");
        assert!(
            err.to_string().contains("unknown field `password`"),
            "{err}"
        );
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn sasl_needs_mechanism_user_and_password_source() {
        let mut k = KafkaSecurity {
            security_protocol: SecurityProtocol::SaslSsl,
            ..Default::default()
        };
        assert!(
            k.validate()
                .unwrap_err()
                .to_string()
                .contains("sasl_mechanism")
        );
        k.sasl_mechanism = Some(SaslMechanism::ScramSha512);
        assert!(k.validate().unwrap_err().to_string().contains("username"));
        k.username = Some("harness".into());
        k.password_env = Some("X".into());
        assert!(k.validate().is_ok());
        k.password_file = Some("f".into());
        assert!(k.validate().unwrap_err().to_string().contains("both"));
        let plain = KafkaSecurity {
            ca_file: Some("ca.pem".into()),
            ..Default::default()
        };
        assert!(
            plain
                .validate()
                .unwrap_err()
                .to_string()
                .contains("ca_file")
        );
    }

    #[test]
    fn missing_env_and_file_name_themselves() {
        let env = PasswordSource::Env("HARNESS_TEST_SURELY_UNSET_VAR".into());
        let err = env.resolve().expect_err("unset");
        assert_eq!(
            err.to_string(),
            "password_env HARNESS_TEST_SURELY_UNSET_VAR: the environment variable is not set"
        );
        let file = PasswordSource::File("/nonexistent/pw".into());
        assert!(
            file.resolve()
                .unwrap_err()
                .to_string()
                .starts_with("password_file /nonexistent/pw: ")
        );
    }

    #[test]
    fn password_env_must_be_a_variable_name_and_is_not_echoed() {
        for name in ["HARNESS_KAFKA_PASSWORD", "_X", "a1"] {
            assert!(is_variable_name(name), "{name}");
        }
        for value in [
            "hunter2!",
            "1PASSWORD",
            "",
            "pass word",
            "s3cr\u{e9}t",
            "A-B",
        ] {
            assert!(!is_variable_name(value), "{value:?}");
            let kafka = KafkaSecurity {
                security_protocol: SecurityProtocol::SaslSsl,
                sasl_mechanism: Some(SaslMechanism::ScramSha512),
                username: Some("harness".into()),
                password_env: Some(value.into()),
                ..Default::default()
            };
            let redis = RedisSecurity {
                password_env: Some(value.into()),
                ..Default::default()
            };
            for err in [kafka.validate(), redis.validate()] {
                let err = err.expect_err("not a name").to_string();
                assert_eq!(
                    err,
                    "password_env is not a variable name (is it the password itself?)"
                );
            }
        }
    }

    #[test]
    fn an_unset_and_a_non_utf8_variable_are_told_apart() {
        use std::os::unix::ffi::OsStringExt;
        let not_unicode = std::env::VarError::NotUnicode(std::ffi::OsString::from_vec(vec![0xff]));
        assert_eq!(
            env_password("PW", Err(not_unicode))
                .unwrap_err()
                .to_string(),
            "password_env PW: the environment variable's value is not UTF-8"
        );
        assert_eq!(
            env_password("PW", Err(std::env::VarError::NotPresent))
                .unwrap_err()
                .to_string(),
            "password_env PW: the environment variable is not set"
        );
        assert_eq!(
            env_password("PW", Ok("s3cret".into())).expect("set"),
            "s3cret"
        );
    }

    #[test]
    fn a_file_password_is_its_first_line_and_debug_hides_it() {
        let dir = std::env::temp_dir().join(format!("connect-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("pw");
        std::fs::write(&path, "s3cret\n").expect("write");
        let secret = PasswordSource::File(path).resolve().expect("resolve");
        assert_eq!(secret.expose(), "s3cret");
        assert!(!format!("{secret:?}").contains("s3cret"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn protocol_and_mechanism_names_round_trip() {
        for p in ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] {
            let parsed: SecurityProtocol = p.parse().expect("parse");
            assert_eq!(parsed.name(), p);
            let json: SecurityProtocol = serde_json::from_str(&format!("\"{p}\"")).expect("json");
            assert_eq!(json, parsed);
        }
        assert_eq!(
            "scram-sha-512".parse::<SaslMechanism>(),
            Ok(SaslMechanism::ScramSha512)
        );
        assert!("SCRAM-SHA-256".parse::<SaslMechanism>().is_err());
    }
}
