//! Running a protocol: the world, the schedules and one of two drivers.
//!
//! - Lockstep ([`Run::run_lockstep`]): the simulator advances one period after every tick, as
//!   fast as the CPU allows; the same seed gives the same record.
//! - Real time ([`realtime::run`]): ticks at absolute deadlines, the HAL on its own thread.
//!
//! Both drive the run on a control thread under a supervisor ([`supervise`]): a plugin call that
//! never returns is given up and the run goes on without the plugin.

pub mod lateness;
pub mod realtime;
pub mod state;
pub mod status;
pub mod summary;
pub mod supervise;

use crate::hal::{CommandFrame, Hal};
use crate::output::{Delivery, FrameReceiver, OutputHealth};
use crate::plan::Plan;
use crate::plugin::{PluginInfo, PluginInstance};
use crate::tick::alarms::Alarms;
use crate::tick::plugin_call::{PluginCall, call_inline};
use crate::tick::{HalPort, TickSchedules, TickState, build_schedules, build_world};
use bevy_ecs::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use supervise::{Budget, Pace, Watch};

/// Set by a signal handler (to the signal's number) to end the run like the operator's Stop;
/// the drivers look at it between ticks. 0: no request.
#[derive(Debug, Default, Clone)]
pub struct StopRequest(pub Arc<AtomicUsize>);

impl StopRequest {
    pub fn signal(&self) -> Option<i32> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n as i32),
        }
    }
}

/// An organ or patient drawn from a virtual cohort: its organ seed and the simulator
/// parameters drawn, by name.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Organ {
    pub seed: u64,
    pub params: std::collections::BTreeMap<String, f64>,
}

/// How a run is driven.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub seed: u64,
    /// The simulator scenario run (for the record; the simulator itself was built with it).
    pub scenario: Option<String>,
    /// The organ drawn from a cohort (for the record and the summary; the simulator itself was
    /// built with it); `None`: the protocol's organ.
    pub organ: Option<Organ>,
    /// Overrides the protocol's length; the last phase is stretched or the run cut short.
    pub duration_s: Option<f64>,
}

/// A prepared run: the world, its schedule and what it needs to report.
pub struct Run {
    pub world: World,
    schedules: TickSchedules,
    pub plan: Arc<Plan>,
    pub plugin: PluginInfo,
    pub seed: u64,
    pub scenario: Option<String>,
    pub organ: Option<Organ>,
    /// The outputs' health as the driver last read it.
    pub outputs: OutputHealth,
    /// The outputs' health as the alarms were last told it (told again only when it changes).
    outputs_told: OutputHealth,
    /// Whether an output was ever attached. Without one the outputs hold no frames and their
    /// health cannot change, so the lockstep driver leaves them alone between ticks (a sweep's
    /// cases have none).
    outputs_attached: bool,
    /// The signal that ended the run, if one did.
    pub ended_by_signal: Option<i32>,
    /// Where a real-time run's state goes at intervals, for a resume after a restart.
    pub state_sink: Option<state::StateSink>,
    /// How late the real-time driver's ticks started (`None` in lockstep).
    pub lateness: Option<lateness::Lateness>,
}

impl Run {
    /// Builds the world around a device and a plugin instance.
    pub fn new(plan: Arc<Plan>, hal: HalPort, plugin: PluginInstance, opts: &RunOptions) -> Self {
        let info = plugin.info.clone();
        let end_tick = opts.duration_s.map(|d| (d / plan.period_s).round() as u64);
        let mut run = Run {
            world: build_world(plan.clone(), hal, plugin),
            schedules: build_schedules(),
            plan,
            plugin: info,
            seed: opts.seed,
            scenario: opts.scenario.clone(),
            organ: opts.organ.clone(),
            outputs: OutputHealth::default(),
            outputs_told: OutputHealth::default(),
            outputs_attached: false,
            ended_by_signal: None,
            state_sink: None,
            lateness: None,
        };
        if end_tick.is_some() {
            run.tick_state_mut().protocol.phase.end_tick = end_tick;
        }
        run
    }

    /// A run whose device is driven in this thread (lockstep simulation).
    pub fn direct(
        plan: Arc<Plan>,
        hal: Box<dyn Hal>,
        plugin: PluginInstance,
        opts: &RunOptions,
    ) -> Self {
        Run::new(plan, HalPort::direct(hal), plugin, opts)
    }

    /// Schedules what the operator enters: laboratory values (from `config::load_labs`) and
    /// commands (from `config::load_commands`).
    pub fn enter_operator_input(
        &mut self,
        labs: Vec<crate::config::LabEntry>,
        commands: Vec<crate::config::OperatorCommand>,
    ) {
        self.tick_state_mut().input = crate::tick::operator::OperatorInput::new(labs, commands);
    }

    /// Opens the queue the operator's live input (the console) reaches the tick through, with
    /// room for `capacity` entries; call it after [`Run::enter_operator_input`]. The Sample stage
    /// drains it with `try_recv`: live commands pass the same checks and reach the same record
    /// as scripted ones.
    pub fn open_live_input(
        &mut self,
        capacity: usize,
    ) -> crossbeam_channel::Sender<crate::tick::operator::LiveInput> {
        self.tick_state_mut().input.open_live(capacity)
    }

    /// Checks the run can start (its alarms fit the outputs, its schedules build) before the
    /// first tick.
    pub fn initialize(&mut self) -> Result<(), String> {
        let n = self.alarms().list.len();
        if n > crate::output::MAX_ALARMS {
            return Err(format!(
                "the protocol has {n} alarms; a run can publish at most {}",
                crate::output::MAX_ALARMS
            ));
        }
        self.schedules.initialize(&mut self.world)
    }

    /// Whether the device is driven in this thread (lockstep simulation).
    pub fn is_lockstep(&self) -> bool {
        matches!(self.tick_state().device.port, HalPort::Direct(_))
    }

    pub fn tick(&self) -> u64 {
        self.tick_state().now.clock.tick
    }

    pub fn finished(&self) -> bool {
        self.over_by(u64::MAX)
    }

    /// Whether the run is over, or its clock has reached `end_tick`: one look-up in the world,
    /// which the lockstep driver makes before every tick.
    fn over_by(&self, end_tick: u64) -> bool {
        let state = self.tick_state();
        let tick = state.now.clock.tick;
        tick >= end_tick || state.protocol.phase.finished(&self.plan, tick)
    }

    /// Runs one tick at the current clock on this thread (the plugin called inline, without a
    /// supervisor), then moves the clock to the next tick.
    pub fn run_tick(&mut self) {
        self.first_half();
        let save = self.state_due_after_tick();
        call_inline(&mut self.world, save);
        self.second_half();
    }

    /// The tick up to the plugin's call.
    fn first_half(&mut self) {
        self.schedules.before.run(&mut self.world);
    }

    /// The call the first half made ready, taken out of the world; it saves the plugin's
    /// state too when the run's state is due after this tick.
    fn take_due_call(&mut self) -> Option<Box<PluginCall>> {
        let save = self.state_due_after_tick();
        let mut call = self.tick_state_mut().protocol.slot.take_due()?;
        call.save = save;
        Some(call)
    }

    fn put_back_call(&mut self, call: Box<PluginCall>) {
        self.tick_state_mut().protocol.slot.call = Some(call);
    }

    /// The tick from the plugin's result on; the half ends by moving the clock to the next tick.
    fn second_half(&mut self) {
        self.schedules.after.run(&mut self.world);
    }

    /// One lockstep step on this thread, without a supervisor: a tick, its frame handed to every
    /// output (waiting for the lossless ones), then one period of device time. For stepping by
    /// hand (tests, probes); [`Run::run_lockstep`] guards against a hung plugin.
    pub fn step_lockstep(&mut self) {
        self.run_tick();
        self.lockstep_after_tick();
    }

    /// Between lockstep ticks: frames held for lossless outputs, then a period of device time.
    fn lockstep_after_tick(&mut self) {
        let health = self.outputs_attached.then(|| {
            let outputs = &mut self.tick_state_mut().outputs;
            outputs.hand_over_held();
            outputs.health()
        });
        let dt = self.plan.period_s;
        if let HalPort::Direct(h) = &mut self.tick_state_mut().device.port {
            h.get().advance(dt);
        }
        if let Some(health) = health {
            self.note_outputs_health(health);
        }
    }

    /// Runs to the end in lockstep, or until `stop` is requested, on a supervised control
    /// thread.
    pub fn run_lockstep(self, stop: &StopRequest) -> Run {
        self.run_lockstep_until(u64::MAX, stop)
    }

    /// Runs in lockstep until the clock reaches `end_tick` (or the run ends, or `stop` is
    /// requested), on a supervised control thread.
    pub fn run_lockstep_until(self, end_tick: u64, stop: &StopRequest) -> Run {
        let pace = Lockstep {
            stop: stop.clone(),
            end_tick,
            paced: None,
        };
        supervise::drive(self, pace, LOCKSTEP_WATCH).0
    }

    /// Runs to the end in lockstep paced to `speed` times the wall clock (simulated time runs
    /// `speed` s per wall second), or until `stop` is requested. A tick that falls behind its
    /// wall deadline is not skipped: simulated time stays exact and catches up.
    pub fn run_paced(self, stop: &StopRequest, speed: f64) -> Run {
        let pace = Lockstep {
            stop: stop.clone(),
            end_tick: u64::MAX,
            paced: Some(Paced {
                start: std::time::Instant::now(),
                first: self.tick(),
                wall_per_tick: self.plan.period_s / speed,
            }),
        };
        supervise::drive(self, pace, LOCKSTEP_WATCH).0
    }

    /// Opens an output: it gets the frame of every `every_ticks`-th tick and of every tick with
    /// events, through a queue of `capacity` frames.
    pub fn attach_output(
        &mut self,
        every_ticks: u64,
        capacity: usize,
        delivery: Delivery,
    ) -> FrameReceiver {
        self.outputs_attached = true;
        self.tick_state_mut()
            .outputs
            .attach(every_ticks, capacity, delivery)
    }

    /// Removes every output on purpose (not a failure), e.g. a probe that has seen what it needed.
    pub fn detach_outputs(&mut self) {
        self.tick_state_mut().outputs.detach_all();
    }

    /// Reads the outputs' health between ticks (which failed, frames lost) and tells the
    /// alarms, whose `output_failure` alarm reports a failed output.
    pub fn read_outputs_health(&mut self) -> OutputHealth {
        let health = self.tick_state().outputs.health();
        self.note_outputs_health(health);
        health
    }

    /// Keeps the outputs' health and tells the alarms when it changed (a lookup in the world
    /// saved on the ticks it did not).
    fn note_outputs_health(&mut self, health: OutputHealth) {
        self.outputs = health;
        if health != self.outputs_told {
            self.tick_state_mut().alarms.outputs = health;
            self.outputs_told = health;
        }
    }

    /// Ends the outputs: one last frame with the state where the run ended, then every queue is
    /// hung up, so each output drains and finishes.
    pub fn close_outputs(&mut self) {
        use crate::tick::record::{FrameSources, fill_frame};
        let state = self.tick_state_mut();
        let outputs = &mut state.outputs;
        let mut seen = outputs.events_dropped_seen;
        fill_frame(
            &mut outputs.frame,
            &FrameSources {
                clock: &state.now.clock,
                signals: &state.now.signals,
                targets: &state.protocol.targets,
                phase: &state.protocol.phase,
                sent: &state.device.sent,
                plugin: &state.protocol.plugin,
                alarms: &state.alarms,
                events: &state.now.events,
            },
            &mut seen,
        );
        outputs.publish_final();
        outputs.close();
        self.outputs = self.tick_state().outputs.health();
    }

    /// Ends the run like the operator's Stop, for a signal: the run is marked stopped now and a
    /// last command frame puts every actuator in its safe state.
    pub fn stop_by_signal(&mut self, signal: i32) {
        let tick = self.tick();
        self.tick_state_mut().protocol.phase.stopped = Some(tick);
        self.ended_by_signal = Some(signal);
        let mut frame = self.commands().to_owned();
        frame.t_s = tick as f64 * self.plan.period_s;
        for (i, a) in self.plan.actuators.iter().enumerate() {
            frame.values[i] = a.safe_command(frame.values[i]);
        }
        let device = &mut self.tick_state_mut().device;
        device.sent.frame = frame;
        match &mut device.port {
            HalPort::Direct(h) => h.get().write(&frame),
            HalPort::Threaded(ch) => {
                ch.send(&frame);
            }
        }
    }

    // Read access for status lines, summaries and tests.

    /// Everything the tick keeps between ticks.
    pub fn tick_state(&self) -> &TickState {
        self.world.resource::<TickState>()
    }

    /// Everything the tick keeps between ticks, for the driver (never inside a tick).
    pub fn tick_state_mut(&mut self) -> &mut TickState {
        self.world.resource_mut::<TickState>().into_inner()
    }

    /// A signal's value and validity, the validity as the output frame carries it (the SDK's
    /// byte).
    pub fn signal(&self, id: &str) -> Option<(f64, u8)> {
        let i = self.plan.signal(id)?;
        let s = &self.tick_state().now.signals;
        Some((s.values[i], s.validity[i].byte()))
    }

    pub fn commands(&self) -> &CommandFrame {
        &self.tick_state().device.sent.frame
    }

    pub fn alarms(&self) -> &Alarms {
        &self.tick_state().alarms
    }

    pub fn phase(&self) -> &str {
        &self.plan.phases[self.tick_state().protocol.phase.index].id
    }
}

/// CPU time a lockstep plugin call may take: generous, since only a hang should reach it.
pub const LOCKSTEP_STEP_BUDGET_S: f64 = 0.5;

/// How a lockstep run is supervised: CPU time, looked at every 20 ms, no watchdog.
const LOCKSTEP_WATCH: Watch = Watch {
    budget: Budget::Cpu(LOCKSTEP_STEP_BUDGET_S),
    poll: std::time::Duration::from_millis(20),
    watchdog: false,
    priority: None,
};

/// The lockstep driver's pacing.
struct Lockstep {
    stop: StopRequest,
    end_tick: u64,
    /// Paced to the wall clock (`--speed`).
    paced: Option<Paced>,
}

struct Paced {
    start: std::time::Instant,
    first: u64,
    wall_per_tick: f64,
}

impl Pace for Lockstep {
    fn go_on(&mut self, run: &mut Run) -> bool {
        if run.over_by(self.end_tick) {
            return false;
        }
        if let Some(sig) = self.stop.signal() {
            run.stop_by_signal(sig);
            return false;
        }
        true
    }

    fn after_tick(&mut self, run: &mut Run) {
        run.lockstep_after_tick();
        if let Some(p) = &self.paced {
            let due =
                std::time::Duration::from_secs_f64((run.tick() - p.first) as f64 * p.wall_per_tick);
            if let Some(wait) = (p.start + due).checked_duration_since(std::time::Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }
}
