//! Protocol: advance the phase, then ask the plugin for its requests and derived values.
//!
//! The plugin's setpoints are requests: a non-finite one faults the plugin, a finite one is
//! clamped into the phase's band (or the signal's range). While the plugin is faulted, or a
//! safety rule holds setpoints, the targets stay where they were.

use super::events::{Event, TickEvents};
use super::sample::OperatorInput;
use super::{Clock, PlanRef, PluginSlot, Signals, actuate::SentCommands, safety::SafetyState};
use crate::config::Range;
use crate::config::{OperatorAction, OperatorCommand};
use crate::plan::Plan;
use bevy_ecs::prelude::*;
use perfuse_plugin_sdk::{MAX_ACTUATORS, MAX_DERIVED, MAX_SIGNALS, PhaseEvent, StepInput};

/// The current phase and when the run ends.
#[derive(Resource, Debug, Clone)]
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
#[derive(Resource, Debug, Clone, Copy)]
pub struct Targets {
    pub setpoints: [f64; MAX_SIGNALS],
    /// The band, once the phase's settle time for that signal has passed.
    pub bands: [Option<Range>; MAX_SIGNALS],
    /// Setpoints the operator set for the rest of the phase (NaN: none).
    pub operator: [f64; MAX_SIGNALS],
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            setpoints: [f64::NAN; MAX_SIGNALS],
            bands: [None; MAX_SIGNALS],
            operator: [f64::NAN; MAX_SIGNALS],
        }
    }
}

/// Whether the plugin may still be called, and why not.
#[derive(Resource, Debug, Clone, Copy, Default)]
pub struct PluginHealth {
    pub faulted: bool,
    pub fault_tick: u64,
    /// The ABI status or the reason code of the fault.
    pub fault_code: i32,
}

/// Commands the plugin requested for actuators without a control loop (NaN: none this tick).
#[derive(Resource, Debug, Clone, Copy)]
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
#[derive(Resource, Debug, Clone)]
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

/// Everything the core took from the plugin, each part checked: one resource, so the stages
/// that read it fetch it once per tick.
#[derive(Resource, Debug, Clone)]
pub struct PluginOutputs {
    pub health: PluginHealth,
    pub derived: Derived,
    pub commands: PluginCommands,
    pub assessments: Assessments,
}

impl PluginOutputs {
    pub fn new(n_derived: usize) -> Self {
        PluginOutputs {
            health: PluginHealth::default(),
            derived: Derived::new(n_derived),
            commands: PluginCommands::default(),
            assessments: Assessments::new(),
        }
    }
}

/// Fault code for a plugin whose step took longer than its time budget.
pub const FAULT_OVERRUN: i32 = 101;

/// What a fault code means, for the operator and the record.
pub fn fault_reason(code: i32) -> &'static str {
    match code {
        perfuse_plugin_sdk::status::PANICKED => "panicked",
        FAULT_NON_FINITE => "returned a value that is not finite",
        FAULT_OVERRUN => "overran its time budget",
        _ => "reported a failure",
    }
}

/// Fault code for a plugin output that was not finite where a number was required.
pub const FAULT_NON_FINITE: i32 = 100;

/// The plugin's derived values from its last good step (NaN while undefined).
#[derive(Resource, Debug, Clone, Copy)]
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

pub fn empty_input() -> StepInput {
    StepInput {
        tick: 0,
        t_s: 0.0,
        phase: 0,
        phase_elapsed_s: 0.0,
        n_signals: 0,
        values: [f64::NAN; MAX_SIGNALS],
        validity: [0; MAX_SIGNALS],
        setpoints: [f64::NAN; MAX_SIGNALS],
        commands: [f64::NAN; MAX_ACTUATORS],
    }
}

/// The Protocol stage: first the phase, then the plugin's step for the (possibly new) phase.
#[allow(clippy::too_many_arguments)]
pub fn protocol_stage(
    clock: Res<Clock>,
    plan: Local<PlanRef>,
    signals: Res<Signals>,
    safety: Res<SafetyState>,
    sent: Res<SentCommands>,
    mut phase: ResMut<PhaseState>,
    mut slot: NonSendMut<PluginSlot>,
    mut targets: ResMut<Targets>,
    mut plugin: ResMut<PluginOutputs>,
    mut operator: ResMut<OperatorInput>,
    mut events: ResMut<TickEvents>,
) {
    let (plan, slot, plugin) = (&plan.0, &mut *slot, &mut *plugin);
    let (due, log) = operator.due_with_log();
    take_operator_commands(
        &clock,
        plan,
        due,
        &mut phase,
        &mut targets,
        log,
        &mut events,
    );
    let before = phase.index;
    let faulted_before = plugin.health.faulted;
    let assessments_before = plugin.assessments.list.len();
    advance_phase(&clock, plan, &mut phase, slot, &mut plugin.health);
    if phase.index != before {
        // An operator's setpoint lasts for the phase it was set in.
        targets.operator = [f64::NAN; MAX_SIGNALS];
    }
    if phase.index != before || clock.tick == 0 {
        events.push(Event::PhaseStarted { phase: phase.index });
    }
    let out = Outputs {
        targets: &mut targets,
        health: &mut plugin.health,
        derived: &mut plugin.derived,
        commands: &mut plugin.commands,
        assessments: &mut plugin.assessments,
    };
    let hold = safety.hold_setpoints;
    step_plugin(
        &clock,
        plan,
        &signals,
        &sent.frame.values,
        hold,
        &mut phase,
        slot,
        out,
    );
    if plugin.assessments.list.len() > assessments_before {
        events.push(Event::Assessment {
            index: assessments_before,
        });
    }
    if plugin.health.faulted && !faulted_before {
        events.push(Event::PluginFault {
            code: plugin.health.fault_code,
        });
    }
}

/// The operator's commands and what became of them, in a buffer reserved for all of them.
#[derive(Debug, Clone, Default)]
pub struct OperatorLog {
    pub entries: Vec<(u64, OperatorAction, bool)>,
}

impl OperatorLog {
    pub fn with_capacity(n: usize) -> Self {
        OperatorLog {
            entries: Vec::with_capacity(n),
        }
    }

    /// Records a command and whether it was carried out (room is reserved for every command).
    pub fn record(&mut self, tick: u64, action: OperatorAction, accepted: bool) {
        if self.entries.len() < self.entries.capacity() {
            self.entries.push((tick, action, accepted));
        }
    }
}

/// Phase and setpoint commands; a setpoint outside the phase's band (or the signal's range
/// where the phase sets no band) is refused and recorded as refused.
fn take_operator_commands(
    clock: &Clock,
    plan: &Plan,
    due: &[OperatorCommand],
    phase: &mut PhaseState,
    targets: &mut Targets,
    log: &mut OperatorLog,
    events: &mut TickEvents,
) {
    for c in due {
        let accepted = match c.action {
            OperatorAction::AdvancePhase => {
                phase.advance_requested = true;
                true
            }
            OperatorAction::HoldPhase(hold) => {
                phase.held = hold;
                true
            }
            OperatorAction::Stop => {
                phase.stopped = Some(clock.tick);
                true
            }
            OperatorAction::Setpoint { signal, value } => {
                let limits = plan.phases[phase.index].targets[signal]
                    .and_then(|t| t.band)
                    .unwrap_or(plan.signals[signal].range);
                let inside = limits.contains(value);
                if inside {
                    targets.operator[signal] = value;
                }
                inside
            }
            // Alarm commands belong to the Safety stage.
            OperatorAction::Acknowledge(_)
            | OperatorAction::Reset(_)
            | OperatorAction::PauseAudio
            | OperatorAction::ResumeAudio => continue,
        };
        log.record(clock.tick, c.action, accepted);
        events.push(Event::Operator {
            action: c.action,
            accepted,
        });
    }
}

/// What the Protocol stage writes for the rest of the tick.
struct Outputs<'a> {
    targets: &'a mut Targets,
    health: &'a mut PluginHealth,
    derived: &'a mut Derived,
    commands: &'a mut PluginCommands,
    assessments: &'a mut Assessments,
}

/// Moves to the next phase when the current one has run its duration or the plugin asked.
fn advance_phase(
    clock: &Clock,
    plan: &Plan,
    phase: &mut PhaseState,
    plugin: &mut PluginSlot,
    health: &mut PluginHealth,
) {
    if phase.held {
        // The phase clock stands still: its start moves with the tick.
        phase.start_tick += 1;
    }
    let last = phase.index + 1 >= plan.phases.len();
    let elapsed = clock.tick - phase.start_tick;
    let timed_out = elapsed >= plan.phases[phase.index].duration_ticks;
    // The last phase never advances: the run ends after it (see `PhaseState::finished`).
    if last || !(timed_out || phase.advance_requested) {
        phase.advance_requested = false;
        return;
    }
    let from = phase.index;
    phase.index += 1;
    phase.start_tick = clock.tick;
    phase.advance_requested = false;
    if !health.faulted {
        let event = PhaseEvent {
            t_s: clock.t_s(),
            from: from as u32,
            to: phase.index as u32,
        };
        if let Err(code) = plugin.instance.phase_event(&event) {
            fault(health, clock.tick, code);
        }
    }
}

fn fault(health: &mut PluginHealth, tick: u64, code: i32) {
    if !health.faulted {
        health.faulted = true;
        health.fault_tick = tick;
        health.fault_code = code;
    }
}

/// Calls the plugin and turns its output into this tick's targets and commands.
#[allow(clippy::too_many_arguments)]
fn step_plugin(
    clock: &Clock,
    plan: &Plan,
    signals: &Signals,
    last_commands: &[f64; MAX_ACTUATORS],
    hold_setpoints: bool,
    phase: &mut PhaseState,
    slot: &mut PluginSlot,
    out: Outputs<'_>,
) {
    let n = plan.signals.len();
    let p = &plan.phases[phase.index];
    let elapsed = clock.tick - phase.start_tick;
    let elapsed_s = elapsed as f64 * plan.period_s;

    for i in 0..n {
        let target = p.targets[i];
        slot.input.setpoints[i] = target
            .and_then(|t| t.setpoint)
            .map_or(f64::NAN, |s| s.at(elapsed_s));
        out.targets.bands[i] = target.and_then(|t| t.band.filter(|_| elapsed >= t.settle_ticks));
    }

    out.commands.0 = [f64::NAN; MAX_ACTUATORS];
    if !out.health.faulted {
        let input = &mut slot.input;
        input.tick = clock.tick;
        input.t_s = clock.t_s();
        input.phase = phase.index as u32;
        input.phase_elapsed_s = elapsed_s;
        input.n_signals = n as u32;
        input.values[..n].copy_from_slice(&signals.values[..n]);
        input.validity[..n].copy_from_slice(&signals.validity[..n]);
        input.commands = *last_commands;
        slot.output.setpoints = [f64::NAN; MAX_SIGNALS];
        slot.output.commands = [f64::NAN; MAX_ACTUATORS];
        slot.output.advance_phase = 0;
        slot.output.assessment = 0;
        // The one clock read of the tick: a watchdog on the plugin, never control time. A plugin
        // within its budget is unaffected, so lockstep runs stay deterministic.
        let started = std::time::Instant::now();
        let result = slot.instance.step(&slot.input, &mut slot.output);
        let overran = started.elapsed().as_secs_f64() > slot.budget_s;
        match result {
            Ok(()) if overran => fault(out.health, clock.tick, FAULT_OVERRUN),
            Ok(()) => {
                let o = &slot.output;
                // NaN means "no request"; an infinity is garbage.
                let garbage = o.setpoints[..n].iter().any(|v| v.is_infinite())
                    || o.commands.iter().any(|v| v.is_infinite());
                if garbage {
                    fault(out.health, clock.tick, FAULT_NON_FINITE);
                } else {
                    let k = out.derived.n;
                    out.derived.values[..k].copy_from_slice(&o.derived[..k]);
                    out.commands.0 = o.commands;
                    phase.advance_requested |= o.advance_phase != 0;
                    if o.assessment != 0 {
                        record_assessment(out.assessments, clock.tick, phase.index, &o.derived);
                    }
                }
            }
            Err(code) => fault(out.health, clock.tick, code),
        }
    }

    if hold_setpoints || out.health.faulted {
        // Control continues on the last setpoints.
        out.commands.0 = [f64::NAN; MAX_ACTUATORS];
        return;
    }
    for i in 0..n {
        let file = slot.input.setpoints[i];
        if file.is_nan() {
            out.targets.setpoints[i] = f64::NAN;
            continue;
        }
        let request = slot.output.setpoints[i];
        let by_operator = out.targets.operator[i];
        out.targets.setpoints[i] = if by_operator.is_finite() {
            by_operator
        } else if request.is_finite() {
            let limit = p.targets[i]
                .and_then(|t| t.band)
                .unwrap_or(plan.signals[i].range);
            request.clamp(limit.min, limit.max)
        } else {
            file
        };
    }
}

/// Stores an assessment while there is reserved room, and counts it otherwise.
fn record_assessment(a: &mut Assessments, tick: u64, phase: usize, values: &[f64; MAX_DERIVED]) {
    if a.list.len() < a.list.capacity() {
        a.list.push(Assessment {
            tick,
            phase,
            values: *values,
        });
    } else {
        a.dropped += 1;
    }
}
