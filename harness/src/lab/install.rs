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

    /// An installation at `home`, checked for every component.
    pub fn at(home: PathBuf) -> Result<Self, LabError> {
        let installation = Installation { home };
        installation.check()?;
        Ok(installation)
    }

    fn check(&self) -> Result<(), LabError> {
        let required = [
            ("redis-server", self.redis_server()),
            ("redis-cli", self.bin("redis-cli")),
            ("toxiproxy-server", self.toxiproxy_server()),
            ("kcat", self.kcat()),
            ("kafka jars", self.kafka_libs()),
        ];
        for (component, path) in required {
            if !path.exists() {
                return Err(LabError::NotInstalled {
                    component: component.into(),
                    path,
                });
            }
        }
        if self.kafka_version().is_none() {
            return Err(LabError::NotInstalled {
                component: "kafka jars".into(),
                path: self.home.join("kafka/VERSION"),
            });
        }
        Ok(())
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
