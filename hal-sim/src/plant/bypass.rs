//! An adult patient on cardiopulmonary bypass (§12F): the heart–lung machine's circuit and the
//! patient's circulation, temperature, haemodilution and gases.
//!
//! - Circulation (§12F [P] minimal model): an arterial compliance drains through the systemic
//!   resistance into a venous compliance (stressed volumes). The venous line drains the venous
//!   side by gravity (a head of `drainage_head_mmhg`) through its resistance into the venous
//!   reservoir; a venous occluder (a clamp driven between 0 open and 1 closed) raises that
//!   resistance in proportion. The roller pump takes from the reservoir into the oxygenator and
//!   back into the aorta through the arterial cannula. An empty reservoir lets the pump deliver
//!   only what drains in, and the rest is air (the bubble output).
//! - The systemic resistance follows viscosity: in proportion to the haematocrit (the fall of
//!   MAP when a clear prime dilutes the blood, §12F [S 61]) and rising 2 % per °C of cooling [T].
//! - The heart beats before the cross-clamp and recovers after it; it ejects
//!   `Q_max·(1 − e^(−G·(P_v − P_fill)/Q_max))` when filled (a Starling curve that levels off), nothing while the venous line empties it (full bypass) or
//!   while the aorta is cross-clamped (arrest).
//! - Cardioplegia (§12C): a roller pump delivers del Nido solution (1 part blood from the
//!   arterial line, 4 parts crystalloid, [S 29]) into the aortic root; with the cross-clamp
//!   closed it flows through the coronary bed (root pressure `Q·R_cor`) into the venous side,
//!   with it open into the aorta. The cardioplegia console reports the volume given and the time
//!   since the last dose ended (its dose timer).
//! - Haemodilution (§12F [S 17] [S 18]): the red-cell volume is fixed; the prime mixes in as the
//!   pump turns the blood volume over, cardioplegia crystalloid adds volume, the haemofilter
//!   (a roller pump on the reservoir) removes it.
//! - Oxygenator: [`super::oxygenator`]; O2 use `VO2 = VO2i·BSA·Q10^((T − 37)/10)` (§12F [D]),
//!   CO2 production 0.8·VO2 (respiratory quotient [T]); a CO2 store whose time constant gives
//!   the ~50-min PaCO2 plateau of §13F [S 72]. Venous saturation by the Fick principle;
//!   saturation and PO2 through a Hill curve (P50 26.8 mmHg, n 2.7, physiological constants).
//! - Heat (two nodes, as the donor model): the circuit blood takes the heater-cooler's power and
//!   exchanges heat with the body at the rate the pump carries it; the body makes metabolic
//!   heat and loses heat to the room. The arterial outlet reads the circuit blood, the venous
//!   inflow and the nasopharynx read the body.
//! - Faults: `venous-drainage-loss` (an air lock: nothing drains, the reservoir empties),
//!   `oxygenator-failure`, `gas-supply-loss`, `clot` (the oxygenator's resistance grows),
//!   `cardioplegia-occlusion` (the root pressure of a dose triples);
//!   air sets the bubble output; an occlusion multiplies the arterial cannula's resistance
//!   (a kinked line: the line pressure rises); a leak drains the arterial line.

use std::collections::BTreeMap;

use perfuse_hal::{ActuatorKind as A, SensorKind as S};

use super::oxygenator::{Inlet, Oxygenator, OxygenatorParams};
use super::physics::{BLOOD_J_G_K, relax};
use super::{MAX_INPUTS, Model, Plant, PlantFault, Site};
use crate::params::param_set;

// Output points.
const MAP: usize = 0;
const PUMP_FLOW: usize = 1;
const LINE_P: usize = 2;
const PRE_OXY_P: usize = 3;
const RESERVOIR: usize = 4;
const ARTERIAL_T: usize = 5;
const VENOUS_T: usize = 6;
const CORE_T: usize = 7;
const AIR: usize = 8;
const PO2: usize = 9;
const PCO2: usize = 10;
const SVO2: usize = 11;
const HCT: usize = 12;
const CVP: usize = 13;
const ROOT_P: usize = 14;
const CP_FLOW: usize = 15;
const CP_VOLUME: usize = 16;
const CP_SINCE: usize = 17;
const SWEEP: usize = 18;
const UF_VOLUME: usize = 19;
const OUTPUTS: usize = 20;

// Inputs.
const PUMP: usize = 0;
const ARTERIAL_CLAMP: usize = 1;
const VENOUS_OCCLUDER: usize = 2;
const HEATER: usize = 3;
const FIO2: usize = 4;
const GAS: usize = 5;
const CP_PUMP: usize = 6;
const CROSS_CLAMP: usize = 7;
const UF_PUMP: usize = 8;

/// Indices of the model's events in [`MODEL`]`.events`.
const EVENT_DRAINAGE_LOSS: usize = 0;
const EVENT_OXYGENATOR_FAILURE: usize = 1;
const EVENT_GAS_LOSS: usize = 2;
const EVENT_CLOT: usize = 3;
const EVENT_CP_OCCLUSION: usize = 4;
/// Factor on the coronary resistance of a `cardioplegia-occlusion` (my choice: a cannula tip
/// against the aortic wall triples the resistance it delivers into).
const CP_OCCLUSION_FACTOR: f64 = 3.0;

/// Cardioplegia flow above which a dose counts as running, mL/min (my choice: above any
/// priming drip, far below a dose's rate).
const CP_DOSING_ML_MIN: f64 = 10.0;
/// Crystalloid fraction of del Nido solution (1:4 blood to crystalloid, §12C [S 29]).
const CP_CRYSTALLOID: f64 = 0.8;
/// Oxygen's heat of combustion, J per mL O2 (physiological constant).
const J_PER_ML_O2: f64 = 20.1;
/// Respiratory quotient (typical).
const RQ: f64 = 0.8;
/// Haemoglobin's O2 capacity, mL O2 per g (§12 [S 48]).
pub(super) const HUFNER_ML_G: f64 = 1.34;
/// Hill curve of adult blood: P50 in mmHg and the exponent (physiological constants).
const P50_MMHG: f64 = 26.8;
const HILL_N: f64 = 2.7;
/// PaCO2 of a ventilated lung's outflow, mmHg (normal value).
const LUNG_PCO2_MMHG: f64 = 40.0;
/// Saturation of a ventilated lung's outflow (normal value).
pub(super) const LUNG_SAT: f64 = 0.98;
/// Longest time the cardioplegia console's dose timer shows, s (my choice: inside the absolute
/// range of a duration reading).
const CP_TIMER_MAX_S: f64 = 9999.0;
/// Longest integration sub-step, s: the arterial compliance's time constant is ~1 s.
const MAX_SUBSTEP_S: f64 = 0.02;

/// The bypass model as the protocol's `simulator.model` names it.
pub(crate) const MODEL: Model = Model {
    name: "bypass",
    summary: "patient on the heart–lung machine: reservoir, oxygenator, cardioplegia, haemofilter",
    mode: None,
    defaults: |_| BypassParams::DEFAULT.values(),
    sources: PARAM_SOURCES,
    params: BypassParams::DEFS,
    sites: &[
        Site {
            name: "aorta",
            sensors: &[(S::Pressure, MAP)],
            actuators: &[],
        },
        Site {
            name: "arterial_line",
            sensors: &[
                (S::Flow, PUMP_FLOW),
                (S::Pressure, LINE_P),
                (S::Temperature, ARTERIAL_T),
                (S::Bubble, AIR),
                (S::PartialPressure, PO2),
                (S::Percent, HCT),
            ],
            actuators: &[(A::RollerPump, PUMP), (A::Clamp, ARTERIAL_CLAMP)],
        },
        Site {
            name: "oxygenator",
            sensors: &[(S::Pressure, PRE_OXY_P), (S::PartialPressure, PCO2)],
            actuators: &[(A::Fio2, FIO2), (A::GasFlow, GAS)],
        },
        Site {
            name: "gas_line",
            sensors: &[(S::Flow, SWEEP)],
            actuators: &[],
        },
        Site {
            name: "heat_exchanger",
            sensors: &[(S::Temperature, ARTERIAL_T)],
            actuators: &[(A::HeaterCooler, HEATER)],
        },
        Site {
            name: "venous_reservoir",
            sensors: &[(S::Volume, RESERVOIR)],
            actuators: &[],
        },
        Site {
            name: "venous_line",
            sensors: &[(S::Temperature, VENOUS_T), (S::Percent, SVO2)],
            actuators: &[(A::Clamp, VENOUS_OCCLUDER)],
        },
        Site {
            name: "right_atrium",
            sensors: &[(S::Pressure, CVP)],
            actuators: &[],
        },
        Site {
            name: "nasopharynx",
            sensors: &[(S::Temperature, CORE_T)],
            actuators: &[],
        },
        Site {
            name: "aortic_root",
            sensors: &[(S::Pressure, ROOT_P)],
            actuators: &[(A::Clamp, CROSS_CLAMP)],
        },
        Site {
            name: "cardioplegia",
            sensors: &[
                (S::Flow, CP_FLOW),
                (S::Volume, CP_VOLUME),
                (S::Duration, CP_SINCE),
            ],
            actuators: &[(A::RollerPump, CP_PUMP)],
        },
        Site {
            name: "haemofilter",
            sensors: &[(S::Volume, UF_VOLUME)],
            actuators: &[(A::RollerPump, UF_PUMP)],
        },
    ],
    events: &[
        (
            "venous-drainage-loss",
            "an air lock in the venous line: nothing drains, the reservoir empties",
        ),
        (
            "oxygenator-failure",
            "the oxygenator's membrane loses its efficiency over `oxy_failure_tau_s` down to `oxy_failure_floor`",
        ),
        (
            "gas-supply-loss",
            "no sweep gas reaches the oxygenator, whatever the blender is set to",
        ),
        (
            "clot",
            "a clot grows in the oxygenator: its resistance rises by one healthy resistance per `clot_doubling_s`",
        ),
        (
            "cardioplegia-occlusion",
            "the cardioplegia cannula is obstructed: the root pressure of a dose triples",
        ),
    ],
    build,
};

/// Where each parameter's default comes from (docs/clinical-basis.md), condensed from the
/// comments at the defaults; `perfuse models` shows them.
const PARAM_SOURCES: &[(&str, &str)] = &[
    ("body_kg", "§12 [D] [S 18]"),
    ("bsa_m2", "§12 [D] [S 18]"),
    ("blood_ml_kg", "§12 [D] [S 18]"),
    ("hct_start_pct", "[S 17] [S 18]; my choice"),
    ("prime_ml", "[S 17] [S 18]; my choice"),
    ("reservoir_start_ml", "my choice"),
    ("systemic_r_mmhg_min_ml", "§12F [D] [S 62]"),
    ("hct_ref_pct", "§12F [D] [S 62]"),
    ("arterial_compliance_ml_mmhg", "§12F [T]; my choice"),
    ("venous_compliance_ml_mmhg", "§12F [T]; my choice"),
    ("stressed_volume_ml", "my choice"),
    ("drainage_head_mmhg", "my choice"),
    ("drainage_r_mmhg_min_ml", "my choice"),
    ("cannula_r_mmhg_min_ml", "§12B [T]; my choice"),
    ("coronary_r_mmhg_min_ml", "§12C [S 35]; my choice"),
    ("heart_gain_ml_min_mmhg", "my choice"),
    ("heart_max_ml_min", "my choice"),
    ("heart_fill_mmhg", "my choice"),
    ("heart_recovery_tau_s", "my choice"),
    ("vo2i_ml_min_m2", "§12F [D] [S 64]"),
    ("q10", "§12F [D] [S 64]"),
    ("co2_store_ml_mmhg", "§13F [D] [S 72]"),
    ("pco2_start_mmhg", "§13F [D] [S 72]"),
    ("body_start_c", "my choice"),
    ("body_j_kg_k", "§12F [T]"),
    ("circuit_j_k", "§12F [T]"),
    ("ambient_c", "§12F [T]"),
    ("body_ua_w_k", "my choice"),
    ("circuit_ua_w_k", "my choice"),
    ("oxy_o2_efficiency", "§12B [S 22]; my choice"),
    ("oxy_sweep_ratio", "§12B [S 22]; my choice"),
    ("oxy_rated_ml_min", "§12B [S 52]"),
    ("co2_slope_ml_l_mmhg", "my choice"),
    ("oxy_co2_efficiency", "my choice"),
    ("oxy_r_mmhg_min_ml", "§13C [S 97] [T]"),
    ("gas_tau_s", "my choice"),
    ("oxy_failure_tau_s", "my choice"),
    ("oxy_failure_floor", "my choice"),
    ("clot_doubling_s", "§13C [S 86]; my choice"),
];

param_set! {
    /// Bypass model parameters; defaults in [`BypassParams::DEFAULT`].
    pub(crate) struct BypassParams {
        /// body mass in kg
        body_kg: [10.0, 250.0],
        /// body surface area in m²
        bsa_m2: [0.2, 3.5],
        /// total blood volume in mL/kg
        blood_ml_kg: [40.0, 100.0],
        /// haematocrit before bypass in %
        hct_start_pct: [15.0, 60.0],
        /// clear prime of the circuit in mL
        prime_ml: [0.0, 5000.0],
        /// prime held in the venous reservoir at the start in mL
        reservoir_start_ml: [0.0, 5000.0],
        /// systemic resistance at the reference haematocrit and 37 °C in mmHg/(mL/min)
        systemic_r_mmhg_min_ml: [0.001, 1.0],
        /// haematocrit the systemic resistance is given at in %
        hct_ref_pct: [10.0, 60.0],
        /// arterial compliance in mL/mmHg
        arterial_compliance_ml_mmhg: [0.1, 20.0],
        /// venous compliance in mL/mmHg
        venous_compliance_ml_mmhg: [1.0, 1000.0],
        /// stressed volume of the patient's circulation before bypass in mL
        stressed_volume_ml: [0.0, 5000.0],
        /// gravity head of the venous line (patient above reservoir) in mmHg
        drainage_head_mmhg: [0.0, 100.0],
        /// venous line and cannula resistance in mmHg/(mL/min)
        drainage_r_mmhg_min_ml: [0.0001, 1.0],
        /// arterial cannula resistance in mmHg/(mL/min)
        cannula_r_mmhg_min_ml: [0.0001, 1.0],
        /// coronary resistance to cardioplegia in the arrested heart in mmHg/(mL/min)
        coronary_r_mmhg_min_ml: [0.01, 10.0],
        /// beating heart's output per mmHg of filling above `heart_fill_mmhg` in mL/min/mmHg
        heart_gain_ml_min_mmhg: [0.0, 5000.0],
        /// most the heart ejects in mL/min
        heart_max_ml_min: [100.0, 20_000.0],
        /// venous pressure below which the heart ejects nothing in mmHg
        heart_fill_mmhg: [-20.0, 30.0],
        /// time constant of the heart's recovery after the cross-clamp in s
        heart_recovery_tau_s: [1.0, 1.0e5],
        /// O2 consumption index at 37 °C in mL/min/m²
        vo2i_ml_min_m2: [10.0, 300.0],
        /// Q10 of whole-body O2 consumption
        q10: [1.0, 5.0],
        /// CO2 store of the body in mL per mmHg
        co2_store_ml_mmhg: [1.0, 10_000.0],
        /// venous PCO2 at the start in mmHg
        pco2_start_mmhg: [10.0, 120.0],
        /// body temperature at the start in °C
        body_start_c: [20.0, 42.0],
        /// body heat capacity in J/(kg·K)
        body_j_kg_k: [1000.0, 5000.0],
        /// heat capacity of circuit parts and exchanger water in J/K
        circuit_j_k: [0.0, 100_000.0],
        /// room temperature in °C
        ambient_c: [-10.0, 45.0],
        /// body-to-room heat conductance in W/K
        body_ua_w_k: [0.0, 200.0],
        /// circuit-to-room heat conductance in W/K
        circuit_ua_w_k: [0.0, 50.0],
        /// oxygenator: fraction of the gas-side PO2 reached with ample sweep
        oxy_o2_efficiency: [0.05, 1.0],
        /// oxygenator: sweep-to-blood ratio at 63 % of the O2 transfer
        oxy_sweep_ratio: [0.01, 5.0],
        /// oxygenator: rated blood flow in mL/min
        oxy_rated_ml_min: [100.0, 10_000.0],
        /// blood CO2 content slope in mL/L/mmHg
        co2_slope_ml_l_mmhg: [0.5, 20.0],
        /// oxygenator: fraction of the sweep that exchanges CO2
        oxy_co2_efficiency: [0.05, 1.0],
        /// oxygenator blood-side resistance in mmHg/(mL/min)
        oxy_r_mmhg_min_ml: [0.0001, 1.0],
        /// time constant of the gas path in s
        gas_tau_s: [0.1, 600.0],
        /// time constant of a failing oxygenator in s
        oxy_failure_tau_s: [1.0, 1.0e5],
        /// efficiency a failed oxygenator keeps (fraction)
        oxy_failure_floor: [0.0, 1.0],
        /// time for a clot to add one healthy oxygenator resistance in s
        clot_doubling_s: [1.0, 1.0e6],
    }
}

impl BypassParams {
    /// Every number sourced (§ of docs/clinical-basis.md) or marked as my choice.
    pub(crate) const DEFAULT: BypassParams = BypassParams {
        // The reference patient of §12: 80 kg, BSA 1.97 m² [D], 70 mL/kg of blood [S 18].
        body_kg: 80.0,
        bsa_m2: 1.97,
        blood_ml_kg: 70.0,
        // My choice: a normal adult haematocrit; with the 1.5-L prime [S 17] it falls ~21 %,
        // near the 24 % fall measured [S 18].
        hct_start_pct: 40.0,
        prime_ml: 1500.0,
        // My choice: the rest of the prime is in the oxygenator and lines.
        reservoir_start_ml: 1000.0,
        // [D] MAP ~65 mmHg at CI 2.4 × 1.97 m² = 4.73 L/min with a CVP of ~4 on bypass at
        // Hct 31 % (SVR ~1000 dyn·s·cm⁻⁵, inside the 910–1070 of §12F [S 62] [D]).
        systemic_r_mmhg_min_ml: 0.0129,
        hct_ref_pct: 31.0,
        // My choice: as the donor model; a venous bed 50× more compliant (~1 mL/mmHg/kg,
        // §12F [T]).
        arterial_compliance_ml_mmhg: 1.5,
        venous_compliance_ml_mmhg: 80.0,
        // My choice: a CVP near 10 mmHg before bypass.
        stressed_volume_ml: 850.0,
        // My choice: the patient ~40 cm above the reservoir; with the line's resistance it
        // drains ~4.7 L/min at a CVP of ~4.
        drainage_head_mmhg: 30.0,
        drainage_r_mmhg_min_ml: 0.0072,
        // My choice: ~90 mmHg across an adult aortic cannula at 4.7 L/min, a line pressure of
        // ~160 mmHg (below the 250-mmHg warning of §12B [T]).
        cannula_r_mmhg_min_ml: 0.019,
        // My choice: ~90 mmHg at 300 mL/min, the 75–95 mmHg of the pig study (§12C [S 35]).
        coronary_r_mmhg_min_ml: 0.3,
        // My choice: ~3.5 L/min and a MAP near 65 mmHg before bypass at a CVP of ~9, ~4 L/min
        // off bypass at a CVP of 10, levelling off toward 7 L/min.
        heart_gain_ml_min_mmhg: 1500.0,
        heart_max_ml_min: 7000.0,
        heart_fill_mmhg: 6.0,
        heart_recovery_tau_s: 300.0,
        // §12F: ~110 mL/min/m² at 37 °C [D], Q10 2.4 [S 64].
        vo2i_ml_min_m2: 110.0,
        q10: 2.4,
        // [D] a PaCO2 time constant of ~15 min at full flow: the ~50-min plateau of §13F [S 72].
        co2_store_ml_mmhg: 60.0,
        pco2_start_mmhg: 45.0,
        // My choice: a normothermic patient.
        body_start_c: 36.5,
        // §12F: ~3.5 kJ/kg/°C [T].
        body_j_kg_k: 3500.0,
        circuit_j_k: 1500.0,
        ambient_c: 20.0,
        // My choice: ~90 W lost from the open chest at 36.5 °C.
        body_ua_w_k: 5.5,
        circuit_ua_w_k: 1.5,
        // My choice: a PO2 of ~230 mmHg at FiO2 50 % (the 150–250 of §12B [S 22]).
        oxy_o2_efficiency: 0.6,
        oxy_sweep_ratio: 0.25,
        // §12B: 7 L/min for one adult oxygenator [S 52].
        oxy_rated_ml_min: 7000.0,
        // My choice: the CO2 dissociation slope of blood, ~0.5 mL/dL/mmHg.
        co2_slope_ml_l_mmhg: 5.0,
        oxy_co2_efficiency: 1.0,
        // §13C: ~6 mmHg per L/min at the start [S 97] [T].
        oxy_r_mmhg_min_ml: 0.006,
        // My choice: the gas path's washout.
        gas_tau_s: 10.0,
        // My choice: a membrane that fails over minutes, keeping 5 % of its transfer.
        oxy_failure_tau_s: 300.0,
        oxy_failure_floor: 0.05,
        // My choice: ΔP doubles in 30 min, a progressive clot (§13C [S 86]).
        clot_doubling_s: 1800.0,
    };
}

fn build(given: &BTreeMap<String, f64>) -> Result<Box<dyn Plant>, String> {
    let mut p = BypassParams::DEFAULT;
    p.apply(given)?;
    Ok(Box::new(Bypass::new(p)))
}

/// Saturation at a PO2 (Hill curve).
pub(super) fn saturation(po2: f64) -> f64 {
    let x = (po2.max(0.0) / P50_MMHG).powf(HILL_N);
    x / (1.0 + x)
}

/// PO2 at a saturation (inverse Hill curve).
pub(super) fn po2_at(sat: f64) -> f64 {
    let s = sat.clamp(0.01, 0.995);
    P50_MMHG * (s / (1.0 - s)).powf(1.0 / HILL_N)
}

struct Bypass {
    p: BypassParams,
    oxygenator: Oxygenator,
    volume_a: f64,
    volume_v: f64,
    reservoir_ml: f64,
    red_cells_ml: f64,
    blood_ml: f64,
    /// Volume the pump has moved, mL (how far the prime has mixed in).
    pumped_ml: f64,
    crystalloid_ml: f64,
    filtrate_ml: f64,
    cp_ml: f64,
    cp_since_s: f64,
    /// 1 beating, 0 arrested.
    heart: f64,
    drainage_lost: bool,
    coronary_factor: f64,
    occlusion: f64,
    leak_ml_min_mmhg: f64,
    air: bool,
    pco2_v: f64,
    blood_c: f64,
    body_c: f64,
    blood_j_k: f64,
    body_j_k: f64,
    out: [f64; OUTPUTS],
}

impl Bypass {
    fn new(p: BypassParams) -> Self {
        let oxy = OxygenatorParams {
            o2_efficiency: p.oxy_o2_efficiency,
            o2_sweep_ratio: p.oxy_sweep_ratio,
            rated_flow_ml_min: p.oxy_rated_ml_min,
            co2_slope_ml_l_mmhg: p.co2_slope_ml_l_mmhg,
            co2_efficiency: p.oxy_co2_efficiency,
            resistance_mmhg_min_ml: p.oxy_r_mmhg_min_ml,
            gas_tau_s: p.gas_tau_s,
            failure_tau_s: p.oxy_failure_tau_s,
            failure_floor: p.oxy_failure_floor,
            clot_doubling_s: p.clot_doubling_s,
        };
        let blood_ml = p.blood_ml_kg * p.body_kg;
        // The heart's own output holds the stressed volume split at its steady state.
        let mut b = Bypass {
            oxygenator: Oxygenator::new(oxy, 40.0, p.pco2_start_mmhg),
            volume_a: 0.0,
            volume_v: p.stressed_volume_ml,
            reservoir_ml: p.reservoir_start_ml,
            red_cells_ml: blood_ml * p.hct_start_pct / 100.0,
            blood_ml,
            pumped_ml: 0.0,
            crystalloid_ml: 0.0,
            filtrate_ml: 0.0,
            cp_ml: 0.0,
            cp_since_s: 0.0,
            heart: 1.0,
            drainage_lost: false,
            coronary_factor: 1.0,
            occlusion: 1.0,
            leak_ml_min_mmhg: 0.0,
            air: false,
            pco2_v: p.pco2_start_mmhg,
            blood_c: p.body_start_c,
            body_c: p.body_start_c,
            blood_j_k: p.prime_ml * BLOOD_J_G_K + p.circuit_j_k,
            body_j_k: p.body_kg * p.body_j_kg_k,
            out: [0.0; OUTPUTS],
            p,
        };
        // Settle the beating heart's circulation before bypass, the venous line clamped.
        let mut idle = [0.0; MAX_INPUTS];
        idle[VENOUS_OCCLUDER] = 1.0;
        for _ in 0..3000 {
            b.substep(&idle, 0.02);
        }
        b
    }

    /// Haematocrit now, %: the red cells in the blood, the prime as far as it has mixed in, and
    /// the crystalloid added less the filtrate removed.
    fn hct_pct(&self) -> f64 {
        let mixed = 1.0 - (-self.pumped_ml / self.blood_ml).exp();
        let volume =
            self.blood_ml + mixed * self.p.prime_ml + self.crystalloid_ml - self.filtrate_ml;
        100.0 * self.red_cells_ml / volume.max(1.0)
    }

    fn substep(&mut self, u: &[f64; MAX_INPUTS], h: f64) {
        let p = self.p;
        let hct = self.hct_pct();
        let pa = self.volume_a / p.arterial_compliance_ml_mmhg;
        let pv = self.volume_v / p.venous_compliance_ml_mmhg;
        let cooling = (1.0 + 0.02 * (37.0 - self.body_c)).max(0.5);
        let r_sys = p.systemic_r_mmhg_min_ml * (hct / p.hct_ref_pct) * cooling;
        let q_sys = (pa - pv) / r_sys;

        // Venous drainage into the reservoir.
        let open = 1.0 - u[VENOUS_OCCLUDER].clamp(0.0, 1.0);
        let q_drain = if self.drainage_lost || open <= 0.0 {
            0.0
        } else {
            ((pv + p.drainage_head_mmhg) * open / p.drainage_r_mmhg_min_ml).max(0.0)
        };

        // The arterial pump: what it is asked for, or what drains in once the reservoir is dry.
        let asked = if u[ARTERIAL_CLAMP] >= 0.5 {
            0.0
        } else {
            u[PUMP].max(0.0)
        };
        let dry = self.reservoir_ml <= 0.0;
        let q_pump = if dry { asked.min(q_drain) } else { asked };
        if dry && asked > q_drain {
            self.air = true;
        }

        // Cardioplegia: blood from the arterial line, crystalloid from its bag.
        let cross_clamped = u[CROSS_CLAMP] >= 0.5;
        let q_cp = u[CP_PUMP].max(0.0);
        let q_cp_blood = q_cp * (1.0 - CP_CRYSTALLOID);
        let q_uf = u[UF_PUMP].max(0.0).min(if self.reservoir_ml > 0.0 {
            f64::INFINITY
        } else {
            0.0
        });

        // The heart: arrested under the cross-clamp, recovering after it.
        let target = if cross_clamped { 0.0 } else { 1.0 };
        let tau = if cross_clamped {
            30.0
        } else {
            p.heart_recovery_tau_s
        };
        self.heart = relax(self.heart, target, (-h / tau).exp());
        let starling = p.heart_gain_ml_min_mmhg * (pv - p.heart_fill_mmhg).max(0.0);
        let q_heart = self.heart * p.heart_max_ml_min * -(-starling / p.heart_max_ml_min).exp_m1();

        let line_p = pa + p.cannula_r_mmhg_min_ml * self.occlusion * q_pump;
        let q_leak = self.leak_ml_min_mmhg * line_p.max(0.0);
        let (into_aorta, into_veins) = if cross_clamped {
            (0.0, q_cp)
        } else {
            (q_cp, 0.0)
        };
        let to_min = h / 60.0;
        self.volume_a += (q_pump - q_cp_blood - q_leak + q_heart + into_aorta - q_sys) * to_min;
        self.volume_v += (q_sys + into_veins - q_drain - q_heart) * to_min;
        self.reservoir_ml += (q_drain - q_pump - q_uf) * to_min;
        self.pumped_ml += q_pump * to_min;
        self.crystalloid_ml += q_cp * CP_CRYSTALLOID * to_min;
        self.filtrate_ml += q_uf * to_min;
        self.cp_ml += q_cp * to_min;
        self.cp_since_s = if q_cp > CP_DOSING_ML_MIN {
            0.0
        } else {
            (self.cp_since_s + h).min(CP_TIMER_MAX_S)
        };

        // Gases: O2 use and CO2 production with temperature; Fick for the venous saturation.
        let vo2 = p.vo2i_ml_min_m2 * p.bsa_m2 * p.q10.powf((self.body_c - 37.0) / 10.0);
        let hb = hct / 3.0;
        let sat_oxy = saturation(self.oxygenator.po2_out_mmhg);
        let q_total = q_pump + q_heart;
        let sat_a = if q_total > 1.0 {
            (q_pump * sat_oxy + q_heart * LUNG_SAT) / q_total
        } else {
            sat_oxy
        };
        let capacity = HUFNER_ML_G * hb * 10.0 * q_total.max(1.0) / 1000.0;
        let sat_v = (sat_a - vo2 / capacity).max(0.05);
        self.oxygenator.step(
            Inlet {
                flow_ml_min: q_pump,
                po2_mmhg: po2_at(sat_v),
                pco2_mmhg: self.pco2_v,
            },
            u[FIO2],
            u[GAS],
            h,
        );
        let lungs = q_heart / 1000.0 * p.co2_slope_ml_l_mmhg * (self.pco2_v - LUNG_PCO2_MMHG);
        let removed = self.oxygenator.vco2_ml_min + lungs.max(0.0);
        self.pco2_v += (RQ * vo2 - removed) * to_min / p.co2_store_ml_mmhg;

        // Heat: blood and body each relax toward their equilibrium with the other held.
        let g_flow = q_pump * BLOOD_J_G_K / 60.0;
        let blood_g = g_flow + p.circuit_ua_w_k;
        let blood_eq =
            (u[HEATER] + g_flow * self.body_c + p.circuit_ua_w_k * p.ambient_c) / blood_g;
        self.blood_c = relax(
            self.blood_c,
            blood_eq,
            (-h * blood_g / self.blood_j_k).exp(),
        );
        let body_g = g_flow + p.body_ua_w_k;
        let metabolic_w = vo2 * J_PER_ML_O2 / 60.0;
        let body_eq =
            (g_flow * self.blood_c + metabolic_w + p.body_ua_w_k * p.ambient_c) / body_g.max(1e-9);
        self.body_c = relax(self.body_c, body_eq, (-h * body_g / self.body_j_k).exp());

        let pa = self.volume_a / p.arterial_compliance_ml_mmhg;
        let line_p = pa + p.cannula_r_mmhg_min_ml * self.occlusion * q_pump;
        self.out = [
            pa,
            q_pump,
            line_p,
            line_p + self.oxygenator.delta_p_mmhg,
            self.reservoir_ml.max(0.0),
            self.blood_c,
            self.body_c,
            self.body_c,
            if self.air { 1.0 } else { 0.0 },
            self.oxygenator.po2_out_mmhg,
            self.oxygenator.pco2_out_mmhg,
            100.0 * sat_v,
            hct,
            self.volume_v / p.venous_compliance_ml_mmhg,
            if cross_clamped {
                q_cp * p.coronary_r_mmhg_min_ml * self.coronary_factor
            } else {
                pa
            },
            q_cp,
            self.cp_ml,
            self.cp_since_s,
            self.oxygenator.sweep_l_min() * 1000.0,
            self.filtrate_ml,
        ];
    }
}

impl Plant for Bypass {
    fn step(&mut self, inputs: &[f64; MAX_INPUTS], dt_s: f64) {
        let n = (dt_s / MAX_SUBSTEP_S).ceil().max(1.0);
        let h = dt_s / n;
        for _ in 0..n as usize {
            self.substep(inputs, h);
        }
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
            PlantFault::Event(EVENT_DRAINAGE_LOSS) => self.drainage_lost = true,
            PlantFault::Event(EVENT_OXYGENATOR_FAILURE) => self.oxygenator.fail(),
            PlantFault::Event(EVENT_GAS_LOSS) => self.oxygenator.lose_gas(),
            PlantFault::Event(EVENT_CLOT) => self.oxygenator.clot(),
            PlantFault::Event(EVENT_CP_OCCLUSION) => self.coronary_factor = CP_OCCLUSION_FACTOR,
            PlantFault::Event(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_bypass() -> [f64; MAX_INPUTS] {
        let mut u = [0.0; MAX_INPUTS];
        u[PUMP] = 4730.0;
        u[FIO2] = 50.0;
        u[GAS] = 4.0;
        u
    }

    fn run(b: &mut Bypass, u: &[f64; MAX_INPUTS], seconds: f64) {
        for _ in 0..(seconds * 100.0) as usize {
            b.step(u, 0.01);
        }
    }

    #[test]
    fn full_flow_gives_bypass_pressures_gases_and_dilution() {
        let mut b = Bypass::new(BypassParams::DEFAULT);
        let before = b.out[HCT];
        assert!((39.0..41.0).contains(&before), "Hct {before}");
        assert!((5.0..15.0).contains(&b.out[CVP]), "CVP {}", b.out[CVP]);
        run(&mut b, &on_bypass(), 600.0);
        let o = b.out;
        assert!((55.0..80.0).contains(&o[MAP]), "MAP {}", o[MAP]);
        assert!((120.0..220.0).contains(&o[LINE_P]), "line {}", o[LINE_P]);
        assert!((25.0..33.0).contains(&o[HCT]), "Hct {}", o[HCT]);
        assert!((150.0..300.0).contains(&o[PO2]), "PO2 {}", o[PO2]);
        assert!((30.0..45.0).contains(&o[PCO2]), "PCO2 {}", o[PCO2]);
        assert!((60.0..85.0).contains(&o[SVO2]), "SvO2 {}", o[SVO2]);
        assert!(
            (800.0..2500.0).contains(&o[RESERVOIR]),
            "level {}",
            o[RESERVOIR]
        );
        assert!(o[CVP] < 6.0, "an emptied heart: CVP {}", o[CVP]);
        assert_eq!(o[AIR], 0.0);
    }

    #[test]
    fn lost_drainage_empties_the_reservoir_then_pumps_air() {
        let mut b = Bypass::new(BypassParams::DEFAULT);
        let u = on_bypass();
        run(&mut b, &u, 120.0);
        b.inject(PlantFault::Event(EVENT_DRAINAGE_LOSS));
        let level = b.out[RESERVOIR];
        run(&mut b, &u, 5.0);
        assert!(
            b.out[RESERVOIR] < level - 300.0,
            "{level} → {}",
            b.out[RESERVOIR]
        );
        run(&mut b, &u, 60.0);
        assert_eq!(b.out[RESERVOIR], 0.0);
        assert_eq!(b.out[AIR], 1.0);
    }

    #[test]
    fn cardioplegia_arrests_the_heart_and_dilutes_the_blood() {
        let mut b = Bypass::new(BypassParams::DEFAULT);
        let mut u = on_bypass();
        run(&mut b, &u, 300.0);
        let hct = b.out[HCT];
        u[CROSS_CLAMP] = 1.0;
        u[CP_PUMP] = 300.0;
        run(&mut b, &u, 60.0);
        assert!(
            (80.0..100.0).contains(&b.out[ROOT_P]),
            "root {}",
            b.out[ROOT_P]
        );
        assert_eq!(b.out[CP_SINCE], 0.0);
        u[CP_PUMP] = 0.0;
        run(&mut b, &u, 120.0);
        assert!(
            (b.out[CP_VOLUME] - 300.0).abs() < 1.0,
            "{}",
            b.out[CP_VOLUME]
        );
        assert!((b.out[CP_SINCE] - 120.0).abs() < 0.02);
        assert!(b.out[HCT] < hct - 0.5 && b.heart < 0.05);
        // The haemofilter takes the crystalloid back out.
        u[UF_PUMP] = 100.0;
        run(&mut b, &u, 180.0);
        assert!(b.out[HCT] > hct, "{} vs {hct}", b.out[HCT]);
        assert!((b.out[UF_VOLUME] - 300.0).abs() < 1.0);
    }

    #[test]
    fn the_heater_cooler_cools_and_rewarms_the_patient() {
        let mut b = Bypass::new(BypassParams::DEFAULT);
        let mut u = on_bypass();
        u[HEATER] = -1500.0;
        run(&mut b, &u, 1200.0);
        let cold = b.out[CORE_T];
        assert!(cold < 33.5, "core {cold}");
        assert!(b.out[ARTERIAL_T] < b.out[VENOUS_T]);
        u[HEATER] = 1000.0;
        run(&mut b, &u, 600.0);
        assert!(b.out[CORE_T] > cold + 1.0);
        assert!(b.out[ARTERIAL_T] - b.out[VENOUS_T] < 4.0, "gradient");
    }

    #[test]
    fn clot_and_occlusion_raise_the_circuit_pressures() {
        let mut b = Bypass::new(BypassParams::DEFAULT);
        let u = on_bypass();
        run(&mut b, &u, 120.0);
        let dp = b.out[PRE_OXY_P] - b.out[LINE_P];
        b.inject(PlantFault::Event(EVENT_CLOT));
        run(&mut b, &u, 1800.0);
        let clotted = b.out[PRE_OXY_P] - b.out[LINE_P];
        assert!((clotted / dp - 2.0).abs() < 0.05, "{dp} → {clotted}");
        let line = b.out[LINE_P];
        b.inject(PlantFault::Occlusion { factor: 3.0 });
        run(&mut b, &u, 5.0);
        assert!(b.out[LINE_P] > line + 150.0);
    }
}
