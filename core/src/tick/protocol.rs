//! Protocol: advance the phase, then take the plugin's requests and derived values (the call
//! itself is made between the tick's halves, see [`super::plugin_call`]).
//!
//! The plugin's setpoints are requests: a non-finite one faults the plugin, a finite one is
//! clamped into the phase's band (or the signal's range). While the plugin is faulted, or a
//! safety rule holds setpoints, the targets stay where they were.

use super::clamps::ClampReport;
use super::events::{Event, TickEvents};
use super::phase_exit::judge_phase_exit;
use super::plugin_call::{FAULT_HUNG, PluginCall, PluginSlot};
use super::state::{
    Assessment, Assessments, Clock, Derived, PhaseState, PluginCommands, PluginHealth,
    PluginOutputs, SafetyState, SentCommands, Signals, Targets,
};
use crate::plan::Plan;
use perfuse_plugin_sdk::{MAX_ACTUATORS, MAX_DERIVED, MAX_SIGNALS, PhaseEvent};

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

/// What both halves of the Protocol stage write: the phase, the targets, the plugin's call and
/// the tick's events.
pub struct ProtocolState<'a> {
    pub phase: &'a mut PhaseState,
    pub targets: &'a mut Targets,
    pub slot: &'a mut PluginSlot,
    pub events: &'a mut TickEvents,
}

/// The Protocol stage's first half: the phase, then the plugin's call for the (possibly new)
/// phase, made ready for the driver to make between the halves; last, the phase's `exit_when`
/// judged on this tick's signals.
pub fn protocol_stage(
    clock: &Clock,
    plan: &Plan,
    signals: &Signals,
    sent: &SentCommands,
    plugin: &PluginOutputs,
    state: ProtocolState<'_>,
) {
    let ProtocolState {
        phase,
        targets,
        slot,
        events,
    } = state;
    let before = phase.index;
    let callable = !plugin.health.faulted;
    let call = slot.call.as_deref_mut().filter(|_| callable);
    let call = advance_phase(clock, plan, phase, call);
    if phase.index != before {
        // An operator's setpoint lasts for the phase it was set in.
        targets.operator = [f64::NAN; MAX_SIGNALS];
    }
    if phase.index != before || clock.tick == 0 {
        events.push(Event::PhaseStarted { phase: phase.index });
    }
    let file = prepare_step(
        clock,
        plan,
        signals,
        &sent.frame.values,
        phase,
        targets,
        call,
    );
    slot.due = file;
    judge_phase_exit(plan, signals, plugin.for_rules(), phase);
}

/// The Protocol stage's second half: the plugin's answer checked and turned into this tick's
/// targets and commands; a call that failed, overran or was abandoned faults the plugin.
pub fn plugin_result_stage(
    clock: &Clock,
    plan: &Plan,
    safety: &SafetyState,
    plugin: &mut PluginOutputs,
    state: ProtocolState<'_>,
) {
    let ProtocolState {
        phase,
        targets,
        slot,
        events,
    } = state;
    let faulted_before = plugin.health.faulted;
    let assessments_before = plugin.assessments.list.len();
    let called = std::mem::take(&mut slot.due);
    let budget = slot.wall_budget_s;
    let out = Outputs {
        targets,
        health: &mut plugin.health,
        derived: &mut plugin.derived,
        commands: &mut plugin.commands,
        assessments: &mut plugin.assessments,
        clamps: &mut plugin.clamps,
        events,
    };
    match slot.call.as_deref() {
        // A call abandoned by the supervisor: the plugin keeps the thread it hangs in.
        None => fault(out.health, clock.tick, FAULT_HUNG),
        Some(call) => {
            let answer = Answer {
                call,
                called,
                overran: called && budget.is_some_and(|b| call.wall_s > b),
            };
            take_result(clock, plan, safety.hold_setpoints, phase, answer, out)
        }
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

/// A value for every signal: none.
const NONE: [f64; MAX_SIGNALS] = [f64::NAN; MAX_SIGNALS];

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
    if targets.phase != Some(phase.index) {
        // A new phase: a signal without a target in it has no setpoint and no band.
        targets.file = [f64::NAN; MAX_SIGNALS];
        targets.bands = [None; MAX_SIGNALS];
        targets.phase = Some(phase.index);
    }
    for &i in &p.targeted {
        let Some(t) = &p.targets[i] else { continue };
        targets.file[i] = t.setpoint.map_or(f64::NAN, |s| s.at(elapsed_s));
        targets.bands[i] = t.band.filter(|_| elapsed >= t.settle_ticks);
    }
    let Some(call) = call else {
        return false;
    };
    let input = &mut call.input;
    if input.phase != phase.index as u32 || input.n_signals != n as u32 {
        // The first call in this phase: a signal without a target in it has no setpoint and no
        // limits; those of the signals with one are set below, every tick.
        input.setpoints = NONE;
        input.band_min = NONE;
        input.band_max = NONE;
    }
    input.tick = clock.tick;
    input.t_s = clock.t_s();
    input.phase = phase.index as u32;
    input.phase_elapsed_s = elapsed_s;
    input.n_signals = n as u32;
    input.values[..n].copy_from_slice(&signals.values[..n]);
    for (byte, v) in input.validity[..n].iter_mut().zip(&signals.validity[..n]) {
        *byte = v.byte();
    }
    input.commands = *last_commands;
    for &i in &p.targeted {
        // The limits of a request, where the file has a setpoint.
        let file = targets.file[i];
        let limit = file.is_finite().then(|| request_limit(plan, p, i));
        input.setpoints[i] = file;
        input.band_min[i] = limit.map_or(f64::NAN, |l| l.min);
        input.band_max[i] = limit.map_or(f64::NAN, |l| l.max);
    }
    // Only the first `n` requested setpoints are read (the output's other slots are not).
    let output = &mut call.output;
    output.setpoints[..n].copy_from_slice(&NONE[..n]);
    output.commands = [f64::NAN; MAX_ACTUATORS];
    output.advance_phase = 0;
    output.assessment = 0;
    true
}

/// The plugin's call after the driver made it (or not).
struct Answer<'a> {
    call: &'a PluginCall,
    /// Whether it was called this tick.
    called: bool,
    /// Whether the call took longer than its wall budget.
    overran: bool,
}

/// Checks the plugin's answer (when it was called this tick) and sets the targets: the
/// operator's, else the plugin's request clamped into the band, else the file's.
fn take_result(
    clock: &Clock,
    plan: &Plan,
    hold_setpoints: bool,
    phase: &mut PhaseState,
    answer: Answer<'_>,
    out: Outputs<'_>,
) {
    let n = plan.signals.len();
    out.commands.0 = [f64::NAN; MAX_ACTUATORS];
    let call = answer.call;
    if answer.called {
        match call.result {
            Ok(()) if answer.overran => fault(out.health, clock.tick, FAULT_OVERRUN),
            Ok(()) => {
                let o = &call.output;
                // NaN means "no request"; an infinity is garbage.
                let garbage = any_infinite(&o.setpoints[..n]) || any_infinite(&o.commands);
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
    if out.targets.setpoints_phase != Some(phase.index) {
        // A signal without a target in this phase has no setpoint.
        out.targets.setpoints = [f64::NAN; MAX_SIGNALS];
        out.targets.setpoints_phase = Some(phase.index);
    }
    for &i in &p.targeted {
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

/// Whether any value is infinite, looking at all of them (no branch per value).
fn any_infinite(values: &[f64]) -> bool {
    values.iter().filter(|v| v.abs() == f64::INFINITY).count() > 0
}

/// The range a plugin's setpoint request for signal `i` is clamped into in phase `p`: the
/// phase's band for it, else the signal's range.
fn request_limit(plan: &Plan, p: &crate::plan::PhasePlan, i: usize) -> crate::config::Range {
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
