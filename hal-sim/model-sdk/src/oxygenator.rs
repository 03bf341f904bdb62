//! A membrane oxygenator with its gas blender: blood in, gas (FiO2, sweep) in, blood gases and
//! the pressure drop out. Any model with an oxygenator in its circuit steps one of these.
//!
//! - O2 (§12F [P] minimal membrane model): the outlet PO2 moves from the inlet (venous) PO2
//!   toward the gas-side PO2, `FiO2 × (760 − 47)`, by the membrane's efficiency; the efficiency
//!   falls with the sweep when the sweep is small next to the blood flow, and in proportion above
//!   the rated flow (§12F [S 68]).
//! - CO2: the gas carries away `sweep × PCO2,out / 0.863` (the alveolar-ventilation equation,
//!   PCO2 in mmHg, sweep in L/min, VCO2 in mL/min), and the blood gives up
//!   `Q × β × (PCO2,in − PCO2,out)` with β the CO2 content slope of blood; the outlet PCO2 is
//!   where the two meet. Sweep lowers PCO2, FiO2 does not (§12B [S 54] [S 69] [S 101]); at a
//!   low blood flow more sweep adds little (§13F [S 73]).
//! - The gas side lags the blender by `gas_tau_s` (the gas path's washout).
//! - ΔP = R·Q with R constant for a device until it clots (§12F [S 47] [S 85]).
//! - Faults: a failing membrane loses its efficiency exponentially (`fail`); a lost gas supply
//!   delivers no sweep whatever the blender is set to (`lose_gas`); a clot multiplies R by a
//!   factor that grows linearly with time (`clot`).
//!
//! Section numbers refer to docs/clinical-basis.md of perfuse. A model steps it inside its own
//! step with the blood reaching it and the blender's commands (FiO2 and sweep inputs of its
//! gas-blender site), and publishes its outlet gases, sweep and pressure drop as outputs.

use crate::Param;

/// What `perfuse models` lists for the oxygenator.
pub const SUMMARY: &str = "membrane oxygenator and gas blender: FiO2 and sweep gas to outlet PO2 \
     and PCO2, pressure drop; membrane failure, gas supply loss and clot (stepped by the shipped \
     bypass and ecmo models)";

/// The device's constants with their defaults (an adult oxygenator, [`OxygenatorParams::DEFAULT`]),
/// units, meanings and sources (sections of perfuse's docs/clinical-basis.md), in the order of
/// [`OxygenatorParams`]'s fields.
pub const PARAMS: [Param; 10] = [
    Param::new(
        "o2_efficiency",
        0.6,
        0.05,
        1.0,
        "",
        "fraction of the gas-side PO2 reached with ample sweep",
        "§12B [S 22]; my choice",
    ),
    Param::new(
        "o2_sweep_ratio",
        0.25,
        0.01,
        5.0,
        "",
        "sweep-to-blood ratio at 63 % of the O2 transfer",
        "§12B [S 22]; my choice",
    ),
    Param::new(
        "rated_flow_ml_min",
        7000.0,
        100.0,
        10_000.0,
        "mL/min",
        "blood flow up to which the membrane saturates fully",
        "§12B [S 52]",
    ),
    Param::new(
        "co2_slope_ml_l_mmhg",
        5.0,
        0.5,
        20.0,
        "mL/L/mmHg",
        "CO2 content slope of blood",
        "my choice",
    ),
    Param::new(
        "co2_efficiency",
        1.0,
        0.05,
        1.0,
        "",
        "fraction of the sweep that exchanges CO2",
        "my choice",
    ),
    Param::new(
        "resistance_mmhg_min_ml",
        0.006,
        0.0001,
        1.0,
        "mmHg/(mL/min)",
        "blood-side resistance",
        "§13C [S 97] [T]",
    ),
    Param::new(
        "gas_tau_s",
        10.0,
        0.1,
        600.0,
        "s",
        "time constant of the gas path",
        "my choice",
    ),
    Param::new(
        "failure_tau_s",
        300.0,
        1.0,
        1.0e5,
        "s",
        "time constant of a failing membrane",
        "my choice",
    ),
    Param::new(
        "failure_floor",
        0.05,
        0.0,
        1.0,
        "",
        "efficiency a failed membrane keeps (fraction)",
        "my choice",
    ),
    Param::new(
        "clot_doubling_s",
        1800.0,
        1.0,
        1.0e6,
        "s",
        "time for a clot to add one healthy resistance",
        "§13C [S 86]; my choice",
    ),
];

impl OxygenatorParams {
    /// An adult oxygenator: the defaults of [`PARAMS`] (the shipped bypass model's).
    pub const DEFAULT: OxygenatorParams = OxygenatorParams {
        o2_efficiency: PARAMS[0].default,
        o2_sweep_ratio: PARAMS[1].default,
        rated_flow_ml_min: PARAMS[2].default,
        co2_slope_ml_l_mmhg: PARAMS[3].default,
        co2_efficiency: PARAMS[4].default,
        resistance_mmhg_min_ml: PARAMS[5].default,
        gas_tau_s: PARAMS[6].default,
        failure_tau_s: PARAMS[7].default,
        failure_floor: PARAMS[8].default,
        clot_doubling_s: PARAMS[9].default,
    };
}

/// `x` after relaxing for one step toward `equilibrium`, with the decay factor `keep` of that
/// step (as the simulator's own models relax).
#[inline]
fn relax(x: f64, equilibrium: f64, keep: f64) -> f64 {
    equilibrium + (x - equilibrium) * keep
}

/// The water vapour pressure at 37 °C subtracted from the barometric pressure, mmHg (physical
/// constants: 760 − 47).
const DRY_GAS_MMHG: f64 = 713.0;
/// Alveolar-ventilation constant: PCO2 (mmHg) = 0.863 × VCO2 (mL/min) / ventilation (L/min)
/// (physical constant, STPD to BTPS).
const VENTILATION_K: f64 = 0.863;

/// A device's constants ([`PARAMS`] describes each; [`OxygenatorParams::DEFAULT`] is an adult
/// device).
#[derive(Debug, Clone, Copy)]
pub struct OxygenatorParams {
    /// Fraction of the gas-side PO2 the blood reaches with ample sweep (0–1).
    pub o2_efficiency: f64,
    /// Sweep-to-blood ratio (L/min per L/min) at which O2 transfer is 63 % of its maximum.
    pub o2_sweep_ratio: f64,
    /// Blood flow up to which the membrane saturates fully, mL/min.
    pub rated_flow_ml_min: f64,
    /// CO2 content slope of blood, mL CO2 per L of blood per mmHg.
    pub co2_slope_ml_l_mmhg: f64,
    /// Fraction of the sweep that takes part in CO2 exchange (0–1).
    pub co2_efficiency: f64,
    /// Blood-side resistance, mmHg/(mL/min).
    pub resistance_mmhg_min_ml: f64,
    /// Time constant of the gas path, s.
    pub gas_tau_s: f64,
    /// Time constant of a failing membrane's loss of efficiency, s.
    pub failure_tau_s: f64,
    /// Efficiency a failed membrane keeps, as a fraction of the healthy one.
    pub failure_floor: f64,
    /// Time for a clot to add one healthy resistance, s.
    pub clot_doubling_s: f64,
}

/// An oxygenator's state.
#[derive(Debug, Clone)]
pub struct Oxygenator {
    p: OxygenatorParams,
    /// Delivered sweep and FiO2 after the gas path's lag.
    sweep_l_min: f64,
    fio2: f64,
    /// Remaining fraction of the healthy efficiency.
    health: f64,
    failing: bool,
    gas_lost: bool,
    clot_s: f64,
    clotting: bool,
    /// Outlet PO2 after the last step, mmHg.
    pub po2_out_mmhg: f64,
    /// Outlet PCO2 after the last step, mmHg.
    pub pco2_out_mmhg: f64,
    /// CO2 removed, mL/min.
    pub vco2_ml_min: f64,
    /// Pressure drop across the blood side, mmHg.
    pub delta_p_mmhg: f64,
}

/// The blood entering the oxygenator.
#[derive(Debug, Clone, Copy)]
pub struct Inlet {
    /// Blood flow through the device, mL/min.
    pub flow_ml_min: f64,
    /// Inlet (venous) PO2, mmHg.
    pub po2_mmhg: f64,
    /// Inlet PCO2, mmHg.
    pub pco2_mmhg: f64,
}

impl Oxygenator {
    /// A healthy device with no sweep yet, its outlet at the venous tensions.
    pub fn new(p: OxygenatorParams, venous_po2: f64, venous_pco2: f64) -> Self {
        Oxygenator {
            p,
            sweep_l_min: 0.0,
            fio2: 0.21,
            health: 1.0,
            failing: false,
            gas_lost: false,
            clot_s: 0.0,
            clotting: false,
            po2_out_mmhg: venous_po2,
            pco2_out_mmhg: venous_pco2,
            vco2_ml_min: 0.0,
            delta_p_mmhg: 0.0,
        }
    }

    /// The membrane starts to fail.
    pub fn fail(&mut self) {
        self.failing = true;
    }

    /// The gas supply is lost: no sweep reaches the membrane.
    pub fn lose_gas(&mut self) {
        self.gas_lost = true;
    }

    /// A clot starts to grow in the fibre bundle.
    pub fn clot(&mut self) {
        self.clotting = true;
    }

    /// The sweep that reaches the membrane, L/min (what a gas flowmeter behind the blender reads).
    pub fn sweep_l_min(&self) -> f64 {
        self.sweep_l_min
    }

    /// The blood-side resistance now, mmHg/(mL/min).
    pub fn resistance(&self) -> f64 {
        self.p.resistance_mmhg_min_ml * (1.0 + self.clot_s / self.p.clot_doubling_s)
    }

    /// Steps the device over `dt_s` with the blender at `fio2_pct` (%) and `sweep_l_min`.
    pub fn step(&mut self, inlet: Inlet, fio2_pct: f64, sweep_l_min: f64, dt_s: f64) {
        let p = self.p;
        let gas_keep = (-dt_s / p.gas_tau_s).exp();
        let sweep_set = if self.gas_lost {
            0.0
        } else {
            sweep_l_min.max(0.0)
        };
        self.sweep_l_min = relax(self.sweep_l_min, sweep_set, gas_keep);
        self.fio2 = relax(self.fio2, (fio2_pct / 100.0).clamp(0.0, 1.0), gas_keep);
        if self.failing {
            self.health = relax(
                self.health,
                p.failure_floor,
                (-dt_s / p.failure_tau_s).exp(),
            );
        }
        if self.clotting {
            self.clot_s += dt_s;
        }

        let q = inlet.flow_ml_min.max(0.0);
        let q_l = q / 1000.0;
        self.delta_p_mmhg = self.resistance() * inlet.flow_ml_min;
        if q_l <= 1e-6 {
            // Standing blood takes the gas side's tensions.
            self.po2_out_mmhg = inlet.po2_mmhg;
            self.pco2_out_mmhg = inlet.pco2_mmhg;
            self.vco2_ml_min = 0.0;
            return;
        }
        let ratio = self.sweep_l_min / q_l;
        let rated = (p.rated_flow_ml_min / q).min(1.0);
        let o2_eff =
            p.o2_efficiency * self.health * rated * (1.0 - (-ratio / p.o2_sweep_ratio).exp());
        let gas_po2 = self.fio2 * DRY_GAS_MMHG;
        self.po2_out_mmhg = inlet.po2_mmhg + o2_eff * (gas_po2 - inlet.po2_mmhg).max(0.0);

        // Blood gives up Q·β·(Pin − Pout); the gas carries S·e·Pout/0.863: equal at Pout.
        let blood = q_l * p.co2_slope_ml_l_mmhg;
        let gas = self.sweep_l_min * p.co2_efficiency * self.health / VENTILATION_K;
        self.pco2_out_mmhg = inlet.pco2_mmhg * blood / (blood + gas);
        self.vco2_ml_min = blood * (inlet.pco2_mmhg - self.pco2_out_mmhg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: OxygenatorParams = OxygenatorParams {
        o2_efficiency: 0.6,
        o2_sweep_ratio: 0.25,
        rated_flow_ml_min: 7000.0,
        co2_slope_ml_l_mmhg: 5.0,
        co2_efficiency: 1.0,
        resistance_mmhg_min_ml: 0.006,
        gas_tau_s: 10.0,
        failure_tau_s: 300.0,
        failure_floor: 0.05,
        clot_doubling_s: 1200.0,
    };

    #[test]
    fn the_listed_defaults_are_the_shipped_bypass_models() {
        let d = OxygenatorParams::DEFAULT;
        assert_eq!(d.o2_efficiency, 0.6);
        assert_eq!(d.resistance_mmhg_min_ml, 0.006);
        assert_eq!(d.clot_doubling_s, 1800.0);
        for p in &PARAMS {
            assert!(p.min <= p.default && p.default <= p.max);
        }
    }

    fn settle(o: &mut Oxygenator, fio2: f64, sweep: f64, seconds: f64) {
        let inlet = Inlet {
            flow_ml_min: 4700.0,
            po2_mmhg: 40.0,
            pco2_mmhg: 46.0,
        };
        for _ in 0..(seconds * 10.0) as usize {
            o.step(inlet, fio2, sweep, 0.1);
        }
    }

    #[test]
    fn fio2_sets_the_po2_and_sweep_the_pco2() {
        let mut o = Oxygenator::new(P, 40.0, 46.0);
        settle(&mut o, 50.0, 4.0, 120.0);
        let (po2, pco2) = (o.po2_out_mmhg, o.pco2_out_mmhg);
        assert!((150.0..300.0).contains(&po2), "PO2 {po2}");
        assert!((32.0..42.0).contains(&pco2), "PCO2 {pco2}");
        settle(&mut o, 80.0, 4.0, 120.0);
        assert!(o.po2_out_mmhg > po2 + 80.0);
        assert!((o.pco2_out_mmhg - pco2).abs() < 1e-3, "FiO2 leaves PCO2");
        settle(&mut o, 80.0, 8.0, 120.0);
        assert!(o.pco2_out_mmhg < pco2 - 5.0, "more sweep, less CO2");
        assert!((o.delta_p_mmhg - 28.2).abs() < 1e-9);
    }

    #[test]
    fn failure_gas_loss_and_clot_show_in_the_outputs() {
        let mut o = Oxygenator::new(P, 40.0, 46.0);
        settle(&mut o, 60.0, 4.0, 60.0);
        let mut gas = o.clone();
        o.fail();
        settle(&mut o, 60.0, 4.0, 900.0);
        assert!(o.po2_out_mmhg < 75.0, "failed: {}", o.po2_out_mmhg);
        gas.lose_gas();
        settle(&mut gas, 60.0, 4.0, 60.0);
        assert!(gas.sweep_l_min() < 0.05 && gas.po2_out_mmhg < 45.0);
        assert!(gas.pco2_out_mmhg > 45.0);
        let mut clot = Oxygenator::new(P, 40.0, 46.0);
        clot.clot();
        settle(&mut clot, 60.0, 4.0, 1200.0);
        assert!(
            (clot.delta_p_mmhg - 2.0 * 28.2).abs() < 0.1,
            "{}",
            clot.delta_p_mmhg
        );
    }
}
