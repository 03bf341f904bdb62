//! Protocol: advance the phase, then ask the plugin for its requests and derived values.
//!
//! The plugin's setpoints are requests: a non-finite one faults the plugin, a finite one is
//! clamped into the phase's band (or the signal's range). While the plugin is faulted, or a
//! safety rule holds setpoints, the targets stay where they were.

use super::{Clock, PlanRes, PluginSlot, Signals, safety::SafetyState};
use crate::config::Range;
use crate::plan::Plan;
use bevy_ecs::prelude::*;
use perfuse_plugin_sdk::{MAX_DERIVED, MAX_SIGNALS, PhaseEvent, StepInput};

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
}

impl PhaseState {
    pub fn new() -> Self {
        PhaseState {
            index: 0,
            start_tick: 0,
            advance_requested: false,
            end_tick: None,
        }
    }

    /// Whether the run is over at `tick` (before running it).
    pub fn finished(&self, plan: &Plan, tick: u64) -> bool {
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
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            setpoints: [f64::NAN; MAX_SIGNALS],
            bands: [None; MAX_SIGNALS],
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
    }
}

/// The Protocol stage: first the phase, then the plugin's step for the (possibly new) phase.
#[allow(clippy::too_many_arguments)]
pub fn protocol_stage(
    clock: Res<Clock>,
    plan: Res<PlanRes>,
    signals: Res<Signals>,
    safety: Res<SafetyState>,
    mut phase: ResMut<PhaseState>,
    mut targets: ResMut<Targets>,
    mut slot: NonSendMut<PluginSlot>,
    mut health: ResMut<PluginHealth>,
    mut derived: ResMut<Derived>,
) {
    let (plan, slot) = (&plan.0, &mut *slot);
    advance_phase(&clock, plan, &mut phase, slot, &mut health);
    step_plugin(
        &clock,
        plan,
        &signals,
        &safety,
        &mut phase,
        &mut targets,
        slot,
        &mut health,
        &mut derived,
    );
}

/// Moves to the next phase when the current one has run its duration or the plugin asked.
fn advance_phase(
    clock: &Clock,
    plan: &Plan,
    phase: &mut PhaseState,
    plugin: &mut PluginSlot,
    health: &mut PluginHealth,
) {
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

/// Calls the plugin and turns its output into this tick's targets.
#[allow(clippy::too_many_arguments)]
fn step_plugin(
    clock: &Clock,
    plan: &Plan,
    signals: &Signals,
    safety: &SafetyState,
    phase: &mut PhaseState,
    targets: &mut Targets,
    slot: &mut PluginSlot,
    health: &mut PluginHealth,
    derived: &mut Derived,
) {
    let n = plan.signals.len();
    let p = &plan.phases[phase.index];
    let elapsed = clock.tick - phase.start_tick;
    let elapsed_s = elapsed as f64 * plan.period_s;
    let hold = safety.hold_setpoints || health.faulted;

    for i in 0..n {
        let target = p.targets[i];
        slot.input.setpoints[i] = target
            .and_then(|t| t.setpoint)
            .map_or(f64::NAN, |s| s.at(elapsed_s));
        targets.bands[i] = target.and_then(|t| t.band.filter(|_| elapsed >= t.settle_ticks));
    }

    if !health.faulted {
        let input = &mut slot.input;
        input.tick = clock.tick;
        input.t_s = clock.t_s();
        input.phase = phase.index as u32;
        input.phase_elapsed_s = elapsed_s;
        input.n_signals = n as u32;
        input.values[..n].copy_from_slice(&signals.values[..n]);
        input.validity[..n].copy_from_slice(&signals.validity[..n]);
        slot.output.setpoints = [f64::NAN; MAX_SIGNALS];
        slot.output.advance_phase = 0;
        match slot.instance.step(&slot.input, &mut slot.output) {
            Ok(()) => {
                let out = &slot.output;
                let bad_setpoint = out.setpoints[..n].iter().any(|v| v.is_infinite());
                if bad_setpoint {
                    fault(health, clock.tick, FAULT_NON_FINITE);
                } else {
                    let k = derived.n;
                    derived.values[..k].copy_from_slice(&out.derived[..k]);
                    phase.advance_requested |= out.advance_phase != 0;
                }
            }
            Err(code) => fault(health, clock.tick, code),
        }
    }

    if hold {
        return;
    }
    let plugin_ok = !health.faulted;
    for i in 0..n {
        let file = slot.input.setpoints[i];
        if file.is_nan() {
            targets.setpoints[i] = f64::NAN;
            continue;
        }
        let request = slot.output.setpoints[i];
        targets.setpoints[i] = if plugin_ok && request.is_finite() {
            let limit = p.targets[i]
                .and_then(|t| t.band)
                .unwrap_or(plan.signals[i].range);
            request.clamp(limit.min, limit.max)
        } else {
            file
        };
    }
}
