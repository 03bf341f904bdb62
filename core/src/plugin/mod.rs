//! The plugin host: loads a protocol's plugin and calls it with plain data.
//!
//! Everything a plugin returns is an untrusted request: the Protocol stage checks it and the
//! Safety stage clamps what follows from it. A plugin that panics or returns garbage is marked
//! faulted for the rest of the run and is not called again.

pub mod loader;
pub mod worker;

use crate::plan::Plan;
use loader::{OpenedLibrary, PluginError, SearchPolicy};
use perfuse_plugin_sdk::{
    CreateArgs, ErrorBuf, HostApi, MAX_DERIVED, Param, PhaseEvent, StepInput, StepOutput, StrRef,
    level, status,
};
use std::ffi::c_void;
use std::path::PathBuf;

/// Identity of the loaded plugin, for the run summary.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    pub id: String,
    pub version: String,
    pub sha256: String,
    pub path: PathBuf,
    pub abi: (u16, u16),
    /// Why the library was trusted: pinned, release, or untrusted (allowed).
    pub trust: &'static str,
    pub derived_names: Vec<String>,
}

/// A live plugin instance. Not `Send`: it lives and is called on the plugin's own thread
/// ([`worker`]).
pub struct PluginInstance {
    lib: OpenedLibrary,
    inst: *mut c_void,
    pub info: PluginInfo,
}

extern "C" fn host_log(lvl: u32, msg: StrRef) {
    // SAFETY: the plugin passes a string valid for this call.
    let text = unsafe { msg.as_str() }.unwrap_or("<non-UTF-8 message>");
    let level = match lvl {
        level::ERROR => log::Level::Error,
        level::WARN => log::Level::Warn,
        level::INFO => log::Level::Info,
        _ => log::Level::Debug,
    };
    log::log!(target: "plugin", level, "{text}");
}

fn strrefs(items: &[String]) -> Vec<StrRef> {
    items.iter().map(|s| StrRef::new(s)).collect()
}

/// Finds, checks, opens and instantiates the plugin `plan` requires, on the calling thread (the
/// plugin's own: see [`worker::start`]).
pub fn load(plan: &Plan, policy: &SearchPolicy) -> Result<PluginInstance, PluginError> {
    let req = &plan.plugin;
    let path = loader::find(&req.id, &policy.dirs)?;
    let lib = loader::open(&path, req.sha256.as_deref(), &req.params, policy)?;
    if lib.id != req.id {
        return Err(PluginError::WrongPlugin {
            path,
            expected: req.id.clone(),
            found: lib.id,
        });
    }
    let version_ok =
        semver::Version::parse(&lib.version).is_ok_and(|v| req.version_req.matches(&v));
    if !version_ok {
        return Err(PluginError::VersionMismatch {
            id: req.id.clone(),
            required: req.version_req.to_string(),
            found: lib.version,
        });
    }
    let d = lib.descriptor;
    let names: Vec<String> = req.params.iter().map(|(k, _)| k.clone()).collect();
    let params: Vec<Param> = req
        .params
        .iter()
        .zip(&names)
        .map(|((_, v), n)| Param {
            name: StrRef::new(n),
            value: *v,
        })
        .collect();
    let rejected = |message: String| PluginError::Rejected {
        id: req.id.clone(),
        message,
    };
    let mut err = ErrorBuf::default();
    if (d.validate)(params.as_ptr(), params.len(), &mut err) != status::OK {
        return Err(rejected(format!(
            "invalid plugin_params: {}",
            err.message()
        )));
    }
    let signal_ids: Vec<String> = plan.signals.iter().map(|s| s.id.clone()).collect();
    let phase_ids: Vec<String> = plan.phases.iter().map(|p| p.id.clone()).collect();
    let actuator_ids: Vec<String> = plan.actuators.iter().map(|a| a.id.clone()).collect();
    let (signals, phases) = (strrefs(&signal_ids), strrefs(&phase_ids));
    let actuators = strrefs(&actuator_ids);
    let args = CreateArgs {
        host: HostApi { log: host_log },
        params: params.as_ptr(),
        n_params: params.len(),
        signals: signals.as_ptr(),
        n_signals: signals.len(),
        phases: phases.as_ptr(),
        n_phases: phases.len(),
        period_s: plan.period_s,
        actuators: actuators.as_ptr(),
        n_actuators: actuators.len(),
    };
    let mut err = ErrorBuf::default();
    let inst = (d.create)(&args, &mut err);
    if inst.is_null() {
        return Err(rejected(format!("could not start: {}", err.message())));
    }
    let mut raw = [StrRef::empty(); MAX_DERIVED];
    let n = (d.derived_names)(raw.as_mut_ptr(), MAX_DERIVED);
    if n > MAX_DERIVED {
        (d.destroy)(inst);
        return Err(rejected(format!(
            "declares {n} derived values; at most {MAX_DERIVED} are allowed"
        )));
    }
    // SAFETY: derived names are static strings of the never-unloaded library.
    let derived_names = raw[..n]
        .iter()
        .map(|s| unsafe { s.as_str() }.unwrap_or("?").to_string())
        .collect();
    let info = PluginInfo {
        id: lib.id.clone(),
        version: lib.version.clone(),
        sha256: lib.sha256.clone(),
        path: lib.path.clone(),
        abi: lib.abi,
        trust: lib.trust.as_str(),
        derived_names,
    };
    Ok(PluginInstance { lib, inst, info })
}

impl PluginInstance {
    /// One step; `Err` with the ABI status when the plugin failed.
    pub fn step(&mut self, input: &StepInput, out: &mut StepOutput) -> Result<(), i32> {
        match (self.lib.descriptor.step)(self.inst, input, out) {
            status::OK => Ok(()),
            code => Err(code),
        }
    }

    /// Tells the plugin about a phase change.
    pub fn phase_event(&mut self, event: &PhaseEvent) -> Result<(), i32> {
        match (self.lib.descriptor.phase_event)(self.inst, event) {
            status::OK => Ok(()),
            code => Err(code),
        }
    }
}

impl Drop for PluginInstance {
    fn drop(&mut self) {
        // The instance is freed by the plugin that allocated it; the library itself stays loaded.
        (self.lib.descriptor.destroy)(self.inst);
    }
}
