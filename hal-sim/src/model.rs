//! The public model API: what a plant model is, as the simulator sees it.
//!
//! A model is a [`PlantModel`]: it describes itself ([`ModelInfo`]: its sites, which sensor
//! kinds each feeds and which actuator kinds each takes; its parameters with default, range,
//! unit, meaning and source; its events) and builds a [`Plant`] from the protocol's parameters.
//! The plant is then stepped in device time with the combined actuator commands as inputs and
//! read as a slice of true values that the probes sample.
//!
//! The shipped models (`perfuse models` lists them) implement this trait; a model from outside
//! this crate is added with [`register`] before the device is built: in-process as a Rust
//! `PlantModel`, or loaded at run time from a library built with the model SDK
//! (`perfuse-model-sdk`, see [`crate::foreign`]). Everything here runs when a device is built,
//! never in the tick, except [`Plant::step`] and [`Plant::outputs`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use perfuse_hal::{ActuatorKind, SensorKind};

/// The membrane oxygenator and gas blender (FiO2 and sweep to PO2 and PCO2) that the shipped
/// bypass and ECMO models step, for any model with an oxygenator in its circuit.
pub use perfuse_model_sdk::oxygenator;

/// Most inputs a plant may take (combined actuator commands).
pub const MAX_INPUTS: usize = 12;

/// A simulated plant, integrated in steps of device time.
pub trait Plant: Send {
    /// Integrates the plant over `dt_s` seconds (> 0) with the inputs held constant, then
    /// updates the outputs. Inputs are indexed as in the model's [`SiteInfo::actuators`]; an input
    /// no actuator drives is 0.
    fn step(&mut self, inputs: &[f64; MAX_INPUTS], dt_s: f64);
    /// The true values at every output point, indexed as in the model's [`SiteInfo::sensors`].
    fn outputs(&self) -> &[f64];
    /// Applies a fault of the plant itself from now on.
    fn inject(&mut self, fault: PlantFault);
}

/// Faults that change the physics rather than a sensor or an actuator. Every model takes the
/// first three (`--fault air@…`, `occlusion`, `leak`); events are its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PlantFault {
    /// Air in the arterial line.
    Air,
    /// The perfused bed's resistance is multiplied by this factor.
    Occlusion { factor: f64 },
    /// Perfusate escapes from the arterial line through this resistance, mmHg/(mL/min).
    Leak { resistance_mmhg_min_ml: f64 },
    /// A model-specific event, by its index in [`ModelInfo::events`] (ventricular fibrillation,
    /// ventilator failure, ...).
    Event(usize),
}

/// A plant model as a protocol's `simulator.model` names it.
pub trait PlantModel: Send + Sync {
    /// What the model offers: its name, sites, parameters and events.
    fn info(&self) -> ModelInfo;
    /// Builds a plant from the protocol's parameters of this model (names already checked
    /// against [`ModelInfo::params`]; absent ones take their defaults). Every bad value is an
    /// error that names the parameter.
    fn build(&self, params: &BTreeMap<String, f64>) -> Result<Box<dyn Plant>, String>;
}

/// A model's description.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub name: String,
    /// One line: the organ, patient or cavity and its circuit.
    pub summary: String,
    pub sites: Vec<SiteInfo>,
    pub params: Vec<ParamInfo>,
    /// The parameter (0 or 1) that switches the model between two modes with their own
    /// defaults, if it has one ([`ParamInfo::other_mode_default`]).
    pub mode: Option<String>,
    /// Model-specific faults, injected with `--fault NAME@TIME`.
    pub events: Vec<EventInfo>,
    /// Where the model comes from: `shipped`, or the library it was loaded from.
    pub origin: String,
}

/// A named point of the plant and what can be measured or driven there.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteInfo {
    pub name: String,
    /// Sensor kinds readable here, each with its index into [`Plant::outputs`].
    pub sensors: Vec<(SensorKind, usize)>,
    /// Actuator kinds that act here, each with its index into the plant's inputs.
    pub actuators: Vec<(ActuatorKind, usize)>,
}

/// One numeric parameter of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    /// The name a protocol's `simulator.params` uses; its unit is part of it.
    pub name: String,
    /// The value when the protocol gives none (for a model with a [`ModelInfo::mode`]: when it
    /// gives no mode either).
    pub default: f64,
    /// For a model with a mode: the default when the protocol sets the other mode.
    pub other_mode_default: Option<f64>,
    pub min: f64,
    pub max: f64,
    /// `g`, `mmHg/(mL/min)`, ...; empty for a number without a unit.
    pub unit: String,
    pub meaning: String,
    /// Where the default comes from: a section of docs/clinical-basis.md with its evidence tag
    /// ([S] sourced, [T] typical, [D] derived, [P] proposal), or "my choice".
    pub source: String,
}

impl ParamInfo {
    /// Checks `value` against the range; the error names the parameter and what is allowed.
    pub fn check(&self, value: f64) -> Result<(), String> {
        if value.is_finite() && value >= self.min && value <= self.max {
            Ok(())
        } else {
            Err(format!(
                "simulator param `{}` = {value}: must be a number from {} to {} ({})",
                self.name, self.min, self.max, self.meaning
            ))
        }
    }
}

/// A model-specific fault.
#[derive(Debug, Clone, PartialEq)]
pub struct EventInfo {
    /// As written in `--fault NAME@TIME`.
    pub name: String,
    pub meaning: String,
}

/// A building block a model steps inside its own plant (the oxygenator), as `perfuse models`
/// lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentInfo {
    pub name: String,
    pub summary: String,
    /// Where a model author finds it.
    pub path: String,
    pub params: Vec<ParamInfo>,
}

/// The building blocks of the model SDK, usable by shipped and outside models alike.
pub fn components() -> Vec<ComponentInfo> {
    let params = oxygenator::PARAMS
        .iter()
        .map(|p| {
            // SAFETY: the SDK's own static strings.
            let text = |s: &perfuse_model_sdk::Str| unsafe { s.as_str() }.unwrap_or("").to_string();
            ParamInfo {
                name: text(&p.name),
                default: p.default,
                other_mode_default: None,
                min: p.min,
                max: p.max,
                unit: text(&p.unit),
                meaning: text(&p.meaning),
                source: text(&p.source),
            }
        })
        .collect();
    vec![ComponentInfo {
        name: "oxygenator".into(),
        summary: oxygenator::SUMMARY.into(),
        path: "perfuse_model_sdk::oxygenator (perfuse_hal_sim::model::oxygenator)".into(),
        params,
    }]
}

/// The probe parameters every model takes beside its own (sensor noise, temperature lag).
pub fn probe_params() -> Vec<ParamInfo> {
    use crate::sensor::{PARAM_SOURCES, SensorParams};
    let defaults = SensorParams::default().values();
    SensorParams::DEFS
        .iter()
        .zip(defaults)
        .map(|(d, default)| ParamInfo {
            name: d.name.to_string(),
            default,
            other_mode_default: None,
            min: d.min,
            max: d.max,
            unit: unit_of(d.name).to_string(),
            meaning: d.meaning.to_string(),
            source: PARAM_SOURCES
                .iter()
                .find(|(n, _)| *n == d.name)
                .map_or("", |(_, s)| *s)
                .to_string(),
        })
        .collect()
}

/// Units by the name suffix that carries them (a parameter's name ends in its unit: `_ml_min`,
/// `_mmhg_min_ml`), longest first so that `_ml_min` is not read as `_min`.
const UNIT_SUFFIXES: &[(&str, &str)] = &[
    ("_mmhg_min_ml", "mmHg/(mL/min)"),
    ("_ml_min_100g", "mL/min/100 g"),
    ("_ml_100g", "mL/100 g"),
    ("_ml_min_mmhg", "mL/min/mmHg"),
    ("_cmh2o_s_l", "cmH2O·s/L"),
    ("_mmol_l_min", "mmol/L/min"),
    ("_ml_l_mmhg", "mL/L/mmHg"),
    ("_ml_kg_min", "mL/kg/min"),
    ("_mmhg_krpm2", "mmHg/krpm²"),
    ("_pct_per_cps", "%/(counts/s)"),
    ("_per_ml_oedema", "/mL"),
    ("_dyn_s_cm5", "dyn·s·cm⁻⁵"),
    ("_ml_min_m2", "mL/min/m²"),
    ("_ml_h_mmhg", "mL/h/mmHg"),
    ("_mmol_l_h", "mmol/L/h"),
    ("_ml_cmh2o", "mL/cmH2O"),
    ("_mmhg_min", "mmHg/min"),
    ("_ml_mmhg", "mL/mmHg"),
    ("_j_kg_k", "J/(kg·K)"),
    ("_mmol_l", "mmol/L"),
    ("_mmol_h", "mmol/h"),
    ("_j_g_k", "J/(g·K)"),
    ("_ml_min", "mL/min"),
    ("_ml_kg", "mL/kg"),
    ("_ml_h", "mL/h"),
    ("_ml_l", "mL/L"),
    ("_per_l", "/min per L/min"),
    ("_pct_h", "%/h"),
    ("_per_h", "/h"),
    ("_mmhg", "mmHg"),
    ("_g_dl", "g/dL"),
    ("_w_k", "W/K"),
    ("_j_k", "J/K"),
    ("_mw_g", "mW/g"),
    ("_bpm", "beats/min"),
    ("_cps", "counts/s"),
    ("_pct", "%"),
    ("_kg", "kg"),
    ("_m2", "m²"),
    ("_ml", "mL"),
    ("_w", "W"),
    ("_g", "g"),
    ("_s", "s"),
    ("_c", "°C"),
];

/// The unit a shipped parameter's name ends in (`kidney_mass_g` → `g`); empty for a number without
/// one (a factor, a fraction, a mode).
pub(crate) fn unit_of(name: &str) -> &'static str {
    UNIT_SUFFIXES
        .iter()
        .find(|(suffix, _)| name.ends_with(suffix))
        .map_or("", |(_, unit)| unit)
}

impl ModelInfo {
    /// The output index a sensor of `kind` at `site` reads; the error names the sensor, its
    /// site, and what the model offers instead.
    pub fn sensor_point(&self, id: &str, kind: SensorKind, site: &str) -> Result<usize, String> {
        let s = self
            .site(site)
            .ok_or_else(|| self.unknown_site("sensor", id, site))?;
        match s.sensors.iter().find(|(k, _)| *k == kind) {
            Some(&(_, point)) => Ok(point),
            None => {
                let elsewhere: Vec<&str> = self
                    .sites
                    .iter()
                    .filter(|s| s.sensors.iter().any(|(k, _)| *k == kind))
                    .map(|s| s.name.as_str())
                    .collect();
                Err(format!(
                    "sensor `{id}`: site `{site}` of the {} model has no {kind:?} sensor (it has {}); \
                     {kind:?} sensors can sit at: {}",
                    self.name,
                    s.offers(),
                    list_or_none(&elsewhere)
                ))
            }
        }
    }

    /// The input index an actuator of `kind` at `site` drives; errors as for sensors.
    pub fn actuator_input(
        &self,
        id: &str,
        kind: ActuatorKind,
        site: &str,
    ) -> Result<usize, String> {
        let s = self
            .site(site)
            .ok_or_else(|| self.unknown_site("actuator", id, site))?;
        match s.actuators.iter().find(|(k, _)| *k == kind) {
            Some(&(_, input)) => Ok(input),
            None => {
                let elsewhere: Vec<&str> = self
                    .sites
                    .iter()
                    .filter(|s| s.actuators.iter().any(|(k, _)| *k == kind))
                    .map(|s| s.name.as_str())
                    .collect();
                Err(format!(
                    "actuator `{id}`: site `{site}` of the {} model has no {kind:?} (it has {}); \
                     a {kind:?} can sit at: {}",
                    self.name,
                    s.offers(),
                    list_or_none(&elsewhere)
                ))
            }
        }
    }

    /// The parameter named `name`.
    pub fn param(&self, name: &str) -> Option<&ParamInfo> {
        self.params.iter().find(|p| p.name == name)
    }

    fn site(&self, name: &str) -> Option<&SiteInfo> {
        self.sites.iter().find(|s| s.name == name)
    }

    fn unknown_site(&self, what: &str, id: &str, site: &str) -> String {
        let offered: Vec<String> = self.sites.iter().map(SiteInfo::describe).collect();
        format!(
            "{what} `{id}`: unknown site `{site}` for the {} model; sites: {}",
            self.name,
            offered.join(", ")
        )
    }
}

impl SiteInfo {
    /// `name (sensors …; actuators …)`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.name, self.offers())
    }

    /// `sensors Pressure/Flow; actuators RollerPump`.
    pub fn offers(&self) -> String {
        let sensors: Vec<String> = self.sensors.iter().map(|(k, _)| format!("{k:?}")).collect();
        let actuators: Vec<String> = self
            .actuators
            .iter()
            .map(|(k, _)| format!("{k:?}"))
            .collect();
        let mut parts = Vec::new();
        if !sensors.is_empty() {
            parts.push(format!("sensors {}", sensors.join("/")));
        }
        if !actuators.is_empty() {
            parts.push(format!("actuators {}", actuators.join("/")));
        }
        if parts.is_empty() {
            "nothing".to_string()
        } else {
            parts.join("; ")
        }
    }
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "nowhere in this model".to_string()
    } else {
        names.join(", ")
    }
}

/// Models added at run time, after the shipped ones.
static REGISTERED: Mutex<Vec<Arc<dyn PlantModel>>> = Mutex::new(Vec::new());

/// Adds `model` to those a protocol can name, for the life of the process. Refused when its name
/// is taken by a shipped model; a model registered again under its name replaces the earlier.
pub fn register(model: Arc<dyn PlantModel>) -> Result<(), String> {
    let name = model.info().name;
    if crate::plant::Model::by_name(&name).is_ok() {
        return Err(format!(
            "model `{name}` is a shipped model's name; choose another"
        ));
    }
    let mut registered = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
    registered.retain(|m| m.info().name != name);
    registered.push(model);
    Ok(())
}

/// Every model a protocol can name: the shipped ones, then the registered ones.
pub fn all() -> Vec<Arc<dyn PlantModel>> {
    let mut models: Vec<Arc<dyn PlantModel>> = crate::plant::MODELS
        .iter()
        .map(|m| Arc::new(m) as Arc<dyn PlantModel>)
        .collect();
    models.extend(
        REGISTERED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned(),
    );
    models
}

/// The model named `name`; the error lists the models there are.
pub fn find(name: &str) -> Result<Arc<dyn PlantModel>, String> {
    if let Ok(m) = crate::plant::Model::by_name(name) {
        return Ok(Arc::new(m));
    }
    let registered = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(m) = registered.iter().find(|m| m.info().name == name) {
        return Ok(m.clone());
    }
    let mut names: Vec<String> = crate::plant::MODELS
        .iter()
        .map(|m| m.name.to_string())
        .collect();
    names.extend(registered.iter().map(|m| m.info().name));
    Err(format!(
        "unknown simulator model `{name}`; models: {}",
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_is_read_from_the_longest_suffix() {
        assert_eq!(unit_of("kidney_mass_g"), "g");
        assert_eq!(unit_of("r_inf_mmhg_min_ml"), "mmHg/(mL/min)");
        assert_eq!(unit_of("heart_max_ml_min"), "mL/min");
        assert_eq!(unit_of("q10"), "");
    }

    #[test]
    fn unknown_model_lists_the_models() {
        let err = find("spleen").err().unwrap();
        assert!(err.contains("`spleen`") && err.contains("kidney"), "{err}");
    }
}
