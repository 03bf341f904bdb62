//! A run's state, saved between ticks and restored into a freshly built run after a restart.
//!
//! A simulated run can be resumed by re-running it (the record's checkpoints); real devices
//! cannot be re-simulated, so a real-time restart continues from this snapshot instead: the
//! tick, the phase and its clock, the operator's setpoints, the alarms that were active (active
//! again and unacknowledged, so the team hears them), what each infusion pump delivered in its
//! dose window (a restart never gives a second dose), the control loops and last commands
//! (bumpless), and the plugin's own state through the ABI 1.2 save/restore pair.
//!
//! Everything is named by id, so a state is readable and a mismatch is a clear error; it is
//! restored only into the protocol it was saved from (same sha256 of the file's text).

use super::Run;
use crate::config::Priority;
use crate::tick::TickState;
use crate::tick::control::{ControlLoop, LoopMemory};
use crate::tick::dose::{DoseMemory, DoseWindow};
use crate::tick::sample::SensorHealth;
use crate::tick::state::{ActuatorChannel, Command, PhaseExit, Protocol};
use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};

/// Version of the [`RunState`] layout; a state from a newer version is refused.
pub const STATE_VERSION: u32 = 1;

/// Everything the core needs to continue a run after a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub version: u32,
    /// The protocol file's sha256 ([`crate::plan::Plan::source_sha256`]).
    pub protocol_sha256: String,
    /// The next tick to run.
    pub tick: u64,
    pub phase: PhaseSnapshot,
    /// Setpoints the operator set for the rest of the phase.
    pub overrides: Vec<SignalValue>,
    /// The setpoints in force, which control keeps while the plugin is faulted or held.
    pub setpoints: Vec<SignalValue>,
    /// A rule demanded that setpoints hold (read by the first tick's Protocol stage).
    pub hold_setpoints: bool,
    pub alarms: Vec<AlarmSnapshot>,
    /// Audio pauses given so far (a pause itself does not outlast a restart).
    pub audio_pauses: u32,
    pub actuators: Vec<ActuatorSnapshot>,
    pub plugin: PluginSnapshot,
}

/// The phase and its clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseSnapshot {
    pub index: usize,
    /// The phase's id, so a state can be read (and checked) without the protocol.
    pub id: String,
    /// Ticks the phase has run, as the next tick would count them.
    pub elapsed_ticks: u64,
    /// The operator held the phase: its clock stands still, through a restart too.
    pub held: bool,
    /// The plugin or the operator asked to end the phase at the next tick.
    pub advance_requested: bool,
    /// Ticks the phase's `exit_when` condition has held (absent in states saved before it
    /// existed: 0).
    #[serde(default)]
    pub exit_held_ticks: u64,
}

/// A value of one signal, by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalValue {
    pub signal: String,
    pub value: f64,
}

/// One alarm's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmSnapshot {
    pub id: String,
    /// Active (or latched) when saved: restored active and unacknowledged.
    pub active: bool,
    pub priority: Priority,
    pub count: u32,
    pub first_tick: Option<u64>,
    /// When this activation began (its escalation counts from here).
    pub active_since: u64,
    /// For a `Reduce` action: the command at the alarm's onset, which its cap is a fraction of.
    pub onset_command: Option<f64>,
}

/// One actuator: its last commands, its loop and its dose window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActuatorSnapshot {
    pub id: String,
    pub requested: f64,
    pub sent: f64,
    pub last_safe: f64,
    pub control: Option<LoopMemory>,
    pub dose: Option<DoseMemory>,
}

/// The plugin: which one, whether it was faulted, its derived values and its own state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginSnapshot {
    pub id: String,
    pub version: String,
    pub fault: Option<PluginFault>,
    /// Derived values of its last good step (`None` where undefined).
    pub derived: Vec<Option<f64>>,
    /// What its `save` wrote; `None` for a plugin without save/restore (ABI 1.1) or a faulted one.
    pub state: Option<Vec<u8>>,
    /// The parameters it was created with (the file's, with the run's `--param` values over
    /// them); absent in states saved before they were kept, and then not checked.
    #[serde(default)]
    pub params: Option<Vec<(String, f64)>>,
}

/// Why and when the plugin was marked faulted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PluginFault {
    pub tick: u64,
    pub code: i32,
}

impl RunState {
    /// JSON text of the state.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a run state always serialises")
    }

    /// Reads a state, refusing one from a newer perfuse by its version before anything else.
    pub fn from_json(text: &str) -> Result<RunState, String> {
        #[derive(Deserialize)]
        struct Head {
            version: u32,
        }
        let head: Head =
            serde_json::from_str(text).map_err(|e| format!("not a perfuse run state: {e}"))?;
        check_version(head.version)?;
        serde_json::from_str(text).map_err(|e| format!("a malformed run state: {e}"))
    }
}

fn check_version(version: u32) -> Result<(), String> {
    if version > STATE_VERSION {
        return Err(format!(
            "the run state is version {version}, newer than this perfuse reads (version \
             {STATE_VERSION}): resume it with the perfuse that saved it"
        ));
    }
    Ok(())
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Real-time seconds between two saved states: what a restart can lose of the run's state.
pub const STATE_EVERY_S: f64 = 10.0;

/// Where a real-time run sends its state (tick, JSON) every [`STATE_EVERY_S`], to an output
/// thread that keeps it (the record). Saving costs the control thread some tens of microseconds
/// between two ticks, once per interval; a full queue drops that state, never waits.
#[derive(Debug)]
pub struct StateSink {
    pub tx: crossbeam_channel::Sender<(u64, String)>,
    pub every_ticks: u64,
    pub next_tick: u64,
}

impl StateSink {
    pub fn new(
        tx: crossbeam_channel::Sender<(u64, String)>,
        period_s: f64,
        from_tick: u64,
    ) -> Self {
        let every_ticks = ((STATE_EVERY_S / period_s).round() as u64).max(1);
        StateSink {
            tx,
            every_ticks,
            next_tick: from_tick + every_ticks,
        }
    }
}

impl Run {
    /// Whether the run's state is due after the tick under way (between its halves): the
    /// plugin then saves its own in its call.
    pub(crate) fn state_due_after_tick(&self) -> bool {
        self.state_sink
            .as_ref()
            .is_some_and(|s| self.tick() + 1 >= s.next_tick)
    }

    /// Between two ticks: sends the run's state to its sink when an interval has passed.
    pub fn offer_state(&mut self) {
        let tick = self.tick();
        if self.state_sink.as_ref().is_none_or(|s| tick < s.next_tick) {
            return;
        }
        let json = self.save_state().to_json();
        if let Some(sink) = &mut self.state_sink {
            let _ = sink.tx.try_send((tick, json));
            sink.next_tick = tick + sink.every_ticks;
        }
    }

    /// Snapshot of the run between two ticks (never inside one). The plugin is asked for its
    /// state (ABI 1.2).
    pub fn save_state(&mut self) -> RunState {
        let plan = &self.plan;
        let ts = self.world.resource::<TickState>();
        let tick = ts.now.clock.tick;
        let protocol = &ts.protocol;
        let (phase, targets) = (&protocol.phase, &protocol.targets);
        let by_signal = |values: &[f64]| {
            plan.signals
                .iter()
                .zip(values)
                .filter(|(_, v)| v.is_finite())
                .map(|(s, v)| SignalValue {
                    signal: s.id.clone(),
                    value: *v,
                })
                .collect()
        };
        let alarms = &ts.alarms;
        RunState {
            version: STATE_VERSION,
            protocol_sha256: plan.source_sha256.clone(),
            tick,
            phase: PhaseSnapshot {
                index: phase.index,
                id: plan.phases[phase.index].id.clone(),
                elapsed_ticks: tick - phase.start_tick,
                held: phase.held,
                advance_requested: phase.advance_requested,
                exit_held_ticks: phase.exit.held_ticks,
            },
            overrides: by_signal(&targets.operator),
            setpoints: by_signal(&targets.setpoints),
            hold_setpoints: alarms.demands.hold_setpoints,
            alarms: alarms
                .list
                .iter()
                .map(|a| AlarmSnapshot {
                    id: a.id.clone(),
                    active: a.active,
                    priority: a.priority,
                    count: a.count,
                    first_tick: a.first_tick,
                    active_since: a.active_since,
                    onset_command: finite(a.onset_command),
                })
                .collect(),
            audio_pauses: alarms.audio_pauses,
            actuators: self.save_actuators(),
            plugin: self.save_plugin(tick),
        }
    }

    /// Each actuator's commands, loop and dose window, in file order.
    fn save_actuators(&self) -> Vec<ActuatorSnapshot> {
        let w = &self.world;
        let mut query = w
            .try_query::<(
                &ActuatorChannel,
                &Command,
                Option<&ControlLoop>,
                Option<&DoseWindow>,
            )>()
            .expect("actuator components are registered");
        let mut list: Vec<(usize, ActuatorSnapshot)> = query
            .iter(w)
            .map(|(ch, cmd, lp, dose)| {
                let snapshot = ActuatorSnapshot {
                    id: ch.spec.id.clone(),
                    requested: cmd.requested,
                    sent: cmd.sent,
                    last_safe: cmd.last_safe,
                    control: lp.and_then(ControlLoop::memory),
                    dose: dose.map(DoseWindow::memory),
                };
                (ch.index, snapshot)
            })
            .collect();
        list.sort_by_key(|(index, _)| *index);
        list.into_iter().map(|(_, a)| a).collect()
    }

    /// The plugin's identity, fault, derived values and own state. A plugin whose `save` fails
    /// is saved as faulted, so the resumed run does not trust it.
    fn save_plugin(&mut self, tick: u64) -> PluginSnapshot {
        let health = self.tick_state().protocol.plugin.health;
        let mut fault = health.faulted.then_some(PluginFault {
            tick: health.fault_tick,
            code: health.fault_code,
        });
        let mut state = None;
        if fault.is_none() {
            let slot = &mut self.tick_state_mut().protocol.slot;
            // Saved in the last tick's call when the state was due (watched like the step);
            // else asked now.
            let last_tick = tick.checked_sub(1);
            let in_call = slot
                .call
                .as_mut()
                .and_then(|c| c.saved.take())
                .filter(|(at, _)| Some(*at) == last_tick);
            let saved = match in_call {
                Some((_, saved)) => saved,
                None => slot.instance_mut().map_or(Ok(None), |p| p.save()),
            };
            match saved {
                Ok(bytes) => state = bytes,
                Err(code) => {
                    log::error!(
                        "plugin {} failed to save its state (status {code}): the resumed run \
                         will treat it as faulted",
                        self.plugin.id
                    );
                    fault = Some(PluginFault { tick, code });
                }
            }
        }
        let outputs = &self.tick_state().protocol.plugin;
        PluginSnapshot {
            id: self.plugin.id.clone(),
            version: self.plugin.version.clone(),
            fault,
            derived: outputs.derived.values[..outputs.derived.n]
                .iter()
                .map(|v| finite(*v))
                .collect(),
            state,
            params: Some(self.plan.plugin.params.clone()),
        }
    }

    /// Restores `state` into this run, built fresh for the same protocol and not yet ticked.
    /// `downtime_s` is the time the controller was down: in real time it counts toward the
    /// phase clock (unless the phase was held) and the tick index moves on by it, so times in
    /// the record stay wall-clock times; in lockstep it is 0.
    ///
    /// Everything is checked before anything changes. The plugin's own state is given back
    /// last; a plugin that fails to take it is marked faulted, like any plugin fault.
    ///
    /// Not restored: window estimates and sensor clocks (they start again from the first new
    /// reading), and the operator's scripted input; enter only commands and lab values after the
    /// restored tick, since earlier ones would all fall due at the first tick.
    pub fn restore_state(&mut self, state: &RunState, downtime_s: f64) -> Result<(), String> {
        let checked = self.check_state(state, downtime_s)?;
        let plan = self.plan.clone();
        let down = (downtime_s / plan.period_s).round() as u64;
        let tick = state.tick + down;
        self.tick_state_mut().now.clock.tick = tick;

        let p = &state.phase;
        let Protocol { phase, targets, .. } = &mut self.tick_state_mut().protocol;
        phase.index = p.index;
        phase.held = p.held;
        phase.advance_requested = p.advance_requested;
        let ran = p.elapsed_ticks + if p.held { 0 } else { down };
        phase.start_tick = tick - ran;
        phase.exit = PhaseExit {
            phase: p.index,
            held_ticks: p.exit_held_ticks,
        };

        for (i, v) in &checked.overrides {
            targets.operator[*i] = *v;
        }
        for (i, v) in &checked.setpoints {
            targets.setpoints[*i] = *v;
        }
        self.tick_state_mut().alarms.demands.hold_setpoints = state.hold_setpoints;

        let alarms = &mut self.tick_state_mut().alarms;
        for (i, a) in checked.alarms.iter().zip(&state.alarms) {
            let alarm = &mut alarms.list[*i];
            alarm.count = a.count;
            alarm.first_tick = a.first_tick;
            if a.active {
                // Active again and unacknowledged: a restart must be seen and heard.
                alarm.active = true;
                alarm.acknowledged = false;
                alarm.priority = a.priority;
                alarm.active_since = a.active_since;
                alarm.onset_command = a.onset_command.unwrap_or(f64::NAN);
            }
        }
        alarms.audio_pauses = state.audio_pauses;
        alarms.audio_paused_until = 0;

        self.restore_actuators(state, &plan, down);
        self.restart_sensor_clocks(tick);
        self.restore_plugin(state, tick);
        Ok(())
    }

    /// Checks a state against this run and resolves its ids to indices.
    fn check_state(&self, state: &RunState, downtime_s: f64) -> Result<Checked, String> {
        check_version(state.version)?;
        let plan = &self.plan;
        if state.protocol_sha256 != plan.source_sha256 {
            return Err(format!(
                "the run state was saved from another protocol file (sha256 {}); this one is \
                 {} (sha256 {}): resume with the protocol file the run started with",
                state.protocol_sha256, plan.name, plan.source_sha256
            ));
        }
        if !(downtime_s.is_finite() && downtime_s >= 0.0) {
            return Err(format!(
                "the downtime must be 0 s or more, found {downtime_s}"
            ));
        }
        if self.tick() != 0 {
            return Err("a state is restored only into a run that has not ticked yet".into());
        }
        let p = &state.plugin;
        if p.id != self.plugin.id || p.version != self.plugin.version {
            return Err(format!(
                "the run state holds the state of plugin {} {}, but {} {} is loaded: resume with \
                 the plugin the run started with",
                p.id, p.version, self.plugin.id, self.plugin.version
            ));
        }
        if let Some(saved) = &p.params
            && *saved != plan.plugin.params
        {
            let text = |list: &[(String, f64)]| {
                let items: Vec<String> = list.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("[{}]", items.join(", "))
            };
            return Err(format!(
                "the run state was saved with plugin parameters {}, but this run has {}: resume \
                 with the parameters the run started with",
                text(saved),
                text(&plan.plugin.params)
            ));
        }
        if plan
            .phases
            .get(state.phase.index)
            .is_none_or(|ph| ph.id != state.phase.id)
        {
            return Err(format!(
                "the saved phase `{}` is not in the protocol",
                state.phase.id
            ));
        }
        if state.phase.elapsed_ticks > state.tick {
            return Err(format!(
                "the saved phase has run {} ticks, more than the run's {}",
                state.phase.elapsed_ticks, state.tick
            ));
        }
        let signals = |list: &[SignalValue], what: &str| -> Result<Vec<(usize, f64)>, String> {
            list.iter()
                .map(|s| match plan.signal(&s.signal) {
                    Some(i) if s.value.is_finite() => Ok((i, s.value)),
                    Some(_) => Err(format!("the saved {what} of `{}` is not finite", s.signal)),
                    None => Err(format!("the saved {what} names no signal `{}`", s.signal)),
                })
                .collect()
        };
        let overrides = signals(&state.overrides, "operator setpoint")?;
        let setpoints = signals(&state.setpoints, "setpoint")?;
        let list = &self.tick_state().alarms.list;
        let alarms = state
            .alarms
            .iter()
            .map(|a| {
                list.iter()
                    .position(|x| x.id == a.id)
                    .ok_or_else(|| format!("the saved alarm `{}` is not in the protocol", a.id))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut windows = self
            .world
            .try_query::<(&ActuatorChannel, &DoseWindow)>()
            .expect("actuator components are registered");
        for a in &state.actuators {
            plan.actuator(&a.id)
                .ok_or_else(|| format!("the saved actuator `{}` is not in the protocol", a.id))?;
            let finite = [a.requested, a.sent, a.last_safe];
            if finite.iter().any(|v| !v.is_finite()) {
                return Err(format!("the saved commands of `{}` are not finite", a.id));
            }
            let window = windows.iter(&self.world).find(|(ch, _)| ch.spec.id == a.id);
            match (window, &a.dose) {
                (Some((_, w)), Some(m)) => w
                    .accepts(m)
                    .map_err(|e| format!("actuator `{}`: {e}", a.id))?,
                (None, None) => {}
                _ => return Err(format!("actuator `{}`: its dose cap changed", a.id)),
            }
        }
        if p.state.is_some() && p.fault.is_none() && !self.plugin_has_state() {
            return Err(format!(
                "the run state holds a state of plugin {}, which this build of it cannot restore",
                p.id
            ));
        }
        Ok(Checked {
            overrides,
            setpoints,
            alarms,
        })
    }

    fn plugin_has_state(&self) -> bool {
        self.tick_state()
            .protocol
            .slot
            .instance()
            .is_some_and(|p| p.has_state())
    }

    /// Commands, loops and dose windows. While the controller was down each infusion pump ran
    /// its last command until it expired, then its safe state: that is what its window counts.
    fn restore_actuators(&mut self, state: &RunState, plan: &crate::plan::Plan, down: u64) {
        let mut query = self.world.query::<(
            &ActuatorChannel,
            &mut Command,
            Option<&mut ControlLoop>,
            Option<&mut DoseWindow>,
        )>();
        // The last frame sent: the plugin's next step is told these commands.
        let mut frame = self.tick_state().device.sent.frame;
        for (ch, mut cmd, lp, dose) in query.iter_mut(&mut self.world) {
            let Some(a) = state.actuators.iter().find(|a| a.id == ch.spec.id) else {
                continue;
            };
            frame.values[ch.index] = a.sent;
            frame.ttl_s[ch.index] = ch.spec.ttl_s;
            cmd.requested = a.requested;
            cmd.sent = a.sent;
            cmd.last_safe = a.last_safe;
            if let (Some(mut lp), Some(m)) = (lp, a.control) {
                lp.resume(m);
            }
            if let (Some(mut window), Some(m)) = (dose, &a.dose) {
                window.resume(m);
                let ttl = (ch.spec.ttl_s / plan.period_s).ceil() as u64;
                let safe = ch.spec.safe_command(a.last_safe);
                // Only the downtime's last window-length of ticks can still be in the window.
                for t in down.saturating_sub(window.span_ticks())..down {
                    let rate = if t < ttl { a.sent } else { safe };
                    window.deliver(rate, plan.period_s);
                }
            }
        }
        let sent = &mut self.tick_state_mut().device.sent;
        sent.frame = frame;
        sent.frame.t_s = (state.tick.max(1) - 1) as f64 * plan.period_s;
    }

    /// A sensor's staleness and stuck clocks start again at the restart: readings from before
    /// it are gone, and one unchanged across it is not stuck.
    fn restart_sensor_clocks(&mut self, tick: u64) {
        let mut query = self.world.query::<&mut SensorHealth>();
        for mut h in query.iter_mut(&mut self.world) {
            h.fresh_tick = tick;
            h.unchanged_since = tick;
        }
    }

    fn restore_plugin(&mut self, state: &RunState, tick: u64) {
        let p = &state.plugin;
        let mut fault = p.fault;
        if fault.is_none()
            && let Some(bytes) = &p.state
            && let Some(Err(code)) = self
                .world
                .resource_mut::<TickState>()
                .into_inner()
                .protocol
                .slot
                .instance_mut()
                .map(|p| p.restore(bytes))
        {
            log::error!(
                "plugin {} refused its saved state (status {code}): it is faulted",
                p.id
            );
            fault = Some(PluginFault { tick, code });
        }
        let outputs = &mut self.tick_state_mut().protocol.plugin;
        for (slot, v) in outputs.derived.values.iter_mut().zip(&p.derived) {
            *slot = v.unwrap_or(f64::NAN);
        }
        if let Some(f) = fault {
            outputs.health.faulted = true;
            outputs.health.fault_tick = f.tick;
            outputs.health.fault_code = f.code;
        }
    }
}

/// A state's ids resolved to this run's indices.
struct Checked {
    overrides: Vec<(usize, f64)>,
    setpoints: Vec<(usize, f64)>,
    alarms: Vec<usize>,
}
