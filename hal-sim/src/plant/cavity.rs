//! A body cavity perfused with heated fluid: the peritoneal cavity of HIPEC (§7) or the closed
//! hemithorax of HITHOC (§8), chosen by the `thorax` parameter.
//!
//! - Circuit (§7): reservoir → inflow roller pump → heat exchanger → inflow line → cavity →
//!   outflow drain → outflow roller pump → reservoir. The outflow pump draws at most what the
//!   drain passes, `(P_cavity + suction)/R_drain`; a blocked drain (`occlusion`) multiplies
//!   `R_drain`, so fluid builds up in the cavity while the reservoir empties. Below its dry level
//!   the inflow pump draws air.
//! - Cavity pressure: `P = max(0, (V − V_rest)/C)`, the intra-abdominal (or intrathoracic)
//!   pressure of the closed technique.
//! - Heat (§10.1, four nodes): the exchanger water, heated by the heater or held at `bath_c`
//!   (a thermostatted water circuit, as in the swine study of §7); the perfusate (cavity,
//!   reservoir and lines lumped); the heated tissue layer lining the cavity; the patient's core.
//!   The exchanger passes `ε·ṁc·(T_water − T_perfusate)` with `ε = 1 − e^(−UA/ṁc)`, and the
//!   inflow line loses heat to the room (`e^(−UA_line/ṁc)`), so at low flow the inflow arrives
//!   cooler and the cavity heats less: the flow dependence of §7. Each node relaxes exactly
//!   towards its equilibrium with the others held over the tick (time constants ≥ 10 s, ticks
//!   of 10 ms).
//! - Probes: outflow at the perfusate temperature; the upper site (subphrenic / apex, near the
//!   inflow) 30 % of the way to the inflow temperature; the lower site (pelvis / costophrenic
//!   base, against the wall) 15 % of the way to the tissue temperature (my choice, after the
//!   −1.7 °C in the first mm of tissue of §7).
//! - Drug (§8, §10.5): what the drug pump gives mixes into the whole perfusate and passes to
//!   the patient first-order, `dA/dt = −k_a·A` (`drug_absorption_per_h`); the drug line reports
//!   the share of the drug given so far that is still in the perfusate (100 % before any is
//!   given). Perfusate that leaks out takes its share of the drug with it.
//! - Faults: air sets the bubble output; occlusion blocks the drain; a leak drains the cavity
//!   through `P/R_leak`; the event `malignant-hyperthermia` adds heat produced in the core (an
//!   anaesthetic hypermetabolic crisis), which core-temperature monitoring must catch.

use std::collections::BTreeMap;

use perfuse_hal::{ActuatorKind as A, SensorKind as S};

use super::physics::{DENSITY_G_ML, TISSUE_J_G_K, WATER_J_G_K, relax};
use super::{MAX_INPUTS, Model, Plant, PlantFault, Site};
use crate::params::{mode, param_set};

// Output points.
const INFLOW_FLOW: usize = 0;
const OUTFLOW_FLOW: usize = 1;
const INFLOW_T: usize = 2;
const OUTFLOW_T: usize = 3;
const UPPER_T: usize = 4;
const LOWER_T: usize = 5;
const CORE_T: usize = 6;
const WATER_T: usize = 7;
const CAVITY_P: usize = 8;
const CAVITY_ML: usize = 9;
const RESERVOIR_ML: usize = 10;
const AIR: usize = 11;
const DRUG_LEFT_PCT: usize = 12;
const OUTPUTS: usize = 13;

// Inputs.
const INFLOW_PUMP: usize = 0;
const OUTFLOW_PUMP: usize = 1;
const HEATER: usize = 2;
const DRUG_PUMP: usize = 3;

/// Index of the `malignant-hyperthermia` event in [`MODEL`]'s events.
const HYPERTHERMIA: usize = 0;

/// The cavity model as the protocol's `simulator.model` names it.
pub(crate) const MODEL: Model = Model {
    name: "cavity",
    summary: "peritoneal or pleural cavity, patient core",
    mode: Some(("thorax", false)),
    defaults: |m| CavityParams::defaults(m).values(),
    sources: PARAM_SOURCES,
    params: CavityParams::DEFS,
    sites: &[
        Site {
            name: "inflow_line",
            sensors: &[
                (S::Flow, INFLOW_FLOW),
                (S::Temperature, INFLOW_T),
                (S::Bubble, AIR),
            ],
            actuators: &[(A::RollerPump, INFLOW_PUMP)],
        },
        Site {
            name: "outflow_line",
            sensors: &[(S::Flow, OUTFLOW_FLOW), (S::Temperature, OUTFLOW_T)],
            actuators: &[(A::RollerPump, OUTFLOW_PUMP)],
        },
        Site {
            name: "cavity",
            sensors: &[(S::Pressure, CAVITY_P), (S::Volume, CAVITY_ML)],
            actuators: &[],
        },
        Site {
            name: "cavity_upper",
            sensors: &[(S::Temperature, UPPER_T)],
            actuators: &[],
        },
        Site {
            name: "cavity_lower",
            sensors: &[(S::Temperature, LOWER_T)],
            actuators: &[],
        },
        Site {
            name: "core",
            sensors: &[(S::Temperature, CORE_T)],
            actuators: &[],
        },
        Site {
            name: "heat_exchanger",
            sensors: &[(S::Temperature, WATER_T)],
            actuators: &[(A::Heater, HEATER)],
        },
        Site {
            name: "reservoir",
            sensors: &[(S::Volume, RESERVOIR_ML), (S::Temperature, OUTFLOW_T)],
            actuators: &[],
        },
        Site {
            name: "drug_line",
            sensors: &[(S::Percent, DRUG_LEFT_PCT)],
            actuators: &[(A::InfusionPump, DRUG_PUMP)],
        },
    ],
    events: &[(
        "malignant-hyperthermia",
        "an anaesthetic hypermetabolic crisis: the core produces `crisis_w` more heat",
    )],
    build,
};

/// Where each parameter's default comes from (docs/clinical-basis.md), condensed from the
/// comments at the defaults; `perfuse models` shows them.
const PARAM_SOURCES: &[(&str, &str)] = &[
    ("cavity_ml", "§8 [S 7-2, D]"),
    ("circuit_ml", "my choice"),
    ("perfusate_j_g_k", "§10.3 [T]"),
    ("perfusate_start_c", "§7; my choice"),
    ("ambient_c", "my choice"),
    ("room_ua_w_k", "§7 [D]; my choice"),
    ("line_ua_w_k", "§7 [D]; my choice"),
    ("exchanger_ml", "my choice"),
    ("exchanger_ua_w_k", "my choice"),
    ("bath_c", "my choice"),
    ("tissue_g", "§7 [S 7-7]; my choice"),
    ("tissue_ua_w_k", "§7 [S 7-7]; my choice"),
    ("perfusion_ua_w_k", "§7 [S 7-7]; my choice"),
    ("body_kg", "§7 [S 7-3]; my choice"),
    ("core_start_c", "§7 [S 7-3]; my choice"),
    ("thermoregulation_ua_w_k", "§7 [S 7-3]; my choice"),
    ("compliance_ml_mmhg", "§7 [S 7-3]; my choice"),
    ("rest_ml", "§7 [S 7-3]; my choice"),
    ("drain_mmhg_min_ml", "my choice"),
    ("suction_mmhg", "my choice"),
    ("crisis_w", "my choice"),
    ("reservoir_dry_ml", "my choice"),
    (
        "drug_absorption_per_h",
        "§10.5 [S pk-4] (abdomen), [S pk-5] (chest) [D]",
    ),
];

param_set! {
    /// Cavity model parameters; defaults depend on `thorax` (see [`CavityParams::defaults`]).
    pub(crate) struct CavityParams {
        /// 0 = peritoneal cavity (HIPEC), 1 = hemithorax (HITHOC)
        thorax: [0.0, 1.0],
        /// perfusate in the cavity at the start in mL
        cavity_ml: [100.0, 15_000.0],
        /// perfusate in the reservoir and lines at the start in mL
        circuit_ml: [100.0, 10_000.0],
        /// perfusate specific heat in J/(g·K)
        perfusate_j_g_k: [1.0, 5.0],
        /// perfusate temperature at the start in °C
        perfusate_start_c: [10.0, 45.0],
        /// room temperature in °C
        ambient_c: [-10.0, 45.0],
        /// perfusate-to-room heat conductance (open surface, reservoir) in W/K
        room_ua_w_k: [0.0, 100.0],
        /// inflow-line-to-room heat conductance in W/K
        line_ua_w_k: [0.0, 100.0],
        /// water volume of the heat exchanger in mL
        exchanger_ml: [10.0, 10_000.0],
        /// exchanger water-to-perfusate heat conductance in W/K
        exchanger_ua_w_k: [1.0, 10_000.0],
        /// exchanger water held at this temperature in °C (0: heated by the heater)
        bath_c: [0.0, 60.0],
        /// mass of the heated tissue layer lining the cavity in g
        tissue_g: [100.0, 50_000.0],
        /// perfusate-to-tissue heat conductance in W/K
        tissue_ua_w_k: [0.1, 1000.0],
        /// tissue-to-core heat conductance (blood perfusion) in W/K
        perfusion_ua_w_k: [0.0, 1000.0],
        /// patient body mass in kg
        body_kg: [5.0, 300.0],
        /// patient core temperature at the start, the one thermoregulation holds, in °C
        core_start_c: [30.0, 42.0],
        /// thermoregulation and anaesthetic heat loss, core to its start temperature, in W/K
        thermoregulation_ua_w_k: [0.1, 1000.0],
        /// cavity compliance in mL/mmHg
        compliance_ml_mmhg: [1.0, 1000.0],
        /// cavity volume below which its pressure is 0 in mL
        rest_ml: [0.0, 15_000.0],
        /// drain resistance in mmHg/(mL/min)
        drain_mmhg_min_ml: [0.0001, 10.0],
        /// suction the outflow pump can apply to the drain in mmHg
        suction_mmhg: [0.0, 200.0],
        /// heat produced in the core after the `malignant-hyperthermia` event in W
        crisis_w: [0.0, 5000.0],
        /// reservoir volume below which the inflow pump draws air in mL
        reservoir_dry_ml: [0.0, 5000.0],
        /// first-order rate at which the drug passes from the perfusate to the patient, per h
        drug_absorption_per_h: [0.0, 20.0],
    }
}

impl CavityParams {
    /// The defaults of each cavity; every number is sourced (§ of docs/clinical-basis.md) or
    /// marked as my choice.
    pub(crate) fn defaults(thorax: bool) -> Self {
        let pick = |abdomen: f64, chest: f64| if thorax { chest } else { abdomen };
        CavityParams {
            thorax: pick(0.0, 1.0),
            // Abdomen: 2 L/m² for a BSA of 1.8 m² [S 7-2, D]; hemithorax 2–4 L [T, §8].
            cavity_ml: pick(3600.0, 3000.0),
            // My choice: a 1.7 L reservoir and 0.3 L of lines; smaller for the chest.
            circuit_ml: pick(2000.0, 1500.0),
            // §10.3 [T]: crystalloid.
            perfusate_j_g_k: 4.1,
            // My choice: the carrier is pre-warmed to body temperature while priming (§7 phase 1).
            perfusate_start_c: 37.0,
            // My choice: room temperature.
            ambient_c: 22.0,
            // Abdomen: fitted with the three below to the swine data of §7 (43 °C water: 43 °C
            // outflow in 18 min at 4 L/min, 40.4 °C plateau at 0.5 L/min, ~3 L/min the least
            // flow that reaches 43 °C) [D]; "43 °C reached" read as within 0.5 °C (the outflow
            // reads 43 °C to the degree), since 43 °C water can only approach 43 °C. A closed
            // technique loses little to the room. Chest: my choice, scaled to the smaller surface.
            room_ua_w_k: pick(0.5, 0.5),
            line_ua_w_k: 2.0,
            // My choice: the water side of a HIPEC heater (1 L) and an exchanger passing ~95 %
            // of the water-perfusate difference at 2 L/min.
            exchanger_ml: 1000.0,
            exchanger_ua_w_k: 800.0,
            bath_c: 0.0,
            // Abdomen [D, fit above]: an 8-kg layer, about 0.5 cm under 1.8 m² of peritoneum
            // (heat penetrates −1.7 °C in the first mm, −1.5 °C per cm, §7 [S 7-7]). Chest: half
            // of it for the pleura of one side (my choice).
            tissue_g: pick(8000.0, 4000.0),
            tissue_ua_w_k: pick(100.0, 50.0),
            perfusion_ua_w_k: pick(10.0, 5.0),
            // My choice: an adult of 70 kg at 36.5 °C; thermoregulation and anaesthesia losses
            // such that 90 min at 42 °C raise the core by about 1 °C (core temperature is
            // monitored and cooled actively in closed HIPEC, §7 [S 7-3]).
            body_kg: 70.0,
            core_start_c: 36.5,
            thermoregulation_ua_w_k: 10.0,
            // Abdomen: 12 mmHg with the cavity filled (target 10–20 mmHg, §7 [S 7-3]) and
            // 80 mL/mmHg (my choice). Chest: 6 mmHg when filled, stiffer (my choice).
            compliance_ml_mmhg: pick(80.0, 60.0),
            rest_ml: pick(2640.0, 2640.0),
            // My choice: the drain passes 6 L/min at 12 mmHg with 40 mmHg of suction.
            drain_mmhg_min_ml: 0.0087,
            suction_mmhg: 40.0,
            // My choice: a basal ~100 W several times over, the core heating ~6 °C/h.
            crisis_w: 400.0,
            // My choice.
            reservoir_dry_ml: 100.0,
            // Abdomen: oxaliplatin's absorption from the peritoneum, 0.57 /h in the population
            // model of 49 patients (§10.5 [S pk-4]). Chest: cisplatin, 33.8 % of the dose
            // absorbed from the pleural space in 1 h at 43 °C (§10.5 [S pk-5]), −ln(1 − 0.338)
            // = 0.4125 /h [D].
            drug_absorption_per_h: pick(0.57, 0.4125),
        }
    }
}

/// Exchanger water-to-room conductance, W/K (my choice: an insulated heater).
const EXCHANGER_ROOM_UA_W_K: f64 = 1.0;
/// Flow below which the lines stand still, mL/min.
const STILL_ML_MIN: f64 = 1.0;
/// Time constant of a standing inflow line cooling to the room, s (my choice).
const STILL_LINE_TAU_S: f64 = 300.0;
/// Share of the inflow excess over the cavity that the upper probe sees (my choice).
const UPPER_SHARE: f64 = 0.3;
/// Share of the wall's deficit under the cavity that the lower probe sees (my choice).
const LOWER_SHARE: f64 = 0.15;
/// Cavity volume below which the drain draws nothing, mL (my choice).
const DRAIN_EMPTY_ML: f64 = 200.0;

fn build(given: &BTreeMap<String, f64>) -> Result<Box<dyn Plant>, String> {
    let thorax = mode(given, "thorax", false, ("peritoneal cavity", "hemithorax"))?;
    let mut p = CavityParams::defaults(thorax);
    p.apply(given)?;
    if p.reservoir_dry_ml >= p.circuit_ml {
        return Err(format!(
            "simulator param `reservoir_dry_ml` = {} must be below `circuit_ml` = {}",
            p.reservoir_dry_ml, p.circuit_ml
        ));
    }
    Ok(Box::new(Cavity::new(p)))
}

/// The cavity plant's state.
struct Cavity {
    p: CavityParams,
    // Hydraulics, mL and mL/min.
    volume_ml: f64,
    leaked_ml: f64,
    drain_resistance: f64,
    leak_ml_min_mmhg: f64,
    air: bool,
    // Heat, °C.
    water_c: f64,
    perfusate_c: f64,
    tissue_c: f64,
    core_c: f64,
    inflow_c: f64,
    /// Heat produced in the core beyond what thermoregulation balances, W.
    core_heat_w: f64,
    water_j_k: f64,
    tissue_j_k: f64,
    core_j_k: f64,
    /// Heat capacity of perfusate per mL, J/(K·mL).
    perfusate_j_k_ml: f64,
    /// ṁc per mL/min of flow, W/K.
    flow_w_k_per_ml_min: f64,
    /// Drug given and drug still in the perfusate, in mL of what the pump gives.
    drug_given_ml: f64,
    drug_left_ml: f64,
    // Per-step factors, recomputed when dt or the conductances change.
    dt_s: f64,
    tissue_keep: f64,
    core_keep: f64,
    still_line_keep: f64,
    drug_keep: f64,
    out: [f64; OUTPUTS],
}

impl Cavity {
    fn new(p: CavityParams) -> Self {
        let perfusate_j_k_ml = DENSITY_G_ML * p.perfusate_j_g_k;
        let mut c = Cavity {
            volume_ml: p.cavity_ml,
            leaked_ml: 0.0,
            drain_resistance: p.drain_mmhg_min_ml,
            leak_ml_min_mmhg: 0.0,
            air: false,
            water_c: if p.bath_c > 0.0 {
                p.bath_c
            } else {
                p.perfusate_start_c
            },
            perfusate_c: p.perfusate_start_c,
            tissue_c: p.core_start_c,
            core_c: p.core_start_c,
            inflow_c: p.perfusate_start_c,
            core_heat_w: 0.0,
            water_j_k: p.exchanger_ml * DENSITY_G_ML * WATER_J_G_K,
            tissue_j_k: p.tissue_g * TISSUE_J_G_K,
            core_j_k: p.body_kg * 1000.0 * TISSUE_J_G_K,
            perfusate_j_k_ml,
            flow_w_k_per_ml_min: perfusate_j_k_ml / 60.0,
            drug_given_ml: 0.0,
            drug_left_ml: 0.0,
            dt_s: 0.0,
            tissue_keep: 1.0,
            core_keep: 1.0,
            still_line_keep: 1.0,
            drug_keep: 1.0,
            out: [0.0; OUTPUTS],
            p,
        };
        c.publish(0.0, 0.0);
        c
    }

    fn set_dt(&mut self, dt_s: f64) {
        let p = &self.p;
        self.tissue_keep = (-(p.tissue_ua_w_k + p.perfusion_ua_w_k) * dt_s / self.tissue_j_k).exp();
        self.core_keep =
            (-(p.perfusion_ua_w_k + p.thermoregulation_ua_w_k) * dt_s / self.core_j_k).exp();
        self.still_line_keep = (-dt_s / STILL_LINE_TAU_S).exp();
        self.drug_keep = (-p.drug_absorption_per_h * dt_s / 3600.0).exp();
        self.dt_s = dt_s;
    }

    fn pressure_mmhg(&self) -> f64 {
        ((self.volume_ml - self.p.rest_ml) / self.p.compliance_ml_mmhg).max(0.0)
    }

    fn reservoir_ml(&self) -> f64 {
        self.p.cavity_ml + self.p.circuit_ml - self.leaked_ml - self.volume_ml
    }

    fn publish(&mut self, inflow: f64, outflow: f64) {
        let air = self.air || self.reservoir_ml() <= self.p.reservoir_dry_ml;
        let f = self.perfusate_c;
        self.out = [
            inflow,
            outflow,
            self.inflow_c,
            f,
            f + UPPER_SHARE * (self.inflow_c - f),
            f - LOWER_SHARE * (f - self.tissue_c),
            self.core_c,
            self.water_c,
            self.pressure_mmhg(),
            self.volume_ml,
            self.reservoir_ml(),
            if air { 1.0 } else { 0.0 },
            if self.drug_given_ml > 0.0 {
                100.0 * self.drug_left_ml / self.drug_given_ml
            } else {
                100.0
            },
        ];
    }
}

impl Plant for Cavity {
    fn step(&mut self, inputs: &[f64; MAX_INPUTS], dt_s: f64) {
        if dt_s != self.dt_s {
            self.set_dt(dt_s);
        }
        let p = self.p;
        // Hydraulics: flows held over the step.
        let pressure = self.pressure_mmhg();
        let dry = self.reservoir_ml() <= p.reservoir_dry_ml;
        let inflow = if dry {
            0.0
        } else {
            inputs[INFLOW_PUMP].max(0.0)
        };
        let drain_passes = if self.volume_ml > DRAIN_EMPTY_ML {
            (pressure + p.suction_mmhg) / self.drain_resistance
        } else {
            0.0
        };
        let outflow = inputs[OUTFLOW_PUMP].max(0.0).min(drain_passes);
        let leak = self.leak_ml_min_mmhg * pressure;
        self.volume_ml = (self.volume_ml + (inflow - outflow - leak) * dt_s / 60.0).max(0.0);
        let leaked_now = leak * dt_s / 60.0;
        let perfusate_ml = (p.cavity_ml + p.circuit_ml - self.leaked_ml).max(1.0);
        self.leaked_ml += leaked_now;

        // Drug: what the pump gives mixes in, the patient absorbs, a leak carries its share out.
        let given = inputs[DRUG_PUMP].max(0.0) * dt_s / 3600.0;
        self.drug_given_ml += given;
        self.drug_left_ml = (self.drug_left_ml + given)
            * self.drug_keep
            * (1.0 - leaked_now / perfusate_ml).max(0.0);

        // Heat: each node relaxes towards its equilibrium with the others held.
        let ambient = p.ambient_c;
        let (f, t, w) = (self.perfusate_c, self.tissue_c, self.water_c);
        let flowing = inflow > STILL_ML_MIN;
        // ṁc through the exchanger and the line, the share the exchanger passes and the share
        // of the line's excess over the room that arrives.
        let (mc, eps, arrive) = if flowing {
            let mc = inflow * self.flow_w_k_per_ml_min;
            (
                mc,
                1.0 - (-p.exchanger_ua_w_k / mc).exp(),
                (-p.line_ua_w_k / mc).exp(),
            )
        } else {
            (0.0, 0.0, 0.0)
        };
        let exchanger_w_k = mc * eps;
        if p.bath_c <= 0.0 {
            let g = exchanger_w_k + EXCHANGER_ROOM_UA_W_K;
            let eq =
                (inputs[HEATER].max(0.0) + exchanger_w_k * f + EXCHANGER_ROOM_UA_W_K * ambient) / g;
            self.water_c = relax(w, eq, (-g * dt_s / self.water_j_k).exp());
        }
        // T_in − T_f = (λ − 1)(T_f − T_room) + λε(T_water − T_f).
        let perfusate_j_k =
            (p.cavity_ml + p.circuit_ml - self.leaked_ml).max(1.0) * self.perfusate_j_k_ml;
        let g_line = mc * (1.0 - arrive);
        let g_water = mc * arrive * eps;
        let g = g_line + g_water + p.room_ua_w_k + p.tissue_ua_w_k;
        let eq = ((g_line + p.room_ua_w_k) * ambient + g_water * w + p.tissue_ua_w_k * t) / g;
        self.perfusate_c = relax(f, eq, (-g * dt_s / perfusate_j_k).exp());
        let ua_tc = p.perfusion_ua_w_k;
        let tissue_eq = (p.tissue_ua_w_k * f + ua_tc * self.core_c) / (p.tissue_ua_w_k + ua_tc);
        self.tissue_c = relax(t, tissue_eq, self.tissue_keep);
        let core_eq = (ua_tc * t + p.thermoregulation_ua_w_k * p.core_start_c + self.core_heat_w)
            / (ua_tc + p.thermoregulation_ua_w_k);
        self.core_c = relax(self.core_c, core_eq, self.core_keep);
        self.inflow_c = if flowing {
            ambient
                + arrive * (self.perfusate_c + eps * (self.water_c - self.perfusate_c) - ambient)
        } else {
            relax(self.inflow_c, ambient, self.still_line_keep)
        };

        self.publish(inflow, outflow);
    }

    fn outputs(&self) -> &[f64] {
        &self.out
    }

    fn inject(&mut self, fault: PlantFault) {
        match fault {
            PlantFault::Air => self.air = true,
            PlantFault::Occlusion { factor } => {
                self.drain_resistance = self.p.drain_mmhg_min_ml * factor
            }
            PlantFault::Leak {
                resistance_mmhg_min_ml,
            } => self.leak_ml_min_mmhg = 1.0 / resistance_mmhg_min_ml,
            PlantFault::Event(HYPERTHERMIA) => self.core_heat_w = self.p.crisis_w,
            PlantFault::Event(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plant(pairs: &[(&str, f64)]) -> Cavity {
        let thorax = pairs.iter().any(|(k, v)| *k == "thorax" && *v == 1.0);
        let mut p = CavityParams::defaults(thorax);
        p.apply(&pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect())
            .unwrap();
        Cavity::new(p)
    }

    fn inputs(inflow: f64, outflow: f64, heater: f64) -> [f64; MAX_INPUTS] {
        let mut u = [0.0; MAX_INPUTS];
        u[INFLOW_PUMP] = inflow;
        u[OUTFLOW_PUMP] = outflow;
        u[HEATER] = heater;
        u
    }

    /// Circulates 43 °C water at `flow_ml_min` for `minutes`; returns the minute the outflow
    /// first reached 42.5 °C (if it did) and the outflow temperature at the end.
    fn swine(flow_ml_min: f64, minutes: f64) -> (Option<f64>, f64) {
        let mut c = plant(&[("bath_c", 43.0)]);
        let u = inputs(flow_ml_min, flow_ml_min, 0.0);
        let dt = 0.1;
        let mut reached = None;
        for i in 1..=(minutes * 600.0) as usize {
            c.step(&u, dt);
            if reached.is_none() && c.out[OUTFLOW_T] >= 42.5 {
                reached = Some(i as f64 * dt / 60.0);
            }
        }
        (reached, c.out[OUTFLOW_T])
    }

    #[test]
    fn four_litres_per_minute_reach_43_degrees_in_about_18_minutes() {
        let (reached, _) = swine(4000.0, 40.0);
        let minutes = reached.expect("43 °C reached");
        assert!(
            (18.0 * 0.8..=18.0 * 1.2).contains(&minutes),
            "{minutes} min"
        );
    }

    #[test]
    fn half_a_litre_per_minute_plateaus_near_40_4_degrees() {
        let (reached, at_60) = swine(500.0, 60.0);
        assert_eq!(reached, None);
        assert!((at_60 - 40.4).abs() < 0.3, "{at_60} °C");
        let (_, at_90) = swine(500.0, 90.0);
        assert!(at_90 - at_60 < 0.3, "a plateau: {at_60} → {at_90} °C");
    }

    #[test]
    fn about_three_litres_per_minute_is_the_least_flow_that_reaches_43_degrees() {
        assert!(swine(3500.0, 90.0).0.is_some());
        assert!(swine(2500.0, 90.0).0.is_none());
    }

    #[test]
    fn a_blocked_drain_fills_the_cavity_and_raises_its_pressure() {
        let mut c = plant(&[]);
        let u = inputs(2000.0, 2000.0, 0.0);
        for _ in 0..600 {
            c.step(&u, 0.1);
        }
        let (p0, v0) = (c.out[CAVITY_P], c.out[CAVITY_ML]);
        assert!((p0 - 12.0).abs() < 0.1, "{p0} mmHg");
        c.inject(PlantFault::Occlusion { factor: 30.0 });
        for _ in 0..600 {
            c.step(&u, 0.1);
        }
        assert!(c.out[CAVITY_P] > 25.0, "{} mmHg", c.out[CAVITY_P]);
        assert!(c.out[CAVITY_ML] > v0 + 1000.0);
        assert!(c.out[OUTFLOW_FLOW] < 300.0);
    }

    #[test]
    fn a_hypermetabolic_crisis_heats_the_core() {
        let mut c = plant(&[("bath_c", 42.5)]);
        let u = inputs(2000.0, 2000.0, 0.0);
        for _ in 0..18_000 {
            c.step(&u, 0.1);
        }
        let before = c.out[CORE_T];
        c.inject(PlantFault::Event(HYPERTHERMIA));
        for _ in 0..18_000 {
            c.step(&u, 0.1);
        }
        assert!(c.out[CORE_T] > before + 2.5, "{before} → {}", c.out[CORE_T]);
    }

    #[test]
    fn the_chest_absorbs_a_third_of_the_cisplatin_in_an_hour() {
        let mut c = plant(&[("thorax", 1.0)]);
        let mut u = inputs(1500.0, 1500.0, 0.0);
        assert_eq!(c.out[DRUG_LEFT_PCT], 100.0, "nothing given yet");
        // 50 mL in 0.1 s, then an hour of circulation.
        u[DRUG_PUMP] = 50.0 * 36_000.0;
        c.step(&u, 0.1);
        u[DRUG_PUMP] = 0.0;
        for _ in 0..36_000 {
            c.step(&u, 0.1);
        }
        // §10.5 [S pk-5]: 33.8 % absorbed in 1 h.
        let left = c.out[DRUG_LEFT_PCT];
        assert!((left - 66.2).abs() < 0.1, "{left} %");
    }

    #[test]
    fn cavity_flag_must_be_zero_or_one() {
        let err = build(&[("thorax".to_string(), 2.0)].into()).err().unwrap();
        assert!(err.contains("`thorax` = 2"), "{err}");
    }
}
