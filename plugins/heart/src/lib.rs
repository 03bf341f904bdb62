//! Heart machine perfusion: normothermic beating heart (OCS-like NESHP, docs/clinical-basis.md §1A)
//! and hypothermic oxygenated arrested heart (XVIVO-like HOPE, §1B).
//!
//! What a RON file cannot express lives here:
//! - the coronary vascular resistance CVR = mean aortic pressure / coronary flow, its baseline at
//!   the first sample and its rise from that baseline (§1A: ×2 warning, ×3 failing [S2]);
//! - O2 extraction and myocardial O2 use from the coronary-sinus saturation (§10.1);
//! - periodic samples of arterial and venous lactate (every `sample_interval_s` from
//!   `first_sample_s` into the `preservation` phase), their trends per hour, the count of
//!   consecutive rises, and the verdict of §1A (see [`lactate`]); each sample is recorded as a
//!   time-stamped assessment of every derived value.
//!
//! Signals it reads, by id: `mean_pressure` (mmHg), `mean_coronary_flow` (mL/min), and where the
//! protocol has them `arterial_lactate`, `venous_lactate` (mmol/L) and `venous_saturation` (%).

pub mod lactate;

use lactate::LactateTrend;
use perfuse_plugin_sdk::{
    CreateContext, ParamSpec, PhaseEvent, Protocol, StepInput, StepOutput, export_plugin, state,
};

/// Coronary flow below which no resistance is computed, mL/min (the heart is not perfused).
const PERFUSED_FLOW_ML_MIN: f64 = 5.0;
/// O2 bound per gram of haemoglobin and dissolved per mmHg, mL O2/dL (§10.1 [T]).
const O2_PER_G_HB: f64 = 1.34;
const O2_PER_MMHG: f64 = 0.0031;
/// The phase in which lactate is sampled and the hourly assessments are made.
const SAMPLED_PHASE: &str = "preservation";

pub struct Heart {
    mean_pressure: usize,
    mean_coronary_flow: usize,
    arterial_lactate: Option<usize>,
    venous_lactate: Option<usize>,
    venous_saturation: Option<usize>,
    sampled_phase: u32,
    mass_g: f64,
    hb_g_dl: f64,
    pao2_mmhg: f64,
    first_sample_s: f64,
    sample_interval_s: f64,
    period_s: f64,

    next_sample_s: f64,
    cvr_baseline: f64,
    cvr_sampled: f64,
    lactate: LactateTrend,
}

/// Signal `i`'s value, NaN where the protocol has no such signal or its reading is invalid.
fn value_or_nan(input: &StepInput, i: Option<usize>) -> f64 {
    i.and_then(|i| input.valid(i)).unwrap_or(f64::NAN)
}

/// The parameters the plugin takes.
const PARAMS: &[ParamSpec<'static>] = &[
    // An adult heart weighs about 300 g (§10.2); the range takes paediatric to large hearts.
    ParamSpec::required("heart_mass_g", "g", 50.0, 1000.0),
    ParamSpec::required("hb_g_dl", "g/dL", 0.0, 20.0),
    // Up to an oxygenator's pO2 at an FiO2 of 100 % at sea level.
    ParamSpec::required("pao2_mmhg", "mmHg", 0.0, 760.0),
    // Samples every hour (§1A: about every 1–2 h [T]) from the start of the phase.
    ParamSpec::with_default("first_sample_s", "s", 0.0, 86_400.0, 0.0),
    ParamSpec::with_default("sample_interval_s", "s", 60.0, 86_400.0, 3600.0),
    // A change below 0.1 mmol/L between samples is analyser noise, not a rise [P].
    ParamSpec::with_default("lactate_rise_mmol_l", "mmol/L", 0.0, 5.0, 0.1),
    // §1A [S1]: turned-down hearts ended at 5.3 ± 0.4; ≥ 5 mmol/L at the end is critical.
    ParamSpec::with_default("lactate_limit_mmol_l", "mmol/L", 0.0, 30.0, 5.0),
];

impl Protocol for Heart {
    const ID: &'static str = "heart";
    const VERSION: &'static str = "0.1.0";
    const DERIVED: &'static [&'static str] = &[
        "coronary_vascular_resistance",
        "cvr_baseline",
        "cvr_rise_ratio",
        "o2_extraction_pct",
        "mvo2_ml_min_100g",
        "arterial_lactate_mmol_l",
        "venous_lactate_mmol_l",
        "venous_minus_arterial_lactate",
        "arterial_lactate_trend_mmol_l_h",
        "venous_lactate_trend_mmol_l_h",
        "lactate_rises_in_a_row",
        "lactate_samples",
        "lactate_verdict_viable",
    ];

    const PARAMS: &'static [ParamSpec<'static>] = PARAMS;

    fn create(ctx: &CreateContext<'_>) -> Result<Self, String> {
        let p = &ctx.params;
        let first_sample_s = p.value("first_sample_s")?;
        Ok(Heart {
            mean_pressure: ctx.signal("mean_pressure")?,
            mean_coronary_flow: ctx.signal("mean_coronary_flow")?,
            arterial_lactate: ctx.signal("arterial_lactate").ok(),
            venous_lactate: ctx.signal("venous_lactate").ok(),
            venous_saturation: ctx.signal("venous_saturation").ok(),
            sampled_phase: ctx.phase(SAMPLED_PHASE)? as u32,
            mass_g: p.require("heart_mass_g")?,
            hb_g_dl: p.require("hb_g_dl")?,
            pao2_mmhg: p.require("pao2_mmhg")?,
            first_sample_s,
            sample_interval_s: p.value("sample_interval_s")?,
            period_s: ctx.period_s,
            next_sample_s: first_sample_s,
            cvr_baseline: f64::NAN,
            cvr_sampled: f64::NAN,
            lactate: LactateTrend::new(
                p.value("lactate_rise_mmol_l")?,
                p.value("lactate_limit_mmol_l")?,
            ),
        })
    }

    fn step(&mut self, input: &StepInput, out: &mut StepOutput) {
        let pressure = value_or_nan(input, Some(self.mean_pressure));
        let flow = value_or_nan(input, Some(self.mean_coronary_flow));
        let cvr = if flow > PERFUSED_FLOW_ML_MIN {
            pressure / flow
        } else {
            f64::NAN
        };
        // Arterial blood leaves the oxygenator saturated; the coronary sinus is taken to have
        // given up its dissolved O2 too (venous pO2 ~35 mmHg holds ~0.1 mL/dL, §10.1).
        let sat = value_or_nan(input, self.venous_saturation);
        let extraction_pct = 100.0 - sat;
        let used_ml_dl =
            O2_PER_G_HB * self.hb_g_dl * extraction_pct / 100.0 + O2_PER_MMHG * self.pao2_mmhg;
        let mvo2 = if sat < 100.0 {
            flow / 100.0 * used_ml_dl / self.mass_g * 100.0
        } else {
            f64::NAN
        };

        let in_phase = self.sampled_phase == input.phase;
        // The sample is due on the first tick at or past its time (half a tick of tolerance).
        if in_phase && input.phase_elapsed_s + 0.5 * self.period_s >= self.next_sample_s {
            self.next_sample_s += self.sample_interval_s;
            let arterial = value_or_nan(input, self.arterial_lactate);
            let venous = value_or_nan(input, self.venous_lactate);
            self.lactate.sample(input.t_s, arterial, venous);
            if self.cvr_baseline.is_nan() {
                self.cvr_baseline = cvr;
            }
            self.cvr_sampled = cvr;
            out.assessment = 1;
        }

        let l = &self.lactate;
        let d = &mut out.derived;
        d[0] = cvr;
        d[1] = self.cvr_baseline;
        d[2] = self.cvr_sampled / self.cvr_baseline;
        d[3] = extraction_pct;
        d[4] = mvo2;
        d[5] = l.arterial;
        d[6] = l.venous;
        d[7] = l.venous - l.arterial;
        d[8] = l.arterial_per_h;
        d[9] = l.venous_per_h;
        if self.arterial_lactate.is_some() {
            d[10] = f64::from(l.rises_in_a_row);
            d[11] = f64::from(l.samples);
            d[12] = l.verdict();
        }
    }

    fn phase_event(&mut self, _event: &PhaseEvent) {
        // Sampling counts from the start of the sampled phase.
        self.next_sample_s = self.first_sample_s;
    }

    fn save(&self, out: &mut state::Writer) {
        out.put(&self.next_sample_s)
            .put(&self.cvr_baseline)
            .put(&self.cvr_sampled);
        self.lactate.save(out);
    }

    fn restore(&mut self, input: &mut state::Reader<'_>) -> Result<(), String> {
        input.read(&mut self.next_sample_s)?;
        input.read(&mut self.cvr_baseline)?;
        input.read(&mut self.cvr_sampled)?;
        self.lactate.restore(input)
    }
}

export_plugin!(Heart);

#[cfg(test)]
mod tests {
    use super::*;
    use perfuse_plugin_sdk::{MAX_ACTUATORS, MAX_SIGNALS, validity};

    // Signal indices of the test protocol.
    const P: usize = 0;
    const Q: usize = 1;
    const ART: usize = 2;
    const VEN: usize = 3;
    const SAT: usize = 4;
    const PRESERVATION: u32 = 1;

    fn heart() -> Heart {
        Heart {
            mean_pressure: P,
            mean_coronary_flow: Q,
            arterial_lactate: Some(ART),
            venous_lactate: Some(VEN),
            venous_saturation: Some(SAT),
            sampled_phase: PRESERVATION,
            mass_g: 300.0,
            hb_g_dl: 8.0,
            pao2_mmhg: 200.0,
            first_sample_s: 1800.0,
            sample_interval_s: 3600.0,
            period_s: 0.01,
            next_sample_s: 1800.0,
            cvr_baseline: f64::NAN,
            cvr_sampled: f64::NAN,
            lactate: LactateTrend::new(0.1, 5.0),
        }
    }

    fn input(tick: u64, phase: u32, phase_start_s: f64, lactate: f64) -> StepInput {
        let mut values = [0.0; MAX_SIGNALS];
        values[P] = 75.0;
        values[Q] = 750.0;
        values[ART] = lactate;
        values[VEN] = lactate - 0.1;
        values[SAT] = 80.0;
        let t_s = tick as f64 * 0.01;
        StepInput {
            tick,
            t_s,
            phase,
            phase_elapsed_s: t_s - phase_start_s,
            n_signals: 5,
            values,
            validity: [validity::OK; MAX_SIGNALS],
            setpoints: [f64::NAN; MAX_SIGNALS],
            commands: [0.0; MAX_ACTUATORS],
            ..StepInput::default()
        }
    }

    #[test]
    fn resistance_and_oxygen_use_from_the_signals() {
        let mut h = heart();
        let mut out = StepOutput::default();
        h.step(&input(0, 0, 0.0, 2.2), &mut out);
        assert!((out.derived[0] - 0.1).abs() < 1e-12);
        assert_eq!(out.derived[3], 20.0);
        // 7.5 dL/min × (1.34 × 8 × 0.2 + 0.0031 × 200) mL/dL over 300 g, per 100 g.
        let expected = 7.5 * (1.34 * 8.0 * 0.2 + 0.62) / 3.0;
        assert!((out.derived[4] - expected).abs() < 1e-9);
        assert_eq!(out.assessment, 0, "no sample outside the sampled phase");
    }

    #[test]
    fn samples_are_taken_hourly_from_the_phase_start_and_recorded() {
        let mut h = heart();
        let start_s = 600.0;
        h.phase_event(&PhaseEvent {
            t_s: start_s,
            from: 0,
            to: PRESERVATION,
        });
        let mut sampled = Vec::new();
        for tick in 60_000..(600 + 3 * 3600 + 1) * 100 {
            let lactate = 2.2 + 0.5 * (tick as f64 * 0.01 - start_s) / 3600.0;
            let mut out = StepOutput::default();
            h.step(&input(tick, PRESERVATION, start_s, lactate), &mut out);
            if out.assessment != 0 {
                sampled.push((tick, out.derived[5], out.derived[12]));
            }
        }
        let ticks: Vec<u64> = sampled.iter().map(|s| s.0).collect();
        assert_eq!(ticks, [240_000, 600_000, 960_000]);
        assert!((h.lactate.arterial_per_h - 0.5).abs() < 1e-6);
        assert!(sampled[0].2.is_nan(), "no verdict from one sample");
        assert_eq!(sampled[1].2, 1.0, "one rise is not yet a rising trend");
        assert_eq!(sampled[2].2, 0.0, "two rises in a row");
    }
}
