//! perfuse-core: the control core that runs every perfusion protocol.
//!
//! Data flows one way through each tick: sample, estimate, protocol, control, safety, actuate,
//! record. See the repository's DESIGN notes and README for the architecture.

pub mod config;
pub mod hal;
