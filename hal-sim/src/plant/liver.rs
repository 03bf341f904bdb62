//! Liver on a dual-inflow perfusion circuit, normothermic (OrganOx/Liver4Life-like NMP, §3A) or
//! hypothermic oxygenated (HOPE / D-HOPE, §3B), chosen by the `normothermic` parameter.
//!
//! - Hydraulics (§10.1): two roller pumps feed the hepatic-artery (HA) and portal-vein (PV)
//!   compliances, which drain through their beds into the outflow (IVC) node; the outflow drains
//!   through `R_out` into the reservoir at 0 mmHg. The outflow node has no compliance, so its
//!   pressure is the algebraic `P_o = R_out·(Q_HA + Q_PV)`; the two node pressures then follow a
//!   linear 2×2 system, stepped by backward Euler (one 2×2 solve per step, stable for any step).
//! - Resistances: `R = R_inf + A·e^(−t/τ)` per bed, `t` counting only perfused time; an occlusion
//!   multiplies both inflow beds; the vasodilator lowers the HA bed by up to `vasodilator_max`
//!   (Emax model on its perfusate concentration). Both beds are given at `viscosity_ref_c` and
//!   scale with the perfusate's viscosity (water's, §10.5), so a HOPE liver kept at 14 °C instead
//!   of 10 °C has ~11 % lower resistances.
//! - Heat (§10.1, two nodes): as the kidney model — exchanger water and a perfusate node that
//!   lumps perfusate, liver and circuit; the exchanger takes a heater or heater-cooler.
//! - Metabolism, all scaled by `q10^((T−37)/10)` and advanced by explicit steps (their time
//!   constants are minutes, the step hundredths of a second):
//!   lactate `dL/dt = (L_ss − L)/τ_L` (§10.1: production `L_ss/τ_L`, clearance `L/τ_L`);
//!   glucose `dG/dt = release·(1 + glucagon effect) − uptake·(1 + insulin effect)·G`, release
//!   = basal + glycogenolysis decaying with metabolic time (§10.2: hyperglycaemia early,
//!   hypoglycaemia late); drugs are cleared first-order with `drug_tau_s`;
//!   `pCO2` rises with CO2 production and falls with the oxygenator sweep,
//!   `pH = 6.1 + log10(HCO3/(0.0307·pCO2))` with `HCO3 = hco3_base − lactate` (lactic acid
//!   titrates bicarbonate); bile flows at `bile_ml_h` after an onset, with a bile–perfusate pH
//!   difference `bile_dph` that builds with it. Metabolism runs whether or not the liver is
//!   perfused: a stopped inflow is a fault that the protocol's rules end within seconds.
//! - Inputs: one input serves both line clamps, so a closed clamp on either line stops both
//!   inflows (every protocol closes them together).
//! - Faults: air sets the bubble output; an occlusion multiplies both inflow beds; a leak opens
//!   a path from the HA line; the event `outflow-obstruction` multiplies `R_out`.

use std::collections::BTreeMap;

use perfuse_hal::{ActuatorKind as A, SensorKind as S};

use super::physics::{METABOLIC_REF_C, WATER_J_G_K, flush, viscosity_ratio};
use super::thermal::TwoNode;
use super::{MAX_INPUTS, Model, Plant, PlantFault, Site};
use crate::params::{mode, param_set};

// Output points.
const HA_PRESSURE: usize = 0;
const HA_FLOW: usize = 1;
const PV_PRESSURE: usize = 2;
const PV_FLOW: usize = 3;
const IVC_PRESSURE: usize = 4;
const OUTFLOW: usize = 5;
const PERFUSATE_T: usize = 6;
const EXCHANGER_T: usize = 7;
const AIR: usize = 8;
const LACTATE: usize = 9;
const GLUCOSE: usize = 10;
const PH: usize = 11;
const PCO2: usize = 12;
const BILE_ML: usize = 13;
const BILE_PH: usize = 14;
const BILE_ML_MIN: usize = 15;
const OUTPUTS: usize = 16;

// Inputs.
const HA_PUMP: usize = 0;
const PV_PUMP: usize = 1;
const CLAMP: usize = 2;
const HEAT: usize = 3;
const VASODILATOR: usize = 4;
const INSULIN: usize = 5;
const GLUCAGON: usize = 6;
const SWEEP: usize = 7;

/// Index of the `outflow-obstruction` event in [`MODEL`]`.events`.
const OUTFLOW_OBSTRUCTION: usize = 0;

/// The liver model as the protocol's `simulator.model` names it.
pub(crate) const MODEL: Model = Model {
    name: "liver",
    summary: "hepatic artery and portal beds, lactate, bile, glucose, pH",
    mode: Some(("normothermic", true)),
    defaults: |m| LiverParams::defaults(m).values(),
    sources: PARAM_SOURCES,
    params: LiverParams::DEFS,
    sites: &[
        Site {
            name: "ha_line",
            sensors: &[
                (S::Pressure, HA_PRESSURE),
                (S::Flow, HA_FLOW),
                (S::Temperature, PERFUSATE_T),
                (S::Bubble, AIR),
            ],
            actuators: &[(A::RollerPump, HA_PUMP), (A::Clamp, CLAMP)],
        },
        Site {
            name: "pv_line",
            sensors: &[
                (S::Pressure, PV_PRESSURE),
                (S::Flow, PV_FLOW),
                (S::Temperature, PERFUSATE_T),
                (S::Bubble, AIR),
            ],
            actuators: &[(A::RollerPump, PV_PUMP), (A::Clamp, CLAMP)],
        },
        Site {
            name: "ivc",
            sensors: &[(S::Pressure, IVC_PRESSURE), (S::Flow, OUTFLOW)],
            actuators: &[],
        },
        Site {
            name: "reservoir",
            sensors: &[(S::Temperature, PERFUSATE_T)],
            actuators: &[],
        },
        Site {
            name: "heat_exchanger",
            sensors: &[(S::Temperature, EXCHANGER_T)],
            actuators: &[(A::Heater, HEAT), (A::HeaterCooler, HEAT)],
        },
        Site {
            name: "oxygenator",
            sensors: &[(S::PartialPressure, PCO2), (S::Ph, PH)],
            actuators: &[(A::GasFlow, SWEEP)],
        },
        Site {
            name: "lactate_analyser",
            sensors: &[(S::Concentration, LACTATE)],
            actuators: &[],
        },
        Site {
            name: "glucose_analyser",
            sensors: &[(S::Concentration, GLUCOSE)],
            actuators: &[],
        },
        Site {
            name: "bile_duct",
            sensors: &[
                (S::Volume, BILE_ML),
                (S::Ph, BILE_PH),
                (S::Flow, BILE_ML_MIN),
            ],
            actuators: &[],
        },
        Site {
            name: "vasodilator",
            sensors: &[],
            actuators: &[(A::InfusionPump, VASODILATOR)],
        },
        Site {
            name: "insulin",
            sensors: &[],
            actuators: &[(A::InfusionPump, INSULIN)],
        },
        Site {
            name: "glucagon",
            sensors: &[],
            actuators: &[(A::InfusionPump, GLUCAGON)],
        },
    ],
    events: &[(
        "outflow-obstruction",
        "the outflow resistance is multiplied by `obstruction_factor`",
    )],
    build,
};

/// Where each parameter's default comes from (docs/clinical-basis.md), condensed from the
/// comments at the defaults; `perfuse models` shows them.
const PARAM_SOURCES: &[(&str, &str)] = &[
    ("liver_mass_g", "§10.2 [S 3A-6]"),
    ("ha_compliance_ml_mmhg", "my choice"),
    ("pv_compliance_ml_mmhg", "my choice"),
    (
        "r_ha_inf_mmhg_min_ml",
        "§10.2 §3B [D §10.2] [T] [D]; my choice",
    ),
    (
        "r_ha_extra_mmhg_min_ml",
        "§10.2 §3B [D §10.2] [T] [D]; my choice",
    ),
    ("r_ha_tau_s", "§10.2 §3B [D §10.2] [T] [D]; my choice"),
    ("r_pv_inf_mmhg_min_ml", "§10.2 [D §10.2] [T] [D]"),
    ("r_pv_extra_mmhg_min_ml", "§10.2 [D §10.2] [T] [D]"),
    ("r_pv_tau_s", "§10.2 [D §10.2] [T] [D]"),
    ("viscosity_ref_c", "§3A §3B"),
    ("r_out_mmhg_min_ml", "§3A [T] [D]"),
    ("obstruction_factor", "my choice"),
    ("perfusate_ml", "§10.4 [T]"),
    ("perfusate_j_g_k", "§10.3 [T]"),
    ("circuit_j_k", "my choice"),
    ("perfusate_start_c", "my choice"),
    ("ambient_c", "my choice"),
    ("ambient_ua_w_k", "my choice"),
    ("exchanger_ml", "my choice"),
    ("exchanger_ua_w_k", "my choice"),
    ("metabolic_mw_g", "§10.2 [D]"),
    ("q10", "§10.1 [T]"),
    ("lactate_start_mmol_l", "§10.2 §10.5 [S 3A-1]"),
    ("lactate_steady_mmol_l", "§10.2 §10.5 [S 3A-1]"),
    ("lactate_tau_s", "§10.2 §10.5 [S 3A-1]"),
    ("glucose_start_mmol_l", "§10.2; my choice"),
    ("glucose_release_mmol_l_h", "§10.2; my choice"),
    ("glycogen_release_mmol_l_h", "§10.2; my choice"),
    ("glycogen_tau_s", "§10.2; my choice"),
    ("glucose_uptake_per_h", "§10.2; my choice"),
    ("insulin_gain", "§10.2; my choice"),
    ("insulin_ec50_ml_l", "§10.2; my choice"),
    ("glucagon_gain", "§10.2; my choice"),
    ("glucagon_ec50_ml_l", "§10.2; my choice"),
    ("vasodilator_max", "§10.2; my choice"),
    ("vasodilator_ec50_ml_l", "§10.2; my choice"),
    ("drug_tau_s", "§10.2; my choice"),
    ("hco3_base_mmol_l", "my choice"),
    ("pco2_start_mmhg", "my choice"),
    ("co2_production_mmhg_min", "my choice"),
    ("co2_removal_per_l", "my choice"),
    ("bile_ml_h", "§3A [S 3A-3]; my choice"),
    ("bile_onset_s", "§3A [S 3A-3]; my choice"),
    ("bile_dph", "my choice"),
];

param_set! {
    /// Liver model parameters; defaults depend on `normothermic` (see [`LiverParams::defaults`]).
    pub(crate) struct LiverParams {
        /// 0 = hypothermic oxygenated perfusion (HOPE/D-HOPE), 1 = normothermic (NMP)
        normothermic: [0.0, 1.0],
        /// liver mass in g
        liver_mass_g: [100.0, 5000.0],
        /// HA line compliance in mL/mmHg
        ha_compliance_ml_mmhg: [0.001, 10.0],
        /// PV line compliance in mL/mmHg
        pv_compliance_ml_mmhg: [0.001, 50.0],
        /// HA bed resistance plateau in mmHg/(mL/min)
        r_ha_inf_mmhg_min_ml: [0.01, 20.0],
        /// initial excess of the HA resistance in mmHg/(mL/min)
        r_ha_extra_mmhg_min_ml: [0.0, 20.0],
        /// time constant of the HA resistance fall in s of perfusion
        r_ha_tau_s: [1.0, 1.0e6],
        /// PV bed resistance plateau in mmHg/(mL/min)
        r_pv_inf_mmhg_min_ml: [0.0005, 5.0],
        /// initial excess of the PV resistance in mmHg/(mL/min)
        r_pv_extra_mmhg_min_ml: [0.0, 5.0],
        /// time constant of the PV resistance fall in s of perfusion
        r_pv_tau_s: [1.0, 1.0e6],
        /// perfusate temperature at which the bed resistances hold in °C
        viscosity_ref_c: [-2.0, 45.0],
        /// outflow (IVC cannula to reservoir) resistance in mmHg/(mL/min)
        r_out_mmhg_min_ml: [0.0, 1.0],
        /// factor on the outflow resistance after the `outflow-obstruction` event
        obstruction_factor: [1.0, 1000.0],
        /// perfusate volume in the circuit in mL
        perfusate_ml: [100.0, 10_000.0],
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
        /// water volume of the heat exchanger in mL
        exchanger_ml: [10.0, 10_000.0],
        /// exchanger-to-perfusate heat conductance in W/K
        exchanger_ua_w_k: [0.0, 1000.0],
        /// metabolic heat of the liver at 37 °C in mW/g
        metabolic_mw_g: [0.0, 100.0],
        /// factor by which metabolism rises per 10 °C
        q10: [1.0, 5.0],
        /// perfusate lactate at the start in mmol/L
        lactate_start_mmol_l: [0.0, 30.0],
        /// lactate the liver settles to at 37 °C in mmol/L (production over clearance)
        lactate_steady_mmol_l: [0.0, 30.0],
        /// time constant of lactate clearance at 37 °C in s
        lactate_tau_s: [60.0, 1.0e6],
        /// perfusate glucose at the start in mmol/L
        glucose_start_mmol_l: [0.0, 60.0],
        /// basal hepatic glucose release at 37 °C in mmol/L per h
        glucose_release_mmol_l_h: [0.0, 100.0],
        /// initial extra release from glycogenolysis at 37 °C in mmol/L per h
        glycogen_release_mmol_l_h: [0.0, 100.0],
        /// time constant of the glycogenolysis burst at 37 °C in s
        glycogen_tau_s: [60.0, 1.0e6],
        /// glucose uptake rate constant at 37 °C without insulin, per h
        glucose_uptake_per_h: [0.0, 100.0],
        /// largest relative rise of glucose uptake with insulin
        insulin_gain: [0.0, 100.0],
        /// insulin concentration of half effect in mL of infusate per L of perfusate
        insulin_ec50_ml_l: [1.0e-6, 100.0],
        /// largest relative rise of glucose release with glucagon
        glucagon_gain: [0.0, 100.0],
        /// glucagon concentration of half effect in mL of infusate per L of perfusate
        glucagon_ec50_ml_l: [1.0e-6, 100.0],
        /// largest fractional fall of HA resistance with the vasodilator
        vasodilator_max: [0.0, 0.95],
        /// vasodilator concentration of half effect in mL of infusate per L of perfusate
        vasodilator_ec50_ml_l: [1.0e-6, 100.0],
        /// time constant of drug clearance from the perfusate in s
        drug_tau_s: [1.0, 1.0e6],
        /// perfusate bicarbonate at zero lactate in mmol/L
        hco3_base_mmol_l: [2.0, 60.0],
        /// perfusate pCO2 at the start in mmHg
        pco2_start_mmhg: [1.0, 200.0],
        /// rise of pCO2 from CO2 production at 37 °C in mmHg/min
        co2_production_mmhg_min: [0.0, 200.0],
        /// CO2 removal rate constant per L/min of sweep, per min
        co2_removal_per_l: [0.001, 10.0],
        /// bile production once established at 37 °C in mL/h
        bile_ml_h: [0.0, 100.0],
        /// time constant of the onset of bile production at 37 °C in s
        bile_onset_s: [1.0, 1.0e6],
        /// bile pH minus perfusate pH once bile flows
        bile_dph: [-1.0, 1.0],
    }
}

impl LiverParams {
    /// The defaults of each mode; every number is sourced (§ of docs/clinical-basis.md) or
    /// marked as my choice. Scenario overrides live in the protocol files.
    pub(crate) fn defaults(normothermic: bool) -> Self {
        let pick = |hope: f64, nmp: f64| if normothermic { nmp } else { hope };
        LiverParams {
            normothermic: pick(0.0, 1.0),
            // ~1.5 kg: 2.5 % of a 60-kg body weight (§10.2 [S 3A-6], my weight).
            liver_mass_g: 1500.0,
            // My choice: HA pulse pressure ~15 mmHg at 60 bpm with a ±30 % pump modulation.
            ha_compliance_ml_mmhg: 0.03,
            // My choice: a PV time constant near 1 s.
            pv_compliance_ml_mmhg: 2.0,
            // NMP: 70 mmHg / 200 mL/min ≈ 0.35 [D §10.2]; plateau 0.22 gives ~290 mL/min at
            // 65 mmHg, inside 100–250+ (§10.2), from a vasoconstricted 0.55 (my choice).
            // HOPE: D-HOPE HA 25 mmHg / 50–100 mL/min (§3B [T]) → 0.33 plateau [D].
            r_ha_inf_mmhg_min_ml: pick(0.33, 0.22),
            r_ha_extra_mmhg_min_ml: pick(0.3, 0.33),
            r_ha_tau_s: pick(1200.0, 900.0),
            // NMP: (8 − 2) mmHg / 800 mL/min = 0.0075 [D §10.2]; 0.0065 puts PV at ~8.5 mmHg for 1 L/min. HOPE: PV 3 mmHg for
            // 150–300 mL/min, rising over the first 30–60 min (§10.2 [T]): 0.012 from 0.03 [D].
            r_pv_inf_mmhg_min_ml: pick(0.012, 0.0065),
            r_pv_extra_mmhg_min_ml: pick(0.018, 0.003),
            r_pv_tau_s: pick(1200.0, 900.0),
            // The temperatures the flows above are given at: 10 °C HOPE, 37 °C NMP (§3A, §3B).
            viscosity_ref_c: pick(10.0, 37.0),
            // IVC ~0–3 mmHg with free outflow (§3A [T]): 2 mmHg at ~1.2 L/min [D].
            r_out_mmhg_min_ml: 0.0017,
            // My choice: a kinked outflow cannula.
            obstruction_factor: 20.0,
            // §10.4 [T]: NMP ~2 L red-cell perfusate; HOPE ~3 L Belzer MPS.
            perfusate_ml: pick(3000.0, 2000.0),
            // §10.3 [T]: crystalloid ~4.1, blood ~3.6 J/(g·K).
            perfusate_j_g_k: pick(4.1, 3.6),
            // My choice: oxygenator, reservoir and tubing.
            circuit_j_k: 1000.0,
            // My choice: perfusate and a cold-stored liver mixing (NMP); a pre-cooled circuit
            // (HOPE).
            perfusate_start_c: pick(8.0, 32.0),
            // My choice: room temperature.
            ambient_c: 22.0,
            // My choice: ~40 W lost at 37 °C (NMP); an insulated organ chamber (HOPE).
            ambient_ua_w_k: pick(1.5, 2.7),
            // My choice: the water side of a heater-cooler circuit.
            exchanger_ml: 300.0,
            // My choice: a ~1-min exchanger lag.
            exchanger_ua_w_k: 30.0,
            // [D] ~20 % of a 250 mL/min whole-body VO2 (§10.2) for 1.5 kg: 0.033 mL O2/min/g
            // × 20.1 J/mL = 11 mW/g.
            metabolic_mw_g: 11.0,
            // §10.1 [T]: Q10 2–3.
            q10: 2.5,
            // Viable defaults (§10.2 [S 3A-1]: clearing livers 3.0 mmol/L at 2 h): from 8 mmol/L
            // with τ 90 min at 37 °C to 0.8 gives ~3.0 at 2 h of NMP (the first minutes are
            // cooler, §10.5), 2.4 at 2.5 h (above the Groningen 1.7, as Mergental's clearing
            // livers were) and 1.3 at 4 h (VITTAL ≤ 2.5). Injured livers are a scenario in the
            // protocol file.
            lactate_start_mmol_l: 8.0,
            lactate_steady_mmol_l: 0.8,
            lactate_tau_s: 5400.0,
            // My choices for the §10.2 behaviour (hyperglycaemia early → insulin; hypoglycaemia
            // late → glucagon): release and uptake balance at 3.6 mmol/L, a glycogen burst
            // lifts glucose above 10 mmol/L in the first hour.
            glucose_start_mmol_l: 8.0,
            glucose_release_mmol_l_h: 3.6,
            glycogen_release_mmol_l_h: 16.0,
            glycogen_tau_s: 3600.0,
            glucose_uptake_per_h: 1.0,
            insulin_gain: 3.0,
            insulin_ec50_ml_l: 0.2,
            glucagon_gain: 1.0,
            glucagon_ec50_ml_l: 0.2,
            vasodilator_max: 0.4,
            vasodilator_ec50_ml_l: 0.2,
            drug_tau_s: 1200.0,
            // My choice: bicarbonate-buffered prime; 32 − 8 mmol/L lactate = 24 at the start,
            // pH 7.40 at pCO2 40 mmHg.
            hco3_base_mmol_l: 32.0,
            pco2_start_mmhg: 40.0,
            // My choice: pCO2 40 mmHg at 1 L/min sweep and 37 °C, time constant 2 min.
            co2_production_mmhg_min: 20.0,
            co2_removal_per_l: 0.5,
            // My choice: ~6 mL/h once established gives > 10 mL in 2.5 h with ≥ 4 mL in the last
            // hour (Groningen, §3A [S 3A-3]).
            bile_ml_h: 6.0,
            bile_onset_s: 1800.0,
            // My choice: bile pH ~7.55 with a perfusate at 7.40 (Groningen: > 7.45, ΔpH > 0.10).
            bile_dph: 0.15,
        }
    }
}

/// Metabolism stops rising above this temperature, °C (my choice: hyperthermic injury; without
/// it the Q10 law would let metabolic heat run away in a heater fault).
const METABOLIC_MAX_C: f64 = 42.0;
/// Total inflow above which the liver counts as perfused, mL/min (as the kidney's 5 mL/min).
const PERFUSED_ML_MIN: f64 = 5.0;
/// Specific heat of liver, J/(g·K) (§10.3 [S therm-1]).
const LIVER_J_G_K: f64 = 3.41;
/// CO2 solubility in plasma, mmol/L per mmHg (Henderson–Hasselbalch constant).
const CO2_SOLUBILITY: f64 = 0.0307;

fn build(given: &BTreeMap<String, f64>) -> Result<Box<dyn Plant>, String> {
    let normothermic = mode(given, "normothermic", true, ("hypothermic", "normothermic"))?;
    let mut p = LiverParams::defaults(normothermic);
    p.apply(given)?;
    Ok(Box::new(Liver::new(p)))
}

/// A concentration in the perfusate, in mL of infusate per L, cleared first-order.
#[derive(Debug, Clone, Copy, Default)]
struct Drug {
    ml_l: f64,
}

impl Drug {
    /// Adds `rate_ml_h` over `dt_s` into `volume_l` and clears with `keep` (e^(−dt/τ)).
    #[inline]
    fn step(&mut self, rate_ml_h: f64, dt_s: f64, volume_l: f64, keep: f64) {
        self.ml_l = flush(self.ml_l * keep + rate_ml_h.max(0.0) * dt_s / 3600.0 / volume_l);
    }

    /// Emax-model fraction of the largest effect.
    #[inline]
    fn effect(&self, ec50: f64) -> f64 {
        self.ml_l / (self.ml_l + ec50)
    }
}

/// The liver plant's state.
struct Liver {
    p: LiverParams,
    // Hydraulics.
    p_ha: f64,
    p_pv: f64,
    r_ha_extra: f64,
    r_pv_extra: f64,
    occlusion: f64,
    r_out: f64,
    leak_ml_min_mmhg: f64,
    air: bool,
    // Heat: [exchanger water, perfusate] in °C.
    thermal: TwoNode,
    temps_c: [f64; 2],
    exchanger_j_k: f64,
    perfusate_j_k: f64,
    surroundings_w: f64,
    metabolic_w_37: f64,
    ln_q10_per_c: f64,
    /// `q10^((T−37)/10)` and the temperature it was computed at: recomputed only when the
    /// perfusate has moved by more than 1 mK (a relative error below 1e-4), which saves an
    /// `exp` on almost every step.
    q10_factor: f64,
    q10_at_c: f64,
    /// Perfusate viscosity relative to that at `viscosity_ref_c`, from the step's start.
    viscosity: f64,
    // Metabolism.
    lactate: f64,
    glucose: f64,
    glycogen: f64,
    pco2: f64,
    bile_onset: f64,
    bile_ml: f64,
    vasodilator: Drug,
    insulin: Drug,
    glucagon: Drug,
    volume_l: f64,
    // Per-step factors, recomputed when dt changes.
    dt_s: f64,
    ha_decay: f64,
    pv_decay: f64,
    drug_keep: f64,
    out: [f64; OUTPUTS],
}

impl Liver {
    fn new(p: LiverParams) -> Self {
        let exchanger_j_k = p.exchanger_ml * WATER_J_G_K;
        let perfusate_j_k =
            p.perfusate_ml * p.perfusate_j_g_k + p.liver_mass_g * LIVER_J_G_K + p.circuit_j_k;
        let mut l = Liver {
            p_ha: 0.0,
            p_pv: 0.0,
            r_ha_extra: p.r_ha_extra_mmhg_min_ml,
            r_pv_extra: p.r_pv_extra_mmhg_min_ml,
            occlusion: 1.0,
            r_out: p.r_out_mmhg_min_ml,
            leak_ml_min_mmhg: 0.0,
            air: false,
            thermal: TwoNode::new(
                exchanger_j_k,
                perfusate_j_k,
                p.exchanger_ua_w_k,
                0.0,
                p.ambient_ua_w_k,
            ),
            temps_c: [p.perfusate_start_c; 2],
            exchanger_j_k,
            perfusate_j_k,
            surroundings_w: p.ambient_ua_w_k * p.ambient_c,
            metabolic_w_37: p.metabolic_mw_g * 1e-3 * p.liver_mass_g,
            ln_q10_per_c: p.q10.ln() / 10.0,
            q10_factor: 1.0,
            q10_at_c: f64::INFINITY,
            viscosity: viscosity_ratio(p.perfusate_start_c, p.viscosity_ref_c),
            lactate: p.lactate_start_mmol_l,
            glucose: p.glucose_start_mmol_l,
            glycogen: 1.0,
            pco2: p.pco2_start_mmhg,
            bile_onset: 0.0,
            bile_ml: 0.0,
            vasodilator: Drug::default(),
            insulin: Drug::default(),
            glucagon: Drug::default(),
            volume_l: p.perfusate_ml / 1000.0,
            dt_s: 0.0,
            ha_decay: 1.0,
            pv_decay: 1.0,
            drug_keep: 1.0,
            out: [0.0; OUTPUTS],
            p,
        };
        let (r_ha, r_pv) = l.resistances();
        let flows = l.flows(1.0 / r_ha, 1.0 / r_pv);
        l.publish(flows, 0.0);
        l
    }

    fn set_dt(&mut self, dt_s: f64) {
        self.ha_decay = (-dt_s / self.p.r_ha_tau_s).exp();
        self.pv_decay = (-dt_s / self.p.r_pv_tau_s).exp();
        self.drug_keep = (-dt_s / self.p.drug_tau_s).exp();
        self.dt_s = dt_s;
    }

    /// HA and PV bed resistances now, mmHg/(mL/min).
    fn resistances(&self) -> (f64, f64) {
        let dilation =
            1.0 - self.p.vasodilator_max * self.vasodilator.effect(self.p.vasodilator_ec50_ml_l);
        (
            (self.p.r_ha_inf_mmhg_min_ml + self.r_ha_extra)
                * self.occlusion
                * self.viscosity
                * dilation,
            (self.p.r_pv_inf_mmhg_min_ml + self.r_pv_extra) * self.occlusion * self.viscosity,
        )
    }

    /// Bed flows and outflow pressure for the node pressures: `(Q_HA, Q_PV, P_out)`.
    fn flows(&self, g_ha: f64, g_pv: f64) -> (f64, f64, f64) {
        let p_out =
            self.r_out * (g_ha * self.p_ha + g_pv * self.p_pv) / (1.0 + self.r_out * (g_ha + g_pv));
        (
            g_ha * (self.p_ha - p_out),
            g_pv * (self.p_pv - p_out),
            p_out,
        )
    }

    fn ph(&self) -> f64 {
        let hco3 = (self.p.hco3_base_mmol_l - self.lactate).max(1.0);
        6.1 + (hco3 / (CO2_SOLUBILITY * self.pco2.max(1.0))).log10()
    }

    fn publish(&mut self, (q_ha, q_pv, p_out): (f64, f64, f64), bile_ml_min: f64) {
        let ph = self.ph();
        self.out = [
            self.p_ha,
            q_ha,
            self.p_pv,
            q_pv,
            p_out,
            q_ha + q_pv,
            self.temps_c[1],
            self.temps_c[0],
            if self.air { 1.0 } else { 0.0 },
            self.lactate,
            self.glucose,
            ph,
            self.pco2,
            self.bile_ml,
            ph + self.p.bile_dph * self.bile_onset,
            bile_ml_min,
        ];
    }

    /// Advances both line pressures over `dt_s` by backward Euler on
    /// `C·dP/dt = (Q_pump − Q_bed − Q_leak)/60`.
    fn step_hydraulics(&mut self, q_ha_in: f64, q_pv_in: f64, g_ha: f64, g_pv: f64, dt_s: f64) {
        let d = 1.0 + self.r_out * (g_ha + g_pv);
        let (w_ha, w_pv) = (self.r_out * g_ha / d, self.r_out * g_pv / d);
        let (c_ha, c_pv) = (
            60.0 * self.p.ha_compliance_ml_mmhg,
            60.0 * self.p.pv_compliance_ml_mmhg,
        );
        // dx/dt = A·x + b.
        let a00 = -(g_ha * (1.0 - w_ha) + self.leak_ml_min_mmhg) / c_ha;
        let a01 = g_ha * w_pv / c_ha;
        let a10 = g_pv * w_ha / c_pv;
        let a11 = -g_pv * (1.0 - w_pv) / c_pv;
        // (I − dt·A)·x' = x + dt·b.
        let (m00, m01, m10, m11) = (1.0 - dt_s * a00, -dt_s * a01, -dt_s * a10, 1.0 - dt_s * a11);
        let r0 = self.p_ha + dt_s * q_ha_in / c_ha;
        let r1 = self.p_pv + dt_s * q_pv_in / c_pv;
        let det = m00 * m11 - m01 * m10;
        self.p_ha = flush((m11 * r0 - m01 * r1) / det);
        self.p_pv = flush((m00 * r1 - m10 * r0) / det);
    }
}

impl Plant for Liver {
    fn step(&mut self, inputs: &[f64; MAX_INPUTS], dt_s: f64) {
        if dt_s != self.dt_s {
            self.set_dt(dt_s);
        }
        let clamped = inputs[CLAMP] >= 0.5;
        let (q_ha_in, q_pv_in) = if clamped {
            (0.0, 0.0)
        } else {
            (inputs[HA_PUMP].max(0.0), inputs[PV_PUMP].max(0.0))
        };
        self.viscosity = viscosity_ratio(self.temps_c[1], self.p.viscosity_ref_c);
        let (r_ha, r_pv) = self.resistances();
        let (g_ha, g_pv) = (1.0 / r_ha, 1.0 / r_pv);
        self.step_hydraulics(q_ha_in, q_pv_in, g_ha, g_pv, dt_s);
        let flows = self.flows(g_ha, g_pv);
        if flows.0 + flows.1 > PERFUSED_ML_MIN {
            self.r_ha_extra = flush(self.r_ha_extra * self.ha_decay);
            self.r_pv_extra = flush(self.r_pv_extra * self.pv_decay);
        }

        // Temperature dependence from the step's start temperature.
        let t_c = self.temps_c[1].min(METABOLIC_MAX_C);
        if (t_c - self.q10_at_c).abs() > 1e-3 {
            self.q10_factor = ((t_c - METABOLIC_REF_C) * self.ln_q10_per_c).exp();
            self.q10_at_c = t_c;
        }
        let q10 = self.q10_factor;
        let heat_in = [
            inputs[HEAT] / self.exchanger_j_k,
            (self.surroundings_w + self.metabolic_w_37 * q10) / self.perfusate_j_k,
        ];
        self.thermal.step(&mut self.temps_c, heat_in, dt_s);

        let p = &self.p;
        let (v, keep) = (self.volume_l, self.drug_keep);
        self.vasodilator.step(inputs[VASODILATOR], dt_s, v, keep);
        self.insulin.step(inputs[INSULIN], dt_s, v, keep);
        self.glucagon.step(inputs[GLUCAGON], dt_s, v, keep);

        // Metabolic time: seconds at 37 °C-equivalent rates.
        let mt = q10 * dt_s;
        self.lactate += (p.lactate_steady_mmol_l - self.lactate) * mt / p.lactate_tau_s;
        self.glycogen -= self.glycogen * mt / p.glycogen_tau_s;
        let release = (p.glucose_release_mmol_l_h + p.glycogen_release_mmol_l_h * self.glycogen)
            * (1.0 + p.glucagon_gain * self.glucagon.effect(p.glucagon_ec50_ml_l));
        let uptake = p.glucose_uptake_per_h
            * (1.0 + p.insulin_gain * self.insulin.effect(p.insulin_ec50_ml_l))
            * self.glucose;
        self.glucose = (self.glucose + (release - uptake) * mt / 3600.0).max(0.0);
        let removal = p.co2_removal_per_l * inputs[SWEEP].max(0.0) * self.pco2;
        self.pco2 =
            (self.pco2 + (p.co2_production_mmhg_min * q10 - removal) * dt_s / 60.0).max(0.0);
        self.bile_onset += (1.0 - self.bile_onset) * mt / p.bile_onset_s;
        let bile_ml_s = p.bile_ml_h / 3600.0 * self.bile_onset * q10;
        self.bile_ml += bile_ml_s * dt_s;

        self.publish(flows, bile_ml_s * 60.0);
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
            PlantFault::Event(OUTFLOW_OBSTRUCTION) => {
                self.r_out = self.p.r_out_mmhg_min_ml * self.p.obstruction_factor
            }
            PlantFault::Event(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plant(pairs: &[(&str, f64)]) -> Liver {
        let given: BTreeMap<String, f64> = pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        let mut p = LiverParams::defaults(given.get("normothermic") != Some(&0.0));
        p.apply(&given).unwrap();
        Liver::new(p)
    }

    fn inputs(ha: f64, pv: f64, sweep: f64) -> [f64; MAX_INPUTS] {
        let mut u = [0.0; MAX_INPUTS];
        u[HA_PUMP] = ha;
        u[PV_PUMP] = pv;
        u[SWEEP] = sweep;
        u
    }

    /// Runs `seconds` at 37 °C (room at 37, no metabolic heat) with HA flow-matched to 65 mmHg.
    fn run_warm(l: &mut Liver, seconds: usize, pv: f64, sweep: f64) {
        for _ in 0..seconds {
            let q_ha = (65.0 - l.out[IVC_PRESSURE]) / l.resistances().0;
            l.step(&inputs(q_ha, pv, sweep), 1.0);
        }
    }

    fn warm() -> Vec<(&'static str, f64)> {
        vec![
            ("perfusate_start_c", 37.0),
            ("ambient_c", 37.0),
            ("metabolic_mw_g", 0.0),
        ]
    }

    #[test]
    fn nmp_flows_split_between_the_beds_and_join_at_the_outflow() {
        let mut l = plant(&warm());
        run_warm(&mut l, 3600, 1000.0, 1.0);
        let (q_ha, q_pv) = (l.out[HA_FLOW], l.out[PV_FLOW]);
        assert!((250.0..=320.0).contains(&q_ha), "HA {q_ha}");
        assert!((q_pv - 1000.0).abs() < 1.0, "PV {q_pv}");
        assert!((l.out[OUTFLOW] - q_ha - q_pv).abs() < 1e-9);
        let ivc = l.out[IVC_PRESSURE];
        assert!((1.0..=3.0).contains(&ivc), "free outflow: IVC {ivc}");
        let pv = l.out[PV_PRESSURE];
        assert!((6.0..=10.0).contains(&pv), "PV pressure {pv}");
    }

    #[test]
    fn a_viable_liver_clears_lactate_like_mergentals_clearing_livers() {
        let mut l = plant(&warm());
        run_warm(&mut l, 7200, 1000.0, 1.0);
        // Mergental's clearing livers: 3.0 mmol/L at 2 h (§10.2 [S 3A-1]), within 20 %.
        let at_2h = l.out[LACTATE];
        assert!((2.4..=3.6).contains(&at_2h), "lactate {at_2h} at 2 h");
        run_warm(&mut l, 1800, 1000.0, 1.0);
        assert!(l.out[BILE_ML] > 10.0, "bile {}", l.out[BILE_ML]);
        assert!(l.out[BILE_PH] - l.out[PH] > 0.10);
        // VITTAL: ≤ 2.5 mmol/L within 4 h (§3A).
        run_warm(&mut l, 5400, 1000.0, 1.0);
        assert!(l.out[LACTATE] < 2.5, "VITTAL at 4 h: {}", l.out[LACTATE]);
    }

    #[test]
    fn cold_slows_metabolism_by_q10() {
        let mut l = plant(&[
            ("perfusate_start_c", 10.0),
            ("ambient_c", 10.0),
            ("metabolic_mw_g", 0.0),
        ]);
        run_warm(&mut l, 7200, 1000.0, 1.0);
        // 2.5^(-2.7) ≈ 0.084 of the 37 °C rate (§10.1): lactate fell by ~0.8 mmol/L in 2 h,
        // where a warm liver clears ~5.3.
        assert!((7.0..7.5).contains(&l.out[LACTATE]), "{}", l.out[LACTATE]);
    }

    #[test]
    fn sweep_sets_the_ph_and_lactate_lowers_it() {
        let mut l = plant(&warm());
        run_warm(&mut l, 1200, 1000.0, 1.0);
        let ph_1 = l.out[PH];
        run_warm(&mut l, 1200, 1000.0, 2.0);
        assert!(
            l.out[PH] > ph_1 + 0.1,
            "more sweep, less CO2: {ph_1} → {}",
            l.out[PH]
        );
        let mut acid = plant(&[("perfusate_start_c", 37.0), ("lactate_start_mmol_l", 16.0)]);
        let mut base = plant(&[("perfusate_start_c", 37.0)]);
        acid.step(&inputs(0.0, 0.0, 1.0), 0.01);
        base.step(&inputs(0.0, 0.0, 1.0), 0.01);
        assert!(acid.out[PH] < base.out[PH] - 0.1);
    }

    #[test]
    fn insulin_lowers_glucose_and_the_vasodilator_the_arterial_resistance() {
        let mut with = plant(&warm());
        let mut without = plant(&warm());
        for _ in 0..3600 {
            let mut u = inputs(200.0, 1000.0, 1.0);
            without.step(&u, 1.0);
            u[INSULIN] = 2.0;
            u[VASODILATOR] = 2.0;
            with.step(&u, 1.0);
        }
        assert!(with.out[GLUCOSE] < without.out[GLUCOSE] - 2.0);
        assert!(with.resistances().0 < 0.8 * without.resistances().0);
    }

    #[test]
    fn faults_act_on_the_beds_the_outflow_and_the_bubble_detector() {
        let mut l = plant(&warm());
        run_warm(&mut l, 600, 1000.0, 1.0);
        let (r_ha, r_pv) = l.resistances();
        l.inject(PlantFault::Occlusion { factor: 30.0 });
        let (ha, pv) = l.resistances();
        assert!((ha / r_ha - 30.0).abs() < 1e-9 && (pv / r_pv - 30.0).abs() < 1e-9);
        let mut l = plant(&warm());
        run_warm(&mut l, 600, 1000.0, 1.0);
        l.inject(PlantFault::Event(OUTFLOW_OBSTRUCTION));
        run_warm(&mut l, 10, 1000.0, 1.0);
        assert!(l.out[IVC_PRESSURE] > 8.0, "IVC {}", l.out[IVC_PRESSURE]);
        l.inject(PlantFault::Air);
        l.step(&inputs(0.0, 0.0, 1.0), 0.01);
        assert_eq!(l.out[AIR], 1.0);
        assert_eq!(MODEL.events[OUTFLOW_OBSTRUCTION].0, "outflow-obstruction");
    }

    #[test]
    fn a_closed_clamp_stops_both_inflows() {
        let mut l = plant(&warm());
        run_warm(&mut l, 600, 1000.0, 1.0);
        let mut u = inputs(300.0, 1000.0, 1.0);
        u[CLAMP] = 1.0;
        for _ in 0..6000 {
            l.step(&u, 0.01);
        }
        assert!(l.out[HA_FLOW].abs() < 1.0 && l.out[PV_FLOW].abs() < 1.0);
    }

    #[test]
    fn mode_flag_must_be_zero_or_one() {
        let err = build(&[("normothermic".to_string(), 0.5)].into())
            .err()
            .unwrap();
        assert!(err.contains("`normothermic` = 0.5"), "{err}");
    }
}
