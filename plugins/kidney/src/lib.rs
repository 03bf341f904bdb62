//! Kidney machine perfusion: hypothermic (LifePort-like) and normothermic (Cambridge-like).
//!
//! What a RON file cannot express lives here:
//! - the renal resistance index RI = mean pressure / flow (docs/clinical-basis.md §4A);
//! - the EXAM-style quality indicators of a hypothermic run: RI at 2 and 30 min, mean flow and
//!   mean RI after the first 30 min, minutes perfused (flow > 5 mL/min), minutes with the
//!   perfusate above 10 °C;
//! - for normothermic assessment (§4B): renal blood flow per 100 g, urine volume during the
//!   assessment phase, and the two measurable points of the EVNP quality score (1 point if RBF
//!   < 50 mL/min/100 g, 1 point if urine < 43 mL in the hour), the macroscopic grade the
//!   operator enters (1 to 3, the last one entered), and their total, the EVNP score (1 to 5).
//!
//! The normothermic warm-up ends by the protocol file's `exit_when`, judged by the core.
//!
//! Signals it reads, by id: `mean_pressure` (mmHg), `mean_flow` (mL/min), `perfusate_temp`
//! (°C), and optionally `urine_volume` (mL) and the operator-site `macroscopic_grade`.

use perfuse_plugin_sdk::{
    CreateContext, ParamSpec, Protocol, StepInput, StepOutput, derived_values, export_plugin, state,
};

/// Flow above which the kidney counts as perfused (EXAM, §4A).
const PERFUSED_FLOW_ML_MIN: f64 = 5.0;
/// EXAM's perfusate temperature threshold (§4A).
const WARM_PERFUSATE_C: f64 = 10.0;
/// EXAM computes mean flow and RI after the first 30 min (§4A).
const EXAM_START_S: f64 = 30.0 * 60.0;
/// EVNP score thresholds (§4B).
const EVNP_RBF_ML_MIN_100G: f64 = 50.0;
const EVNP_URINE_ML: f64 = 43.0;

pub struct Kidney {
    mean_pressure: usize,
    mean_flow: usize,
    perfusate_temp: usize,
    urine_volume: Option<usize>,
    macroscopic_grade: Option<usize>,
    mass_g: f64,
    /// Phase whose entry starts the urine count and whose time the EVNP score covers (NMP).
    assessment_phase: Option<u32>,
    period_s: f64,

    ri_at_2min: f64,
    ri_at_30min: f64,
    exam_flow_sum: f64,
    exam_ri_sum: f64,
    exam_ticks: u64,
    perfused_ticks: u64,
    warm_perfusate_ticks: u64,
    urine_at_assessment_start: f64,
    urine_in_assessment: f64,
    assessment_flow_sum: f64,
    assessment_ticks: u64,
    /// The last macroscopic grade entered: it stands after its entry goes stale.
    grade: f64,
}

/// The parameters the plugin takes.
const PARAMS: &[ParamSpec<'static>] = &[
    // An adult kidney weighs about 150 g (§10.2); the range takes paediatric to large grafts.
    ParamSpec::required("kidney_mass_g", "g", 20.0, 1000.0),
];

derived_values! {
    /// What the plugin reports each tick.
    pub struct Derived {
        /// Mean pressure over mean flow, mmHg·min/mL (NaN at 5 mL/min or less).
        resistance_index,
        /// RI 2 min into the run (EXAM).
        ri_at_2min,
        /// RI 30 min into the run (EXAM).
        ri_at_30min,
        /// Mean flow after the first 30 min, mL/min (EXAM).
        mean_flow_after_30min_ml_min,
        /// Mean RI after the first 30 min (EXAM).
        mean_ri_after_30min,
        /// Minutes with flow above 5 mL/min (EXAM).
        perfused_min,
        /// Minutes with the perfusate above 10 °C (EXAM).
        perfusate_above_10c_min,
        /// Renal blood flow per 100 g, mL/min/100 g.
        flow_per_100g_ml_min,
        /// Mean renal blood flow per 100 g during the assessment phase (NMP).
        assessment_flow_per_100g_ml_min,
        /// Urine produced during the assessment phase, mL (NMP).
        urine_ml,
        /// EVNP point for RBF below 50 mL/min/100 g (NMP).
        evnp_points_rbf,
        /// EVNP point for urine below 43 mL (NMP).
        evnp_points_urine,
        /// The macroscopic grade the operator entered last, 1 to 3 (NMP).
        evnp_macroscopic_grade,
        /// The EVNP score: grade plus the RBF and urine points, 1 to 5 (NaN without a grade).
        evnp_score,
    }
}

impl Protocol for Kidney {
    const ID: &'static str = "kidney";
    const VERSION: &'static str = "0.1.1";
    const DERIVED: &'static [&'static str] = Derived::NAMES;
    const PARAMS: &'static [ParamSpec<'static>] = PARAMS;

    fn create(ctx: &CreateContext<'_>) -> Result<Self, String> {
        Ok(Kidney {
            mean_pressure: ctx.signal("mean_pressure")?,
            mean_flow: ctx.signal("mean_flow")?,
            perfusate_temp: ctx.signal("perfusate_temp")?,
            urine_volume: ctx.signal("urine_volume").ok(),
            macroscopic_grade: ctx.signal("macroscopic_grade").ok(),
            mass_g: ctx.params.value("kidney_mass_g")?,
            assessment_phase: ctx.phase("assessment").ok().map(|i| i as u32),
            period_s: ctx.period_s,
            ri_at_2min: f64::NAN,
            ri_at_30min: f64::NAN,
            exam_flow_sum: 0.0,
            exam_ri_sum: 0.0,
            exam_ticks: 0,
            perfused_ticks: 0,
            warm_perfusate_ticks: 0,
            urine_at_assessment_start: f64::NAN,
            urine_in_assessment: f64::NAN,
            assessment_flow_sum: 0.0,
            assessment_ticks: 0,
            grade: f64::NAN,
        })
    }

    fn step(&mut self, input: &StepInput, out: &mut StepOutput) {
        let pressure = input.valid(self.mean_pressure);
        let flow = input.valid(self.mean_flow);
        let temp = input.valid(self.perfusate_temp);
        let ri = match (pressure, flow) {
            (Some(p), Some(q)) if q > PERFUSED_FLOW_ML_MIN => p / q,
            _ => f64::NAN,
        };
        let t = input.t_s;
        let crossed = |mark: f64| t >= mark && t - self.period_s < mark;
        if crossed(120.0) {
            self.ri_at_2min = ri;
        }
        if crossed(EXAM_START_S) {
            self.ri_at_30min = ri;
        }
        if let Some(q) = flow {
            if q > PERFUSED_FLOW_ML_MIN {
                self.perfused_ticks += 1;
            }
            if t >= EXAM_START_S && ri.is_finite() {
                self.exam_flow_sum += q;
                self.exam_ri_sum += ri;
                self.exam_ticks += 1;
            }
        }
        if temp.is_some_and(|c| c > WARM_PERFUSATE_C) {
            self.warm_perfusate_ticks += 1;
        }

        let in_assessment = self.assessment_phase == Some(input.phase);
        if in_assessment {
            if let Some(q) = flow {
                self.assessment_flow_sum += q;
                self.assessment_ticks += 1;
            }
            if let Some(u) = self.urine_volume.and_then(|i| input.valid(i)) {
                if self.urine_at_assessment_start.is_nan() {
                    self.urine_at_assessment_start = u;
                }
                self.urine_in_assessment = u - self.urine_at_assessment_start;
            }
        }

        let per_100g = |q: f64| q / self.mass_g * 100.0;
        let minutes = |ticks: u64| ticks as f64 * self.period_s / 60.0;
        let mean = |sum: f64, n: u64| if n > 0 { sum / n as f64 } else { f64::NAN };
        let assessment_rbf = per_100g(mean(self.assessment_flow_sum, self.assessment_ticks));
        let point = |v: f64, below: f64| {
            if v.is_nan() {
                f64::NAN
            } else {
                f64::from(u8::from(v < below))
            }
        };
        if let Some(g) = self.macroscopic_grade.and_then(|i| input.valid(i)) {
            self.grade = g;
        }
        let points_rbf = point(assessment_rbf, EVNP_RBF_ML_MIN_100G);
        let points_urine = point(self.urine_in_assessment, EVNP_URINE_ML);
        Derived {
            resistance_index: ri,
            ri_at_2min: self.ri_at_2min,
            ri_at_30min: self.ri_at_30min,
            mean_flow_after_30min_ml_min: mean(self.exam_flow_sum, self.exam_ticks),
            mean_ri_after_30min: mean(self.exam_ri_sum, self.exam_ticks),
            perfused_min: minutes(self.perfused_ticks),
            perfusate_above_10c_min: minutes(self.warm_perfusate_ticks),
            flow_per_100g_ml_min: flow.map_or(f64::NAN, per_100g),
            assessment_flow_per_100g_ml_min: assessment_rbf,
            urine_ml: self.urine_in_assessment,
            evnp_points_rbf: points_rbf,
            evnp_points_urine: points_urine,
            evnp_macroscopic_grade: self.grade,
            evnp_score: evnp_score(self.grade, points_rbf, points_urine),
        }
        .write(out);
    }

    fn save(&self, out: &mut state::Writer) {
        out.put(&self.ri_at_2min)
            .put(&self.ri_at_30min)
            .put(&self.exam_flow_sum)
            .put(&self.exam_ri_sum)
            .put(&self.exam_ticks)
            .put(&self.perfused_ticks)
            .put(&self.warm_perfusate_ticks)
            .put(&self.urine_at_assessment_start)
            .put(&self.urine_in_assessment)
            .put(&self.assessment_flow_sum)
            .put(&self.assessment_ticks)
            .put(&self.grade);
    }

    fn restore(&mut self, input: &mut state::Reader<'_>) -> Result<(), String> {
        input.read(&mut self.ri_at_2min)?;
        input.read(&mut self.ri_at_30min)?;
        input.read(&mut self.exam_flow_sum)?;
        input.read(&mut self.exam_ri_sum)?;
        input.read(&mut self.exam_ticks)?;
        input.read(&mut self.perfused_ticks)?;
        input.read(&mut self.warm_perfusate_ticks)?;
        input.read(&mut self.urine_at_assessment_start)?;
        input.read(&mut self.urine_in_assessment)?;
        input.read(&mut self.assessment_flow_sum)?;
        input.read(&mut self.assessment_ticks)?;
        input.read(&mut self.grade)
    }
}

/// The EVNP quality score (§4B [S2]): the macroscopic grade (1 uniformly pink, 2 patchy, 3
/// mottled) plus a point for low RBF and one for low urine, 1 (least injury) to 5; NaN until all
/// three are known.
fn evnp_score(grade: f64, points_rbf: f64, points_urine: f64) -> f64 {
    grade + points_rbf + points_urine
}

export_plugin!(Kidney);
