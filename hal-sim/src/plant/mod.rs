//! Plant models: the organ or cavity and its circuit, one module per model.
//!
//! A model publishes its parameters and its sites (named points where sensors read and actuators
//! act). `SimHal::new` resolves every protocol sensor and actuator to an index into the model's
//! outputs or inputs once; after that the hot path touches only numbers. Adding a shipped model
//! means one module with a [`Model`] constant and one line in [`MODELS`]; each `Model` is a
//! [`PlantModel`] of the public API (`crate::model`).

use std::collections::BTreeMap;

use perfuse_hal::{ActuatorKind, SensorKind};

use crate::model::{EventInfo, ModelInfo, ParamInfo, PlantModel, SiteInfo, unit_of};
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

pub(crate) use crate::model::{MAX_INPUTS, Plant, PlantFault};

/// A named point of the plant and what can be measured or driven there.
#[derive(Debug)]
pub(crate) struct Site {
    pub name: &'static str,
    /// Sensor kinds readable here, each with its index into [`Plant::outputs`].
    pub sensors: &'static [(SensorKind, usize)],
    /// Actuator kinds that act here, each with its index into the plant's inputs.
    pub actuators: &'static [(ActuatorKind, usize)],
}

/// Builds a plant from the model's own parameters (names already checked).
pub(crate) type Build = fn(&BTreeMap<String, f64>) -> Result<Box<dyn Plant>, String>;

/// A shipped plant model as the protocol names it: its tables, read by [`PlantModel::info`].
pub(crate) struct Model {
    pub name: &'static str,
    /// One line for `perfuse models`.
    pub summary: &'static str,
    pub params: &'static [ParamDef],
    /// The 0/1 parameter that switches the model's defaults, if it has one, and its value when
    /// the protocol does not give it.
    pub mode: Option<(&'static str, bool)>,
    /// Every parameter's default in `params` order, in mode 0 (`false`) or 1 (`true`).
    pub defaults: fn(bool) -> Vec<f64>,
    /// Where each parameter's default comes from, by name (docs/clinical-basis.md section and
    /// evidence tag, or "my choice"); the comments at the defaults say why.
    pub sources: &'static [(&'static str, &'static str)],
    pub sites: &'static [Site],
    /// Model-specific faults, injected on the command line by name (`--fault NAME@TIME`), each
    /// with what it does.
    pub events: &'static [(&'static str, &'static str)],
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
    /// The shipped model named `name`; the error lists the shipped models.
    pub(crate) fn by_name(name: &str) -> Result<&'static Model, String> {
        MODELS.iter().find(|m| m.name == name).ok_or_else(|| {
            let names: Vec<&str> = MODELS.iter().map(|m| m.name).collect();
            format!(
                "unknown simulator model `{name}`; models: {}",
                names.join(", ")
            )
        })
    }

    /// Where parameter `name`'s default comes from.
    fn source(&self, name: &str) -> &'static str {
        if self.mode.is_some_and(|(mode, _)| mode == name) {
            return "the model's mode (protocol's choice)";
        }
        self.sources
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, s)| *s)
    }
}

impl PlantModel for &'static Model {
    fn info(&self) -> ModelInfo {
        let usual = self.mode.is_some_and(|(_, on)| on);
        let defaults = (self.defaults)(usual);
        let other_defaults = self.mode.map(|_| (self.defaults)(!usual));
        let params = self
            .params
            .iter()
            .enumerate()
            .map(|(i, d)| ParamInfo {
                name: d.name.to_string(),
                default: defaults[i],
                other_mode_default: other_defaults.as_ref().map(|m| m[i]),
                min: d.min,
                max: d.max,
                unit: unit_of(d.name).to_string(),
                meaning: d.meaning.to_string(),
                source: self.source(d.name).to_string(),
            })
            .collect();
        ModelInfo {
            name: self.name.to_string(),
            summary: self.summary.to_string(),
            sites: self
                .sites
                .iter()
                .map(|s| SiteInfo {
                    name: s.name.to_string(),
                    sensors: s.sensors.to_vec(),
                    actuators: s.actuators.to_vec(),
                })
                .collect(),
            params,
            mode: self.mode.map(|(name, _)| name.to_string()),
            events: self
                .events
                .iter()
                .map(|(name, meaning)| EventInfo {
                    name: name.to_string(),
                    meaning: meaning.to_string(),
                })
                .collect(),
            origin: "shipped".to_string(),
        }
    }

    fn build(&self, params: &BTreeMap<String, f64>) -> Result<Box<dyn Plant>, String> {
        (self.build)(params)
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

    /// Steps `plant` for a minute of device time with every input at a middling command and
    /// returns every output of every step.
    fn trajectory(mut plant: Box<dyn Plant>) -> Vec<u64> {
        let mut inputs = [0.0; MAX_INPUTS];
        for (i, v) in inputs.iter_mut().enumerate() {
            *v = 0.1 + i as f64 * 0.05;
        }
        let mut seen = Vec::new();
        for _ in 0..600 {
            plant.step(&inputs, 0.1);
            seen.extend(plant.outputs().iter().map(|v| v.to_bits()));
        }
        seen
    }

    #[test]
    fn listed_defaults_are_what_the_simulator_uses() {
        for model in MODELS {
            let info = model.info();
            assert_eq!(info.params.len(), model.params.len(), "{}", model.name);
            let modes: Vec<Option<bool>> = match model.mode {
                None => vec![None],
                Some((_, usual)) => vec![None, Some(!usual)],
            };
            for mode in modes {
                let mut bare = BTreeMap::new();
                let mut listed = BTreeMap::new();
                for p in &info.params {
                    let v = match mode {
                        None => p.default,
                        Some(_) => p.other_mode_default.unwrap(),
                    };
                    listed.insert(p.name.clone(), v);
                }
                if let (Some(on), Some((name, _))) = (mode, model.mode) {
                    let v = if on { 1.0 } else { 0.0 };
                    bare.insert(name.to_string(), v);
                    assert_eq!(listed[name], v, "{}: the mode's own default", model.name);
                }
                let a = trajectory(model.build(&bare).unwrap());
                let b = trajectory(model.build(&listed).unwrap());
                assert!(
                    a == b,
                    "{} (mode {mode:?}): listed defaults differ",
                    model.name
                );
            }
        }
    }

    #[test]
    fn every_parameter_has_a_range_holding_its_default_a_source_and_a_unit() {
        /// Numbers without a unit whose name says so by no suffix: modes, Q10s, pH differences.
        const UNITLESS: &[&str] = &[
            "normothermic",
            "hypothermic",
            "beating",
            "thorax",
            "q10",
            "lactate_extraction",
            "bile_dph",
        ];
        for model in MODELS {
            let info = model.info();
            for p in info.params.iter().chain(&crate::model::probe_params()) {
                let at = format!("{}: `{}`", model.name, p.name);
                p.check(p.default).unwrap_or_else(|e| panic!("{at}: {e}"));
                if let Some(d) = p.other_mode_default {
                    p.check(d).unwrap_or_else(|e| panic!("{at}: {e}"));
                }
                assert!(!p.source.is_empty(), "{at}: no source");
                // Every name ends in its unit, or it is a number without one.
                let unitless = UNITLESS.contains(&p.name.as_str())
                    || [
                        "_factor",
                        "_fraction",
                        "_efficiency",
                        "_ratio",
                        "_floor",
                        "_gain",
                        "_max",
                    ]
                    .iter()
                    .any(|s| p.name.ends_with(s));
                assert!(p.unit.is_empty() == unitless, "{at}: unit `{}`", p.unit);
            }
            for (name, _) in model.sources {
                assert!(
                    info.param(name).is_some(),
                    "{}: source of no parameter `{name}`",
                    model.name
                );
            }
        }
    }
}
