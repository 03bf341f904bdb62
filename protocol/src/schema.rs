//! The protocol file format: the types a RON protocol file deserialises into.
//!
//! Conventions, checked by [`super::compile`]:
//! - A field with a unit carries it in its name (`_s`, `_c`, `_mmhg`, `_ml_min`, `_w`).
//!   A signal's setpoints, bands and limits are in the unit of that signal's kind
//!   ([`SensorKind::unit`]).
//! - Optional fields are `Option`s; nothing is silently defaulted (the reader would honour
//!   `#[serde(default)]`, but an absent protocol field stays visible as `None`).
//! - Lists keep file order: entities are spawned in that order and the record follows it.

pub use perfuse_hal::{ActuatorKind, SafeState, SensorKind};
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
    /// Values the plugin computes when the run starts (e.g. full flow from the patient's body
    /// surface), each with the interval the file accepts. A setpoint, a band edge or a rule's
    /// limit may then be written `Of("name", factor)`: the value times the factor. `perfuse
    /// check` validates the file at every combination of the intervals' ends; a run refuses a
    /// value outside its interval.
    pub computed: Option<BTreeMap<String, Range>>,
    /// Control tick rate; 100 Hz when absent.
    pub tick_hz: Option<f64>,
    pub simulator: SimulatorSpec,
    pub circuit: Circuit,
    /// Values computed from sensors in the Estimate stage (mean pressure, systolic pressure, ...).
    pub estimates: Vec<EstimateSpec>,
    pub phases: Vec<PhaseSpec>,
    pub rules: Vec<RuleSpec>,
    /// `Some(true)`: the protocol accepts the core's own alarm for every sensor that feeds a rule
    /// but that no health rule (`Stale` or `Implausible` on that sensor) watches. Absent or false:
    /// `perfuse check` reports each such sensor.
    pub core_sensor_alarms: Option<bool>,
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
    /// Plant model by name, e.g. "kidney" (`perfuse models` lists them).
    pub model: String,
    /// The model library that provides `model`, when it is not a shipped model.
    pub library: Option<ModelLibraryRequirement>,
    /// Model parameters, checked by the simulator.
    pub params: Option<BTreeMap<String, f64>>,
    /// Named sets of parameters that override `params` (e.g. "healthy", "injured"), chosen with
    /// `perfuse run --scenario NAME`.
    pub scenarios: Option<BTreeMap<String, BTreeMap<String, f64>>>,
    /// The scenario run when none is named (absent: `params` alone).
    pub default_scenario: Option<String>,
}

/// A simulator model library (`libperfuse_model_<id>.so`), loaded under the same trust rules as
/// the protocol's plugin.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelLibraryRequirement {
    pub id: String,
    /// Optional pin: the library's sha256 in hex. A mismatch refuses the load.
    pub sha256: Option<String>,
}

impl SimulatorSpec {
    /// The model parameters of a run: `params`, overridden by the named scenario, or by the
    /// default scenario when none is named.
    pub fn params_for(&self, scenario: Option<&str>) -> Result<BTreeMap<String, f64>, String> {
        let mut params = self.params.clone().unwrap_or_default();
        let Some(name) = scenario.or(self.default_scenario.as_deref()) else {
            return Ok(params);
        };
        let scenarios = self.scenarios.as_ref();
        let Some(overrides) = scenarios.and_then(|s| s.get(name)) else {
            let offered: Vec<&str> = scenarios
                .into_iter()
                .flat_map(|s| s.keys().map(String::as_str))
                .collect();
            return Err(if offered.is_empty() {
                format!("unknown scenario `{name}`: this protocol declares no scenarios")
            } else {
                format!(
                    "unknown scenario `{name}`; this protocol offers: {}",
                    offered.join(", ")
                )
            });
        };
        params.extend(overrides.iter().map(|(k, v)| (k.clone(), *v)));
        Ok(params)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Circuit {
    pub sensors: Vec<SensorSpec>,
    pub actuators: Vec<ActuatorSpec>,
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

/// The site of a sensor whose readings the operator enters (laboratory values), rather than
/// the device measuring them.
pub const OPERATOR_SITE: &str = "operator";

#[derive(Debug, Clone, Deserialize)]
pub struct SensorSpec {
    pub id: String,
    pub kind: SensorKind,
    /// Where the sensor sits in the plant (the simulator's name for that point), or
    /// [`OPERATOR_SITE`] for values the operator enters.
    pub site: String,
    /// Plausible readings; outside it a reading is implausible.
    pub range: Range,
    /// A reading older than this is stale.
    pub stale_after_s: f64,
    /// A reading that does not change for this long is stuck (absent: never).
    pub stuck_after_s: Option<f64>,
    /// A redundant sensor of the same kind whose reading stands in while this one's is invalid
    /// (absent: none). The sensor-health rules still judge this sensor's own reading.
    pub backup: Option<String>,
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
    /// Closed-loop control of this actuator. Absent: the plugin may command it (clamped like
    /// every command), otherwise it stays at `initial`.
    pub control: Option<ControlSpec>,
    /// Command before the first control output.
    pub initial: f64,
    /// Most an infusion pump may deliver within a sliding window (absent: no cap).
    pub dose_cap: Option<DoseCap>,
}

/// A cap on what an infusion pump delivers: once `max_ml` have gone in within the last
/// `window_s`, the core holds the pump at 0 until enough of the window has slid past.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct DoseCap {
    pub max_ml: f64,
    pub window_s: f64,
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
    pub feedforward: Option<Feedforward>,
    /// Pulsatile modulation of the loop output.
    pub pulsatile: Option<Pulsatile>,
}

/// A command added to a loop's output before feedback corrects it.
#[derive(Debug, Clone, Deserialize)]
pub enum Feedforward {
    /// A fixed command, e.g. the heat lost to the room at the setpoint.
    Constant(f64),
    /// `gain × signal`, e.g. heater power that grows with the flow it must warm.
    Proportional { signal: String, gain: f64 },
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
    /// Change per minute across a trailing window (a reservoir level's trend); in the source's
    /// unit per minute.
    Slope { window_s: f64 },
    /// A calibration `gain × value + offset` into another quantity (gamma-probe counts per
    /// second to percent leak); the estimate has that quantity's unit and absolute range.
    Linear {
        gain: f64,
        offset: f64,
        quantity: SensorKind,
    },
}

impl EstimateKind {
    /// The trailing window, for the kinds that have one.
    pub fn window_s(self) -> Option<f64> {
        match self {
            EstimateKind::WindowMean { window_s }
            | EstimateKind::WindowMax { window_s }
            | EstimateKind::WindowMin { window_s }
            | EstimateKind::Slope { window_s } => Some(window_s),
            EstimateKind::Linear { .. } => None,
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
    /// The phase ends early once this condition has held for its time (absent: only the
    /// duration, the plugin or the operator end it).
    pub exit_when: Option<ExitWhen>,
}

/// A phase's early end, judged by the core: `condition` held without a break for `for_s`.
/// A tick on which the condition is false or one of its values invalid starts the time again.
#[derive(Debug, Clone, Deserialize)]
pub struct ExitWhen {
    pub condition: Condition,
    pub for_s: f64,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
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

/// The clear time of a rule that sets none: a condition absent for less than this neither ends
/// an alarm nor restarts a pending persistence \[P\].
pub const DEFAULT_CLEAR_S: f64 = 2.0;

/// A safety rule: when `condition` has held for `persist_s`, raise the alarm and take `action`.
#[derive(Debug, Clone, Deserialize)]
pub struct RuleSpec {
    pub id: String,
    /// What the operator reads.
    pub text: String,
    pub priority: Priority,
    pub condition: Condition,
    pub persist_s: f64,
    /// How long the condition must be absent before a non-latching alarm ends, and before a
    /// pending persistence restarts (absent: [`DEFAULT_CLEAR_S`]).
    pub clear_s: Option<f64>,
    /// How far inside the limit (in the signal's unit) a value must come back before the
    /// condition counts as absent (absent: 0).
    pub deadband: Option<f64>,
    /// An equipment condition (air, line pressure, reservoir) rather than the organ's: shown
    /// as technical. Absent: conditions on sensor health and on bubble detectors are technical.
    pub technical: Option<bool>,
    /// A latched alarm and its action stay after the condition clears, until the operator
    /// resets it (`Reset(alarm)`) once its condition is gone.
    pub latch: bool,
    /// An alarm still active after this long rises one priority (Low to Medium to High).
    pub escalate_after_s: Option<f64>,
    /// The phases in which the rule is judged (absent: all). Outside them its condition does not
    /// hold: an under-temperature rule need not fire during warm-up, a low-flow rule during a
    /// wean.
    pub phases: Option<Vec<String>>,
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
    /// Two redundant sensors' readings differ by more than `tolerance` (in their unit).
    Disagree {
        a: String,
        b: String,
        tolerance: f64,
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
    /// Cap an actuator's command at `(1 − fraction)` of what it was when the alarm began.
    Reduce {
        actuator: String,
        fraction: f64,
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
