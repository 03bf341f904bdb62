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
//!   operator enters (1 to 3, the last one entered), and their total, the EVNP score (1 to 5);
//! - the normothermic phase transition: warm-up ends once the perfusate has held the
//!   `warm_threshold_c` for `warm_hold_s`.
//!
//! Signals it reads, by id: `mean_pressure` (mmHg), `mean_flow` (mL/min), `perfusate_temp`
//! (°C), and optionally `urine_volume` (mL) and the operator-site `macroscopic_grade`.

use perfuse_plugin_sdk::{
    CreateContext, ParamSpec, Params, PhaseEvent, Protocol, StepInput, StepOutput, export_plugin,
    state, validity,
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
    /// Phase that ends once warm (NMP).
    warm_up_phase: Option<u32>,
    warm_threshold_c: f64,
    warm_hold_s: f64,
    period_s: f64,

    warm_since_s: Option<f64>,
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

impl Kidney {
    fn value(input: &StepInput, i: usize) -> Option<f64> {
        (input.validity[i] == validity::OK).then_some(input.values[i])
    }
}

/// The parameters the plugin takes.
const PARAMS: &[ParamSpec<'static>] = &[
    // An adult kidney weighs about 150 g (§10.2); the range takes paediatric to large grafts.
    ParamSpec::required("kidney_mass_g", "g", 20.0, 1000.0),
    // NMP: assessment starts once the perfusate has held this temperature for `warm_hold_s`.
    ParamSpec::with_default("warm_threshold_c", "°C", 20.0, 38.0, 35.5),
    ParamSpec::with_default("warm_hold_s", "s", 0.0, 3600.0, 60.0),
];

/// The file's value of a declared parameter, or its default.
fn param(params: &Params<'_>, name: &str) -> Result<f64, String> {
    perfuse_plugin_sdk::metadata::declared_value(PARAMS, params, name)
}

impl Protocol for Kidney {
    const ID: &'static str = "kidney";
    const VERSION: &'static str = "0.1.0";
    const DERIVED: &'static [&'static str] = &[
        "resistance_index",
        "ri_at_2min",
        "ri_at_30min",
        "mean_flow_after_30min_ml_min",
        "mean_ri_after_30min",
        "perfused_min",
        "perfusate_above_10c_min",
        "flow_per_100g_ml_min",
        "assessment_flow_per_100g_ml_min",
        "urine_ml",
        "evnp_points_rbf",
        "evnp_points_urine",
        "evnp_macroscopic_grade",
        "evnp_score",
    ];

    const PARAMS: &'static [ParamSpec<'static>] = PARAMS;

    fn validate(_params: Params<'_>) -> Result<(), String> {
        // Every parameter is checked against `PARAMS` before this is called.
        Ok(())
    }

    fn create(ctx: &CreateContext<'_>) -> Result<Self, String> {
        let p = &ctx.params;
        Ok(Kidney {
            mean_pressure: ctx.signal("mean_pressure")?,
            mean_flow: ctx.signal("mean_flow")?,
            perfusate_temp: ctx.signal("perfusate_temp")?,
            urine_volume: ctx.signal("urine_volume").ok(),
            macroscopic_grade: ctx.signal("macroscopic_grade").ok(),
            mass_g: param(p, "kidney_mass_g")?,
            assessment_phase: ctx.phase("assessment").ok().map(|i| i as u32),
            warm_up_phase: ctx.phase("warm_up").ok().map(|i| i as u32),
            warm_threshold_c: param(p, "warm_threshold_c")?,
            warm_hold_s: param(p, "warm_hold_s")?,
            period_s: ctx.period_s,
            warm_since_s: None,
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
        let pressure = Self::value(input, self.mean_pressure);
        let flow = Self::value(input, self.mean_flow);
        let temp = Self::value(input, self.perfusate_temp);
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
            if let Some(u) = self.urine_volume.and_then(|i| Self::value(input, i)) {
                if self.urine_at_assessment_start.is_nan() {
                    self.urine_at_assessment_start = u;
                }
                self.urine_in_assessment = u - self.urine_at_assessment_start;
            }
        }
        if self.warm_up_phase == Some(input.phase) {
            match temp {
                Some(c) if c >= self.warm_threshold_c => {
                    let since = *self.warm_since_s.get_or_insert(t);
                    if t - since >= self.warm_hold_s {
                        out.advance_phase = 1;
                    }
                }
                _ => self.warm_since_s = None,
            }
        }

        let per_100g = |q: f64| q / self.mass_g * 100.0;
        let minutes = |ticks: u64| ticks as f64 * self.period_s / 60.0;
        let mean = |sum: f64, n: u64| if n > 0 { sum / n as f64 } else { f64::NAN };
        let assessment_rbf = per_100g(mean(self.assessment_flow_sum, self.assessment_ticks));
        let d = &mut out.derived;
        d[0] = ri;
        d[1] = self.ri_at_2min;
        d[2] = self.ri_at_30min;
        d[3] = mean(self.exam_flow_sum, self.exam_ticks);
        d[4] = mean(self.exam_ri_sum, self.exam_ticks);
        d[5] = minutes(self.perfused_ticks);
        d[6] = minutes(self.warm_perfusate_ticks);
        d[7] = flow.map_or(f64::NAN, per_100g);
        d[8] = assessment_rbf;
        d[9] = self.urine_in_assessment;
        d[10] = if assessment_rbf.is_nan() {
            f64::NAN
        } else {
            f64::from(u8::from(assessment_rbf < EVNP_RBF_ML_MIN_100G))
        };
        d[11] = if self.urine_in_assessment.is_nan() {
            f64::NAN
        } else {
            f64::from(u8::from(self.urine_in_assessment < EVNP_URINE_ML))
        };
        if let Some(g) = self.macroscopic_grade.and_then(|i| Self::value(input, i)) {
            self.grade = g;
        }
        d[12] = self.grade;
        d[13] = evnp_score(self.grade, d[10], d[11]);
    }

    fn phase_event(&mut self, _event: &PhaseEvent) {
        self.warm_since_s = None;
    }

    fn save(&self, out: &mut state::Writer) {
        out.put(&self.warm_since_s)
            .put(&self.ri_at_2min)
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
        input.read(&mut self.warm_since_s)?;
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
