//! perfuse-core: the control core that runs every perfusion protocol.
//!
//! Data flows one way through each tick: sample, estimate, protocol, control, safety, actuate,
//! record ([`tick`]). Protocol files are loaded and validated by [`config`] (the crate
//! perfuse-protocol) into a [`plan::Plan`]; the protocol's plugin is loaded by [`plugin`]; [`run`]
//! drives the tick in simulated or real time and writes the summary. The device is reached only
//! through [`hal::Hal`] (the crate perfuse-hal).

/// The device boundary, its own crate so that device crates need not depend on the core.
pub use perfuse_hal as hal;
pub mod config;
pub mod logging;
pub use perfuse_protocol::plan;
pub mod plugin;
pub mod run;
pub mod tick;

/// The tick's outputs (the frame every tick publishes, and the ports outputs take it from).
pub use tick::output;
