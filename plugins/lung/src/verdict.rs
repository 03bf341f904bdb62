//! The Toronto-style verdict (§2A): a lung is suitable when its P/F ratio at the latest
//! assessment reaches the threshold and none of PVR, dynamic compliance, static compliance or
//! peak airway pressure has worsened by the deterioration fraction, either since the previous
//! assessment or since the first one of the run (a lung whose PVR creeps up by 10 % an hour is
//! 46 % worse after four hours without ever failing a step). A deterioration, once seen, stays a
//! reason: a lung that got worse and then held still is not stable.

use perfuse_plugin_sdk::state::{self, Field};

/// What one assessment measured.
#[derive(Debug, Clone, Copy)]
pub struct Measures {
    pub pf_mmhg: f64,
    pub pvr_dyn_s_cm5: f64,
    pub dynamic_compliance_ml_cmh2o: f64,
    pub static_compliance_ml_cmh2o: f64,
    pub peak_pressure_cmh2o: f64,
}

impl Measures {
    fn all_finite(&self) -> bool {
        [
            self.pf_mmhg,
            self.pvr_dyn_s_cm5,
            self.dynamic_compliance_ml_cmh2o,
            self.static_compliance_ml_cmh2o,
            self.peak_pressure_cmh2o,
        ]
        .iter()
        .all(|v| v.is_finite())
    }
}

/// The reasons against the lung after the latest assessment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reasons {
    pub pf_below_threshold: bool,
    pub pvr_worse: bool,
    pub dynamic_compliance_worse: bool,
    pub static_compliance_worse: bool,
    pub peak_pressure_worse: bool,
}

impl Reasons {
    pub fn suitable(&self) -> bool {
        !(self.pf_below_threshold
            || self.pvr_worse
            || self.dynamic_compliance_worse
            || self.static_compliance_worse
            || self.peak_pressure_worse)
    }
}

/// The verdict as it builds up over the run's assessments.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    pf_threshold_mmhg: f64,
    deterioration: f64,
    previous: Option<Measures>,
    /// The first complete assessment, the lung's baseline.
    first: Option<Measures>,
    pub reasons: Reasons,
    /// Whether the latest assessment had every measure (a failed sensor leaves it open).
    pub complete: bool,
    pub count: u32,
}

impl Verdict {
    pub fn new(pf_threshold_mmhg: f64, deterioration: f64) -> Self {
        Verdict {
            pf_threshold_mmhg,
            deterioration,
            previous: None,
            first: None,
            reasons: Reasons::default(),
            complete: false,
            count: 0,
        }
    }

    /// Takes one assessment into the verdict.
    pub fn assess(&mut self, now: Measures) {
        self.count += 1;
        self.complete = now.all_finite();
        let r = &mut self.reasons;
        r.pf_below_threshold = now.pf_mmhg < self.pf_threshold_mmhg;
        if self.complete {
            let up = 1.0 + self.deterioration;
            let down = 1.0 - self.deterioration;
            for before in [self.previous, self.first].into_iter().flatten() {
                r.pvr_worse |= now.pvr_dyn_s_cm5 >= before.pvr_dyn_s_cm5 * up;
                r.dynamic_compliance_worse |=
                    now.dynamic_compliance_ml_cmh2o <= before.dynamic_compliance_ml_cmh2o * down;
                r.static_compliance_worse |=
                    now.static_compliance_ml_cmh2o <= before.static_compliance_ml_cmh2o * down;
                r.peak_pressure_worse |= now.peak_pressure_cmh2o >= before.peak_pressure_cmh2o * up;
            }
            self.previous = Some(now);
            self.first.get_or_insert(now);
        }
    }

    /// Writes the assessments' history (not the thresholds, which come from the parameters).
    pub fn save(&self, out: &mut state::Writer) {
        let r = &self.reasons;
        out.put(&self.previous)
            .put(&r.pf_below_threshold)
            .put(&r.pvr_worse)
            .put(&r.dynamic_compliance_worse)
            .put(&r.static_compliance_worse)
            .put(&r.peak_pressure_worse)
            .put(&self.complete)
            .put(&self.count)
            .put(&self.first);
    }

    pub fn restore(&mut self, input: &mut state::Reader<'_>) -> Result<(), String> {
        input.read(&mut self.previous)?;
        let r = &mut self.reasons;
        input.read(&mut r.pf_below_threshold)?;
        input.read(&mut r.pvr_worse)?;
        input.read(&mut r.dynamic_compliance_worse)?;
        input.read(&mut r.static_compliance_worse)?;
        input.read(&mut r.peak_pressure_worse)?;
        input.read(&mut self.complete)?;
        input.read(&mut self.count)?;
        input.read(&mut self.first)
    }
}

impl Field for Measures {
    fn put(&self, w: &mut state::Writer) {
        w.put(&[
            self.pf_mmhg,
            self.pvr_dyn_s_cm5,
            self.dynamic_compliance_ml_cmh2o,
            self.static_compliance_ml_cmh2o,
            self.peak_pressure_cmh2o,
        ]);
    }

    fn get(r: &mut state::Reader<'_>) -> Result<Self, String> {
        let [pf, pvr, cdyn, cstat, peak] = r.get::<[f64; 5]>()?;
        Ok(Measures {
            pf_mmhg: pf,
            pvr_dyn_s_cm5: pvr,
            dynamic_compliance_ml_cmh2o: cdyn,
            static_compliance_ml_cmh2o: cstat,
            peak_pressure_cmh2o: peak,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pf: f64, pvr: f64, cdyn: f64, cstat: f64, peak: f64) -> Measures {
        Measures {
            pf_mmhg: pf,
            pvr_dyn_s_cm5: pvr,
            dynamic_compliance_ml_cmh2o: cdyn,
            static_compliance_ml_cmh2o: cstat,
            peak_pressure_cmh2o: peak,
        }
    }

    #[test]
    fn a_stable_lung_above_400_is_suitable() {
        let mut v = Verdict::new(400.0, 0.15);
        v.assess(m(500.0, 120.0, 60.0, 90.0, 13.0));
        v.assess(m(510.0, 125.0, 58.0, 88.0, 13.5));
        assert!(v.reasons.suitable() && v.complete && v.count == 2);
    }

    #[test]
    fn each_reason_is_found_and_deterioration_stays() {
        let mut v = Verdict::new(400.0, 0.15);
        v.assess(m(450.0, 120.0, 60.0, 90.0, 13.0));
        v.assess(m(390.0, 140.0, 50.0, 76.0, 15.0));
        assert_eq!(
            v.reasons,
            Reasons {
                pf_below_threshold: true,
                pvr_worse: true,
                dynamic_compliance_worse: true,
                static_compliance_worse: true,
                peak_pressure_worse: true,
            }
        );
        // Better oxygenation later clears the P/F reason, not the deterioration.
        v.assess(m(420.0, 140.0, 50.0, 76.0, 15.0));
        assert!(!v.reasons.pf_below_threshold && v.reasons.pvr_worse);
        assert!(!v.reasons.suitable());
    }

    #[test]
    fn a_slow_deterioration_is_measured_against_the_first_assessment() {
        // PVR +10 % per assessment: no step reaches 15 %, but the fourth is 33 % above the first
        // (a 12-h lung whose PVR rose 48 % stayed "suitable" when only steps were compared).
        let mut v = Verdict::new(400.0, 0.15);
        v.assess(m(500.0, 120.0, 60.0, 90.0, 13.0));
        v.assess(m(500.0, 132.0, 60.0, 90.0, 13.0));
        assert!(v.reasons.suitable());
        v.assess(m(500.0, 145.2, 60.0, 90.0, 13.0));
        assert!(v.reasons.pvr_worse && !v.reasons.suitable());
        assert!(!v.reasons.dynamic_compliance_worse && !v.reasons.peak_pressure_worse);
    }

    #[test]
    fn an_incomplete_assessment_is_not_compared() {
        let mut v = Verdict::new(400.0, 0.15);
        v.assess(m(450.0, 120.0, 60.0, 90.0, 13.0));
        v.assess(m(450.0, f64::NAN, 60.0, 90.0, 13.0));
        assert!(!v.complete);
        v.assess(m(450.0, 130.0, 60.0, 90.0, 13.0));
        assert!(v.complete && v.reasons.suitable());
    }
}
