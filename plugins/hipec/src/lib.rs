//! Hyperthermic intraperitoneal chemotherapy (HIPEC, docs/clinical-basis.md §7).
//!
//! What a RON file cannot express lives here (see [`heated_cavity`]): the drug phase starts
//! only once the outflow and both intraperitoneal probes have reached the target temperature,
//! and the thermal dose (CEM43) of every probe is reported.
//!
//! Signals it reads, by id: `inflow_temp`, `outflow_temp`, `ip_upper_temp`, `ip_pelvis_temp`,
//! `core_temp` (°C). Phases: `heating`, then `drug`.
//! Actuator it commands where the protocol has one: `drug_pump` (the dose, `drug_ml` at
//! `drug_ml_h`, as the drug phase begins).

pub use perfuse_plugin_heated_cavity as heated_cavity;

use heated_cavity::HeatedCavity;
use perfuse_plugin_sdk::{
    CreateContext, ParamSpec, PhaseEvent, Protocol, StepInput, StepOutput, export_plugin, state,
};

pub struct Hipec(HeatedCavity);

impl Protocol for Hipec {
    const ID: &'static str = "hipec";
    const VERSION: &'static str = "0.1.1";
    const DERIVED: &'static [&'static str] = &[
        "cem43_inflow_min",
        "cem43_outflow_min",
        "cem43_ip_upper_min",
        "cem43_ip_pelvis_min",
        "cem43_core_min",
        "heating_min",
        "drug_min",
        "drug_mean_ip_c",
        "drug_lowest_ip_c",
        "drug_started_at_target",
    ];

    const PARAMS: &'static [ParamSpec<'static>] = heated_cavity::PARAMS;

    fn create(ctx: &CreateContext<'_>) -> Result<Self, String> {
        const PROBES: [&str; heated_cavity::PROBES] = [
            "inflow_temp",
            "outflow_temp",
            "ip_upper_temp",
            "ip_pelvis_temp",
            "core_temp",
        ];
        const _: () = assert!(Hipec::DERIVED.len() == heated_cavity::DERIVED);
        HeatedCavity::create(ctx, PROBES).map(Hipec)
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

export_plugin!(Hipec);
