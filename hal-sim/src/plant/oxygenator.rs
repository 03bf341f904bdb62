//! The membrane oxygenator and gas blender that `bypass` and `ecmo` step: it lives in the model
//! SDK (`perfuse_model_sdk::oxygenator`) so that every patient or organ circuit, shipped or
//! loaded from outside, steps the same device.

pub(crate) use perfuse_model_sdk::oxygenator::{Inlet, Oxygenator, OxygenatorParams};
