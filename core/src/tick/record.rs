//! Record: fold the tick into the run's statistics, and publish the tick's frame to the
//! outputs ([`crate::output`]), without allocating or blocking.

use super::alarms::Alarms;
use super::events::{Event, TickEvents};
use super::state::{
    ActuatorChannel, Clock, Command, PhaseState, PluginOutputs, SentCommands, Signals, Targets,
    Validity,
};
use crate::config::Priority;
use crate::output::{ALARM_ACKNOWLEDGED, ALARM_PAUSED, FRAME_EVENTS, Frame, Outputs};
use crate::plan::Plan;

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
#[derive(Debug, Clone)]
pub struct Recorder {
    pub signals: Vec<SignalStats>,
    pub commands: Vec<CommandStats>,
    /// Tick at which each phase began (capacity reserved for every phase).
    pub phase_starts: Vec<(usize, u64)>,
    pub ticks: u64,
    /// Per phase, the signals with a target in it: only they can have a band. The plan's
    /// `PhasePlan::targeted`, copied here: reading it through the plan each tick cost about 60
    /// instructions more (`bench/tick-instructions.sh`, 9,870 against 9,810).
    targeted: Vec<Vec<usize>>,
}

impl Recorder {
    pub fn new(plan: &Plan) -> Self {
        Recorder {
            signals: vec![SignalStats::default(); plan.signals.len()],
            commands: vec![CommandStats::default(); plan.actuators.len()],
            phase_starts: Vec::with_capacity(plan.phases.len()),
            ticks: 0,
            targeted: plan.phases.iter().map(|p| p.targeted.clone()).collect(),
        }
    }
}

/// What the tick's frame is built from.
pub struct FrameSources<'a> {
    pub clock: &'a Clock,
    pub signals: &'a Signals,
    pub targets: &'a Targets,
    pub phase: &'a PhaseState,
    pub sent: &'a SentCommands,
    pub plugin: &'a PluginOutputs,
    pub alarms: &'a Alarms,
    pub events: &'a TickEvents,
}

/// Fills `f` with the tick's state and events; `seen_dropped` is the buffer's drop count at the
/// last frame, so each frame counts the events lost since.
pub fn fill_frame(f: &mut Frame, src: &FrameSources<'_>, seen_dropped: &mut u64) {
    f.tick = src.clock.tick;
    f.phase = src.phase.index;
    f.values = src.signals.values;
    for (byte, v) in f.validity.iter_mut().zip(&src.signals.validity) {
        *byte = v.byte();
    }
    f.setpoints = src.targets.setpoints;
    f.commands = src.sent.frame.values;
    f.delivered = src.signals.frame.delivered;
    f.derived = src.plugin.derived.values;
    f.overruns = src.alarms.overruns.total;
    let code = |p: Priority| match p {
        Priority::Low => 1,
        Priority::Medium => 2,
        Priority::High => 3,
    };
    for ((state, since), a) in f
        .alarms
        .iter_mut()
        .zip(f.alarm_since.iter_mut())
        .zip(&src.alarms.list)
    {
        *state = if a.active {
            let ack = if a.acknowledged {
                ALARM_ACKNOWLEDGED
            } else {
                0
            };
            let paused = if a.paused { ALARM_PAUSED } else { 0 };
            code(a.priority) | ack | paused
        } else {
            0
        };
        *since = a.active_since;
    }
    let tick = src.clock.tick;
    f.sounding = src.alarms.sounding.map_or(0, code);
    f.audio_paused_until = if src.alarms.audio_paused(tick) {
        src.alarms.audio_paused_until
    } else {
        0
    };
    let events = src.events.as_slice();
    let n = events.len().min(FRAME_EVENTS);
    f.events[..n].copy_from_slice(&events[..n]);
    f.n_events = n;
    f.events_dropped = (events.len() - n) as u64 + (src.events.dropped - *seen_dropped);
    *seen_dropped = src.events.dropped;
    f.assessment = [f64::NAN; perfuse_plugin_sdk::MAX_DERIVED];
    for e in &events[..n] {
        if let Event::Assessment { index } = *e
            && let Some(a) = src.plugin.assessments.list.get(index)
        {
            f.assessment = a.values;
        }
    }
}

/// The Record stage: the tick's frame to the outputs that want it, and the run's statistics.
pub fn record_tick<'a>(
    src: FrameSources<'_>,
    actuators: impl Iterator<Item = (&'a ActuatorChannel, &'a Command)>,
    rec: &mut Recorder,
    outputs: &mut Outputs,
) {
    publish_frame(outputs, &src);
    let (clock, signals, targets, phase) = (src.clock, src.signals, src.targets, src.phase);
    for (ch, cmd) in actuators {
        let st = &mut rec.commands[ch.index];
        fold_extremes(&mut st.min, &mut st.max, cmd.sent);
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
    let n = rec.signals.len();
    let valid = &signals.validity[..n];
    for ((st, &v), validity) in rec.signals.iter_mut().zip(&signals.values[..n]).zip(valid) {
        if *validity == Validity::Ok {
            fold_extremes(&mut st.min, &mut st.max, v);
            st.sum += v;
            st.valid_ticks += 1;
        }
    }
    for &i in &rec.targeted[phase.index] {
        if let Some(band) = targets.bands[i] {
            let st = &mut rec.signals[i];
            st.band_ticks += 1;
            if signals.is_valid(i) && band.contains(signals.values[i]) {
                st.in_band_ticks += 1;
            }
        }
    }
}

/// `min = min.min(v)` and `max = max.max(v)`, bit for bit, with the NaN and signed-zero
/// handling of `f64::min`/`max` paid only when `v` may change the bound (rarely, once a run is
/// under way): a `v` above `min` (or below `max`) leaves it as it is, and so does a NaN.
fn fold_extremes(min: &mut f64, max: &mut f64, v: f64) {
    if v <= *min {
        *min = min.min(v);
    }
    if v >= *max {
        *max = max.max(v);
    }
}

/// Builds the frame and hands it to the outputs, on ticks that some output wants.
fn publish_frame(outputs: &mut Outputs, src: &FrameSources<'_>) {
    if !outputs.wanted(src.clock.tick, !src.events.as_slice().is_empty()) {
        return;
    }
    let mut seen = outputs.events_dropped_seen;
    fill_frame(&mut outputs.frame, src, &mut seen);
    outputs.events_dropped_seen = seen;
    outputs.publish();
}
