//! What can go wrong while rendering: every variant names the file or chart involved;
//! the cause is its `source` (print with `{:#}` through anyhow to see both).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a results.json the reports can read", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("writing {}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("drawing chart {chart}: {message}")]
    Chart { chart: String, message: String },
    #[error("the embedded chart font could not be loaded")]
    Font,
    #[error("rendering template {template}: {message}")]
    Template { template: String, message: String },
    #[error("the histogram of {what} in results.json cannot be read")]
    Histogram {
        what: String,
        source: check::HistogramError,
    },
    #[error("compare needs at least one run")]
    NoRuns,
    #[error("the grid needs at least one run directory")]
    NoGridRuns,
}
