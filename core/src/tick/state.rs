//! The state the tick's stages share: every resource (and the actuator components) that more
//! than one stage reads or writes, declared here rather than in whichever stage writes it, so
//! that stages import this module and never each other.

use super::events::TickEvents;
use super::plugin_call::PluginSlot;
use crate::config::Range;
use crate::hal::{CommandFrame, Hal, HalChannels, MAX_ACTUATORS};
use crate::plan::{ActuatorPlan, Plan};
use bevy_ecs::prelude::*;
use bevy_platform::cell::SyncCell;
use perfuse_plugin_sdk::{MAX_DERIVED, MAX_SIGNALS, validity};
use std::sync::Arc;

/// This tick: its index, its signals and its events, which every stage reads or writes; each
/// stage borrows only the parts it uses.
pub struct ThisTick {
    pub clock: Clock,
    pub signals: Signals,
    pub events: TickEvents,
}

/// The tick index and period; `t = tick × period_s`.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub tick: u64,
    pub period_s: f64,
}

impl Clock {
    pub fn t_s(&self) -> f64 {
        self.tick as f64 * self.period_s
    }
}

/// The validated protocol, shared read-only by every stage.
#[derive(Resource, Clone)]
pub struct PlanRes(pub Arc<Plan>);

/// The validated protocol as a system keeps it (`Local<PlanRef>`): taken from [`PlanRes`] once,
/// when the schedule is initialized, rather than looked up as a resource every tick; the plan
/// never changes during a run.
pub struct PlanRef(pub Arc<Plan>);

impl FromWorld for PlanRef {
    fn from_world(world: &mut World) -> Self {
        PlanRef(world.resource::<PlanRes>().0.clone())
    }
}

/// How far a signal's value this tick can be trusted. Only the plugin's input and the output
/// frame carry it as a byte (the SDK's `perfuse_plugin_sdk::validity`, see [`Validity::byte`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Validity {
    /// A fresh, plausible reading or an estimate from such readings.
    Ok = validity::OK,
    /// No new reading arrived in time.
    Stale = validity::STALE,
    /// Outside the channel's absolute range, or not finite.
    Implausible = validity::IMPLAUSIBLE,
    /// The reading has not changed for longer than the channel allows.
    Stuck = validity::STUCK,
}

impl Validity {
    /// The SDK's byte for it.
    pub fn byte(self) -> u8 {
        self as u8
    }
}

/// This tick's value and validity of every signal (sensors, then estimates), and the sensor
/// frame they were read from, together because every stage that reads one reads the other.
#[derive(Debug, Clone, Copy)]
pub struct Signals {
    pub values: [f64; MAX_SIGNALS],
    pub validity: [Validity; MAX_SIGNALS],
    /// For sensors: the validity of the sensor's own reading, which the sensor-health rules
    /// judge even while its signal runs on a backup sensor.
    pub health: [Validity; MAX_SIGNALS],
    /// The newest sensor frame taken from the HAL, with what every actuator delivered.
    pub frame: crate::hal::SensorFrame,
}

impl Default for Signals {
    fn default() -> Self {
        Signals {
            values: [f64::NAN; MAX_SIGNALS],
            validity: [Validity::Stale; MAX_SIGNALS],
            health: [Validity::Stale; MAX_SIGNALS],
            frame: crate::hal::SensorFrame::default(),
        }
    }
}

impl Signals {
    pub fn is_valid(&self, i: usize) -> bool {
        self.validity[i] == Validity::Ok
    }
}

/// The device as the tick reaches it: where it is, and the last command frame sent to it
/// (Sample reads the device and tells the plugin the commands sent; Actuate sends).
pub struct Device {
    pub port: HalPort,
    pub sent: SentCommands,
}

/// Where the HAL is: driven by the control thread (lockstep simulation) or behind channels to its
/// own thread. Kept in the world like the rest of the run's state, so that a run can move to
/// another control thread; the cell gives the device to one `&mut` user at a time.
pub enum HalPort {
    Direct(SyncCell<Box<dyn Hal>>),
    Threaded(HalChannels),
}

impl HalPort {
    /// A device driven by the control thread.
    pub fn direct(hal: Box<dyn Hal>) -> Self {
        HalPort::Direct(SyncCell::new(hal))
    }
}

/// What the Protocol stage keeps from tick to tick: the phase, the targets, the plugin's call
/// and what the core took from the plugin; each stage borrows only the parts it uses.
pub struct Protocol {
    pub phase: PhaseState,
    pub targets: Targets,
    pub plugin: PluginOutputs,
    pub slot: PluginSlot,
}

/// The current phase and when the run ends.
#[derive(Debug, Clone)]
pub struct PhaseState {
    pub index: usize,
    pub start_tick: u64,
    /// Set by the plugin's `advance_phase`; acted on at the next tick.
    pub advance_requested: bool,
    /// With `--duration`: the run ends at this tick and the last phase lasts until then.
    /// Without: the run ends when the last phase has run its duration.
    pub end_tick: Option<u64>,
    /// The operator holds the phase: its clock stands still.
    pub held: bool,
    /// The tick at which the operator stopped the run.
    pub stopped: Option<u64>,
    /// How long the phase's `exit_when` has held (see `super::phase_exit`).
    pub exit: PhaseExit,
}

/// How long the current phase's exit condition has held.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseExit {
    /// The phase the count belongs to.
    pub phase: usize,
    /// Consecutive ticks on which the condition held (0: it does not hold).
    pub held_ticks: u64,
}

impl PhaseState {
    pub fn new() -> Self {
        PhaseState {
            index: 0,
            start_tick: 0,
            advance_requested: false,
            end_tick: None,
            held: false,
            stopped: None,
            exit: PhaseExit::default(),
        }
    }

    /// Whether the run is over at `tick` (before running it).
    pub fn finished(&self, plan: &Plan, tick: u64) -> bool {
        if self.stopped.is_some() {
            return true;
        }
        match self.end_tick {
            Some(end) => tick >= end,
            None => {
                self.index + 1 == plan.phases.len()
                    && tick - self.start_tick >= plan.phases[self.index].duration_ticks
            }
        }
    }
}

impl Default for PhaseState {
    fn default() -> Self {
        Self::new()
    }
}

/// The setpoint and band in force for every signal this tick (NaN / `None` where none).
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    pub setpoints: [f64; MAX_SIGNALS],
    /// The band, once the phase's settle time for that signal has passed.
    pub bands: [Option<Range>; MAX_SIGNALS],
    /// Setpoints the operator set for the rest of the phase (NaN: none).
    pub operator: [f64; MAX_SIGNALS],
    /// The protocol file's setpoint at this point of the phase (NaN: none).
    pub file: [f64; MAX_SIGNALS],
    /// The phase `file` and `bands` were last set for (the Protocol stage then updates only
    /// the signals with a target in it); `None` before the first tick.
    pub phase: Option<usize>,
    /// The same for `setpoints`, which stay as they are while setpoints are held.
    pub setpoints_phase: Option<usize>,
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            setpoints: [f64::NAN; MAX_SIGNALS],
            bands: [None; MAX_SIGNALS],
            operator: [f64::NAN; MAX_SIGNALS],
            file: [f64::NAN; MAX_SIGNALS],
            phase: None,
            setpoints_phase: None,
        }
    }
}

/// Whether the plugin may still be called, and why not.
#[derive(Debug, Clone, Copy, Default)]
pub struct PluginHealth {
    pub faulted: bool,
    pub fault_tick: u64,
    /// The ABI status or the reason code of the fault.
    pub fault_code: i32,
}

/// Commands the plugin requested for actuators without a control loop (NaN: none this tick).
#[derive(Debug, Clone, Copy)]
pub struct PluginCommands(pub [f64; MAX_ACTUATORS]);

impl Default for PluginCommands {
    fn default() -> Self {
        PluginCommands([f64::NAN; MAX_ACTUATORS])
    }
}

/// One assessment the plugin asked to record: its derived values at that tick.
#[derive(Debug, Clone, Copy)]
pub struct Assessment {
    pub tick: u64,
    pub phase: usize,
    pub values: [f64; MAX_DERIVED],
}

/// Assessments of the run, in a buffer reserved when the world is built.
#[derive(Debug, Clone)]
pub struct Assessments {
    pub list: Vec<Assessment>,
    /// Assessments beyond the reserved capacity, counted rather than stored.
    pub dropped: u32,
}

impl Assessments {
    /// Room for an hourly assessment over three weeks, or one a minute over eight hours.
    pub const CAPACITY: usize = 512;

    pub fn new() -> Self {
        Assessments {
            list: Vec::with_capacity(Self::CAPACITY),
            dropped: 0,
        }
    }
}

impl Default for Assessments {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything the core took from the plugin, each part checked.
#[derive(Debug, Clone)]
pub struct PluginOutputs {
    pub health: PluginHealth,
    pub derived: Derived,
    pub commands: PluginCommands,
    pub assessments: Assessments,
    pub clamps: super::clamps::ClampReport,
}

impl PluginOutputs {
    /// The derived values the protocol's conditions may read: those of the plugin's last good
    /// step, none while it is faulted (its last word is then no longer its word).
    pub fn for_rules(&self) -> &[f64] {
        if self.health.faulted {
            &[]
        } else {
            &self.derived.values[..self.derived.n]
        }
    }

    pub fn new(n_derived: usize) -> Self {
        PluginOutputs {
            health: PluginHealth::default(),
            derived: Derived::new(n_derived),
            commands: PluginCommands::default(),
            assessments: Assessments::new(),
            clamps: super::clamps::ClampReport::default(),
        }
    }
}

/// The plugin's derived values from its last good step (NaN while undefined).
#[derive(Debug, Clone, Copy)]
pub struct Derived {
    pub values: [f64; MAX_DERIVED],
    pub n: usize,
}

impl Derived {
    pub fn new(n: usize) -> Self {
        Derived {
            values: [f64::NAN; MAX_DERIVED],
            n: n.min(MAX_DERIVED),
        }
    }
}

/// What the active alarms demand of the actuators this tick ([`super::alarms::Alarms::demands`]).
#[derive(Debug, Clone, Copy)]
pub struct SafetyState {
    pub hold_setpoints: bool,
    pub safe_state: bool,
    /// Upper limit per actuator from `Limit` actions (infinite where none).
    pub caps: [f64; MAX_ACTUATORS],
    /// Forced command per actuator (NaN where none): stops, clamps, heater cut-outs.
    pub forced: [f64; MAX_ACTUATORS],
}

impl SafetyState {
    /// No demand: what a tick starts from, set in place.
    pub fn clear(&mut self) {
        self.hold_setpoints = false;
        self.safe_state = false;
        self.caps.fill(f64::INFINITY);
        self.forced.fill(f64::NAN);
    }
}

impl Default for SafetyState {
    fn default() -> Self {
        SafetyState {
            hold_setpoints: false,
            safe_state: false,
            caps: [f64::INFINITY; MAX_ACTUATORS],
            forced: [f64::NAN; MAX_ACTUATORS],
        }
    }
}

/// The last command frame sent, and how many frames the HAL thread's queue refused.
#[derive(Debug, Default, Clone, Copy)]
pub struct SentCommands {
    pub frame: CommandFrame,
    pub dropped: u64,
}

/// An actuator entity: its channel in the HAL command frame and its limits.
#[derive(Component, Debug, Clone)]
pub struct ActuatorChannel {
    pub index: usize,
    pub spec: ActuatorPlan,
}

/// The command of an actuator as it moves through the tick.
#[derive(Component, Debug, Clone, Copy)]
pub struct Command {
    /// What control asks for this tick.
    pub requested: f64,
    /// What safety let through this tick (and the HAL receives).
    pub sent: f64,
    /// The last command sent while no safety action forced this actuator.
    pub last_safe: f64,
    /// A safety action (cap, stop, safe state) cut the request this tick: the loop tracks it.
    pub limited: bool,
    /// The actuator's rate limit slowed the request this tick: the loop's integral holds.
    pub rate_limited: bool,
    /// The actuator does not deliver what it is commanded (its `not_following` alarm is
    /// active): the loop follows what it delivers.
    pub not_following: bool,
}

impl Command {
    pub fn new(initial: f64) -> Self {
        Command {
            requested: initial,
            sent: initial,
            last_safe: initial,
            limited: false,
            rate_limited: false,
            not_following: false,
        }
    }
}
