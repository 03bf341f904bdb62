//! The automation loops of normothermic liver perfusion (§3A, after the NCI and Liver4Life
//! controllers): drugs by threshold, CO2 sweep by pH. They only request commands; the core
//! clamps each one to its pump's range, rate limit and dose cap.

use perfuse_plugin_sdk::state::{self, Field};
use perfuse_plugin_sdk::{StepInput, StepOutput, validity};

/// Mean of a signal's valid readings since the last decision.
#[derive(Debug, Clone, Copy, Default)]
pub struct IntervalMean {
    sum: f64,
    n: u64,
}

impl IntervalMean {
    pub fn add(&mut self, input: &StepInput, signal: usize) {
        if input.validity[signal] == validity::OK {
            self.sum += input.values[signal];
            self.n += 1;
        }
    }

    /// The mean since the last call, then starts over; `None` without a valid reading.
    pub fn take(&mut self) -> Option<f64> {
        let mean = (self.n > 0).then(|| self.sum / self.n as f64);
        *self = IntervalMean::default();
        mean
    }
}

impl Field for IntervalMean {
    fn put(&self, w: &mut state::Writer) {
        w.put(&self.sum).put(&self.n);
    }

    fn get(r: &mut state::Reader<'_>) -> Result<Self, String> {
        Ok(IntervalMean {
            sum: r.get()?,
            n: r.get()?,
        })
    }
}

/// Which side of the threshold starts the infusion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trigger {
    Above,
    Below,
}

/// A drug infused while its signal is beyond a threshold (NCI: insulin above, glucagon below the
/// glucose band; Liver4Life: vasodilator below an HA flow). Every interval the loop looks at the
/// interval's mean: beyond the threshold it raises the rate by one step from what the pump last
/// delivered; otherwise, or without a valid reading, it stops the infusion.
#[derive(Debug, Clone, Copy)]
pub struct DrugLoop {
    pub actuator: usize,
    pub signal: usize,
    pub trigger: Trigger,
    pub threshold: f64,
    pub step_ml_h: f64,
    mean: IntervalMean,
}

impl DrugLoop {
    pub fn new(
        actuator: usize,
        signal: usize,
        trigger: Trigger,
        threshold: f64,
        step_ml_h: f64,
    ) -> Self {
        DrugLoop {
            actuator,
            signal,
            trigger,
            threshold,
            step_ml_h,
            mean: IntervalMean::default(),
        }
    }

    /// The readings collected since the last decision, for a saved state.
    pub fn mean_mut(&mut self) -> &mut IntervalMean {
        &mut self.mean
    }

    pub fn mean(&self) -> &IntervalMean {
        &self.mean
    }

    /// Collects this tick's reading; at a decision tick, requests the new rate.
    pub fn step(&mut self, input: &StepInput, decide: bool, out: &mut StepOutput) {
        self.mean.add(input, self.signal);
        if !decide {
            return;
        }
        let beyond = self.mean.take().is_some_and(|v| match self.trigger {
            Trigger::Above => v > self.threshold,
            Trigger::Below => v < self.threshold,
        });
        let delivered = input.commands[self.actuator];
        let delivered = if delivered.is_finite() {
            delivered
        } else {
            0.0
        };
        out.commands[self.actuator] = if beyond {
            delivered + self.step_ml_h
        } else {
            0.0
        };
    }
}

/// Integral control of the oxygenator sweep on perfusate pH: more sweep removes more CO2 and
/// raises the pH. Holds the sweep while no valid pH arrives.
#[derive(Debug, Clone, Copy)]
pub struct SweepLoop {
    pub actuator: usize,
    pub signal: usize,
    pub target_ph: f64,
    /// L/min of sweep per pH unit of error, per decision.
    pub gain: f64,
    mean: IntervalMean,
}

impl SweepLoop {
    pub fn new(actuator: usize, signal: usize, target_ph: f64, gain: f64) -> Self {
        SweepLoop {
            actuator,
            signal,
            target_ph,
            gain,
            mean: IntervalMean::default(),
        }
    }

    /// The readings collected since the last decision, for a saved state.
    pub fn mean_mut(&mut self) -> &mut IntervalMean {
        &mut self.mean
    }

    pub fn mean(&self) -> &IntervalMean {
        &self.mean
    }

    pub fn step(&mut self, input: &StepInput, decide: bool, out: &mut StepOutput) {
        self.mean.add(input, self.signal);
        if !decide {
            return;
        }
        let delivered = input.commands[self.actuator];
        if let Some(ph) = self.mean.take()
            && delivered.is_finite()
        {
            out.commands[self.actuator] = delivered + self.gain * (self.target_ph - ph);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(value: f64, delivered: f64) -> StepInput {
        let mut i = StepInput {
            tick: 0,
            t_s: 0.0,
            phase: 0,
            phase_elapsed_s: 0.0,
            n_signals: 1,
            values: [f64::NAN; perfuse_plugin_sdk::MAX_SIGNALS],
            validity: [validity::OK; perfuse_plugin_sdk::MAX_SIGNALS],
            setpoints: [f64::NAN; perfuse_plugin_sdk::MAX_SIGNALS],
            commands: [f64::NAN; perfuse_plugin_sdk::MAX_ACTUATORS],
            ..StepInput::default()
        };
        i.values[0] = value;
        i.commands[0] = delivered;
        i
    }

    #[test]
    fn a_drug_loop_steps_up_from_what_was_delivered_and_stops_once_clear() {
        let mut insulin = DrugLoop::new(0, 0, Trigger::Above, 10.0, 1.0);
        let mut out = StepOutput::default();
        insulin.step(&input(12.0, 0.0), false, &mut out);
        assert!(out.commands[0].is_nan(), "no request between decisions");
        insulin.step(&input(11.0, 2.0), true, &mut out);
        assert_eq!(
            out.commands[0], 3.0,
            "mean 11.5 > 10: one step up from 2 mL/h"
        );
        insulin.step(&input(9.0, 3.0), true, &mut out);
        assert_eq!(out.commands[0], 0.0);
        let mut blind = input(12.0, 3.0);
        blind.validity[0] = validity::STALE;
        insulin.step(&blind, true, &mut out);
        assert_eq!(out.commands[0], 0.0, "no valid glucose: no insulin");
    }

    #[test]
    fn the_sweep_rises_when_the_perfusate_is_acid_and_holds_without_ph() {
        let mut sweep = SweepLoop::new(0, 0, 7.40, 1.0);
        let mut out = StepOutput::default();
        sweep.step(&input(7.30, 1.0), true, &mut out);
        assert!((out.commands[0] - 1.1).abs() < 1e-12);
        let mut out = StepOutput::default();
        let mut blind = input(7.30, 1.1);
        blind.validity[0] = validity::IMPLAUSIBLE;
        sweep.step(&blind, true, &mut out);
        assert!(out.commands[0].is_nan(), "held");
    }
}
