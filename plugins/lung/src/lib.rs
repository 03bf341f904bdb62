//! Ex vivo lung perfusion, Toronto-like (docs/clinical-basis.md §2A).
//!
//! What a RON file cannot express lives here:
//! - the target flow, 40 % of the cardiac output estimated from the donor's weight, requested as
//!   the setpoint of `pa_flow` in equal steps from `flow_start_fraction` to 100 % over
//!   `flow_rampup_s` (the core clamps each request into the phase's band);
//! - ventilation starts when the perfusate reaches `ventilation_start_c`: the plugin ends the
//!   `rewarm` phase and from then commands the ventilator (tidal volume per kg, rate, PEEP,
//!   FiO2); the `ventilated_rewarm` phase ends once the flow has reached its target;
//! - hourly assessments: FiO2 to the assessment value, `assessment_wait_s` later the derived
//!   values are recorded as a time-stamped assessment and FiO2 goes back;
//! - the derived values PVR = (PAP − LAP) × 80 / flow, dynamic and static compliance, peak airway
//!   pressure, P/F ratio, and the Toronto-style verdict with its reasons (see [`verdict`]).
//!
//! Signals it reads, by id: `pa_flow` (the pump loop's signal), `mean_flow`, `mean_pap`,
//! `mean_lap` (mL/min, mmHg), `perfusate_temp` (°C), `peak_airway_pressure`,
//! `end_expiratory_pressure`, `mean_plateau` (cmH2O), `expired_tidal_volume` (mL),
//! `la_po2` (mmHg), `fio2` (%). Actuators it commands: `vent_tidal_volume`, `vent_rate`,
//! `vent_peep`, `vent_fio2`. Phases: `rewarm`, `ventilated_rewarm`, then any.

mod settings;
pub mod verdict;

use perfuse_plugin_sdk::{
    CreateContext, ParamSpec, Params, Protocol, StepInput, StepOutput, export_plugin, state,
};

use settings::Settings;
use verdict::{Measures, Verdict};

/// Flow below which PVR is not computed, mL/min (my choice: 2.5 % of a 70-kg target).
const MIN_FLOW_FOR_PVR_ML_MIN: f64 = 50.0;
/// Driving pressure below which a compliance is not computed, cmH2O (my choice).
const MIN_DRIVING_CMH2O: f64 = 0.5;
/// FiO2 below which P/F is not computed, % (my choice: no breathable gas is below this).
const MIN_FIO2_PCT: f64 = 10.0;

/// Signal indices, resolved once.
struct Signals {
    pa_flow: usize,
    mean_flow: usize,
    mean_pap: usize,
    mean_lap: usize,
    perfusate_temp: usize,
    peak: usize,
    end_expiratory: usize,
    plateau: usize,
    expired_volume: usize,
    la_po2: usize,
    fio2: usize,
}

/// Actuator indices, resolved once.
struct Ventilator {
    tidal_volume: usize,
    rate: usize,
    peep: usize,
    fio2: usize,
}

pub struct Lung {
    s: Settings,
    sig: Signals,
    vent: Ventilator,
    rewarm_phase: u32,
    ventilated_phase: u32,

    ventilating: bool,
    ventilation_start_temp_c: f64,
    ventilation_start_s: f64,
    next_assessment_s: f64,
    verdict: Verdict,
}

/// Signal `i`'s value, NaN while its reading is invalid: the measures below are NaN then too.
fn value(input: &StepInput, i: usize) -> f64 {
    input.valid(i).unwrap_or(f64::NAN)
}

/// `num / den` where `den` exceeds `least`, NaN otherwise (NaN inputs give NaN).
fn ratio(num: f64, den: f64, least: f64) -> f64 {
    if den > least { num / den } else { f64::NAN }
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

impl Lung {
    /// The live measures, from the protocol's smoothed estimates.
    fn measures(&self, input: &StepInput) -> Measures {
        let g = &self.sig;
        let flow = value(input, g.mean_flow);
        let driving = value(input, g.mean_pap) - value(input, g.mean_lap);
        let peak = value(input, g.peak);
        let peep = value(input, g.end_expiratory);
        let volume = value(input, g.expired_volume);
        let (cdyn, cstat) = if self.ventilating {
            (
                ratio(volume, peak - peep, MIN_DRIVING_CMH2O),
                ratio(volume, value(input, g.plateau) - peep, MIN_DRIVING_CMH2O),
            )
        } else {
            (f64::NAN, f64::NAN)
        };
        let fio2 = value(input, g.fio2);
        Measures {
            pf_mmhg: ratio(value(input, g.la_po2), fio2 / 100.0, MIN_FIO2_PCT / 100.0),
            pvr_dyn_s_cm5: ratio(
                driving * 80.0,
                flow / 1000.0,
                MIN_FLOW_FOR_PVR_ML_MIN / 1000.0,
            ),
            dynamic_compliance_ml_cmh2o: cdyn,
            static_compliance_ml_cmh2o: cstat,
            peak_pressure_cmh2o: if self.ventilating { peak } else { f64::NAN },
        }
    }
}

impl Protocol for Lung {
    const ID: &'static str = "lung";
    const VERSION: &'static str = "0.1.0";
    const DERIVED: &'static [&'static str] = &[
        "target_flow_ml_min",
        "flow_request_ml_min",
        "pvr_dyn_s_cm5",
        "dynamic_compliance_ml_cmh2o",
        "static_compliance_ml_cmh2o",
        "peak_airway_pressure_cmh2o",
        "pf_ratio_mmhg",
        "ventilation_start_temp_c",
        "ventilation_start_min",
        "assessments",
        "reason_pf_below_400",
        "reason_pvr_worse",
        "reason_dynamic_compliance_worse",
        "reason_static_compliance_worse",
        "reason_peak_pressure_worse",
        "verdict_suitable",
    ];

    const PARAMS: &'static [ParamSpec<'static>] = &settings::PARAMS;

    fn validate(params: Params<'_>) -> Result<(), String> {
        Settings::read(&params).map(|_| ())
    }

    fn create(ctx: &CreateContext<'_>) -> Result<Self, String> {
        let s = Settings::read(&ctx.params)?;
        let rewarm_phase = ctx.phase("rewarm")? as u32;
        let ventilated_phase = ctx.phase("ventilated_rewarm")? as u32;
        if ventilated_phase != rewarm_phase + 1 {
            return Err("phase `ventilated_rewarm` must follow `rewarm`".into());
        }
        Ok(Lung {
            sig: Signals {
                pa_flow: ctx.signal("pa_flow")?,
                mean_flow: ctx.signal("mean_flow")?,
                mean_pap: ctx.signal("mean_pap")?,
                mean_lap: ctx.signal("mean_lap")?,
                perfusate_temp: ctx.signal("perfusate_temp")?,
                peak: ctx.signal("peak_airway_pressure")?,
                end_expiratory: ctx.signal("end_expiratory_pressure")?,
                plateau: ctx.signal("mean_plateau")?,
                expired_volume: ctx.signal("expired_tidal_volume")?,
                la_po2: ctx.signal("la_po2")?,
                fio2: ctx.signal("fio2")?,
            },
            vent: Ventilator {
                tidal_volume: ctx.actuator("vent_tidal_volume")?,
                rate: ctx.actuator("vent_rate")?,
                peep: ctx.actuator("vent_peep")?,
                fio2: ctx.actuator("vent_fio2")?,
            },
            rewarm_phase,
            ventilated_phase,
            ventilating: false,
            ventilation_start_temp_c: f64::NAN,
            ventilation_start_s: f64::NAN,
            next_assessment_s: s.assessment_every_s,
            verdict: Verdict::new(s.pf_threshold_mmhg, s.deterioration_fraction),
            s,
        })
    }

    fn step(&mut self, input: &StepInput, out: &mut StepOutput) {
        let t = input.t_s;
        let s = self.s;
        let flow_request = s.flow_request_ml_min(t);
        out.setpoints[self.sig.pa_flow] = flow_request;

        // Ventilation starts at the temperature, or when the phase has ended on its time limit.
        let temp = value(input, self.sig.perfusate_temp);
        let warm_enough = temp >= s.ventilation_start_c;
        if input.phase == self.rewarm_phase && warm_enough {
            out.advance_phase = 1;
        }
        let ventilate = input.phase >= self.ventilated_phase || out.advance_phase != 0;
        if ventilate && !self.ventilating {
            self.ventilating = true;
            self.ventilation_start_temp_c = temp;
            self.ventilation_start_s = t;
        }
        if input.phase == self.ventilated_phase && t >= s.flow_rampup_s {
            out.advance_phase = 1;
        }

        // Hourly assessment: FiO2 up, wait, record, FiO2 back.
        let measures = self.measures(input);
        let assessing = self.ventilating && t >= self.next_assessment_s;
        let mut fio2 = s.fio2_maintenance_pct;
        if assessing {
            if t >= self.next_assessment_s + s.assessment_wait_s {
                self.verdict.assess(measures);
                self.next_assessment_s += s.assessment_every_s;
                out.assessment = 1;
            } else {
                fio2 = s.fio2_assessment_pct;
            }
        }
        let c = &mut out.commands;
        let v = &self.vent;
        if self.ventilating {
            c[v.tidal_volume] = s.tidal_volume_ml();
            c[v.rate] = s.respiratory_rate_per_min;
            c[v.peep] = s.peep_cmh2o;
        } else {
            c[v.tidal_volume] = 0.0;
            c[v.rate] = 0.0;
            c[v.peep] = 0.0;
        }
        c[v.fio2] = fio2;

        let verdict = &self.verdict;
        let r = verdict.reasons;
        let assessed = verdict.count > 0;
        let reason = |b: bool| if assessed { flag(b) } else { f64::NAN };
        let d = &mut out.derived;
        d[0] = s.target_flow_ml_min();
        d[1] = flow_request;
        d[2] = measures.pvr_dyn_s_cm5;
        d[3] = measures.dynamic_compliance_ml_cmh2o;
        d[4] = measures.static_compliance_ml_cmh2o;
        d[5] = measures.peak_pressure_cmh2o;
        d[6] = measures.pf_mmhg;
        d[7] = self.ventilation_start_temp_c;
        d[8] = self.ventilation_start_s / 60.0;
        d[9] = f64::from(verdict.count);
        d[10] = reason(r.pf_below_threshold);
        d[11] = reason(r.pvr_worse);
        d[12] = reason(r.dynamic_compliance_worse);
        d[13] = reason(r.static_compliance_worse);
        d[14] = reason(r.peak_pressure_worse);
        d[15] = if assessed && verdict.complete {
            flag(r.suitable())
        } else {
            f64::NAN
        };
    }

    fn save(&self, out: &mut state::Writer) {
        out.put(&self.ventilating)
            .put(&self.ventilation_start_temp_c)
            .put(&self.ventilation_start_s)
            .put(&self.next_assessment_s);
        self.verdict.save(out);
    }

    fn restore(&mut self, input: &mut state::Reader<'_>) -> Result<(), String> {
        input.read(&mut self.ventilating)?;
        input.read(&mut self.ventilation_start_temp_c)?;
        input.read(&mut self.ventilation_start_s)?;
        input.read(&mut self.next_assessment_s)?;
        self.verdict.restore(input)
    }
}

export_plugin!(Lung);
