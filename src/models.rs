//! `perfuse models`: every simulator model a protocol can name, with its sites, parameters and
//! events, as text for a reader or JSON for a tool. Read from the models' own descriptions
//! ([`perfuse_hal_sim::model::PlantModel::info`]), the same ones the simulator resolves a
//! protocol against. Also loads a protocol's model library ([`load_library`]).

use perfuse_core::config::ProtocolFile;
use perfuse_core::plugin::loader::{self, SearchPolicy};
use perfuse_hal_sim::foreign::ForeignModel;
use perfuse_hal_sim::model::{self, ModelInfo, ParamInfo, PlantModel};
use serde_json::{Value, json};
use std::sync::Arc;

/// The listing of `models`, then the building blocks models step (the oxygenator), then the
/// probe parameters and faults every model takes.
pub fn list(models: &[ModelInfo], as_json: bool) -> String {
    if as_json {
        let value = json!({
            "models": models.iter().map(model_json).collect::<Vec<_>>(),
            "probe_params": model::probe_params().iter().map(param_json).collect::<Vec<_>>(),
            "components": model::components().iter().map(|c| json!({
                "name": c.name,
                "summary": c.summary,
                "path": c.path,
                "params": c.params.iter().map(param_json).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "plant_faults": PLANT_FAULTS
                .iter()
                .map(|(name, meaning)| json!({ "name": name, "meaning": meaning }))
                .collect::<Vec<_>>(),
        });
        return serde_json::to_string_pretty(&value).unwrap_or_default() + "\n";
    }
    let mut text = String::new();
    for m in models {
        text.push_str(&model_text(m));
        text.push('\n');
    }
    for c in model::components() {
        text.push_str(&format!(
            "Building block {}: {}\n  in {}; its parameters (the model that steps it sets them):\n",
            c.name, c.summary, c.path
        ));
        for p in &c.params {
            text.push_str(&param_line(p, None));
        }
        text.push('\n');
    }
    text.push_str("Every model also takes the probe parameters:\n");
    for p in model::probe_params() {
        text.push_str(&param_line(&p, None));
    }
    text.push_str("and the plant faults (--fault NAME@TIME) beside its own events:\n");
    for (name, meaning) in PLANT_FAULTS {
        text.push_str(&format!("    {name:<24} {meaning}\n"));
    }
    text
}

/// The faults of the plant every model takes ([`model::PlantFault`]), as `--fault` writes them.
const PLANT_FAULTS: &[(&str, &str)] = &[
    (
        "air",
        "air in the arterial line: the bubble detector reads 1",
    ),
    (
        "occlusion[:FACTOR]",
        "the perfused bed's resistance is multiplied by FACTOR (30)",
    ),
    (
        "leak[:R_MMHG_MIN_ML]",
        "perfusate escapes from the arterial line through this resistance (0.5)",
    ),
];

fn model_text(m: &ModelInfo) -> String {
    let mut text = format!("{}: {} ({})\n", m.name, m.summary, m.origin);
    text.push_str("  sites:\n");
    for s in &m.sites {
        text.push_str(&format!("    {:<24} {}\n", s.name, s.offers()));
    }
    match &m.mode {
        Some(mode) => text.push_str(&format!(
            "  parameters (default; in [] the default in the other mode of `{mode}`; range; meaning; source):\n"
        )),
        None => text.push_str("  parameters (default; range; meaning; source):\n"),
    }
    for p in &m.params {
        text.push_str(&param_line(p, m.mode.as_deref()));
    }
    if m.events.is_empty() {
        text.push_str("  events: none\n");
    } else {
        text.push_str("  events (--fault NAME@TIME):\n");
        for e in &m.events {
            text.push_str(&format!("    {:<24} {}\n", e.name, e.meaning));
        }
    }
    text
}

/// `    name  default [other] unit  min to max  meaning  (source)`.
fn param_line(p: &ParamInfo, mode: Option<&str>) -> String {
    let unit = if p.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", p.unit)
    };
    let default = match (mode, p.other_mode_default) {
        (Some(_), Some(other)) if other != p.default => format!("{} [{}]{unit}", p.default, other),
        _ => format!("{}{unit}", p.default),
    };
    format!(
        "    {:<28} {:<24} {} to {}  {}  ({})\n",
        p.name, default, p.min, p.max, p.meaning, p.source
    )
}

fn model_json(m: &ModelInfo) -> Value {
    json!({
        "name": m.name,
        "summary": m.summary,
        "origin": m.origin,
        "mode": m.mode,
        "sites": m.sites.iter().map(|s| json!({
            "name": s.name,
            "sensors": s.sensors.iter().map(|(k, _)| format!("{k:?}")).collect::<Vec<_>>(),
            "actuators": s.actuators.iter().map(|(k, _)| format!("{k:?}")).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "params": m.params.iter().map(param_json).collect::<Vec<_>>(),
        "events": m.events.iter().map(|e| json!({ "name": e.name, "meaning": e.meaning }))
            .collect::<Vec<_>>(),
    })
}

fn param_json(p: &ParamInfo) -> Value {
    json!({
        "name": p.name,
        "default": p.default,
        "other_mode_default": p.other_mode_default,
        "min": p.min,
        "max": p.max,
        "unit": p.unit,
        "meaning": p.meaning,
        "source": p.source,
    })
}

/// Loads the model library the protocol's `simulator.library` names, if any, under the plugin
/// trust rules, and registers its model so that the simulator and `--fault` find it by name.
/// Returns a line saying what was loaded; the error is `(field, message)`, the field to locate
/// it at in the protocol file.
pub fn load_library(
    protocol: &ProtocolFile,
    policy: &SearchPolicy,
) -> Result<Option<String>, (String, String)> {
    let Some(lib) = &protocol.simulator.library else {
        return Ok(None);
    };
    let at = |field: &str, message: String| (format!("simulator.library{field}"), message);
    let opened = loader::open_model_library(
        &lib.id,
        lib.sha256.as_deref(),
        policy,
        perfuse_model_sdk::DESCRIPTOR_SYMBOL,
    )
    .map_err(|e| at("", e))?;
    let origin = format!(
        "library {} ({}, sha256 {})",
        opened.path.display(),
        opened.trust.as_str(),
        opened.sha256
    );
    // SAFETY: the library was verified and loaded, is never unloaded, and `descriptor` is what
    // its model descriptor function returned.
    let foreign = unsafe { ForeignModel::new(opened.descriptor.cast(), &origin) }
        .map_err(|e| at("", format!("refusing {}: {e}", opened.path.display())))?;
    let name = foreign.info().name;
    if name != protocol.simulator.model {
        return Err((
            "simulator.model".into(),
            format!(
                "model library `{}` provides the model `{name}`, not `{}`",
                lib.id, protocol.simulator.model
            ),
        ));
    }
    model::register(Arc::new(foreign)).map_err(|e| at(".id", e))?;
    Ok(Some(format!("simulator model `{name}` from {origin}")))
}
