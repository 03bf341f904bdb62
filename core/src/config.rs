//! Protocol, labs and commands files: the crate perfuse-protocol, which checks them without the
//! runtime, and the runtime's load, which also fingerprints the protocol file (sha256) so that a
//! saved run state resumes only with the file it was saved from.

pub use perfuse_protocol::*;

use std::path::Path;

/// The sha256 of `bytes` in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads, parses, type-checks and validates a protocol file for a run: as
/// [`perfuse_protocol::load`], with the plan's `source_sha256` set.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    load_str(&read_file(path, "protocol")?, path)
}

/// As [`load`], from text; `path` only names the file in diagnostics.
pub fn load_str(src: &str, path: &Path) -> Result<Loaded, LoadError> {
    let mut loaded = perfuse_protocol::load_str(src, path)?;
    loaded.plan.source_sha256 = sha256_hex(src.as_bytes());
    Ok(loaded)
}
