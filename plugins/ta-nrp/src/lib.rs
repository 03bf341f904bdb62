//! Thoraco-abdominal normothermic regional perfusion (TA-NRP) in controlled DCD (clinical
//! reference §5).
//!
//! What a RON file cannot express lives here:
//! - the pump flow target from the donor's body surface area, `flow_index_l_min_m2 × bsa_m2`
//!   (≥ 2.4 L/min/m², §5), requested as the flow setpoint; during `reperfusion` it is reached by
//!   a linear ramp over `ramp_s`;
//! - the stepwise wean: in `wean` the flow target falls by `wean_step_fraction` of full flow every
//!   `wean_step_s`, the first step at the start of the phase, down to `wean_min_fraction`;
//! - derived values for the record: the target, the flow index (L/min/m²), the wean fraction,
//!   minutes of NRP since the donor was reperfused, and the lactate cleared since then (%).
//!
//! Signals it reads, by id: `pump_flow` (mL/min, the flow the pump loop tracks) and `lactate`
//! (mmol/L, measured in the arterial line).

use perfuse_plugin_sdk::{
    CreateContext, ParamSpec, Protocol, StepInput, StepOutput, export_plugin, state,
};

/// Pump flow above which the donor counts as reperfused, mL/min (my choice: well above the
/// backflow and priming flows, well below the 2.5–4 L/min of NRP, §5).
const REPERFUSED_ML_MIN: f64 = 1000.0;

pub struct TaNrp {
    pump_flow: usize,
    lactate: usize,
    reperfusion_phase: u32,
    wean_phase: u32,
    bsa_m2: f64,
    target_ml_min: f64,
    ramp_s: f64,
    wean_step_fraction: f64,
    wean_step_s: f64,
    wean_min_fraction: f64,

    wean_fraction: f64,
    reperfused_at_s: f64,
    lactate_at_reperfusion: f64,
}

/// The parameters the plugin takes, each with its unit, allowed range and default.
const PARAMS: &[ParamSpec<'static>] = &[
    ParamSpec::required("bsa_m2", "m²", 0.2, 3.5),
    ParamSpec::with_default("flow_index_l_min_m2", "L/min/m²", 1.0, 4.0, 2.4),
    ParamSpec::with_default("ramp_s", "s", 0.0, 3600.0, 300.0),
    ParamSpec::with_default("wean_step_fraction", "1", 0.01, 1.0, 0.25),
    ParamSpec::with_default("wean_step_s", "s", 1.0, 3600.0, 300.0),
    ParamSpec::with_default("wean_min_fraction", "1", 0.0, 1.0, 0.5),
];

impl Protocol for TaNrp {
    const ID: &'static str = "ta-nrp";
    const VERSION: &'static str = "0.1.0";
    const DERIVED: &'static [&'static str] = &[
        "flow_target_ml_min",
        "flow_index_l_min_m2",
        "wean_fraction",
        "nrp_min",
        "lactate_cleared_pct",
    ];

    const PARAMS: &'static [ParamSpec<'static>] = PARAMS;

    fn create(ctx: &CreateContext<'_>) -> Result<Self, String> {
        let p = &ctx.params;
        let bsa_m2 = p.value("bsa_m2")?;
        Ok(TaNrp {
            pump_flow: ctx.signal("pump_flow")?,
            lactate: ctx.signal("lactate")?,
            reperfusion_phase: ctx.phase("reperfusion")? as u32,
            wean_phase: ctx.phase("wean")? as u32,
            bsa_m2,
            target_ml_min: p.value("flow_index_l_min_m2")? * bsa_m2 * 1000.0,
            ramp_s: p.value("ramp_s")?,
            wean_step_fraction: p.value("wean_step_fraction")?,
            wean_step_s: p.value("wean_step_s")?,
            wean_min_fraction: p.value("wean_min_fraction")?,
            wean_fraction: 1.0,
            reperfused_at_s: f64::NAN,
            lactate_at_reperfusion: f64::NAN,
        })
    }

    fn step(&mut self, input: &StepInput, out: &mut StepOutput) {
        let flow = input.valid(self.pump_flow);
        let lactate = input.valid(self.lactate);
        let elapsed = input.phase_elapsed_s;

        let fraction = if input.phase == self.reperfusion_phase {
            if self.ramp_s > 0.0 {
                (elapsed / self.ramp_s).min(1.0)
            } else {
                1.0
            }
        } else if input.phase == self.wean_phase {
            let steps = (elapsed / self.wean_step_s).floor() + 1.0;
            self.wean_fraction =
                (1.0 - steps * self.wean_step_fraction).max(self.wean_min_fraction);
            self.wean_fraction
        } else {
            1.0
        };
        out.setpoints[self.pump_flow] = self.target_ml_min * fraction;

        if self.reperfused_at_s.is_nan() && flow.is_some_and(|q| q > REPERFUSED_ML_MIN) {
            self.reperfused_at_s = input.t_s;
        }
        if !self.reperfused_at_s.is_nan() && self.lactate_at_reperfusion.is_nan() {
            self.lactate_at_reperfusion = lactate.unwrap_or(f64::NAN);
        }

        let d = &mut out.derived;
        d[0] = self.target_ml_min;
        d[1] = flow.map_or(f64::NAN, |q| q / 1000.0 / self.bsa_m2);
        d[2] = self.wean_fraction;
        d[3] = (input.t_s - self.reperfused_at_s) / 60.0;
        d[4] = match lactate {
            Some(l) if self.lactate_at_reperfusion > 0.0 => {
                (1.0 - l / self.lactate_at_reperfusion) * 100.0
            }
            _ => f64::NAN,
        };
    }

    fn save(&self, out: &mut state::Writer) {
        out.put(&self.wean_fraction)
            .put(&self.reperfused_at_s)
            .put(&self.lactate_at_reperfusion);
    }

    fn restore(&mut self, input: &mut state::Reader<'_>) -> Result<(), String> {
        input.read(&mut self.wean_fraction)?;
        input.read(&mut self.reperfused_at_s)?;
        input.read(&mut self.lactate_at_reperfusion)
    }
}

export_plugin!(TaNrp);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declared_parameters_read_back_from_the_metadata_record() {
        // The reader refuses unordered ranges and defaults outside them.
        let record = perfuse_plugin_sdk::metadata::record::<TaNrp>();
        let read = perfuse_plugin_sdk::metadata::parse(&record).unwrap();
        assert_eq!(read.params, PARAMS);
    }
}
