//! Where `lab/install` put the services, and a clear error when it has not run.

use std::path::{Path, PathBuf};

use super::LabError;

/// The installed lab: binaries and jars under `.lab/` (or `$HARNESS_LAB_HOME`).
#[derive(Debug, Clone)]
pub struct Installation {
    pub home: PathBuf,
}

/// The environment variable that points at an installation somewhere else.
pub const HOME_ENV: &str = "HARNESS_LAB_HOME";

impl Installation {
    /// `$HARNESS_LAB_HOME`, else `.lab/` in the first ancestor of the current directory
    /// (or of the running executable) that holds `lab/install`.
    pub fn discover() -> Result<Self, LabError> {
        if let Some(home) = std::env::var_os(HOME_ENV) {
            return Self::at(PathBuf::from(home));
        }
        let mut starts = Vec::new();
        if let Ok(cwd) = std::env::current_dir() {
            starts.push(cwd);
        }
        if let Ok(exe) = std::env::current_exe() {
            starts.push(exe);
        }
        for start in &starts {
            if let Some(root) = start
                .ancestors()
                .find(|dir| dir.join("lab/install").is_file())
            {
                return Self::at(root.join(".lab"));
            }
        }
        Err(LabError::NoInstallation {
            looked: starts
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// An installation at `home` (the components are checked by [`require`](Self::require)).
    pub fn at(home: PathBuf) -> Result<Self, LabError> {
        if !home.is_dir() {
            return Err(LabError::NotInstalled {
                component: "the lab".into(),
                path: home,
            });
        }
        Ok(Installation { home })
    }

    /// Checks that what a lab with these parts needs is installed: Toxiproxy always,
    /// redis-server with Redis, the Kafka jars with Kafka.
    pub fn require(&self, redis: bool, kafka: bool) -> Result<(), LabError> {
        let mut required = vec![("toxiproxy-server", self.toxiproxy_server())];
        if redis {
            required.push(("redis-server", self.redis_server()));
        }
        if kafka {
            required.push(("kafka jars", self.kafka_libs()));
            required.push(("kafka version stamp", self.home.join("kafka/VERSION")));
        }
        match required.into_iter().find(|(_, path)| !path.exists()) {
            Some((component, path)) => Err(LabError::NotInstalled {
                component: component.into(),
                path,
            }),
            None => Ok(()),
        }
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.home.join("bin").join(name)
    }

    pub fn redis_server(&self) -> PathBuf {
        self.bin("redis-server")
    }

    pub fn redis_cli(&self) -> PathBuf {
        self.bin("redis-cli")
    }

    pub fn toxiproxy_server(&self) -> PathBuf {
        self.bin("toxiproxy-server")
    }

    pub fn kcat(&self) -> PathBuf {
        self.bin("kcat")
    }

    pub fn kafka_libs(&self) -> PathBuf {
        self.home.join("kafka/libs")
    }

    /// The classpath for `java -cp`: every jar in the libs folder.
    pub fn kafka_classpath(&self) -> String {
        format!("{}/*", self.kafka_libs().display())
    }

    pub fn kafka_version(&self) -> Option<String> {
        read_trimmed(&self.home.join("kafka/VERSION"))
    }

    /// `versions.json` written by `lab/install`: what results record as the environment.
    pub fn versions(&self) -> serde_json::Value {
        std::fs::read_to_string(self.home.join("versions.json"))
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(serde_json::Value::Null)
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}
