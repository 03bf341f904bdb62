//! Lungs on an ex vivo lung perfusion circuit, Toronto-like (§2A): acellular perfusate, a
//! centrifugal pump into the pulmonary artery, a closed left atrium draining to a reservoir, and
//! a ventilator on the trachea.
//!
//! - Hydraulics (§10.1): the pump is a pressure source `H = a·rpm²` behind the circuit's
//!   resistance `b` (oxygenator, tubing, pump slope), with a check valve (no backflow), into the
//!   pulmonary-artery compliance `C`. It drains through the pulmonary vascular bed `R` and the
//!   left-atrial outflow `R_la` to the left-atrial reservoir held at `h` mmHg:
//!   `C·dP/dt = (H − P)/b − (P − h)/(R + R_la)`, stepped exactly (one `exp` per tick); LAP is
//!   `h + R_la·Q`. `R` falls from a vasoconstricted start (`pvr_start_factor`) to the
//!   full-flow PVR as the bed washes out, and rises with lung water.
//! - Ventilation: volume control with constant inspiratory flow and I:E 1:2. The airway pressure
//!   is `PEEP + V/C + R_aw·V̇` during inspiration and `PEEP` during expiration; the ventilator
//!   reports the plateau of each breath (`PEEP + VT/C`, its inspiratory hold), the expired
//!   volume, its set tidal volume and the measured FiO2. Compliance recruits towards
//!   `static_compliance_ml_cmh2o` while ventilated and falls with lung water.
//! - Gas exchange: acellular perfusate carries dissolved O2 only, so pulmonary-venous pO2 mixes
//!   linearly: `pO2_LA = pO2_PA + (1 − shunt)·(P_AO2 − pO2_PA)` with the alveolar gas equation
//!   `P_AO2 = FiO2·713 − pCO2/0.8`, followed with a first-order lag (gas wash-in and transit).
//!   An unventilated lung shunts everything.
//! - Oedema: perfusate filters into the airway at `k·(1 + g·t)·P_cap` (capillary pressure the
//!   mean of PAP and LAP); lung water `W` raises the shunt, PVR `×(1 + W/W_s)` and lowers
//!   compliance `÷(1 + W/W_s)`; the lost perfusate leaves the reservoir. `g > 0` is an injured,
//!   deteriorating lung.
//! - Heat (§10.1, two nodes): heat-exchanger water and the perfusate with lungs and circuit.
//! - Faults: air; occlusion multiplies PVR; leak opens a path from the pulmonary artery; events
//!   `ventilator_failure` (no more breaths), `la_collapse` (the left-atrial reservoir falls below
//!   the lungs), `bronchospasm` (airway resistance ×5, compliance ×0.5).

use std::collections::BTreeMap;

use perfuse_hal::{ActuatorKind as A, SensorKind as S};

use super::physics::{TISSUE_J_G_K, WATER_J_G_K, flush};
use super::thermal::TwoNode;
use super::{MAX_INPUTS, Model, Plant, PlantFault, Site};
use crate::params::param_set;

// Output points.
const PAP: usize = 0;
const LAP: usize = 1;
const PA_FLOW: usize = 2;
const PERFUSATE_T: usize = 3;
const EXCHANGER_T: usize = 4;
const AIR: usize = 5;
const RESERVOIR_ML: usize = 6;
const AIRWAY_P: usize = 7;
const PLATEAU_P: usize = 8;
const EXPIRED_VT: usize = 9;
const SET_VT: usize = 10;
const FIO2: usize = 11;
const LA_PO2: usize = 12;
const PA_PO2: usize = 13;
const OUTPUTS: usize = 14;

// Inputs.
const PUMP: usize = 0;
const CLAMP: usize = 1;
const HEATER: usize = 2;
const TIDAL_VOLUME: usize = 3;
const RATE: usize = 4;
const PEEP: usize = 5;
const FIO2_IN: usize = 6;

// Events, by index in `MODEL.events`.
const VENTILATOR_FAILURE: usize = 0;
const LA_COLLAPSE: usize = 1;
const BRONCHOSPASM: usize = 2;

/// The lung model as the protocol's `simulator.model` names it.
pub(crate) const MODEL: Model = Model {
    name: "lung",
    summary: "pulmonary bed, ventilated lung, gas exchange, oedema",
    mode: None,
    defaults: |_| LungParams::default().values(),
    sources: PARAM_SOURCES,
    params: LungParams::DEFS,
    sites: &[
        Site {
            name: "pulmonary_artery",
            sensors: &[
                (S::Pressure, PAP),
                (S::Flow, PA_FLOW),
                (S::Temperature, PERFUSATE_T),
                (S::Bubble, AIR),
                (S::PartialPressure, PA_PO2),
            ],
            actuators: &[(A::CentrifugalPump, PUMP), (A::Clamp, CLAMP)],
        },
        Site {
            name: "left_atrium",
            sensors: &[(S::Pressure, LAP), (S::PartialPressure, LA_PO2)],
            actuators: &[],
        },
        Site {
            name: "reservoir",
            sensors: &[(S::Temperature, PERFUSATE_T), (S::Volume, RESERVOIR_ML)],
            actuators: &[],
        },
        Site {
            name: "heat_exchanger",
            sensors: &[(S::Temperature, EXCHANGER_T)],
            actuators: &[(A::Heater, HEATER)],
        },
        Site {
            name: "airway",
            sensors: &[(S::AirwayPressure, AIRWAY_P), (S::Volume, EXPIRED_VT)],
            actuators: &[],
        },
        Site {
            name: "ventilator",
            sensors: &[
                (S::AirwayPressure, PLATEAU_P),
                (S::Volume, SET_VT),
                (S::Percent, FIO2),
            ],
            actuators: &[
                (A::TidalVolume, TIDAL_VOLUME),
                (A::RespiratoryRate, RATE),
                (A::Peep, PEEP),
                (A::Fio2, FIO2_IN),
            ],
        },
    ],
    events: &[
        (
            "ventilator_failure",
            "the ventilator stops: no more breaths",
        ),
        (
            "la_collapse",
            "the left-atrial reservoir falls below the lungs (to `la_collapse_mmhg`)",
        ),
        ("bronchospasm", "airway resistance ×5 and compliance ×0.5"),
    ],
    build,
};

/// Where each parameter's default comes from (docs/clinical-basis.md), condensed from the
/// comments at the defaults; `perfuse models` shows them.
const PARAM_SOURCES: &[(&str, &str)] = &[
    ("pvr_dyn_s_cm5", "§2A/§10.2 [D]"),
    ("pvr_start_factor", "my choice"),
    ("pvr_washout_tau_s", "my choice"),
    ("pa_compliance_ml_mmhg", "my choice"),
    ("la_reservoir_mmhg", "§2A [S]"),
    ("la_outflow_mmhg_min_ml", "§2A [S]"),
    ("la_collapse_mmhg", "my choice"),
    ("pump_head_mmhg_krpm2", "§10.1; my choice"),
    ("circuit_mmhg_min_ml", "§10.1; my choice"),
    ("static_compliance_ml_cmh2o", "§2A §10.5 [S] [D]"),
    ("compliance_start_fraction", "my choice"),
    ("recruitment_tau_s", "my choice"),
    ("airway_resistance_cmh2o_s_l", "my choice"),
    ("shunt_fraction", "§10.2 [D]"),
    ("shunt_per_ml_oedema", "§10.2 [D]"),
    ("oedema_scale_ml", "my choice"),
    ("oedema_ml_h_mmhg", "§2A [D]"),
    ("oedema_growth_per_h", "§2A [D]"),
    ("pa_po2_mmhg", "§10.2 [S]"),
    ("pco2_mmhg", "§10.2 [S]"),
    ("gas_tau_s", "my choice"),
    ("perfusate_ml", "§10.4 [T]"),
    ("reservoir_dry_ml", "my choice"),
    ("perfusate_j_g_k", "§10.3 [T]"),
    ("lung_g", "my choice"),
    ("circuit_j_k", "my choice"),
    ("perfusate_start_c", "§2A [T]"),
    ("ambient_c", "my choice"),
    ("ambient_ua_w_k", "my choice"),
    ("exchanger_ml", "my choice"),
    ("exchanger_ua_w_k", "my choice"),
];

param_set! {
    /// Lung model parameters (defaults: a good 70-kg donor lung, see [`LungParams::default`]).
    pub(crate) struct LungParams {
        /// pulmonary vascular resistance at full flow, washed out and without oedema, in dyn·s·cm⁻⁵
        pvr_dyn_s_cm5: [10.0, 2000.0],
        /// PVR at the start as a multiple of the washed-out PVR
        pvr_start_factor: [1.0, 10.0],
        /// time constant of the PVR washout in s of perfusion
        pvr_washout_tau_s: [1.0, 1.0e6],
        /// pulmonary-artery compliance in mL/mmHg
        pa_compliance_ml_mmhg: [0.01, 20.0],
        /// left-atrial reservoir level in mmHg
        la_reservoir_mmhg: [-20.0, 30.0],
        /// left-atrial reservoir level after an `la_collapse` event in mmHg
        la_collapse_mmhg: [-30.0, 10.0],
        /// left-atrial outflow resistance in mmHg/(mL/min)
        la_outflow_mmhg_min_ml: [0.0, 1.0],
        /// centrifugal pump head in mmHg per (1000 rpm)²
        pump_head_mmhg_krpm2: [0.1, 1000.0],
        /// circuit resistance between pump and pulmonary artery in mmHg/(mL/min)
        circuit_mmhg_min_ml: [0.001, 1.0],
        /// static compliance of the recruited lung without oedema in mL/cmH2O
        static_compliance_ml_cmh2o: [5.0, 500.0],
        /// compliance at the start of ventilation as a fraction of the recruited one
        compliance_start_fraction: [0.1, 1.0],
        /// time constant of recruitment in s of ventilation
        recruitment_tau_s: [1.0, 1.0e6],
        /// airway resistance in cmH2O/(L/s)
        airway_resistance_cmh2o_s_l: [0.0, 200.0],
        /// intrapulmonary shunt fraction of the ventilated lung without oedema
        shunt_fraction: [0.0, 1.0],
        /// shunt fraction added per mL of lung water
        shunt_per_ml_oedema: [0.0, 0.1],
        /// lung water at which PVR has doubled and compliance halved in mL
        oedema_scale_ml: [1.0, 1.0e5],
        /// filtration of perfusate into the airway per mmHg capillary pressure in mL/h
        oedema_ml_h_mmhg: [0.0, 1000.0],
        /// growth of the filtration coefficient per hour of perfusion (injury; 0 = stable)
        oedema_growth_per_h: [0.0, 100.0],
        /// pO2 of the deoxygenated perfusate entering the pulmonary artery in mmHg
        pa_po2_mmhg: [0.0, 700.0],
        /// alveolar pCO2 in mmHg
        pco2_mmhg: [0.0, 100.0],
        /// time constant of the left-atrial pO2 after a change of gas or shunt in s
        gas_tau_s: [1.0, 3600.0],
        /// perfusate volume in mL
        perfusate_ml: [100.0, 10_000.0],
        /// perfusate volume below which the pump draws air in mL
        reservoir_dry_ml: [0.0, 5000.0],
        /// perfusate specific heat in J/(g·K)
        perfusate_j_g_k: [1.0, 5.0],
        /// mass of the lungs in g
        lung_g: [50.0, 5000.0],
        /// heat capacity of circuit parts at perfusate temperature in J/K
        circuit_j_k: [0.0, 100_000.0],
        /// perfusate temperature at the start in °C
        perfusate_start_c: [0.0, 45.0],
        /// room temperature in °C
        ambient_c: [-10.0, 45.0],
        /// perfusate-to-room heat conductance in W/K
        ambient_ua_w_k: [0.0, 100.0],
        /// water volume of the heat exchanger in mL
        exchanger_ml: [10.0, 10_000.0],
        /// exchanger-to-perfusate heat conductance in W/K
        exchanger_ua_w_k: [0.0, 1000.0],
    }
}

impl Default for LungParams {
    /// A good donor lung on a Toronto circuit; every number is sourced (§ of the clinical
    /// reference) or marked as my choice.
    fn default() -> Self {
        LungParams {
            // §2A/§10.2 [D]: (7 − 4) mmHg × 80 / 2.0 L/min.
            pvr_dyn_s_cm5: 120.0,
            // My choice: a cold-stored bed starts constricted and washes out over the first hour.
            pvr_start_factor: 1.5,
            pvr_washout_tau_s: 1200.0,
            // My choice: the pulmonary artery and its cannula.
            pa_compliance_ml_mmhg: 1.0,
            // §2A [S]: closed LA at 3–5 mmHg; level 3 plus 1 mmHg across the outflow at 2 L/min.
            la_reservoir_mmhg: 3.0,
            la_outflow_mmhg_min_ml: 0.0005,
            // My choice: a reservoir fallen ~9 mmHg, as when it slips below the lungs.
            la_collapse_mmhg: -6.0,
            // My choices: ~2000 rpm for 2 L/min against the circuit (§10.1 form).
            pump_head_mmhg_krpm2: 16.75,
            circuit_mmhg_min_ml: 0.03,
            // §2A [S]: Cstat 117 (88–148), Cdyn 77 (58–92), Ppeak 14 (12–16), Pplat 11 (10–12).
            // The medians describe one lung at VT ≈ 700 mL (117 × 6 = 77 × 9 ≈ 700) [D]; at the
            // protocol's 490 mL the compliances are kept near their medians (§10.5): 127 with
            // the recruitment and oedema of hours 1–3 gives Cstat ≈ 112 and, with R_aw 14, Cdyn
            // ≈ 73, so Pplat ≈ 9.4 and Ppeak ≈ 11.7 sit 15 % under theirs.
            static_compliance_ml_cmh2o: 127.0,
            // My choice: a collapsed lung recruits over the first half hour of ventilation.
            compliance_start_fraction: 0.75,
            recruitment_tau_s: 1800.0,
            airway_resistance_cmh2o_s_l: 14.0,
            // [D] from §10.2: LA pO2 514 at FiO2 1.0 with PA pO2 85 → shunt ≈ 0.29 in all;
            // 0.25 plus oedema.
            shunt_fraction: 0.25,
            shunt_per_ml_oedema: 0.0006,
            // My choice.
            oedema_scale_ml: 600.0,
            // [D] §2A: ~90 mL lost over a run at a capillary pressure of ~5.5 mmHg.
            oedema_ml_h_mmhg: 5.5,
            oedema_growth_per_h: 0.0,
            // §10.2 [S]: PA pO2 85, LA pCO2 19–24 mmHg.
            pa_po2_mmhg: 85.0,
            pco2_mmhg: 20.0,
            // My choice: alveolar wash-in plus transit.
            gas_tau_s: 60.0,
            // §10.4 [T]: 1.5–2 L STEEN.
            perfusate_ml: 2000.0,
            // My choice.
            reservoir_dry_ml: 300.0,
            // §10.3 [T]: crystalloid ~4.1 J/(g·K).
            perfusate_j_g_k: 4.1,
            // My choice: a pair of donor lungs.
            lung_g: 1000.0,
            circuit_j_k: 1000.0,
            // §2A [T]: start at ~25 °C.
            perfusate_start_c: 25.0,
            // My choices: room, a covered organ chamber (~30 W lost at 37 °C), the
            // water side of a heater-cooler.
            ambient_c: 22.0,
            ambient_ua_w_k: 2.0,
            exchanger_ml: 300.0,
            exchanger_ua_w_k: 20.0,
        }
    }
}

/// Dry inspired gas at sea level: 760 − 47 mmHg water vapour (physical constant).
const INSPIRED_DRY_MMHG: f64 = 713.0;
/// Respiratory quotient of the alveolar gas equation (physical convention).
const RQ: f64 = 0.8;
/// Inspiratory share of a breath, I:E 1:2 (§2A [T]: protective ventilation; my choice).
const INSPIRATORY_SHARE: f64 = 1.0 / 3.0;
/// Lung flow above which the bed counts as perfused, mL/min (my choice).
const PERFUSED_ML_MIN: f64 = 5.0;
/// dyn·s·cm⁻⁵ per mmHg/(mL/min): 80 × 1000 (§2A's PVR formula with flow in L/min).
const DYN_PER_MMHG_MIN_ML: f64 = 80_000.0;

fn build(given: &BTreeMap<String, f64>) -> Result<Box<dyn Plant>, String> {
    let mut p = LungParams::default();
    p.apply(given)?;
    if p.reservoir_dry_ml >= p.perfusate_ml {
        return Err(format!(
            "simulator param `reservoir_dry_ml` = {} must be below `perfusate_ml` = {}",
            p.reservoir_dry_ml, p.perfusate_ml
        ));
    }
    Ok(Box::new(Lung::new(p)))
}

/// The lung plant's state.
struct Lung {
    p: LungParams,
    // Hydraulics.
    pap: f64,
    pvr_excess: f64,
    la_level: f64,
    occlusion: f64,
    leak_ml_min_mmhg: f64,
    lost_ml: f64,
    air: bool,
    // Ventilation.
    breath_s: f64,
    ventilating: bool,
    ventilator_failed: bool,
    recruit_deficit: f64,
    airway_factor: f64,
    compliance_factor: f64,
    // Gas and oedema.
    la_po2: f64,
    oedema_ml: f64,
    perfused_s: f64,
    // Heat: [exchanger water, perfusate] in °C.
    thermal: TwoNode,
    temps_c: [f64; 2],
    exchanger_j_k: f64,
    perfusate_j_k: f64,
    // Per-step factors, recomputed when dt changes.
    dt_s: f64,
    washout_decay: f64,
    recruit_decay: f64,
    gas_keep: f64,
    out: [f64; OUTPUTS],
}

impl Lung {
    fn new(p: LungParams) -> Self {
        let exchanger_j_k = p.exchanger_ml * WATER_J_G_K;
        let perfusate_j_k =
            p.perfusate_ml * p.perfusate_j_g_k + p.lung_g * TISSUE_J_G_K + p.circuit_j_k;
        let mut lung = Lung {
            pap: p.la_reservoir_mmhg,
            pvr_excess: p.pvr_start_factor - 1.0,
            la_level: p.la_reservoir_mmhg,
            occlusion: 1.0,
            leak_ml_min_mmhg: 0.0,
            lost_ml: 0.0,
            air: false,
            breath_s: 0.0,
            ventilating: false,
            ventilator_failed: false,
            recruit_deficit: 1.0 - p.compliance_start_fraction,
            airway_factor: 1.0,
            compliance_factor: 1.0,
            la_po2: p.pa_po2_mmhg,
            oedema_ml: 0.0,
            perfused_s: 0.0,
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
            dt_s: 0.0,
            washout_decay: 1.0,
            recruit_decay: 1.0,
            gas_keep: 1.0,
            out: [0.0; OUTPUTS],
            p,
        };
        lung.publish(0.0, lung.la_level, 0.0, 0.0, 0.0, 0.0, 21.0);
        lung
    }

    fn set_dt(&mut self, dt_s: f64) {
        self.washout_decay = (-dt_s / self.p.pvr_washout_tau_s).exp();
        self.recruit_decay = (-dt_s / self.p.recruitment_tau_s).exp();
        self.gas_keep = (-dt_s / self.p.gas_tau_s).exp();
        self.dt_s = dt_s;
    }

    /// Lung water's effect on PVR and compliance: `1 + W/W_s`.
    fn oedema_factor(&self) -> f64 {
        1.0 + self.oedema_ml / self.p.oedema_scale_ml
    }

    /// Pulmonary vascular resistance, mmHg/(mL/min).
    fn pvr(&self) -> f64 {
        self.p.pvr_dyn_s_cm5 / DYN_PER_MMHG_MIN_ML
            * (1.0 + self.pvr_excess)
            * self.oedema_factor()
            * self.occlusion
    }

    /// Static compliance now, mL/cmH2O.
    fn compliance(&self) -> f64 {
        self.p.static_compliance_ml_cmh2o * (1.0 - self.recruit_deficit) * self.compliance_factor
            / self.oedema_factor()
    }

    fn perfusate_left_ml(&self) -> f64 {
        (self.p.perfusate_ml - self.lost_ml).max(0.0)
    }

    #[allow(clippy::too_many_arguments)]
    fn publish(
        &mut self,
        flow: f64,
        lap: f64,
        airway: f64,
        plateau: f64,
        expired: f64,
        set_vt: f64,
        fio2: f64,
    ) {
        let air = self.air || self.perfusate_left_ml() <= self.p.reservoir_dry_ml;
        self.out = [
            self.pap,
            lap,
            flow,
            self.temps_c[1],
            self.temps_c[0],
            if air { 1.0 } else { 0.0 },
            self.perfusate_left_ml(),
            airway,
            plateau,
            expired,
            set_vt,
            fio2,
            self.la_po2,
            self.p.pa_po2_mmhg,
        ];
    }
}

impl Plant for Lung {
    fn step(&mut self, inputs: &[f64; MAX_INPUTS], dt_s: f64) {
        if dt_s != self.dt_s {
            self.set_dt(dt_s);
        }
        // Hydraulics, exact for the pump head held over the step.
        let r = self.pvr();
        let g_lung = 1.0 / (r + self.p.la_outflow_mmhg_min_ml);
        let krpm = inputs[PUMP].max(0.0) / 1000.0;
        let head = self.p.pump_head_mmhg_krpm2 * krpm * krpm;
        let pumping = inputs[CLAMP] < 0.5 && head > self.pap;
        let g_pump = if pumping {
            1.0 / self.p.circuit_mmhg_min_ml
        } else {
            0.0
        };
        let g = g_pump + g_lung + self.leak_ml_min_mmhg;
        let p_end = (head * g_pump + self.la_level * g_lung) / g;
        let tau_s = 60.0 * self.p.pa_compliance_ml_mmhg / g;
        let decay = (-dt_s / tau_s).exp();
        let p0 = self.pap;
        self.pap = p_end + flush((p0 - p_end) * decay);
        let p_mean = p_end + (p0 - p_end) * tau_s * (1.0 - decay) / dt_s;
        let pump_flow = (head - p_mean) * g_pump;
        let lung_flow = ((p_mean - self.la_level) * g_lung).max(0.0);
        let lap = self.la_level + self.p.la_outflow_mmhg_min_ml * lung_flow;
        let perfused = lung_flow > PERFUSED_ML_MIN;
        if perfused {
            self.pvr_excess = flush(self.pvr_excess * self.washout_decay);
            self.perfused_s += dt_s;
            let capillary = (0.5 * (p_mean + lap)).max(0.0);
            let k = self.p.oedema_ml_h_mmhg
                * (1.0 + self.p.oedema_growth_per_h * self.perfused_s / 3600.0);
            let filtered = k * capillary * dt_s / 3600.0;
            self.oedema_ml += filtered;
            self.lost_ml += filtered;
        }
        self.lost_ml += self.leak_ml_min_mmhg * p_mean * dt_s / 60.0;

        // Ventilation, volume control with constant inspiratory flow.
        let (vt, rate, peep) = (
            inputs[TIDAL_VOLUME].max(0.0),
            inputs[RATE].max(0.0),
            inputs[PEEP].max(0.0),
        );
        let breathing = !self.ventilator_failed && vt > 0.0 && rate > 0.0;
        if breathing && !self.ventilating {
            self.breath_s = 0.0;
        }
        self.ventilating = breathing;
        let compliance = self.compliance();
        let (airway, plateau, expired) = if breathing {
            let period_s = 60.0 / rate;
            self.breath_s += dt_s;
            if self.breath_s >= period_s {
                self.breath_s = (self.breath_s - period_s).min(period_s);
            }
            let ti_s = period_s * INSPIRATORY_SHARE;
            let plateau = peep + vt / compliance;
            let airway = if self.breath_s < ti_s {
                let flow_ml_s = vt / ti_s;
                peep + flow_ml_s * self.breath_s / compliance
                    + self.p.airway_resistance_cmh2o_s_l * self.airway_factor * flow_ml_s / 1000.0
            } else {
                peep
            };
            self.recruit_deficit = flush(self.recruit_deficit * self.recruit_decay);
            (airway, plateau, vt)
        } else {
            (0.0, 0.0, 0.0)
        };

        // Gas exchange into the left atrium.
        let fio2 = inputs[FIO2_IN].clamp(0.0, 100.0);
        let alveolar = fio2 / 100.0 * INSPIRED_DRY_MMHG - self.p.pco2_mmhg / RQ;
        let shunt = if breathing {
            (self.p.shunt_fraction + self.p.shunt_per_ml_oedema * self.oedema_ml).min(1.0)
        } else {
            1.0
        };
        let pa_po2 = self.p.pa_po2_mmhg;
        let target = pa_po2 + (1.0 - shunt) * (alveolar - pa_po2);
        self.la_po2 = target + (self.la_po2 - target) * self.gas_keep;

        // Heat.
        let heat_in = [
            inputs[HEATER].max(0.0) / self.exchanger_j_k,
            self.p.ambient_ua_w_k * self.p.ambient_c / self.perfusate_j_k,
        ];
        self.thermal.step(&mut self.temps_c, heat_in, dt_s);

        self.publish(pump_flow, lap, airway, plateau, expired, vt, fio2);
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
            PlantFault::Event(VENTILATOR_FAILURE) => self.ventilator_failed = true,
            PlantFault::Event(LA_COLLAPSE) => self.la_level = self.p.la_collapse_mmhg,
            PlantFault::Event(BRONCHOSPASM) => {
                self.airway_factor = 5.0;
                self.compliance_factor = 0.5;
            }
            PlantFault::Event(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plant(pairs: &[(&str, f64)]) -> Lung {
        let mut p = LungParams::default();
        p.apply(&pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect())
            .unwrap();
        Lung::new(p)
    }

    /// Pump speed, then tidal volume, rate, PEEP and FiO2.
    fn inputs(rpm: f64, vent: [f64; 4]) -> [f64; MAX_INPUTS] {
        let mut u = [0.0; MAX_INPUTS];
        u[PUMP] = rpm;
        u[TIDAL_VOLUME] = vent[0];
        u[RATE] = vent[1];
        u[PEEP] = vent[2];
        u[FIO2_IN] = vent[3];
        u
    }

    /// Runs `seconds` at 100 Hz and returns the largest airway pressure seen.
    fn run(l: &mut Lung, u: &[f64; MAX_INPUTS], seconds: f64) -> f64 {
        let mut peak: f64 = 0.0;
        for _ in 0..(seconds * 100.0) as usize {
            l.step(u, 0.01);
            peak = peak.max(l.out[AIRWAY_P]);
        }
        peak
    }

    #[test]
    fn full_flow_gives_the_toronto_pressures_and_pvr() {
        let mut l = plant(&[("pvr_start_factor", 1.0), ("oedema_ml_h_mmhg", 0.0)]);
        let u = inputs(2010.0, [490.0, 7.0, 5.0, 21.0]);
        run(&mut l, &u, 60.0);
        let (pap, lap, q) = (l.out[PAP], l.out[LAP], l.out[PA_FLOW]);
        assert!((1800.0..2200.0).contains(&q), "flow {q}");
        assert!((3.0..=5.0).contains(&lap), "LAP {lap}");
        assert!((6.0..=9.0).contains(&pap), "PAP {pap}");
        let pvr = (pap - lap) * 80.0 / (q / 1000.0);
        assert!((pvr - 120.0).abs() < 1.0, "PVR {pvr}");
    }

    #[test]
    fn ventilation_gives_the_airway_pressures_and_gas_exchange() {
        let mut l = plant(&[("compliance_start_fraction", 1.0)]);
        let u = inputs(2010.0, [490.0, 7.0, 5.0, 100.0]);
        let peak = run(&mut l, &u, 600.0);
        let plateau = l.out[PLATEAU_P];
        // §2A: Cstat 88–148, Cdyn 58–92 mL/cmH2O; at VT 490 mL the pressures sit below the
        // medians' 14 and 11 cmH2O, within 20 % (§10.5).
        let (cstat, cdyn) = (490.0 / (plateau - 5.0), 490.0 / (peak - 5.0));
        assert!((88.0..=148.0).contains(&cstat), "Cstat {cstat}");
        assert!((58.0..=92.0).contains(&cdyn), "Cdyn {cdyn}");
        assert!((14.0 * 0.8..=16.0).contains(&peak), "Ppeak {peak}");
        assert!((11.0 * 0.8..=12.0).contains(&plateau), "Pplat {plateau}");
        let po2 = l.out[LA_PO2];
        assert!((460.0..=560.0).contains(&po2), "LA pO2 {po2} at FiO2 1.0");
        run(&mut l, &inputs(2010.0, [490.0, 7.0, 5.0, 21.0]), 600.0);
        assert!(l.out[LA_PO2] < 150.0, "{}", l.out[LA_PO2]);
    }

    #[test]
    fn an_unventilated_lung_shunts_everything() {
        let mut l = plant(&[]);
        run(&mut l, &inputs(2010.0, [0.0, 0.0, 0.0, 100.0]), 600.0);
        assert!((l.out[LA_PO2] - 85.0).abs() < 1.0, "{}", l.out[LA_PO2]);
        assert_eq!(l.out[AIRWAY_P], 0.0);
    }

    #[test]
    fn oedema_loses_perfusate_and_worsens_the_lung() {
        let u = inputs(2010.0, [490.0, 7.0, 5.0, 21.0]);
        let mut good = plant(&[]);
        let mut bad = plant(&[("oedema_ml_h_mmhg", 10.0), ("oedema_growth_per_h", 1.0)]);
        run(&mut good, &u, 3.0 * 3600.0);
        run(&mut bad, &u, 3.0 * 3600.0);
        let lost = |l: &Lung| 2000.0 - l.out[RESERVOIR_ML];
        assert!(
            (50.0..=175.0).contains(&lost(&good)),
            "good {}",
            lost(&good)
        );
        assert!(lost(&bad) > 3.0 * lost(&good), "bad {}", lost(&bad));
        assert!(bad.pvr() > 1.3 * good.pvr());
        assert!(bad.compliance() < 0.8 * good.compliance());
    }

    #[test]
    fn events_act_on_the_ventilator_and_the_atrium() {
        let u = inputs(2010.0, [490.0, 7.0, 5.0, 21.0]);
        let mut l = plant(&[]);
        run(&mut l, &u, 60.0);
        l.inject(PlantFault::Event(BRONCHOSPASM));
        assert!(run(&mut l, &u, 20.0) > 25.0);
        l.inject(PlantFault::Event(LA_COLLAPSE));
        run(&mut l, &u, 10.0);
        assert!(l.out[LAP] < 0.0, "{}", l.out[LAP]);
        l.inject(PlantFault::Event(VENTILATOR_FAILURE));
        assert_eq!(run(&mut l, &u, 20.0), 0.0);
        assert_eq!(l.out[EXPIRED_VT], 0.0);
    }

    #[test]
    fn the_pump_does_not_run_backwards() {
        let mut l = plant(&[]);
        run(&mut l, &inputs(0.0, [0.0; 4]), 10.0);
        assert_eq!(l.out[PA_FLOW], 0.0);
    }
}
