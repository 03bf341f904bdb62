//! The protocol file format: the types a RON protocol file deserialises into.
//!
//! Conventions, checked by [`super::compile`]:
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
    /// Plant model by name, e.g. "kidney".
    pub model: String,
    /// Model parameters, checked by the simulator.
    pub params: Option<BTreeMap<String, f64>>,
    /// Named sets of parameters that override `params` (e.g. "healthy", "injured"), chosen with
    /// `perfuse run --scenario NAME`.
    pub scenarios: Option<BTreeMap<String, BTreeMap<String, f64>>>,
    /// The scenario run when none is named (absent: `params` alone).
    pub default_scenario: Option<String>,
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

/// What a sensor measures; fixes its unit and its absolute range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SensorKind {
    /// Blood or perfusate pressure.
    Pressure,
    /// Airway pressure of a ventilated lung.
    AirwayPressure,
    /// Partial pressure of a gas (pO2, pCO2).
    PartialPressure,
    Flow,
    Temperature,
    /// Ultrasonic bubble detector: 0 clear, 1 air.
    Bubble,
    /// Accumulated or held volume (urine, bile, reservoir, tidal volume).
    Volume,
    /// A solute in the perfusate (lactate, glucose, potassium).
    Concentration,
    Ph,
    /// A fraction in percent (saturation, FiO2, leak).
    Percent,
    /// Events per minute (heart rate, respiratory rate).
    Rate,
    /// Radiation counts per second (a gamma probe).
    CountRate,
    /// Enzyme activity (ALT, AST).
    Activity,
    Haemoglobin,
    /// A measured time (activated clotting time).
    Duration,
    /// The device's mains monitor: 1 on mains, 0 on battery.
    Supply,
    /// An operator's graded or yes/no finding (a macroscopic grade; 1 yes, 0 no), entered as a
    /// lab at the `operator` site.
    Score,
}

impl SensorKind {
    /// The unit every value of this kind is in.
    pub fn unit(self) -> &'static str {
        match self {
            SensorKind::Pressure | SensorKind::PartialPressure => "mmHg",
            SensorKind::AirwayPressure => "cmH2O",
            SensorKind::Flow => "mL/min",
            SensorKind::Temperature => "°C",
            SensorKind::Bubble => "detected",
            SensorKind::Volume => "mL",
            SensorKind::Concentration => "mmol/L",
            SensorKind::Ph => "pH",
            SensorKind::Percent => "%",
            SensorKind::Rate => "/min",
            SensorKind::CountRate => "counts/s",
            SensorKind::Activity => "IU/L",
            SensorKind::Haemoglobin => "g/dL",
            SensorKind::Duration => "s",
            SensorKind::Supply => "on mains",
            SensorKind::Score => "points",
        }
    }

    /// The physically meaningful range of the kind: a protocol may narrow it, never widen it.
    pub fn absolute_range(self) -> (f64, f64) {
        match self {
            SensorKind::Pressure => (-100.0, 400.0),
            SensorKind::AirwayPressure => (-30.0, 120.0),
            SensorKind::PartialPressure => (0.0, 1000.0),
            SensorKind::Flow => (-500.0, 10_000.0),
            SensorKind::Temperature => (-5.0, 60.0),
            SensorKind::Bubble => (0.0, 1.0),
            // A zeroed scale or collection bag reads a little below 0 with noise.
            SensorKind::Volume => (-50.0, 20_000.0),
            SensorKind::Concentration => (0.0, 500.0),
            SensorKind::Ph => (0.0, 14.0),
            SensorKind::Percent => (-5.0, 105.0),
            SensorKind::Rate => (0.0, 600.0),
            SensorKind::CountRate => (0.0, 1.0e7),
            SensorKind::Activity => (0.0, 100_000.0),
            SensorKind::Haemoglobin => (0.0, 30.0),
            SensorKind::Duration => (0.0, 10_000.0),
            SensorKind::Supply => (0.0, 1.0),
            SensorKind::Score => (0.0, 100.0),
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

/// What an actuator is; fixes the unit of its command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ActuatorKind {
    /// Flow source; command in mL/min.
    RollerPump,
    /// Pressure source with a pressure-flow curve; command in rpm.
    CentrifugalPump,
    /// Heater power; command in W.
    Heater,
    /// Heater-cooler power; command in W, negative when cooling.
    HeaterCooler,
    /// Line clamp; command 0 open, 1 closed.
    Clamp,
    /// Syringe or infusion pump; command in mL/h.
    InfusionPump,
    /// Ventilator tidal volume; command in mL.
    TidalVolume,
    /// Ventilator rate; command in breaths/min.
    RespiratoryRate,
    /// Ventilator end-expiratory pressure; command in cmH2O.
    Peep,
    /// Inspired (ventilator) or blended (oxygenator) oxygen fraction; command in %.
    Fio2,
    /// Sweep gas flow through an oxygenator; command in L/min.
    GasFlow,
}

impl ActuatorKind {
    pub fn unit(self) -> &'static str {
        match self {
            ActuatorKind::RollerPump => "mL/min",
            ActuatorKind::CentrifugalPump => "rpm",
            ActuatorKind::Heater | ActuatorKind::HeaterCooler => "W",
            ActuatorKind::Clamp => "closed",
            ActuatorKind::InfusionPump => "mL/h",
            ActuatorKind::TidalVolume => "mL",
            ActuatorKind::RespiratoryRate => "/min",
            ActuatorKind::Peep => "cmH2O",
            ActuatorKind::Fio2 => "%",
            ActuatorKind::GasFlow => "L/min",
        }
    }

    /// Hardware range of the kind: a protocol may narrow it, never widen it.
    pub fn absolute_range(self) -> (f64, f64) {
        match self {
            ActuatorKind::RollerPump => (0.0, 7000.0),
            ActuatorKind::CentrifugalPump => (0.0, 5000.0),
            ActuatorKind::Heater => (0.0, 2000.0),
            ActuatorKind::HeaterCooler => (-2000.0, 2000.0),
            ActuatorKind::Clamp => (0.0, 1.0),
            ActuatorKind::InfusionPump => (0.0, 1000.0),
            ActuatorKind::TidalVolume => (0.0, 2000.0),
            ActuatorKind::RespiratoryRate => (0.0, 60.0),
            ActuatorKind::Peep => (0.0, 30.0),
            ActuatorKind::Fio2 => (0.0, 100.0),
            ActuatorKind::GasFlow => (0.0, 20.0),
        }
    }

    /// Pumps move perfusate: they are what `StopPump` stops.
    pub fn is_pump(self) -> bool {
        matches!(
            self,
            ActuatorKind::RollerPump | ActuatorKind::CentrifugalPump
        )
    }

    /// Heaters are what `HeaterOff` turns off.
    pub fn is_heater(self) -> bool {
        matches!(self, ActuatorKind::Heater | ActuatorKind::HeaterCooler)
    }
}

/// The command an actuator takes in the safe state, and when its commands expire.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub enum SafeState {
    /// Command 0: pump stopped, heater off, infusion stopped.
    Off,
    /// Clamp closed.
    Closed,
    /// Clamp open.
    Open,
    /// Keep the last command that passed the safety stage (for pumps whose stop harms the organ,
    /// a ventilator whose stop harms the lung).
    HoldLast,
    /// A defined command in the actuator's unit (e.g. FiO2 21 %).
    Fixed(f64),
}

impl SafeState {
    /// Whether this safe state means something for an actuator of `kind`: clamps are closed or
    /// open (or hold), everything else is off, held or set to a fixed command.
    pub fn fits(self, kind: ActuatorKind) -> bool {
        match kind {
            ActuatorKind::Clamp => matches!(
                self,
                SafeState::Closed | SafeState::Open | SafeState::HoldLast
            ),
            _ => matches!(
                self,
                SafeState::Off | SafeState::HoldLast | SafeState::Fixed(_)
            ),
        }
    }
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
