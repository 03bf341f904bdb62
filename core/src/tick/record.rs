//! Record: fold the tick into the run's statistics, without allocating or blocking.

use super::protocol::{PhaseState, Targets};
use super::{Clock, Signals};
use crate::plan::Plan;
use bevy_ecs::prelude::*;

/// Running statistics of one signal.
#[derive(Debug, Clone, Copy)]
pub struct SignalStats {
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub valid_ticks: u64,
    /// Ticks during which the signal had a band in force.
    pub band_ticks: u64,
    /// Of those, ticks with a valid value inside the band.
    pub in_band_ticks: u64,
}

impl Default for SignalStats {
    fn default() -> Self {
        SignalStats {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
            valid_ticks: 0,
            band_ticks: 0,
            in_band_ticks: 0,
        }
    }
}

/// The run's record so far.
#[derive(Resource, Debug, Clone)]
pub struct Recorder {
    pub signals: Vec<SignalStats>,
    /// Tick at which each phase began (capacity reserved for every phase).
    pub phase_starts: Vec<(usize, u64)>,
    pub ticks: u64,
}

impl Recorder {
    pub fn new(plan: &Plan) -> Self {
        Recorder {
            signals: vec![SignalStats::default(); plan.signals.len()],
            phase_starts: Vec::with_capacity(plan.phases.len()),
            ticks: 0,
        }
    }
}

pub fn record_tick(
    clock: Res<Clock>,
    signals: Res<Signals>,
    targets: Res<Targets>,
    phase: Res<PhaseState>,
    mut rec: ResMut<Recorder>,
) {
    rec.ticks += 1;
    // Capacity is one entry per phase: pushing never allocates.
    let new_phase = rec
        .phase_starts
        .last()
        .is_none_or(|&(p, _)| p != phase.index);
    if new_phase && rec.phase_starts.len() < rec.phase_starts.capacity() {
        rec.phase_starts.push((phase.index, clock.tick));
    }
    for (i, st) in rec.signals.iter_mut().enumerate() {
        let valid = signals.is_valid(i);
        let v = signals.values[i];
        if valid {
            st.min = st.min.min(v);
            st.max = st.max.max(v);
            st.sum += v;
            st.valid_ticks += 1;
        }
        if let Some(band) = targets.bands[i] {
            st.band_ticks += 1;
            if valid && band.contains(v) {
                st.in_band_ticks += 1;
            }
        }
    }
}
