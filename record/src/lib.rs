//! perfuse-record: the durable record of a run, in SQLite (WAL).
//!
//! The core publishes one frame per tick ([`perfuse_core::output`]); this crate consumes them on
//! its own thread ([`writer`]) and keeps the run's inputs, samples, events and checkpoints in one
//! file ([`schema`]). Events are committed as they arrive and samples at least every second, so a
//! kill or a power cut loses at most a second of samples and no event. The rest reads records
//! back: listing ([`list`]), comparison for replay ([`compare`]), export ([`export`]).

pub mod checkpoint;
pub mod compare;
pub mod export;
pub mod list;
pub mod names;
pub mod schema;
pub mod writer;

pub use schema::{EndReason, RecordFile, RecordedDevices, RunInputs, open_existing};

/// The SQLite binding the record is read with, for callers that query a record directly.
pub use rusqlite;
