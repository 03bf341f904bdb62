//! The operator's input: laboratory values and commands, scripted (`--labs`, `--commands`) or
//! live (the console's queue), taken in by the Sample stage through one due list, with the log
//! of what became of every command.

use super::alarms::Alarms;
use super::events::{Event, TickEvents};
use super::state::{PhaseState, Targets};
use crate::config::{LabEntry, OperatorAction, OperatorCommand};
use crate::hal::MAX_SENSORS;
use crate::plan::Plan;
use crossbeam_channel::{Receiver, Sender, bounded};

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
#[derive(Debug, Clone)]
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
    pub fn apply_due(&mut self, plan: &Plan, tick: u64, events: &mut TickEvents) {
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

    /// The latest laboratory value of operator sensor `sensor`, and how many were entered.
    pub fn lab(&self, sensor: usize) -> (f64, u64) {
        (self.values[sensor], self.seq[sensor])
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

    /// Carries out the commands due this tick, each logged and recorded as an event with
    /// whether it was accepted: the phase and setpoint commands first, then the alarm commands,
    /// each kind in the order given (the order the record has always kept).
    pub fn apply_commands(
        &mut self,
        tick: u64,
        plan: &Plan,
        mut on: Commanded<'_>,
        events: &mut TickEvents,
    ) {
        for alarms_turn in [false, true] {
            for c in &self.due {
                if is_alarm_command(c.action) != alarms_turn {
                    continue;
                }
                let accepted = carry_out(c.action, tick, plan, &mut on, events);
                self.log.record(tick, c.action, accepted);
                events.push(Event::Operator {
                    action: c.action,
                    accepted,
                });
            }
        }
    }
}

/// What the operator's commands act on: the phase, the operator's setpoints, the alarms.
pub struct Commanded<'a> {
    pub phase: &'a mut PhaseState,
    pub targets: &'a mut Targets,
    pub alarms: &'a mut Alarms,
}

fn is_alarm_command(action: OperatorAction) -> bool {
    matches!(
        action,
        OperatorAction::Acknowledge(_)
            | OperatorAction::Reset(_)
            | OperatorAction::PauseAudio
            | OperatorAction::ResumeAudio
    )
}

/// Carries out one command; whether it was accepted. A setpoint outside the phase's band (or
/// the signal's range where the phase sets no band) is refused; alarm commands follow the
/// alarms' rules (see [`Alarms::acknowledge`], [`Alarms::reset`], [`Alarms::pause`]).
fn carry_out(
    action: OperatorAction,
    tick: u64,
    plan: &Plan,
    on: &mut Commanded<'_>,
    events: &mut TickEvents,
) -> bool {
    match action {
        OperatorAction::AdvancePhase => {
            on.phase.advance_requested = true;
            true
        }
        OperatorAction::HoldPhase(hold) => {
            on.phase.held = hold;
            true
        }
        OperatorAction::Stop => {
            on.phase.stopped = Some(tick);
            true
        }
        OperatorAction::Setpoint { signal, value } => {
            let limits = plan.phases[on.phase.index].targets[signal]
                .and_then(|t| t.band)
                .unwrap_or(plan.signals[signal].range);
            let inside = limits.contains(value);
            if inside {
                on.targets.operator[signal] = value;
            }
            inside
        }
        OperatorAction::Acknowledge(i) => on.alarms.acknowledge(i, tick, events),
        OperatorAction::Reset(i) => on.alarms.reset(i, tick, events),
        OperatorAction::PauseAudio => on.alarms.pause(tick, plan.period_s, events),
        OperatorAction::ResumeAudio => on.alarms.resume(tick, events),
    }
}

/// Whether a live command names an alarm and a signal the run has (the console builds its
/// commands from the plan; anything else would index past the run's tables).
fn live_action_fits(plan: &Plan, action: OperatorAction) -> bool {
    match action {
        OperatorAction::Acknowledge(i) | OperatorAction::Reset(i) => {
            i < crate::config::alarm_ids::alarm_count(plan)
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

/// The operator's commands and what became of them, in a buffer reserved for all of them.
#[derive(Debug, Clone, Default)]
pub struct OperatorLog {
    pub entries: Vec<(u64, OperatorAction, bool)>,
}

impl OperatorLog {
    pub fn with_capacity(n: usize) -> Self {
        OperatorLog {
            entries: Vec::with_capacity(n),
        }
    }

    /// Records a command and whether it was carried out (room is reserved for every command).
    pub fn record(&mut self, tick: u64, action: OperatorAction, accepted: bool) {
        if self.entries.len() < self.entries.capacity() {
            self.entries.push((tick, action, accepted));
        }
    }
}
