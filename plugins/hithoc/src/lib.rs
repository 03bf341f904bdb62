//! Hyperthermic intrathoracic chemotherapy (HITHOC, docs/clinical-basis.md §8).
//!
//! The same logic as HIPEC (§8: "phases, control mode and safe-state actions as for HIPEC"),
//! from the library both link ([`heated_cavity`]): the chemotherapy phase starts once the
//! outflow and both pleural probes read the target temperature, and every probe's thermal dose
//! (CEM43) is reported.
//!
//! Signals it reads, by id: `inflow_temp`, `outflow_temp`, `pleural_apex_temp`,
//! `pleural_base_temp`, `core_temp` (°C). Phases: `heating`, then `drug`.
//! Actuator it commands where the protocol has one: `drug_pump` (the dose, `drug_ml` at
//! `drug_ml_h`, as the drug phase begins).

use perfuse_plugin_heated_cavity as heated_cavity;

use heated_cavity::HeatedCavity;
use perfuse_plugin_sdk::{
    CreateContext, ParamSpec, PhaseEvent, Protocol, StepInput, StepOutput, export_plugin, state,
};

pub struct Hithoc(HeatedCavity);

impl Protocol for Hithoc {
    const ID: &'static str = "hithoc";
    const VERSION: &'static str = "0.1.1";
    const DERIVED: &'static [&'static str] = &[
        "cem43_inflow_min",
        "cem43_outflow_min",
        "cem43_pleural_apex_min",
        "cem43_pleural_base_min",
        "cem43_core_min",
        "heating_min",
        "drug_min",
        "drug_mean_pleural_c",
        "drug_lowest_pleural_c",
        "drug_started_at_target",
    ];

    const PARAMS: &'static [ParamSpec<'static>] = heated_cavity::PARAMS;

    fn create(ctx: &CreateContext<'_>) -> Result<Self, String> {
        const PROBES: [&str; heated_cavity::PROBES] = [
            "inflow_temp",
            "outflow_temp",
            "pleural_apex_temp",
            "pleural_base_temp",
            "core_temp",
        ];
        const _: () = assert!(Hithoc::DERIVED.len() == heated_cavity::DERIVED);
        HeatedCavity::create(ctx, PROBES).map(Hithoc)
    }

    fn step(&mut self, input: &StepInput, out: &mut StepOutput) {
        self.0.step(input, out);
    }

    fn phase_event(&mut self, event: &PhaseEvent) {
        self.0.phase_event(event);
    }

    fn save(&self, out: &mut state::Writer) {
        self.0.save(out);
    }

    fn restore(&mut self, input: &mut state::Reader<'_>) -> Result<(), String> {
        self.0.restore(input)
    }
}

export_plugin!(Hithoc);
