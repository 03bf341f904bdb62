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
