//! The sourced viability criteria of normothermic liver perfusion (docs/clinical-basis.md §3A) as
//! 0/1 reasons and a verdict. Until its evaluation time a set shows what the verdict would be
//! now; at that time it is frozen and recorded as an assessment.

/// VITTAL (Birmingham, §3A [S2]): lactate ≤ 2.5 mmol/L within 4 h plus ≥ 2 of bile production,
/// glucose metabolism, HA ≥ 150 and PV ≥ 500 mL/min, pH ≥ 7.30, homogeneous perfusion (the
/// operator's look, entered as 1 or 0).
pub const VITTAL_LACTATE_MMOL_L: f64 = 2.5;
pub const VITTAL_HA_FLOW_ML_MIN: f64 = 150.0;
pub const VITTAL_PV_FLOW_ML_MIN: f64 = 500.0;
pub const VITTAL_PH: f64 = 7.30;
/// "Bile production": more than 2 mL in the last hour (Cleveland's > 2 mL/h, §3A [S3]).
pub const BILE_PRODUCTION_ML_H: f64 = 2.0;
/// "Glucose metabolism": glucose fallen by ≥ 2 mmol/L from its peak, i.e. the liver takes glucose
/// up (my proposal [P]; VITTAL names the criterion without a number in §3A).
pub const GLUCOSE_FALL_MMOL_L: f64 = 2.0;

/// Groningen (§3A [S3], at 2.5 h): lactate < 1.7 mmol/L, pH 7.35–7.45, bile > 10 mL with ≥ 4 mL
/// in the last hour, bile pH > 7.45 and bile − perfusate ΔpH > 0.10, and the bile chemistry the
/// operator enters: bile − perfusate bicarbonate > 5 mmol/L and glucose < −5 mmol/L.
pub const GRONINGEN_LACTATE_MMOL_L: f64 = 1.7;
pub const GRONINGEN_PH: (f64, f64) = (7.35, 7.45);
pub const GRONINGEN_BILE_ML: f64 = 10.0;
pub const GRONINGEN_BILE_LAST_HOUR_ML: f64 = 4.0;
pub const GRONINGEN_BILE_PH: f64 = 7.45;
pub const GRONINGEN_BILE_DPH: f64 = 0.10;
pub const GRONINGEN_BILE_DHCO3_MMOL_L: f64 = 5.0;
pub const GRONINGEN_BILE_DGLUCOSE_MMOL_L: f64 = -5.0;

/// What the criteria are judged on, at one tick. NaN where not measured (yet).
#[derive(Debug, Clone, Copy)]
pub struct Evidence {
    pub lactate: f64,
    pub lowest_lactate: f64,
    pub ph: f64,
    pub bile_ml: f64,
    pub bile_last_hour_ml: f64,
    pub bile_ph: f64,
    pub glucose: f64,
    pub peak_glucose: f64,
    /// Slow means of the inflows, mL/min.
    pub ha_flow: f64,
    pub pv_flow: f64,
    /// Entered by the operator: sampled bile and perfusate bicarbonate and bile glucose, mmol/L.
    pub bile_bicarbonate: f64,
    pub perfusate_bicarbonate: f64,
    pub bile_glucose: f64,
    /// Entered by the operator: 1 the liver perfuses homogeneously, 0 it does not.
    pub homogeneous: f64,
}

/// 1 or 0 for a test on measured values; NaN when any is missing.
fn flag(inputs: &[f64], test: bool) -> f64 {
    if inputs.iter().any(|v| v.is_nan()) {
        f64::NAN
    } else {
        f64::from(u8::from(test))
    }
}

/// VITTAL reasons and verdict: `[lactate, bile, glucose, flows, ph, homogeneous, viable]`.
pub fn vittal(e: &Evidence) -> [f64; 7] {
    let lactate = flag(
        &[e.lowest_lactate],
        e.lowest_lactate <= VITTAL_LACTATE_MMOL_L,
    );
    let bile = flag(
        &[e.bile_last_hour_ml],
        e.bile_last_hour_ml > BILE_PRODUCTION_ML_H,
    );
    let glucose = flag(
        &[e.glucose, e.peak_glucose],
        e.peak_glucose - e.glucose >= GLUCOSE_FALL_MMOL_L,
    );
    let flows = flag(
        &[e.ha_flow, e.pv_flow],
        e.ha_flow >= VITTAL_HA_FLOW_ML_MIN && e.pv_flow >= VITTAL_PV_FLOW_ML_MIN,
    );
    let ph = flag(&[e.ph], e.ph >= VITTAL_PH);
    let homogeneous = homogeneous_perfusion(e);
    // Unmeasured secondary criteria count as not met.
    let secondary: f64 = [bile, glucose, flows, ph, homogeneous]
        .iter()
        .map(|v| if *v == 1.0 { 1.0 } else { 0.0 })
        .sum();
    let viable = flag(&[lactate], lactate == 1.0 && secondary >= 2.0);
    [lactate, bile, glucose, flows, ph, homogeneous, viable]
}

/// VITTAL's homogeneous perfusion, as the operator entered it (≥ 0.5 counts as yes).
fn homogeneous_perfusion(e: &Evidence) -> f64 {
    flag(&[e.homogeneous], e.homogeneous >= 0.5)
}

/// Groningen's bile chemistry (§3A [S3]): bile − perfusate bicarbonate > 5 mmol/L and bile −
/// perfusate glucose < −5 mmol/L; NaN until all three samples are entered.
fn bile_chemistry(e: &Evidence) -> f64 {
    flag(
        &[
            e.bile_bicarbonate,
            e.perfusate_bicarbonate,
            e.bile_glucose,
            e.glucose,
        ],
        e.bile_bicarbonate - e.perfusate_bicarbonate > GRONINGEN_BILE_DHCO3_MMOL_L
            && e.bile_glucose - e.glucose < GRONINGEN_BILE_DGLUCOSE_MMOL_L,
    )
}

/// Groningen reasons and verdict: `[lactate, ph, bile, bile_ph, bile_chemistry, viable]`. Not
/// viable once any measured reason fails; viable only when every reason is measured and met.
pub fn groningen(e: &Evidence) -> [f64; 6] {
    let lactate = flag(&[e.lactate], e.lactate < GRONINGEN_LACTATE_MMOL_L);
    let ph = flag(&[e.ph], e.ph >= GRONINGEN_PH.0 && e.ph <= GRONINGEN_PH.1);
    let bile = flag(
        &[e.bile_ml, e.bile_last_hour_ml],
        e.bile_ml > GRONINGEN_BILE_ML && e.bile_last_hour_ml >= GRONINGEN_BILE_LAST_HOUR_ML,
    );
    let bile_ph = flag(
        &[e.bile_ph, e.ph],
        e.bile_ph > GRONINGEN_BILE_PH && e.bile_ph - e.ph > GRONINGEN_BILE_DPH,
    );
    let chemistry = bile_chemistry(e);
    let all = [lactate, ph, bile, bile_ph, chemistry];
    let viable = if all.contains(&0.0) {
        0.0
    } else {
        flag(&all, true)
    };
    [lactate, ph, bile, bile_ph, chemistry, viable]
}

/// A criteria set evaluated continuously until `at_s`, then frozen.
#[derive(Debug, Clone, Copy)]
pub struct Verdict<const N: usize> {
    pub at_s: f64,
    pub values: [f64; N],
    pub frozen: bool,
}

impl<const N: usize> Verdict<N> {
    pub fn new(at_s: f64) -> Self {
        Verdict {
            at_s,
            values: [f64::NAN; N],
            frozen: false,
        }
    }

    /// Updates the values at `t_s` unless frozen; returns true at the tick that freezes them.
    pub fn update(&mut self, t_s: f64, values: [f64; N]) -> bool {
        if self.frozen {
            return false;
        }
        self.values = values;
        if t_s >= self.at_s {
            self.frozen = true;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Evidence {
        Evidence {
            lactate: 1.2,
            lowest_lactate: 1.2,
            ph: 7.40,
            bile_ml: 14.0,
            bile_last_hour_ml: 6.0,
            bile_ph: 7.55,
            glucose: 6.0,
            peak_glucose: 12.0,
            ha_flow: 280.0,
            pv_flow: 1000.0,
            bile_bicarbonate: 32.0,
            perfusate_bicarbonate: 24.0,
            bile_glucose: 0.5,
            homogeneous: 1.0,
        }
    }

    #[test]
    fn a_good_liver_meets_both_sets() {
        assert_eq!(vittal(&good()), [1.0; 7]);
        assert_eq!(groningen(&good()), [1.0; 6]);
    }

    #[test]
    fn vittal_needs_lactate_and_two_more() {
        let mut e = good();
        e.lowest_lactate = 3.0;
        assert_eq!(vittal(&e)[6], 0.0, "lactate is required");
        let mut e = good();
        e.bile_last_hour_ml = 0.5;
        e.glucose = e.peak_glucose;
        e.ha_flow = 100.0;
        e.homogeneous = f64::NAN;
        assert_eq!(vittal(&e)[..5], [1.0, 0.0, 0.0, 0.0, 1.0], "only pH left");
        assert!(vittal(&e)[5].is_nan(), "not looked at");
        assert_eq!(vittal(&e)[6], 0.0, "one secondary criterion is not enough");
        e.homogeneous = 1.0;
        assert_eq!(vittal(&e)[6], 1.0, "pH and homogeneous perfusion");
        e.homogeneous = 0.0;
        e.ph = 7.2;
        e.bile_last_hour_ml = 3.0;
        e.ha_flow = 200.0;
        assert_eq!(
            vittal(&e),
            [1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0],
            "bile and flows"
        );
    }

    #[test]
    fn groningen_scores_the_entered_bile_chemistry() {
        let mut e = good();
        e.bile_bicarbonate = 28.0; // Δ 4 mmol/L
        assert_eq!(groningen(&e)[4..], [0.0, 0.0]);
        let mut e = good();
        e.bile_glucose = 3.0; // Δ −3 mmol/L
        assert_eq!(groningen(&e)[4..], [0.0, 0.0]);
        let mut e = good();
        e.bile_glucose = f64::NAN;
        let g = groningen(&e);
        assert!(g[4].is_nan() && g[5].is_nan(), "not entered: not judged");
        e.lactate = 2.0;
        assert_eq!(groningen(&e)[5], 0.0, "a failed measured reason decides");
    }

    #[test]
    fn groningen_fails_on_any_reason_and_unmeasured_is_nan() {
        let mut e = good();
        e.bile_ph = 7.48; // ΔpH 0.08
        assert_eq!(groningen(&e), [1.0, 1.0, 1.0, 0.0, 1.0, 0.0]);
        e.bile_ph = 7.55;
        e.lactate = f64::NAN;
        let g = groningen(&e);
        assert!(g[0].is_nan() && g[5].is_nan());
    }

    #[test]
    fn a_verdict_freezes_at_its_time() {
        let mut v = Verdict::<1>::new(10.0);
        assert!(!v.update(5.0, [0.0]));
        assert!(v.update(10.0, [1.0]));
        assert!(!v.update(11.0, [0.0]));
        assert_eq!(v.values, [1.0]);
    }
}
