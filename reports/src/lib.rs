//! Rendering only: results in, files out. Writers are generic over `std::io::Write`.
//!
//! Modules:
//! - [`markdown`]: Markdown tables (for `summary.md` and terminal output).

pub mod markdown;
