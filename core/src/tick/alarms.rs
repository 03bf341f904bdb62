//! Alarms (IEC 60601-1-8 conventions): raised after their condition has persisted, escalated
//! when they stay, latched until the condition is gone and the operator has acknowledged,
//! recorded in a log with the limit in force and the value that triggered them. The audible
//! signal can be paused for a limited time; the visual alarm never is, and there is no mute.

use super::Signals;
use crate::config::{OperatorAction, OperatorCommand, Priority};
use crate::hal::MAX_ACTUATORS;
use crate::plan::{ActionPlan, ConditionPlan, Plan};
use crate::tick::events::{AlarmChange, Event, TickEvents};
use crate::tick::protocol::OperatorLog;
use crate::tick::safety::holds;
use bevy_ecs::prelude::*;

/// Id of the core's own alarm that the plugin is faulted.
pub const PLUGIN_FAULT_ALARM: &str = "plugin_fault";
/// Id of the core's own alarm that ticks are missing their deadlines (real time).
pub const TICK_OVERRUN_ALARM: &str = "tick_overrun";
/// A tick-overrun alarm that lasts this long becomes high priority [P].
const OVERRUN_ESCALATE_S: f64 = 10.0;

/// Deadlines the real-time driver missed, told to the tick between ticks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overruns {
    pub total: u64,
    /// The tick of the latest missed deadline.
    pub last_tick: Option<u64>,
}

/// How long one audio pause lasts. IEC 60601-1-8 leaves the maximum to the responsible
/// organisation; 2 minutes is this project's proposal (tag \[P\] of docs/clinical-basis.md).
pub const AUDIO_PAUSE_S: f64 = 120.0;

/// Room reserved for the log: every alarm may start this many times before entries are counted
/// rather than stored.
const LOG_CAPACITY: usize = 4096;

/// Where an alarm comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmSource {
    /// The protocol file's rule with this index.
    Rule(usize),
    /// The core's own alarm that the plugin is faulted.
    PluginFault,
    /// The core's own alarm that ticks missed their deadlines within the last second.
    TickOverrun,
}

/// One alarm: its identity and its state over the run.
#[derive(Debug, Clone)]
pub struct Alarm {
    pub id: String,
    pub text: String,
    /// The priority now (raised by escalation while active).
    pub priority: Priority,
    pub base_priority: Priority,
    /// Technical (equipment) rather than physiological.
    pub technical: bool,
    pub source: AlarmSource,
    pub active: bool,
    pub acknowledged: bool,
    /// Consecutive ticks the condition has held.
    pub held_ticks: u64,
    pub active_since: u64,
    pub first_tick: Option<u64>,
    /// Times the alarm became active.
    pub count: u32,
    /// For a `Reduce` action: the actuator's command when the alarm became active.
    pub onset_command: f64,
    /// This activation's entry in the log.
    open_entry: Option<usize>,
}

/// Every alarm of the run: the protocol's rules, then the core's own.
#[derive(Resource, Debug, Clone)]
pub struct Alarms {
    pub list: Vec<Alarm>,
    pub log: AlarmLog,
    /// Missed real-time deadlines, told by the driver between ticks.
    pub overruns: Overruns,
    /// Until this tick the audible signal is paused.
    pub audio_paused_until: u64,
    pub audio_pauses: u32,
}

/// One activation of an alarm, as the alarm log keeps it.
#[derive(Debug, Clone, Copy)]
pub struct LogEntry {
    pub alarm: usize,
    pub priority: Priority,
    pub start_tick: u64,
    pub end_tick: Option<u64>,
    /// The limit in force (NaN for conditions on sensor health).
    pub limit: f64,
    /// The value that triggered it (NaN when the signal had none).
    pub value: f64,
    pub action: ActionPlan,
    pub acknowledged_tick: Option<u64>,
    pub escalated_tick: Option<u64>,
}

/// The alarm log, in a buffer reserved when the world is built.
#[derive(Debug, Clone)]
pub struct AlarmLog {
    pub entries: Vec<LogEntry>,
    pub dropped: u32,
}

impl Default for AlarmLog {
    fn default() -> Self {
        AlarmLog {
            entries: Vec::with_capacity(LOG_CAPACITY),
            dropped: 0,
        }
    }
}

/// A rule on sensor health is about the equipment; one on values is about the organ.
fn is_technical(c: &ConditionPlan) -> bool {
    match c {
        ConditionPlan::Stale { .. }
        | ConditionPlan::Stuck { .. }
        | ConditionPlan::Implausible { .. }
        | ConditionPlan::Disagree { .. } => true,
        ConditionPlan::All(list) => list.iter().all(is_technical),
        _ => false,
    }
}

/// The limit in force and the value of the first value condition in `c`.
fn limit_and_value(c: &ConditionPlan, s: &Signals) -> (f64, f64) {
    match c {
        ConditionPlan::Above { signal, limit } | ConditionPlan::Below { signal, limit } => {
            (*limit, s.values[*signal])
        }
        ConditionPlan::Outside { signal, band } => {
            let v = s.values[*signal];
            (if v > band.max { band.max } else { band.min }, v)
        }
        ConditionPlan::Stale { signal }
        | ConditionPlan::Stuck { signal }
        | ConditionPlan::Implausible { signal } => (f64::NAN, s.values[*signal]),
        ConditionPlan::Disagree { a, b, tolerance } => (*tolerance, s.values[*a] - s.values[*b]),
        ConditionPlan::All(list) => list
            .iter()
            .map(|c| limit_and_value(c, s))
            .find(|(l, _)| !l.is_nan())
            .unwrap_or((f64::NAN, f64::NAN)),
    }
}

fn raise(p: Priority) -> Priority {
    match p {
        Priority::Low => Priority::Medium,
        _ => Priority::High,
    }
}

impl Alarms {
    pub fn new(plan: &Plan) -> Self {
        let alarm = |id: &str, text: &str, priority, technical, source| Alarm {
            id: id.to_string(),
            text: text.to_string(),
            priority,
            base_priority: priority,
            technical,
            source,
            active: false,
            acknowledged: false,
            held_ticks: 0,
            active_since: 0,
            first_tick: None,
            count: 0,
            onset_command: f64::NAN,
            open_entry: None,
        };
        let mut list: Vec<Alarm> = plan
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let technical = is_technical(&r.condition);
                alarm(&r.id, &r.text, r.priority, technical, AlarmSource::Rule(i))
            })
            .collect();
        list.push(alarm(
            PLUGIN_FAULT_ALARM,
            "Protocol plugin failed: control continues on the last safe setpoints",
            Priority::High,
            true,
            AlarmSource::PluginFault,
        ));
        list.push(alarm(
            TICK_OVERRUN_ALARM,
            "Control ticks are missing their deadlines: the controller is overloaded",
            Priority::Medium,
            true,
            AlarmSource::TickOverrun,
        ));
        Alarms {
            list,
            log: AlarmLog::default(),
            overruns: Overruns::default(),
            audio_paused_until: 0,
            audio_pauses: 0,
        }
    }

    /// Whether the audible signal sounds: an active alarm not yet acknowledged, and no pause.
    pub fn audio_sounding(&self, tick: u64) -> bool {
        tick >= self.audio_paused_until && self.list.iter().any(|a| a.active && !a.acknowledged)
    }

    /// Acknowledgements and audio pauses due this tick.
    pub fn take_commands(
        &mut self,
        tick: u64,
        period_s: f64,
        due: &[OperatorCommand],
        operator_log: &mut OperatorLog,
        events: &mut TickEvents,
    ) {
        let log = &mut self.log;
        for c in due {
            let accepted = match c.action {
                OperatorAction::Acknowledge(i) => {
                    let alarm = &mut self.list[i];
                    // Only an active alarm can be acknowledged; once is enough.
                    let fresh = alarm.active && !alarm.acknowledged;
                    if fresh {
                        alarm.acknowledged = true;
                        if let Some(e) = alarm.open_entry.and_then(|e| log.entries.get_mut(e)) {
                            e.acknowledged_tick = Some(tick);
                        }
                        events.push(Event::Alarm {
                            alarm: i,
                            change: AlarmChange::Acknowledged,
                            priority: alarm.priority,
                            limit: f64::NAN,
                            value: f64::NAN,
                        });
                    }
                    fresh
                }
                OperatorAction::PauseAudio => {
                    self.audio_paused_until = tick + (AUDIO_PAUSE_S / period_s).round() as u64;
                    self.audio_pauses += 1;
                    true
                }
                _ => continue,
            };
            operator_log.record(tick, c.action, accepted);
            events.push(Event::Operator {
                action: c.action,
                accepted,
            });
        }
    }

    /// Updates every alarm and calls `act` with the action of each active one (and, for
    /// `Reduce`, the command at its onset).
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &mut self,
        tick: u64,
        plan: &Plan,
        signals: &Signals,
        phase: usize,
        plugin_faulted: bool,
        last_sent: &[f64; MAX_ACTUATORS],
        events: &mut TickEvents,
        mut act: impl FnMut(ActionPlan, f64),
    ) {
        let (log, overruns) = (&mut self.log, &self.overruns);
        for (index, alarm) in self.list.iter_mut().enumerate() {
            let (cond, persist, latch, action, escalate) = match alarm.source {
                AlarmSource::Rule(i) => {
                    let r = &plan.rules[i];
                    let in_phase = phase < 64 && r.phases & (1 << phase) != 0;
                    let cond = in_phase && holds(&r.condition, signals);
                    (cond, r.persist_ticks, r.latch, r.action, r.escalate_ticks)
                }
                AlarmSource::PluginFault => {
                    (plugin_faulted, 0, true, ActionPlan::HoldSetpoints, None)
                }
                AlarmSource::TickOverrun => {
                    let second = (1.0 / plan.period_s).round() as u64;
                    let recent = overruns.last_tick.is_some_and(|t| tick <= t + second);
                    let escalate = (OVERRUN_ESCALATE_S / plan.period_s).round() as u64;
                    (recent, 0, false, ActionPlan::AlarmOnly, Some(escalate))
                }
            };
            alarm.held_ticks = if cond { alarm.held_ticks + 1 } else { 0 };
            if cond && alarm.held_ticks > persist && !alarm.active {
                alarm.active = true;
                alarm.acknowledged = false;
                alarm.active_since = tick;
                alarm.priority = alarm.base_priority;
                alarm.count += 1;
                alarm.first_tick.get_or_insert(tick);
                if let ActionPlan::Reduce { actuator, .. } = action {
                    alarm.onset_command = last_sent[actuator];
                }
                let (limit, value) = match alarm.source {
                    AlarmSource::Rule(i) => limit_and_value(&plan.rules[i].condition, signals),
                    AlarmSource::PluginFault | AlarmSource::TickOverrun => (f64::NAN, f64::NAN),
                };
                events.push(Event::Alarm {
                    alarm: index,
                    change: AlarmChange::Raised,
                    priority: alarm.priority,
                    limit,
                    value,
                });
                alarm.open_entry = if log.entries.len() < log.entries.capacity() {
                    log.entries.push(LogEntry {
                        alarm: index,
                        priority: alarm.priority,
                        start_tick: tick,
                        end_tick: None,
                        limit,
                        value,
                        action,
                        acknowledged_tick: None,
                        escalated_tick: None,
                    });
                    Some(log.entries.len() - 1)
                } else {
                    log.dropped += 1;
                    None
                };
            } else if alarm.active && !cond && (!latch || alarm.acknowledged) {
                alarm.active = false;
                if let Some(e) = alarm.open_entry.take().and_then(|e| log.entries.get_mut(e)) {
                    e.end_tick = Some(tick);
                }
                events.push(Event::Alarm {
                    alarm: index,
                    change: AlarmChange::Ended,
                    priority: alarm.priority,
                    limit: f64::NAN,
                    value: f64::NAN,
                });
            }
            if alarm.active
                && escalate.is_some_and(|e| tick - alarm.active_since >= e)
                && alarm.priority == alarm.base_priority
                && alarm.priority != Priority::High
            {
                alarm.priority = raise(alarm.priority);
                if let Some(e) = alarm.open_entry.and_then(|e| log.entries.get_mut(e)) {
                    e.escalated_tick = Some(tick);
                }
                events.push(Event::Alarm {
                    alarm: index,
                    change: AlarmChange::Escalated,
                    priority: alarm.priority,
                    limit: f64::NAN,
                    value: f64::NAN,
                });
            }
            if alarm.active {
                act(action, alarm.onset_command);
            }
        }
    }
}
