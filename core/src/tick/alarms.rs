//! Alarms (IEC 60601-1-8 conventions): raised after their condition has persisted, escalated
//! when they stay, ended only after the condition has been absent for the rule's clear time, and
//! a latched one only by a deliberate reset once its condition is gone. Every activation is kept
//! in a log that never drops a high or medium entry. Acknowledging silences an alarm for a time
//! that depends on its priority; an audio pause silences what sounds when it is given, for a
//! bounded time; new and escalated alarms sound through it. The visual alarm is never hidden.

use super::state::{SafetyState, Signals, Validity};
use crate::config::Priority;
use crate::config::alarm_ids::{
    LOG_FULL_ALARM, OUTPUT_FAILURE_ALARM, PLUGIN_FAULT_ALARM, TICK_OVERRUN_ALARM, coverage_id,
    link_degraded_id, link_lost_id, not_following_id,
};
use crate::hal::MAX_ACTUATORS;
use crate::plan::{ActionPlan, Plan, RulePlan};
use crate::tick::condition::{judge, limit_and_value};
use crate::tick::events::{AlarmChange, Event, TickEvents};
use crate::tick::feedback::FeedbackCheck;

/// A tick-overrun alarm that lasts this long becomes high priority [P].
const OVERRUN_ESCALATE_S: f64 = 10.0;

/// How long an audio pause silences what sounded when it was given. Pauses given during it cover
/// alarms that began sounding since, without extending it. IEC 60601-1-8 leaves the maximum to
/// the responsible organisation; 2 minutes is this project's proposal \[P\].
pub const AUDIO_PAUSE_S: f64 = 120.0;
/// After a pause runs out the signal sounds at least this long before a new pause is accepted;
/// it is also the least every activation sounds, whatever is acknowledged or paused \[P\].
pub const AUDIO_BURST_S: f64 = 3.0;

/// How long an acknowledgement silences an alarm that stays active, by priority: then it
/// sounds again \[P\].
pub fn acknowledgement_timeout_s(p: Priority) -> f64 {
    match p {
        Priority::High => 120.0,
        Priority::Medium => 300.0,
        Priority::Low => 900.0,
    }
}

/// Low-priority log entries dropped within this long keep `alarm_log_full` active.
const LOG_FULL_WINDOW_S: f64 = 60.0;

/// Room for log entries; beyond it low entries are dropped (counted, alarmed) and high and
/// medium ones take the place of a low one or merge into their alarm's previous entry.
const LOG_CAPACITY: usize = 4096;

/// Room for changes of the audible signal kept for the summary; later ones are counted.
const TIMELINE_CAPACITY: usize = 4096;

/// Deadlines the real-time driver missed, told to the tick between ticks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overruns {
    pub total: u64,
    /// The tick of the latest missed deadline.
    pub last_tick: Option<u64>,
}

/// The outputs' health, told to the tick between ticks by the driver that runs them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputHealth {
    /// Outputs failed so far.
    pub failed: u32,
    pub last_failure_tick: Option<u64>,
    /// Frames that outputs could not take.
    pub frames_lost: u64,
}

/// Where an alarm comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmSource {
    /// The protocol file's rule with this index.
    Rule(usize),
    /// The core's alarm for a sensor no health rule watches (index into `Plan::coverage`).
    Coverage(usize),
    /// The core's own alarm that the plugin is faulted.
    PluginFault,
    /// The core's own alarm that ticks missed their deadlines within the last second.
    TickOverrun,
    /// The core's own alarm that an output failed.
    OutputFailure,
    /// The core's own alarm that low-priority log entries were dropped recently.
    LogFull,
    /// The core's alarm that the actuator with this index does not deliver what it was
    /// commanded, or that the device put it in its safe state because its commands stopped
    /// arriving (see `tick::feedback`).
    NotFollowing(usize),
    /// The core's alarm that the device link with this index (into `Plan::links`) is down.
    LinkLost(usize),
    /// The core's alarm that the device link with this index answers late or with errors.
    LinkDegraded(usize),
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
    pub latch: bool,
    pub active: bool,
    pub acknowledged: bool,
    pub acknowledged_tick: u64,
    /// Silenced by the audio pause in force.
    pub paused: bool,
    /// Ticks the condition has held toward its persistence.
    pub held_ticks: u64,
    /// Consecutive ticks the condition has been absent (beyond any deadband while active).
    pub absent_ticks: u64,
    /// The condition is known to be absent now (its inputs valid and beyond the deadband).
    pub absent: bool,
    /// When the condition began to hold, for the pending or current activation.
    pub condition_tick: u64,
    pub active_since: u64,
    pub first_tick: Option<u64>,
    /// Times the alarm became active.
    pub count: u32,
    /// The highest priority it reached over the run.
    pub highest: Priority,
    /// For a `Reduce` action: the actuator's command when the alarm became active.
    pub onset_command: f64,
    /// This activation's entry in the log.
    open_entry: Option<usize>,
    /// The alarm's latest entry in the log.
    last_entry: Option<usize>,
}

impl Alarm {
    /// Whether this alarm sounds at `tick`: active and neither acknowledged nor paused, or in
    /// the first burst of its activation.
    pub fn sounds(&self, tick: u64, burst_ticks: u64) -> bool {
        self.active
            && (tick < self.active_since + burst_ticks || (!self.acknowledged && !self.paused))
    }

    /// The priority this alarm sounds with at `tick`, if it sounds.
    #[inline(always)]
    fn sounding(&self, tick: u64, burst_ticks: u64) -> Option<Priority> {
        self.sounds(tick, burst_ticks).then_some(self.priority)
    }
}

/// Every alarm of the run: the protocol's rules, the core's sensor coverage, then the core's own.
#[derive(Debug, Clone)]
pub struct Alarms {
    pub list: Vec<Alarm>,
    /// What the active alarms demand of the actuators this tick; the Safety stage fills it.
    pub demands: SafetyState,
    pub log: AlarmLog,
    /// Missed real-time deadlines, told by the driver between ticks.
    pub overruns: Overruns,
    /// The outputs' health, told by the driver between ticks.
    pub outputs: OutputHealth,
    /// Until this tick the pause in force silences the alarms marked paused (0: none yet).
    pub audio_paused_until: u64,
    /// No new pause is accepted before this tick: the signal sounds again after a pause.
    pub pause_allowed_from: u64,
    pub audio_pauses: u32,
    /// The priority the signal sounds with now (None: silent).
    pub sounding: Option<Priority>,
    /// What sounded when: each change of `sounding` with its tick.
    pub timeline: Vec<(u64, Option<Priority>)>,
    pub timeline_dropped: u32,
    burst_ticks: u64,
    /// Per actuator: how closely it must follow its commands.
    feedback: Vec<FeedbackCheck>,
    /// Index in `list` of the first actuator's `NotFollowing` alarm (the rest follow in order).
    first_not_following: usize,
    /// The device links' health as the newest sensor frame reports it (bit per link).
    pub links: LinkHealth,
}

/// Which device links are down or degraded (bit i: `Plan::links[i]`), told by the Safety stage
/// from the newest sensor frame.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LinkHealth {
    pub down: u32,
    pub degraded: u32,
}

/// One activation of an alarm, as the alarm log keeps it.
#[derive(Debug, Clone, Copy)]
pub struct LogEntry {
    pub alarm: usize,
    /// The priority when raised.
    pub priority: Priority,
    /// When the condition began to hold (before its persistence ran).
    pub condition_tick: u64,
    pub start_tick: u64,
    pub end_tick: Option<u64>,
    /// The limit in force (NaN for conditions on sensor health).
    pub limit: f64,
    /// The value that triggered it (NaN when the signal had none).
    pub value: f64,
    pub action: ActionPlan,
    pub acknowledged_tick: Option<u64>,
    pub escalated_tick: Option<u64>,
    /// The priority escalation raised it to.
    pub escalated_to: Option<Priority>,
    pub reset_tick: Option<u64>,
    /// Activations this entry stands for (more than 1 once the log was full and later ones were
    /// merged into it).
    pub activations: u32,
}

/// The alarm log, in a buffer reserved when the world is built.
#[derive(Debug, Clone)]
pub struct AlarmLog {
    pub entries: Vec<LogEntry>,
    /// Low-priority activations that found no room.
    pub dropped: u32,
    /// Activations merged into an earlier entry, or written over a low one.
    pub merged: u32,
    pub last_drop_tick: Option<u64>,
}

impl AlarmLog {
    /// A log with room for `LOG_CAPACITY` entries plus one per alarm, so that every alarm's first
    /// high or medium activation always finds a place.
    fn new(alarms: usize) -> Self {
        AlarmLog {
            entries: Vec::with_capacity(LOG_CAPACITY + alarms),
            dropped: 0,
            merged: 0,
            last_drop_tick: None,
        }
    }

    /// Stores a new activation; returns its entry, or None when a low one was dropped. A high or
    /// medium one is never dropped: it takes the place of a closed low entry, or merges into its
    /// alarm's latest entry, or uses the room reserved for each alarm.
    fn store(
        &mut self,
        e: LogEntry,
        last: Option<usize>,
        events: &mut TickEvents,
    ) -> Option<usize> {
        if self.entries.len() < LOG_CAPACITY {
            self.entries.push(e);
            return Some(self.entries.len() - 1);
        }
        let change = if e.priority == Priority::Low {
            self.dropped += 1;
            self.last_drop_tick = Some(e.start_tick);
            AlarmChange::LogDropped
        } else {
            self.merged += 1;
            AlarmChange::LogMerged
        };
        events.push(Event::Alarm {
            alarm: e.alarm,
            change,
            priority: e.priority,
            limit: e.limit,
            value: e.value,
        });
        if e.priority == Priority::Low {
            return None;
        }
        let low = self.entries.iter().position(|x| {
            x.priority == Priority::Low && x.escalated_to.is_none() && x.end_tick.is_some()
        });
        if let Some(i) = low {
            self.dropped += 1;
            self.last_drop_tick = Some(e.start_tick);
            self.entries[i] = e;
            return Some(i);
        }
        if let Some(i) = last {
            let x = &mut self.entries[i];
            x.activations += 1;
            x.end_tick = None;
            x.priority = x.priority.max(e.priority);
            return Some(i);
        }
        self.entries.push(e);
        Some(self.entries.len() - 1)
    }
}

fn raise(p: Priority) -> Priority {
    match p {
        Priority::Low => Priority::Medium,
        _ => Priority::High,
    }
}

fn ticks(seconds: f64, period_s: f64) -> u64 {
    (seconds / period_s).round() as u64
}

/// The condition of one alarm this tick: whether it holds (None: its inputs are invalid, so
/// nobody can tell), whether it has persisted already (a stale or stuck reading carries its own
/// time), its persistence, clear time, action and escalation.
struct Judged {
    cond: Option<bool>,
    timed: bool,
    persist: u64,
    clear: u64,
    action: ActionPlan,
    escalate: Option<u64>,
}

/// The condition `cond` (with `timed`) of an alarm from `source`, with the persistence, clear
/// time, action and escalation that source gives it.
fn judged(
    source: AlarmSource,
    cond: Option<bool>,
    timed: bool,
    plan: &Plan,
    feedback: &[FeedbackCheck],
) -> Judged {
    let core = |action, escalate| Judged {
        cond,
        timed,
        persist: 0,
        clear: 0,
        action,
        escalate,
    };
    match source {
        AlarmSource::Rule(i) => {
            let r = &plan.rules[i];
            Judged {
                cond,
                timed,
                persist: r.persist_ticks,
                clear: r.clear_ticks,
                action: r.action,
                escalate: r.escalate_ticks,
            }
        }
        AlarmSource::Coverage(i) => {
            let c = &plan.coverage[i];
            Judged {
                persist: c.persist_ticks,
                ..core(c.action, None)
            }
        }
        AlarmSource::PluginFault => core(ActionPlan::HoldSetpoints, None),
        AlarmSource::TickOverrun => core(
            ActionPlan::AlarmOnly,
            Some(ticks(OVERRUN_ESCALATE_S, plan.period_s)),
        ),
        AlarmSource::NotFollowing(i) => Judged {
            persist: feedback[i].persist_ticks,
            ..core(ActionPlan::AlarmOnly, None)
        },
        AlarmSource::OutputFailure
        | AlarmSource::LinkLost(_)
        | AlarmSource::LinkDegraded(_)
        | AlarmSource::LogFull => core(ActionPlan::AlarmOnly, None),
    }
}

impl Alarms {
    pub fn new(plan: &Plan) -> Self {
        let alarm = |id: String, text: String, priority, technical, latch, source| Alarm {
            id,
            text,
            priority,
            base_priority: priority,
            technical,
            source,
            latch,
            active: false,
            acknowledged: false,
            acknowledged_tick: 0,
            paused: false,
            held_ticks: 0,
            absent_ticks: 0,
            absent: true,
            condition_tick: 0,
            active_since: 0,
            first_tick: None,
            count: 0,
            highest: priority,
            onset_command: f64::NAN,
            open_entry: None,
            last_entry: None,
        };
        let mut list: Vec<Alarm> = plan
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let source = AlarmSource::Rule(i);
                alarm(
                    r.id.clone(),
                    r.text.clone(),
                    r.priority,
                    r.technical,
                    r.latch,
                    source,
                )
            })
            .collect();
        for (i, c) in plan.coverage.iter().enumerate() {
            let sensor = &plan.signals[c.signal].id;
            let rules: Vec<&str> = c.rules.iter().map(|&r| plan.rules[r].id.as_str()).collect();
            let text = if c.operator {
                format!(
                    "Laboratory value `{sensor}` is overdue: enter a new one (needed by {})",
                    rules.join(", ")
                )
            } else {
                let backup = plan
                    .sensors
                    .iter()
                    .find(|s| s.signal == c.signal)
                    .and_then(|s| s.backup);
                let failed = match backup {
                    Some(b) => format!(
                        "Sensor `{sensor}` and its backup `{}` failed",
                        plan.signals[b].id
                    ),
                    None => format!("Sensor `{sensor}` failed"),
                };
                format!(
                    "{failed}: {} cannot be judged; the most protective of their actions is \
                     taken",
                    rules.join(", ")
                )
            };
            let id = coverage_id(plan, i);
            // Latched like the rules it stands for: a failed detector stops what air would.
            let latch = c.rules.iter().any(|&r| plan.rules[r].latch) && !c.operator;
            list.push(alarm(
                id,
                text,
                c.priority,
                true,
                latch,
                AlarmSource::Coverage(i),
            ));
        }
        let own = [
            (
                PLUGIN_FAULT_ALARM,
                "Protocol plugin failed: control continues on the last safe setpoints",
                Priority::High,
                true,
                AlarmSource::PluginFault,
            ),
            (
                TICK_OVERRUN_ALARM,
                "Control ticks are missing their deadlines: the controller is overloaded",
                Priority::Medium,
                false,
                AlarmSource::TickOverrun,
            ),
            (
                OUTPUT_FAILURE_ALARM,
                "An output (display or record) failed: control goes on, check the outputs",
                Priority::High,
                false,
                AlarmSource::OutputFailure,
            ),
            (
                LOG_FULL_ALARM,
                "Alarm log full: low-priority entries are being dropped (high and medium kept)",
                Priority::Medium,
                false,
                AlarmSource::LogFull,
            ),
        ];
        for (id, text, priority, latch, source) in own {
            list.push(alarm(id.into(), text.into(), priority, true, latch, source));
        }
        let first_not_following = list.len();
        for (i, a) in plan.actuators.iter().enumerate() {
            // Latched: once the loop follows what the actuator delivers, command and delivery
            // agree again although the actuator may still not listen; the operator resets it.
            let text = format!(
                "Actuator `{}` does not deliver what it is commanded, or its commands no longer \
                 reach it: check the device and its connection; its control follows what it \
                 delivers",
                a.id
            );
            let id = not_following_id(plan, i);
            let source = AlarmSource::NotFollowing(i);
            list.push(alarm(id, text, Priority::High, true, true, source));
        }
        for (i, link) in plan.links.iter().enumerate() {
            // Not latched: the alarm's start and end in the record are the gap in the link.
            let text = format!(
                "Device `{link}` does not answer: its readings go stale and its actuators fall \
                 to their safe state by the device's watchdog; reconnecting"
            );
            let source = AlarmSource::LinkLost(i);
            list.push(alarm(
                link_lost_id(plan, i),
                text,
                Priority::High,
                true,
                false,
                source,
            ));
            let text = format!(
                "Device `{link}` answers late or with errors: check its connection and load"
            );
            let source = AlarmSource::LinkDegraded(i);
            let id = link_degraded_id(plan, i);
            list.push(alarm(id, text, Priority::Medium, true, false, source));
        }
        Alarms {
            links: LinkHealth::default(),
            feedback: plan
                .actuators
                .iter()
                .map(|a| FeedbackCheck::new(a, plan.period_s))
                .collect(),
            first_not_following,
            log: AlarmLog::new(list.len()),
            list,
            demands: SafetyState::default(),
            overruns: Overruns::default(),
            outputs: OutputHealth::default(),
            audio_paused_until: 0,
            pause_allowed_from: 0,
            audio_pauses: 0,
            sounding: None,
            timeline: Vec::with_capacity(TIMELINE_CAPACITY),
            timeline_dropped: 0,
            burst_ticks: ticks(AUDIO_BURST_S, plan.period_s),
        }
    }

    /// Whether actuator `i`'s `NotFollowing` alarm is active.
    pub fn not_following(&self, i: usize) -> bool {
        self.list
            .get(self.first_not_following + i)
            .is_some_and(|a| a.active)
    }

    /// Whether the audible signal sounds at `tick`.
    pub fn audio_sounding(&self, tick: u64) -> bool {
        self.sounding_priority(tick).is_some()
    }

    /// The priority the audible signal sounds with at `tick`: the highest of the alarms that sound.
    pub fn sounding_priority(&self, tick: u64) -> Option<Priority> {
        self.list
            .iter()
            .filter(|a| a.sounds(tick, self.burst_ticks))
            .map(|a| a.priority)
            .max()
    }

    /// Whether an audio pause is in force at `tick`.
    pub fn audio_paused(&self, tick: u64) -> bool {
        tick < self.audio_paused_until && self.list.iter().any(|a| a.paused)
    }

    /// Only an active alarm not yet acknowledged can be acknowledged; it only silences.
    pub fn acknowledge(&mut self, i: usize, tick: u64, events: &mut TickEvents) -> bool {
        let alarm = &mut self.list[i];
        let fresh = alarm.active && !alarm.acknowledged;
        if fresh {
            alarm.acknowledged = true;
            alarm.acknowledged_tick = tick;
            if let Some(e) = alarm.open_entry.and_then(|e| self.log.entries.get_mut(e)) {
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

    /// A latched alarm ends only by a reset given while its condition is known to be absent.
    pub fn reset(&mut self, i: usize, tick: u64, events: &mut TickEvents) -> bool {
        let alarm = &mut self.list[i];
        if !(alarm.active && alarm.latch && alarm.absent) {
            return false;
        }
        if let Some(e) = alarm.open_entry.and_then(|e| self.log.entries.get_mut(e)) {
            e.reset_tick = Some(tick);
        }
        events.push(Event::Alarm {
            alarm: i,
            change: AlarmChange::Reset,
            priority: alarm.priority,
            limit: f64::NAN,
            value: f64::NAN,
        });
        end(alarm, i, tick, &mut self.log, events);
        true
    }

    /// A pause silences what sounds now; refused when nothing sounds, or when a pause just ran
    /// out and the signal has not yet sounded again. A pause during a pause covers the alarms
    /// that began sounding since, without extending it.
    pub fn pause(&mut self, tick: u64, period_s: f64, events: &mut TickEvents) -> bool {
        let in_force = self.audio_paused(tick);
        if (!in_force && tick < self.pause_allowed_from) || self.sounding_priority(tick).is_none() {
            return false;
        }
        if !in_force {
            self.audio_paused_until = tick + ticks(AUDIO_PAUSE_S, period_s);
        }
        let burst = self.burst_ticks;
        for a in self.list.iter_mut().filter(|a| a.sounds(tick, burst)) {
            a.paused = true;
        }
        self.audio_pauses += 1;
        events.push(Event::AudioPaused {
            until_tick: self.audio_paused_until,
        });
        true
    }

    /// Ends the audio pause in force early; refused when none is.
    pub fn resume(&mut self, tick: u64, events: &mut TickEvents) -> bool {
        let paused = self.audio_paused(tick);
        if paused {
            self.end_pause(tick, true, events);
        }
        paused
    }

    fn end_pause(&mut self, tick: u64, early: bool, events: &mut TickEvents) {
        for a in &mut self.list {
            a.paused = false;
        }
        self.audio_paused_until = tick;
        self.pause_allowed_from = tick + self.burst_ticks;
        events.push(Event::AudioResumed { early });
    }

    /// Updates every alarm and builds this tick's [`Alarms::demands`] afresh: `act` adds the
    /// action of each active one (and, for `Reduce`, the command at its onset).
    pub fn update(
        &mut self,
        inputs: &AlarmInputs<'_>,
        events: &mut TickEvents,
        mut act: impl FnMut(&mut SafetyState, ActionPlan, f64),
    ) {
        let AlarmInputs {
            tick,
            plan,
            signals,
            derived,
            phase,
            plugin_faulted,
            last_sent,
            delivered,
            expired,
        } = *inputs;
        if self.audio_paused_until != 0
            && tick >= self.audio_paused_until
            && self.list.iter().any(|a| a.paused)
        {
            self.end_pause(tick, false, events);
        }
        let (log, overruns, outputs) = (&mut self.log, &self.overruns, &self.outputs);
        let demands = &mut self.demands;
        demands.clear();
        let mut act = |action, onset| act(demands, action, onset);
        let (links, burst) = (self.links, self.burst_ticks);
        let feedback = &self.feedback;
        let phase_bit = if phase < 64 { 1u64 << phase } else { 0 };
        let second = ticks(1.0, plan.period_s);
        let cx = Context { inputs, feedback };
        let mut sounding = None;
        // The rules come first in the list, in the plan's order: judged without a look-up.
        let (rules, others) = self.list.split_at_mut(plan.rules.len());
        for (index, (alarm, r)) in rules.iter_mut().zip(&plan.rules).enumerate() {
            let cond = rule_condition(r, alarm.active, phase_bit, signals, derived);
            // Building up toward its persistence: only the count moves, as in `step`.
            if cond == Some(true)
                && !alarm.active
                && alarm.held_ticks > 0
                && alarm.held_ticks < r.persist_ticks
            {
                alarm.held_ticks += 1;
                alarm.absent = false;
                alarm.absent_ticks = 0;
                continue;
            }
            tally(alarm, index, (cond, false), &cx, log, events, &mut act);
            sounding = sounding.max(alarm.sounding(tick, burst));
        }
        for (index, alarm) in others.iter_mut().enumerate() {
            let index = index + plan.rules.len();
            // Whether the condition holds, and whether it carries its own time.
            let (cond, timed) = match alarm.source {
                AlarmSource::Rule(i) => (
                    rule_condition(&plan.rules[i], alarm.active, phase_bit, signals, derived),
                    false,
                ),
                AlarmSource::Coverage(i) => {
                    let c = &plan.coverage[i];
                    let (failed, timed) = if c.operator {
                        (signals.health[c.signal] == Validity::Stale, true)
                    } else {
                        let v = signals.validity[c.signal];
                        (
                            v != Validity::Ok,
                            v == Validity::Stale || v == Validity::Stuck,
                        )
                    };
                    (Some(c.phases & phase_bit != 0 && failed), timed)
                }
                AlarmSource::PluginFault => (Some(plugin_faulted), true),
                AlarmSource::TickOverrun => (
                    Some(overruns.last_tick.is_some_and(|t| tick <= t + second)),
                    true,
                ),
                AlarmSource::OutputFailure => (Some(outputs.failed > 0), true),
                AlarmSource::NotFollowing(i) => (
                    Some(
                        expired & (1 << i) != 0 || !feedback[i].follows(last_sent[i], delivered[i]),
                    ),
                    false,
                ),
                AlarmSource::LinkLost(i) => (Some(links.down & (1 << i) != 0), true),
                AlarmSource::LinkDegraded(i) => (Some(links.degraded & (1 << i) != 0), true),
                AlarmSource::LogFull => {
                    let window = ticks(LOG_FULL_WINDOW_S, plan.period_s);
                    (
                        Some(log.last_drop_tick.is_some_and(|t| tick <= t + window)),
                        true,
                    )
                }
            };
            tally(alarm, index, (cond, timed), &cx, log, events, &mut act);
            sounding = sounding.max(alarm.sounding(tick, burst));
        }
        debug_assert_eq!(sounding, self.sounding_priority(tick));
        if sounding != self.sounding {
            self.sounding = sounding;
            events.push(Event::Sounding { priority: sounding });
            if self.timeline.len() < self.timeline.capacity() {
                self.timeline.push((tick, sounding));
            } else {
                self.timeline_dropped += 1;
            }
        }
    }
}

/// Whether rule `r` holds: judged only in the phases it applies to, with its deadband while
/// its alarm is active.
#[inline(always)]
fn rule_condition(
    r: &RulePlan,
    active: bool,
    phase_bit: u64,
    signals: &Signals,
    derived: &[f64],
) -> Option<bool> {
    if r.phases & phase_bit == 0 {
        return Some(false);
    }
    let deadband = if active { r.deadband } else { 0.0 };
    judge(&r.condition, signals, derived, deadband)
}

/// One alarm's tick given its condition: most alarms most of the time are off and not
/// building up, their condition absent or unknown, and only note the tick here (so the tick
/// stays cheap); the others take a full [`step`], and an active one's action is applied.
#[inline(always)]
fn tally(
    alarm: &mut Alarm,
    index: usize,
    (cond, timed): (Option<bool>, bool),
    cx: &Context,
    log: &mut AlarmLog,
    events: &mut TickEvents,
    act: &mut impl FnMut(ActionPlan, f64),
) {
    if !alarm.active && alarm.held_ticks == 0 {
        match cond {
            Some(false) => {
                alarm.absent = true;
                alarm.absent_ticks += 1;
                return;
            }
            None => {
                alarm.absent = false;
                alarm.absent_ticks = 0;
                return;
            }
            Some(true) => {}
        }
    }
    let j = judged(alarm.source, cond, timed, cx.inputs.plan, cx.feedback);
    step(alarm, index, &j, cx, log, events);
    if alarm.active {
        act(j.action, alarm.onset_command);
    }
}

/// What the alarms are judged on this tick.
#[derive(Clone, Copy)]
pub struct AlarmInputs<'a> {
    pub tick: u64,
    pub plan: &'a Plan,
    pub signals: &'a Signals,
    /// The plugin's derived values rules may read (none while it is faulted).
    pub derived: &'a [f64],
    pub phase: usize,
    pub plugin_faulted: bool,
    /// The command frame of the previous tick.
    pub last_sent: &'a [f64; MAX_ACTUATORS],
    /// What the device reports each actuator did with it.
    pub delivered: &'a [f64; MAX_ACTUATORS],
    /// Actuators the device reports in their safe state because their command expired
    /// (`SensorFrame::expired`).
    pub expired: u32,
}

/// What an alarm's step and activation read: this tick's inputs and the tolerance each
/// actuator must keep.
struct Context<'a> {
    inputs: &'a AlarmInputs<'a>,
    feedback: &'a [FeedbackCheck],
}

/// One alarm's tick: persistence, activation, clearing, escalation and acknowledgement expiry.
fn step(
    alarm: &mut Alarm,
    index: usize,
    j: &Judged,
    cx: &Context,
    log: &mut AlarmLog,
    events: &mut TickEvents,
) {
    let (tick, plan) = (cx.inputs.tick, cx.inputs.plan);
    let push = |events: &mut TickEvents, change, priority| {
        events.push(Event::Alarm {
            alarm: index,
            change,
            priority,
            limit: f64::NAN,
            value: f64::NAN,
        })
    };
    alarm.absent = j.cond == Some(false);
    match j.cond {
        Some(true) => {
            alarm.absent_ticks = 0;
            if !alarm.active {
                if alarm.held_ticks == 0 {
                    alarm.condition_tick = tick;
                    if j.persist > 0 {
                        push(events, AlarmChange::ConditionBegan, alarm.base_priority);
                    }
                }
                alarm.held_ticks += 1;
            }
        }
        Some(false) => {
            alarm.absent_ticks += 1;
            // A brief normal reading does not restart the persistence: only a clear time does.
            if !alarm.active && alarm.absent_ticks > j.clear {
                alarm.held_ticks = 0;
            }
        }
        // Inputs invalid: nothing is known, so nothing is raised and nothing ends.
        None => alarm.absent_ticks = 0,
    }
    let persisted = j.timed || alarm.held_ticks > j.persist;
    if j.cond == Some(true) && persisted && !alarm.active {
        activate(alarm, index, j.action, cx, log, events);
    } else if alarm.active && !alarm.latch && alarm.absent && alarm.absent_ticks > j.clear {
        end(alarm, index, tick, log, events);
    }
    if !alarm.active {
        return;
    }
    if j.escalate.is_some_and(|e| tick - alarm.active_since >= e)
        && alarm.priority == alarm.base_priority
        && alarm.priority != Priority::High
    {
        alarm.priority = raise(alarm.priority);
        alarm.highest = alarm.highest.max(alarm.priority);
        // An escalated alarm sounds again, through acknowledgement and pause.
        alarm.acknowledged = false;
        alarm.paused = false;
        if let Some(e) = alarm.open_entry.and_then(|e| log.entries.get_mut(e)) {
            e.escalated_tick = Some(tick);
            e.escalated_to = Some(alarm.priority);
        }
        push(events, AlarmChange::Escalated, alarm.priority);
    }
    let timeout = ticks(acknowledgement_timeout_s(alarm.priority), plan.period_s);
    if alarm.acknowledged && tick - alarm.acknowledged_tick >= timeout {
        alarm.acknowledged = false;
        push(events, AlarmChange::AcknowledgementExpired, alarm.priority);
    }
}

fn activate(
    alarm: &mut Alarm,
    index: usize,
    action: ActionPlan,
    cx: &Context,
    log: &mut AlarmLog,
    events: &mut TickEvents,
) {
    let AlarmInputs {
        tick,
        plan,
        signals,
        ..
    } = *cx.inputs;
    alarm.active = true;
    alarm.acknowledged = false;
    alarm.paused = false;
    alarm.absent_ticks = 0;
    alarm.active_since = tick;
    alarm.priority = alarm.base_priority;
    alarm.count += 1;
    alarm.first_tick.get_or_insert(tick);
    if let ActionPlan::Reduce { actuator, .. } = action {
        alarm.onset_command = cx.inputs.last_sent[actuator];
    }
    let (limit, value) = match alarm.source {
        AlarmSource::Rule(i) => {
            limit_and_value(&plan.rules[i].condition, signals, cx.inputs.derived)
        }
        AlarmSource::Coverage(i) => (f64::NAN, signals.values[plan.coverage[i].signal]),
        // The tolerance, and how far the delivery was from the command.
        AlarmSource::NotFollowing(i) => (
            cx.feedback[i].tolerance(cx.inputs.last_sent[i]),
            cx.inputs.delivered[i] - cx.inputs.last_sent[i],
        ),
        _ => (f64::NAN, f64::NAN),
    };
    events.push(Event::Alarm {
        alarm: index,
        change: AlarmChange::Raised,
        priority: alarm.priority,
        limit,
        value,
    });
    let entry = LogEntry {
        alarm: index,
        priority: alarm.priority,
        condition_tick: alarm.condition_tick,
        start_tick: tick,
        end_tick: None,
        limit,
        value,
        action,
        acknowledged_tick: None,
        escalated_tick: None,
        escalated_to: None,
        reset_tick: None,
        activations: 1,
    };
    alarm.open_entry = log.store(entry, alarm.last_entry, events);
    if alarm.open_entry.is_some() {
        alarm.last_entry = alarm.open_entry;
    }
}

fn end(alarm: &mut Alarm, index: usize, tick: u64, log: &mut AlarmLog, events: &mut TickEvents) {
    alarm.active = false;
    alarm.acknowledged = false;
    alarm.paused = false;
    alarm.held_ticks = 0;
    alarm.absent_ticks = 0;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::alarm_ids::{alarm_count, alarm_ids};
    use crate::config::{OperatorAction, Range};
    use crate::plan::{ConditionPlan, PluginPlan, RulePlan, SignalPlan, ValueRef};

    /// A plan of one signal (index 0) and the given rules, at 100 Hz.
    fn plan(rules: Vec<RulePlan>) -> Plan {
        Plan {
            name: "test".into(),
            scenarios: Vec::new(),
            default_scenario: None,
            period_s: 0.01,
            plugin: PluginPlan {
                id: "test".into(),
                version_req: semver::VersionReq::STAR,
                sha256: None,
                params: Vec::new(),
                overridden: Vec::new(),
                entered: Vec::new(),
            },
            signals: vec![SignalPlan {
                id: "p".into(),
                unit: "mmHg".into(),
                range: Range {
                    min: 0.0,
                    max: 100.0,
                },
            }],
            sensors: Vec::new(),
            estimates: Vec::new(),
            actuators: Vec::new(),
            phases: Vec::new(),
            rules,
            coverage: Vec::new(),
            source_sha256: String::new(),
            links: Vec::new(),
            computed: Vec::new(),
        }
    }

    #[test]
    fn a_lost_device_link_is_a_high_alarm_named_after_the_device_for_as_long_as_it_lasts() {
        let mut p = plan(Vec::new());
        p.links = vec!["pump_drive".into(), "thermometer".into()];
        assert_eq!(alarm_count(&p), alarm_ids(&p).len());
        let ids = alarm_ids(&p);
        let lost = ids
            .iter()
            .position(|i| i == "pump_drive_link_lost")
            .unwrap();
        let slow = ids
            .iter()
            .position(|i| i == "thermometer_link_degraded")
            .unwrap();
        let mut b = Bench::new(p);
        b.run(10, 50.0);
        assert!(!b.alarms.list[lost].active);
        b.alarms.links.down = 1;
        b.tick(50.0, true, &[]);
        let a = &b.alarms.list[lost];
        assert!(a.active && a.priority == Priority::High && a.technical);
        assert!(a.text.contains("`pump_drive`"), "{}", a.text);
        b.alarms.links = LinkHealth {
            down: 0,
            degraded: 0b10,
        };
        b.tick(50.0, true, &[]);
        assert!(
            !b.alarms.list[lost].active,
            "not latched: the link came back"
        );
        assert!(b.alarms.list[slow].active);
        assert_eq!(b.alarms.list[slow].priority, Priority::Medium);
    }

    fn above(id: &str, priority: Priority, limit: f64, persist_s: f64) -> RulePlan {
        RulePlan {
            id: id.into(),
            text: id.into(),
            priority,
            condition: ConditionPlan::Above {
                value: ValueRef::Signal(0),
                limit,
            },
            persist_ticks: (persist_s / 0.01).round() as u64,
            clear_ticks: 200,
            deadband: 0.0,
            technical: false,
            latch: false,
            action: ActionPlan::AlarmOnly,
            escalate_ticks: None,
            phases: u64::MAX,
        }
    }

    /// Runs the alarms for one tick with signal 0 at `v` (valid) and the given commands.
    struct Bench {
        plan: Plan,
        alarms: Alarms,
        tick: u64,
        events: TickEvents,
    }

    impl Bench {
        fn new(plan: Plan) -> Self {
            Bench {
                alarms: Alarms::new(&plan),
                plan,
                tick: 0,
                events: TickEvents::new(),
            }
        }

        fn tick(&mut self, v: f64, valid: bool, commands: &[OperatorAction]) {
            let mut s = Signals::default();
            s.values[0] = v;
            let ok = if valid { Validity::Ok } else { Validity::Stale };
            s.validity[0] = ok;
            s.health[0] = ok;
            self.events.clear();
            // Whether a command was accepted shows in the events the tests read.
            for &action in commands {
                let _ = match action {
                    OperatorAction::Acknowledge(i) => {
                        self.alarms.acknowledge(i, self.tick, &mut self.events)
                    }
                    OperatorAction::Reset(i) => self.alarms.reset(i, self.tick, &mut self.events),
                    OperatorAction::PauseAudio => {
                        self.alarms.pause(self.tick, 0.01, &mut self.events)
                    }
                    OperatorAction::ResumeAudio => self.alarms.resume(self.tick, &mut self.events),
                    _ => unreachable!("the alarm tests give alarm commands only"),
                };
            }
            let last_sent = [0.0; MAX_ACTUATORS];
            let inputs = AlarmInputs {
                tick: self.tick,
                plan: &self.plan,
                signals: &s,
                derived: &[],
                phase: 0,
                plugin_faulted: false,
                last_sent: &last_sent,
                delivered: &last_sent,
                expired: 0,
            };
            self.alarms.update(&inputs, &mut self.events, |_, _, _| {});
            self.tick += 1;
        }

        fn run(&mut self, n: u64, v: f64) {
            for _ in 0..n {
                self.tick(v, true, &[]);
            }
        }
    }

    #[test]
    fn a_value_true_most_of_the_time_raises_its_alarm() {
        // True 9.5 s of every 10 s against a 10-s persistence: raised within the second cycle.
        let mut b = Bench::new(plan(vec![above("a", Priority::Medium, 50.0, 10.0)]));
        for _ in 0..3 {
            b.run(950, 60.0);
            b.run(50, 40.0);
        }
        let a = &b.alarms.list[0];
        assert_eq!(
            a.count, 1,
            "one activation, not ended by the brief normal readings"
        );
        // 950 true ticks, 50 normal (shorter than the 2-s clear time), then the 51st true tick
        // of the second cycle is the 1001st.
        assert_eq!(a.first_tick, Some(1050), "after 1001 true ticks");
        assert!(a.active);
    }

    #[test]
    fn a_glitch_shorter_than_the_persistence_raises_nothing() {
        let mut b = Bench::new(plan(vec![above("a", Priority::High, 50.0, 1.0)]));
        for _ in 0..5 {
            b.run(50, 60.0);
            b.run(300, 40.0);
        }
        assert_eq!(b.alarms.list[0].count, 0);
    }

    #[test]
    fn chattering_continues_one_activation_and_escalation_is_not_reset() {
        let mut rule = above("a", Priority::Low, 50.0, 0.0);
        rule.escalate_ticks = Some(3000);
        let mut b = Bench::new(plan(vec![rule]));
        // A single 0.1-s normal reading every 5 s for a minute.
        for _ in 0..12 {
            b.run(490, 60.0);
            b.run(10, 40.0);
        }
        let a = &b.alarms.list[0];
        assert_eq!(a.count, 1);
        assert_eq!(a.priority, Priority::Medium, "escalated after 30 s");
        assert_eq!(b.alarms.log.entries.len(), 1);
        assert_eq!(b.alarms.log.entries[0].escalated_to, Some(Priority::Medium));
        // Normal for longer than the 2-s clear time (counted from the last normal reading at
        // 5990): it ends.
        b.run(201, 40.0);
        assert!(!b.alarms.list[0].active);
        assert_eq!(b.alarms.log.entries[0].end_tick, Some(5990 + 200));
    }

    #[test]
    fn a_deadband_delays_the_end_until_the_value_is_back_inside() {
        let mut rule = above("a", Priority::Medium, 50.0, 0.0);
        rule.deadband = 5.0;
        rule.clear_ticks = 0;
        let mut b = Bench::new(plan(vec![rule]));
        b.run(1, 60.0);
        b.run(100, 48.0);
        assert!(b.alarms.list[0].active, "48 is inside the 5-unit deadband");
        b.run(2, 44.0);
        assert!(!b.alarms.list[0].active);
    }

    #[test]
    fn an_invalid_input_neither_ends_nor_raises_a_value_alarm() {
        let mut b = Bench::new(plan(vec![
            above("on", Priority::High, 50.0, 0.0),
            above("off", Priority::High, 70.0, 0.0),
        ]));
        b.run(1, 60.0);
        assert!(b.alarms.list[0].active);
        for _ in 0..1000 {
            // The invalid reading is far above both limits: it must raise nothing.
            b.tick(99.0, false, &[]);
        }
        assert!(b.alarms.list[0].active, "stays while nobody can tell");
        assert_eq!(b.alarms.list[1].count, 0);
        b.run(202, 40.0);
        assert!(
            !b.alarms.list[0].active,
            "valid and absent for the clear time"
        );
    }

    #[test]
    fn acknowledgement_expires_by_priority_and_escalation_clears_it() {
        let mut rule = above("a", Priority::Low, 50.0, 0.0);
        rule.escalate_ticks = Some(60_000);
        let mut b = Bench::new(plan(vec![rule, above("h", Priority::High, 80.0, 0.0)]));
        b.run(400, 90.0);
        b.tick(
            90.0,
            true,
            &[
                OperatorAction::Acknowledge(0),
                OperatorAction::Acknowledge(1),
            ],
        );
        assert_eq!(b.alarms.sounding, None);
        // HIGH: 120 s.
        b.run(12_000, 90.0);
        assert_eq!(b.alarms.sounding, Some(Priority::High));
        assert!(!b.alarms.list[1].acknowledged);
        // The HIGH condition goes (it ends after its clear time); the LOW one, escalated to
        // MEDIUM at 600 s, sounds again through its acknowledgement.
        b.run(60_000 - b.tick, 60.0);
        assert!(!b.alarms.list[1].active);
        assert_eq!(b.alarms.sounding, None);
        assert!(b.alarms.list[0].acknowledged);
        b.run(1, 60.0);
        assert_eq!(b.alarms.list[0].priority, Priority::Medium);
        assert!(!b.alarms.list[0].acknowledged);
        assert_eq!(b.alarms.sounding, Some(Priority::Medium));
        let escalated = b.events.as_slice().iter().any(|e| {
            matches!(
                e,
                Event::Alarm {
                    change: AlarmChange::Escalated,
                    priority: Priority::Medium,
                    ..
                }
            )
        });
        assert!(escalated);
    }

    #[test]
    fn the_sounding_priority_is_the_highest_not_acknowledged() {
        let mut b = Bench::new(plan(vec![
            above("m", Priority::Medium, 50.0, 0.0),
            above("h", Priority::High, 80.0, 0.0),
        ]));
        b.run(400, 90.0);
        assert_eq!(b.alarms.sounding, Some(Priority::High));
        b.tick(90.0, true, &[OperatorAction::Acknowledge(1)]);
        assert_eq!(
            b.alarms.sounding,
            Some(Priority::Medium),
            "the MEDIUM still sounds"
        );
        assert_eq!(
            b.alarms.timeline,
            vec![(0, Some(Priority::High)), (400, Some(Priority::Medium))]
        );
    }

    #[test]
    fn a_flood_never_loses_a_high_entry_and_counts_and_alarms_dropped_low_ones() {
        let mut rule = above("chatter", Priority::Low, 50.0, 0.0);
        rule.clear_ticks = 0;
        let mut b = Bench::new(plan(vec![rule, above("h", Priority::High, 80.0, 0.0)]));
        for _ in 0..LOG_CAPACITY + 10 {
            b.run(1, 60.0);
            b.run(2, 40.0);
        }
        // 10 LOW activations found no room, and `alarm_log_full`'s own MEDIUM entry took the
        // place of one more.
        let dropped = b.alarms.log.dropped;
        assert_eq!(dropped, 11);
        let full = b
            .alarms
            .list
            .iter()
            .position(|a| a.id == LOG_FULL_ALARM)
            .unwrap();
        assert!(b.alarms.list[full].active, "dropping is alarmed");
        assert_eq!(b.alarms.list[full].priority, Priority::Medium);
        // A HIGH activation now: it takes a closed LOW entry's place.
        b.run(1, 90.0);
        b.run(1, 40.0);
        let highs: Vec<&LogEntry> = b
            .alarms
            .log
            .entries
            .iter()
            .filter(|e| e.alarm == 1)
            .collect();
        assert_eq!(highs.len(), 1);
        assert_eq!(b.alarms.log.entries.len(), LOG_CAPACITY);
        assert!(
            b.alarms.log.dropped > dropped,
            "the LOW entry it replaced is counted"
        );
    }

    #[test]
    fn a_failed_output_raises_a_high_technical_alarm() {
        let mut b = Bench::new(plan(Vec::new()));
        b.run(10, 0.0);
        let i = b
            .alarms
            .list
            .iter()
            .position(|a| a.id == OUTPUT_FAILURE_ALARM)
            .unwrap();
        assert!(!b.alarms.list[i].active);
        // Set between ticks, as a driver does.
        b.alarms.outputs = OutputHealth {
            failed: 1,
            last_failure_tick: Some(10),
            frames_lost: 3,
        };
        b.run(1, 0.0);
        let a = &b.alarms.list[i];
        assert!(a.active && a.technical);
        assert_eq!(a.priority, Priority::High);
        assert_eq!(b.alarms.sounding, Some(Priority::High));
    }

    #[test]
    fn a_pause_covers_what_sounds_for_at_most_its_time_then_the_signal_sounds_again() {
        let mut b = Bench::new(plan(vec![
            above("a", Priority::High, 50.0, 0.0),
            above("b", Priority::High, 70.0, 0.0),
        ]));
        // Nothing sounds: refused.
        b.tick(40.0, true, &[OperatorAction::PauseAudio]);
        assert_eq!(b.alarms.audio_pauses, 0);
        b.run(400, 60.0);
        b.tick(60.0, true, &[OperatorAction::PauseAudio]);
        assert_eq!(b.alarms.sounding, None);
        // `b` starts during the pause (tick 402): it sounds at once.
        b.run(200, 75.0);
        assert_eq!(b.alarms.sounding, Some(Priority::High));
        // A second pause covers `b` but does not extend the first; `b` still sounds its first
        // burst (3 s), then falls silent.
        b.tick(75.0, true, &[OperatorAction::PauseAudio]);
        assert_eq!(
            b.alarms.sounding,
            Some(Priority::High),
            "a burst is not cut short"
        );
        assert_eq!(b.alarms.audio_paused_until, 401 + 12_000);
        b.run(702 - b.tick, 75.0);
        assert_eq!(b.alarms.sounding, Some(Priority::High));
        b.run(1, 75.0);
        assert_eq!(b.alarms.sounding, None);
        b.run(401 + 12_000 - b.tick, 75.0);
        assert_eq!(b.alarms.sounding, None);
        b.run(1, 75.0);
        assert_eq!(b.alarms.sounding, Some(Priority::High), "the pause ran out");
        // Right after it ran out a new pause is refused until the signal has sounded a burst.
        b.tick(75.0, true, &[OperatorAction::PauseAudio]);
        assert_eq!(b.alarms.sounding, Some(Priority::High));
        b.run(300, 75.0);
        b.tick(75.0, true, &[OperatorAction::PauseAudio]);
        assert_eq!(b.alarms.sounding, None);
        b.tick(75.0, true, &[OperatorAction::ResumeAudio]);
        assert_eq!(b.alarms.sounding, Some(Priority::High));
    }
}
