//! Sensor channels: what a probe adds to the true value (lag, noise, quantisation) and what an
//! injected sensor fault does to the reading.

use perfuse_hal::SensorKind;

use crate::TIME_RESOLUTION_S;
use crate::params::param_set;
use crate::rng::NoiseStream;

/// Steps per unit of a reading: 0.1 of the unit (my choice, as fine as the LifePort's stored
/// temperatures, §4A), finer where the clinical bands are narrow (pH 7.35–7.45, lactate
/// thresholds of 1.7 and 2.5 mmol/L: my choice, as a blood-gas analyser reports them).
fn steps_per_unit(kind: SensorKind) -> f64 {
    match kind {
        SensorKind::Ph => 1000.0,
        SensorKind::Concentration | SensorKind::Haemoglobin => 100.0,
        _ => 10.0,
    }
}
/// How long a spike lasts, s (my choice: a short glitch, ten frames at 100 Hz).
pub(crate) const SPIKE_S: f64 = 0.1;

/// Rounds to the reading's resolution, half away from zero. A truncating integer conversion
/// instead of `f64::round`, which is a library call on baseline x86-64; values too large for it,
/// infinities and NaN pass unchanged.
#[inline]
fn quantise(v: f64, steps_per_unit: f64) -> f64 {
    let steps = v * steps_per_unit;
    if steps.abs() < 1e15 {
        (steps + 0.5f64.copysign(steps)) as i64 as f64 / steps_per_unit
    } else {
        v
    }
}

param_set! {
    /// Probe properties shared by every model.
    pub(crate) struct SensorParams {
        /// pressure noise (standard deviation) in mmHg
        pressure_noise_mmhg: [0.0, 50.0],
        /// flow noise (standard deviation) in mL/min
        flow_noise_ml_min: [0.0, 500.0],
        /// temperature noise (standard deviation) in °C
        temperature_noise_c: [0.0, 5.0],
        /// volume noise (standard deviation) in mL
        volume_noise_ml: [0.0, 100.0],
        /// time constant of temperature probes in s
        temperature_lag_s: [0.0, 600.0],
    }
}

/// Where each probe parameter's default comes from; `perfuse models` shows them.
pub(crate) const PARAM_SOURCES: &[(&str, &str)] = &[
    ("pressure_noise_mmhg", "my choice"),
    ("flow_noise_ml_min", "my choice"),
    ("temperature_noise_c", "my choice"),
    ("volume_noise_ml", "my choice"),
    ("temperature_lag_s", "my choice"),
];

impl Default for SensorParams {
    fn default() -> Self {
        SensorParams {
            // Brief's figures, my choice: typical transducer and ultrasonic flow-probe noise.
            pressure_noise_mmhg: 0.3,
            flow_noise_ml_min: 1.0,
            temperature_noise_c: 0.05,
            // My choice: a urine or reservoir scale.
            volume_noise_ml: 0.2,
            // My choice: a thermistor in a line.
            temperature_lag_s: 5.0,
        }
    }
}

impl SensorParams {
    /// Noise (standard deviation) of a kind's readings. The kinds without a parameter use my
    /// choices: a fraction of their usual clinical band, so that noise never decides a verdict.
    fn noise(&self, kind: SensorKind) -> f64 {
        match kind {
            SensorKind::Pressure => self.pressure_noise_mmhg,
            SensorKind::Flow => self.flow_noise_ml_min,
            SensorKind::Temperature => self.temperature_noise_c,
            SensorKind::Volume => self.volume_noise_ml,
            SensorKind::Bubble => 0.0,
            SensorKind::AirwayPressure => 0.2,
            SensorKind::PartialPressure => 2.0,
            SensorKind::Concentration => 0.02,
            SensorKind::Ph => 0.003,
            SensorKind::Percent => 0.1,
            SensorKind::Rate => 0.5,
            SensorKind::CountRate => 2.0,
            SensorKind::Activity => 2.0,
            SensorKind::Haemoglobin => 0.05,
            SensorKind::Duration => 5.0,
            SensorKind::Supply | SensorKind::Score => 0.0,
        }
    }
}

/// A stuck sensor first takes one more reading, then repeats it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stuck {
    No,
    Armed,
    Holding(f64),
}

/// One sensor: where it reads, its noise stream, its lag state and its faults.
#[derive(Debug, Clone)]
pub(crate) struct Channel {
    /// Index into the plant's outputs.
    pub point: usize,
    noise_sd: f64,
    steps_per_unit: f64,
    lagged: bool,
    filtered: f64,
    rng: NoiseStream,
    /// Set once any fault touches the channel, so healthy channels skip the fault checks.
    faulty: bool,
    stuck: Stuck,
    drift_from_s: f64,
    drift_per_s: f64,
    spike_until_s: f64,
    spike: f64,
    dropout_until_s: f64,
    lost: bool,
}

impl Channel {
    /// Channel `index` of the run seeded with `seed`, starting from the plant's true value.
    pub(crate) fn new(
        kind: SensorKind,
        point: usize,
        truth: f64,
        params: &SensorParams,
        seed: u64,
        index: usize,
    ) -> Self {
        Channel {
            point,
            noise_sd: params.noise(kind),
            steps_per_unit: steps_per_unit(kind),
            lagged: kind == SensorKind::Temperature,
            filtered: truth,
            rng: NoiseStream::new(seed, index as u64),
            faulty: false,
            stuck: Stuck::No,
            drift_from_s: f64::INFINITY,
            drift_per_s: 0.0,
            spike_until_s: f64::NEG_INFINITY,
            spike: 0.0,
            dropout_until_s: f64::NEG_INFINITY,
            lost: false,
        }
    }

    /// The reading at device time `t_s` of a plant whose true value is `truth`; `lag_keep` is
    /// the share of the previous filtered value that a lagged probe keeps this tick.
    #[inline]
    pub(crate) fn sample(&mut self, truth: f64, t_s: f64, lag_keep: f64) -> f64 {
        let noise = if self.noise_sd > 0.0 {
            self.noise_sd * self.rng.gaussian()
        } else {
            0.0
        };
        let seen = if self.lagged {
            // Snapping to the truth once the gap is negligible keeps the gap from decaying into
            // slow subnormal numbers.
            let gap = (self.filtered - truth) * lag_keep;
            self.filtered = if gap.abs() < 1e-12 {
                truth
            } else {
                truth + gap
            };
            self.filtered
        } else {
            truth
        };
        let mut v = seen + noise;
        if self.faulty {
            v += self.drift_per_s * (t_s - self.drift_from_s).max(0.0);
            if t_s < self.spike_until_s - TIME_RESOLUTION_S {
                v += self.spike;
            }
        }
        v = quantise(v, self.steps_per_unit);
        if self.faulty {
            match self.stuck {
                Stuck::No => {}
                Stuck::Armed => self.stuck = Stuck::Holding(v),
                Stuck::Holding(held) => v = held,
            }
            if self.lost || t_s < self.dropout_until_s - TIME_RESOLUTION_S {
                v = f64::NAN;
            }
        }
        v
    }

    /// From now on the channel repeats its next reading exactly.
    pub(crate) fn stick(&mut self) {
        self.faulty = true;
        self.stuck = Stuck::Armed;
    }

    /// From `from_s` the reading drifts by `per_min` units per minute.
    pub(crate) fn drift(&mut self, from_s: f64, per_min: f64) {
        self.faulty = true;
        self.drift_from_s = from_s;
        self.drift_per_s = per_min / 60.0;
    }

    /// From `from_s`, for [`SPIKE_S`], the reading jumps by `magnitude`.
    pub(crate) fn spike(&mut self, from_s: f64, magnitude: f64) {
        self.faulty = true;
        self.spike_until_s = from_s + SPIKE_S;
        self.spike = magnitude;
    }

    /// From `from_s`, for `duration_s`, the channel delivers nothing (NaN).
    pub(crate) fn drop_out(&mut self, from_s: f64, duration_s: f64) {
        self.faulty = true;
        self.dropout_until_s = from_s + duration_s;
    }

    /// From now on the channel delivers nothing (NaN).
    pub(crate) fn lose(&mut self) {
        self.faulty = true;
        self.lost = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet() -> SensorParams {
        SensorParams {
            pressure_noise_mmhg: 0.0,
            ..SensorParams::default()
        }
    }

    #[test]
    fn readings_are_quantised_to_a_tenth() {
        let mut ch = Channel::new(SensorKind::Pressure, 0, 0.0, &quiet(), 1, 0);
        assert_eq!(ch.sample(27.34, 0.0, 0.0), 27.3);
        assert_eq!(ch.sample(27.36, 0.0, 0.0), 27.4);
        for v in [0.05, -0.05, 1.25, -1.25, -0.04, 123.456, -3.0e10] {
            assert_eq!(quantise(v, 10.0), (v * 10.0).round() / 10.0, "{v}");
        }
        assert!(quantise(f64::NAN, 10.0).is_nan());
        assert_eq!(quantise(f64::INFINITY, 10.0), f64::INFINITY);
        assert_eq!(quantise(1e300, 10.0), 1e300);
    }

    #[test]
    fn noise_has_the_configured_spread() {
        let mut ch = Channel::new(SensorKind::Pressure, 0, 0.0, &SensorParams::default(), 9, 0);
        let n = 20_000;
        let readings: Vec<f64> = (0..n).map(|_| ch.sample(30.0, 0.0, 0.0)).collect();
        let mean = readings.iter().sum::<f64>() / n as f64;
        let sd = (readings.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        assert!((mean - 30.0).abs() < 0.02, "mean {mean}");
        // Quantisation to 0.1 adds 0.1²/12 of variance.
        assert!(
            (sd - (0.09f64 + 0.01 / 12.0).sqrt()).abs() < 0.015,
            "sd {sd}"
        );
    }

    #[test]
    fn temperature_probe_lags_a_step() {
        let quiet_temp = SensorParams {
            temperature_noise_c: 0.0,
            ..SensorParams::default()
        };
        let mut ch = Channel::new(SensorKind::Temperature, 0, 20.0, &quiet_temp, 1, 0);
        // tau 5 s, 1-s steps: after 5 s the probe has covered 1 - 1/e of a 10 °C step.
        let keep = (-1.0f64 / 5.0).exp();
        let mut v = 0.0;
        for _ in 0..5 {
            v = ch.sample(30.0, 0.0, keep);
        }
        assert!(
            (v - (30.0 - 10.0 / std::f64::consts::E)).abs() < 0.051,
            "{v}"
        );
    }

    #[test]
    fn faults_shape_the_reading() {
        let mut ch = Channel::new(SensorKind::Pressure, 0, 0.0, &quiet(), 1, 0);
        ch.drift(10.0, 6.0);
        assert_eq!(ch.sample(30.0, 9.0, 0.0), 30.0);
        assert_eq!(ch.sample(30.0, 20.0, 0.0), 31.0);

        let mut ch = Channel::new(SensorKind::Pressure, 0, 0.0, &quiet(), 1, 0);
        ch.spike(5.0, 100.0);
        assert_eq!(ch.sample(30.0, 5.05, 0.0), 130.0);
        assert_eq!(ch.sample(30.0, 5.2, 0.0), 30.0);

        let mut ch = Channel::new(SensorKind::Pressure, 0, 0.0, &quiet(), 1, 0);
        ch.drop_out(5.0, 2.0);
        assert!(ch.sample(30.0, 6.0, 0.0).is_nan());
        assert_eq!(ch.sample(30.0, 7.5, 0.0), 30.0);

        let mut ch = Channel::new(SensorKind::Pressure, 0, 0.0, &quiet(), 1, 0);
        ch.stick();
        assert_eq!(ch.sample(30.0, 0.0, 0.0), 30.0);
        assert_eq!(ch.sample(45.0, 1.0, 0.0), 30.0);
        ch.lose();
        assert!(ch.sample(45.0, 2.0, 0.0).is_nan());
    }
}
