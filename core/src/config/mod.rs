//! Protocol files: the RON format, loading with diagnostics, and validation.

mod duration;
pub mod schema;

pub use duration::parse_duration;
pub use schema::*;
