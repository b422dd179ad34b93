//! Redis: the one place a [`RedisSecurity`] becomes a client (ACL user and password,
//! TLS with a custom CA), the same settings for redis-cli, and the causes behind its
//! errors.

use std::net::SocketAddr;

use redis::IntoConnectionInfo;

use crate::settings::{RedisSecurity, SecurityError};

/// `redis://ADDR/`, or `rediss://ADDR/` with TLS. Never carries a password.
pub fn redis_url(addr: SocketAddr, security: &RedisSecurity) -> String {
    let scheme = if security.tls { "rediss" } else { "redis" };
    format!("{scheme}://{addr}/")
}

/// A client for `url` with `security` applied: its user and password (read now) and, on
/// TLS, its CA. A `redis://` URL with `tls` set is taken as `rediss://`.
pub fn redis_client(url: &str, security: &RedisSecurity) -> Result<redis::Client, SecurityError> {
    security.validate()?;
    let err = |reason: String| SecurityError::Redis {
        url: url.to_string(),
        reason,
    };
    let url = match url.strip_prefix("redis://") {
        Some(rest) if security.tls => format!("rediss://{rest}"),
        _ => url.to_string(),
    };
    let info = url
        .as_str()
        .into_connection_info()
        .map_err(|e| err(e.to_string()))?;
    let mut settings = info.redis_settings().clone();
    if let Some(user) = &security.username {
        settings = settings.set_username(user);
    }
    if let Some(source) = security.password_source()? {
        settings = settings.set_password(source.resolve()?.expose());
    }
    let info = info.set_redis_settings(settings);
    if !url.starts_with("rediss://") {
        return redis::Client::open(info).map_err(|e| err(e.to_string()));
    }
    // redis's rustls has no crypto provider of its own; an already installed one stays.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let root_cert = security
        .ca_file
        .as_deref()
        .map(crate::settings::read_ca)
        .transpose()?;
    redis::Client::build_with_tls(
        info,
        redis::TlsCertificates {
            client_tls: None,
            root_cert,
        },
    )
    .map_err(|e| err(e.to_string()))
}

/// redis-cli options for `security` (`--tls --cacert F --user U`); the password goes
/// by [`redis_cli_env`], never on the command line.
pub fn redis_cli_args(security: &RedisSecurity) -> Vec<String> {
    let mut args = Vec::new();
    if security.tls {
        args.push("--tls".to_string());
        if let Some(ca) = &security.ca_file {
            args.push("--cacert".into());
            args.push(ca.display().to_string());
        }
    }
    if let Some(user) = &security.username {
        args.push("--user".into());
        args.push(user.clone());
    }
    if security.password_env.is_some() || security.password_file.is_some() {
        args.push("--no-auth-warning".into());
    }
    args
}

/// The environment redis-cli takes its password from (`REDISCLI_AUTH`).
pub fn redis_cli_env(security: &RedisSecurity) -> Result<Vec<(String, String)>, SecurityError> {
    Ok(match security.password_source()? {
        Some(source) => vec![(
            "REDISCLI_AUTH".to_string(),
            source.resolve()?.expose().to_string(),
        )],
        None => Vec::new(),
    })
}

/// Why a Redis client at `endpoint` failed, from its error text: a wrong password or
/// user, AUTH required but not configured, an untrusted certificate, TLS mismatch.
pub fn explain(endpoint: &str, security: &RedisSecurity, text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let password = match security.password_source() {
        Ok(Some(source)) => format!("check {source}"),
        _ => "set password_env or password_file".to_string(),
    };
    if lower.contains("wrongpass")
        || lower.contains("invalid username-password")
        || lower.contains("authentication failed")
    {
        return Some(format!(
            "redis {endpoint}: authentication failed ({}): {password}",
            security.describe()
        ));
    }
    if lower.contains("noauth") {
        return Some(format!(
            "redis {endpoint}: the server requires AUTH ({}): {password}",
            security.describe()
        ));
    }
    if lower.contains("noperm") || lower.contains("no permissions") {
        let user = security.username.as_deref().unwrap_or("default");
        return Some(format!(
            "redis {endpoint}: user {user} lacks a permission (ACL) the run needs: {text}"
        ));
    }
    if lower.contains("unknownissuer")
        || lower.contains("invalid peer certificate")
        || lower.contains("certificate verify failed")
    {
        let ca = match &security.ca_file {
            Some(ca) => format!("ca_file {} did not sign it", ca.display()),
            None => "no ca_file given and the system trust store does not know it".into(),
        };
        return Some(format!(
            "redis {endpoint}: the server's TLS certificate is not trusted: {ca}"
        ));
    }
    if !security.tls && (lower.contains("connection reset") || lower.contains("broken pipe")) {
        return Some(format!(
            "redis {endpoint}: the server closed the connection: does it speak TLS (set \"tls\": true)? ({text})"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl() -> RedisSecurity {
        RedisSecurity {
            tls: true,
            ca_file: Some("/lab/ca.pem".into()),
            username: Some("harness".into()),
            password_env: Some("CONNECT_TEST_REDIS_PW".into()),
            password_file: None,
        }
    }

    #[test]
    fn urls_follow_tls_and_never_hold_a_password() {
        let addr: SocketAddr = "127.0.0.1:6380".parse().expect("addr");
        assert_eq!(redis_url(addr, &acl()), "rediss://127.0.0.1:6380/");
        assert_eq!(
            redis_url(addr, &RedisSecurity::default()),
            "redis://127.0.0.1:6380/"
        );
    }

    #[test]
    fn cli_args_carry_no_password() {
        let args = redis_cli_args(&acl());
        assert_eq!(
            args,
            [
                "--tls",
                "--cacert",
                "/lab/ca.pem",
                "--user",
                "harness",
                "--no-auth-warning"
            ]
        );
        let err = redis_cli_env(&acl()).expect_err("unset");
        assert!(err.to_string().contains("CONNECT_TEST_REDIS_PW"), "{err}");
    }

    #[test]
    fn explains_wrong_password_and_untrusted_certificate() {
        let text = explain(
            "127.0.0.1:1",
            &acl(),
            "WRONGPASS: invalid username-password pair or user is disabled.",
        )
        .expect("explained");
        assert_eq!(
            text,
            "redis 127.0.0.1:1: authentication failed (TLS, user harness): check password_env CONNECT_TEST_REDIS_PW"
        );
        let text = explain(
            "127.0.0.1:1",
            &acl(),
            "invalid peer certificate: UnknownIssuer",
        )
        .expect("explained");
        assert!(text.contains("not trusted: ca_file /lab/ca.pem"), "{text}");
        // What redis-rs says for WRONGPASS during its connection set-up.
        let text = explain(
            "127.0.0.1:1",
            &acl(),
            "Password authentication failed - AuthenticationFailed",
        )
        .expect("explained");
        assert!(
            text.contains("authentication failed (TLS, user harness)"),
            "{text}"
        );
        assert_eq!(explain("127.0.0.1:1", &acl(), "timed out"), None);
    }
}
