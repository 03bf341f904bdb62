//! What the console knows of the run: the latest frame, the trends, the phase clock and the
//! operator results, built from the frames alone (plain data in, no terminal).

use crate::Setup;
use perfuse_core::config::{OperatorAction, Priority};
use perfuse_core::output::{ALARM_ACKNOWLEDGED, ALARM_PAUSED, Frame};
use perfuse_core::run::status::priority_of;
use perfuse_core::run::summary::command_text;
use perfuse_core::tick::events::Event;
use std::collections::VecDeque;

/// The longest trend span kept, in seconds of run time.
pub const TREND_KEEP_S: f64 = 3600.0;
/// Operator results kept for the message line and the help screen.
const MESSAGES: usize = 8;

/// One active alarm as the console lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmRow {
    /// Index in the run's alarms.
    pub index: usize,
    pub priority: Priority,
    pub acknowledged: bool,
    pub paused: bool,
    pub since_tick: u64,
}

/// A message for the operator: what became of an action, or what the console could not do.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub tick: u64,
    pub text: String,
    /// A refusal or a failure (shown in the alarm colour), rather than a confirmation.
    pub refused: bool,
}

/// The run as the console shows it.
pub struct View {
    pub setup: Setup,
    /// The newest frame (all frames carry the whole state; sample frames also feed the trends).
    pub frame: Option<Box<Frame>>,
    /// Per signal: (run time in s, value) of the sample frames within [`TREND_KEEP_S`].
    pub trends: Vec<VecDeque<(f64, f64)>>,
    /// Run time of the last trend point, to keep at most one per second.
    last_trend_s: f64,
    /// The tick the phase in force started (from its event, or when the console first saw it).
    pub phase_start_tick: u64,
    /// The operator holds the phase (from the accepted hold and release commands).
    pub held: bool,
    /// The tick a hold began, to keep the phase clock still while held.
    held_since: Option<u64>,
    pub messages: VecDeque<Message>,
    /// The newest assessment: its tick, phase and values.
    pub assessment: Option<(u64, usize, Vec<f64>)>,
    /// Frames the console did not get (a tick gap with events would have been seen).
    pub frames_seen: u64,
    /// The run has ended (its queue hung up).
    pub ended: bool,
    /// While the watchdog reports no control tick: the last tick done.
    pub not_responding_since: Option<u64>,
}

impl View {
    pub fn new(setup: Setup) -> Self {
        let n = setup.names.plan.signals.len();
        View {
            setup,
            frame: None,
            trends: vec![VecDeque::new(); n],
            last_trend_s: f64::NEG_INFINITY,
            phase_start_tick: 0,
            held: false,
            held_since: None,
            messages: VecDeque::with_capacity(MESSAGES),
            assessment: None,
            frames_seen: 0,
            ended: false,
            not_responding_since: None,
        }
    }

    pub fn period_s(&self) -> f64 {
        self.setup.names.plan.period_s
    }

    /// Takes in one frame.
    pub fn take(&mut self, f: &Frame) {
        self.frames_seen += 1;
        // The watchdog's frame carries its alarm only: the state shown stays the last tick's.
        if let Some((responding, silent_ms)) = f.watchdog_event() {
            self.not_responding_since = (!responding).then_some(f.tick);
            if responding {
                let text = format!("the controller is ticking again after {silent_ms} ms");
                self.message(f.tick, text, false);
            }
            return;
        }
        let plan = self.setup.names.plan.clone();
        if self.frame.as_ref().is_none_or(|old| old.phase != f.phase) {
            // A phase change whose event frame was lost still restarts the phase clock.
            self.phase_start_tick = f.tick;
        }
        for e in f.events() {
            match *e {
                Event::PhaseStarted { .. } => self.phase_start_tick = f.tick,
                Event::Operator { action, accepted } => {
                    if accepted && let OperatorAction::HoldPhase(hold) = action {
                        self.held = hold;
                        if hold {
                            self.held_since.get_or_insert(f.tick);
                        } else if let Some(since) = self.held_since.take() {
                            // The phase clock stood still while held.
                            self.phase_start_tick += f.tick - since;
                        }
                    }
                    let ids: Vec<String> = self
                        .setup
                        .names
                        .alarms
                        .iter()
                        .map(|(id, _)| id.clone())
                        .collect();
                    let what = command_text(&plan, &ids, action);
                    let text = if accepted {
                        format!("done: {what}")
                    } else {
                        format!("refused: {what}: {}", action.refusal())
                    };
                    self.message(f.tick, text, !accepted);
                }
                Event::Lab { sensor, value } => {
                    let s = &plan.sensors[sensor];
                    let unit = &plan.signals[s.signal].unit;
                    self.message(
                        f.tick,
                        format!("lab {} = {value} {unit} entered", s.id),
                        false,
                    );
                }
                Event::Assessment { .. } => {
                    self.assessment = Some((f.tick, f.phase, f.assessment.to_vec()));
                }
                Event::PluginFault { code } => {
                    self.message(f.tick, format!("plugin faulted (code {code})"), true);
                }
                _ => {}
            }
        }
        if f.sample {
            let t = f.tick as f64 * plan.period_s;
            if t - self.last_trend_s >= 1.0 {
                self.last_trend_s = t;
                for (i, trend) in self.trends.iter_mut().enumerate() {
                    trend.push_back((t, f.values[i]));
                    while trend.front().is_some_and(|&(t0, _)| t - t0 > TREND_KEEP_S) {
                        trend.pop_front();
                    }
                }
            }
        }
        match &mut self.frame {
            Some(b) => **b = *f,
            None => self.frame = Some(Box::new(*f)),
        }
    }

    /// Adds a message for the operator (the newest last).
    pub fn message(&mut self, tick: u64, text: String, refused: bool) {
        if self.messages.len() == MESSAGES {
            self.messages.pop_front();
        }
        self.messages.push_back(Message {
            tick,
            text,
            refused,
        });
    }

    /// The active alarms by priority (highest first), then by start time.
    pub fn alarm_rows(&self) -> Vec<AlarmRow> {
        let Some(f) = &self.frame else {
            return Vec::new();
        };
        let mut rows: Vec<AlarmRow> = f
            .alarms
            .iter()
            .take(self.setup.names.alarms.len())
            .enumerate()
            .filter_map(|(i, &s)| {
                Some(AlarmRow {
                    index: i,
                    priority: priority_of(s)?,
                    acknowledged: s & ALARM_ACKNOWLEDGED != 0,
                    paused: s & ALARM_PAUSED != 0,
                    since_tick: f.alarm_since[i],
                })
            })
            .collect();
        rows.sort_by_key(|a| (std::cmp::Reverse(a.priority), a.since_tick, a.index));
        rows
    }

    /// Seconds in the phase so far (the clock stands still while the phase is held).
    pub fn in_phase_s(&self) -> f64 {
        let Some(f) = &self.frame else { return 0.0 };
        let now = self.held_since.unwrap_or(f.tick);
        now.saturating_sub(self.phase_start_tick) as f64 * self.period_s()
    }

    /// Seconds left in the phase: its duration, or the run's end for the last phase when the
    /// run has a `--duration`.
    pub fn phase_left_s(&self) -> Option<f64> {
        let f = self.frame.as_ref()?;
        let plan = &self.setup.names.plan;
        let last = f.phase + 1 == plan.phases.len();
        match self.setup.end_tick {
            Some(end) if last => Some(end.saturating_sub(f.tick) as f64 * plan.period_s),
            _ => {
                let d = plan.phases[f.phase].duration_ticks as f64 * plan.period_s;
                Some((d - self.in_phase_s()).max(0.0))
            }
        }
    }

    /// Seconds of audio pause left (`None`: no pause in force).
    pub fn audio_paused_left_s(&self) -> Option<f64> {
        let f = self.frame.as_ref()?;
        (f.audio_paused_until > f.tick)
            .then(|| (f.audio_paused_until - f.tick) as f64 * self.period_s())
    }

    /// The priority the audible signal sounds with now.
    pub fn sounding(&self) -> Option<Priority> {
        priority_of(self.frame.as_ref()?.sounding)
    }
}
