//! A validated protocol with every name resolved to an index, ready for the tick.
//!
//! Only [`crate::compile`] builds a `Plan`, so holding one means the file passed
//! validation. Signals are the sensors (in file order) followed by the estimates (in file order).

use crate::{ActuatorKind, DoseCap, EstimateKind, Priority, Pulsatile, Range, SafeState, Setpoint};

#[derive(Debug, Clone)]
pub struct SignalPlan {
    pub id: String,
    pub unit: String,
    pub range: Range,
}

#[derive(Debug, Clone)]
pub struct SensorPlan {
    pub id: String,
    pub signal: usize,
    pub range: Range,
    pub stale_after_ticks: u64,
    /// `u64::MAX` where the file sets no stuck detection.
    pub stuck_after_ticks: u64,
    /// Entered by the operator (site `operator`) rather than measured by the device.
    pub operator: bool,
    /// The sensor whose reading stands in while this one's is invalid (its signal index).
    pub backup: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct EstimatePlan {
    pub signal: usize,
    pub from: usize,
    pub kind: EstimateKind,
    /// Samples in the window (1 for kinds without one).
    pub window_ticks: usize,
}

/// A loop's feed-forward with its signal resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeedforwardPlan {
    Constant(f64),
    Proportional { signal: usize, gain: f64 },
}

#[derive(Debug, Clone)]
pub struct LoopPlan {
    pub signal: usize,
    pub kp: f64,
    pub ki: f64,
    pub feedforward: FeedforwardPlan,
    pub pulsatile: Option<Pulsatile>,
}

#[derive(Debug, Clone)]
pub struct ActuatorPlan {
    pub id: String,
    pub kind: ActuatorKind,
    pub range: Range,
    /// Largest command change per tick (infinite where unlimited).
    pub max_step: f64,
    pub safe_state: SafeState,
    pub ttl_s: f64,
    pub control: Option<LoopPlan>,
    pub initial: f64,
    pub dose_cap: Option<DoseCap>,
}

impl ActuatorPlan {
    /// The command of this actuator in its safe state, given its last safe command.
    pub fn safe_command(&self, last: f64) -> f64 {
        match self.safe_state {
            SafeState::Off | SafeState::Open => 0.0,
            SafeState::Closed => 1.0,
            SafeState::HoldLast => last,
            SafeState::Fixed(v) => v,
        }
    }
}

/// A signal's target in one phase.
#[derive(Debug, Clone, Copy)]
pub struct TargetPlan {
    pub setpoint: Option<Setpoint>,
    pub band: Option<Range>,
    pub settle_ticks: u64,
}

#[derive(Debug, Clone)]
pub struct PhasePlan {
    pub id: String,
    pub duration_ticks: u64,
    /// One entry per signal.
    pub targets: Vec<Option<TargetPlan>>,
    /// The signals that have a target in this phase, in signal order: the tick updates only
    /// these.
    pub targeted: Vec<usize>,
    /// The phase ends early once this has held (`exit_when`).
    pub exit: Option<ExitPlan>,
}

/// A phase's `exit_when` with names resolved.
#[derive(Debug, Clone)]
pub struct ExitPlan {
    pub condition: ConditionPlan,
    /// Ticks the condition must have held, beyond its first, before the phase ends.
    pub for_ticks: u64,
}

/// The prefix by which a condition names one of the plugin's derived values instead of a
/// signal: `Above(signal: "derived.resistance_index", limit: 0.4)`.
pub const DERIVED_PREFIX: &str = "derived.";

/// What a value condition reads.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueRef {
    /// A signal (sensor or estimate), by index.
    Signal(usize),
    /// A derived value the plugin declares, by the name the file gives it (without
    /// [`DERIVED_PREFIX`]). `slot` is its index among the plugin's derived values, set by
    /// [`Plan::bind_derived`] once the plugin is loaded; until then it is [`UNBOUND`], which
    /// reads as no value.
    Derived { name: String, slot: usize },
}

/// The slot of a derived value not yet bound to the plugin's.
pub const UNBOUND: usize = usize::MAX;

/// A rule condition with names resolved.
#[derive(Debug, Clone)]
pub enum ConditionPlan {
    Above {
        value: ValueRef,
        limit: f64,
    },
    Below {
        value: ValueRef,
        limit: f64,
    },
    Outside {
        value: ValueRef,
        band: Range,
    },
    Stale {
        signal: usize,
    },
    Stuck {
        signal: usize,
    },
    Implausible {
        signal: usize,
    },
    /// Two sensors' own readings differ by more than `tolerance`.
    Disagree {
        a: usize,
        b: usize,
        tolerance: f64,
    },
    All(Vec<ConditionPlan>),
}

/// A rule action with names resolved.
#[derive(Debug, Clone, Copy)]
pub enum ActionPlan {
    AlarmOnly,
    Limit { actuator: usize, max: f64 },
    Reduce { actuator: usize, fraction: f64 },
    StopPump { pump: usize, clamp: Option<usize> },
    HeaterOff { heater: usize },
    HoldSetpoints,
    SafeState,
}

#[derive(Debug, Clone)]
pub struct RulePlan {
    pub id: String,
    pub text: String,
    pub priority: Priority,
    pub condition: ConditionPlan,
    pub persist_ticks: u64,
    /// Ticks the condition must be absent before the alarm ends or a pending persistence restarts.
    pub clear_ticks: u64,
    /// How far inside its limit a value must return before the condition counts as absent.
    pub deadband: f64,
    pub technical: bool,
    pub latch: bool,
    pub action: ActionPlan,
    /// Ticks of activity after which the alarm rises one priority.
    pub escalate_ticks: Option<u64>,
    /// Bit `i` set: the rule is judged in phase `i`.
    pub phases: u64,
}

/// The core's own alarm for a sensor that feeds rules but that no health rule watches: raised
/// when the sensor's signal is invalid (an operator-entered value: overdue), with the highest
/// priority and the most protective action of the rules that depend on it.
#[derive(Debug, Clone)]
pub struct CoveragePlan {
    /// The sensor's signal index.
    pub signal: usize,
    pub priority: Priority,
    pub action: ActionPlan,
    /// The phases in which any dependent rule is judged.
    pub phases: u64,
    /// Ticks an implausible reading must last: the time a silent sensor takes to go stale.
    pub persist_ticks: u64,
    /// The sensor is entered by the operator: only staleness (overdue) counts.
    pub operator: bool,
    /// The dependent rules, by index.
    pub rules: Vec<usize>,
}

impl ActionPlan {
    /// How protective an action is: the safe state, then a stop, a heater cut-out, a cap, a
    /// reduction, held setpoints, an alarm alone.
    pub fn protection(self) -> u8 {
        match self {
            ActionPlan::SafeState => 6,
            ActionPlan::StopPump { .. } => 5,
            ActionPlan::HeaterOff { .. } => 4,
            ActionPlan::Limit { .. } => 3,
            ActionPlan::Reduce { .. } => 2,
            ActionPlan::HoldSetpoints => 1,
            ActionPlan::AlarmOnly => 0,
        }
    }
}

/// The plugin a protocol requires.
#[derive(Debug, Clone)]
pub struct PluginPlan {
    pub id: String,
    pub version_req: semver::VersionReq,
    pub sha256: Option<String>,
    /// Parameters in sorted-key order: the file's, with the run's `--param` values over them.
    pub params: Vec<(String, f64)>,
    /// The parameters the run set with `--param` ([`PluginPlan::override_params`]), in the
    /// order given.
    pub overridden: Vec<crate::run_params::ParamOverride>,
    /// The parameters the simulated organ or patient set ([`PluginPlan::enter_patient`]).
    pub entered: Vec<crate::run_params::ParamOverride>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    /// Scenario names the simulator section offers, and the default one.
    pub scenarios: Vec<String>,
    pub default_scenario: Option<String>,
    pub period_s: f64,
    pub plugin: PluginPlan,
    pub signals: Vec<SignalPlan>,
    pub sensors: Vec<SensorPlan>,
    pub estimates: Vec<EstimatePlan>,
    pub actuators: Vec<ActuatorPlan>,
    pub phases: Vec<PhasePlan>,
    pub rules: Vec<RulePlan>,
    /// The sha256 of the protocol file's text, in lower-case hex: a saved run state is restored
    /// only into the protocol it was saved from. Set by the runtime's loader
    /// (`perfuse_core::config::load`); empty when the plan comes from this crate alone, which
    /// validates files and needs no fingerprint.
    pub source_sha256: String,
    /// The core's alarms for sensors no health rule watches, in sensor order.
    pub coverage: Vec<CoveragePlan>,
    /// The device links the HAL reports on (e.g. Modbus devices), by name; empty for the
    /// simulator. Each gets the core's `<link>_link_lost` and `<link>_link_degraded` alarms.
    pub links: Vec<String>,
    /// The values the plugin computed for the file's `computed` section, in the section's
    /// order, once [`crate::Loaded::resolve`] wrote them into the plan's numbers; empty before.
    pub computed: Vec<(String, f64)>,
}

impl Plan {
    /// Index of a signal by id.
    pub fn signal(&self, id: &str) -> Option<usize> {
        self.signals.iter().position(|s| s.id == id)
    }

    /// Index of an actuator by id.
    pub fn actuator(&self, id: &str) -> Option<usize> {
        self.actuators.iter().position(|a| a.id == id)
    }

    /// Binds every derived value a rule or a phase's `exit_when` names to its index among the
    /// derived values `names` of plugin `plugin` (known only once the plugin is loaded), so that
    /// the tick reads it by index. A name the plugin does not declare is a problem `(field
    /// path, message)` at each condition naming it, listing the names it declares.
    pub fn bind_derived(
        &mut self,
        plugin: &str,
        names: &[String],
    ) -> Result<(), Vec<(String, String)>> {
        let mut problems = Vec::new();
        let mut bind = |c: &mut ConditionPlan, path: String| {
            bind_condition(c, &path, plugin, names, &mut problems)
        };
        for (i, r) in self.rules.iter_mut().enumerate() {
            bind(&mut r.condition, format!("rules[{i}].condition"));
        }
        for (i, p) in self.phases.iter_mut().enumerate() {
            if let Some(e) = &mut p.exit {
                bind(&mut e.condition, format!("phases[{i}].exit_when.condition"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

fn bind_condition(
    c: &mut ConditionPlan,
    path: &str,
    plugin: &str,
    names: &[String],
    problems: &mut Vec<(String, String)>,
) {
    match c {
        ConditionPlan::Above { value, .. }
        | ConditionPlan::Below { value, .. }
        | ConditionPlan::Outside { value, .. } => {
            if let ValueRef::Derived { name, slot } = value {
                match names.iter().position(|n| n == name) {
                    Some(i) => *slot = i,
                    None => {
                        let declared = if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        };
                        problems.push((
                            format!("{path}.signal"),
                            format!(
                                "expected a derived value plugin `{plugin}` declares ({declared}), found `{DERIVED_PREFIX}{name}`"
                            ),
                        ));
                    }
                }
            }
        }
        ConditionPlan::All(list) => {
            for (j, sub) in list.iter_mut().enumerate() {
                bind_condition(sub, &format!("{path}[{j}]"), plugin, names, problems);
            }
        }
        ConditionPlan::Stale { .. }
        | ConditionPlan::Stuck { .. }
        | ConditionPlan::Implausible { .. }
        | ConditionPlan::Disagree { .. } => {}
    }
}
