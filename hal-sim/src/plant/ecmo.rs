//! An adult on veno-arterial ECMO after cardiac arrest or in cardiogenic shock (§13F): a
//! centrifugal pump drains the venous side through a drainage cannula, pushes the blood through
//! the oxygenator ([`super::oxygenator`]) and returns it through an arterial cannula, in parallel
//! with a failing heart.
//!
//! - Pump (§13F): a pressure source `ΔP = a·rpm² − b·Q`, so the flow depends on the afterload
//!   and runs backwards through a stopped or slow pump when the arterial pressure exceeds the
//!   head; a closed return clamp stops the line. The drainage (pre-pump) pressure is
//!   `P_v − R_d·Q`; once the venous side empties below 0 mmHg the vein collapses around the
//!   cannula and `R_d` grows, so the pressure plunges and the flow falls (chatter, §13B [S 88]
//!   [S 89] [S 90]).
//! - Circulation (Guyton's, §13F): the arterial compliance drains through the systemic
//!   resistance into the venous capacitance, which returns its blood through the resistance to
//!   venous return into the small central veins and right atrium; the heart and the drainage
//!   cannula both draw from there. So the central venous pressure is the peripheral venous
//!   pressure less `R_vr·Q` and falls as the circuit drains more (§13F [S 98]). The failing
//!   heart ejects `Q_max·(1 − e^(−G·(P_cv − P_fill)/Q_max))` with a small `Q_max` (total CI
//!   1.5–2 before support, §13F [P]).
//! - Gases: O2 use 3 mL/kg/min at 37 °C (§13F [S 93]) with the Q10 of §12F; the venous
//!   saturation by Fick from the body's flow, as the bypass model's; CO2 production 0.8 of it; a CO2 store with the ~50-min PaCO2 plateau of §13F [S 72]; the ventilated lungs clear
//!   CO2 from the heart's output.
//! - Heat: circuit blood and body, two nodes as the bypass model.
//! - Faults: `hypovolaemia` bleeds `bleed_ml` (drainage pressure falls: chatter),
//!   `oxygenator-failure`, `gas-supply-loss`, `clot`; air sets the bubble output; an occlusion
//!   multiplies the return cannula's resistance; a leak drains the return line.

use std::collections::BTreeMap;

use perfuse_hal::{ActuatorKind as A, SensorKind as S};

use super::bypass::{HUFNER_ML_G, LUNG_SAT, po2_at, saturation};
use super::oxygenator::{Inlet, Oxygenator, OxygenatorParams};
use super::physics::{BLOOD_J_G_K, relax};
use super::{MAX_INPUTS, Model, Plant, PlantFault, Site};
use crate::params::param_set;

// Output points.
const MAP: usize = 0;
const PUMP_FLOW: usize = 1;
const DRAINAGE_P: usize = 2;
const PRE_OXY_P: usize = 3;
const RETURN_P: usize = 4;
const BLOOD_T: usize = 5;
const BODY_T: usize = 6;
const AIR: usize = 7;
const PO2: usize = 8;
const PCO2: usize = 9;
const SWEEP: usize = 10;
const CVP: usize = 11;
const SVO2: usize = 12;
const OUTPUTS: usize = 13;

// Inputs.
const PUMP: usize = 0;
const CLAMP: usize = 1;
const HEATER: usize = 2;
const FIO2: usize = 3;
const GAS: usize = 4;

const EVENT_HYPOVOLAEMIA: usize = 0;
const EVENT_OXYGENATOR_FAILURE: usize = 1;
const EVENT_GAS_LOSS: usize = 2;
const EVENT_CLOT: usize = 3;

/// Respiratory quotient (typical).
const RQ: f64 = 0.8;
/// Oxygen's heat of combustion, J per mL O2 (physiological constant).
const J_PER_ML_O2: f64 = 20.1;
/// Venous PO2 the membrane starts from, mmHg (normal mixed-venous value).
const VENOUS_PO2_MMHG: f64 = 40.0;
/// Lowest venous saturation the Fick balance returns (my choice: keeps the inlet PO2 finite
/// when the flow stops).
const MIN_SVO2: f64 = 0.05;
/// PaCO2 of the ventilated lungs' outflow, mmHg (normal value).
const LUNG_PCO2_MMHG: f64 = 40.0;
/// Negative venous pressure over which the drainage cannula's resistance doubles as the vein
/// collapses around it, mmHg (my choice: the "suck-down" of §13B [S 90]).
const COLLAPSE_MMHG: f64 = 5.0;
/// Longest integration sub-step, s.
const MAX_SUBSTEP_S: f64 = 0.02;

/// The VA-ECMO model as the protocol's `simulator.model` names it.
pub(crate) const MODEL: Model = Model {
    name: "ecmo",
    summary: "patient on VA-ECMO: centrifugal pump, drainage collapse, failing heart",
    mode: None,
    defaults: |_| EcmoParams::DEFAULT.values(),
    sources: PARAM_SOURCES,
    params: EcmoParams::DEFS,
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
                (S::Pressure, RETURN_P),
                (S::Temperature, BLOOD_T),
                (S::Bubble, AIR),
                (S::PartialPressure, PO2),
            ],
            actuators: &[(A::CentrifugalPump, PUMP), (A::Clamp, CLAMP)],
        },
        Site {
            name: "venous_line",
            sensors: &[(S::Pressure, DRAINAGE_P), (S::Percent, SVO2)],
            actuators: &[],
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
            sensors: &[(S::Temperature, BLOOD_T)],
            actuators: &[(A::HeaterCooler, HEATER)],
        },
        Site {
            name: "right_atrium",
            sensors: &[(S::Pressure, CVP)],
            actuators: &[],
        },
        Site {
            name: "body",
            sensors: &[(S::Temperature, BODY_T)],
            actuators: &[],
        },
    ],
    events: &[
        (
            "hypovolaemia",
            "the patient bleeds `bleed_ml` at `bleed_ml_min`: the drainage pressure falls and the line chatters",
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
    ],
    build,
};

/// Where each parameter's default comes from (docs/clinical-basis.md), condensed from the
/// comments at the defaults; `perfuse models` shows them.
const PARAM_SOURCES: &[(&str, &str)] = &[
    ("body_kg", "§12/§13"),
    ("pump_head_mmhg_krpm2", "§13F; my choice"),
    ("pump_slip_mmhg_min_ml", "§13F; my choice"),
    ("drainage_r_mmhg_min_ml", "§13B [P]; my choice"),
    ("return_r_mmhg_min_ml", "§13B [P]; my choice"),
    ("systemic_r_mmhg_min_ml", "[D]"),
    ("arterial_compliance_ml_mmhg", "[D]"),
    ("venous_compliance_ml_mmhg", "§12F [T] [D]"),
    ("central_compliance_ml_mmhg", "§13F; my choice"),
    ("venous_return_r_mmhg_min_ml", "§13F [T]"),
    ("stressed_volume_ml", "§12F [T] [D]"),
    ("heart_gain_ml_min_mmhg", "§13F [P]; my choice"),
    ("heart_max_ml_min", "§13F [P]; my choice"),
    ("heart_fill_mmhg", "§13F [P]; my choice"),
    ("bleed_ml", "my choice"),
    ("bleed_ml_min", "my choice"),
    ("vo2_ml_kg_min", "§13F §12F [S 93] [S 64]"),
    ("hb_g_dl", "§13B [D]"),
    ("q10", "§13F §12F [S 93] [S 64]"),
    ("co2_store_ml_mmhg", "§13F [D] [S 72]"),
    ("pco2_start_mmhg", "§13F [D] [S 72]"),
    ("body_start_c", "my choice"),
    ("body_j_kg_k", "my choice"),
    ("circuit_ml", "my choice"),
    ("circuit_j_k", "my choice"),
    ("ambient_c", "my choice"),
    ("body_ua_w_k", "my choice"),
    ("circuit_ua_w_k", "my choice"),
    ("oxy_o2_efficiency", "§12F §13C"),
    ("oxy_sweep_ratio", "§12F §13C"),
    ("oxy_rated_ml_min", "§12F §13C"),
    ("co2_slope_ml_l_mmhg", "§12F §13C"),
    ("oxy_co2_efficiency", "§12F §13C"),
    ("oxy_r_mmhg_min_ml", "§12F §13C"),
    ("gas_tau_s", "§12F §13C"),
    ("oxy_failure_tau_s", "§12F §13C"),
    ("oxy_failure_floor", "§12F §13C"),
    ("clot_doubling_s", "§13C [S 86]; my choice"),
];

param_set! {
    /// VA-ECMO model parameters; defaults in [`EcmoParams::DEFAULT`].
    pub(crate) struct EcmoParams {
        /// body mass in kg
        body_kg: [10.0, 250.0],
        /// pump head coefficient a in mmHg per (1000 rpm)²
        pump_head_mmhg_krpm2: [1.0, 100.0],
        /// pump head loss with flow b in mmHg/(mL/min)
        pump_slip_mmhg_min_ml: [0.0, 1.0],
        /// drainage cannula resistance in mmHg/(mL/min)
        drainage_r_mmhg_min_ml: [0.0001, 1.0],
        /// return cannula resistance in mmHg/(mL/min)
        return_r_mmhg_min_ml: [0.0001, 1.0],
        /// systemic resistance in mmHg/(mL/min)
        systemic_r_mmhg_min_ml: [0.001, 1.0],
        /// arterial compliance in mL/mmHg
        arterial_compliance_ml_mmhg: [0.1, 20.0],
        /// compliance of the peripheral veins in mL/mmHg
        venous_compliance_ml_mmhg: [1.0, 1000.0],
        /// compliance of the central veins and right atrium in mL/mmHg
        central_compliance_ml_mmhg: [0.5, 100.0],
        /// resistance to venous return, peripheral to central veins, in mmHg/(mL/min)
        venous_return_r_mmhg_min_ml: [0.0001, 0.1],
        /// stressed volume of patient and circuit in mL
        stressed_volume_ml: [0.0, 5000.0],
        /// failing heart's gain in mL/min per mmHg of filling
        heart_gain_ml_min_mmhg: [0.0, 5000.0],
        /// most the failing heart ejects in mL/min
        heart_max_ml_min: [0.0, 10_000.0],
        /// venous pressure below which the heart ejects nothing in mmHg
        heart_fill_mmhg: [-20.0, 30.0],
        /// blood lost in a hypovolaemia event in mL
        bleed_ml: [0.0, 5000.0],
        /// rate of that loss in mL/min
        bleed_ml_min: [1.0, 10_000.0],
        /// O2 consumption at 37 °C in mL/kg/min
        vo2_ml_kg_min: [0.5, 10.0],
        /// haemoglobin in g/dL
        hb_g_dl: [3.0, 20.0],
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
        /// circuit blood volume in mL
        circuit_ml: [100.0, 3000.0],
        /// heat capacity of circuit parts in J/K
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

impl EcmoParams {
    /// Every number sourced (§ of docs/clinical-basis.md) or marked as my choice.
    pub(crate) const DEFAULT: EcmoParams = EcmoParams {
        // The reference patient of §12/§13: 80 kg.
        body_kg: 80.0,
        // My choice (§13F gives the form): ~3400 rpm for 4.8 L/min into a MAP of ~70 mmHg.
        pump_head_mmhg_krpm2: 25.0,
        pump_slip_mmhg_min_ml: 0.01,
        // My choice: ~-45 mmHg of drainage pressure at 4.8 L/min (inside the -80 warning of
        // §13B [P]); a return cannula of ~60 mmHg.
        drainage_r_mmhg_min_ml: 0.011,
        return_r_mmhg_min_ml: 0.0125,
        // [D] MAP ~70 mmHg at ~5.6 L/min of total flow (circuit and heart), a shocked
        // vasoconstricted patient.
        systemic_r_mmhg_min_ml: 0.011,
        arterial_compliance_ml_mmhg: 1.5,
        // §12F [T]: about 1 mL/mmHg/kg in all, 80 mL/mmHg for 80 kg [D], of which the central
        // veins and right atrium hold 5 (my choice).
        venous_compliance_ml_mmhg: 75.0,
        central_compliance_ml_mmhg: 5.0,
        // §13F [T]: Guyton's resistance to venous return, 1.4 mmHg per L/min.
        venous_return_r_mmhg_min_ml: 0.0014,
        // §12F [T]: the stressed volume is 20–30 % of the blood volume; the low end, 20 % of
        // 5.6 L [D] (the arrested patient's veins are not constricted by a working circulation).
        stressed_volume_ml: 1120.0,
        // My choice: a heart that ejects under 1.5 L/min (total CI 1.5–2 before support, §13F
        // [P], with a weak heart).
        heart_gain_ml_min_mmhg: 300.0,
        heart_max_ml_min: 1500.0,
        heart_fill_mmhg: 4.0,
        // My choice: a major bleed, as the donor model's.
        bleed_ml: 1800.0,
        bleed_ml_min: 600.0,
        // §13F: 3 mL/kg/min [S 93]; Q10 2.4 (§12F [S 64]).
        vo2_ml_kg_min: 3.0,
        q10: 2.4,
        // §13B: the O2 balance worked at Hb 10 g/dL [D], above the 8-g/dL warning.
        hb_g_dl: 10.0,
        // [D] the ~50-min PaCO2 plateau of §13F [S 72], as the bypass model.
        co2_store_ml_mmhg: 60.0,
        pco2_start_mmhg: 55.0,
        // My choice: after an out-of-hospital arrest, a little cooled.
        body_start_c: 35.5,
        body_j_kg_k: 3500.0,
        // My choice: an adult ECMO circuit's prime.
        circuit_ml: 600.0,
        circuit_j_k: 800.0,
        ambient_c: 22.0,
        // My choice: a covered patient in intensive care.
        body_ua_w_k: 3.0,
        circuit_ua_w_k: 1.0,
        // As the bypass model's oxygenator (§12F, §13C).
        oxy_o2_efficiency: 0.6,
        oxy_sweep_ratio: 0.25,
        oxy_rated_ml_min: 7000.0,
        co2_slope_ml_l_mmhg: 5.0,
        oxy_co2_efficiency: 1.0,
        oxy_r_mmhg_min_ml: 0.006,
        gas_tau_s: 10.0,
        oxy_failure_tau_s: 300.0,
        oxy_failure_floor: 0.05,
        // My choice: a slow clot over a day, doubling ΔP in 6 h (§13C [S 86]).
        clot_doubling_s: 21_600.0,
    };
}

fn build(given: &BTreeMap<String, f64>) -> Result<Box<dyn Plant>, String> {
    let mut p = EcmoParams::DEFAULT;
    p.apply(given)?;
    Ok(Box::new(Ecmo::new(p)))
}

struct Ecmo {
    p: EcmoParams,
    oxygenator: Oxygenator,
    volume_a: f64,
    volume_v: f64,
    volume_c: f64,
    bleed_left_ml: f64,
    occlusion: f64,
    leak_ml_min_mmhg: f64,
    air: bool,
    pco2_v: f64,
    svo2: f64,
    blood_c: f64,
    body_c: f64,
    blood_j_k: f64,
    body_j_k: f64,
    out: [f64; OUTPUTS],
}

impl Ecmo {
    fn new(p: EcmoParams) -> Self {
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
        let mut e = Ecmo {
            oxygenator: Oxygenator::new(oxy, VENOUS_PO2_MMHG, p.pco2_start_mmhg),
            volume_a: 0.0,
            volume_v: p.stressed_volume_ml,
            volume_c: 0.0,
            bleed_left_ml: 0.0,
            occlusion: 1.0,
            leak_ml_min_mmhg: 0.0,
            air: false,
            pco2_v: p.pco2_start_mmhg,
            svo2: saturation(VENOUS_PO2_MMHG),
            blood_c: p.body_start_c,
            body_c: p.body_start_c,
            blood_j_k: p.circuit_ml * BLOOD_J_G_K + p.circuit_j_k,
            body_j_k: p.body_kg * p.body_j_kg_k,
            out: [0.0; OUTPUTS],
            p,
        };
        // The failing heart's own circulation before the pump starts, the line clamped.
        let mut idle = [0.0; MAX_INPUTS];
        idle[CLAMP] = 1.0;
        for _ in 0..3000 {
            e.substep(&idle, 0.02);
        }
        e
    }

    fn substep(&mut self, u: &[f64; MAX_INPUTS], h: f64) {
        let p = self.p;
        let pa = self.volume_a / p.arterial_compliance_ml_mmhg;
        let pv = self.volume_v / p.venous_compliance_ml_mmhg;
        let pc = self.volume_c / p.central_compliance_ml_mmhg;
        let r_oxy = self.oxygenator.resistance();
        let r_drain = p.drainage_r_mmhg_min_ml * (1.0 + (-pc).max(0.0) / COLLAPSE_MMHG);
        let r_return = p.return_r_mmhg_min_ml * self.occlusion;
        let rpm_k = u[PUMP].max(0.0) / 1000.0;
        let head = p.pump_head_mmhg_krpm2 * rpm_k * rpm_k;
        // Forward or backward through the whole line; nothing through a closed clamp.
        let q_pump = if u[CLAMP] >= 0.5 {
            0.0
        } else {
            (head + pc - pa) / (p.pump_slip_mmhg_min_ml + r_drain + r_oxy + r_return)
        };
        let q_sys = (pa - pv) / p.systemic_r_mmhg_min_ml;
        let q_return = (pv - pc) / p.venous_return_r_mmhg_min_ml;
        let starling = p.heart_gain_ml_min_mmhg * (pc - p.heart_fill_mmhg).max(0.0);
        let q_heart = p.heart_max_ml_min * -(-starling / p.heart_max_ml_min.max(1e-9)).exp_m1();
        let return_p = pa + r_return * q_pump;
        let q_leak = self.leak_ml_min_mmhg * return_p.max(0.0);
        let bleed = if self.bleed_left_ml > 0.0 {
            let ml = (p.bleed_ml_min * h / 60.0).min(self.bleed_left_ml);
            self.bleed_left_ml -= ml;
            ml
        } else {
            0.0
        };
        let to_min = h / 60.0;
        self.volume_a += (q_pump + q_heart - q_sys - q_leak) * to_min;
        self.volume_v += (q_sys - q_return) * to_min - bleed;
        self.volume_c += (q_return - q_pump - q_heart) * to_min;

        // Gases: the body takes its O2 from what the circuit and the lungs give the systemic
        // flow (Fick); the membrane sees the venous blood.
        let vo2 = p.vo2_ml_kg_min * p.body_kg * p.q10.powf((self.body_c - 37.0) / 10.0);
        let q_body = q_pump.max(0.0) + q_heart;
        let sat_a = if q_body > 1.0 {
            (q_pump.max(0.0) * saturation(self.oxygenator.po2_out_mmhg) + q_heart * LUNG_SAT)
                / q_body
        } else {
            LUNG_SAT
        };
        let capacity = HUFNER_ML_G * p.hb_g_dl * 10.0 * q_body.max(1.0) / 1000.0;
        self.svo2 = (sat_a - vo2 / capacity).max(MIN_SVO2);
        self.oxygenator.step(
            Inlet {
                flow_ml_min: q_pump,
                po2_mmhg: po2_at(self.svo2),
                pco2_mmhg: self.pco2_v,
            },
            u[FIO2],
            u[GAS],
            h,
        );
        let lungs = q_heart / 1000.0 * p.co2_slope_ml_l_mmhg * (self.pco2_v - LUNG_PCO2_MMHG);
        let removed = self.oxygenator.vco2_ml_min + lungs.max(0.0);
        self.pco2_v += (RQ * vo2 - removed) * to_min / p.co2_store_ml_mmhg;

        // Heat, as the bypass model.
        let g_flow = q_pump.abs() * BLOOD_J_G_K / 60.0;
        let blood_g = g_flow + p.circuit_ua_w_k;
        let blood_eq =
            (u[HEATER] + g_flow * self.body_c + p.circuit_ua_w_k * p.ambient_c) / blood_g;
        self.blood_c = relax(
            self.blood_c,
            blood_eq,
            (-h * blood_g / self.blood_j_k).exp(),
        );
        let body_g = g_flow + p.body_ua_w_k;
        let body_eq =
            (g_flow * self.blood_c + vo2 * J_PER_ML_O2 / 60.0 + p.body_ua_w_k * p.ambient_c)
                / body_g.max(1e-9);
        self.body_c = relax(self.body_c, body_eq, (-h * body_g / self.body_j_k).exp());

        let pa = self.volume_a / p.arterial_compliance_ml_mmhg;
        let pc = self.volume_c / p.central_compliance_ml_mmhg;
        let return_p = pa + r_return * q_pump;
        self.out = [
            pa,
            q_pump,
            pc - r_drain * q_pump,
            return_p + self.oxygenator.delta_p_mmhg,
            return_p,
            self.blood_c,
            self.body_c,
            if self.air { 1.0 } else { 0.0 },
            self.oxygenator.po2_out_mmhg,
            self.oxygenator.pco2_out_mmhg,
            self.oxygenator.sweep_l_min() * 1000.0,
            pc,
            100.0 * self.svo2,
        ];
    }
}

impl Plant for Ecmo {
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
            PlantFault::Event(EVENT_HYPOVOLAEMIA) => self.bleed_left_ml += self.p.bleed_ml,
            PlantFault::Event(EVENT_OXYGENATOR_FAILURE) => self.oxygenator.fail(),
            PlantFault::Event(EVENT_GAS_LOSS) => self.oxygenator.lose_gas(),
            PlantFault::Event(EVENT_CLOT) => self.oxygenator.clot(),
            PlantFault::Event(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn support(rpm: f64) -> [f64; MAX_INPUTS] {
        let mut u = [0.0; MAX_INPUTS];
        u[PUMP] = rpm;
        u[FIO2] = 60.0;
        u[GAS] = 4.0;
        u
    }

    fn run(e: &mut Ecmo, u: &[f64; MAX_INPUTS], seconds: f64) {
        for _ in 0..(seconds * 100.0) as usize {
            e.step(u, 0.01);
        }
    }

    #[test]
    fn full_support_restores_pressure_and_gases() {
        let mut e = Ecmo::new(EcmoParams::DEFAULT);
        let shocked = e.out[MAP];
        assert!(shocked < 30.0, "MAP before support {shocked}");
        run(&mut e, &support(3400.0), 600.0);
        let o = e.out;
        assert!(
            (4000.0..5600.0).contains(&o[PUMP_FLOW]),
            "flow {}",
            o[PUMP_FLOW]
        );
        assert!((55.0..90.0).contains(&o[MAP]), "MAP {}", o[MAP]);
        assert!(
            (-80.0..0.0).contains(&o[DRAINAGE_P]),
            "drainage {}",
            o[DRAINAGE_P]
        );
        assert!((100.0..350.0).contains(&o[PO2]), "PO2 {}", o[PO2]);
        assert_eq!(o[AIR], 0.0);
    }

    #[test]
    fn a_stopped_pump_runs_backwards_and_bleeding_sucks_the_drainage_down() {
        let mut e = Ecmo::new(EcmoParams::DEFAULT);
        run(&mut e, &support(3400.0), 300.0);
        let drainage = e.out[DRAINAGE_P];
        let mut stopped = Ecmo::new(EcmoParams::DEFAULT);
        run(&mut stopped, &support(3400.0), 300.0);
        run(&mut stopped, &support(0.0), 2.0);
        assert!(
            stopped.out[PUMP_FLOW] < -100.0,
            "reversal {}",
            stopped.out[PUMP_FLOW]
        );
        e.inject(PlantFault::Event(EVENT_HYPOVOLAEMIA));
        run(&mut e, &support(3400.0), 240.0);
        assert!(
            e.out[DRAINAGE_P] < drainage - 30.0,
            "{drainage} → {}",
            e.out[DRAINAGE_P]
        );
    }

    /// §13F [S 98]: as the circuit's flow rose from 1 to 4 L/min, a pig with a failing heart went
    /// from a CVP of 7.5 to 5.1 mmHg and from an SvO2 of 56 to 84 %: the circuit drains the
    /// central veins through the resistance to venous return, and the body's O2 comes in more
    /// flow.
    #[test]
    fn more_circuit_flow_lowers_the_cvp_and_raises_the_venous_saturation() {
        let at = |rpm: f64| {
            let mut e = Ecmo::new(EcmoParams::DEFAULT);
            run(&mut e, &support(rpm), 600.0);
            (e.out[PUMP_FLOW], e.out[CVP], e.out[SVO2])
        };
        let (low_flow, low_cvp, low_sat) = at(1800.0);
        let (full_flow, full_cvp, full_sat) = at(3200.0);
        assert!((1000.0..1600.0).contains(&low_flow), "{low_flow}");
        assert!((4500.0..5100.0).contains(&full_flow), "{full_flow}");
        assert!(low_cvp - full_cvp > 2.0, "{low_cvp} → {full_cvp}");
        assert!((4.0..7.0).contains(&full_cvp), "{full_cvp}");
        assert!(full_sat - low_sat > 10.0, "{low_sat} → {full_sat}");
        assert!((65.0..90.0).contains(&full_sat), "{full_sat}");
    }
}
