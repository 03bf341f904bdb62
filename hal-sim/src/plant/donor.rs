//! A controlled-DCD donor on thoraco-abdominal normothermic regional perfusion (TA-NRP, §5):
//! an ECMO-type circuit with a centrifugal pump drains the right atrium and returns into the
//! aorta, the arch vessels clamped and vented.
//!
//! - Pump (§10.1): a pressure source `ΔP = a·rpm² − b·Q`. Its inlet hangs on the venous cannula
//!   (resistance `R_c`), its outlet on the aorta, so `Q = (a·rpm² + P_v − P_a)/(b + R_c)`; the
//!   drainage pressure at the pump inlet is `P_v − R_c·Q`. It falls below zero when the pump
//!   out-draws the venous return (the venous compartment empties): the "chatter" of §5. A closed
//!   clamp stops the line; an unclamped pump at low speed lets blood flow backwards.
//! - Body (§10.1): an arterial compliance `C_a` drains through the systemic bed `R_s` into a
//!   venous compliance `C_v`; the volumes add up to a fixed stressed volume (bleeding removes
//!   some). The arterial pressure is stepped exactly with the venous pressure held over the tick
//!   (one `exp`, cached while the conductances do not change); the venous volume takes what the
//!   arterial side gave up, so volume is conserved to rounding.
//! - The heart resumes beating once reperfused: a Starling-like output `h·G_h·(P_v − P_fill)`,
//!   `h` rising from 0 to 1 with a time constant counted while the pump perfuses. It carries
//!   part of the circulation when the pump is weaned.
//! - Heat (§10.1, two nodes): the circuit blood takes the heater-cooler's power and exchanges
//!   heat with the body at the rate the pump carries it (`Q·ρ·c`); the body loses heat through
//!   the open chest and abdomen. Each node relaxes exactly toward its equilibrium with the other
//!   held over the tick.
//! - Lactate (§10.1): produced while perfusion is inadequate, cleared toward a floor once the
//!   systemic flow reaches the adequate flow.
//! - Faults: `cerebral-flow` opens a path through the arch vessels (the clamps fail); a flow
//!   and a pressure distal to them then read it. `hypovolaemia` bleeds `bleed_ml` at
//!   `bleed_ml_min`. Air sets the bubble output; an occlusion multiplies `R_s`; a leak drains
//!   the aorta.

use std::collections::BTreeMap;

use perfuse_hal::{ActuatorKind as A, SensorKind as S};

use super::physics::{BLOOD_J_G_K, TISSUE_J_G_K, relax};
use super::{MAX_INPUTS, Model, Plant, PlantFault, Site};
use crate::params::param_set;

// Output points.
const AORTIC_P: usize = 0;
const PUMP_FLOW: usize = 1;
const DRAINAGE_P: usize = 2;
const BLOOD_T: usize = 3;
const BODY_T: usize = 4;
const AIR: usize = 5;
const LACTATE: usize = 6;
const CEREBRAL_FLOW: usize = 7;
const CEREBRAL_P: usize = 8;
const VENOUS_P: usize = 9;
const OUTPUTS: usize = 10;

// Inputs.
const PUMP: usize = 0;
const CLAMP: usize = 1;
const HEATER: usize = 2;

/// Indices of the model's events in [`MODEL`]`.events`.
const EVENT_CEREBRAL_FLOW: usize = 0;
const EVENT_HYPOVOLAEMIA: usize = 1;

/// The donor model as the protocol's `simulator.model` names it.
pub(crate) const MODEL: Model = Model {
    name: "donor",
    summary: "donor body under regional perfusion, venous drainage",
    mode: None,
    defaults: |_| DonorParams::DEFAULT.values(),
    sources: PARAM_SOURCES,
    params: DonorParams::DEFS,
    sites: &[
        Site {
            name: "arterial_line",
            sensors: &[
                (S::Flow, PUMP_FLOW),
                (S::Temperature, BLOOD_T),
                (S::Bubble, AIR),
                (S::Concentration, LACTATE),
            ],
            actuators: &[(A::CentrifugalPump, PUMP), (A::Clamp, CLAMP)],
        },
        Site {
            name: "aorta",
            sensors: &[(S::Pressure, AORTIC_P)],
            actuators: &[],
        },
        Site {
            name: "venous_line",
            sensors: &[(S::Pressure, DRAINAGE_P)],
            actuators: &[],
        },
        Site {
            name: "right_atrium",
            sensors: &[(S::Pressure, VENOUS_P)],
            actuators: &[],
        },
        Site {
            name: "body",
            sensors: &[(S::Temperature, BODY_T)],
            actuators: &[],
        },
        Site {
            name: "heat_exchanger",
            sensors: &[(S::Temperature, BLOOD_T)],
            actuators: &[(A::HeaterCooler, HEATER)],
        },
        Site {
            name: "arch_vessels",
            sensors: &[(S::Flow, CEREBRAL_FLOW), (S::Pressure, CEREBRAL_P)],
            actuators: &[],
        },
    ],
    events: &[
        (
            "cerebral-flow",
            "the arch-vessel clamps fail: blood flows to the brain, where a distal flow and pressure read it",
        ),
        (
            "hypovolaemia",
            "the body bleeds `bleed_ml` at `bleed_ml_min`",
        ),
    ],
    build,
};

/// Where each parameter's default comes from (docs/clinical-basis.md), condensed from the
/// comments at the defaults; `perfuse models` shows them.
const PARAM_SOURCES: &[(&str, &str)] = &[
    ("pump_head_mmhg_krpm2", "§10.1; my choice"),
    ("pump_slip_mmhg_min_ml", "§10.1; my choice"),
    ("cannula_r_mmhg_min_ml", "my choice"),
    ("systemic_r_mmhg_min_ml", "§5 [D] [T]"),
    ("arterial_compliance_ml_mmhg", "my choice"),
    ("venous_compliance_ml_mmhg", "my choice"),
    ("stressed_volume_ml", "my choice"),
    ("cerebral_r_mmhg_min_ml", "my choice"),
    ("bleed_ml", "my choice"),
    ("bleed_ml_min", "my choice"),
    ("heart_gain_ml_min_mmhg", "my choice"),
    ("heart_fill_mmhg", "my choice"),
    ("heart_recovery_tau_s", "my choice"),
    ("reperfused_ml_min", "my choice"),
    ("body_kg", "my choice"),
    ("bsa_m2", "my choice"),
    ("body_start_c", "my choice"),
    ("circuit_ml", "§10.4 [T]"),
    ("circuit_j_k", "§10.4 [T]"),
    ("ambient_c", "§10.4 [T]"),
    ("body_ua_w_k", "my choice"),
    ("circuit_ua_w_k", "my choice"),
    ("metabolic_w", "my choice"),
    ("lactate_start_mmol_l", "§5 [T]; my choice"),
    ("lactate_floor_mmol_l", "§5 [T]; my choice"),
    ("lactate_clear_tau_s", "§5 [T]; my choice"),
    ("lactate_rise_mmol_l_min", "§5 [T]; my choice"),
    ("adequate_flow_ml_min", "§5 [D] [P]"),
];

param_set! {
    /// Donor model parameters; defaults in [`DonorParams::DEFAULT`].
    pub(crate) struct DonorParams {
        /// pump head coefficient a in mmHg per (1000 rpm)²
        pump_head_mmhg_krpm2: [1.0, 100.0],
        /// pump head loss with flow b in mmHg/(mL/min)
        pump_slip_mmhg_min_ml: [0.0, 1.0],
        /// venous cannula resistance in mmHg/(mL/min)
        cannula_r_mmhg_min_ml: [0.0001, 1.0],
        /// systemic (thoraco-abdominal) resistance in mmHg/(mL/min)
        systemic_r_mmhg_min_ml: [0.001, 1.0],
        /// arterial compliance in mL/mmHg
        arterial_compliance_ml_mmhg: [0.1, 20.0],
        /// venous compliance in mL/mmHg
        venous_compliance_ml_mmhg: [1.0, 1000.0],
        /// stressed blood volume of donor and circuit in mL
        stressed_volume_ml: [0.0, 5000.0],
        /// resistance of the arch vessels when their clamps fail in mmHg/(mL/min)
        cerebral_r_mmhg_min_ml: [0.01, 10.0],
        /// blood lost in a hypovolaemia event in mL
        bleed_ml: [0.0, 5000.0],
        /// rate of that loss in mL/min
        bleed_ml_min: [1.0, 10_000.0],
        /// recovered heart's output per mmHg of filling above `heart_fill_mmhg` in mL/min/mmHg
        heart_gain_ml_min_mmhg: [0.0, 1000.0],
        /// venous pressure below which the heart ejects nothing in mmHg
        heart_fill_mmhg: [-20.0, 30.0],
        /// time constant of the heart's recovery in s of reperfusion
        heart_recovery_tau_s: [1.0, 1.0e6],
        /// pump flow above which the donor counts as reperfused in mL/min
        reperfused_ml_min: [0.0, 10_000.0],
        /// donor body mass in kg
        body_kg: [10.0, 250.0],
        /// donor body surface area in m², as the team enters it into the plugin
        bsa_m2: [0.2, 3.5],
        /// body temperature at the start in °C
        body_start_c: [20.0, 42.0],
        /// circuit blood volume (prime) in mL
        circuit_ml: [100.0, 5000.0],
        /// heat capacity of circuit parts and exchanger water in J/K
        circuit_j_k: [0.0, 100_000.0],
        /// room temperature in °C
        ambient_c: [-10.0, 45.0],
        /// body-to-room heat conductance (open chest and abdomen) in W/K
        body_ua_w_k: [0.0, 200.0],
        /// circuit-to-room heat conductance in W/K
        circuit_ua_w_k: [0.0, 50.0],
        /// metabolic heat of the perfused organs in W
        metabolic_w: [0.0, 500.0],
        /// lactate at the start in mmol/L
        lactate_start_mmol_l: [0.0, 30.0],
        /// lactate an adequately perfused body settles at in mmol/L
        lactate_floor_mmol_l: [0.0, 10.0],
        /// lactate clearance time constant at adequate flow in s
        lactate_clear_tau_s: [60.0, 1.0e6],
        /// lactate rise without perfusion in mmol/L per min
        lactate_rise_mmol_l_min: [0.0, 5.0],
        /// systemic flow at which perfusion counts as adequate in mL/min
        adequate_flow_ml_min: [100.0, 10_000.0],
    }
}

impl DonorParams {
    /// Every number sourced (§ of docs/clinical-basis.md) or marked as my choice.
    pub(crate) const DEFAULT: DonorParams = DonorParams {
        // My choice (§10.1 gives the form, not the numbers): ~2650 rpm for 4.6 L/min into
        // 70 mmHg, as an adult ECMO pump head.
        pump_head_mmhg_krpm2: 25.0,
        pump_slip_mmhg_min_ml: 0.02,
        // My choice: ~23 mmHg across the venous cannula at 4.6 L/min.
        cannula_r_mmhg_min_ml: 0.005,
        // [D] MAP ~65 mmHg (§5 [T]: 60–80) at 2.4 L/min/m² × 1.9 m² = 4.56 L/min with a CVP
        // of ~8, before the heart adds its output.
        systemic_r_mmhg_min_ml: 0.0125,
        // My choice: an aorta stiffened by the cold and the arrest; a venous bed ~40× more
        // compliant.
        arterial_compliance_ml_mmhg: 1.5,
        venous_compliance_ml_mmhg: 60.0,
        // My choice: gives a CVP near 8 mmHg at full flow.
        stressed_volume_ml: 650.0,
        // My choice: a failed arch clamp passes a few hundred mL/min.
        cerebral_r_mmhg_min_ml: 0.3,
        // My choice: a major bleed.
        bleed_ml: 1800.0,
        bleed_ml_min: 600.0,
        // My choice: ~1.6 L/min of native output at a CVP of 10 with the heart recovered.
        heart_gain_ml_min_mmhg: 200.0,
        heart_fill_mmhg: 2.0,
        heart_recovery_tau_s: 1200.0,
        reperfused_ml_min: 1000.0,
        // My choice: an adult donor of BSA ~1.9 m².
        body_kg: 75.0,
        bsa_m2: 1.9,
        // My choice: a donor cooled a little during withdrawal and the stand-off.
        body_start_c: 35.0,
        // §10.4 gives ~1.5 L for comparable circuits [T].
        circuit_ml: 1500.0,
        circuit_j_k: 1500.0,
        ambient_c: 22.0,
        // My choice: ~110 W lost at 36.5 °C from the open cavities.
        body_ua_w_k: 7.5,
        circuit_ua_w_k: 1.5,
        // My choice: low, the brain excluded and the organs barely working.
        metabolic_w: 40.0,
        // My choice: after warm ischaemia lactate is high, then falls (§5 [T], S4).
        lactate_start_mmol_l: 8.0,
        lactate_floor_mmol_l: 1.5,
        lactate_clear_tau_s: 2400.0,
        lactate_rise_mmol_l_min: 0.1,
        // [D] 1.8 L/min/m² × 1.9 m², between the §5 warning and target [P].
        adequate_flow_ml_min: 3400.0,
    };
}

fn build(given: &BTreeMap<String, f64>) -> Result<Box<dyn Plant>, String> {
    let mut p = DonorParams::DEFAULT;
    p.apply(given)?;
    Ok(Box::new(Donor::new(p)))
}

struct Donor {
    p: DonorParams,
    // Hydraulics.
    pressure_a: f64,
    volume_v: f64,
    occlusion: f64,
    leak_ml_min_mmhg: f64,
    cerebral_open: bool,
    bleed_left_ml: f64,
    air: bool,
    /// Heart recovery still to come, 1 → 0.
    heart_gap: f64,
    heart_keep: f64,
    // Arterial step: conductance sum and its decay, cached.
    g_total: f64,
    keep_a: f64,
    /// Mean of the arterial step's decay over the step, `(1 − keep)/(−ln keep)`.
    mean_a: f64,
    dt_s: f64,
    // Heat and lactate.
    blood_c: f64,
    body_c: f64,
    blood_j_k: f64,
    body_j_k: f64,
    lactate: f64,
    out: [f64; OUTPUTS],
}

impl Donor {
    fn new(p: DonorParams) -> Self {
        // Start with the blood pooled in the veins (no circulation).
        let mut d = Donor {
            pressure_a: 0.0,
            volume_v: p.stressed_volume_ml,
            occlusion: 1.0,
            leak_ml_min_mmhg: 0.0,
            cerebral_open: false,
            bleed_left_ml: 0.0,
            air: false,
            heart_gap: 1.0,
            heart_keep: 1.0,
            g_total: f64::NAN,
            keep_a: 1.0,
            mean_a: 1.0,
            dt_s: 0.0,
            blood_c: p.body_start_c,
            body_c: p.body_start_c,
            blood_j_k: p.circuit_ml * BLOOD_J_G_K + p.circuit_j_k,
            body_j_k: p.body_kg * 1000.0 * TISSUE_J_G_K,
            lactate: p.lactate_start_mmol_l,
            out: [0.0; OUTPUTS],
            p,
        };
        d.out[VENOUS_P] = d.venous_pressure();
        d.out[DRAINAGE_P] = d.venous_pressure();
        d.out[BLOOD_T] = d.blood_c;
        d.out[BODY_T] = d.body_c;
        d.out[LACTATE] = d.lactate;
        d
    }

    fn venous_pressure(&self) -> f64 {
        self.volume_v / self.p.venous_compliance_ml_mmhg
    }
}

impl Plant for Donor {
    fn step(&mut self, inputs: &[f64; MAX_INPUTS], dt_s: f64) {
        let p = self.p;
        let clamped = inputs[CLAMP] >= 0.5;
        let g_pump = if clamped {
            0.0
        } else {
            1.0 / (p.pump_slip_mmhg_min_ml + p.cannula_r_mmhg_min_ml)
        };
        let g_sys = 1.0 / (p.systemic_r_mmhg_min_ml * self.occlusion);
        let g_cer = if self.cerebral_open {
            1.0 / p.cerebral_r_mmhg_min_ml
        } else {
            0.0
        };
        let g_total = g_pump + g_sys + g_cer + self.leak_ml_min_mmhg;
        if g_total != self.g_total || dt_s != self.dt_s {
            // C_a·dP_a/dt in mL/min: the factor 60 turns mL/min into mL/s.
            let x = dt_s * g_total / (60.0 * p.arterial_compliance_ml_mmhg);
            self.keep_a = (-x).exp();
            self.mean_a = -(-x).exp_m1() / x;
            self.heart_keep = (-dt_s / p.heart_recovery_tau_s).exp();
            self.g_total = g_total;
            self.dt_s = dt_s;
        }

        // Arterial pressure, exact for the venous pressure and the sources held over the step.
        let pv = self.venous_pressure();
        let rpm_k = inputs[PUMP].max(0.0) / 1000.0;
        let head = p.pump_head_mmhg_krpm2 * rpm_k * rpm_k;
        let heart =
            (1.0 - self.heart_gap) * p.heart_gain_ml_min_mmhg * (pv - p.heart_fill_mmhg).max(0.0);
        let source = g_pump * (head + pv) + (g_sys + g_cer) * pv + heart;
        let p_eq = source / g_total;
        let p0 = self.pressure_a;
        self.pressure_a = relax(p0, p_eq, self.keep_a);
        let p_mean = p_eq + (p0 - p_eq) * self.mean_a;
        let q_pump = g_pump * (head + pv - p_mean);
        let q_sys = g_sys * (p_mean - pv);
        let q_cer = g_cer * (p_mean - pv);
        let q_leak = self.leak_ml_min_mmhg * p_mean;
        let bleed = if self.bleed_left_ml > 0.0 {
            let ml = (p.bleed_ml_min * dt_s / 60.0).min(self.bleed_left_ml);
            self.bleed_left_ml -= ml;
            ml
        } else {
            0.0
        };
        // The veins get what the arteries gave up (volume conserved to rounding).
        let arterial_gain = (self.pressure_a - p0) * p.arterial_compliance_ml_mmhg;
        self.volume_v -= arterial_gain + q_leak * dt_s / 60.0 + bleed;
        if q_pump > p.reperfused_ml_min {
            self.heart_gap *= self.heart_keep;
        }

        // Heat: blood and body each relax toward their equilibrium with the other held.
        let g_flow = q_pump.abs() * BLOOD_J_G_K / 60.0;
        let blood_g = g_flow + p.circuit_ua_w_k;
        let blood_eq = (inputs[HEATER] + g_flow * self.body_c + p.circuit_ua_w_k * p.ambient_c)
            / blood_g.max(1e-9);
        self.blood_c = relax(
            self.blood_c,
            blood_eq,
            (-dt_s * blood_g / self.blood_j_k).exp(),
        );
        let body_g = g_flow + p.body_ua_w_k;
        let body_eq = (g_flow * self.blood_c + p.metabolic_w + p.body_ua_w_k * p.ambient_c)
            / body_g.max(1e-9);
        self.body_c = relax(self.body_c, body_eq, (-dt_s * body_g / self.body_j_k).exp());

        // Lactate: production while underperfused, clearance toward the floor once perfused.
        let adequacy = (q_sys / p.adequate_flow_ml_min).clamp(0.0, 1.0);
        let rise_per_s = p.lactate_rise_mmol_l_min / 60.0 * (1.0 - adequacy);
        let k = adequacy / p.lactate_clear_tau_s;
        self.lactate = if k > 0.0 {
            relax(
                self.lactate,
                p.lactate_floor_mmol_l + rise_per_s / k,
                (-dt_s * k).exp(),
            )
        } else {
            self.lactate + rise_per_s * dt_s
        };

        let pv = self.venous_pressure();
        self.out = [
            self.pressure_a,
            q_pump,
            pv - p.cannula_r_mmhg_min_ml * q_pump,
            self.blood_c,
            self.body_c,
            if self.air { 1.0 } else { 0.0 },
            self.lactate,
            q_cer,
            // The vented stump sees the pressure drop of the cerebral bed's distal half.
            if self.cerebral_open {
                0.5 * (p_mean + pv)
            } else {
                0.0
            },
            pv,
        ];
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
            PlantFault::Event(EVENT_CEREBRAL_FLOW) => self.cerebral_open = true,
            PlantFault::Event(EVENT_HYPOVOLAEMIA) => self.bleed_left_ml += self.p.bleed_ml,
            PlantFault::Event(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(d: &mut Donor, rpm: f64, heater_w: f64, seconds: f64) {
        let mut u = [0.0; MAX_INPUTS];
        u[PUMP] = rpm;
        u[HEATER] = heater_w;
        for _ in 0..(seconds * 100.0) as usize {
            d.step(&u, 0.01);
        }
    }

    fn total_volume(d: &Donor) -> f64 {
        d.pressure_a * d.p.arterial_compliance_ml_mmhg + d.volume_v
    }

    #[test]
    fn full_flow_gives_a_physiological_map_and_cvp() {
        let mut d = Donor::new(DonorParams::DEFAULT);
        run(&mut d, 2650.0, 0.0, 120.0);
        let (q, map, cvp) = (d.out[PUMP_FLOW], d.out[AORTIC_P], d.out[VENOUS_P]);
        assert!(
            (4000.0..5200.0).contains(&q),
            "flow {q} MAP {map} CVP {cvp}"
        );
        assert!((60.0..80.0).contains(&map), "MAP {map}");
        assert!((3.0..12.0).contains(&cvp), "CVP {cvp}");
        assert!(d.out[DRAINAGE_P] < 0.0 && d.out[DRAINAGE_P] > -40.0);
        assert!((total_volume(&d) - d.p.stressed_volume_ml).abs() < 1e-6);
    }

    #[test]
    fn bleeding_drives_the_drainage_pressure_strongly_negative() {
        let mut d = Donor::new(DonorParams::DEFAULT);
        run(&mut d, 2650.0, 0.0, 60.0);
        let before = d.out[DRAINAGE_P];
        d.inject(PlantFault::Event(EVENT_HYPOVOLAEMIA));
        run(&mut d, 2650.0, 0.0, 180.0);
        assert!(
            d.out[DRAINAGE_P] < before - 15.0,
            "{before} → {}",
            d.out[DRAINAGE_P]
        );
        let lost = d.p.stressed_volume_ml - total_volume(&d);
        assert!((lost - d.p.bleed_ml).abs() < 1e-6, "lost {lost}");
    }

    #[test]
    fn lactate_falls_under_adequate_flow_and_cerebral_flow_appears_only_on_the_event() {
        let mut d = Donor::new(DonorParams::DEFAULT);
        run(&mut d, 2650.0, 0.0, 1800.0);
        assert!(d.out[LACTATE] < 6.0, "lactate {}", d.out[LACTATE]);
        assert_eq!(d.out[CEREBRAL_FLOW], 0.0);
        d.inject(PlantFault::Event(EVENT_CEREBRAL_FLOW));
        run(&mut d, 2650.0, 0.0, 5.0);
        assert!(d.out[CEREBRAL_FLOW] > 100.0, "{}", d.out[CEREBRAL_FLOW]);
    }

    #[test]
    fn the_heater_cooler_rewarms_the_body() {
        let mut d = Donor::new(DonorParams::DEFAULT);
        run(&mut d, 2650.0, 600.0, 1800.0);
        assert!(d.out[BODY_T] > 36.0, "body {}", d.out[BODY_T]);
        assert!(d.out[BLOOD_T] > d.out[BODY_T]);
    }
}
