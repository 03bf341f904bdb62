//! Donor heart on a perfusion circuit through the aortic root, normothermic and beating
//! (OCS-like NESHP, §1A) or hypothermic and arrested (XVIVO-like HOPE, §1B), chosen by the
//! `hypothermic` parameter.
//!
//! - Hydraulics (§10.1): Langendorff mode, the aortic valve closed, so everything the roller pump
//!   delivers into the aortic-root compliance `C` leaves through the coronary bed `R` (and a leak,
//!   when one is injected): `C·dP/dt = Q_line − P/R − P/R_leak`, stepped exactly for `Q_line`
//!   held over the tick. A closed clamp stops the line flow; the probe sits distal to it.
//! - Coronary resistance: `R = R_inf + A·e^(−t/τ) + drift·t`, `t` counting only perfused time;
//!   `A` is the vasoconstriction that washes out after reperfusion, `drift` the slow rise of an
//!   injured bed (oedema, §1A: a rise of ×2–×3 from baseline marks a failing heart).
//! - Oxygen (§10.1): `VO2 = VO2_37·Q10^((T−37)/10)`, where `VO2_37` is the arrested heart's
//!   basal use plus a cost per beat times the rate (§10.5): a heart on the circuit does no
//!   external work (Langendorff), so it uses what a beating empty heart uses, not a working one's;
//!   arterial content `1.34·Hb + 0.0031·PaO2` (oxygenator: saturated); the coronary-sinus
//!   saturation is what remains of the bound oxygen after `VO2` is taken from the coronary flow.
//!   The oxygen used is also the heart's metabolic heat.
//! - Lactate (§10.1, `V·dLac/dt = G − k·Lac`): the red cells and the myocardium release lactate
//!   and the myocardium extracts a fraction of what the coronary flow brings; all three scale
//!   with Q10. Arterial lactate is the perfusate's; coronary-sinus (venous) lactate adds the
//!   heart's net release diluted in the coronary flow. Stepped exactly (one `exp` per tick).
//! - Heat (§10.1, two nodes, as the kidney model): perfusate (with heart and circuit) and the
//!   heat-exchanger water, which takes the heater or heater-cooler power (negative: cooling).
//! - Faults: air sets the bubble output; an occlusion multiplies `R`; a leak drains the reservoir
//!   (below the dry level the pump draws air); the event `vf` puts the heart in ventricular
//!   fibrillation for the rest of the run (the rate monitor reads the fibrillation frequency,
//!   oxygen use, lactate release and coronary resistance rise).

use std::collections::BTreeMap;

use perfuse_hal::{ActuatorKind as A, SensorKind as S};

use super::physics::{METABOLIC_REF_C, TISSUE_J_G_K, WATER_J_G_K, flush};
use super::thermal::TwoNode;
use super::{MAX_INPUTS, Model, Plant, PlantFault, Site};
use crate::params::{mode, param_set};

// Output points.
const PRESSURE: usize = 0;
const LINE_FLOW: usize = 1;
const CORONARY_FLOW: usize = 2;
const PERFUSATE_T: usize = 3;
const EXCHANGER_T: usize = 4;
const AIR: usize = 5;
const ARTERIAL_LACTATE: usize = 6;
const VENOUS_LACTATE: usize = 7;
const VENOUS_SAT: usize = 8;
const HEART_RATE: usize = 9;
const PERFUSATE_ML: usize = 10;
const OUTPUTS: usize = 11;

// Inputs.
const PUMP: usize = 0;
const CLAMP: usize = 1;
const HEATER: usize = 2;

/// Index of ventricular fibrillation in [`MODEL`]'s events.
const EVENT_VF: usize = 0;

/// The heart model as the protocol's `simulator.model` names it.
pub(crate) const MODEL: Model = Model {
    name: "heart",
    summary: "beating or arrested heart, coronary bed, lactate",
    mode: Some(("hypothermic", false)),
    defaults: |m| HeartParams::defaults(m).values(),
    sources: PARAM_SOURCES,
    params: HeartParams::DEFS,
    sites: &[
        Site {
            name: "aortic_root",
            sensors: &[
                (S::Pressure, PRESSURE),
                (S::Flow, LINE_FLOW),
                (S::Temperature, PERFUSATE_T),
                (S::Bubble, AIR),
                (S::Concentration, ARTERIAL_LACTATE),
            ],
            actuators: &[(A::RollerPump, PUMP), (A::Clamp, CLAMP)],
        },
        Site {
            name: "coronary_sinus",
            sensors: &[
                (S::Flow, CORONARY_FLOW),
                (S::Concentration, VENOUS_LACTATE),
                (S::Percent, VENOUS_SAT),
            ],
            actuators: &[],
        },
        Site {
            name: "myocardium",
            sensors: &[(S::Rate, HEART_RATE)],
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
            actuators: &[(A::Heater, HEATER), (A::HeaterCooler, HEATER)],
        },
    ],
    events: &[(
        "vf",
        "ventricular fibrillation for the rest of the run: the rate reads the fibrillation frequency; O2 use, lactate release and coronary resistance rise",
    )],
    build,
};

/// Where each parameter's default comes from (docs/clinical-basis.md), condensed from the
/// comments at the defaults; `perfuse models` shows them.
const PARAM_SOURCES: &[(&str, &str)] = &[
    ("beating", "§1A §1B [T]"),
    ("heart_mass_g", "§10.2 [T]"),
    ("compliance_ml_mmhg", "my choice"),
    ("r_inf_mmhg_min_ml", "§10.2 §1B [D from T]"),
    ("r_excess_mmhg_min_ml", "§10.1; my choice"),
    ("r_excess_tau_s", "§10.1; my choice"),
    ("r_drift_per_h", "§1A"),
    ("heart_rate_bpm", "my choice"),
    ("mvo2_per_beat_ml_100g", "§10.5 [D from S mvo2-1]"),
    ("mvo2_arrested_ml_min_100g", "§10.5 [S mvo2-1]"),
    ("q10", "§10.1 [T]"),
    ("hb_g_dl", "§1B [T] [D]; my choice"),
    ("pao2_mmhg", "§1B; my choice"),
    ("lactate_start_mmol_l", "§1A [S]"),
    ("lactate_release_mmol_h", "§1A [S] [D]; my choice"),
    ("lactate_extraction", "§1A [S] [D]; my choice"),
    ("rbc_lactate_mmol_h", "my choice"),
    ("perfusate_ml", "§10.4 [T]; my choice"),
    ("perfusate_j_g_k", "§10.3 [T]; my choice"),
    ("circuit_j_k", "my choice"),
    ("perfusate_start_c", "my choice"),
    ("ambient_c", "my choice"),
    ("ambient_ua_w_k", "my choice"),
    ("exchanger_ml", "my choice"),
    ("exchanger_ua_w_k", "my choice"),
    ("reservoir_dry_ml", "my choice"),
];

param_set! {
    /// Heart model parameters; defaults depend on `hypothermic` (see [`HeartParams::defaults`]).
    pub(crate) struct HeartParams {
        /// 0 = normothermic beating heart (OCS-like), 1 = hypothermic arrested heart (HOPE)
        hypothermic: [0.0, 1.0],
        /// 1 = the heart beats (sinus rhythm), 0 = arrested
        beating: [0.0, 1.0],
        /// heart mass in g
        heart_mass_g: [50.0, 1000.0],
        /// aortic-root compliance between pump and coronary bed in mL/mmHg
        compliance_ml_mmhg: [0.001, 10.0],
        /// coronary resistance plateau in mmHg/(mL/min)
        r_inf_mmhg_min_ml: [0.01, 10.0],
        /// excess coronary resistance at reperfusion that washes out, in mmHg/(mL/min)
        r_excess_mmhg_min_ml: [0.0, 10.0],
        /// washout time constant in s of perfusion
        r_excess_tau_s: [1.0, 1.0e6],
        /// rise of the coronary resistance per hour of perfusion in mmHg/(mL/min)
        r_drift_per_h: [0.0, 1.0],
        /// spontaneous heart rate in beats/min
        heart_rate_bpm: [0.0, 250.0],
        /// myocardial O2 use per beat of a heart doing no external work, at 37 °C, in mL/100 g
        mvo2_per_beat_ml_100g: [0.0, 0.1],
        /// myocardial O2 use of the arrested heart at 37 °C in mL/100 g/min
        mvo2_arrested_ml_min_100g: [0.0, 20.0],
        /// factor by which metabolism rises per 10 °C
        q10: [1.0, 5.0],
        /// perfusate haemoglobin in g/dL
        hb_g_dl: [0.0, 20.0],
        /// perfusate pO2 after the oxygenator in mmHg
        pao2_mmhg: [0.0, 800.0],
        /// perfusate lactate at the start in mmol/L
        lactate_start_mmol_l: [0.0, 30.0],
        /// myocardial lactate release at 37 °C in mmol/h
        lactate_release_mmol_h: [0.0, 100.0],
        /// fraction of the lactate reaching the myocardium that it extracts, at 37 °C
        lactate_extraction: [0.0, 1.0],
        /// lactate released by the perfusate's red cells at 37 °C in mmol/h
        rbc_lactate_mmol_h: [0.0, 20.0],
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
        /// perfusate volume below which the pump draws air in mL
        reservoir_dry_ml: [0.0, 1000.0],
    }
}

impl HeartParams {
    /// The defaults of each mode; every number is sourced (§ of docs/clinical-basis.md) or
    /// marked as my choice.
    pub(crate) fn defaults(hypothermic: bool) -> Self {
        let pick = |nmp: f64, hope: f64| if hypothermic { hope } else { nmp };
        HeartParams {
            hypothermic: pick(0.0, 1.0),
            // §1A: beating in NESHP; §1B: arrested (cardioplegic) in HOPE [T].
            beating: pick(1.0, 0.0),
            // §10.2 [T].
            heart_mass_g: 300.0,
            // My choice: a ±50 % pump pulse at 60 bpm gives a pulse pressure of ~20 mmHg at
            // R = 0.1.
            compliance_ml_mmhg: pick(0.25, 0.1),
            // NMP: 75 mmHg / 750 mL/min = 0.10 [D, §10.2]. HOPE: 22.5 mmHg / 175 mL/min = 0.13,
            // the middle of the 20–25 mmHg and 100–250 mL/min of §1B [D from T].
            r_inf_mmhg_min_ml: pick(0.10, 0.13),
            // My choice: a vasoconstricted (NMP) or cold-stiff (HOPE) bed at the start whose excess
            // washes out in the first 10–20 min, as the kidney's does (§10.1); the NMP excess is
            // small enough for the coronary flow to reach 650 mL/min within 3 min at 75 mmHg.
            r_excess_mmhg_min_ml: pick(0.02, 0.07),
            r_excess_tau_s: pick(600.0, 1200.0),
            // A good heart's resistance is stable (§1A); the poor scenario sets a drift.
            r_drift_per_h: 0.0,
            // My choice: a sinus rhythm on the OCS; 0 when arrested.
            heart_rate_bpm: pick(80.0, 0.0),
            // §10.5 [S mvo2-1]: 1.74 mL/100 g/min arrested (KCl), 3.8 beating empty at 158
            // beats/min, so (3.8 − 1.74)/158 = 0.013 mL/100 g per beat [D].
            mvo2_per_beat_ml_100g: 0.013,
            mvo2_arrested_ml_min_100g: 1.74,
            // §10.1 [T]: Q10 2–3.
            q10: 2.5,
            // NMP: my choice, donor blood diluted by the prime (Hct ~25 %). HOPE: Hct ~15 % (§1B
            // [T]) → Hb ≈ 5 g/dL [D].
            hb_g_dl: pick(8.0, 5.0),
            // My choice: moderate pO2 warm, high pO2 in the oxygenated cold perfusate (§1B).
            pao2_mmhg: pick(200.0, 500.0),
            // §1A [S]: arterial lactate starts ~2.2 mmol/L.
            lactate_start_mmol_l: 2.2,
            // A good heart keeps lactate at 2.2 mmol/L (§1A [S]): at 37 °C and 750 mL/min the
            // myocardium extracts 5 % of what it receives (my choice), 0.05·45 L/h·2.2 mmol/L =
            // 4.95 mmol/h, which balances its own release of 4.35 and the red cells' 0.6 [D].
            lactate_release_mmol_h: 4.35,
            lactate_extraction: 0.05,
            // My choice: glycolysis of the stored red cells.
            rbc_lactate_mmol_h: 0.6,
            // §10.4 [T]: OCS ~1.5 L; HOPE: my choice (not in the reference), 2.5 L.
            perfusate_ml: pick(1500.0, 2500.0),
            // §10.3 [T]: blood ~3.6, crystalloid ~4.1 J/(g·K); the HOPE solution is mostly
            // crystalloid (my choice: 4.0).
            perfusate_j_g_k: pick(3.6, 4.0),
            // My choice: reservoir, oxygenator and tubing of the organ-care module.
            circuit_j_k: 1000.0,
            // NMP: my choice, donor blood and prime below body temperature. HOPE: my choice,
            // the cold prime of the transport box not yet at 8 °C.
            perfusate_start_c: pick(30.0, 10.0),
            // My choice: room temperature.
            ambient_c: 22.0,
            // My choice: NMP ~35 W lost at 34 °C; HOPE an insulated box, ~28 W gained at 8 °C.
            ambient_ua_w_k: pick(3.0, 2.0),
            // My choice, as the kidney NMP model: the water side of a small heater-cooler.
            exchanger_ml: 300.0,
            exchanger_ua_w_k: 20.0,
            // My choice.
            reservoir_dry_ml: 100.0,
        }
    }
}

/// Coronary flow above which the heart counts as perfused, mL/min (as the kidney's 5 mL/min).
const PERFUSED_ML_MIN: f64 = 5.0;
/// Lowest flow used to dilute the heart's venous output, mL/min (my choice: keeps the
/// coronary-sinus values finite when the pump stops).
const MIN_DILUTION_ML_MIN: f64 = 10.0;
/// Oxygen bound per gram of haemoglobin and dissolved per mmHg, mL O2/dL (§10.1 [T]).
const O2_PER_G_HB: f64 = 1.34;
const O2_PER_MMHG: f64 = 0.0031;
/// Oxycaloric equivalent, J per mL O2 (physical constant).
const J_PER_ML_O2: f64 = 20.1;
/// Ventricular fibrillation (my choices): the monitor counts fibrillation waves at ~6 Hz;
/// fibrillating myocardium uses a third more O2 than it did beating, releases three times the
/// lactate, and its contracted wall raises the coronary resistance by a fifth.
const VF_RATE_PER_MIN: f64 = 360.0;
const VF_MVO2_FACTOR: f64 = 1.3;
const VF_LACTATE_FACTOR: f64 = 3.0;
const VF_RESISTANCE_FACTOR: f64 = 1.2;

fn build(given: &BTreeMap<String, f64>) -> Result<Box<dyn Plant>, String> {
    let hypothermic = mode(given, "hypothermic", false, ("normothermic", "hypothermic"))?;
    let mut p = HeartParams::defaults(hypothermic);
    p.apply(given)?;
    if p.beating != 0.0 && p.beating != 1.0 {
        return Err(format!(
            "simulator param `beating` = {}: must be 0 (arrested) or 1 (beating)",
            p.beating
        ));
    }
    if p.reservoir_dry_ml >= p.perfusate_ml {
        return Err(format!(
            "simulator param `reservoir_dry_ml` = {} must be below `perfusate_ml` = {}",
            p.reservoir_dry_ml, p.perfusate_ml
        ));
    }
    Ok(Box::new(Heart::new(p)))
}

/// The heart plant's state.
struct Heart {
    p: HeartParams,
    // Hydraulics.
    pressure_mmhg: f64,
    r_excess: f64,
    perfused_h: f64,
    occlusion: f64,
    leak_ml_min_mmhg: f64,
    leaked_ml: f64,
    air: bool,
    vf: bool,
    // Heat: [exchanger water, perfusate] in °C.
    thermal: TwoNode,
    temps_c: [f64; 2],
    exchanger_j_k: f64,
    perfusate_j_k: f64,
    /// Heat flowing in from the room at 0 °C node temperature, W.
    surroundings_w: f64,
    ln_q10_per_c: f64,
    /// Arterial O2 content, mL/dL, and its haemoglobin-bound part.
    cao2_ml_dl: f64,
    bound_o2_ml_dl: f64,
    // Metabolism at 37 °C in sinus rhythm.
    vo2_37_ml_min: f64,
    release_37_mmol_s: f64,
    rbc_37_mmol_s: f64,
    lactate_mmol_l: f64,
    // Per-step factor, recomputed when dt changes.
    dt_s: f64,
    excess_decay: f64,
    out: [f64; OUTPUTS],
}

impl Heart {
    fn new(p: HeartParams) -> Self {
        let exchanger_j_k = p.exchanger_ml * WATER_J_G_K;
        let perfusate_j_k =
            p.perfusate_ml * p.perfusate_j_g_k + p.heart_mass_g * TISSUE_J_G_K + p.circuit_j_k;
        let mvo2 =
            p.mvo2_arrested_ml_min_100g + p.beating * p.heart_rate_bpm * p.mvo2_per_beat_ml_100g;
        let bound_o2_ml_dl = O2_PER_G_HB * p.hb_g_dl;
        let mut h = Heart {
            pressure_mmhg: 0.0,
            r_excess: p.r_excess_mmhg_min_ml,
            perfused_h: 0.0,
            occlusion: 1.0,
            leak_ml_min_mmhg: 0.0,
            leaked_ml: 0.0,
            air: false,
            vf: false,
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
            ln_q10_per_c: p.q10.ln() / 10.0,
            cao2_ml_dl: bound_o2_ml_dl + O2_PER_MMHG * p.pao2_mmhg,
            bound_o2_ml_dl,
            vo2_37_ml_min: mvo2 * p.heart_mass_g / 100.0,
            release_37_mmol_s: p.lactate_release_mmol_h / 3600.0,
            rbc_37_mmol_s: p.rbc_lactate_mmol_h / 3600.0,
            lactate_mmol_l: p.lactate_start_mmol_l,
            dt_s: 0.0,
            excess_decay: 1.0,
            out: [0.0; OUTPUTS],
            p,
        };
        let q10_factor = h.q10_factor();
        h.publish(0.0, h.resistance(), 0.0, q10_factor);
        h
    }

    fn resistance(&self) -> f64 {
        let r = self.p.r_inf_mmhg_min_ml + self.r_excess + self.p.r_drift_per_h * self.perfused_h;
        let vf = if self.vf { VF_RESISTANCE_FACTOR } else { 1.0 };
        r * self.occlusion * vf
    }

    fn q10_factor(&self) -> f64 {
        ((self.temps_c[1] - METABOLIC_REF_C) * self.ln_q10_per_c).exp()
    }

    fn perfusate_left_ml(&self) -> f64 {
        (self.p.perfusate_ml - self.leaked_ml).max(0.0)
    }

    /// The heart's O2 use and lactate release now, mL/min and mmol/s.
    fn metabolism(&self, q10_factor: f64) -> (f64, f64) {
        let (vo2, release) = if self.vf {
            (VF_MVO2_FACTOR, VF_LACTATE_FACTOR)
        } else {
            (1.0, 1.0)
        };
        (
            self.vo2_37_ml_min * q10_factor * vo2,
            self.release_37_mmol_s * q10_factor * release,
        )
    }

    /// Updates the outputs from the state, the step's line flow, resistance and mean coronary
    /// flow, and the temperature factor of metabolism.
    fn publish(&mut self, line_flow: f64, r: f64, coronary_ml_min: f64, q10_factor: f64) {
        let (vo2_ml_min, release_mmol_s) = self.metabolism(q10_factor);
        let dilution_dl_min = coronary_ml_min.max(MIN_DILUTION_ML_MIN) / 100.0;
        let bound_left = self
            .bound_o2_ml_dl
            .min(self.cao2_ml_dl - vo2_ml_min / dilution_dl_min);
        let venous_sat = if self.bound_o2_ml_dl > 0.0 {
            100.0 * (bound_left / self.bound_o2_ml_dl).max(0.0)
        } else {
            0.0
        };
        let uptake_mmol_s = self.p.lactate_extraction * q10_factor * coronary_ml_min / 60_000.0
            * self.lactate_mmol_l;
        let net_mmol_min = (release_mmol_s - uptake_mmol_s) * 60.0;
        let air = self.air || self.perfusate_left_ml() <= self.p.reservoir_dry_ml;
        let rate = if self.vf {
            VF_RATE_PER_MIN
        } else {
            self.p.heart_rate_bpm * self.p.beating
        };
        self.out = [
            self.pressure_mmhg,
            line_flow,
            self.pressure_mmhg / r,
            self.temps_c[1],
            self.temps_c[0],
            if air { 1.0 } else { 0.0 },
            self.lactate_mmol_l,
            self.lactate_mmol_l + net_mmol_min / (dilution_dl_min / 10.0),
            venous_sat,
            rate,
            self.perfusate_left_ml(),
        ];
    }
}

impl Plant for Heart {
    fn step(&mut self, inputs: &[f64; MAX_INPUTS], dt_s: f64) {
        if dt_s != self.dt_s {
            self.excess_decay = (-dt_s / self.p.r_excess_tau_s).exp();
            self.dt_s = dt_s;
        }
        // Hydraulics, exact for the line flow held over the step.
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
        let coronary_mean = p_mean / r;
        if coronary_mean > PERFUSED_ML_MIN {
            self.r_excess = flush(self.r_excess * self.excess_decay);
            self.perfused_h += dt_s / 3600.0;
        }
        self.leaked_ml += self.leak_ml_min_mmhg * p_mean * dt_s / 60.0;

        // Metabolism from the step's start temperature.
        let q10_factor = self.q10_factor();
        let (vo2_ml_min, release_mmol_s) = self.metabolism(q10_factor);
        let heat_in = [
            inputs[HEATER] / self.exchanger_j_k,
            (self.surroundings_w + vo2_ml_min * J_PER_ML_O2 / 60.0) / self.perfusate_j_k,
        ];
        self.thermal.step(&mut self.temps_c, heat_in, dt_s);

        // Lactate: V·dL/dt = G − k·L, exact for G and k held over the step.
        let volume_l = self.p.perfusate_ml / 1000.0;
        let g = (release_mmol_s + self.rbc_37_mmol_s * q10_factor) / volume_l;
        let k =
            self.p.lactate_extraction * q10_factor * coronary_mean.max(0.0) / 60_000.0 / volume_l;
        let kdt = k * dt_s;
        self.lactate_mmol_l = if kdt > 1e-12 {
            let steady = g / k;
            steady + (self.lactate_mmol_l - steady) * (-kdt).exp()
        } else {
            self.lactate_mmol_l + g * dt_s
        };

        self.publish(line_flow, r, coronary_mean, q10_factor);
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
            PlantFault::Event(EVENT_VF) => self.vf = true,
            PlantFault::Event(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plant(pairs: &[(&str, f64)]) -> Heart {
        let hypothermic = pairs.iter().any(|(k, v)| *k == "hypothermic" && *v == 1.0);
        let mut p = HeartParams::defaults(hypothermic);
        p.apply(&pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect())
            .unwrap();
        Heart::new(p)
    }

    fn inputs(pump: f64, heater: f64) -> [f64; MAX_INPUTS] {
        let mut u = [0.0; MAX_INPUTS];
        u[PUMP] = pump;
        u[HEATER] = heater;
        u
    }

    /// Perfuses at a held mean pressure for `hours` in steps of 1 s, heater off.
    fn perfuse_at(h: &mut Heart, pressure_mmhg: f64, hours: f64) {
        for _ in 0..(hours * 3600.0) as usize {
            let flow = pressure_mmhg / h.resistance();
            h.step(&inputs(flow, 0.0), 1.0);
        }
    }

    /// Perfusate and room at 34 °C and no metabolic heat, so the heart stays at 34 °C.
    const AT_34: [(&str, f64); 5] = [
        ("perfusate_start_c", 34.0),
        ("ambient_c", 34.0),
        ("mvo2_per_beat_ml_100g", 0.0),
        ("mvo2_arrested_ml_min_100g", 0.0),
        ("exchanger_ua_w_k", 0.0),
    ];

    #[test]
    fn nmp_coronary_flow_at_75_mmhg_is_in_the_ocs_range() {
        let mut h = plant(&AT_34);
        perfuse_at(&mut h, 75.0, 0.5);
        let q = h.out[CORONARY_FLOW];
        assert!((650.0..=850.0).contains(&q), "coronary flow {q}");
    }

    #[test]
    fn a_good_heart_keeps_lactate_flat_and_a_poor_one_raises_it() {
        let mut good = plant(&AT_34);
        perfuse_at(&mut good, 75.0, 4.0);
        let l = good.out[ARTERIAL_LACTATE];
        assert!((l - 2.2).abs() < 0.15, "good heart lactate {l}");
        assert!(
            good.out[VENOUS_LACTATE] < l,
            "a good heart extracts lactate"
        );

        let mut poor = plant(&[
            AT_34[0],
            AT_34[1],
            AT_34[2],
            AT_34[3],
            AT_34[4],
            ("lactate_release_mmol_h", 0.4),
            ("lactate_extraction", 0.0),
        ]);
        perfuse_at(&mut poor, 75.0, 4.0);
        let rise_per_h = (poor.out[ARTERIAL_LACTATE] - 2.2) / 4.0;
        assert!(
            (0.4..0.6).contains(&rise_per_h),
            "poor heart {rise_per_h}/h"
        );
        assert!(poor.out[VENOUS_LACTATE] > poor.out[ARTERIAL_LACTATE]);
    }

    #[test]
    fn cold_cuts_oxygen_use_by_q10() {
        let mut warm = plant(&[("perfusate_start_c", 37.0), ("ambient_c", 37.0)]);
        let mut cold = plant(&[
            ("hypothermic", 1.0),
            ("beating", 1.0),
            ("heart_rate_bpm", 80.0),
            ("perfusate_start_c", 7.0),
            ("ambient_c", 7.0),
        ]);
        let (vo2_warm, _) = warm.metabolism(warm.q10_factor());
        let (vo2_cold, _) = cold.metabolism(cold.q10_factor());
        // 2.5^(−3) = 0.064 (§10.1).
        assert!((vo2_cold / vo2_warm - 0.064).abs() < 1e-3);
        perfuse_at(&mut warm, 75.0, 0.1);
        perfuse_at(&mut cold, 75.0, 0.1);
        assert!(cold.out[VENOUS_SAT] > warm.out[VENOUS_SAT]);
    }

    #[test]
    fn hope_arrested_heart_takes_100_to_250_ml_min_at_22_mmhg() {
        let mut h = plant(&[("hypothermic", 1.0)]);
        perfuse_at(&mut h, 22.5, 1.0);
        let q = h.out[CORONARY_FLOW];
        assert!((100.0..=250.0).contains(&q), "coronary flow {q}");
        assert_eq!(h.out[HEART_RATE], 0.0);
    }

    #[test]
    fn vf_shows_on_the_rate_monitor_and_raises_demand() {
        let mut h = plant(&AT_34);
        perfuse_at(&mut h, 75.0, 0.1);
        let q = h.out[CORONARY_FLOW];
        assert_eq!(h.out[HEART_RATE], 80.0);
        h.inject(PlantFault::Event(EVENT_VF));
        perfuse_at(&mut h, 75.0, 0.01);
        assert_eq!(h.out[HEART_RATE], VF_RATE_PER_MIN);
        assert!(h.out[CORONARY_FLOW] < q);
        assert!(h.out[VENOUS_LACTATE] > h.out[ARTERIAL_LACTATE]);
    }

    #[test]
    fn beating_flag_must_be_zero_or_one() {
        let err = build(&[("beating".to_string(), 0.5)].into()).err().unwrap();
        assert!(err.contains("`beating` = 0.5"), "{err}");
    }
}
