//! Virtual cohorts: each run's organ or patient drawn from published population distributions
//! (docs/clinical-basis.md §15), seeded by an organ seed that is separate from the sensor-noise
//! seed, so the same organ can be run with different noise and the other way round.
//!
//! A draw sets model parameters exactly as a protocol's `simulator.params` would, and the
//! simulator checks them against the same ranges. Precedence, lowest first: the model's
//! defaults, the protocol's `params` (and its default scenario), the drawn organ, then a scenario
//! named with `--scenario`: a named scenario is a preset that pins what it sets, so `warm_ice`
//! with an organ seed is a drawn kidney on warm ice.
//!
//! Each value is cut to a plausible range (the published range or about the 0.5th–99.5th
//! percentile of the distribution) so that no draw leaves what the model was built for. The tags
//! say where a number comes from, as in §15: [S n] read in source n of §16, [D] derived from
//! sourced numbers, [T] typical and to be verified, [P] a proposal for the simulator.

use std::collections::BTreeMap;

use perfuse_protocol::ProtocolFile;

use crate::plant::{
    bypass::BypassParams, cavity::CavityParams, donor::DonorParams, ecmo::EcmoParams,
    heart::HeartParams, kidney::KidneyParams, limb::LimbParams, liver::LiverParams,
    lung::LungParams,
};
use crate::rng::NoiseStream;

/// The noise stream of organ draws: far from the sensor streams (numbered from 0), so an organ
/// seed equal to the noise seed still gives unrelated numbers.
const ORGAN_STREAM: u64 = 0x6f72_6761_6e00_0000;

/// The organ or patient of one run: the organ seed and the model parameters drawn from it, by
/// name. Only parameters the run actually uses are listed (a named scenario's win).
#[derive(Debug, Clone, PartialEq)]
pub struct Organ {
    pub seed: u64,
    pub params: BTreeMap<String, f64>,
}

impl Organ {
    /// Draws the organ of `organ_seed` for `protocol`'s model, as run with `scenario` (`None`:
    /// the default scenario, which a draw overrides). The error names an unknown model or
    /// scenario.
    pub fn draw(
        protocol: &ProtocolFile,
        scenario: Option<&str>,
        organ_seed: u64,
    ) -> Result<Organ, String> {
        let sim = &protocol.simulator;
        let given = sim.params_for(scenario)?;
        let mut d = Draws {
            rng: NoiseStream::new(organ_seed, ORGAN_STREAM),
            given: &given,
            out: BTreeMap::new(),
        };
        match sim.model.as_str() {
            "kidney" if d.flag("normothermic") => kidney_nmp(&mut d),
            "kidney" => kidney_hmp(&mut d),
            "liver" => liver(&mut d),
            "lung" => lung(&mut d),
            "heart" => heart(&mut d),
            "donor" => donor(&mut d),
            "limb" => limb(&mut d),
            "cavity" => cavity(&mut d),
            "bypass" => bypass(&mut d),
            "ecmo" => ecmo(&mut d),
            other => return Err(format!("no cohort for simulator model `{other}`")),
        }
        let mut params = d.out;
        if let Some(name) = scenario
            && let Some(pinned) = sim.scenarios.as_ref().and_then(|s| s.get(name))
        {
            params.retain(|k, _| !pinned.contains_key(k));
        }
        Ok(Organ {
            seed: organ_seed,
            params,
        })
    }
}

/// The draws of one organ: the random stream, the parameters the protocol gives (the base of
/// relative draws) and what has been drawn.
struct Draws<'a> {
    rng: NoiseStream,
    given: &'a BTreeMap<String, f64>,
    out: BTreeMap<String, f64>,
}

impl Draws<'_> {
    /// A mode switch of the model (absent or 0: off).
    fn flag(&self, name: &str) -> bool {
        self.given.get(name).is_some_and(|&v| v == 1.0)
    }

    /// What the protocol sets for `name`, else the model's default.
    fn base(&self, name: &str, default: f64) -> f64 {
        self.given.get(name).copied().unwrap_or(default)
    }

    fn normal(&mut self) -> f64 {
        self.rng.gaussian()
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Log-normal with median `median` and log-SD `sigma`.
    fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// Log-uniform between `lo` and `hi`.
    fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo * (hi / lo).powf(self.uniform())
    }

    /// Records `value` for `name`, cut to the plausible range [lo, hi].
    fn set(&mut self, name: &str, value: f64, lo: f64, hi: f64) -> f64 {
        let v = value.clamp(lo, hi);
        self.out.insert(name.to_string(), v);
        v
    }
}

/// A donor's sex: women and men half and half (§15.0 [P]).
fn is_woman(d: &mut Draws) -> bool {
    d.chance(0.5)
}

/// Adult body weight in kg by sex: cancer-patient means 71.9 (women) and 83.4 kg (men) [S27],
/// SD 15 kg [T], cut to the decedent ranges 36–153 kg [S21, S22].
fn body_kg(d: &mut Draws, woman: bool) -> f64 {
    let mean = if woman { 71.9 } else { 83.4 };
    (mean + 15.0 * d.normal()).clamp(40.0, 150.0)
}

/// Kidney, hypothermic machine perfusion (§15.1).
fn kidney_hmp(d: &mut Draws) {
    let k = KidneyParams::defaults(false);
    // Latent quality q ~ N(0, 1), 10 % from the heavy tail N(1.5, 1.2²) [P; tail weight D, S1].
    let q = if d.chance(0.10) {
        1.5 + 1.2 * d.normal()
    } else {
        d.normal()
    };
    // Plateau RI: log-normal matched to 0.221 ± 0.082 (482 LifePort runs) [D, S1]; flow follows
    // from pressure / resistance, which gives the published r(flow, RI) = −0.93 [S1].
    let r_inf = d.set("r_inf_mmhg_min_ml", (-1.572 + 0.357 * q).exp(), 0.08, 1.5);
    // Start RI / plateau RI log-uniform 1.3–4 [D from the three logged cases, S1], split between
    // the fast and slow washout as in the default kidney (§4A fit).
    let ratio = d.log_uniform(1.3, 4.0);
    let fast_share = k.r_fast_mmhg_min_ml / (k.r_fast_mmhg_min_ml + k.r_slow_mmhg_min_ml);
    let excess = (ratio - 1.0) * r_inf;
    d.set("r_fast_mmhg_min_ml", excess * fast_share, 0.0, 6.0);
    d.set("r_slow_mmhg_min_ml", excess * (1.0 - fast_share), 0.0, 6.0);
    // Washout time constant log-uniform 3–15 min [D, §10.2], the fast part 1/6 of it as in the
    // default kidney's fit.
    let tau_s = d.log_uniform(180.0, 900.0);
    d.set("r_slow_tau_s", tau_s, 180.0, 900.0);
    d.set("r_fast_tau_s", tau_s / 6.0, 30.0, 150.0);
    // Kidney mass log-normal, median 167 g, σ 0.18 (matched to 170 ± 31 g) [D, S20].
    let mass = d.log_normal(167.0, 0.18);
    d.set("kidney_mass_g", mass, 80.0, 320.0);
    // Ice 1.98 ± 0.44 °C and perfusate start 9.1 ± 1.9 °C [S1].
    let ice = 1.98 + 0.44 * d.normal();
    d.set("ice_c", ice, 0.0, 5.0);
    let start = 9.1 + 1.9 * d.normal();
    d.set("perfusate_start_c", start, 3.0, 16.0);
}

/// Kidney, normothermic perfusion (§15.2).
fn kidney_nmp(d: &mut Draws) {
    let k = KidneyParams::defaults(true);
    // Macroscopic grade I/II/III with P = 0.55/0.32/0.14 (discarded kidneys) [T, S14]; RBF per
    // 100 g log-normal with median 120/70/35, σ 0.4 [T]; urine median 80/40/10 mL in the hour,
    // σ 0.7 [T, S14, S15].
    let u = d.uniform();
    let (rbf_100g, urine) = if u < 0.55 {
        (120.0, 80.0)
    } else if u < 0.87 {
        (70.0, 40.0)
    } else {
        (35.0, 10.0)
    };
    let mass = d.log_normal(167.0, 0.18);
    let mass = d.set("kidney_mass_g", mass, 80.0, 320.0);
    let rbf = d.log_normal(rbf_100g, 0.4) * mass / 100.0;
    // R = MAP / RBF at the EVNP MAP of 75 mmHg [D, §15.2].
    let r_inf = d.set("r_inf_mmhg_min_ml", 75.0 / rbf, 0.1, 5.0);
    // The vasoconstricted start in proportion (the default kidney's 0.30 over 0.33).
    d.set(
        "r_fast_mmhg_min_ml",
        r_inf * k.r_fast_mmhg_min_ml / k.r_inf_mmhg_min_ml,
        0.0,
        5.0,
    );
    // The model's urine rate is per hour at 75 mmHg and 36 °C.
    let urine = d.log_normal(urine, 0.7);
    d.set("urine_ml_h", urine, 1.0, 400.0);
}

/// Liver, normothermic or hypothermic oxygenated perfusion (§15.0, §15.3, §15.4).
fn liver(d: &mut Draws) {
    let normothermic = d.flag("normothermic");
    let l = LiverParams::defaults(normothermic);
    // Liver mass log-normal around 1.45 kg, σ 0.2 [T, §15.0], cut to the published 0.67–2.9 kg
    // [S21, S22, S24].
    let mass = d.log_normal(1450.0, 0.2);
    d.set("liver_mass_g", mass, 670.0, 2900.0);
    // HA resistance spread σ 0.32, matched to 148 ± 49 mL/min on whole blood [D, S36]; PV
    // resistance σ 0.3 [T].
    let base = d.base("r_ha_inf_mmhg_min_ml", l.r_ha_inf_mmhg_min_ml);
    let r_ha = d.log_normal(base, 0.32);
    d.set("r_ha_inf_mmhg_min_ml", r_ha, base / 3.0, base * 3.0);
    let base = d.base("r_pv_inf_mmhg_min_ml", l.r_pv_inf_mmhg_min_ml);
    let r_pv = d.log_normal(base, 0.3);
    d.set("r_pv_inf_mmhg_min_ml", r_pv, base / 3.0, base * 3.0);
    if normothermic {
        // Clearing or not: 22 of 31 discarded livers (71 %) met the VITTAL criteria [S29].
        // A non-clearing liver levels off near the 14.6 mmol/L at 2 h of [S30] (log-normal,
        // σ 0.3 [T]) and clears slowly; it makes little bile [S30].
        if d.chance(0.71) {
            let steady = d.log_normal(l.lactate_steady_mmol_l, 0.3);
            d.set("lactate_steady_mmol_l", steady, 0.4, 2.0);
            let tau = d.log_normal(l.lactate_tau_s, 0.3);
            d.set("lactate_tau_s", tau, 1800.0, 10_800.0);
            let bile = d.log_normal(l.bile_ml_h, 0.4);
            d.set("bile_ml_h", bile, 2.0, 20.0);
        } else {
            let steady = d.log_normal(14.6, 0.3);
            d.set("lactate_steady_mmol_l", steady, 6.0, 25.0);
            d.set("lactate_tau_s", 5400.0, 5400.0, 5400.0);
            let bile = d.log_normal(0.5, 0.5);
            d.set("bile_ml_h", bile, 0.1, 2.0);
        }
    }
}

/// Lung, EVLP on the Toronto protocol (§15.5).
fn lung(d: &mut Draws) {
    let l = LungParams::default();
    // Static compliance σ 0.39 around the model's value [D, S39]; PVR σ 0.3 [T].
    let base = d.base("static_compliance_ml_cmh2o", l.static_compliance_ml_cmh2o);
    let c = d.log_normal(base, 0.39);
    d.set("static_compliance_ml_cmh2o", c, base / 3.0, base * 3.0);
    let base = d.base("pvr_dyn_s_cm5", l.pvr_dyn_s_cm5);
    let pvr = d.log_normal(base, 0.3);
    d.set("pvr_dyn_s_cm5", pvr, base / 2.5, base * 2.5);
    // Reconditionable with P 0.89 (54 of 61 lungs transplanted after EVLP) [S41]; the others
    // fail by oedema [S40], drawn like the protocols' deteriorating lung with a spread [P].
    if d.chance(0.89) {
        let shunt = d.log_normal(d.base("shunt_fraction", l.shunt_fraction), 0.2);
        d.set("shunt_fraction", shunt, 0.1, 0.35);
        let leak = d.base("oedema_ml_h_mmhg", l.oedema_ml_h_mmhg);
        d.set("oedema_ml_h_mmhg", leak, leak, leak);
        let growth = d.base("oedema_growth_per_h", l.oedema_growth_per_h);
        d.set("oedema_growth_per_h", growth, growth, growth);
    } else {
        let shunt = d.log_normal(0.30, 0.15);
        d.set("shunt_fraction", shunt, 0.2, 0.45);
        let leak = d.log_normal(10.0, 0.3);
        d.set("oedema_ml_h_mmhg", leak, 5.0, 25.0);
        let growth = d.log_normal(1.0, 0.4);
        d.set("oedema_growth_per_h", growth, 0.3, 3.0);
    }
}

/// Heart, normothermic (OCS-like) or hypothermic (HOPE) perfusion (§15.6).
fn heart(d: &mut Draws) {
    let hypothermic = d.flag("hypothermic");
    let h = HeartParams::defaults(hypothermic);
    // Heart mass log-normal, median 326 g, σ 0.17 (matched to 331 ± 57 g) [D, S23], cut to the
    // published 188–575 g.
    let mass = d.log_normal(326.0, 0.17);
    d.set("heart_mass_g", mass, 188.0, 575.0);
    // Coronary resistance log-normal σ 0.25 around the model's [T, §15.6].
    let base = d.base("r_inf_mmhg_min_ml", h.r_inf_mmhg_min_ml);
    let r = d.log_normal(base, 0.25);
    d.set("r_inf_mmhg_min_ml", r, base / 2.5, base * 2.5);
    // Donor after circulatory death with P 0.52 [S28]; failing with P 0.35 (DCD) or 0.07 (DBD)
    // [D from S43, S44].
    let dcd = d.chance(0.52);
    let failing = d.chance(if dcd { 0.35 } else { 0.07 });
    // A failing heart's resistance drifts up (the porcine failure rule, up to 3 × baseline
    // [S45]) [P]; a good one's does not.
    let drift = if failing {
        d.log_normal(0.01, 0.5).clamp(0.002, 0.05)
    } else {
        0.0
    };
    d.set("r_drift_per_h", drift, 0.0, 0.05);
    if !hypothermic {
        // Start lactate N(2.2, 0.85²) good, N(3.0, 1.4²) failing, at least 0.8 mmol/L [S43];
        // a failing heart releases lactate without taking any up, so it rises ≈ 0.5 mmol/L/h
        // [D from S43], as the protocol's poor heart; the release spread σ 0.3 [T].
        let (mean, sd) = if failing { (3.0, 1.4) } else { (2.2, 0.85) };
        let start = mean + sd * d.normal();
        d.set("lactate_start_mmol_l", start, 0.8, 8.0);
        if failing {
            let release = d.log_normal(0.4, 0.3);
            d.set("lactate_release_mmol_h", release, 0.15, 1.2);
            d.set("lactate_extraction", 0.0, 0.0, 0.0);
        } else {
            let release = d.log_normal(h.lactate_release_mmol_h, 0.05);
            d.set("lactate_release_mmol_h", release, 3.5, 5.2);
            d.set(
                "lactate_extraction",
                h.lactate_extraction,
                h.lactate_extraction,
                h.lactate_extraction,
            );
        }
    }
}

/// Donor body under TA-NRP (§15.0, §15.7).
fn donor(d: &mut Draws) {
    let p = DonorParams::DEFAULT;
    let woman = is_woman(d);
    let kg = body_kg(d, woman);
    d.set("body_kg", kg, 40.0, 150.0);
    // Body surface area with DuBois's weight exponent at the file's donor's height (§12 [S 75],
    // [D]), as the bypass patient's: the team's entry, from which the plugin sets the flow.
    let base_kg = d.base("body_kg", p.body_kg);
    let bsa = d.base("bsa_m2", p.bsa_m2) * (kg / base_kg).powf(0.425);
    d.set("bsa_m2", bsa, 1.3, 2.8);
    // Systemic resistance in inverse proportion to body size (a larger body takes more flow at
    // the same pressure) [P], from the file's donor: one drawn at its weight is that donor.
    let r = d.base("systemic_r_mmhg_min_ml", p.systemic_r_mmhg_min_ml) * base_kg / kg;
    d.set("systemic_r_mmhg_min_ml", r, 0.005, 0.03);
    // Start lactate log-normal, median 6 mmol/L, σ 0.5 for controlled DCD [T, §15.7].
    let lactate = d.log_normal(6.0, 0.5);
    d.set("lactate_start_mmol_l", lactate, 1.5, 20.0);
}

/// Isolated limb (§15.8).
fn limb(d: &mut Draws) {
    let p = LimbParams::DEFAULT;
    // Limb size log-normal around the protocol's limb, σ 0.35 [T, S51].
    let base = d.base("limb_kg", p.limb_kg);
    let kg = d.log_normal(base, 0.35);
    d.set("limb_kg", kg, base / 2.2, base * 2.2);
    // Leak: log-normal around the protocol's rate, σ 1.16, which puts 13 % of limbs at 3.7 times
    // the median or more: a leak of 10 % or more against a median of 2.7 %, as in [S48, S49]
    // (§15.8 [D]).
    let base = d.base("leak_pct_h", p.leak_pct_h);
    let leak = d.log_normal(base, 1.16);
    d.set("leak_pct_h", leak, 0.0, (base * 30.0).min(100.0));
    // Heat transfer per limb log-normal σ 0.3 [T, §15.8].
    let base = d.base("limb_ua_w_k", p.limb_ua_w_k);
    let ua = d.log_normal(base, 0.3);
    d.set("limb_ua_w_k", ua, base / 2.5, base * 2.5);
}

/// Patient under HIPEC or HITHOC (§15.0, §15.9, §15.10).
fn cavity(d: &mut Draws) {
    let c = CavityParams::defaults(d.flag("thorax"));
    let woman = is_woman(d);
    let kg = body_kg(d, woman);
    d.set("body_kg", kg, 40.0, 150.0);
    // Core heat uptake per patient log-normal, σ 0.35 [T, §15.9]: more heat taken into the body
    // through the perfused tissue, or weaker thermoregulation, heats the core.
    let base = d.base("perfusion_ua_w_k", c.perfusion_ua_w_k);
    let ua = d.log_normal(base, 0.35);
    d.set("perfusion_ua_w_k", ua, base / 3.0, base * 3.0);
    let base = d.base("thermoregulation_ua_w_k", c.thermoregulation_ua_w_k);
    let ua = d.log_normal(base, 0.35);
    d.set("thermoregulation_ua_w_k", ua, base / 3.0, base * 3.0);
    // Drug absorption per patient log-normal, σ 0.5: the absorbed share of cisplatin in an hour
    // was 33.8 ± 17.0 % (§10.5 [S pk-5]), a spread of about half its mean [D]; oxaliplatin's
    // absorption rate varied by 43 % between patients (§10.5 [S pk-4]).
    let base = d.base("drug_absorption_per_h", c.drug_absorption_per_h);
    let k = d.log_normal(base, 0.5);
    d.set("drug_absorption_per_h", k, base / 4.0, base * 4.0);
}

/// Adult patient on cardiopulmonary bypass (§15.0, §15.12).
fn bypass(d: &mut Draws) {
    let p = BypassParams::DEFAULT;
    let woman = is_woman(d);
    let kg = body_kg(d, woman);
    d.set("body_kg", kg, 40.0, 150.0);
    // Body surface area with DuBois's weight exponent at the file's patient's height (§12
    // [S 75], [D]).
    let base_bsa = d.base("bsa_m2", p.bsa_m2);
    let bsa = base_bsa * (kg / d.base("body_kg", p.body_kg)).powf(0.425);
    d.set("bsa_m2", bsa, 1.3, 2.8);
    // Haematocrit before bypass: women 38 %, men 43 %, SD 3 % [T, §15.12].
    let hct = if woman { 38.0 } else { 43.0 } + 3.0 * d.normal();
    d.set("hct_start_pct", hct, 28.0, 52.0);
    // Systemic resistance in inverse proportion to body size, as the donor's [P].
    let r = d.base("systemic_r_mmhg_min_ml", p.systemic_r_mmhg_min_ml) * base_bsa / bsa;
    d.set("systemic_r_mmhg_min_ml", r, 0.008, 0.02);
}

/// Adult on VA-ECMO (§15.0, §15.12): body weight, a systemic resistance in inverse
/// proportion to it [P], and the venous compliance and stressed volume in proportion to it
/// (1 mL/mmHg/kg and 20 % of 70 mL/kg, §12F, §13F), so that the filling pressure stays the
/// reference's.
fn ecmo(d: &mut Draws) {
    let p = EcmoParams::DEFAULT;
    let woman = is_woman(d);
    let kg = body_kg(d, woman);
    d.set("body_kg", kg, 40.0, 150.0);
    // From the file's patient: one drawn at its weight is that patient.
    let scale = kg / d.base("body_kg", p.body_kg);
    let r = d.base("systemic_r_mmhg_min_ml", p.systemic_r_mmhg_min_ml) / scale;
    d.set("systemic_r_mmhg_min_ml", r, 0.005, 0.025);
    let c = d.base("venous_compliance_ml_mmhg", p.venous_compliance_ml_mmhg) * scale;
    d.set("venous_compliance_ml_mmhg", c, 35.0, 145.0);
    let v = d.base("stressed_volume_ml", p.stressed_volume_ml) * scale;
    d.set("stressed_volume_ml", v, 560.0, 2100.0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plant::Model;
    use std::path::Path;

    /// A shipped protocol, as `perfuse run` loads it.
    fn shipped(name: &str) -> ProtocolFile {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../protocols")
            .join(format!("{name}.ron"));
        let text = std::fs::read_to_string(&path).unwrap();
        perfuse_protocol::load_str(&text, &path).unwrap().file
    }

    const SHIPPED: &[&str] = &[
        "kidney-hmp",
        "kidney-nmp",
        "liver-nmp",
        "liver-hope",
        "liver-dhope",
        "lung-evlp",
        "heart-nmp",
        "heart-hope",
        "ta-nrp",
        "ilp-arm",
        "ilp-leg",
        "hipec-mmc",
        "hipec-oxaliplatin",
        "hithoc",
        "cpb-adult",
        "ecmo-va",
    ];

    /// `n` organs of seeds 1..=n.
    fn cohort(p: &ProtocolFile, n: u64) -> Vec<Organ> {
        (1..=n).map(|s| Organ::draw(p, None, s).unwrap()).collect()
    }

    /// The share of `organs` for which `pred` holds.
    fn share(organs: &[Organ], pred: impl Fn(&BTreeMap<String, f64>) -> bool) -> f64 {
        organs.iter().filter(|o| pred(&o.params)).count() as f64 / organs.len() as f64
    }

    fn median(organs: &[Organ], name: &str) -> f64 {
        let mut v: Vec<f64> = organs.iter().map(|o| o.params[name]).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    #[test]
    fn the_same_organ_seed_draws_the_same_organ_and_others_differ() {
        for name in SHIPPED {
            let p = shipped(name);
            let a = Organ::draw(&p, None, 7).unwrap();
            assert_eq!(a, Organ::draw(&p, None, 7).unwrap(), "{name}");
            assert_ne!(a.params, Organ::draw(&p, None, 8).unwrap().params, "{name}");
            assert!(!a.params.is_empty(), "{name}: nothing drawn");
        }
    }

    #[test]
    fn every_draw_is_a_valid_parameter_and_builds_the_device() {
        for name in SHIPPED {
            let p = shipped(name);
            let model = Model::by_name(&p.simulator.model).unwrap();
            for organ in cohort(&p, 300) {
                for (k, &v) in &organ.params {
                    let def = model.params.iter().find(|d| d.name == k);
                    let def = def.unwrap_or_else(|| panic!("{name}: `{k}` is no model parameter"));
                    def.check(v).unwrap_or_else(|e| panic!("{name}: {e}"));
                }
            }
            let organ = Organ::draw(&p, None, 1).unwrap();
            crate::SimHal::with_organ(&p, None, Some(&organ), 1, &[])
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn every_organ_of_a_protocol_draws_the_same_parameters() {
        for name in SHIPPED {
            let p = shipped(name);
            let names = |o: Organ| o.params.into_keys().collect::<Vec<_>>();
            let first = names(Organ::draw(&p, None, 1).unwrap());
            for seed in 2..200 {
                assert_eq!(names(Organ::draw(&p, None, seed).unwrap()), first, "{name}");
            }
        }
    }

    #[test]
    fn a_named_scenario_pins_what_it_sets() {
        let p = shipped("kidney-hmp");
        let organ = Organ::draw(&p, Some("warm_ice"), 3).unwrap();
        assert!(!organ.params.contains_key("ice_c"), "{organ:?}");
        assert!(organ.params.contains_key("r_inf_mmhg_min_ml"));
        // The default scenario does not pin: the ice is drawn.
        assert!(
            Organ::draw(&p, None, 3)
                .unwrap()
                .params
                .contains_key("ice_c")
        );
    }

    #[test]
    fn hmp_kidneys_match_the_lifeport_reference_runs() {
        let organs = cohort(&shipped("kidney-hmp"), 4000);
        // Plateau RI: median 0.208 in the bulk [D, S1]; the 10 % tail moves it up a little.
        let m = median(&organs, "r_inf_mmhg_min_ml");
        assert!((0.20..0.235).contains(&m), "median RI {m}");
        // RI above 0.3 marks a kidney at risk [S4]: 15 % of the bulk, more with the tail.
        let high = share(&organs, |p| p["r_inf_mmhg_min_ml"] > 0.3);
        assert!((0.15..0.30).contains(&high), "RI > 0.3 in {high}");
        let m = median(&organs, "kidney_mass_g");
        assert!((160.0..175.0).contains(&m), "median mass {m}");
        let m = median(&organs, "ice_c");
        assert!((1.9..2.06).contains(&m), "median ice {m}");
    }

    #[test]
    fn marginal_organs_occur_at_the_published_rates() {
        // Hearts: 52 % DCD, failing 35 % of DCD and 7 % of DBD hearts: 21.6 % [D, S28, S43, S44].
        let failing = share(&cohort(&shipped("heart-nmp"), 4000), |p| {
            p["r_drift_per_h"] > 0.0
        });
        assert!((0.19..0.245).contains(&failing), "failing hearts {failing}");
        // Livers: 71 % clear lactate (VITTAL) [S29].
        let clearing = share(&cohort(&shipped("liver-nmp"), 4000), |p| {
            p["lactate_steady_mmol_l"] <= 2.0
        });
        assert!(
            (0.68..0.74).contains(&clearing),
            "clearing livers {clearing}"
        );
        // Limbs: 13 % leak 10 % or more against a median of 2.7 % [S48, S49]; the leg's median
        // rate is 2 %/h.
        let leaky = share(&cohort(&shipped("ilp-leg"), 4000), |p| {
            p["leak_pct_h"] >= 2.0 * 10.0 / 2.7
        });
        assert!((0.11..0.15).contains(&leaky), "leaky limbs {leaky}");
        // Lungs: 89 % reconditionable [S41].
        let failing = share(&cohort(&shipped("lung-evlp"), 4000), |p| {
            p["oedema_growth_per_h"] > 0.0
        });
        assert!((0.09..0.13).contains(&failing), "failing lungs {failing}");
    }

    #[test]
    fn a_drawn_body_s_resistance_scales_from_the_file_s_body() {
        // TA-NRP's donor is 62 kg with the model's resistance: a drawn donor of weight W gets
        // that resistance times 62 / W, so one drawn at 62 kg would be the file's donor (before,
        // it was scaled from the model's own 75-kg donor: 21 % higher at 62 kg).
        let donors = cohort(&shipped("ta-nrp"), 300);
        let file_r_kg = DonorParams::DEFAULT.systemic_r_mmhg_min_ml * 62.0;
        let mut checked = 0;
        for o in &donors {
            let (r, kg) = (o.params["systemic_r_mmhg_min_ml"], o.params["body_kg"]);
            if r > 0.005 && r < 0.03 {
                assert!((r * kg / file_r_kg - 1.0).abs() < 1e-12, "{r} at {kg} kg");
                checked += 1;
            }
        }
        assert!(checked > 250, "{checked} of 300 unclamped");
        // A file that gives its own resistance is the reference for its draws.
        let mut p = shipped("ecmo-va");
        let given = p.simulator.params.get_or_insert_default();
        given.insert("systemic_r_mmhg_min_ml".into(), 0.02);
        for o in cohort(&p, 50) {
            let (r, kg) = (o.params["systemic_r_mmhg_min_ml"], o.params["body_kg"]);
            if r > 0.005 && r < 0.025 {
                assert!(
                    (r * kg / (0.02 * 80.0) - 1.0).abs() < 1e-12,
                    "{r} at {kg} kg"
                );
            }
        }
    }
}
