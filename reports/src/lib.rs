//! Rendering only: results in, files out. Everything here reads `results.json` (as
//! [`Results`], the checker's one results type `check::Results`) and nothing else;
//! writers are generic over `std::io::Write`.
//!
//! ```text
//! results.json ──results::load──► Results ──files::write_run──► report.html, *.png, summary.md, junit.xml
//! results.json × N ──────────────► [Results] ──files::write_compare──► compare.html, compare-*.png, compare.md
//! run dirs × N ──grid::grid_into──► a cell per run ──────────────────► grid.md, grid.html
//! ```
//!
//! Modules:
//! - [`results`]: re-exports `check::Results` (tolerant of missing optional fields),
//!   reads a file ([`results::load`]) and prints its values (units, names).
//! - [`files`]: the files of a run directory ([`write_run`]) and of a comparison
//!   ([`write_compare`]).
//! - [`charts`]: which charts a report shows and their data; [`chart`] draws one chart
//!   to PNG (embedded font) or inline SVG.
//! - [`html`]: `report.html` (template `templates/report.html`); [`compare_html`]:
//!   `compare.html`.
//! - [`summary`]: `summary.md`, also what the terminal shows; [`markdown`]: its tables.
//! - [`junit`]: `junit.xml`, one test case per threshold and per anomaly rule.
//! - [`compare`]: deltas against the first run and the cost of exactly-once; `compare.md`.
//! - [`grid`]: the reliability grid of a sweep ([`grid_into`]): a column per guarantee,
//!   a row per combination of the other matrix keys, a cell per run; `grid.md`,
//!   `grid.html`.
//! - [`escape`]: HTML/XML escaping of every text taken from a result.
//! - [`error`]: [`ReportError`], naming the file or chart involved.

pub mod capacity;
pub mod chart;
pub mod charts;
pub mod compare;
pub mod compare_html;
pub mod diagram;
pub mod error;
pub mod escape;
pub mod files;
pub mod grid;
pub mod headline;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod results;
pub mod summary;

pub use error::ReportError;
pub use files::{write_compare, write_run};
pub use grid::{GridSummary, grid_into};
pub use results::Results;
