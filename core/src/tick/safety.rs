//! Safety: evaluate the protocol's rules, raise and latch alarms, and clamp every command to
//! the minimum of its independent limits. A rule that demands the safe state gets it in the
//! same tick. This stage never has a run condition and never trusts the plugin.

use super::alarms::{AlarmInputs, Alarms};
use super::dose::DoseWindow;
use super::events::TickEvents;
use super::state::{
    ActuatorChannel, Clock, Command, PhaseState, PluginOutputs, SafetyState, Signals,
};
use crate::hal::MAX_ACTUATORS;
use crate::plan::{ActionPlan, ActuatorPlan, Plan};
use bevy_ecs::prelude::*;

/// What the Safety stage judges besides the signals: the phase (rules hold in some phases
/// only) and whether the plugin is faulted.
pub struct Judged<'a> {
    pub signals: &'a Signals,
    pub phase: &'a PhaseState,
    pub plugin: &'a PluginOutputs,
    /// The command each actuator was sent last tick (see [`last_sent`]).
    pub last_sent: &'a [f64; MAX_ACTUATORS],
}

/// The command each actuator was sent last tick, by channel, taken before the Safety stage
/// decides this tick's.
pub fn last_sent<'a>(
    actuators: impl Iterator<Item = (&'a ActuatorChannel, &'a Command)>,
) -> [f64; MAX_ACTUATORS] {
    let mut last_sent = [f64::NAN; MAX_ACTUATORS];
    for (ch, cmd) in actuators {
        last_sent[ch.index] = cmd.sent;
    }
    last_sent
}

/// The Safety stage: the rules and the actuators' feedback (what each delivered against last
/// tick's command), then every command clamped by what the active alarms demand.
pub fn safety_stage<'a>(
    clock: &Clock,
    plan: &Plan,
    judged: Judged<'_>,
    alarms: &mut Alarms,
    events: &mut TickEvents,
    actuators: impl Iterator<
        Item = (
            &'a ActuatorChannel,
            Mut<'a, Command>,
            Option<Mut<'a, DoseWindow>>,
        ),
    >,
) {
    let signals = judged.signals;
    alarms.links = crate::tick::alarms::LinkHealth {
        down: signals.frame.links_down,
        degraded: signals.frame.links_degraded,
    };
    let inputs = AlarmInputs {
        tick: clock.tick,
        plan,
        signals,
        derived: judged.plugin.for_rules(),
        phase: judged.phase.index,
        plugin_faulted: judged.plugin.health.faulted,
        last_sent: judged.last_sent,
        delivered: &signals.frame.delivered,
        expired: signals.frame.expired,
    };
    alarms.update(&inputs, events, apply);
    for (ch, mut cmd, dose) in actuators {
        cmd.not_following = alarms.not_following(ch.index);
        enforce_limits(&alarms.demands, plan.period_s, ch, &mut cmd, dose);
    }
}

fn apply(s: &mut SafetyState, action: ActionPlan, onset_command: f64) {
    match action {
        ActionPlan::AlarmOnly => {}
        ActionPlan::Limit { actuator, max } => s.caps[actuator] = s.caps[actuator].min(max),
        ActionPlan::Reduce { actuator, fraction } => {
            let max = (1.0 - fraction) * onset_command;
            if max.is_finite() {
                s.caps[actuator] = s.caps[actuator].min(max);
            }
        }
        ActionPlan::StopPump { pump, clamp } => {
            s.forced[pump] = 0.0;
            if let Some(c) = clamp {
                s.forced[c] = 1.0;
            }
        }
        ActionPlan::HeaterOff { heater } => s.forced[heater] = 0.0,
        ActionPlan::HoldSetpoints => s.hold_setpoints = true,
        ActionPlan::SafeState => s.safe_state = true,
    }
}

/// Clamps an actuator's request to its range, any `Limit` cap and its rate limit; forced
/// commands and the safe state bypass the rate limit, because a stop must not be slowed.
fn enforce_limits(
    safety: &SafetyState,
    period_s: f64,
    ch: &ActuatorChannel,
    cmd: &mut Command,
    dose: Option<Mut<DoseWindow>>,
) {
    let mut forced = safety.forced[ch.index];
    // An infusion pump that has delivered its cap within the window is held at 0.
    if dose.as_ref().is_some_and(|d| d.exhausted()) && forced.is_nan() {
        forced = 0.0;
    }
    let demand = Demand {
        safe_state: safety.safe_state,
        forced,
        cap: safety.caps[ch.index],
    };
    decide(&ch.spec, cmd, demand);
    if let Some(mut d) = dose {
        d.deliver(cmd.sent, period_s);
    }
}

/// What the Safety stage demands of one actuator this tick.
#[derive(Debug, Clone, Copy)]
pub struct Demand {
    pub safe_state: bool,
    /// A command that overrides the request (NaN: none).
    pub forced: f64,
    /// Upper limit from `Limit` and `Reduce` actions (infinite: none).
    pub cap: f64,
}

/// Decides the command sent to one actuator. The safe state and forced commands override the
/// request and are not slowed by the rate limit (a stop must not be slowed). Otherwise the
/// request is clamped to the actuator's range and the cap, then rate-limited; the rate limit
/// slows changes but never holds a command above its range or cap, which bind at once.
pub fn decide(spec: &ActuatorPlan, cmd: &mut Command, demand: Demand) {
    let req = if cmd.requested.is_finite() {
        cmd.requested
    } else {
        cmd.last_safe
    };
    let (sent, by_safety, by_rate) = if demand.safe_state {
        (spec.safe_command(cmd.last_safe), true, false)
    } else if !demand.forced.is_nan() {
        (demand.forced, true, false)
    } else {
        let hi = spec.range.max.min(demand.cap).max(spec.range.min);
        let in_range = req.clamp(spec.range.min, spec.range.max);
        let capped = in_range.min(hi);
        let v = capped
            .clamp(cmd.sent - spec.max_step, cmd.sent + spec.max_step)
            .clamp(spec.range.min, hi);
        cmd.last_safe = v;
        (v, capped != in_range, v != capped)
    };
    cmd.limited = by_safety && sent != req;
    cmd.rate_limited = by_rate;
    cmd.sent = sent;
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn actions_combine_to_the_strictest() {
        let mut s = SafetyState::default();
        let limit = |max| ActionPlan::Limit { actuator: 0, max };
        apply(&mut s, limit(50.0), f64::NAN);
        apply(&mut s, limit(30.0), f64::NAN);
        let halve = ActionPlan::Reduce {
            actuator: 0,
            fraction: 0.5,
        };
        apply(&mut s, halve, 40.0);
        let stop = ActionPlan::StopPump {
            pump: 1,
            clamp: Some(2),
        };
        apply(&mut s, stop, f64::NAN);
        assert_eq!(
            s.caps[0], 20.0,
            "half of the 40 at onset is below the 30 limit"
        );
        assert_eq!(s.forced[1], 0.0);
        assert_eq!(s.forced[2], 1.0);
        assert!(s.forced[0].is_nan());
    }
}
