//! Lactate samples and the metabolic verdict of §1A: a heart is judged viable when its arterial
//! lactate is at most 5 mmol/L at the end and has not risen over consecutive samples
//! (PROCEED lactate analysis [S1]; "rising over 2 consecutive samples" is the warning).

use perfuse_plugin_sdk::state;

/// Consecutive rising samples that make the trend "rising" (§1A [S1]).
const RISES_FOR_REJECTION: u32 = 2;

/// The samples taken so far and what they show.
#[derive(Debug, Clone, Copy)]
pub struct LactateTrend {
    /// A change smaller than this between samples is not a rise (analyser precision), mmol/L.
    rise_threshold: f64,
    /// End lactate above which a heart is rejected, mmol/L.
    limit: f64,
    last_t_s: f64,
    pub arterial: f64,
    pub venous: f64,
    pub arterial_per_h: f64,
    pub venous_per_h: f64,
    pub rises_in_a_row: u32,
    pub samples: u32,
}

impl LactateTrend {
    pub fn new(rise_threshold: f64, limit: f64) -> Self {
        LactateTrend {
            rise_threshold,
            limit,
            last_t_s: f64::NAN,
            arterial: f64::NAN,
            venous: f64::NAN,
            arterial_per_h: f64::NAN,
            venous_per_h: f64::NAN,
            rises_in_a_row: 0,
            samples: 0,
        }
    }

    /// Records the arterial and venous lactate sampled at `t_s` (NaN where the analyser gave
    /// nothing valid); a sample without an arterial value leaves the trend as it was.
    pub fn sample(&mut self, t_s: f64, arterial: f64, venous: f64) {
        if arterial.is_nan() {
            return;
        }
        if self.samples > 0 {
            let hours = (t_s - self.last_t_s) / 3600.0;
            let rise = arterial - self.arterial;
            self.arterial_per_h = rise / hours;
            self.venous_per_h = (venous - self.venous) / hours;
            if rise >= self.rise_threshold {
                self.rises_in_a_row += 1;
            } else {
                self.rises_in_a_row = 0;
            }
        }
        self.last_t_s = t_s;
        self.arterial = arterial;
        self.venous = venous;
        self.samples += 1;
    }

    /// 1 viable (latest lactate within the limit, not rising over consecutive samples), 0 not;
    /// NaN until a trend exists (two samples).
    pub fn verdict(&self) -> f64 {
        if self.samples < 2 {
            return f64::NAN;
        }
        let rising = self.rises_in_a_row >= RISES_FOR_REJECTION;
        f64::from(u8::from(self.arterial <= self.limit && !rising))
    }

    /// Writes the samples' history (not the thresholds, which come from the parameters).
    pub fn save(&self, out: &mut state::Writer) {
        out.put(&self.last_t_s)
            .put(&self.arterial)
            .put(&self.venous)
            .put(&self.arterial_per_h)
            .put(&self.venous_per_h)
            .put(&self.rises_in_a_row)
            .put(&self.samples);
    }

    pub fn restore(&mut self, input: &mut state::Reader<'_>) -> Result<(), String> {
        input.read(&mut self.last_t_s)?;
        input.read(&mut self.arterial)?;
        input.read(&mut self.venous)?;
        input.read(&mut self.arterial_per_h)?;
        input.read(&mut self.venous_per_h)?;
        input.read(&mut self.rises_in_a_row)?;
        input.read(&mut self.samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trend(values: &[f64]) -> LactateTrend {
        let mut t = LactateTrend::new(0.1, 5.0);
        for (i, v) in values.iter().enumerate() {
            t.sample(i as f64 * 3600.0, *v, v - 0.05);
        }
        t
    }

    #[test]
    fn flat_lactate_is_viable() {
        let t = trend(&[2.2, 2.25, 2.18, 2.21]);
        assert_eq!(t.verdict(), 1.0);
        assert_eq!(t.rises_in_a_row, 0);
        assert!((t.arterial_per_h - 0.03).abs() < 1e-9);
    }

    #[test]
    fn two_rises_in_a_row_reject_even_below_the_limit() {
        assert_eq!(trend(&[2.2, 2.7, 3.2]).verdict(), 0.0);
        // One rise, then flat: not rising over consecutive samples.
        assert_eq!(trend(&[2.2, 2.7, 2.7]).verdict(), 1.0);
    }

    #[test]
    fn lactate_above_the_limit_at_the_end_rejects() {
        assert_eq!(trend(&[5.4, 5.3, 5.3]).verdict(), 0.0);
    }

    #[test]
    fn no_verdict_before_a_trend_and_missing_samples_are_skipped() {
        let mut t = trend(&[2.2]);
        assert!(t.verdict().is_nan());
        t.sample(3600.0, f64::NAN, f64::NAN);
        assert_eq!(t.samples, 1);
    }
}
