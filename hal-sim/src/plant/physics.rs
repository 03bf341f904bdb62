//! Constants and step helpers that every plant model shares.

/// Specific heat of average hydrated soft tissue, J/(g·K) (§10.3 [S therm-2]).
pub(crate) const TISSUE_J_G_K: f64 = 3.24;
/// Specific heat of blood, J/(g·K) (§10.3 [T]).
pub(crate) const BLOOD_J_G_K: f64 = 3.6;
/// Specific heat of water, J/(g·K) (physical constant).
pub(crate) const WATER_J_G_K: f64 = 4.18;
/// Density of perfusate and water, g/mL (my choice: 1).
pub(crate) const DENSITY_G_ML: f64 = 1.0;
/// Reference temperature of metabolic rates given at body temperature, °C (§10.1).
pub(crate) const METABOLIC_REF_C: f64 = 37.0;

/// Zeroes what has decayed below any physical meaning. Exponential decays would otherwise reach
/// subnormal numbers (after ~700 time constants: 20 min of a stopped pump, a day of washout),
/// which make every later operation on them some hundred times slower.
#[inline]
pub(crate) fn flush(x: f64) -> f64 {
    if x.abs() < 1e-12 { 0.0 } else { x }
}

/// `x` after relaxing for one step toward `equilibrium`, exactly, with the decay factor
/// `keep = e^(−k·dt)` of that step.
#[inline]
pub(crate) fn relax(x: f64, equilibrium: f64, keep: f64) -> f64 {
    equilibrium + (x - equilibrium) * keep
}

/// Vogel constants of water's viscosity `η = A·10^(B/(T − C))`, T in K: B = 247.8 K, C = 140 K
/// (§10.5 [S visc-1]; within 2.5 % of the tabulated 1.79, 1.31, 1.00 and 0.69 mPa·s at 0, 10, 20
/// and 37 °C).
const VOGEL_B_K: f64 = 247.8;
const VOGEL_C_K: f64 = 140.0;
const KELVIN: f64 = 273.15;

/// `ln 10 · B / (T − C)` for a temperature in °C: the exponent of water's viscosity, so that
/// `η(T)/η(T_ref) = exp(e(T) − e(T_ref))`. Cold, watery perfusates flow through a bed as water
/// does, so a bed's resistance scales with it (§10.1, §10.5).
#[inline]
pub(crate) fn viscosity_exponent(t_c: f64) -> f64 {
    std::f64::consts::LN_10 * VOGEL_B_K / (t_c + KELVIN - VOGEL_C_K)
}

/// Viscosity of water at `t_c` relative to `ref_c` (both °C, −5 to 45 in the models).
#[inline]
pub(crate) fn viscosity_ratio(t_c: f64, ref_c: f64) -> f64 {
    (viscosity_exponent(t_c) - viscosity_exponent(ref_c)).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn water_viscosity_follows_the_tables() {
        // 1.792, 1.307, 1.002, 0.692 mPa·s at 0, 10, 20, 37 °C (§10.5 [S visc-1]).
        for (t, eta) in [(0.0, 1.792), (10.0, 1.307), (37.0, 0.692)] {
            let ratio = viscosity_ratio(t, 20.0);
            assert!(
                (ratio - eta / 1.002).abs() < 0.025 * ratio,
                "{t} °C: {ratio}"
            );
        }
    }
}
