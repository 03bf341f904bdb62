//! Protocol: advance the phase, then take the plugin's requests and derived values (the call
//! itself is made between the tick's halves, see [`super::plugin_call`]).
//!
//! The plugin's setpoints are requests: a non-finite one faults the plugin, a finite one is
//! clamped into the phase's band (or the signal's range). While the plugin is faulted, or a
//! safety rule holds setpoints, the targets stay where they were.

use super::clamps::ClampReport;
use super::events::{Event, TickEvents};
use super::plugin_call::{FAULT_HUNG, PluginCall, PluginSlot};
use super::sample::OperatorInput;
use super::{Clock, PlanRef, Signals, actuate::SentCommands, safety::SafetyState};
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
    /// The protocol file's setpoint at this point of the phase (NaN: none).
    pub file: [f64; MAX_SIGNALS],
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            setpoints: [f64::NAN; MAX_SIGNALS],
            bands: [None; MAX_SIGNALS],
            operator: [f64::NAN; MAX_SIGNALS],
            file: [f64::NAN; MAX_SIGNALS],
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
    pub clamps: ClampReport,
}

impl PluginOutputs {
    pub fn new(n_derived: usize) -> Self {
        PluginOutputs {
            health: PluginHealth::default(),
            derived: Derived::new(n_derived),
            commands: PluginCommands::default(),
            assessments: Assessments::new(),
            clamps: ClampReport::default(),
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
        FAULT_HUNG => "hung: its call did not return within its time budget",
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
        band_min: [f64::NAN; MAX_SIGNALS],
        band_max: [f64::NAN; MAX_SIGNALS],
    }
}

/// The Protocol stage's first system: the operator's commands, the phase, then the plugin's
/// call for the (possibly new) phase, made ready for the driver to make between the halves.
#[allow(clippy::too_many_arguments)]
pub fn protocol_stage(
    clock: Res<Clock>,
    plan: Local<PlanRef>,
    signals: Res<Signals>,
    sent: Res<SentCommands>,
    plugin: Res<PluginOutputs>,
    mut phase: ResMut<PhaseState>,
    mut slot: ResMut<PluginSlot>,
    mut targets: ResMut<Targets>,
    mut operator: ResMut<OperatorInput>,
    mut events: ResMut<TickEvents>,
) {
    let plan = &plan.0;
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
    let callable = !plugin.health.faulted;
    let call = slot.call.as_deref_mut().filter(|_| callable);
    let call = advance_phase(&clock, plan, &mut phase, call);
    if phase.index != before {
        // An operator's setpoint lasts for the phase it was set in.
        targets.operator = [f64::NAN; MAX_SIGNALS];
    }
    if phase.index != before || clock.tick == 0 {
        events.push(Event::PhaseStarted { phase: phase.index });
    }
    let file = prepare_step(
        &clock,
        plan,
        &signals,
        &sent.frame.values,
        &phase,
        &mut targets,
        call,
    );
    slot.due = file;
}

/// The Protocol stage's second system: the plugin's answer checked and turned into this tick's
/// targets and commands; a call that failed, overran or was abandoned faults the plugin.
#[allow(clippy::too_many_arguments)]
pub fn plugin_result_stage(
    clock: Res<Clock>,
    plan: Local<PlanRef>,
    safety: Res<SafetyState>,
    mut phase: ResMut<PhaseState>,
    mut slot: ResMut<PluginSlot>,
    mut targets: ResMut<Targets>,
    mut plugin: ResMut<PluginOutputs>,
    mut events: ResMut<TickEvents>,
) {
    let (plan, slot, plugin) = (&plan.0, &mut *slot, &mut *plugin);
    let faulted_before = plugin.health.faulted;
    let assessments_before = plugin.assessments.list.len();
    let called = std::mem::take(&mut slot.due);
    let budget = slot.wall_budget_s;
    let out = Outputs {
        targets: &mut targets,
        health: &mut plugin.health,
        derived: &mut plugin.derived,
        commands: &mut plugin.commands,
        assessments: &mut plugin.assessments,
        clamps: &mut plugin.clamps,
        events: &mut events,
    };
    match slot.call.as_deref() {
        // A call abandoned by the supervisor: the plugin keeps the thread it hangs in.
        None => fault(out.health, clock.tick, FAULT_HUNG),
        Some(call) => take_result(
            &clock,
            plan,
            safety.hold_setpoints,
            &mut phase,
            call,
            called,
            budget,
            out,
        ),
    }
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
    clamps: &'a mut ClampReport,
    events: &'a mut TickEvents,
}

/// Moves to the next phase when the current one has run its duration or the plugin asked; the
/// plugin (`call`, unless faulted) is told of the change before its next step.
fn advance_phase<'a>(
    clock: &Clock,
    plan: &Plan,
    phase: &mut PhaseState,
    mut call: Option<&'a mut PluginCall>,
) -> Option<&'a mut PluginCall> {
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
        return call;
    }
    let from = phase.index;
    phase.index += 1;
    phase.start_tick = clock.tick;
    phase.advance_requested = false;
    if let Some(c) = call.as_deref_mut() {
        c.phase_event = Some(PhaseEvent {
            t_s: clock.t_s(),
            from: from as u32,
            to: phase.index as u32,
        });
    }
    call
}

fn fault(health: &mut PluginHealth, tick: u64, code: i32) {
    if !health.faulted {
        health.faulted = true;
        health.fault_tick = tick;
        health.fault_code = code;
    }
}

/// Sets this tick's bands and the file's setpoints, and fills the step's input when the plugin
/// is to be called (`call`); returns whether it is.
fn prepare_step(
    clock: &Clock,
    plan: &Plan,
    signals: &Signals,
    last_commands: &[f64; MAX_ACTUATORS],
    phase: &PhaseState,
    targets: &mut Targets,
    call: Option<&mut PluginCall>,
) -> bool {
    let n = plan.signals.len();
    let p = &plan.phases[phase.index];
    let elapsed = clock.tick - phase.start_tick;
    let elapsed_s = elapsed as f64 * plan.period_s;
    for i in 0..n {
        let target = p.targets[i];
        targets.file[i] = target
            .and_then(|t| t.setpoint)
            .map_or(f64::NAN, |s| s.at(elapsed_s));
        targets.bands[i] = target.and_then(|t| t.band.filter(|_| elapsed >= t.settle_ticks));
    }
    let Some(call) = call else {
        return false;
    };
    let input = &mut call.input;
    input.tick = clock.tick;
    input.t_s = clock.t_s();
    input.phase = phase.index as u32;
    input.phase_elapsed_s = elapsed_s;
    input.n_signals = n as u32;
    input.values[..n].copy_from_slice(&signals.values[..n]);
    input.validity[..n].copy_from_slice(&signals.validity[..n]);
    input.setpoints[..n].copy_from_slice(&targets.file[..n]);
    input.commands = *last_commands;
    for i in 0..n {
        let limit = targets.file[i]
            .is_finite()
            .then(|| request_limit(plan, p, i));
        input.band_min[i] = limit.map_or(f64::NAN, |l| l.min);
        input.band_max[i] = limit.map_or(f64::NAN, |l| l.max);
    }
    let output = &mut call.output;
    output.setpoints = [f64::NAN; MAX_SIGNALS];
    output.commands = [f64::NAN; MAX_ACTUATORS];
    output.advance_phase = 0;
    output.assessment = 0;
    true
}

/// Checks the plugin's answer (when it was `called` this tick) and sets the targets: the
/// operator's, else the plugin's request clamped into the band, else the file's.
#[allow(clippy::too_many_arguments)]
fn take_result(
    clock: &Clock,
    plan: &Plan,
    hold_setpoints: bool,
    phase: &mut PhaseState,
    call: &PluginCall,
    called: bool,
    wall_budget_s: Option<f64>,
    out: Outputs<'_>,
) {
    let n = plan.signals.len();
    out.commands.0 = [f64::NAN; MAX_ACTUATORS];
    if called {
        let overran = wall_budget_s.is_some_and(|b| call.wall_s > b);
        match call.result {
            Ok(()) if overran => fault(out.health, clock.tick, FAULT_OVERRUN),
            Ok(()) => {
                let o = &call.output;
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
    let p = &plan.phases[phase.index];
    for i in 0..n {
        let file = out.targets.file[i];
        if file.is_nan() {
            out.targets.setpoints[i] = f64::NAN;
            continue;
        }
        let request = call.output.setpoints[i];
        let by_operator = out.targets.operator[i];
        out.targets.setpoints[i] = if by_operator.is_finite() {
            out.clamps.clear(i);
            by_operator
        } else if request.is_finite() {
            let limit = request_limit(plan, p, i);
            let applied = request.clamp(limit.min, limit.max);
            out.clamps.note(i, request, applied, out.events);
            applied
        } else {
            out.clamps.clear(i);
            file
        };
    }
}

/// The range a plugin's setpoint request for signal `i` is clamped into in phase `p`: the
/// phase's band for it, else the signal's range.
fn request_limit(plan: &Plan, p: &crate::plan::PhasePlan, i: usize) -> Range {
    p.targets[i]
        .and_then(|t| t.band)
        .unwrap_or(plan.signals[i].range)
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
