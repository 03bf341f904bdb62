//! Sample: take the newest sensor frame and judge every reading (ok, stale, implausible, stuck).
//! Also where the operator's input enters the tick: scripted (`--commands`, `--labs`) and live
//! (the console's queue), both through the same due list, checks and record.

use super::events::{Event, TickEvents};
use super::protocol::OperatorLog;
use super::state::{Clock, HalPort, PlanRef, Signals};
use crate::config::{LabEntry, OperatorAction, OperatorCommand, Range};
use crate::hal::MAX_SENSORS;
use crate::plan::{Plan, SensorPlan};
use bevy_ecs::prelude::*;
use crossbeam_channel::{Receiver, Sender, bounded};
use perfuse_plugin_sdk::validity;

/// What the operator enters live (from the console), taken in at the next tick like a scripted
/// entry due then.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LiveInput {
    Command(OperatorAction),
    /// A laboratory value for an operator-site sensor (index in the circuit).
    Lab {
        sensor: usize,
        value: f64,
    },
}

/// Live entries taken in per tick at most; the rest wait in the queue for the next tick.
pub const LIVE_PER_TICK: usize = 16;
/// Room reserved for live commands and lab values over a run (the record keeps every one; the
/// summary lists this many).
pub const LIVE_RESERVE: usize = 4096;

/// What the operator enters: laboratory results (the latest per sensor) and commands, each in
/// time order, scripted or live. The Sample stage takes in what is due; later stages act on the
/// commands due this tick ([`OperatorInput::due_with_log`]), each on its own kind.
#[derive(Resource, Debug, Clone)]
pub struct OperatorInput {
    labs: Vec<LabEntry>,
    next_lab: usize,
    values: [f64; MAX_SENSORS],
    /// Counts the entries per sensor, as a frame's `seq` counts frames: a new entry is fresh.
    seq: [u64; MAX_SENSORS],
    commands: Vec<OperatorCommand>,
    /// The next scripted command not yet due.
    next_command: usize,
    /// The commands due this tick, scripted then live (room reserved).
    due: Vec<OperatorCommand>,
    /// The console's queue, drained with `try_recv` only.
    live: Option<Receiver<LiveInput>>,
    /// Lab values and commands entered live, in time order (room reserved).
    live_labs: Vec<LabEntry>,
    live_commands: Vec<OperatorCommand>,
    /// Live entries that named no operator sensor or controlled signal of the plan: not taken.
    pub live_refused: u64,
    /// What became of each command (room reserved for all of them).
    pub log: OperatorLog,
}

impl OperatorInput {
    /// Both lists must be in time order (as `config::load_labs` and `load_commands` return them).
    pub fn new(labs: Vec<LabEntry>, commands: Vec<OperatorCommand>) -> Self {
        OperatorInput {
            labs,
            next_lab: 0,
            values: [f64::NAN; MAX_SENSORS],
            seq: [0; MAX_SENSORS],
            log: OperatorLog::with_capacity(commands.len()),
            due: Vec::with_capacity(commands.len() + LIVE_PER_TICK),
            commands,
            next_command: 0,
            live: None,
            live_labs: Vec::new(),
            live_commands: Vec::new(),
            live_refused: 0,
        }
    }

    /// Opens the live queue (`capacity` entries) and reserves room for what comes through it.
    pub fn open_live(&mut self, capacity: usize) -> Sender<LiveInput> {
        let (tx, rx) = bounded(capacity.max(1));
        self.live = Some(rx);
        self.live_labs.reserve(LIVE_RESERVE);
        self.live_commands.reserve(LIVE_RESERVE);
        self.log.entries.reserve(LIVE_RESERVE);
        tx
    }

    /// Takes in every entry due at `tick`; each lab value is an event.
    fn apply_due(&mut self, plan: &Plan, tick: u64, events: &mut TickEvents) {
        while let Some(e) = self.labs.get(self.next_lab).filter(|e| e.tick <= tick) {
            self.values[e.sensor] = e.value;
            self.seq[e.sensor] += 1;
            self.next_lab += 1;
            events.push(Event::Lab {
                sensor: e.sensor,
                value: e.value,
            });
        }
        self.due.clear();
        while let Some(c) = self
            .commands
            .get(self.next_command)
            .filter(|c| c.tick <= tick)
        {
            self.due.push(*c);
            self.next_command += 1;
        }
        let Some(live) = &self.live else { return };
        for _ in 0..LIVE_PER_TICK {
            let Ok(input) = live.try_recv() else { break };
            match input {
                LiveInput::Command(action)
                    if live_action_fits(plan, action)
                        && self.live_commands.len() < self.live_commands.capacity() =>
                {
                    let c = OperatorCommand { tick, action };
                    self.due.push(c);
                    self.live_commands.push(c);
                }
                LiveInput::Lab { sensor, value }
                    if plan.sensors.get(sensor).is_some_and(|s| s.operator)
                        && self.live_labs.len() < self.live_labs.capacity() =>
                {
                    self.values[sensor] = value;
                    self.seq[sensor] += 1;
                    self.live_labs.push(LabEntry {
                        tick,
                        sensor,
                        value,
                    });
                    events.push(Event::Lab { sensor, value });
                }
                _ => self.live_refused += 1,
            }
        }
    }

    /// The laboratory values entered so far, scripted and live, in time order.
    pub fn entered_labs(&self) -> Vec<LabEntry> {
        let mut all: Vec<LabEntry> = self.labs[..self.next_lab]
            .iter()
            .chain(&self.live_labs)
            .copied()
            .collect();
        all.sort_by_key(|e| e.tick);
        all
    }

    /// The commands taken so far, scripted and live, in the order the tick took them.
    pub fn entered_commands(&self) -> Vec<OperatorCommand> {
        let mut all: Vec<OperatorCommand> = self.commands[..self.next_command]
            .iter()
            .chain(&self.live_commands)
            .copied()
            .collect();
        // Stable: in a tick, the scripted commands came first, as they do here.
        all.sort_by_key(|c| c.tick);
        all
    }

    /// Whether anything was entered live (then the scripted files alone do not make the run).
    pub fn entered_live(&self) -> bool {
        !(self.live_commands.is_empty() && self.live_labs.is_empty())
    }

    /// The operator's commands due this tick, in order, with the log to record them in.
    pub fn due_with_log(&mut self) -> (&[OperatorCommand], &mut OperatorLog) {
        (&self.due, &mut self.log)
    }
}

/// Whether a live command names an alarm and a signal the run has (the console builds its
/// commands from the plan; anything else would index past the run's tables).
fn live_action_fits(plan: &Plan, action: OperatorAction) -> bool {
    match action {
        OperatorAction::Acknowledge(i) | OperatorAction::Reset(i) => {
            i < crate::tick::alarms::alarm_count(plan)
        }
        OperatorAction::Setpoint { signal, value } => {
            value.is_finite()
                && plan
                    .actuators
                    .iter()
                    .any(|a| a.control.as_ref().is_some_and(|l| l.signal == signal))
        }
        _ => true,
    }
}

/// A sensor entity: its channel in the HAL frame and its plausibility limits.
#[derive(Component, Debug, Clone)]
pub struct SensorChannel {
    pub index: usize,
    /// Read from the operator's entries rather than the HAL frame.
    pub operator: bool,
    /// The redundant sensor (its signal index) that stands in while this reading is invalid.
    pub backup: Option<usize>,
    pub signal: usize,
    pub range: Range,
    pub stale_after_ticks: u64,
    pub stuck_after_ticks: u64,
}

impl SensorChannel {
    pub fn new(index: usize, plan: &SensorPlan) -> Self {
        SensorChannel {
            index,
            operator: plan.operator,
            backup: plan.backup,
            signal: plan.signal,
            range: plan.range,
            stale_after_ticks: plan.stale_after_ticks,
            stuck_after_ticks: plan.stuck_after_ticks,
        }
    }
}

/// What the Sample stage remembers about a sensor between ticks.
#[derive(Component, Debug, Default, Clone)]
pub struct SensorHealth {
    /// Sequence number of the frame the last fresh reading came from.
    pub last_seq: u64,
    pub fresh_tick: u64,
    /// Bits of the last reading, to tell "unchanged" exactly.
    pub last_bits: u64,
    pub unchanged_since: u64,
}

/// Judges one reading. Implausible outranks stale, which outranks stuck.
pub fn judge(ch: &SensorChannel, h: &SensorHealth, value: f64, tick: u64) -> u8 {
    if !value.is_finite() || !ch.range.contains(value) {
        validity::IMPLAUSIBLE
    } else if tick.saturating_sub(h.fresh_tick) >= ch.stale_after_ticks {
        validity::STALE
    } else if tick.saturating_sub(h.unchanged_since) >= ch.stuck_after_ticks {
        validity::STUCK
    } else {
        validity::OK
    }
}

pub fn sample_sensors(
    clock: Res<Clock>,
    plan: Local<PlanRef>,
    mut hal: ResMut<HalPort>,
    mut operator: ResMut<OperatorInput>,
    mut sensors: Query<(&SensorChannel, &mut SensorHealth)>,
    mut signals: ResMut<Signals>,
    mut events: ResMut<TickEvents>,
) {
    let tick = clock.tick;
    // The first stage: a new tick's events start here.
    events.clear();
    let signals = &mut *signals;
    match hal.as_mut() {
        HalPort::Direct(h) => h.get().read(&mut signals.frame),
        HalPort::Threaded(ch) => ch.take_newest(&mut signals.frame),
    }
    operator.apply_due(&plan.0, tick, &mut events);
    for (ch, mut h) in &mut sensors {
        let (value, seq, fresh) = if ch.operator {
            (operator.values[ch.index], operator.seq[ch.index], true)
        } else {
            let fresh = signals.frame.not_fresh & (1 << ch.index) == 0;
            (signals.frame.values[ch.index], signals.frame.seq, fresh)
        };
        if seq != h.last_seq && fresh {
            h.last_seq = seq;
            h.fresh_tick = tick;
            let bits = value.to_bits();
            if bits != h.last_bits || tick == 0 {
                h.last_bits = bits;
                h.unchanged_since = tick;
            }
        }
        let judged = judge(ch, &h, value, tick);
        signals.values[ch.signal] = value;
        signals.validity[ch.signal] = judged;
        signals.health[ch.signal] = judged;
    }
    // Redundancy: a failed reading takes its healthy backup's value, so loops and value rules go
    // on; the sensor-health rules still see the failure in `health`.
    for (ch, _) in &sensors {
        if let Some(b) = ch.backup
            && signals.health[ch.signal] != validity::OK
            && signals.health[b] == validity::OK
        {
            signals.values[ch.signal] = signals.values[b];
            signals.validity[ch.signal] = validity::OK;
        }
    }
    debug_assert!(plan.0.sensors.len() <= signals.values.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel() -> SensorChannel {
        SensorChannel {
            index: 0,
            operator: false,
            backup: None,
            signal: 0,
            range: Range {
                min: 0.0,
                max: 100.0,
            },
            stale_after_ticks: 10,
            stuck_after_ticks: 50,
        }
    }

    #[test]
    fn a_reading_is_judged_in_order_of_severity() {
        let ch = channel();
        let fresh = SensorHealth {
            fresh_tick: 100,
            unchanged_since: 100,
            ..Default::default()
        };
        assert_eq!(judge(&ch, &fresh, 50.0, 100), validity::OK);
        assert_eq!(judge(&ch, &fresh, f64::NAN, 100), validity::IMPLAUSIBLE);
        assert_eq!(judge(&ch, &fresh, 150.0, 100), validity::IMPLAUSIBLE);
        assert_eq!(judge(&ch, &fresh, 50.0, 110), validity::STALE);
        let unchanged = SensorHealth {
            fresh_tick: 160,
            unchanged_since: 100,
            ..Default::default()
        };
        assert_eq!(judge(&ch, &unchanged, 50.0, 149), validity::OK);
        assert_eq!(judge(&ch, &unchanged, 50.0, 150), validity::STUCK);
    }
}
