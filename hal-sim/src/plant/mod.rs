//! Plant models: the organ or cavity and its circuit, one module per model.
//!
//! A model publishes its parameters and its sites (named points where sensors read and actuators
//! act). `SimHal::new` resolves every protocol sensor and actuator to an index into the model's
//! outputs or inputs once; after that the hot path touches only numbers. Adding a model means one
//! module with a [`Model`] constant and one line in [`MODELS`].

use std::collections::BTreeMap;

use perfuse_hal::{ActuatorKind, SensorKind};

use crate::params::ParamDef;

pub(crate) mod bypass;
pub(crate) mod cavity;
pub(crate) mod donor;
pub(crate) mod ecmo;
pub(crate) mod heart;
pub(crate) mod kidney;
pub(crate) mod limb;
pub(crate) mod liver;
pub(crate) mod lung;
pub(crate) mod oxygenator;
mod physics;
mod thermal;

/// Most inputs a plant may take (combined actuator commands).
pub(crate) const MAX_INPUTS: usize = 12;

/// A simulated plant, integrated in steps of device time.
pub(crate) trait Plant: Send {
    /// Integrates the plant over `dt_s` seconds (> 0) with the inputs held constant, then
    /// updates the outputs. Inputs are indexed as in the model's [`Site::actuators`].
    fn step(&mut self, inputs: &[f64; MAX_INPUTS], dt_s: f64);
    /// The true values at every output point, indexed as in the model's [`Site::sensors`].
    fn outputs(&self) -> &[f64];
    /// Applies a fault of the plant itself from now on.
    fn inject(&mut self, fault: PlantFault);
}

/// Faults that change the physics rather than a sensor or an actuator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum PlantFault {
    /// Air in the arterial line.
    Air,
    /// The perfused bed's resistance is multiplied by this factor.
    Occlusion { factor: f64 },
    /// Perfusate escapes from the arterial line through this resistance, mmHg/(mL/min).
    Leak { resistance_mmhg_min_ml: f64 },
    /// A model-specific event, by its index in [`Model::events`] (ventricular fibrillation,
    /// ventilator failure, ...).
    Event(usize),
}

/// A named point of the plant and what can be measured or driven there.
#[derive(Debug)]
pub(crate) struct Site {
    pub name: &'static str,
    /// Sensor kinds readable here, each with its index into [`Plant::outputs`].
    pub sensors: &'static [(SensorKind, usize)],
    /// Actuator kinds that act here, each with its index into the plant's inputs.
    pub actuators: &'static [(ActuatorKind, usize)],
}

impl Site {
    /// `name (sensors …; actuators …)`.
    fn describe(&self) -> String {
        format!("{} ({})", self.name, self.offers())
    }

    /// `sensors Pressure/Flow; actuators RollerPump`.
    fn offers(&self) -> String {
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

/// Builds a plant from the model's own parameters (names already checked).
pub(crate) type Build = fn(&BTreeMap<String, f64>) -> Result<Box<dyn Plant>, String>;

/// A plant model as the protocol names it.
pub(crate) struct Model {
    pub name: &'static str,
    pub params: &'static [ParamDef],
    pub sites: &'static [Site],
    /// Model-specific faults, injected on the command line by name (`--fault NAME@TIME`).
    pub events: &'static [&'static str],
    pub build: Build,
}

/// Every model the simulator offers.
pub(crate) const MODELS: &[Model] = &[
    kidney::MODEL,
    lung::MODEL,
    heart::MODEL,
    liver::MODEL,
    donor::MODEL,
    limb::MODEL,
    cavity::MODEL,
    bypass::MODEL,
    ecmo::MODEL,
];

impl Model {
    /// The model named `name`; the error lists the models there are.
    pub(crate) fn by_name(name: &str) -> Result<&'static Model, String> {
        MODELS.iter().find(|m| m.name == name).ok_or_else(|| {
            let names: Vec<&str> = MODELS.iter().map(|m| m.name).collect();
            format!(
                "unknown simulator model `{name}`; models: {}",
                names.join(", ")
            )
        })
    }

    /// The output index a sensor of `kind` at `site` reads; the error names the sensor, its
    /// site, and what the model offers instead.
    pub(crate) fn sensor_point(
        &self,
        id: &str,
        kind: SensorKind,
        site: &str,
    ) -> Result<usize, String> {
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
                    .map(|s| s.name)
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
    pub(crate) fn actuator_input(
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
                    .map(|s| s.name)
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

    fn site(&self, name: &str) -> Option<&'static Site> {
        self.sites.iter().find(|s| s.name == name)
    }

    fn unknown_site(&self, what: &str, id: &str, site: &str) -> String {
        let offered: Vec<String> = self.sites.iter().map(Site::describe).collect();
        format!(
            "{what} `{id}`: unknown site `{site}` for the {} model; sites: {}",
            self.name,
            offered.join(", ")
        )
    }
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "nowhere in this model".to_string()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_site_index_is_within_the_plant() {
        for model in MODELS {
            let plant = (model.build)(&BTreeMap::new()).unwrap();
            let outputs = plant.outputs().len();
            for site in model.sites {
                for &(_, point) in site.sensors {
                    assert!(
                        point < outputs,
                        "{}: {} sensor index",
                        model.name,
                        site.name
                    );
                }
                for &(_, input) in site.actuators {
                    assert!(
                        input < MAX_INPUTS,
                        "{}: {} input index",
                        model.name,
                        site.name
                    );
                }
            }
        }
    }

    #[test]
    fn unknown_model_lists_the_models() {
        let err = Model::by_name("spleen").err().unwrap();
        assert!(err.contains("`spleen`") && err.contains("kidney"), "{err}");
    }
}
