//! Liver machine perfusion: normothermic (OrganOx/Liver4Life-like NMP, §3A), hypothermic
//! oxygenated portal perfusion (HOPE) and its dual variant (D-HOPE, §3B).
//!
//! What a RON file cannot express lives here:
//! - HA and PV resistance (mean pressure / flow), lactate clearance from its peak;
//! - the VITTAL and Groningen criteria (§3A) as 0/1 reasons and a verdict, each frozen and
//!   recorded as an assessment at its time (`vittal_at_s`, `groningen_at_s`); the bile
//!   chemistry and the look at the perfusion come from the operator's entries (labs);
//! - the NMP automation loops: vasodilator on low HA flow, insulin above and glucagon below the
//!   glucose band, CO2 sweep on pH ([`automation`]); they run for the actuators the protocol
//!   declares (`vasodilator`, `insulin`, `glucagon`, `sweep`), each needing its parameters.
//!
//! A warm-up phase ends by the protocol file's `exit_when`, judged by the core.
//!
//! Signals it reads, by id: `mean_pv_pressure`, `mean_pv_flow` (required); `mean_ha_pressure`,
//! `mean_ha_flow`, `lactate`, `glucose`, `ph`, `bile_volume`, `bile_ph`, and the operator-site
//! `bile_bicarbonate`, `perfusate_bicarbonate`, `bile_glucose` (mmol/L) and
//! `homogeneous_perfusion` (1 or 0) (where the protocol has them).

mod automation;
mod viability;

use automation::{DrugLoop, SweepLoop, Trigger};
use perfuse_plugin_sdk::{
    CreateContext, ParamSpec, Params, Protocol, StepInput, StepOutput, derived_values,
    export_plugin, state,
};
use viability::{Evidence, Verdict, groningen, vittal};

/// Time constant of the slow flow means the VITTAL flow criterion is judged on, s (my choice:
/// ten minutes, so pulsatility and noise do not decide it).
const FLOW_MEAN_TAU_S: f64 = 600.0;
/// Bile volume is sampled once a minute for the volume of the last hour.
const BILE_SAMPLE_S: f64 = 60.0;
const BILE_SAMPLES: usize = 61;
/// Flow below which a resistance is not defined, mL/min.
const MIN_FLOW_ML_MIN: f64 = 5.0;

/// The parameters the plugin takes. None has a default: each is needed only by protocols with
/// the part it serves (drug pumps, a sweep gas flow, lactate), and `create` asks for it there.
const PARAMS: &[ParamSpec<'static>] = &[
    ParamSpec::optional("vittal_at_s", "s", 60.0, 86_400.0),
    ParamSpec::optional("groningen_at_s", "s", 60.0, 86_400.0),
    ParamSpec::optional("drug_interval_s", "s", 10.0, 3600.0),
    ParamSpec::optional("vasodilator_below_ml_min", "mL/min", 1.0, 2000.0),
    ParamSpec::optional("vasodilator_step_ml_h", "mL/h", 0.01, 50.0),
    ParamSpec::optional("insulin_above_mmol_l", "mmol/L", 1.0, 40.0),
    ParamSpec::optional("insulin_step_ml_h", "mL/h", 0.01, 50.0),
    ParamSpec::optional("glucagon_below_mmol_l", "mmol/L", 0.5, 20.0),
    ParamSpec::optional("glucagon_step_ml_h", "mL/h", 0.01, 50.0),
    ParamSpec::optional("sweep_interval_s", "s", 1.0, 3600.0),
    ParamSpec::optional("ph_target", "pH", 6.8, 7.8),
    ParamSpec::optional("sweep_gain_l_min_per_ph", "L/min/pH", 0.01, 20.0),
];

/// A parameter the protocol's circuit makes necessary.
fn needed(params: &Params<'_>, name: &str, why: &str) -> Result<f64, String> {
    params
        .get(name)
        .ok_or_else(|| format!("missing plugin parameter `{name}` ({why})"))
}

/// Decision ticks of a loop that acts every `interval_s`.
#[derive(Debug, Clone, Copy)]
struct Every {
    interval_s: f64,
    next_s: f64,
}

impl Every {
    fn new(interval_s: f64) -> Self {
        Every {
            interval_s,
            next_s: interval_s,
        }
    }

    fn due(&mut self, t_s: f64) -> bool {
        if t_s + 1e-9 >= self.next_s {
            self.next_s += self.interval_s;
            true
        } else {
            false
        }
    }
}

pub struct Liver {
    mean_ha_pressure: Option<usize>,
    mean_ha_flow: Option<usize>,
    mean_pv_pressure: usize,
    mean_pv_flow: usize,
    lactate: Option<usize>,
    glucose: Option<usize>,
    ph: Option<usize>,
    bile_volume: Option<usize>,
    bile_ph: Option<usize>,
    /// Operator-entered samples (labs): bile and perfusate bicarbonate, bile glucose, and the
    /// look at the liver's perfusion (1 homogeneous, 0 not).
    bile_bicarbonate: Option<usize>,
    perfusate_bicarbonate: Option<usize>,
    bile_glucose: Option<usize>,
    homogeneous_perfusion: Option<usize>,
    period_s: f64,

    drugs: [Option<DrugLoop>; 3],
    drug_every: Every,
    sweep: Option<SweepLoop>,
    sweep_every: Every,

    vittal: Option<Verdict<7>>,
    groningen: Option<Verdict<6>>,
    peak_lactate: f64,
    lowest_lactate: f64,
    peak_glucose: f64,
    ha_flow_mean: f64,
    pv_flow_mean: f64,
    bile_minutes: [f64; BILE_SAMPLES],
    bile_samples: usize,
    bile_every: Every,
}

derived_values! {
    /// What the plugin reports each tick.
    pub struct Derived {
        /// Hepatic-artery mean pressure over flow, mmHg·min/mL.
        ha_resistance,
        /// Portal-vein mean pressure over flow, mmHg·min/mL.
        pv_resistance,
        /// Lactate fall from its peak, %.
        lactate_clearance_pct,
        /// VITTAL reason: lactate (0/1).
        vittal_lactate,
        /// VITTAL reason: bile (0/1).
        vittal_bile,
        /// VITTAL reason: glucose (0/1).
        vittal_glucose,
        /// VITTAL reason: flows (0/1).
        vittal_flows,
        /// VITTAL reason: pH (0/1).
        vittal_ph,
        /// VITTAL secondary criterion: homogeneous perfusion, as the operator entered it (0/1).
        vittal_homogeneous,
        /// VITTAL verdict (0/1).
        vittal_viable,
        /// Groningen reason: lactate (0/1).
        groningen_lactate,
        /// Groningen reason: pH (0/1).
        groningen_ph,
        /// Groningen reason: bile volume (0/1).
        groningen_bile,
        /// Groningen reason: bile pH (0/1).
        groningen_bile_ph,
        /// Groningen reason: bile chemistry, bicarbonate and glucose against the perfusate (0/1).
        groningen_bile_chemistry,
        /// Groningen verdict (0/1).
        groningen_viable,
    }
}

/// Resistance `p / q`, NaN without a measurable flow.
fn resistance(p: f64, q: f64) -> f64 {
    if q > MIN_FLOW_ML_MIN { p / q } else { f64::NAN }
}

/// A slow exponential mean; starts at the first valid value.
fn follow(mean: &mut f64, v: f64, k: f64) {
    if v.is_nan() {
        return;
    }
    *mean = if mean.is_nan() {
        v
    } else {
        *mean + (v - *mean) * k
    };
}

impl Liver {
    fn drug_loop(
        ctx: &CreateContext<'_>,
        actuator: &str,
        signal: &str,
        trigger: Trigger,
        threshold: &str,
        step: &str,
    ) -> Result<Option<DrugLoop>, String> {
        let Ok(a) = ctx.actuator(actuator) else {
            return Ok(None);
        };
        let why = format!("the `{actuator}` pump's loop");
        Ok(Some(DrugLoop::new(
            a,
            ctx.signal(signal)?,
            trigger,
            needed(&ctx.params, threshold, &why)?,
            needed(&ctx.params, step, &why)?,
        )))
    }

    /// Bile of the last hour (or since the first sample, within the first hour).
    fn bile_last_hour(&self, bile_now: f64) -> f64 {
        if self.bile_samples == 0 || bile_now.is_nan() {
            return f64::NAN;
        }
        let back = self.bile_samples.min(BILE_SAMPLES - 1);
        let oldest = self.bile_minutes[(self.bile_samples - back) % BILE_SAMPLES];
        bile_now - oldest
    }
}

impl Protocol for Liver {
    const ID: &'static str = "liver";
    const VERSION: &'static str = "0.1.1";
    const DERIVED: &'static [&'static str] = Derived::NAMES;
    const PARAMS: &'static [ParamSpec<'static>] = PARAMS;

    fn validate(params: Params<'_>) -> Result<(), String> {
        // Each parameter is checked against `PARAMS` before this is called; what is left is
        // how two of them relate.
        if let (Some(lo), Some(hi)) = (
            params.get("glucagon_below_mmol_l"),
            params.get("insulin_above_mmol_l"),
        ) && lo >= hi
        {
            return Err(format!(
                "`glucagon_below_mmol_l` ({lo}) must be below `insulin_above_mmol_l` ({hi})"
            ));
        }
        Ok(())
    }

    fn create(ctx: &CreateContext<'_>) -> Result<Self, String> {
        let p = &ctx.params;
        let drugs = [
            Self::drug_loop(
                ctx,
                "vasodilator",
                "mean_ha_flow",
                Trigger::Below,
                "vasodilator_below_ml_min",
                "vasodilator_step_ml_h",
            )?,
            Self::drug_loop(
                ctx,
                "insulin",
                "glucose",
                Trigger::Above,
                "insulin_above_mmol_l",
                "insulin_step_ml_h",
            )?,
            Self::drug_loop(
                ctx,
                "glucagon",
                "glucose",
                Trigger::Below,
                "glucagon_below_mmol_l",
                "glucagon_step_ml_h",
            )?,
        ];
        let drug_interval_s = if drugs.iter().any(Option::is_some) {
            needed(p, "drug_interval_s", "the protocol has drug pumps")?
        } else {
            f64::INFINITY
        };
        let (sweep, sweep_interval_s) = match ctx.actuator("sweep") {
            Ok(a) => {
                let why = "the protocol has a `sweep` gas flow";
                (
                    Some(SweepLoop::new(
                        a,
                        ctx.signal("ph")?,
                        needed(p, "ph_target", why)?,
                        needed(p, "sweep_gain_l_min_per_ph", why)?,
                    )),
                    needed(p, "sweep_interval_s", why)?,
                )
            }
            Err(_) => (None, f64::INFINITY),
        };
        let lactate = ctx.signal("lactate").ok();
        let (vittal, groningen) = if lactate.is_some() {
            let why = "the protocol measures lactate";
            (
                Some(Verdict::new(needed(p, "vittal_at_s", why)?)),
                Some(Verdict::new(needed(p, "groningen_at_s", why)?)),
            )
        } else {
            (None, None)
        };
        Ok(Liver {
            mean_ha_pressure: ctx.signal("mean_ha_pressure").ok(),
            mean_ha_flow: ctx.signal("mean_ha_flow").ok(),
            mean_pv_pressure: ctx.signal("mean_pv_pressure")?,
            mean_pv_flow: ctx.signal("mean_pv_flow")?,
            lactate,
            glucose: ctx.signal("glucose").ok(),
            ph: ctx.signal("ph").ok(),
            bile_volume: ctx.signal("bile_volume").ok(),
            bile_ph: ctx.signal("bile_ph").ok(),
            bile_bicarbonate: ctx.signal("bile_bicarbonate").ok(),
            perfusate_bicarbonate: ctx.signal("perfusate_bicarbonate").ok(),
            bile_glucose: ctx.signal("bile_glucose").ok(),
            homogeneous_perfusion: ctx.signal("homogeneous_perfusion").ok(),
            period_s: ctx.period_s,
            drugs,
            drug_every: Every::new(drug_interval_s),
            sweep,
            sweep_every: Every::new(sweep_interval_s),
            vittal,
            groningen,
            peak_lactate: f64::NAN,
            lowest_lactate: f64::NAN,
            peak_glucose: f64::NAN,
            ha_flow_mean: f64::NAN,
            pv_flow_mean: f64::NAN,
            bile_minutes: [f64::NAN; BILE_SAMPLES],
            bile_samples: 0,
            bile_every: Every {
                interval_s: BILE_SAMPLE_S,
                next_s: 0.0,
            },
        })
    }

    fn step(&mut self, input: &StepInput, out: &mut StepOutput) {
        let t = input.t_s;
        let value = |i: Option<usize>| i.and_then(|i| input.valid(i)).unwrap_or(f64::NAN);
        let ha_p = value(self.mean_ha_pressure);
        let ha_q = value(self.mean_ha_flow);
        let pv_p = value(Some(self.mean_pv_pressure));
        let pv_q = value(Some(self.mean_pv_flow));
        let lactate = value(self.lactate);
        let glucose = value(self.glucose);
        let ph = value(self.ph);
        let bile = value(self.bile_volume);

        // Automation loops.
        let decide = self.drug_every.due(t);
        for d in self.drugs.iter_mut().flatten() {
            d.step(input, decide, out);
        }
        let decide = self.sweep_every.due(t);
        if let Some(s) = self.sweep.as_mut() {
            s.step(input, decide, out);
        }

        // Running evidence.
        let k = (self.period_s / FLOW_MEAN_TAU_S).min(1.0);
        follow(&mut self.ha_flow_mean, ha_q, k);
        follow(&mut self.pv_flow_mean, pv_q, k);
        if !lactate.is_nan() {
            self.peak_lactate = self.peak_lactate.max(lactate);
            self.lowest_lactate = self.lowest_lactate.min(lactate);
        }
        if !glucose.is_nan() {
            self.peak_glucose = self.peak_glucose.max(glucose);
        }
        if self.bile_every.due(t) && !bile.is_nan() {
            self.bile_minutes[self.bile_samples % BILE_SAMPLES] = bile;
            self.bile_samples += 1;
        }
        let evidence = Evidence {
            lactate,
            lowest_lactate: self.lowest_lactate,
            ph,
            bile_ml: bile,
            bile_last_hour_ml: self.bile_last_hour(bile),
            bile_ph: value(self.bile_ph),
            glucose,
            peak_glucose: self.peak_glucose,
            ha_flow: self.ha_flow_mean,
            pv_flow: self.pv_flow_mean,
            bile_bicarbonate: value(self.bile_bicarbonate),
            perfusate_bicarbonate: value(self.perfusate_bicarbonate),
            bile_glucose: value(self.bile_glucose),
            homogeneous: value(self.homogeneous_perfusion),
        };
        let mut assess = false;
        if let Some(v) = self.vittal.as_mut() {
            assess |= v.update(t, vittal(&evidence));
        }
        if let Some(g) = self.groningen.as_mut() {
            assess |= g.update(t, groningen(&evidence));
        }
        out.assessment = u8::from(assess);

        let v = self.vittal.map_or([f64::NAN; 7], |v| v.values);
        let g = self.groningen.map_or([f64::NAN; 6], |g| g.values);
        Derived {
            ha_resistance: resistance(ha_p, ha_q),
            pv_resistance: resistance(pv_p, pv_q),
            lactate_clearance_pct: if self.peak_lactate > 0.0 && !lactate.is_nan() {
                (self.peak_lactate - lactate) / self.peak_lactate * 100.0
            } else {
                f64::NAN
            },
            vittal_lactate: v[0],
            vittal_bile: v[1],
            vittal_glucose: v[2],
            vittal_flows: v[3],
            vittal_ph: v[4],
            vittal_homogeneous: v[5],
            vittal_viable: v[6],
            groningen_lactate: g[0],
            groningen_ph: g[1],
            groningen_bile: g[2],
            groningen_bile_ph: g[3],
            groningen_bile_chemistry: g[4],
            groningen_viable: g[5],
        }
        .write(out);
    }

    /// The loops' collected readings and decision times, the verdicts' progress (frozen or
    /// not) and the evidence behind them; which loops and verdicts exist comes from `create`.
    fn save(&self, out: &mut state::Writer) {
        for d in self.drugs.iter().flatten() {
            out.put(d.mean());
        }
        out.put(&self.drug_every.next_s);
        if let Some(s) = &self.sweep {
            out.put(s.mean());
        }
        out.put(&self.sweep_every.next_s);
        if let Some(v) = &self.vittal {
            out.put(&v.values).put(&v.frozen);
        }
        if let Some(v) = &self.groningen {
            out.put(&v.values).put(&v.frozen);
        }
        out.put(&self.peak_lactate)
            .put(&self.lowest_lactate)
            .put(&self.peak_glucose)
            .put(&self.ha_flow_mean)
            .put(&self.pv_flow_mean)
            .put(&self.bile_minutes)
            .put(&self.bile_samples)
            .put(&self.bile_every.next_s);
    }

    fn restore(&mut self, input: &mut state::Reader<'_>) -> Result<(), String> {
        for d in self.drugs.iter_mut().flatten() {
            input.read(d.mean_mut())?;
        }
        input.read(&mut self.drug_every.next_s)?;
        if let Some(s) = &mut self.sweep {
            input.read(s.mean_mut())?;
        }
        input.read(&mut self.sweep_every.next_s)?;
        if let Some(v) = &mut self.vittal {
            input.read(&mut v.values)?;
            input.read(&mut v.frozen)?;
        }
        if let Some(v) = &mut self.groningen {
            input.read(&mut v.values)?;
            input.read(&mut v.frozen)?;
        }
        input.read(&mut self.peak_lactate)?;
        input.read(&mut self.lowest_lactate)?;
        input.read(&mut self.peak_glucose)?;
        input.read(&mut self.ha_flow_mean)?;
        input.read(&mut self.pv_flow_mean)?;
        input.read(&mut self.bile_minutes)?;
        input.read(&mut self.bile_samples)?;
        input.read(&mut self.bile_every.next_s)
    }
}

export_plugin!(Liver);
