//! The protocol file format: the types a RON protocol file deserialises into.
//!
//! Conventions, checked by [`super::validate`]:
//! - A field with a unit carries it in its name (`_s`, `_c`, `_mmhg`, `_ml_min`, `_w`).
//!   A signal's setpoints, bands and limits are in the unit of that signal's kind
//!   ([`SensorKind::unit`]).
//! - Optional fields are `Option`s; nothing is silently defaulted.
//! - Lists keep file order: entities are spawned in that order and the record follows it.

use serde::Deserialize;
use std::collections::BTreeMap;

/// A whole protocol file.
#[derive(Debug, Clone, Deserialize)]
pub struct ProtocolFile {
    /// Short name shown to the operator, e.g. "Kidney HMP (LifePort-like)".
    pub name: String,
    pub description: String,
    /// Version of this protocol file (not of the plugin).
    pub version: String,
    pub plugin: PluginRequirement,
    /// Numeric parameters handed to the plugin, checked by the plugin's own `validate`.
    pub plugin_params: Option<BTreeMap<String, f64>>,
    /// Control tick rate; 100 Hz when absent.
    pub tick_hz: Option<f64>,
    pub simulator: SimulatorSpec,
    pub circuit: Circuit,
    /// Values computed from sensors in the Estimate stage (mean pressure, systolic pressure, ...).
    pub estimates: Vec<EstimateSpec>,
    pub phases: Vec<PhaseSpec>,
    pub rules: Vec<RuleSpec>,
}

/// Which plugin the protocol needs.
#[derive(Debug, Clone, Deserialize)]
pub struct PluginRequirement {
    pub id: String,
    /// A semver requirement, e.g. "^0.1".
    pub version: String,
    /// Optional pin: the library's sha256 in hex. A mismatch refuses the load.
    pub sha256: Option<String>,
}

/// The plant the simulator runs for this protocol.
#[derive(Debug, Clone, Deserialize)]
pub struct SimulatorSpec {
    /// Plant model by name, e.g. "kidney".
    pub model: String,
    /// Model parameters, checked by the simulator.
    pub params: Option<BTreeMap<String, f64>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Circuit {
    pub sensors: Vec<SensorSpec>,
    pub actuators: Vec<ActuatorSpec>,
}

/// What a sensor measures; fixes its unit and its absolute range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SensorKind {
    Pressure,
    Flow,
    Temperature,
    /// Ultrasonic bubble detector: 0 clear, 1 air.
    Bubble,
    /// Accumulated volume (urine, bile, reservoir).
    Volume,
}

impl SensorKind {
    /// The unit every value of this kind is in.
    pub fn unit(self) -> &'static str {
        match self {
            SensorKind::Pressure => "mmHg",
            SensorKind::Flow => "mL/min",
            SensorKind::Temperature => "°C",
            SensorKind::Bubble => "detected",
            SensorKind::Volume => "mL",
        }
    }

    /// The physically meaningful range of the kind: a protocol may narrow it, never widen it.
    pub fn absolute_range(self) -> (f64, f64) {
        match self {
            SensorKind::Pressure => (-100.0, 400.0),
            SensorKind::Flow => (-500.0, 10_000.0),
            SensorKind::Temperature => (-5.0, 60.0),
            SensorKind::Bubble => (0.0, 1.0),
            // A zeroed scale or collection bag reads a little below 0 with noise.
            SensorKind::Volume => (-50.0, 20_000.0),
        }
    }
}

/// A closed interval in the unit of the channel it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

impl Range {
    pub fn contains(&self, v: f64) -> bool {
        v >= self.min && v <= self.max
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct SensorSpec {
    pub id: String,
    pub kind: SensorKind,
    /// Where the sensor sits in the plant (the simulator's name for that point).
    pub site: String,
    /// Plausible readings; outside it a reading is implausible.
    pub range: Range,
    /// A reading older than this is stale.
    pub stale_after_s: f64,
    /// A reading that does not change for this long is stuck (absent: never).
    pub stuck_after_s: Option<f64>,
}

/// What an actuator is; fixes the unit of its command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ActuatorKind {
    /// Flow source; command in mL/min.
    RollerPump,
    /// Heater power; command in W.
    Heater,
    /// Line clamp; command 0 open, 1 closed.
    Clamp,
}

impl ActuatorKind {
    pub fn unit(self) -> &'static str {
        match self {
            ActuatorKind::RollerPump => "mL/min",
            ActuatorKind::Heater => "W",
            ActuatorKind::Clamp => "closed",
        }
    }

    /// Hardware range of the kind: a protocol may narrow it, never widen it.
    pub fn absolute_range(self) -> (f64, f64) {
        match self {
            ActuatorKind::RollerPump => (0.0, 3000.0),
            ActuatorKind::Heater => (0.0, 1000.0),
            ActuatorKind::Clamp => (0.0, 1.0),
        }
    }
}

/// The command an actuator takes in the safe state, and when its commands expire.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub enum SafeState {
    /// Pump stopped, heater off.
    Off,
    /// Clamp closed.
    Closed,
    /// Clamp open.
    Open,
    /// Keep the last command that passed the safety stage (for pumps whose stop harms the organ).
    HoldLast,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ActuatorSpec {
    pub id: String,
    pub kind: ActuatorKind,
    pub site: String,
    /// Command range allowed by this protocol, in the kind's unit.
    pub range: Range,
    /// Largest change of the command per second (absent: unlimited).
    pub max_rate_per_s: Option<f64>,
    /// Where the actuator goes on a safe-state action, and on the HAL side when commands expire.
    pub safe_state: SafeState,
    /// How long a command stays valid on the HAL side before the actuator falls back to its safe state.
    pub command_ttl_s: f64,
    /// Closed-loop control of this actuator (absent: held at `initial`).
    pub control: Option<ControlSpec>,
    /// Command before the first control output.
    pub initial: f64,
}

/// A PI loop from one signal to one actuator, with optional pulsatile modulation.
#[derive(Debug, Clone, Deserialize)]
pub struct ControlSpec {
    /// The signal whose phase setpoint this loop tracks.
    pub signal: String,
    /// Command units per signal unit.
    pub kp: f64,
    /// Command units per signal unit per second.
    pub ki: f64,
    /// Feed-forward command added to the loop output (absent: 0).
    pub feedforward: Option<f64>,
    /// Pulsatile modulation of the loop output.
    pub pulsatile: Option<Pulsatile>,
}

/// Sinusoidal modulation of a pump command around its mean: `mean × (1 + amplitude × sin)`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Pulsatile {
    pub rate_bpm: f64,
    /// Fraction of the mean, 0–1.
    pub amplitude: f64,
}

/// A value the Estimate stage computes from one signal.
#[derive(Debug, Clone, Deserialize)]
pub struct EstimateSpec {
    pub id: String,
    /// The sensor or earlier estimate it is computed from.
    pub from: String,
    pub kind: EstimateKind,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub enum EstimateKind {
    /// Mean over a trailing window (mean pressure over one beat).
    WindowMean { window_s: f64 },
    /// Maximum over a trailing window (systolic pressure).
    WindowMax { window_s: f64 },
    /// Minimum over a trailing window (diastolic pressure).
    WindowMin { window_s: f64 },
}

impl EstimateKind {
    pub fn window_s(self) -> f64 {
        match self {
            EstimateKind::WindowMean { window_s }
            | EstimateKind::WindowMax { window_s }
            | EstimateKind::WindowMin { window_s } => window_s,
        }
    }
}

/// One phase of the protocol.
#[derive(Debug, Clone, Deserialize)]
pub struct PhaseSpec {
    pub id: String,
    /// The phase ends after this long, or earlier when the plugin asks to advance.
    pub duration_s: f64,
    /// Targets per signal id.
    pub targets: BTreeMap<String, TargetSpec>,
}

/// A signal's target in one phase.
#[derive(Debug, Clone, Deserialize)]
pub struct TargetSpec {
    /// What the controlling loop tracks (absent: monitored only).
    pub setpoint: Option<Setpoint>,
    /// The band the signal should stay in; the run summary reports the time inside it.
    pub band: Option<Range>,
    /// Time after the phase starts before the band counts.
    pub settle_s: Option<f64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub enum Setpoint {
    Hold(f64),
    /// Linear from `from` to `to` over `over_s`, then held at `to`.
    Ramp {
        from: f64,
        to: f64,
        over_s: f64,
    },
}

impl Setpoint {
    /// The setpoint `elapsed_s` into the phase.
    pub fn at(self, elapsed_s: f64) -> f64 {
        match self {
            Setpoint::Hold(v) => v,
            Setpoint::Ramp { from, to, over_s } => {
                if over_s <= 0.0 || elapsed_s >= over_s {
                    to
                } else {
                    from + (to - from) * (elapsed_s / over_s).max(0.0)
                }
            }
        }
    }

    /// Both ends of the setpoint's course.
    pub fn extremes(self) -> (f64, f64) {
        match self {
            Setpoint::Hold(v) => (v, v),
            Setpoint::Ramp { from, to, .. } => (from.min(to), from.max(to)),
        }
    }
}

/// IEC 60601-1-8 alarm priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum Priority {
    Low,
    Medium,
    High,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        }
    }
}

/// A safety rule: when `condition` has held for `persist_s`, raise the alarm and take `action`.
#[derive(Debug, Clone, Deserialize)]
pub struct RuleSpec {
    pub id: String,
    /// What the operator reads.
    pub text: String,
    pub priority: Priority,
    pub condition: Condition,
    pub persist_s: f64,
    /// A latched alarm and its action stay after the condition clears.
    pub latch: bool,
    pub action: Action,
}

#[derive(Debug, Clone, Deserialize)]
pub enum Condition {
    Above {
        signal: String,
        limit: f64,
    },
    Below {
        signal: String,
        limit: f64,
    },
    Outside {
        signal: String,
        band: Range,
    },
    /// The sensor's reading is stale.
    Stale {
        sensor: String,
    },
    /// The sensor's reading has not changed for its `stuck_after_s`.
    Stuck {
        sensor: String,
    },
    /// The sensor's reading is outside its range or not finite.
    Implausible {
        sensor: String,
    },
    /// Every listed condition holds.
    All(Vec<Condition>),
}

/// What the core does when a rule fires.
#[derive(Debug, Clone, Deserialize)]
pub enum Action {
    AlarmOnly,
    /// Cap an actuator's command at `max` (in its unit).
    Limit {
        actuator: String,
        max: f64,
    },
    /// Stop a pump and, where given, close a clamp.
    StopPump {
        pump: String,
        clamp: Option<String>,
    },
    /// Heater off; pumps keep running.
    HeaterOff {
        heater: String,
    },
    /// Freeze every setpoint at its current value and ignore plugin requests.
    HoldSetpoints,
    /// Every actuator to its declared safe state.
    SafeState,
}
