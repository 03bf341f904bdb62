//! A phase's `exit_when`: the core ends a phase once its condition has held for its time, as it
//! ends one whose duration has run. Judged after the Protocol stage has settled this tick's
//! phase, on this tick's signals and the plugin's derived values; the phase ends at the next tick, as it does when the plugin or
//! the operator asks to advance. While the operator holds the phase, nothing counts.

use super::condition::judge;
use super::state::{PhaseState, PlanRef, PluginOutputs, Signals};
use bevy_ecs::prelude::*;

/// How long the current phase's exit condition has held.
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseExit {
    /// The phase the count belongs to.
    pub phase: usize,
    /// Consecutive ticks on which the condition held (0: it does not hold).
    pub held_ticks: u64,
}

/// Counts the ticks the phase's exit condition holds and asks for the phase's end once they
/// exceed its `for_s`. A tick on which it is false, or cannot be judged (a value invalid),
/// starts the count again.
pub fn judge_phase_exit(
    plan: Local<PlanRef>,
    signals: Res<Signals>,
    plugin: Res<PluginOutputs>,
    mut phase: ResMut<PhaseState>,
    mut exit: ResMut<PhaseExit>,
) {
    if exit.phase != phase.index {
        *exit = PhaseExit {
            phase: phase.index,
            held_ticks: 0,
        };
    }
    let Some(e) = &plan.0.phases[phase.index].exit else {
        return;
    };
    if !phase.held && judge(&e.condition, &signals, plugin.for_rules(), 0.0) == Some(true) {
        exit.held_ticks += 1;
        if exit.held_ticks > e.for_ticks {
            phase.advance_requested = true;
        }
    } else {
        exit.held_ticks = 0;
    }
}
