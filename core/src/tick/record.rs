//! Record: fold the tick into the run's statistics, without allocating or blocking.

use super::control::{ActuatorChannel, Command};
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

/// Running statistics of one actuator's command.
#[derive(Debug, Clone, Copy)]
pub struct CommandStats {
    pub min: f64,
    pub max: f64,
    pub sum: f64,
}

impl Default for CommandStats {
    fn default() -> Self {
        CommandStats {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
        }
    }
}

/// The run's record so far.
#[derive(Resource, Debug, Clone)]
pub struct Recorder {
    pub signals: Vec<SignalStats>,
    pub commands: Vec<CommandStats>,
    /// Tick at which each phase began (capacity reserved for every phase).
    pub phase_starts: Vec<(usize, u64)>,
    pub ticks: u64,
}

impl Recorder {
    pub fn new(plan: &Plan) -> Self {
        Recorder {
            signals: vec![SignalStats::default(); plan.signals.len()],
            commands: vec![CommandStats::default(); plan.actuators.len()],
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
    actuators: Query<(&ActuatorChannel, &Command)>,
    mut rec: ResMut<Recorder>,
) {
    for (ch, cmd) in &actuators {
        let st = &mut rec.commands[ch.index];
        st.min = st.min.min(cmd.sent);
        st.max = st.max.max(cmd.sent);
        st.sum += cmd.sent;
    }
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
