//! perfuse-core: the control core that runs every perfusion protocol.
//!
//! Data flows one way through each tick: sample, estimate, protocol, control, safety, actuate,
//! record ([`tick`]). Protocol files are loaded and validated by [`config`] into a [`plan::Plan`];
//! the protocol's plugin is loaded by [`plugin`]; [`run`] drives the tick in simulated or real
//! time and writes the summary. The device is reached only through [`hal::Hal`].

pub mod config;
pub mod hal;
pub mod logging;
pub mod plan;
pub mod plugin;
pub mod run;
pub mod tick;

/// The tick's outputs (the frame every tick publishes, and the ports outputs take it from).
pub use tick::output;
