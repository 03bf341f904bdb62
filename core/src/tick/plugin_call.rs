//! The plugin's call, between the tick's two halves.
//!
//! The Protocol stage fills a [`PluginCall`] (a phase change to announce, the step's input) and
//! marks it due; the driver takes it out of the world, calls the plugin, and puts it back for the
//! Protocol stage's second system to check the result. While the call runs, the world holds
//! nothing of it, so a supervisor can carry the run on without a call that never returns (see
//! `run::supervise`); the slot then stays empty and the plugin counts as hung.

use crate::plugin::PluginInstance;
use bevy_ecs::prelude::*;
use perfuse_plugin_sdk::{MAX_ACTUATORS, MAX_SIGNALS, PhaseEvent, StepInput, StepOutput};
use std::time::Instant;

/// Fault code for a plugin whose call never returned within its budget: it was abandoned.
pub const FAULT_HUNG: i32 = 102;

/// One call of the plugin: what it is told and what it answered.
pub struct PluginCall {
    pub instance: PluginInstance,
    /// A phase change to announce before the step.
    pub phase_event: Option<PhaseEvent>,
    pub input: StepInput,
    pub output: StepOutput,
    /// The phase event's status, then the step's: `Err` with the first failure.
    pub result: Result<(), i32>,
    /// Wall seconds the call took, measured only where a wall budget applies (real time).
    pub wall_s: f64,
    /// Set by the driver when the run's state is due after this tick: the plugin saves its
    /// state after its step, inside the same watched call.
    pub save: bool,
    /// What that save returned, with the tick of the call.
    pub saved: Option<(u64, SaveResult)>,
}

/// What `PluginInstance::save` returns: the state's bytes (none without save/restore), or the
/// status of a failure.
pub type SaveResult = Result<Option<Vec<u8>>, i32>;

impl PluginCall {
    /// Calls the plugin: the phase event if one is pending, then the step (skipped when the
    /// phase event failed). `timed`: measure the wall time the call takes.
    pub fn invoke(&mut self, timed: bool) {
        let started = timed.then(Instant::now);
        self.result = match self.phase_event.take() {
            Some(event) => self.instance.phase_event(&event),
            None => Ok(()),
        };
        if self.result.is_ok() {
            self.result = self.instance.step(&self.input, &mut self.output);
        }
        if std::mem::take(&mut self.save) && self.result.is_ok() {
            self.saved = Some((self.input.tick, self.instance.save()));
        }
        self.wall_s = started.map_or(0.0, |s| s.elapsed().as_secs_f64());
    }
}

/// The plugin between ticks, and whether the tick under way wants it called.
pub struct PluginSlot {
    /// `None` while the driver has the call out, and for good once a hung call was abandoned.
    pub call: Option<Box<PluginCall>>,
    /// Set by the Protocol stage when the plugin is to be called this tick.
    pub due: bool,
    /// Wall time a call may take (real time); `None` in lockstep, where a supervisor judges the
    /// control thread's CPU time instead, so the machine's load never changes a record.
    pub wall_budget_s: Option<f64>,
}

impl PluginSlot {
    pub fn new(instance: PluginInstance) -> Self {
        PluginSlot {
            call: Some(Box::new(PluginCall {
                instance,
                phase_event: None,
                input: empty_input(),
                output: StepOutput::default(),
                result: Ok(()),
                wall_s: 0.0,
                save: false,
                saved: None,
            })),
            due: false,
            wall_budget_s: None,
        }
    }

    /// The call the tick under way wants made, taken out of the world (`due` stays set for the
    /// Protocol stage's second system, which checks the answer).
    pub fn take_due(&mut self) -> Option<Box<PluginCall>> {
        if self.due { self.call.take() } else { None }
    }

    /// The instance, unless a hung call has it.
    pub fn instance(&self) -> Option<&PluginInstance> {
        self.call.as_ref().map(|c| &c.instance)
    }

    pub fn instance_mut(&mut self) -> Option<&mut PluginInstance> {
        self.call.as_mut().map(|c| &mut c.instance)
    }
}

/// Makes the due call on this thread (no supervisor: lockstep stepping by hand); `save`: the
/// run's state is due after this tick.
pub fn call_inline(world: &mut World, save: bool) {
    let slot = &mut world
        .resource_mut::<super::TickState>()
        .into_inner()
        .protocol
        .slot;
    let timed = slot.wall_budget_s.is_some();
    if let Some(mut call) = slot.take_due() {
        call.save = save;
        call.invoke(timed);
        slot.call = Some(call);
    }
}

/// A step input of no signals, before the first tick fills it.
pub fn empty_input() -> StepInput {
    StepInput {
        tick: 0,
        t_s: 0.0,
        phase: 0,
        phase_elapsed_s: 0.0,
        n_signals: 0,
        values: [f64::NAN; MAX_SIGNALS],
        validity: [0; MAX_SIGNALS],
        setpoints: [f64::NAN; MAX_SIGNALS],
        commands: [f64::NAN; MAX_ACTUATORS],
        band_min: [f64::NAN; MAX_SIGNALS],
        band_max: [f64::NAN; MAX_SIGNALS],
    }
}
