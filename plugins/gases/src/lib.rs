//! Sweep and FiO2 titration of an oxygenator toward PaCO2 and PaO2 targets (§12B, §13B): a
//! library the CPB and ECMO plugins both link.
//!
//! Sweep sets CO2, FiO2 sets O2 (§12B [S 54] [S 69] [S 101]). At every `interval_s`:
//! - sweep × (PaCO2 / target)^½: the proportional rule of §13B step 3 [T], damped by the square
//!   root because PaCO2 settles over tens of minutes (§13F [S 72]) [P];
//! - FiO2 moved so that the O2 the membrane adds above a venous PO2 of ~40 mmHg scales toward the
//!   target, damped the same way [P].
//!
//! Both are then clamped: sweep within `sweep_min_l_min` and `max_ratio` × the blood flow
//! (§12B: the gas ratio never above 2:1 [S 54]), FiO2 within 21–100 %.

/// PO2 of venous blood the membrane starts from, mmHg (normal mixed-venous value).
const VENOUS_PO2_MMHG: f64 = 40.0;

/// The titration's settings.
#[derive(Debug, Clone, Copy)]
pub struct GasTargets {
    pub paco2_mmhg: f64,
    pub pao2_mmhg: f64,
    pub interval_s: f64,
    pub sweep_min_l_min: f64,
    pub max_ratio: f64,
}

/// The blender's settings, adjusted at each interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Blender {
    pub sweep_l_min: f64,
    pub fio2_pct: f64,
    /// Time of the last adjustment, s (NaN before the first).
    pub adjusted_at_s: f64,
}

impl Blender {
    /// Sweep at `ratio` × the blood flow with FiO2 `fio2_pct`, adjusted first `interval_s` from `t_s`.
    pub fn start(flow_ml_min: f64, ratio: f64, fio2_pct: f64, t_s: f64) -> Self {
        Blender {
            sweep_l_min: flow_ml_min / 1000.0 * ratio,
            fio2_pct,
            adjusted_at_s: t_s,
        }
    }

    /// One titration step at `t_s`: adjusts when the interval has passed and both gases are
    /// known; a missing gas leaves its setting alone.
    pub fn titrate(
        &mut self,
        t: &GasTargets,
        t_s: f64,
        flow_ml_min: f64,
        pao2: Option<f64>,
        paco2: Option<f64>,
    ) {
        if t_s - self.adjusted_at_s < t.interval_s {
            return;
        }
        self.adjusted_at_s = t_s;
        if let Some(pco2) = paco2.filter(|p| *p > 1.0) {
            self.sweep_l_min *= (pco2 / t.paco2_mmhg).sqrt();
        }
        if let Some(po2) = pao2 {
            let added = (po2 - VENOUS_PO2_MMHG).max(1.0);
            let wanted = (t.pao2_mmhg - VENOUS_PO2_MMHG).max(1.0);
            self.fio2_pct *= (wanted / added).sqrt();
        }
        let max_sweep = (flow_ml_min / 1000.0 * t.max_ratio).max(t.sweep_min_l_min);
        self.sweep_l_min = self.sweep_l_min.clamp(t.sweep_min_l_min, max_sweep);
        self.fio2_pct = self.fio2_pct.clamp(21.0, 100.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: GasTargets = GasTargets {
        paco2_mmhg: 40.0,
        pao2_mmhg: 200.0,
        interval_s: 60.0,
        sweep_min_l_min: 0.5,
        max_ratio: 2.0,
    };

    #[test]
    fn high_co2_raises_the_sweep_and_high_o2_lowers_the_fio2() {
        let mut b = Blender::start(4000.0, 1.0, 60.0, 0.0);
        b.titrate(&T, 30.0, 4000.0, Some(300.0), Some(50.0));
        assert_eq!(b.sweep_l_min, 4.0, "not yet due");
        b.titrate(&T, 60.0, 4000.0, Some(300.0), Some(50.0));
        assert!((b.sweep_l_min - 4.0 * (1.25f64).sqrt()).abs() < 1e-12);
        assert!(b.fio2_pct < 60.0 && b.fio2_pct > 40.0, "{}", b.fio2_pct);
        assert_eq!(b.adjusted_at_s, 60.0);
    }

    #[test]
    fn settings_stay_within_their_limits_and_missing_gases_change_nothing() {
        let mut b = Blender::start(4000.0, 1.0, 90.0, 0.0);
        b.titrate(&T, 60.0, 4000.0, Some(41.0), Some(400.0));
        assert_eq!(b.sweep_l_min, 8.0, "2:1 at 4 L/min");
        assert_eq!(b.fio2_pct, 100.0);
        let before = b;
        b.titrate(&T, 120.0, 4000.0, None, None);
        assert_eq!(b.sweep_l_min, before.sweep_l_min);
        assert_eq!(b.fio2_pct, before.fio2_pct);
    }
}
