//! The control tick: two bevy_ecs schedules, run once per period, as a chain of stages.
//!
//! Sample → Estimate → Protocol → (the plugin's call) → Control → Safety → Actuate → Record.
//! Each stage is a system set holding one system (Protocol two: one prepares the plugin's call
//! and judges the phase's `exit_when` ([`phase_exit`]), one takes the plugin's result); the sets
//! are chained, so every pair of systems touching the same data
//! has an order (ambiguities are build errors). The plugin is called between the two schedules,
//! outside the world ([`plugin_call`]), so that a call that never returns holds nothing the run
//! needs. Time inside systems is the tick index times the period: no system reads a clock.
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
use bevy_ecs::schedule::{LogLevel, ScheduleBuildSettings, ScheduleLabel, SingleThreadedExecutor};
use std::sync::Arc;

pub use state::{Clock, HalPort, PlanRef, PlanRes, Signals};

/// The stages of a tick, in order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Sample,
    Estimate,
    Protocol,
    Control,
    Safety,
    Actuate,
    Record,
}

/// Label of the tick's first half: Sample, Estimate, Protocol (up to the plugin's call).
#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
pub struct BeforePlugin;

/// Label of the tick's second half: the plugin's result, Control, Safety, Actuate, Record.
#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
pub struct AfterPlugin;

/// Builds the world for a run: resources, then one entity per sensor and actuator in file order.
pub fn build_world(plan: Arc<Plan>, hal: HalPort, plugin: PluginInstance) -> World {
    let mut world = World::new();
    world.insert_resource(Clock {
        tick: 0,
        period_s: plan.period_s,
    });
    world.insert_resource(Signals::default());
    world.insert_resource(events::TickEvents::new());
    world.insert_resource(operator::OperatorInput::new(Vec::new(), Vec::new()));
    world.insert_resource(estimate::Estimators::new(&plan));
    world.insert_resource(state::PhaseState::new());
    world.insert_resource(state::Targets::default());

    world.insert_resource(state::PluginOutputs::new(plugin.info.derived_names.len()));
    world.insert_resource(alarms::Alarms::new(&plan));

    world.insert_resource(state::SafetyState::default());
    world.insert_resource(state::SentCommands::default());
    world.insert_resource(record::Recorder::new(&plan));
    world.insert_resource(crate::output::Outputs::default());
    world.insert_resource(hal);
    world.insert_resource(plugin_call::PluginSlot::new(plugin));
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

/// A single-threaded schedule in which every ambiguity is an error.
fn schedule(label: impl ScheduleLabel) -> Schedule {
    let mut schedule = Schedule::new(label);
    schedule.set_executor(SingleThreadedExecutor::new());
    // No system defers commands: nothing to apply after the systems have run.
    schedule.set_apply_final_deferred(false);
    schedule.set_build_settings(ScheduleBuildSettings {
        ambiguity_detection: LogLevel::Error,
        ..ScheduleBuildSettings::default()
    });
    schedule
}

/// Builds the tick's two schedules: Sample → Estimate → Protocol (prepare the plugin's call),
/// then Protocol (the plugin's result) → Control → Safety → Actuate → Record.
pub fn build_schedules() -> TickSchedules {
    let mut before = schedule(BeforePlugin);
    before.configure_sets((Stage::Sample, Stage::Estimate, Stage::Protocol).chain());
    before.add_systems((
        sample::sample_sensors.in_set(Stage::Sample),
        estimate::estimate_signals.in_set(Stage::Estimate),
        protocol::protocol_stage.in_set(Stage::Protocol),
    ));
    let mut after = schedule(AfterPlugin);
    after.configure_sets(
        (
            Stage::Protocol,
            Stage::Control,
            Stage::Safety,
            Stage::Actuate,
            Stage::Record,
        )
            .chain(),
    );
    after.add_systems((
        protocol::plugin_result_stage.in_set(Stage::Protocol),
        control::run_loops.in_set(Stage::Control),
        safety::safety_stage.in_set(Stage::Safety),
        actuate::send_commands.in_set(Stage::Actuate),
        record::record_tick.in_set(Stage::Record),
    ));
    TickSchedules { before, after }
}
