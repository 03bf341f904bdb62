//! The control tick: one bevy_ecs schedule, run once per period, as a chain of stages.
//!
//! Sample → Estimate → Protocol → Control → Safety → Actuate → Record. Each stage is a system
//! set holding one system; the sets are chained, so every pair of systems touching the same data
//! has an order (ambiguities are build errors). One system per stage also keeps the scheduler's
//! per-system cost, a large part of a tick this small, to seven calls. Time inside systems is
//! the tick index times the period: no system reads a clock. Nothing in a system allocates,
//! locks, formats or blocks.

pub mod actuate;
pub mod alarms;
pub mod control;
pub mod dose;
pub mod estimate;
pub mod events;
pub mod feedback;
pub mod protocol;
pub mod record;
pub mod safety;
pub mod sample;

use crate::hal::{Hal, MAX_SENSORS};
use crate::plan::Plan;
use crate::plugin::PluginInstance;
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{LogLevel, ScheduleBuildSettings, ScheduleLabel, SingleThreadedExecutor};
use perfuse_plugin_sdk::MAX_SIGNALS;
use std::sync::Arc;

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

/// Label of the tick schedule.
#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tick;

/// The tick index and period; `t = tick × period_s`.
#[derive(Resource, Debug, Clone, Copy)]
pub struct Clock {
    pub tick: u64,
    pub period_s: f64,
}

impl Clock {
    pub fn t_s(&self) -> f64 {
        self.tick as f64 * self.period_s
    }
}

/// The validated protocol, shared read-only by every stage.
#[derive(Resource, Clone)]
pub struct PlanRes(pub Arc<Plan>);

/// The validated protocol as a stage keeps it (`Local<PlanRef>`): taken from [`PlanRes`] once,
/// when the schedule is initialized, rather than looked up as a resource every tick; the plan
/// never changes during a run.
pub struct PlanRef(pub Arc<Plan>);

impl FromWorld for PlanRef {
    fn from_world(world: &mut World) -> Self {
        PlanRef(world.resource::<PlanRes>().0.clone())
    }
}

/// This tick's value and validity of every signal (sensors, then estimates), and the sensor
/// frame they were read from: one resource, because every stage that reads one reads the other
/// (each resource a system takes costs a lookup every tick).
#[derive(Resource, Debug, Clone, Copy)]
pub struct Signals {
    pub values: [f64; MAX_SIGNALS],
    pub validity: [u8; MAX_SIGNALS],
    /// For sensors: the validity of the sensor's own reading, which the sensor-health rules
    /// judge even while its signal runs on a backup sensor.
    pub health: [u8; MAX_SIGNALS],
    /// The newest sensor frame taken from the HAL, with what every actuator delivered.
    pub frame: crate::hal::SensorFrame,
}

impl Default for Signals {
    fn default() -> Self {
        Signals {
            values: [f64::NAN; MAX_SIGNALS],
            validity: [perfuse_plugin_sdk::validity::STALE; MAX_SIGNALS],
            health: [perfuse_plugin_sdk::validity::STALE; MAX_SIGNALS],
            frame: crate::hal::SensorFrame::default(),
        }
    }
}

impl Signals {
    pub fn is_valid(&self, i: usize) -> bool {
        self.validity[i] == perfuse_plugin_sdk::validity::OK
    }
}

/// Where the HAL is: in this thread (lockstep simulation) or behind channels to its own thread.
pub enum HalPort {
    Direct(Box<dyn Hal>),
    Threaded(crate::run::realtime::HalChannels),
}

/// Wall time a plugin step may take in simulated time before it counts as hung. Generous on
/// purpose: the machine's load must never decide a lockstep record, only a real hang.
pub const LOCKSTEP_STEP_BUDGET_S: f64 = 0.5;

/// The plugin instance (not `Send`: a non-send resource of the control thread).
pub struct PluginSlot {
    pub instance: PluginInstance,
    /// Wall time one step may take before the plugin is marked faulted (the driver's choice).
    pub budget_s: f64,
    pub input: perfuse_plugin_sdk::StepInput,
    pub output: perfuse_plugin_sdk::StepOutput,
}

/// Builds the world for a run: resources, then one entity per sensor and actuator in file order.
pub fn build_world(plan: Arc<Plan>, hal: HalPort, plugin: PluginInstance) -> World {
    let mut world = World::new();
    world.insert_resource(Clock {
        tick: 0,
        period_s: plan.period_s,
    });
    world.insert_resource(Signals::default());
    world.insert_resource(events::TickEvents::new());
    world.insert_resource(sample::OperatorInput::new(Vec::new(), Vec::new()));
    world.insert_resource(estimate::Estimators::new(&plan));
    world.insert_resource(protocol::PhaseState::new());
    world.insert_resource(protocol::Targets::default());

    world.insert_resource(protocol::PluginOutputs::new(
        plugin.info.derived_names.len(),
    ));
    world.insert_resource(alarms::Alarms::new(&plan));

    world.insert_resource(safety::SafetyState::default());
    world.insert_resource(actuate::SentCommands::default());
    world.insert_resource(record::Recorder::new(&plan));
    world.insert_resource(crate::output::Outputs::default());
    world.insert_non_send(hal);
    world.insert_non_send(PluginSlot {
        instance: plugin,
        budget_s: LOCKSTEP_STEP_BUDGET_S,
        input: protocol::empty_input(),
        output: perfuse_plugin_sdk::StepOutput::default(),
    });
    debug_assert!(plan.sensors.len() <= MAX_SENSORS);
    for (i, s) in plan.sensors.iter().enumerate() {
        world.spawn((
            sample::SensorChannel::new(i, s),
            sample::SensorHealth::default(),
        ));
    }
    for (i, a) in plan.actuators.iter().enumerate() {
        let channel = control::ActuatorChannel {
            index: i,
            spec: a.clone(),
        };
        let command = control::Command::new(a.initial);
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

/// Builds the tick schedule: single-threaded, every ambiguity an error.
pub fn build_schedule() -> Schedule {
    let mut schedule = Schedule::new(Tick);
    schedule.set_executor(SingleThreadedExecutor::new());
    schedule.set_build_settings(ScheduleBuildSettings {
        ambiguity_detection: LogLevel::Error,
        ..ScheduleBuildSettings::default()
    });
    schedule.configure_sets(
        (
            Stage::Sample,
            Stage::Estimate,
            Stage::Protocol,
            Stage::Control,
            Stage::Safety,
            Stage::Actuate,
            Stage::Record,
        )
            .chain(),
    );
    schedule.add_systems((
        sample::sample_sensors.in_set(Stage::Sample),
        estimate::estimate_signals.in_set(Stage::Estimate),
        protocol::protocol_stage.in_set(Stage::Protocol),
        control::run_loops.in_set(Stage::Control),
        safety::safety_stage.in_set(Stage::Safety),
        actuate::send_commands.in_set(Stage::Actuate),
        record::record_tick.in_set(Stage::Record),
    ));
    schedule
}
