//! The hardware abstraction: the only way the core reaches pumps, heaters, clamps and sensors.
//!
//! A crate of its own, below the core and the protocol format, so that a device (the simulator,
//! the Modbus HAL) is written against this boundary and nothing else.
//!
//! Frames are fixed-size so that passing them through the tick or a channel never allocates.
//! Sensors and actuators are indexed in the protocol file's order.

mod kinds;
pub mod rt;
mod thread;

pub use kinds::{ActuatorKind, SafeState, SensorKind};
pub use thread::{HalChannels, spawn_hal};

/// Most sensors a circuit may declare.
pub const MAX_SENSORS: usize = 32;
/// Most actuators a circuit may declare.
pub const MAX_ACTUATORS: usize = 16;
/// Most device links a run may watch (one bit each in [`SensorFrame::links_down`]).
pub const MAX_LINKS: usize = 32;

/// The newest readings of every sensor, and what every actuator delivered.
#[derive(Debug, Clone, Copy)]
pub struct SensorFrame {
    /// Device time of the frame in seconds.
    pub t_s: f64,
    /// Increments with every new frame; a frame whose `seq` did not change is stale.
    pub seq: u64,
    /// One value per sensor; NaN where the channel delivered nothing.
    pub values: [f64; MAX_SENSORS],
    /// What each actuator delivered since the previous frame, as the device reports it (pump
    /// speed or flow, heater power, clamp position), in the unit of its command; NaN where the
    /// device reports nothing. The core compares it with what it commanded.
    pub delivered: [f64; MAX_ACTUATORS],
    /// Sensors (bit i: sensor i) whose reading did not come fresh with this frame although
    /// `seq` moved: a device that stopped answering while others did. Their readings age
    /// towards stale as a whole stale frame would. Always 0 for a single device.
    pub not_fresh: u32,
    /// Device links (bit i: the plan's link i, see `perfuse_protocol::plan::Plan::links`) that are down:
    /// no answer, connection lost.
    pub links_down: u32,
    /// Device links that answer, but late or with errors persistently.
    pub links_degraded: u32,
    /// Actuators (bit i: actuator i) whose command's time to live ran out with no newer
    /// command arriving, so the device put them in their safe state; a bit clears when a
    /// command reaches its actuator again. An actuator whose safe state holds its last command
    /// delivers what it was commanded, so this is how the core learns that its commands no
    /// longer arrive. Always 0 for a device that cannot tell.
    pub expired: u32,
}

impl Default for SensorFrame {
    fn default() -> Self {
        SensorFrame {
            t_s: 0.0,
            seq: 0,
            values: [f64::NAN; MAX_SENSORS],
            delivered: [f64::NAN; MAX_ACTUATORS],
            not_fresh: 0,
            links_down: 0,
            links_degraded: 0,
            expired: 0,
        }
    }
}

/// One command per actuator, each valid for a time to live.
#[derive(Debug, Clone, Copy)]
pub struct CommandFrame {
    /// Control time at which the commands were issued.
    pub t_s: f64,
    pub values: [f64; MAX_ACTUATORS],
    /// After this long without a newer frame the device puts the actuator in its safe state.
    pub ttl_s: [f64; MAX_ACTUATORS],
}

impl Default for CommandFrame {
    fn default() -> Self {
        CommandFrame {
            t_s: 0.0,
            values: [0.0; MAX_ACTUATORS],
            ttl_s: [0.0; MAX_ACTUATORS],
        }
    }
}

/// A device, real or simulated, that the core drives.
pub trait Hal: Send {
    /// Copies the newest sensor frame into `out`.
    fn read(&mut self, out: &mut SensorFrame);
    /// Sends a command frame; the device enforces each command's time to live.
    fn write(&mut self, cmd: &CommandFrame);
    /// Lets `dt_s` of device time pass. A simulator integrates its plant; real hardware, whose
    /// time passes by itself, does nothing.
    fn advance(&mut self, dt_s: f64);
}
