//! Adult veno-arterial ECMO and extracorporeal CPR (docs/clinical-basis.md §13).
//!
//! What a RON file cannot express lives here:
//! - the circuit flow target from the body weight, `flow_ml_kg_min × body_kg` (§13B), ramped in
//!   over `ramp_s` as the pump loop's setpoint;
//! - the start: the return line stays clamped for `unclamp_after_s` while the pump spins up,
//!   then opens (clamp the return line, start the pump, unclamp, §13A [T]);
//! - sweep and FiO2: the sweep starts at 1:1 with the target flow and FiO2 at `start_fio2_pct`
//!   (§13B step 1 [T]), then titrates toward the post-oxygenator PaO2 and the PaCO2 targets
//!   with the blender it shares with the CPB plugin ([`gases`]), once every `gas_interval_s`;
//! - derived values: the target, the flow per kg, hours on support, the blender's settings.
//!
//! Signals it reads, by id: `pump_flow`, `pao2`, `paco2`. Actuators it commands: `return_clamp`,
//! `fio2`, `sweep`. Phases: `initiation` first.

use perfuse_plugin_gases as gases;

use perfuse_plugin_sdk::{
    CreateContext, ParamSpec, Protocol, StepInput, StepOutput, export_plugin, state,
};

use gases::{Blender, GasTargets};

pub struct Ecmo {
    pump_flow: usize,
    pao2: usize,
    paco2: usize,
    return_clamp: usize,
    fio2: usize,
    sweep: usize,
    initiation: u32,
    body_kg: f64,
    target_ml_min: f64,
    ramp_s: f64,
    unclamp_after_s: f64,
    gases: GasTargets,

    blender: Blender,
}

/// The parameters the plugin takes, each with its unit, allowed range and default.
const PARAMS: &[ParamSpec<'static>] = &[
    ParamSpec::required("body_kg", "kg", 2.0, 250.0),
    ParamSpec::with_default("flow_ml_kg_min", "mL/kg/min", 20.0, 120.0, 60.0),
    ParamSpec::with_default("ramp_s", "s", 10.0, 1800.0, 180.0),
    ParamSpec::with_default("unclamp_after_s", "s", 0.0, 120.0, 10.0),
    ParamSpec::with_default("start_fio2_pct", "%", 21.0, 100.0, 100.0),
    ParamSpec::with_default("paco2_target_mmhg", "mmHg", 25.0, 60.0, 40.0),
    ParamSpec::with_default("pao2_target_mmhg", "mmHg", 80.0, 400.0, 150.0),
    ParamSpec::with_default("gas_interval_s", "s", 10.0, 7200.0, 600.0),
    ParamSpec::with_default("sweep_min_l_min", "L/min", 0.1, 5.0, 0.5),
    ParamSpec::with_default("sweep_max_ratio", "1", 0.5, 3.0, 2.0),
];

impl Protocol for Ecmo {
    const ID: &'static str = "ecmo";
    const VERSION: &'static str = "0.1.0";
    const DERIVED: &'static [&'static str] = &[
        "flow_target_ml_min",
        "flow_ml_kg_min",
        "support_h",
        "sweep_l_min",
        "fio2_pct",
    ];

    const PARAMS: &'static [ParamSpec<'static>] = PARAMS;

    fn create(ctx: &CreateContext<'_>) -> Result<Self, String> {
        let p = &ctx.params;
        let body_kg = p.value("body_kg")?;
        let target_ml_min = p.value("flow_ml_kg_min")? * body_kg;
        let start_fio2_pct = p.value("start_fio2_pct")?;
        Ok(Ecmo {
            pump_flow: ctx.signal("pump_flow")?,
            pao2: ctx.signal("pao2")?,
            paco2: ctx.signal("paco2")?,
            return_clamp: ctx.actuator("return_clamp")?,
            fio2: ctx.actuator("fio2")?,
            sweep: ctx.actuator("sweep")?,
            initiation: ctx.phase("initiation")? as u32,
            body_kg,
            target_ml_min,
            ramp_s: p.value("ramp_s")?,
            unclamp_after_s: p.value("unclamp_after_s")?,
            gases: GasTargets {
                paco2_mmhg: p.value("paco2_target_mmhg")?,
                pao2_mmhg: p.value("pao2_target_mmhg")?,
                interval_s: p.value("gas_interval_s")?,
                sweep_min_l_min: p.value("sweep_min_l_min")?,
                max_ratio: p.value("sweep_max_ratio")?,
            },
            blender: Blender::start(target_ml_min, 1.0, start_fio2_pct, 0.0),
        })
    }

    fn step(&mut self, input: &StepInput, out: &mut StepOutput) {
        let flow = input.valid(self.pump_flow);
        let fraction = if input.phase == self.initiation {
            (input.phase_elapsed_s / self.ramp_s).min(1.0)
        } else {
            1.0
        };
        out.setpoints[self.pump_flow] = self.target_ml_min * fraction;
        let clamped =
            input.phase == self.initiation && input.phase_elapsed_s < self.unclamp_after_s;
        out.commands[self.return_clamp] = if clamped { 1.0 } else { 0.0 };

        self.blender.titrate(
            &self.gases,
            input.t_s,
            flow.unwrap_or(0.0).max(0.0),
            input.valid(self.pao2),
            input.valid(self.paco2),
        );
        out.commands[self.sweep] = self.blender.sweep_l_min;
        out.commands[self.fio2] = self.blender.fio2_pct;

        let d = &mut out.derived;
        d[0] = self.target_ml_min;
        d[1] = flow.map_or(f64::NAN, |q| q / self.body_kg);
        d[2] = input.t_s / 3600.0;
        d[3] = self.blender.sweep_l_min;
        d[4] = self.blender.fio2_pct;
    }

    fn save(&self, out: &mut state::Writer) {
        out.put(&self.blender.sweep_l_min)
            .put(&self.blender.fio2_pct)
            .put(&self.blender.adjusted_at_s);
    }

    fn restore(&mut self, input: &mut state::Reader<'_>) -> Result<(), String> {
        input.read(&mut self.blender.sweep_l_min)?;
        input.read(&mut self.blender.fio2_pct)?;
        input.read(&mut self.blender.adjusted_at_s)
    }
}

export_plugin!(Ecmo);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declared_parameters_read_back_from_the_metadata_record() {
        let record = perfuse_plugin_sdk::metadata::record::<Ecmo>();
        let read = perfuse_plugin_sdk::metadata::parse(&record).unwrap();
        assert_eq!(read.params, PARAMS);
    }
}
