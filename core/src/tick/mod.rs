//! The control tick: two bevy_ecs schedules, run once per period, as a chain of stages.
//!
//! Sample → Estimate → Protocol → (the plugin's call) → Control → Safety → Actuate → Record.
//! Each stage is a function of its module that takes exactly what it reads (`&`) and writes
//! (`&mut`); one system per schedule calls them in that order (Protocol is two halves: one
//! prepares the plugin's call and judges the phase's `exit_when` ([`phase_exit`]), one takes the
//! plugin's result). One system per half rather than one per stage, because each system costs
//! the scheduler a run and each resource it takes a lookup in the world, every tick; the order is
//! the order of the calls, and the borrow checker sees every stage's reads and writes. The plugin
//! is called between the two schedules, outside the world ([`plugin_call`]), so that a call that
//! never returns holds nothing the run needs. Time inside systems is the tick index times the period: no system reads a clock.
//! Nothing in a system allocates, locks, formats or blocks.

pub mod actuate;
pub mod alarms;
pub mod clamps;
pub mod condition;
pub mod control;
pub mod dose;
pub mod estimate;
pub mod events;
pub mod feedback;
pub mod operator;
pub mod output;
pub mod phase_exit;
pub mod plugin_call;
pub mod protocol;
pub mod record;
pub mod safety;
pub mod sample;
pub mod state;

use crate::hal::MAX_SENSORS;
use crate::plan::Plan;
use crate::plugin::PluginInstance;
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{ScheduleLabel, SingleThreadedExecutor};
use bevy_ecs::system::SystemParam;
use std::sync::Arc;

pub use state::{Clock, Device, HalPort, PlanRef, PlanRes, Signals, ThisTick};

/// Label of the tick's first half: Sample, Estimate, Protocol (up to the plugin's call).
#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
pub struct BeforePlugin;

/// Label of the tick's second half: the plugin's result, Control, Safety, Actuate, Record.
#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
pub struct AfterPlugin;

/// Everything the tick keeps from one tick to the next, as one resource. In bevy_ecs 0.20 a
/// resource is a component of an entity of its own, so each resource a system takes costs a
/// look-up of that entity every tick (about 85 instructions, callgrind); with one resource each
/// of the two systems pays one. Each stage still borrows only the parts it reads and writes.
#[derive(Resource)]
pub struct TickState {
    /// The clock, this tick's signals and its events.
    pub now: ThisTick,
    /// Laboratory values and commands the operator enters, scripted or live.
    pub input: operator::OperatorInput,
    /// The phase, the targets, the plugin's call and what the core took from it.
    pub protocol: state::Protocol,
    /// Every alarm, its log, and the safety demands they make.
    pub alarms: alarms::Alarms,
    /// The device and the last command frame sent to it.
    pub device: Device,
    /// The statistics the summary reports.
    pub recorder: record::Recorder,
    /// The frame stream to the record, the console and the monitor.
    pub outputs: crate::output::Outputs,
}

/// Builds the world for a run: the tick's state, then one entity per sensor and actuator in file
/// order.
pub fn build_world(plan: Arc<Plan>, hal: HalPort, plugin: PluginInstance) -> World {
    let mut world = World::new();
    world.insert_resource(TickState {
        now: ThisTick {
            clock: Clock {
                tick: 0,
                period_s: plan.period_s,
            },
            signals: Signals::default(),
            events: events::TickEvents::new(),
        },
        input: operator::OperatorInput::new(Vec::new(), Vec::new()),
        protocol: state::Protocol {
            phase: state::PhaseState::new(),
            targets: state::Targets::default(),
            plugin: state::PluginOutputs::new(plugin.info.derived_names.len()),
            slot: plugin_call::PluginSlot::new(plugin),
        },
        alarms: alarms::Alarms::new(&plan),
        recorder: record::Recorder::new(&plan),
        outputs: crate::output::Outputs::default(),
        device: Device {
            port: hal,
            sent: state::SentCommands::default(),
        },
    });
    debug_assert!(plan.sensors.len() <= MAX_SENSORS);
    for (i, s) in plan.sensors.iter().enumerate() {
        world.spawn((
            sample::SensorChannel::new(i, s),
            sample::SensorHealth::default(),
        ));
    }
    for (i, a) in plan.actuators.iter().enumerate() {
        let channel = state::ActuatorChannel {
            index: i,
            spec: a.clone(),
        };
        let command = state::Command::new(a.initial);
        let mut entity = world.spawn((channel, command));
        if let Some(l) = &a.control {
            entity.insert(control::ControlLoop::new(l.clone()));
        }
        if let Some(cap) = a.dose_cap {
            entity.insert(dose::DoseWindow::new(
                cap.max_ml,
                cap.window_s,
                plan.period_s,
            ));
        }
    }
    world.insert_resource(PlanRes(plan));
    world
}

/// The tick's two halves; the plugin is called between them.
pub struct TickSchedules {
    pub before: Schedule,
    pub after: Schedule,
}

impl TickSchedules {
    /// Builds both halves (see [`build_schedules`]) in every world they will run in.
    pub fn initialize(&mut self, world: &mut World) -> Result<(), String> {
        for s in [&mut self.before, &mut self.after] {
            s.initialize(world)
                .map_err(|e| format!("the tick schedule does not build: {e:?}"))?;
        }
        Ok(())
    }
}

/// A single-threaded schedule. Each holds one system, so no two systems can be ambiguous.
fn schedule(label: impl ScheduleLabel) -> Schedule {
    let mut schedule = Schedule::new(label);
    schedule.set_executor(SingleThreadedExecutor::new());
    // No system defers commands: nothing to apply after the systems have run.
    schedule.set_apply_final_deferred(false);
    schedule
}

/// Builds the tick's two schedules: Sample → Estimate → Protocol (prepare the plugin's call),
/// then Protocol (the plugin's result) → Control → Safety → Actuate → Record.
pub fn build_schedules() -> TickSchedules {
    let mut before = schedule(BeforePlugin);
    before.add_systems(sample_estimate_protocol);
    let mut after = schedule(AfterPlugin);
    after.add_systems(result_control_safety_actuate_record);
    TickSchedules { before, after }
}

/// What the tick's first half reads and writes.
#[derive(SystemParam)]
pub struct FirstHalf<'w, 's> {
    state: ResMut<'w, TickState>,
    plan: Local<'s, PlanRef>,
    estimators: Local<'s, estimate::Estimators>,
    sensors: Query<
        'w,
        's,
        (
            &'static sample::SensorChannel,
            &'static mut sample::SensorHealth,
        ),
    >,
}

/// The tick's first half, one system: Sample, Estimate, then the Protocol stage up to the
/// plugin's call.
fn sample_estimate_protocol(mut h: FirstHalf) {
    let plan = &h.plan.0;
    let TickState {
        now,
        input,
        protocol,
        alarms,
        device,
        ..
    } = &mut *h.state;
    let ThisTick {
        clock,
        signals,
        events,
    } = now;
    let state::Protocol {
        phase,
        targets,
        plugin,
        slot,
    } = protocol;
    let sample = sample::SampleStage {
        tick: clock.tick,
        plan,
        hal: &mut device.port,
        input,
        commanded: operator::Commanded {
            phase,
            targets,
            alarms,
        },
        signals,
        events,
    };
    sample::sample_sensors(sample, &mut h.sensors);
    estimate::estimate_signals(&mut h.estimators, signals);
    let state = protocol::ProtocolState {
        phase,
        targets,
        slot,
        events,
    };
    protocol::protocol_stage(clock, plan, signals, &device.sent, plugin, state);
}

/// What the tick's second half reads and writes.
#[derive(SystemParam)]
pub struct SecondHalf<'w, 's> {
    state: ResMut<'w, TickState>,
    plan: Local<'s, PlanRef>,
    /// Every actuator: its command, and its loop and dose window where it has them.
    actuators: Query<
        'w,
        's,
        (
            &'static state::ActuatorChannel,
            &'static mut state::Command,
            Option<&'static mut control::ControlLoop>,
            Option<&'static mut dose::DoseWindow>,
        ),
    >,
}

/// The tick's second half, one system: the Protocol stage's second half (the plugin's answer
/// checked, this tick's targets), Control, Safety, Actuate, then Record; last, the clock moves to
/// the next tick.
fn result_control_safety_actuate_record(mut h: SecondHalf) {
    let plan = &h.plan.0;
    let TickState {
        now,
        protocol,
        alarms,
        device,
        recorder,
        outputs,
        ..
    } = &mut *h.state;
    let ThisTick {
        clock,
        signals,
        events,
    } = now;
    let state::Protocol {
        phase,
        targets,
        plugin,
        slot,
    } = protocol;
    let state = protocol::ProtocolState {
        phase,
        targets,
        slot,
        events,
    };
    protocol::plugin_result_stage(clock, plan, &alarms.demands, plugin, state);

    let loops = h.actuators.iter_mut().map(|(ch, cmd, lp, _)| (ch, lp, cmd));
    control::run_loops(clock, signals, targets, plugin, loops);

    let last_sent = safety::last_sent(h.actuators.iter().map(|(ch, cmd, ..)| (ch, cmd)));
    let judged = safety::Judged {
        signals,
        phase,
        plugin,
        last_sent: &last_sent,
    };
    let limited = h
        .actuators
        .iter_mut()
        .map(|(ch, cmd, _, dose)| (ch, cmd, dose));
    safety::safety_stage(clock, plan, judged, alarms, events, limited);

    let commands = h.actuators.iter().map(|(ch, cmd, ..)| (ch, cmd));
    let Device { port, sent } = device;
    actuate::send_commands(clock, commands, port, sent);

    let src = record::FrameSources {
        clock,
        signals,
        targets,
        phase,
        sent,
        plugin,
        alarms,
        events,
    };
    let commands = h.actuators.iter().map(|(ch, cmd, ..)| (ch, cmd));
    record::record_tick(src, commands, recorder, outputs);

    // The tick is done: the clock moves to the next.
    clock.tick += 1;
}
