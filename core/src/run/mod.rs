//! Running a protocol: the world, the schedule and one of two drivers.
//!
//! - Lockstep ([`Run::run_lockstep`]): the simulator advances one period after every tick, as
//!   fast as the CPU allows; the same seed gives the same record.
//! - Real time ([`realtime::run`]): ticks at absolute deadlines, the HAL on its own thread.

pub mod lateness;
pub mod realtime;
pub mod state;
pub mod status;
pub mod summary;

use crate::hal::{CommandFrame, Hal};
use crate::output::{Delivery, FrameReceiver, OutputHealth, Outputs};
use crate::plan::Plan;
use crate::plugin::{PluginInfo, PluginInstance};
use crate::tick::alarms::Alarms;
use crate::tick::{Clock, HalPort, Signals, build_schedule, build_world, protocol::PhaseState};
use bevy_ecs::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    schedule: Schedule,
    pub plan: Arc<Plan>,
    pub plugin: PluginInfo,
    pub seed: u64,
    pub scenario: Option<String>,
    pub organ: Option<Organ>,
    /// The outputs' health as the driver last read it.
    pub outputs: OutputHealth,
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
        let mut world = build_world(plan.clone(), hal, plugin);
        if let Some(d) = opts.duration_s {
            world.resource_mut::<PhaseState>().end_tick = Some((d / plan.period_s).round() as u64);
        }
        Run {
            world,
            schedule: build_schedule(),
            plan,
            plugin: info,
            seed: opts.seed,
            scenario: opts.scenario.clone(),
            organ: opts.organ.clone(),
            outputs: OutputHealth::default(),
            ended_by_signal: None,
            state_sink: None,
            lateness: None,
        }
    }

    /// A run whose device is driven in this thread (lockstep simulation).
    pub fn direct(
        plan: Arc<Plan>,
        hal: Box<dyn Hal>,
        plugin: PluginInstance,
        opts: &RunOptions,
    ) -> Self {
        Run::new(plan, HalPort::Direct(hal), plugin, opts)
    }

    /// Schedules what the operator enters: laboratory values (from `config::load_labs`) and
    /// commands (from `config::load_commands`).
    pub fn enter_operator_input(
        &mut self,
        labs: Vec<crate::config::LabEntry>,
        commands: Vec<crate::config::OperatorCommand>,
    ) {
        self.world
            .insert_resource(crate::tick::sample::OperatorInput::new(labs, commands));
    }

    /// Opens the queue the operator's live input (the console) reaches the tick through, with
    /// room for `capacity` entries; call it after [`Run::enter_operator_input`]. The Sample stage
    /// drains it with `try_recv`: live commands pass the same checks and reach the same record
    /// as scripted ones.
    pub fn open_live_input(
        &mut self,
        capacity: usize,
    ) -> crossbeam_channel::Sender<crate::tick::sample::LiveInput> {
        self.world
            .resource_mut::<crate::tick::sample::OperatorInput>()
            .open_live(capacity)
    }

    /// Checks the schedule builds (ambiguities are errors) before the first tick.
    pub fn initialize(&mut self) -> Result<(), String> {
        let n = self.alarms().list.len();
        if n > crate::output::MAX_ALARMS {
            return Err(format!(
                "the protocol has {n} alarms; a run can publish at most {}",
                crate::output::MAX_ALARMS
            ));
        }
        self.schedule
            .initialize(&mut self.world)
            .map(|_| ())
            .map_err(|e| format!("the tick schedule does not build: {e:?}"))
    }

    /// Whether the device is driven in this thread (lockstep simulation).
    pub fn is_lockstep(&self) -> bool {
        matches!(self.world.non_send::<HalPort>(), HalPort::Direct(_))
    }

    pub fn tick(&self) -> u64 {
        self.world.resource::<Clock>().tick
    }

    pub fn finished(&self) -> bool {
        self.world
            .resource::<PhaseState>()
            .finished(&self.plan, self.tick())
    }

    /// Runs one tick at the current clock, then moves the clock to the next tick.
    pub fn run_tick(&mut self) {
        self.schedule.run(&mut self.world);
        self.world.resource_mut::<Clock>().tick += 1;
    }

    /// One lockstep step: a tick, its frame handed to every output (waiting for the lossless
    /// ones), then one period of device time.
    pub fn step_lockstep(&mut self) {
        self.run_tick();
        self.world.resource_mut::<Outputs>().hand_over_held();
        let dt = self.plan.period_s;
        if let HalPort::Direct(h) = &mut *self.world.non_send_mut::<HalPort>() {
            h.advance(dt);
        }
    }

    /// Runs to the end in lockstep, or until `stop` is requested.
    pub fn run_lockstep(&mut self, stop: &StopRequest) {
        while !self.finished() {
            if let Some(sig) = stop.signal() {
                self.stop_by_signal(sig);
                break;
            }
            self.step_lockstep();
            self.read_outputs_health();
        }
    }

    /// Runs to the end in lockstep paced to `speed` times the wall clock (simulated time runs
    /// `speed` s per wall second), or until `stop` is requested. A tick that falls behind its
    /// wall deadline is not skipped: simulated time stays exact and catches up.
    pub fn run_paced(&mut self, stop: &StopRequest, speed: f64) {
        let start = std::time::Instant::now();
        let first = self.tick();
        let wall_per_tick = self.plan.period_s / speed;
        while !self.finished() {
            if let Some(sig) = stop.signal() {
                self.stop_by_signal(sig);
                break;
            }
            self.step_lockstep();
            self.read_outputs_health();
            let due =
                std::time::Duration::from_secs_f64((self.tick() - first) as f64 * wall_per_tick);
            if let Some(wait) = (start + due).checked_duration_since(std::time::Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }

    /// Opens an output: it gets the frame of every `every_ticks`-th tick and of every tick with
    /// events, through a queue of `capacity` frames.
    pub fn attach_output(
        &mut self,
        every_ticks: u64,
        capacity: usize,
        delivery: Delivery,
    ) -> FrameReceiver {
        self.world
            .resource_mut::<Outputs>()
            .attach(every_ticks, capacity, delivery)
    }

    /// Removes every output on purpose (not a failure), e.g. a probe that has seen what it needed.
    pub fn detach_outputs(&mut self) {
        self.world.resource_mut::<Outputs>().detach_all();
    }

    /// Reads the outputs' health between ticks (which failed, frames lost) and tells the
    /// alarms, whose `output_failure` alarm reports a failed output.
    pub fn read_outputs_health(&mut self) -> OutputHealth {
        self.outputs = self.world.resource::<Outputs>().health();
        self.world.resource_mut::<Alarms>().outputs = self.outputs;
        self.outputs
    }

    /// Ends the outputs: one last frame with the state where the run ended, then every queue is
    /// hung up, so each output drains and finishes.
    pub fn close_outputs(&mut self) {
        use crate::tick::record::{FrameSources, fill_frame};
        let world = &mut self.world;
        let mut outputs = world
            .remove_resource::<Outputs>()
            .expect("the world is built with its outputs");
        let mut seen = outputs.events_dropped_seen;
        fill_frame(
            &mut outputs.frame,
            &FrameSources {
                clock: world.resource(),
                signals: world.resource(),
                targets: world.resource(),
                phase: world.resource(),
                sent: world.resource(),
                plugin: world.resource(),
                alarms: world.resource(),
                events: world.resource(),
            },
            &mut seen,
        );
        outputs.publish_final();
        outputs.close();
        self.outputs = outputs.health();
        world.insert_resource(outputs);
    }

    /// Ends the run like the operator's Stop, for a signal: the run is marked stopped now and a
    /// last command frame puts every actuator in its safe state.
    pub fn stop_by_signal(&mut self, signal: i32) {
        let tick = self.tick();
        self.world.resource_mut::<PhaseState>().stopped = Some(tick);
        self.ended_by_signal = Some(signal);
        let mut frame = self.commands().to_owned();
        frame.t_s = tick as f64 * self.plan.period_s;
        for (i, a) in self.plan.actuators.iter().enumerate() {
            frame.values[i] = a.safe_command(frame.values[i]);
        }
        self.world
            .resource_mut::<crate::tick::actuate::SentCommands>()
            .frame = frame;
        match &mut *self.world.non_send_mut::<HalPort>() {
            HalPort::Direct(h) => h.write(&frame),
            HalPort::Threaded(ch) => {
                ch.send(&frame);
            }
        }
    }

    // Read access for status lines, summaries and tests.

    pub fn signal(&self, id: &str) -> Option<(f64, u8)> {
        let i = self.plan.signal(id)?;
        let s = self.world.resource::<Signals>();
        Some((s.values[i], s.validity[i]))
    }

    pub fn commands(&self) -> &CommandFrame {
        &self
            .world
            .resource::<crate::tick::actuate::SentCommands>()
            .frame
    }

    pub fn alarms(&self) -> &Alarms {
        self.world.resource::<Alarms>()
    }

    pub fn phase(&self) -> &str {
        &self.plan.phases[self.world.resource::<PhaseState>().index].id
    }
}
