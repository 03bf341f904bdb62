//! Kidney on a perfusion circuit, hypothermic (LifePort-like HMP, §4A) or normothermic
//! (Cambridge-like NMP, §4B), chosen by the `normothermic` parameter.
//!
//! - Hydraulics (§10.1): a roller pump is a flow source into the arterial compliance `C`, which
//!   drains through the renal bed `R` (and a leak, when one is injected) to 0 mmHg:
//!   `C·dP/dt = Q_line − P/R − P/R_leak`. A closed clamp stops the line flow; the pressure probe
//!   sits distal to it, so its pressure decays through the bed. Stepped exactly for `Q_line`
//!   held over the tick: one `exp` per tick.
//! - Resistance: `R = R_inf + A_fast·e^(−t/τ_fast) + A_slow·e^(−t/τ_slow)`, `t` counting only
//!   time the kidney is perfused, so a delayed start does not skip the washout. HMP defaults fit
//!   the LifePort trajectory (§4A, §10.2); NMP defaults fall from vasoconstriction to 0.33.
//!   `R` is given at `viscosity_ref_c` and scales with the perfusate's viscosity (water's, §10.5):
//!   a kidney on ice that keeps it at 10 °C instead of 5 °C has a ~13 % lower resistance.
//! - Heat (§10.1, two nodes): the perfusate node lumps perfusate, kidney and circuit and is cooled
//!   by the ice bath and warmed by the room; the heat-exchanger water node takes the heater's
//!   power and passes it to the perfusate. Metabolic heat scales with Q10. The organ is at the
//!   perfusate temperature (it sits in, and is perfused by, the perfusate).
//! - Urine: rises linearly with mean pressure above a filtration threshold and with temperature
//!   (Q10); the circuit replaces it volume for volume (my choice), so it does not drain the
//!   reservoir. A leak does; below the dry level the pump draws air.
//! - Faults: an occlusion multiplies `R`; a leak opens a path `P/R_leak` out of the arterial line
//!   beyond the flow probe; air sets the bubble output for the rest of the run.

use std::collections::BTreeMap;

use perfuse_hal::{ActuatorKind as A, SensorKind as S};

use super::physics::{
    DENSITY_G_ML, METABOLIC_REF_C, TISSUE_J_G_K, WATER_J_G_K, flush, viscosity_ratio,
};
use super::thermal::TwoNode;
use super::{MAX_INPUTS, Model, Plant, PlantFault, Site};
use crate::params::{mode, param_set};

// Output points.
const PRESSURE: usize = 0;
const LINE_FLOW: usize = 1;
const RENAL_FLOW: usize = 2;
const PERFUSATE_T: usize = 3;
const EXCHANGER_T: usize = 4;
const ICE_T: usize = 5;
const AIR: usize = 6;
const PERFUSATE_ML: usize = 7;
const URINE_ML: usize = 8;
const URINE_ML_MIN: usize = 9;
const OUTPUTS: usize = 10;

// Inputs.
const PUMP: usize = 0;
const CLAMP: usize = 1;
const HEATER: usize = 2;

/// The kidney model as the protocol's `simulator.model` names it.
pub(crate) const MODEL: Model = Model {
    name: "kidney",
    summary: "kidney, hypothermic (LifePort-like) or normothermic",
    mode: Some(("normothermic", false)),
    defaults: |m| KidneyParams::defaults(m).values(),
    sources: PARAM_SOURCES,
    params: KidneyParams::DEFS,
    sites: &[
        Site {
            name: "arterial_line",
            sensors: &[
                (S::Pressure, PRESSURE),
                (S::Flow, LINE_FLOW),
                (S::Temperature, PERFUSATE_T),
                (S::Bubble, AIR),
            ],
            actuators: &[(A::RollerPump, PUMP), (A::Clamp, CLAMP)],
        },
        Site {
            name: "renal_vein",
            sensors: &[(S::Flow, RENAL_FLOW)],
            actuators: &[],
        },
        Site {
            name: "reservoir",
            sensors: &[(S::Temperature, PERFUSATE_T), (S::Volume, PERFUSATE_ML)],
            actuators: &[],
        },
        Site {
            name: "heat_exchanger",
            sensors: &[(S::Temperature, EXCHANGER_T)],
            actuators: &[(A::Heater, HEATER)],
        },
        Site {
            name: "ice_container",
            sensors: &[(S::Temperature, ICE_T)],
            actuators: &[],
        },
        Site {
            name: "ureter",
            sensors: &[(S::Volume, URINE_ML), (S::Flow, URINE_ML_MIN)],
            actuators: &[],
        },
    ],
    events: &[],
    build,
};

/// Where each parameter's default comes from (docs/clinical-basis.md), condensed from the
/// comments at the defaults; `perfuse models` shows them.
const PARAM_SOURCES: &[(&str, &str)] = &[
    ("kidney_mass_g", "§10.2 [T]"),
    ("compliance_ml_mmhg", "§4A; my choice"),
    (
        "r_inf_mmhg_min_ml",
        "§4A/§10.2 §10.2 [D from §4A/§10.2]; my choice",
    ),
    ("r_fast_mmhg_min_ml", "§10.5"),
    ("r_fast_tau_s", "§10.5"),
    ("r_slow_mmhg_min_ml", "§10.5"),
    ("r_slow_tau_s", "§10.5"),
    ("viscosity_ref_c", "§4A §10.2 [D]"),
    ("perfusate_ml", "§10.4 [T]"),
    ("perfusate_j_g_k", "§10.3 [T]"),
    ("circuit_j_k", "my choice"),
    ("perfusate_start_c", "§4A; my choice"),
    ("ambient_c", "my choice"),
    ("ambient_ua_w_k", "§10.2 [D]; my choice"),
    ("ice_c", "§4A [S]"),
    ("ice_ua_w_k", "[D]"),
    ("exchanger_ml", "my choice"),
    ("exchanger_ua_w_k", "my choice"),
    ("metabolic_mw_g", "§10.2 [D]"),
    ("q10", "§10.1 [T]"),
    ("urine_ml_h", "§4B §10.2; my choice"),
    ("urine_threshold_mmhg", "§4B [T]; my choice"),
    ("reservoir_dry_ml", "my choice"),
];

param_set! {
    /// Kidney model parameters; defaults depend on `normothermic` (see [`KidneyParams::defaults`]).
    pub(crate) struct KidneyParams {
        /// 0 = hypothermic machine perfusion (LifePort-like), 1 = normothermic (Cambridge-like)
        normothermic: [0.0, 1.0],
        /// kidney mass in g
        kidney_mass_g: [10.0, 1000.0],
        /// arterial compliance between pump and renal bed in mL/mmHg
        compliance_ml_mmhg: [0.001, 10.0],
        /// renal resistance plateau in mmHg/(mL/min)
        r_inf_mmhg_min_ml: [0.01, 20.0],
        /// fast-decaying part of the initial renal resistance in mmHg/(mL/min)
        r_fast_mmhg_min_ml: [0.0, 20.0],
        /// time constant of the fast part in s of perfusion
        r_fast_tau_s: [1.0, 1.0e6],
        /// slow-decaying part of the initial renal resistance in mmHg/(mL/min)
        r_slow_mmhg_min_ml: [0.0, 20.0],
        /// time constant of the slow part in s of perfusion
        r_slow_tau_s: [1.0, 1.0e6],
        /// perfusate temperature at which the resistances above hold in °C
        viscosity_ref_c: [-2.0, 45.0],
        /// perfusate volume in the circuit in mL
        perfusate_ml: [50.0, 10_000.0],
        /// perfusate specific heat in J/(g·K)
        perfusate_j_g_k: [1.0, 5.0],
        /// heat capacity of circuit parts at perfusate temperature in J/K
        circuit_j_k: [0.0, 100_000.0],
        /// perfusate temperature at the start in °C
        perfusate_start_c: [-2.0, 45.0],
        /// room temperature in °C
        ambient_c: [-10.0, 45.0],
        /// perfusate-to-room heat conductance in W/K
        ambient_ua_w_k: [0.0, 100.0],
        /// ice-container temperature in °C
        ice_c: [-5.0, 25.0],
        /// ice-to-perfusate heat conductance in W/K (0: no ice)
        ice_ua_w_k: [0.0, 100.0],
        /// water volume of the heat exchanger in mL
        exchanger_ml: [10.0, 10_000.0],
        /// exchanger-to-perfusate heat conductance in W/K (0: no exchanger)
        exchanger_ua_w_k: [0.0, 1000.0],
        /// metabolic heat of the kidney at 37 °C in mW/g
        metabolic_mw_g: [0.0, 100.0],
        /// factor by which metabolism and urine rise per 10 °C
        q10: [1.0, 5.0],
        /// urine rate at 75 mmHg mean pressure and 36 °C in mL/h
        urine_ml_h: [0.0, 1000.0],
        /// mean pressure below which no urine forms in mmHg
        urine_threshold_mmhg: [0.0, 70.0],
        /// perfusate volume below which the pump draws air in mL
        reservoir_dry_ml: [0.0, 1000.0],
    }
}

impl KidneyParams {
    /// The defaults of each mode; every number is sourced (§ of docs/clinical-basis.md) or
    /// marked as my choice.
    pub(crate) fn defaults(normothermic: bool) -> Self {
        let pick = |hmp: f64, nmp: f64| if normothermic { nmp } else { hmp };
        KidneyParams {
            normothermic: pick(0.0, 1.0),
            // §10.2 [T].
            kidney_mass_g: 150.0,
            // My choice: with R = 0.235 and a ±60 % pump modulation at 60 bpm the pulse pressure is
            // ~9 mmHg, inside the LifePort's 28–30 / 16–28 mmHg (§4A).
            compliance_ml_mmhg: 0.04,
            // HMP: least-squares fit of R_inf + A_f·e^(−t/τ_f) + A_s·e^(−t/τ_s) to ST-0001's RI
            // (0.77 at 1 min, 0.40 at 5, 0.35 at 10, 0.24 at 30, 0.25 at 120, 0.23 at 240) with
            // τ_f = 2 min, τ_s = 12 min [D from §4A/§10.2]: R(0) = 1.0, between the fitted RI_0
            // of 0.93 and 1.22. Held at a mean 27 mmHg this gives 34, 64, 82, 107 and 115 mL/min
            // at 1, 5, 10, 30 and 120 min (ST-0001: 31, 62, 74, 105, 103).
            // NMP: 75 mmHg / 225 mL/min = 0.33 [D, §10.2]; the vasoconstricted
            // start (0.63, 10-min washout) is my choice.
            r_inf_mmhg_min_ml: pick(0.235, 0.33),
            // A_f and A_s refitted from 0.57 and 0.20 with the viscosity of ST-0001's warmer
            // first minutes (§10.5).
            r_fast_mmhg_min_ml: pick(0.62, 0.30),
            r_fast_tau_s: pick(120.0, 600.0),
            r_slow_mmhg_min_ml: pick(0.23, 0.0),
            r_slow_tau_s: pick(720.0, 1800.0),
            // HMP: ST-0001's perfusate after its first hour, when its plateau RI was logged
            // (4.8 °C, §4A) [D]; NMP: the 36 °C of the §10.2 resistance.
            viscosity_ref_c: pick(4.8, 36.0),
            // §10.4 [T]: LifePort ~1 L; NMP 0.5–1 L (midpoint).
            perfusate_ml: pick(1000.0, 750.0),
            // §10.3 [T]: crystalloid ~4.1, blood ~3.6 J/(g·K).
            perfusate_j_g_k: pick(4.1, 3.6),
            // My choice: a LifePort cassette; the oxygenator, reservoir and tubing of a
            // paediatric bypass circuit for NMP.
            circuit_j_k: pick(500.0, 1000.0),
            // HMP: ST-0001 (§4A); NMP: my choice.
            perfusate_start_c: pick(8.6, 30.0),
            // My choice: room temperature.
            ambient_c: 22.0,
            // HMP: with the ice conductance below, ST-0001's 8.6 → 4.8 °C settling and a cooling
            // time constant of 1 h (§10.2) [D]. NMP: my choice, ~40 W lost at 36 °C.
            ambient_ua_w_k: pick(0.24, 3.0),
            // §4A [S]: ice container ~1.2 °C.
            ice_c: 1.2,
            // HMP [D], see ambient_ua_w_k; NMP has no ice.
            ice_ua_w_k: pick(1.17, 0.0),
            // My choice: the water side of a small heater-cooler circuit.
            exchanger_ml: 300.0,
            // A LifePort has no heat exchanger; NMP: my choice, a ~1-min exchanger lag with which a
            // PI loop on perfusate temperature warms 30 → 36 °C in ~5 min at ≤ 200 W.
            exchanger_ua_w_k: pick(0.0, 20.0),
            // [D] kidneys use ~7 % of a 250 mL/min whole-body VO2 (§10.2, phys-2) for ~300 g of
            // kidney: 0.058 mL O2/min/g × 20.1 J/mL (oxycaloric equivalent) = 19.5 mW/g.
            metabolic_mw_g: 19.5,
            // §10.1 [T]: Q10 2–3.
            q10: 2.5,
            // My choice inside the 40–260 mL/h of viable kidneys (§4B, §10.2).
            urine_ml_h: 100.0,
            // My choice: filtration stops well below the NMP MAP (~75 mmHg, §4B [T]).
            urine_threshold_mmhg: 30.0,
            // My choice.
            reservoir_dry_ml: 50.0,
        }
    }
}

/// Mean arterial pressure at which `urine_ml_h` is given, mmHg (§4B [T]).
const URINE_REF_MAP_MMHG: f64 = 75.0;
/// Temperature at which `urine_ml_h` is given, °C (§4B).
const URINE_REF_C: f64 = 36.0;
/// Renal flow above which the kidney counts as perfused, mL/min (EXAM, §4A/§9 [S]).
const PERFUSED_ML_MIN: f64 = 5.0;

fn build(given: &BTreeMap<String, f64>) -> Result<Box<dyn Plant>, String> {
    let normothermic = mode(
        given,
        "normothermic",
        false,
        ("hypothermic", "normothermic"),
    )?;
    let mut p = KidneyParams::defaults(normothermic);
    p.apply(given)?;
    if p.reservoir_dry_ml >= p.perfusate_ml {
        return Err(format!(
            "simulator param `reservoir_dry_ml` = {} must be below `perfusate_ml` = {}",
            p.reservoir_dry_ml, p.perfusate_ml
        ));
    }
    Ok(Box::new(Kidney::new(p)))
}

/// The kidney plant's state.
struct Kidney {
    p: KidneyParams,
    // Hydraulics.
    pressure_mmhg: f64,
    r_fast: f64,
    r_slow: f64,
    occlusion: f64,
    /// Perfusate viscosity relative to that at `viscosity_ref_c`, from the step's start.
    viscosity: f64,
    leak_ml_min_mmhg: f64,
    leaked_ml: f64,
    air: bool,
    // Heat: [exchanger water, perfusate] in °C.
    thermal: TwoNode,
    temps_c: [f64; 2],
    exchanger_j_k: f64,
    perfusate_j_k: f64,
    /// Heat flowing in from ice and room at 0 °C node temperature, W.
    surroundings_w: f64,
    metabolic_w_37: f64,
    ln_q10_per_c: f64,
    /// Urine rate per mmHg above threshold at 37 °C, mL/s.
    urine_ml_s_mmhg_37: f64,
    urine_ml: f64,
    urine_ml_min: f64,
    // Per-step factors, recomputed when dt changes.
    dt_s: f64,
    fast_decay: f64,
    slow_decay: f64,
    out: [f64; OUTPUTS],
}

impl Kidney {
    fn new(p: KidneyParams) -> Self {
        let exchanger_j_k = p.exchanger_ml * DENSITY_G_ML * WATER_J_G_K;
        let perfusate_j_k = p.perfusate_ml * DENSITY_G_ML * p.perfusate_j_g_k
            + p.kidney_mass_g * TISSUE_J_G_K
            + p.circuit_j_k;
        let ln_q10_per_c = p.q10.ln() / 10.0;
        let urine_ml_s_at_ref =
            p.urine_ml_h / 3600.0 / (URINE_REF_MAP_MMHG - p.urine_threshold_mmhg);
        let mut k = Kidney {
            pressure_mmhg: 0.0,
            r_fast: p.r_fast_mmhg_min_ml,
            r_slow: p.r_slow_mmhg_min_ml,
            occlusion: 1.0,
            viscosity: viscosity_ratio(p.perfusate_start_c, p.viscosity_ref_c),
            leak_ml_min_mmhg: 0.0,
            leaked_ml: 0.0,
            air: false,
            thermal: TwoNode::new(
                exchanger_j_k,
                perfusate_j_k,
                p.exchanger_ua_w_k,
                0.0,
                p.ice_ua_w_k + p.ambient_ua_w_k,
            ),
            temps_c: [p.perfusate_start_c; 2],
            exchanger_j_k,
            perfusate_j_k,
            surroundings_w: p.ice_ua_w_k * p.ice_c + p.ambient_ua_w_k * p.ambient_c,
            metabolic_w_37: p.metabolic_mw_g * 1e-3 * p.kidney_mass_g,
            ln_q10_per_c,
            urine_ml_s_mmhg_37: urine_ml_s_at_ref
                * (ln_q10_per_c * (METABOLIC_REF_C - URINE_REF_C)).exp(),
            urine_ml: 0.0,
            urine_ml_min: 0.0,
            dt_s: 0.0,
            fast_decay: 1.0,
            slow_decay: 1.0,
            out: [0.0; OUTPUTS],
            p,
        };
        k.publish(0.0, k.resistance());
        k
    }

    fn set_dt(&mut self, dt_s: f64) {
        self.fast_decay = (-dt_s / self.p.r_fast_tau_s).exp();
        self.slow_decay = (-dt_s / self.p.r_slow_tau_s).exp();
        self.dt_s = dt_s;
    }

    fn resistance(&self) -> f64 {
        (self.p.r_inf_mmhg_min_ml + self.r_fast + self.r_slow) * self.occlusion * self.viscosity
    }

    fn perfusate_left_ml(&self) -> f64 {
        (self.p.perfusate_ml - self.leaked_ml).max(0.0)
    }

    fn publish(&mut self, line_flow: f64, r: f64) {
        let air = self.air || self.perfusate_left_ml() <= self.p.reservoir_dry_ml;
        self.out = [
            self.pressure_mmhg,
            line_flow,
            self.pressure_mmhg / r,
            self.temps_c[1],
            self.temps_c[0],
            self.p.ice_c,
            if air { 1.0 } else { 0.0 },
            self.perfusate_left_ml(),
            self.urine_ml,
            self.urine_ml_min,
        ];
    }
}

impl Plant for Kidney {
    fn step(&mut self, inputs: &[f64; MAX_INPUTS], dt_s: f64) {
        if dt_s != self.dt_s {
            self.set_dt(dt_s);
        }
        // Hydraulics, exact for the line flow held over the step.
        self.viscosity = viscosity_ratio(self.temps_c[1], self.p.viscosity_ref_c);
        let r = self.resistance();
        let line_flow = if inputs[CLAMP] >= 0.5 {
            0.0
        } else {
            inputs[PUMP].max(0.0)
        };
        let conductance = 1.0 / r + self.leak_ml_min_mmhg;
        let p_end = line_flow / conductance;
        let tau_s = 60.0 * self.p.compliance_ml_mmhg / conductance;
        let decay = (-dt_s / tau_s).exp();
        let p0 = self.pressure_mmhg;
        self.pressure_mmhg = p_end + flush((p0 - p_end) * decay);
        let p_mean = p_end + (p0 - p_end) * tau_s * (1.0 - decay) / dt_s;
        if p_mean / r > PERFUSED_ML_MIN {
            self.r_fast = flush(self.r_fast * self.fast_decay);
            self.r_slow = flush(self.r_slow * self.slow_decay);
        }
        self.leaked_ml += self.leak_ml_min_mmhg * p_mean * dt_s / 60.0;

        // Temperature dependence of metabolism and urine, from the step's start temperature.
        let q10_factor = ((self.temps_c[1] - METABOLIC_REF_C) * self.ln_q10_per_c).exp();
        let heat_in = [
            inputs[HEATER].max(0.0) / self.exchanger_j_k,
            (self.surroundings_w + self.metabolic_w_37 * q10_factor) / self.perfusate_j_k,
        ];
        self.thermal.step(&mut self.temps_c, heat_in, dt_s);

        let filtration_mmhg = (p_mean - self.p.urine_threshold_mmhg).max(0.0);
        let urine_ml_s = self.urine_ml_s_mmhg_37 * q10_factor * filtration_mmhg;
        self.urine_ml += urine_ml_s * dt_s;
        self.urine_ml_min = urine_ml_s * 60.0;

        self.publish(line_flow, r);
    }

    fn outputs(&self) -> &[f64] {
        &self.out
    }

    fn inject(&mut self, fault: PlantFault) {
        match fault {
            PlantFault::Air => self.air = true,
            PlantFault::Occlusion { factor } => self.occlusion = factor,
            PlantFault::Leak {
                resistance_mmhg_min_ml,
            } => self.leak_ml_min_mmhg = 1.0 / resistance_mmhg_min_ml,
            // The kidney model declares no events, so none can be injected.
            PlantFault::Event(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plant(pairs: &[(&str, f64)]) -> Kidney {
        let mut p =
            KidneyParams::defaults(pairs.iter().any(|(k, v)| *k == "normothermic" && *v == 1.0));
        p.apply(&pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect())
            .unwrap();
        Kidney::new(p)
    }

    fn inputs(pump: f64, clamp: f64, heater: f64) -> [f64; MAX_INPUTS] {
        let mut u = [0.0; MAX_INPUTS];
        u[PUMP] = pump;
        u[CLAMP] = clamp;
        u[HEATER] = heater;
        u
    }

    #[test]
    fn hmp_resistance_follows_the_lifeport_trajectory() {
        let mut k = plant(&[]);
        let u = inputs(100.0, 0.0, 0.0);
        let ri_at = |k: &mut Kidney, until_s: f64, t: &mut f64| {
            while *t < until_s - 1e-9 {
                k.step(&u, 0.5);
                *t += 0.5;
            }
            k.out[PRESSURE] / k.out[LINE_FLOW]
        };
        let mut t = 0.0;
        let checks = [
            (60.0, 0.70, 0.85),
            (300.0, 0.36, 0.45),
            (600.0, 0.30, 0.38),
            (1800.0, 0.22, 0.27),
            (7200.0, 0.14, 0.25),
        ];
        for (at, lo, hi) in checks {
            let ri = ri_at(&mut k, at, &mut t);
            assert!(ri > lo && ri < hi, "RI {ri} at {at} s, expected {lo}–{hi}");
        }
    }

    #[test]
    fn a_kidney_on_too_little_ice_is_warmer_and_has_a_lower_resistance() {
        // Ice at 1.2 °C against the 3.3–5 °C of an insufficient ice load (§4A).
        let run = |ice_c: f64| {
            let mut k = plant(&[("ice_c", ice_c)]);
            for _ in 0..7200 {
                k.step(&inputs(100.0, 0.0, 0.0), 1.0);
            }
            (k.out[PERFUSATE_T], k.out[PRESSURE] / k.out[LINE_FLOW])
        };
        let (cold_t, cold_ri) = run(1.2);
        let (warm_t, warm_ri) = run(5.0);
        assert!(warm_t > cold_t + 2.0, "{cold_t} → {warm_t} °C");
        let expected = viscosity_ratio(warm_t, cold_t);
        assert!(
            (warm_ri / cold_ri - expected).abs() < 1e-3,
            "RI {cold_ri} → {warm_ri}, viscosity ratio {expected}"
        );
        assert!(warm_ri < 0.93 * cold_ri, "RI {cold_ri} → {warm_ri}");
    }

    #[test]
    fn resistance_does_not_wash_out_without_flow() {
        let mut k = plant(&[]);
        let r0 = (k.r_fast, k.r_slow);
        for _ in 0..600 {
            k.step(&inputs(100.0, 1.0, 0.0), 1.0);
        }
        assert_eq!((k.r_fast, k.r_slow), r0);
        assert_eq!(k.out[LINE_FLOW], 0.0);
    }

    #[test]
    fn nmp_flow_at_map_75_is_200_to_250_after_an_hour() {
        // At the 36 °C the resistance is given for (§10.2).
        let mut k = plant(&[
            ("normothermic", 1.0),
            ("perfusate_start_c", 36.0),
            ("ambient_c", 36.0),
        ]);
        for _ in 0..3600 {
            let flow = 75.0 / k.resistance();
            k.step(&inputs(flow, 0.0, 0.0), 1.0);
        }
        let q = k.out[RENAL_FLOW];
        assert!((200.0..=250.0).contains(&q), "renal flow {q}");
    }

    #[test]
    fn nmp_urine_is_near_100_ml_per_hour_at_map_75_and_36_c() {
        let mut k = plant(&[
            ("normothermic", 1.0),
            ("perfusate_start_c", 36.0),
            ("ambient_c", 36.0),
            ("metabolic_mw_g", 0.0),
        ]);
        for _ in 0..3600 {
            let flow = 75.0 / k.resistance();
            k.step(&inputs(flow, 0.0, 0.0), 1.0);
        }
        assert!((k.out[URINE_ML] - 100.0).abs() < 2.0, "{}", k.out[URINE_ML]);
        assert!((k.out[URINE_ML_MIN] - 100.0 / 60.0).abs() < 0.02);
    }

    #[test]
    fn mode_flag_must_be_zero_or_one() {
        let err = build(&[("normothermic".to_string(), 0.5)].into())
            .err()
            .unwrap();
        assert!(err.contains("`normothermic` = 0.5"), "{err}");
    }

    #[test]
    fn dry_level_must_be_below_the_volume() {
        let given = [
            ("perfusate_ml".to_string(), 100.0),
            ("reservoir_dry_ml".to_string(), 200.0),
        ];
        let err = build(&given.into()).err().unwrap();
        assert!(err.contains("reservoir_dry_ml"), "{err}");
    }
}
