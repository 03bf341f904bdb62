//! Isolated limb perfusion (ILP) with TNF-α and melphalan (docs/clinical-basis.md §6).
//!
//! What a RON file cannot express lives here:
//! - the tissue-temperature cascade: the heater's loop tracks the inflow temperature; this
//!   plugin sets that inflow setpoint from the mean of the proximal and distal tissue probes
//!   (a PI on `tissue_target_c`, the integral held while the request is at a bound), so the
//!   tissue reaches 38.5–39.5 °C with an inflow that stays at or below `inflow_max_c` (§6: up
//!   to ~42 °C). The core clamps the request into the phase's inflow band as well;
//! - the line pressure below the patient's systemic pressure (§6): when the limb line pressure
//!   comes within `pressure_margin_mmhg` of the systemic mean pressure, the flow setpoint is
//!   lowered by `flow_per_mmhg` per mmHg of excess (the core keeps it inside the phase's band);
//! - derived values for the record: tissue mean and proximal–distal gradient, the inflow
//!   setpoint, the margin between systemic and line pressure, the leak rate over the last
//!   10 minutes (%/h), and minutes with both probes in 38.5–39.5 °C during drug circulation.
//!
//! Warm-up ends by the protocol file's `exit_when` (both probes held at 38.5 °C), judged by the
//! core.
//!
//! Signals it reads, by id: `tissue_proximal`, `tissue_distal`, `inflow_temp` (°C),
//! `line_pressure`, `systemic_pressure` (mmHg), `pump_flow` (mL/min), `leak_pct` (%).

use perfuse_plugin_sdk::{
    CreateContext, ParamSpec, Params, Protocol, StepInput, StepOutput, derived_values,
    export_plugin, state,
};

/// Tissue band of mild hyperthermia, °C (§6 [S]).
const TISSUE_BAND_C: (f64, f64) = (38.5, 39.5);
/// The hottest probe is held below the band's top by this margin, °C (my choice: twice the
/// probes' noise and lag overshoot).
const HOT_MARGIN_C: f64 = 0.2;
/// Inflow degrees given up per degree the hottest probe is above its limit (my choice).
const HOT_GAIN: f64 = 4.0;
/// The leak rate is taken across this many minutes.
const LEAK_WINDOW_MIN: usize = 10;

/// The parameters the plugin takes, each with its unit, allowed range and default.
const PARAMS: &[ParamSpec<'static>] = &[
    ParamSpec::with_default("tissue_target_c", "°C", 36.0, 40.0, 39.0),
    ParamSpec::with_default("inflow_max_c", "°C", 37.0, 43.0, 42.0),
    ParamSpec::with_default("cascade_kp", "°C/°C", 0.0, 20.0, 2.0),
    ParamSpec::with_default("cascade_ti_s", "s", 10.0, 36_000.0, 600.0),
    ParamSpec::with_default("pressure_margin_mmhg", "mmHg", 0.0, 50.0, 10.0),
    ParamSpec::with_default("flow_per_mmhg", "mL/min/mmHg", 0.0, 100.0, 10.0),
];

derived_values! {
    /// What the plugin reports each tick.
    pub struct Derived {
        /// Mean of the two tissue probes, °C (one probe while the other is invalid).
        tissue_mean_c,
        /// Proximal minus distal tissue temperature, °C.
        tissue_gradient_c,
        /// The inflow setpoint the cascade requests, °C.
        inflow_setpoint_c,
        /// Systemic mean pressure minus line pressure, mmHg.
        pressure_margin_mmhg,
        /// Leak over the last 10 minutes, %/h.
        leak_rate_pct_h,
        /// Minutes with both probes in 38.5–39.5 °C during drug circulation.
        tissue_in_band_min,
    }
}

pub struct Ilp {
    proximal: usize,
    distal: usize,
    inflow: usize,
    line_pressure: usize,
    systemic_pressure: usize,
    pump_flow: usize,
    leak_pct: usize,
    drug_phases: [u32; 2],
    washout_phase: u32,
    tissue_target_c: f64,
    inflow_max_c: f64,
    kp: f64,
    ti_s: f64,
    pressure_margin_mmhg: f64,
    flow_per_mmhg: f64,
    period_s: f64,

    integral_c: f64,
    inflow_request_c: f64,
    /// Leak at the start of each of the last minutes, oldest first once full.
    leak_by_minute: [f64; LEAK_WINDOW_MIN + 1],
    minutes_seen: usize,
    in_band_ticks: u64,
}

impl Ilp {
    /// The inflow setpoint for the tissue: PI on the probes' mean, capped so that the hottest
    /// probe stays below the band's top, with the integral held while the request sits at a
    /// bound (the file's setpoint is the lower bound).
    fn cascade(&mut self, tissue_c: f64, hottest_c: f64, floor_c: f64) -> f64 {
        let error = self.tissue_target_c - tissue_c;
        let hot_limit = TISSUE_BAND_C.1 - HOT_MARGIN_C;
        let hot_cap = hot_limit + HOT_GAIN * (hot_limit - hottest_c);
        let pi = self.tissue_target_c + self.kp * (error + self.integral_c);
        let request = pi.min(hot_cap).clamp(floor_c, self.inflow_max_c);
        let held_back = (request < pi && error > 0.0) || (request > pi && error < 0.0);
        if !held_back {
            self.integral_c += error * self.period_s / self.ti_s;
        }
        request
    }
}

impl Protocol for Ilp {
    const ID: &'static str = "ilp";
    const VERSION: &'static str = "0.1.1";
    const DERIVED: &'static [&'static str] = Derived::NAMES;
    const PARAMS: &'static [ParamSpec<'static>] = PARAMS;

    fn validate(params: Params<'_>) -> Result<(), String> {
        // Each parameter is checked against `PARAMS` before this is called; what is left is
        // how two of them relate.
        if params.value("tissue_target_c")? >= params.value("inflow_max_c")? {
            return Err("`tissue_target_c` must be below `inflow_max_c`".to_string());
        }
        Ok(())
    }

    fn create(ctx: &CreateContext<'_>) -> Result<Self, String> {
        let p = &ctx.params;
        Ok(Ilp {
            proximal: ctx.signal("tissue_proximal")?,
            distal: ctx.signal("tissue_distal")?,
            inflow: ctx.signal("inflow_temp")?,
            line_pressure: ctx.signal("line_pressure")?,
            systemic_pressure: ctx.signal("systemic_pressure")?,
            pump_flow: ctx.signal("pump_flow")?,
            leak_pct: ctx.signal("leak_pct")?,
            drug_phases: [ctx.phase("tnf")? as u32, ctx.phase("melphalan")? as u32],
            washout_phase: ctx.phase("washout")? as u32,
            tissue_target_c: p.value("tissue_target_c")?,
            inflow_max_c: p.value("inflow_max_c")?,
            kp: p.value("cascade_kp")?,
            ti_s: p.value("cascade_ti_s")?,
            pressure_margin_mmhg: p.value("pressure_margin_mmhg")?,
            flow_per_mmhg: p.value("flow_per_mmhg")?,
            period_s: ctx.period_s,
            integral_c: 0.0,
            inflow_request_c: f64::NAN,
            leak_by_minute: [f64::NAN; LEAK_WINDOW_MIN + 1],
            minutes_seen: 0,
            in_band_ticks: 0,
        })
    }

    fn step(&mut self, input: &StepInput, out: &mut StepOutput) {
        let t = input.t_s;
        let proximal = input.valid(self.proximal);
        let distal = input.valid(self.distal);
        let (tissue, hottest) = match (proximal, distal) {
            (Some(a), Some(b)) => (Some(0.5 * (a + b)), a.max(b)),
            (one, other) => (one.or(other), one.or(other).unwrap_or(f64::NAN)),
        };

        // Cascade: tissue temperature → inflow setpoint, except in washout (no heating goal).
        self.inflow_request_c = f64::NAN;
        if input.phase != self.washout_phase {
            let floor = input.setpoints[self.inflow];
            if let (Some(c), true) = (tissue, floor.is_finite()) {
                self.inflow_request_c = self.cascade(c, hottest, floor);
                out.setpoints[self.inflow] = self.inflow_request_c;
            }
        }

        // Line pressure below systemic: lower the flow when the margin is used up.
        let line = input.valid(self.line_pressure);
        let systemic = input.valid(self.systemic_pressure);
        let margin = match (line, systemic) {
            (Some(l), Some(s)) => s - l,
            _ => f64::NAN,
        };
        let excess = self.pressure_margin_mmhg - margin;
        let file_flow = input.setpoints[self.pump_flow];
        if excess > 0.0 && file_flow.is_finite() {
            out.setpoints[self.pump_flow] = file_flow - self.flow_per_mmhg * excess;
        }

        if self.drug_phases.contains(&input.phase)
            && let (Some(a), Some(b)) = (proximal, distal)
        {
            let (lo, hi) = TISSUE_BAND_C;
            if a.min(b) >= lo && a.max(b) <= hi {
                self.in_band_ticks += 1;
            }
        }

        // Leak over the last minutes, sampled once a minute.
        let minute = (t / 60.0).floor() as usize;
        if minute >= self.minutes_seen
            && let Some(leak) = input.valid(self.leak_pct)
        {
            self.leak_by_minute.rotate_left(1);
            self.leak_by_minute[LEAK_WINDOW_MIN] = leak;
            self.minutes_seen = minute + 1;
        }

        Derived {
            tissue_mean_c: tissue.unwrap_or(f64::NAN),
            tissue_gradient_c: match (proximal, distal) {
                (Some(a), Some(b)) => a - b,
                _ => f64::NAN,
            },
            inflow_setpoint_c: self.inflow_request_c,
            pressure_margin_mmhg: margin,
            leak_rate_pct_h: (self.leak_by_minute[LEAK_WINDOW_MIN] - self.leak_by_minute[0])
                * (60.0 / LEAK_WINDOW_MIN as f64),
            tissue_in_band_min: self.in_band_ticks as f64 * self.period_s / 60.0,
        }
        .write(out);
    }

    fn save(&self, out: &mut state::Writer) {
        out.put(&self.integral_c)
            .put(&self.inflow_request_c)
            .put(&self.leak_by_minute)
            .put(&self.minutes_seen)
            .put(&self.in_band_ticks);
    }

    fn restore(&mut self, input: &mut state::Reader<'_>) -> Result<(), String> {
        input.read(&mut self.integral_c)?;
        input.read(&mut self.inflow_request_c)?;
        input.read(&mut self.leak_by_minute)?;
        input.read(&mut self.minutes_seen)?;
        input.read(&mut self.in_band_ticks)
    }
}

export_plugin!(Ilp);
