//! The automation loops of normothermic liver perfusion (§3A, after the NCI and Liver4Life
//! controllers): drugs by threshold, CO2 sweep by pH. They only request commands; the core
//! clamps each one to its pump's range, rate limit and dose cap.

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
