//! A phase's `exit_when`: the core ends a phase once its condition has held for its time, as it
//! ends one whose duration has run. Judged at the end of the Protocol stage, once it has settled
//! this tick's phase, on this tick's signals and the plugin's derived values; the phase ends at the next tick, as it does when the
//! plugin or the operator asks to advance. While the operator holds the phase, nothing counts.

use super::condition::judge;
use super::state::{PhaseExit, PhaseState, Signals};
use crate::plan::Plan;

/// Counts the ticks the phase's exit condition holds (in `phase.exit`) and asks for the phase's
/// end once they exceed its `for_s`. A tick on which it is false, or cannot be judged (a value
/// invalid), starts the count again. `derived`: the plugin's derived values a condition may read
/// (none while it is faulted).
pub fn judge_phase_exit(plan: &Plan, signals: &Signals, derived: &[f64], phase: &mut PhaseState) {
    if phase.exit.phase != phase.index {
        phase.exit = PhaseExit {
            phase: phase.index,
            held_ticks: 0,
        };
    }
    let Some(e) = &plan.phases[phase.index].exit else {
        return;
    };
    if !phase.held && judge(&e.condition, signals, derived, 0.0) == Some(true) {
        phase.exit.held_ticks += 1;
        if phase.exit.held_ticks > e.for_ticks {
            phase.advance_requested = true;
        }
    } else {
        phase.exit.held_ticks = 0;
    }
}
