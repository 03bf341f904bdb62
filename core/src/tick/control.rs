//! Control: one PI loop per controlled actuator, with feed-forward, anti-windup and pulsatile
//! modulation. Its output is a request; the Safety stage decides what is sent.

use super::feedback::FeedbackCheck;
use super::state::{ActuatorChannel, Clock, Command, PluginOutputs, Signals, Targets};
use crate::plan::{FeedforwardPlan, LoopPlan};
use bevy_ecs::prelude::*;
use std::f64::consts::TAU;

/// What held a loop's output back on the last tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Restraint {
    None,
    /// A safety action cut the output: the actuator got this mean command, and the loop
    /// continues from it.
    Track {
        delivered: f64,
    },
    /// The actuator does not follow its commands (its `not_following` alarm is active): it
    /// delivered this mean command, and the output stays at most `margin` above it. Only from
    /// above: an actuator that delivers more than commanded (a runaway heater) never pulls the
    /// command up after it. The margin,
    /// half the actuator's feedback tolerance, lets the loop find out that the actuator listens
    /// again: then each delivery moves the band on, and control resumes at the actuator's rate
    /// limit instead of stepping to a wound-up command.
    Follow {
        delivered: f64,
        margin: f64,
    },
    /// The actuator's rate limit slowed the output, or its delivery is unknown: the integral
    /// holds.
    Hold,
}

/// What a loop carries from one tick to the next: saved with a run's state so that a restarted
/// controller continues bumplessly from the last commands.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoopMemory {
    pub integral: f64,
    pub mean_output: f64,
    /// The pulsatile factor of the last tick (1 without pulsatility).
    pub modulation: f64,
    pub feedforward: f64,
}

/// PI state of one loop.
#[derive(Component, Debug, Clone)]
pub struct ControlLoop {
    pub plan: LoopPlan,
    pub integral: f64,
    /// The loop's mean output before pulsatile modulation.
    pub mean_output: f64,
    /// The pulsatile factor applied last tick (1 without pulsatility).
    modulation: f64,
    /// This tick's feed-forward command.
    feedforward: f64,
    primed: bool,
}

impl ControlLoop {
    pub fn new(plan: LoopPlan) -> Self {
        ControlLoop {
            plan,
            integral: 0.0,
            mean_output: 0.0,
            modulation: 1.0,
            feedforward: 0.0,
            primed: false,
        }
    }

    /// The loop's memory; `None` before its first tick (it then starts from the initial command).
    pub fn memory(&self) -> Option<LoopMemory> {
        self.primed.then_some(LoopMemory {
            integral: self.integral,
            mean_output: self.mean_output,
            modulation: self.modulation,
            feedforward: self.feedforward,
        })
    }

    /// Continues from a saved memory instead of priming from the initial command.
    pub fn resume(&mut self, m: LoopMemory) {
        self.integral = m.integral;
        self.mean_output = m.mean_output;
        self.modulation = m.modulation;
        self.feedforward = m.feedforward;
        self.primed = true;
    }

    /// One PI update with output range `[lo, hi]`.
    ///
    /// After a safety cut, or while the actuator does not follow, the integral is set so that
    /// the output continues from what the actuator got (tracking anti-windup): the loop resumes
    /// smoothly when the limit lifts or the actuator listens again, instead of jumping back to
    /// what it had wound up to. The actuator's rate limit and its range stop the integral where
    /// it is.
    pub fn update(
        &mut self,
        setpoint: f64,
        measured: f64,
        dt: f64,
        (lo, hi): (f64, f64),
        restraint: Restraint,
    ) -> f64 {
        let (p, ff) = (&self.plan, self.feedforward);
        let error = setpoint - measured;
        if let Restraint::Track { delivered } = restraint {
            self.integral = delivered - ff - p.kp * error;
        } else {
            let hold = restraint == Restraint::Hold;
            // The integral's push has the sign of `ki × error`: a reverse-acting loop (negative
            // gains, e.g. suction on a cavity pressure) winds up in the other direction.
            let unconstrained = ff + p.kp * error + self.integral;
            let push = p.ki * error;
            let saturating_up = unconstrained >= hi && push > 0.0;
            let saturating_down = unconstrained <= lo && push < 0.0;
            if !(hold || saturating_up || saturating_down) {
                self.integral += p.ki * error * dt;
            }
        }
        // The integral alone never exceeds what the actuator can deliver.
        self.integral = self.integral.clamp(lo - ff, hi - ff);
        let mut output = (ff + p.kp * error + self.integral).clamp(lo, hi);
        if let Restraint::Follow { delivered, margin } = restraint {
            // Back-calculation: the integral is set so that the output sits at the cap.
            let followed = output.min(delivered + margin).clamp(lo, hi);
            if followed != output {
                self.integral = followed - ff - p.kp * error;
                output = followed;
            }
        }
        self.mean_output = output;
        output
    }
}

/// The Control stage: each loop turns its setpoint into a request; an actuator without a loop
/// takes the plugin's command when it sent one, and otherwise keeps its request.
pub fn run_loops<'a>(
    clock: &Clock,
    signals: &Signals,
    targets: &Targets,
    plugin: &PluginOutputs,
    actuators: impl Iterator<
        Item = (
            &'a ActuatorChannel,
            Option<Mut<'a, ControlLoop>>,
            Mut<'a, Command>,
        ),
    >,
) {
    let dt = clock.period_s;
    let t = clock.t_s();
    for (ch, lp, mut cmd) in actuators {
        let Some(mut lp) = lp else {
            let request = plugin.commands.0[ch.index];
            if request.is_finite() {
                cmd.requested = request;
            }
            continue;
        };
        let spec = &ch.spec;
        // A proportional feed-forward holds its last value while its signal is invalid.
        lp.feedforward = match lp.plan.feedforward {
            FeedforwardPlan::Constant(v) => v,
            FeedforwardPlan::Proportional { signal, gain } if signals.is_valid(signal) => {
                gain * signals.values[signal]
            }
            FeedforwardPlan::Proportional { .. } => lp.feedforward,
        };
        if !lp.primed {
            // Start from the actuator's initial command so the first ticks do not jump.
            lp.integral = spec.initial - lp.feedforward;
            lp.mean_output = spec.initial;
            lp.primed = true;
        }
        let sig = lp.plan.signal;
        let setpoint = targets.setpoints[sig];
        // What the actuator really got, as a mean: what it reports it delivered (last tick's
        // command as the device applied it) while it does not follow, or what safety let
        // through when it cut the request last tick. A near-zero pulsatile factor says nothing
        // about the mean: that tick is not tracked. Without a report the integral holds.
        let delivered = signals.frame.delivered[ch.index];
        let restraint = if cmd.not_following {
            if delivered.is_finite() && lp.modulation > 0.2 {
                let half_tolerance = FeedbackCheck::new(spec, dt).tolerance(delivered) / 2.0;
                Restraint::Follow {
                    delivered: delivered / lp.modulation,
                    margin: half_tolerance / lp.modulation,
                }
            } else {
                Restraint::Hold
            }
        } else if cmd.limited && lp.modulation > 0.2 {
            Restraint::Track {
                delivered: cmd.sent / lp.modulation,
            }
        } else if cmd.rate_limited {
            Restraint::Hold
        } else {
            Restraint::None
        };
        let mean = if signals.is_valid(sig) && setpoint.is_finite() {
            let range = (spec.range.min, spec.range.max);
            lp.update(setpoint, signals.values[sig], dt, range, restraint)
        } else {
            // No trustworthy measurement: hold the last output rather than integrate garbage.
            lp.mean_output
        };
        lp.modulation = match lp.plan.pulsatile {
            Some(p) => 1.0 + p.amplitude * (TAU * p.rate_bpm / 60.0 * t).sin(),
            None => 1.0,
        };
        cmd.requested = mean * lp.modulation;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pi(kp: f64, ki: f64) -> ControlLoop {
        ControlLoop::new(LoopPlan {
            signal: 0,
            kp,
            ki,
            feedforward: FeedforwardPlan::Constant(0.0),
            pulsatile: None,
        })
    }

    #[test]
    fn pi_drives_a_first_order_plant_to_its_setpoint() {
        // Plant: y' = (u - y) / 2 s.
        let mut lp = pi(0.5, 0.8);
        let (mut y, dt) = (0.0, 0.01);
        for _ in 0..6000 {
            let u = lp.update(10.0, y, dt, (0.0, 100.0), Restraint::None);
            y += (u - y) / 2.0 * dt;
        }
        assert!((y - 10.0).abs() < 0.05, "y = {y}");
    }

    #[test]
    fn a_limited_loop_tracks_what_was_delivered_and_resumes_from_there() {
        let mut lp = pi(0.5, 1.0);
        for _ in 0..1000 {
            // Safety holds the actuator at 20 while the loop would want more.
            lp.update(
                10.0,
                0.0,
                0.01,
                (0.0, 100.0),
                Restraint::Track { delivered: 20.0 },
            );
        }
        assert!((lp.mean_output - 20.0).abs() < 1e-9);
        // Released: the first output continues from 20, it does not jump.
        let first = lp.update(10.0, 0.0, 0.01, (0.0, 100.0), Restraint::None);
        assert!((first - 20.0).abs() < 0.2, "jumped to {first}");
    }

    #[test]
    fn a_loop_whose_actuator_does_not_follow_stays_near_the_delivery_and_resumes_from_it() {
        let mut lp = pi(0.5, 1.0);
        let follow = |d| Restraint::Follow {
            delivered: d,
            margin: 2.0,
        };
        // The actuator holds 20 while the loop wants far more: no wind-up beyond the margin.
        for _ in 0..10_000 {
            lp.update(10.0, 0.0, 0.01, (0.0, 100.0), follow(20.0));
        }
        assert_eq!(lp.mean_output, 22.0);
        // It listens again: the loop goes on from there at its own pace (its integral), never
        // more than the margin beyond the last delivery.
        let mut d = 22.0;
        for _ in 0..500 {
            let out = lp.update(10.0, 0.0, 0.01, (0.0, 100.0), follow(d));
            assert!(out <= d + 2.0 + 1e-9, "{out} from {d}");
            assert!(out > d, "resumed");
            d = out;
        }
        // 5 s of the integral's push (1 × error 10 per s) on top of 22.
        assert!((d - 72.0).abs() < 0.5, "{d}");
    }

    #[test]
    fn a_reverse_acting_loop_unwinds_from_its_limit() {
        // Negative gains: more output lowers the measurement.
        let mut lp = pi(-0.5, -1.0);
        for _ in 0..10_000 {
            // Measurement far below the setpoint: the loop wants less output and sits at 0.
            lp.update(10.0, 0.0, 0.01, (0.0, 100.0), Restraint::None);
        }
        assert_eq!(lp.mean_output, 0.0);
        let wound = lp.integral;
        // Now the measurement is above the setpoint: the integral must move up at once.
        lp.update(10.0, 20.0, 0.01, (0.0, 100.0), Restraint::None);
        assert!(lp.integral > wound, "stuck at {wound}");
    }

    #[test]
    fn the_integral_stops_at_the_actuator_range() {
        let mut lp = pi(0.0, 1.0);
        for _ in 0..100_000 {
            lp.update(1e6, 0.0, 0.01, (0.0, 100.0), Restraint::None);
        }
        assert!(lp.integral <= 100.0);
        let before = lp.integral;
        lp.update(1e6, 0.0, 0.01, (0.0, 1e9), Restraint::Hold);
        assert_eq!(lp.integral, before, "held while rate-limited");
    }
}
