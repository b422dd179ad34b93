//! [`LabError`]: everything that can go wrong starting or controlling the lab, with the
//! path, service or request involved.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::install::HOME_ENV;
use crate::toxiproxy::ToxiproxyError;

/// Everything that can go wrong starting or controlling the lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(
        "the lab is not installed: no `lab/install` found above {looked}; run `lab/install` \
         from the project's checkout, or set {HOME_ENV} to an installed lab"
    )]
    NoInstallation { looked: String },
    #[error("{component} is not installed (expected {}); run `lab/install` (or `make install`) first", path.display())]
    NotInstalled { component: String, path: PathBuf },
    #[error(
        "the order platform is not built (expected {}): build it with `cargo build -p \
         order-platform` (`cargo test -p harness` alone does not), or set HARNESS_SUT to its path",
        path.display()
    )]
    SutNotBuilt { path: PathBuf },
    #[error("could not start {name} ({}): {source}", program.display())]
    Spawn {
        name: String,
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("free ports: {0}")]
    Ports(String),
    #[error(
        "{name} was not ready after {waited:?}: {last_error}\n--- last lines of its log ---\n{log_tail}"
    )]
    NotReady {
        name: String,
        waited: Duration,
        last_error: String,
        log_tail: String,
    },
    #[error("{name} exited during start-up ({status})\n--- last lines of its log ---\n{log_tail}")]
    Exited {
        name: String,
        status: String,
        log_tail: String,
    },
    #[error("{name} is not running")]
    NotRunning { name: String },
    #[error("sending {signal} to {name}: {errno}")]
    Signal {
        name: String,
        signal: &'static str,
        errno: nix::errno::Errno,
    },
    #[error(transparent)]
    Toxiproxy(#[from] ToxiproxyError),
    #[error("GET {url}: {message}")]
    Http { url: String, message: String },
    #[error("unknown lab service `{0}` (expected redis, toxiproxy or kafka-N)")]
    UnknownService(String),
    #[error("`{service}`: {reason}")]
    NoProcessControl { service: String, reason: String },
    #[error("invalid lab spec: {0}")]
    Spec(String),
    #[error("lab state {}: {message}", path.display())]
    State { path: PathBuf, message: String },
}

impl LabError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        LabError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
