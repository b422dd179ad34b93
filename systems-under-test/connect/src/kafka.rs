//! Kafka: the one place a [`KafkaSecurity`] becomes librdkafka settings, the same
//! settings for kcat, and the causes behind librdkafka's errors in words a person can act
//! on.

use std::sync::Mutex;

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;

use crate::settings::{KafkaSecurity, SecurityError};

/// The librdkafka properties of `security` (password included), without the bootstrap.
fn properties(security: &KafkaSecurity) -> Result<Vec<(&'static str, String)>, SecurityError> {
    security.validate()?;
    let mut out = vec![(
        "security.protocol",
        security.security_protocol.name().to_string(),
    )];
    if let Some(mechanism) = security.sasl_mechanism {
        out.push(("sasl.mechanisms", mechanism.name().to_string()));
    }
    if let Some(user) = &security.username {
        out.push(("sasl.username", user.clone()));
    }
    if let Some(source) = security.password_source()? {
        out.push(("sasl.password", source.resolve()?.expose().to_string()));
    }
    if let Some(ca) = &security.ca_file {
        crate::settings::read_ca(ca)?;
        out.push(("ssl.ca.location", ca.display().to_string()));
    }
    Ok(out)
}

/// A client configuration for `bootstrap` with `security` applied (its password read
/// now); every other setting is the caller's. Every Kafka client of the platform, the
/// harness and the lab starts from this.
pub fn kafka_config(
    bootstrap: &str,
    security: &KafkaSecurity,
) -> Result<ClientConfig, SecurityError> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    for (key, value) in properties(security)? {
        config.set(key, value);
    }
    Ok(config)
}

/// A consumer of no group, for metadata, watermarks and group listings (the harness's
/// preflight, cleanup and tap start): [`kafka_config`] with `read_committed` (a
/// watermark is then the end a `read_committed` reader sees) and errors-only logging.
pub fn metadata_consumer(
    bootstrap: &str,
    security: &KafkaSecurity,
) -> Result<rdkafka::consumer::BaseConsumer, String> {
    kafka_config(bootstrap, security)
        .map_err(|e| e.to_string())?
        .set("isolation.level", "read_committed")
        .set("log_level", "3")
        .create()
        .map_err(|e| format!("kafka client for {bootstrap}: {e}"))
}

/// The same settings as a kcat/librdkafka properties file (`kcat -F FILE`), so the
/// password reaches kcat through a file, never its command line. `None` for plaintext.
pub fn kcat_properties(security: &KafkaSecurity) -> Result<Option<String>, SecurityError> {
    if security.is_plaintext() {
        return Ok(None);
    }
    let text = properties(security)?
        .into_iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    Ok(Some(text))
}

/// A client context that keeps librdkafka's error reports (an authentication failure or
/// a TLS handshake error is reported there; the request itself only times out), so a
/// probe can say why it failed.
#[derive(Debug, Default)]
pub struct ErrorLog {
    errors: Mutex<Vec<String>>,
}

impl ErrorLog {
    /// The reports so far (the last 20).
    pub fn errors(&self) -> Vec<String> {
        self.errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn push(&self, text: String) {
        let mut errors = self
            .errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if errors.len() >= 20 {
            errors.remove(0);
        }
        errors.push(text);
    }
}

impl ClientContext for ErrorLog {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        if (level as i32) <= (RDKafkaLogLevel::Warning as i32) {
            self.push(format!("{fac}: {message}"));
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.push(format!("{error}: {reason}"));
    }
}

impl ConsumerContext for ErrorLog {}

/// Why a Kafka client at `endpoint` failed, from the error it returned and the reports
/// its context kept: a wrong password, an untrusted certificate, a plaintext client on a
/// TLS listener, a missing permission. `None` when none of these is recognised.
pub fn explain(endpoint: &str, security: &KafkaSecurity, texts: &[String]) -> Option<String> {
    let any = |needles: &[&str]| {
        texts
            .iter()
            .any(|t| needles.iter().any(|n| t.to_ascii_lowercase().contains(n)))
    };
    let password = match security.password_source() {
        Ok(Some(source)) => format!("check {source}"),
        _ => "check the password".to_string(),
    };
    if any(&[
        "authentication failed",
        "sasl authentication error",
        "invalid credentials",
    ]) {
        return Some(format!(
            "kafka {endpoint}: SASL authentication failed ({}): {password}",
            security.describe()
        ));
    }
    if any(&[
        "certificate verify failed",
        "certificate could not be verified",
    ]) {
        let ca = match &security.ca_file {
            Some(ca) => format!("ca_file {} did not sign it", ca.display()),
            None => "no ca_file given and the system trust store does not know it".into(),
        };
        return Some(format!(
            "kafka {endpoint}: the broker's TLS certificate is not trusted: {ca}"
        ));
    }
    if any(&[
        "ssl handshake failed",
        "incorrect security.protocol",
        "connecting to a ssl listener",
    ]) {
        return Some(format!(
            "kafka {endpoint}: the connection failed before authentication (TLS or security_protocol mismatch: this client uses {})",
            security.security_protocol.name()
        ));
    }
    if any(&["authorization failed", "authorization_failed"]) {
        let user = security.username.as_deref().unwrap_or("ANONYMOUS");
        return Some(format!(
            "kafka {endpoint}: user {user} lacks a permission (ACL) the run needs: {}",
            texts
                .iter()
                .find(|t| t.to_ascii_lowercase().contains("authorization"))
                .map(String::as_str)
                .unwrap_or_default()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{SaslMechanism, SecurityProtocol};

    fn scram() -> KafkaSecurity {
        KafkaSecurity {
            security_protocol: SecurityProtocol::SaslSsl,
            sasl_mechanism: Some(SaslMechanism::ScramSha512),
            username: Some("harness".into()),
            password_env: Some("CONNECT_TEST_KAFKA_PW".into()),
            ..Default::default()
        }
    }

    #[test]
    fn explains_a_wrong_password_by_its_source() {
        let texts = vec![
            "Local: Authentication failure: sasl_ssl://127.0.0.1:1234/bootstrap: SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512".to_string(),
        ];
        assert_eq!(
            explain("127.0.0.1:1234", &scram(), &texts).as_deref(),
            Some(
                "kafka 127.0.0.1:1234: SASL authentication failed (SCRAM-SHA-512, user harness): check password_env CONNECT_TEST_KAFKA_PW"
            )
        );
    }

    #[test]
    fn explains_an_untrusted_certificate_and_a_missing_permission() {
        let mut security = scram();
        security.ca_file = Some("/lab/ca.pem".into());
        let tls = vec!["SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified".to_string()];
        let text = explain("h:1", &security, &tls).expect("explained");
        assert!(
            text.contains("not trusted: ca_file /lab/ca.pem did not sign it"),
            "{text}"
        );
        let acl = vec!["harness-probe: Broker: Topic authorization failed".to_string()];
        let text = explain("h:1", &security, &acl).expect("explained");
        assert!(text.contains("user harness lacks a permission"), "{text}");
        assert_eq!(explain("h:1", &security, &["timed out".to_string()]), None);
    }

    #[test]
    fn plaintext_has_no_kcat_file_and_a_missing_password_is_named() {
        assert_eq!(
            kcat_properties(&KafkaSecurity::default()).expect("plain"),
            None
        );
        let err = kafka_config("h:1", &scram()).expect_err("unset variable");
        assert!(err.to_string().contains("CONNECT_TEST_KAFKA_PW"), "{err}");
    }
}
