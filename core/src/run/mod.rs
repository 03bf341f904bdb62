//! Running a protocol: the world, the schedule and one of two drivers.
//!
//! - Lockstep ([`Run::run_lockstep`]): the simulator advances one period after every tick, as
//!   fast as the CPU allows; the same seed gives the same record.
//! - Real time ([`realtime::run`]): ticks at absolute deadlines, the HAL on its own thread.

pub mod realtime;
pub mod status;
pub mod summary;
pub mod watchdog;

use crate::hal::{CommandFrame, Hal};
use crate::plan::Plan;
use crate::plugin::PluginInfo;
use crate::plugin::worker::PluginWorker;
use crate::tick::alarms::Alarms;
use crate::tick::{Clock, HalPort, Signals, build_schedule, build_world, protocol::PhaseState};
use bevy_ecs::prelude::*;
use std::sync::Arc;

/// How a run is driven.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub seed: u64,
    /// The simulator scenario run (for the record; the simulator itself was built with it).
    pub scenario: Option<String>,
    /// Overrides the protocol's length; the last phase is stretched or the run cut short.
    pub duration_s: Option<f64>,
    /// Simulated seconds between status lines (`None`: quiet).
    pub status_every_s: Option<f64>,
}

/// A prepared run: the world, its schedule and what it needs to report.
pub struct Run {
    pub world: World,
    schedule: Schedule,
    pub plan: Arc<Plan>,
    pub plugin: PluginInfo,
    pub seed: u64,
    pub scenario: Option<String>,
    /// Where the real-time driver's watchdog raises "controller not responding" (stderr unless
    /// replaced).
    pub watchdog_output: watchdog::WatchdogOutput,
}

impl Run {
    /// Builds the world around a device and a plugin instance.
    pub fn new(plan: Arc<Plan>, hal: HalPort, plugin: PluginWorker, opts: &RunOptions) -> Self {
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
            watchdog_output: watchdog::stderr_output(),
        }
    }

    /// A run whose device is driven in this thread (lockstep simulation).
    pub fn direct(
        plan: Arc<Plan>,
        hal: Box<dyn Hal>,
        plugin: PluginWorker,
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

    /// Checks the schedule builds (ambiguities are errors) before the first tick.
    pub fn initialize(&mut self) -> Result<(), String> {
        self.schedule
            .initialize(&mut self.world)
            .map(|_| ())
            .map_err(|e| format!("the tick schedule does not build: {e:?}"))
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

    /// One lockstep step: a tick, then one period of device time.
    pub fn step_lockstep(&mut self) {
        self.run_tick();
        let dt = self.plan.period_s;
        if let HalPort::Direct(h) = &mut *self.world.non_send_mut::<HalPort>() {
            h.advance(dt);
        }
    }

    /// Runs to the end in lockstep, calling `status` every `every_s` of simulated time.
    pub fn run_lockstep(&mut self, every_s: Option<f64>, mut status: impl FnMut(&Run)) {
        let every = every_s.map(|s| ((s / self.plan.period_s).round() as u64).max(1));
        while !self.finished() {
            self.step_lockstep();
            if every.is_some_and(|n| self.tick().is_multiple_of(n)) {
                status(self);
            }
        }
        // The last line shows the end, unless it has just been shown.
        if every.is_some_and(|n| !self.tick().is_multiple_of(n)) {
            status(self);
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
