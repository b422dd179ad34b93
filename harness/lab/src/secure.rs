//! `harness lab up --secure`: a throwaway CA and server certificate (SAN 127.0.0.1 and
//! localhost), generated passwords in files of mode 0600, and the config fragments that
//! make Kafka's CLIENT and DIRECT listeners SASL_SSL (PLAIN and SCRAM-SHA-512, with
//! the StandardAuthorizer) and Redis TLS-only with an ACL user.
//!
//! Users: `admin` (super user: the lab's own ACL set-up), `harness` (what the platform,
//! the tap and the probes use: every operation on every topic, group and transactional
//! id), `restricted` (no ACL at all: to produce "missing permission" errors). The
//! INTERNAL and CONTROLLER listeners stay PLAINTEXT on loopback; their principal
//! (`ANONYMOUS`) is a super user so replication and the quorum need no ACLs.
//!
//! The passwords never reach a command line: the broker reads them from its properties
//! file, `kafka-storage format --add-scram` and the ACL tool get theirs through a java
//! `@argfile` and a `--command-config` file, all of mode 0600.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use connect::{KafkaSecurity, RedisSecurity, SaslMechanism, SecurityProtocol};

use super::process::log_tail;
use super::{Installation, LabError};

/// The SASL users of a secure lab.
pub const KAFKA_USERS: [&str; 3] = ["admin", "harness", "restricted"];
/// The user the platform and the harness connect as.
pub const HARNESS_USER: &str = "harness";
/// The user without any ACL.
pub const RESTRICTED_USER: &str = "restricted";

/// The files of a secure lab, under `<lab dir>/secure/`.
#[derive(Debug, Clone)]
pub struct SecureFiles {
    pub dir: PathBuf,
    /// The CA certificate clients trust (PEM).
    pub ca: PathBuf,
    /// The server certificate (PEM) and its key: Redis's `tls-cert-file`/`tls-key-file`.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Key and certificate in one PEM file: Kafka's `ssl.keystore.location` (type PEM).
    pub keystore: PathBuf,
}

impl SecureFiles {
    pub fn at(root: &Path) -> Self {
        let dir = root.join("secure");
        SecureFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
            keystore: dir.join("server-keystore.pem"),
            dir,
        }
    }

    /// The file holding a Kafka user's password.
    pub fn kafka_password(&self, user: &str) -> PathBuf {
        self.dir.join(format!("kafka-{user}.password"))
    }

    /// The file holding the Redis ACL user's password.
    pub fn redis_password(&self) -> PathBuf {
        self.dir.join("redis-harness.password")
    }

    /// What the harness's clients use on Kafka: SASL_SSL, SCRAM-SHA-512, user harness.
    pub fn kafka_security(&self) -> KafkaSecurity {
        self.kafka_security_for(HARNESS_USER, SaslMechanism::ScramSha512)
    }

    /// SASL_SSL as `user` with `mechanism`, its password file and the lab's CA.
    pub fn kafka_security_for(&self, user: &str, mechanism: SaslMechanism) -> KafkaSecurity {
        KafkaSecurity {
            security_protocol: SecurityProtocol::SaslSsl,
            sasl_mechanism: Some(mechanism),
            username: Some(user.into()),
            password_env: None,
            password_file: Some(self.kafka_password(user)),
            ca_file: Some(self.ca.clone()),
        }
    }

    pub fn redis_security(&self) -> RedisSecurity {
        RedisSecurity {
            tls: true,
            ca_file: Some(self.ca.clone()),
            username: Some(HARNESS_USER.into()),
            password_env: None,
            password_file: Some(self.redis_password()),
        }
    }

    fn password(&self, path: &Path) -> Result<String, LabError> {
        let text = std::fs::read_to_string(path).map_err(|e| LabError::io(path, e))?;
        Ok(text.trim().to_string())
    }
}

/// Writes `text` to a file only its owner can read (mode 0600), replacing any.
pub(crate) fn write_private(path: &Path, text: &str) -> Result<(), LabError> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))?;
    }
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| LabError::io(path, e))?;
    file.write_all(text.as_bytes())
        .map_err(|e| LabError::io(path, e))
}

/// Runs `openssl` with `args` in `dir`, naming the step when it fails.
fn openssl(dir: &Path, step: &str, args: &[&str]) -> Result<(), LabError> {
    let output = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| LabError::NotInstalled {
            component: format!("openssl (for the secure lab's certificates: {e})"),
            path: PathBuf::from("openssl"),
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(LabError::Spec(format!(
        "openssl {step}: {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

/// Generates the CA, the server certificate and every password into `root/secure/`.
pub(crate) fn generate(root: &Path) -> Result<SecureFiles, LabError> {
    let files = SecureFiles::at(root);
    let dir = &files.dir;
    std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))?;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca_args = vec!["req", "-x509"];
    ca_args.extend(ec);
    ca_args.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "7",
        "-subj",
        "/CN=harness lab throwaway CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, "CA", &ca_args)?;
    let mut csr_args = vec!["req"];
    csr_args.extend(ec);
    csr_args.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, "server key", &csr_args)?;
    write_private(
        &dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )?;
    openssl(
        dir,
        "server certificate",
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "7",
            "-extfile",
            "server.ext",
        ],
    )?;
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| LabError::io(p, e));
    write_private(
        &files.keystore,
        &format!("{}{}", read(&files.key)?, read(&files.cert)?),
    )?;
    for user in KAFKA_USERS {
        write_private(&files.kafka_password(user), &new_password())?;
    }
    write_private(&files.redis_password(), &new_password())?;
    Ok(files)
}

/// 32 random hex digits.
fn new_password() -> String {
    format!("{}\n", uuid::Uuid::new_v4().simple())
}

/// The security part of a broker's properties (replaces the plaintext protocol map).
pub(crate) fn kafka_properties(files: &SecureFiles) -> Result<String, LabError> {
    let mut users = String::new();
    for user in KAFKA_USERS {
        let password = files.password(&files.kafka_password(user))?;
        users.push_str(&format!(" user_{user}=\"{password}\""));
    }
    let mut text = String::from(
        "listener.security.protocol.map=CLIENT:SASL_SSL,DIRECT:SASL_SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512\n\
         ssl.client.auth=none\n\
         ssl.keystore.type=PEM\n",
    );
    text.push_str(&format!(
        "ssl.keystore.location={}\n",
        files.keystore.display()
    ));
    for listener in ["client", "direct"] {
        text.push_str(&format!(
            "listener.name.{listener}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required{users};\n\
             listener.name.{listener}.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n"
        ));
    }
    text.push_str(
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
         super.users=User:admin;User:ANONYMOUS\n\
         allow.everyone.if.no.acl.found=false\n",
    );
    Ok(text)
}

/// `--add-scram` arguments for `kafka-storage format` (go into a 0600 argfile).
pub(crate) fn scram_arguments(files: &SecureFiles) -> Result<Vec<String>, LabError> {
    let mut args = Vec::new();
    for user in KAFKA_USERS {
        let password = files.password(&files.kafka_password(user))?;
        args.push("--add-scram".to_string());
        args.push(format!("SCRAM-SHA-512=[name={user},password={password}]"));
    }
    Ok(args)
}

/// A java `@argfile` (mode 0600) holding `args`: what a process gets instead of
/// arguments that carry a password. Each argument is quoted.
pub(crate) fn argfile(path: &Path, args: &[String]) -> Result<(), LabError> {
    let text: String = args
        .iter()
        .map(|a| format!("\"{}\"\n", a.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    write_private(path, &text)
}

/// The security part of redis.conf: TLS on `port` (the plain port off), the default
/// user off, `harness` allowed everything.
pub(crate) fn redis_listen(files: &SecureFiles, port: u16) -> Result<String, LabError> {
    let password = files.password(&files.redis_password())?;
    Ok(format!(
        "port 0\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\n\
         tls-auth-clients no\nuser default off\nuser {HARNESS_USER} on >{password} ~* &* +@all",
        files.cert.display(),
        files.key.display(),
        files.ca.display()
    ))
}

/// Grants `harness` every operation on every topic, group and transactional id (and the
/// cluster), as `admin` on the DIRECT listener of `bootstrap`, with Kafka's ACL tool.
pub(crate) async fn grant_acls(
    installation: &Installation,
    files: &SecureFiles,
    bootstrap: &str,
    logs: &Path,
) -> Result<(), LabError> {
    let admin = files.password(&files.kafka_password("admin"))?;
    let config = files.dir.join("admin.properties");
    write_private(
        &config,
        &format!(
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"{admin}\";\n\
             ssl.truststore.type=PEM\nssl.truststore.location={}\n",
            files.ca.display()
        ),
    )?;
    let log = logs.join("kafka-acls.log");
    let out = std::fs::File::create(&log).map_err(|e| LabError::io(&log, e))?;
    let err = out.try_clone().map_err(|e| LabError::io(&log, e))?;
    let mut command = tokio::process::Command::new(super::java()?);
    command
        .args(["-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp"])
        .arg(installation.kafka_classpath())
        .arg("org.apache.kafka.tools.AclCommand")
        .args(["--bootstrap-server", bootstrap, "--command-config"])
        .arg(&config)
        .args([
            "--add",
            "--allow-principal",
            &format!("User:{HARNESS_USER}"),
        ])
        .args(["--operation", "All", "--topic", "*", "--group", "*"])
        .args(["--transactional-id", "*", "--cluster"])
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true);
    let status = match tokio::time::timeout(Duration::from_secs(120), command.status()).await {
        Ok(Ok(status)) if status.success() => return Ok(()),
        Ok(Ok(status)) => status.to_string(),
        Ok(Err(e)) => format!("could not run java: {e}"),
        Err(_) => "did not finish within 120 s".to_string(),
    };
    Err(LabError::Exited {
        name: "kafka ACL set-up".into(),
        status,
        log_tail: log_tail(&log, 20),
    })
}
