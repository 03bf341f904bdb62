//! The plugin host: loads a protocol's plugin and calls it with plain data.
//!
//! Everything a plugin returns is an untrusted request: the Protocol stage checks it and the
//! Safety stage clamps what follows from it. A plugin that panics or returns garbage is marked
//! faulted for the rest of the run and is not called again.

pub mod loader;

use crate::plan::Plan;
use loader::{OpenedLibrary, PluginError, SearchPolicy};
use perfuse_plugin_sdk::{
    CreateArgs, ErrorBuf, HostApi, MAX_DERIVED, Param, PhaseEvent, StepInput, StepOutput, StrRef,
    level, status,
};
use std::collections::BTreeMap;
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
    /// Why the library was trusted: `pinned`, `release` or `untrusted (allowed)`.
    pub trust: &'static str,
    pub derived_names: Vec<String>,
}

/// A live plugin instance. It is called by one control thread at a time; a run that moves to
/// another control thread (see `run::supervise`) takes it along.
pub struct PluginInstance {
    lib: OpenedLibrary,
    inst: *mut c_void,
    pub info: PluginInfo,
}

// SAFETY: the ABI lets the host call an instance from any thread, one call at a time; every
// method that calls into the plugin takes `&mut self`, so calls never overlap.
unsafe impl Send for PluginInstance {}
// SAFETY: through `&PluginInstance` no plugin code runs (only `info` and the descriptor's
// fields are read), so sharing references across threads calls nothing concurrently.
unsafe impl Sync for PluginInstance {}

unsafe extern "C" fn host_log(lvl: u32, msg: StrRef) {
    // SAFETY: the ABI requires the plugin to pass a string valid for this call.
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

/// Finds, verifies, opens and instantiates the plugin `plan` requires.
pub fn load(plan: &Plan, policy: &SearchPolicy) -> Result<PluginInstance, PluginError> {
    instantiate(plan, open(plan, policy)?)
}

/// Finds, verifies and opens the library `plan` requires (its file read and hashed once),
/// without creating an instance: a sweep opens it once and instantiates it per case.
pub fn open(plan: &Plan, policy: &SearchPolicy) -> Result<OpenedLibrary, PluginError> {
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
    Ok(lib)
}

/// Creates a fresh instance of `lib`, opened by [`open`] for this `plan`: validates the
/// protocol's `plugin_params` and starts the plugin.
pub fn instantiate(plan: &Plan, lib: OpenedLibrary) -> Result<PluginInstance, PluginError> {
    let req = &plan.plugin;
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
    // SAFETY: `params` and the names it points at live until the end of this function;
    // `err` is an exclusive buffer.
    if unsafe { (d.validate)(params.as_ptr(), params.len(), &mut err) } != status::OK {
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
    // SAFETY: `args` and every array and string it points at outlive the call; `err` is an
    // exclusive buffer.
    let inst = unsafe { (d.create)(&args, &mut err) };
    if inst.is_null() {
        return Err(rejected(format!("could not start: {}", err.message())));
    }
    let mut raw = [StrRef::empty(); MAX_DERIVED];
    // SAFETY: `raw` has room for the `MAX_DERIVED` entries offered.
    let n = unsafe { (d.derived_names)(raw.as_mut_ptr(), MAX_DERIVED) };
    if n > MAX_DERIVED {
        // SAFETY: `inst` came from this descriptor's `create` and is not used again.
        unsafe { (d.destroy)(inst) };
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
        // SAFETY: `inst` is live (freed only on drop), `input` and `out` are valid and exclusive
        // for the call, and `&mut self` keeps the instance on one thread at a time.
        match unsafe { (self.lib.descriptor.step)(self.inst, input, out) } {
            status::OK => Ok(()),
            code => Err(code),
        }
    }

    /// Tells the plugin about a phase change.
    pub fn phase_event(&mut self, event: &PhaseEvent) -> Result<(), i32> {
        // SAFETY: as in `step`.
        match unsafe { (self.lib.descriptor.phase_event)(self.inst, event) } {
            status::OK => Ok(()),
            code => Err(code),
        }
    }
}

/// The save and restore functions of an ABI 1.2 descriptor.
type SaveFn = unsafe extern "C" fn(*mut c_void, *mut u8, usize, *mut usize) -> i32;
type RestoreFn = unsafe extern "C" fn(*mut c_void, *const u8, usize) -> i32;

/// Room first offered to a plugin's `save`; a plugin that needs more says how much.
const STATE_BUFFER: usize = 4096;
/// A plugin state larger than this is refused as garbage (a state is a few hundred bytes).
const MAX_STATE: usize = 16 << 20;

impl PluginInstance {
    /// The save/restore pair, only for a plugin of ABI 1.2 or later (an older descriptor ends
    /// before these fields, which the loader's copy then holds as `None`).
    fn state_fns(&self) -> Option<(SaveFn, RestoreFn)> {
        let d = &self.lib.descriptor;
        if self.info.abi.1 < 2 {
            return None;
        }
        Some((d.save?, d.restore?))
    }

    /// Whether this plugin can carry its state across a restart.
    pub fn has_state(&self) -> bool {
        self.state_fns().is_some()
    }

    /// The plugin's state, in a buffer the host owns; `Ok(None)` for a plugin without
    /// save/restore (ABI 1.1 or older). Between ticks only: it allocates.
    pub fn save(&mut self) -> Result<Option<Vec<u8>>, i32> {
        let Some((save, _)) = self.state_fns() else {
            return Ok(None);
        };
        let mut buf = vec![0u8; STATE_BUFFER];
        for _ in 0..2 {
            let mut len = 0usize;
            // SAFETY: `inst` is live; `buf` has room for the `buf.len()` bytes offered and `len`
            // is a valid, exclusive out-parameter.
            match unsafe { save(self.inst, buf.as_mut_ptr(), buf.len(), &mut len) } {
                status::OK if len <= buf.len() => {
                    buf.truncate(len);
                    return Ok(Some(buf));
                }
                status::BUFFER_TOO_SMALL if len > buf.len() && len <= MAX_STATE => {
                    buf.resize(len, 0);
                }
                status::OK | status::BUFFER_TOO_SMALL => return Err(status::INVALID),
                code => return Err(code),
            }
        }
        // The plugin asked for more room a second time: its state is not stable.
        Err(status::INVALID)
    }

    /// The values the instance computed at creation under `names` (the protocol file's
    /// `computed` section); a name it computes nothing for is left out, and a plugin older than
    /// ABI 1.4 computes nothing. `Err` with the status when the plugin panicked. Before the
    /// first tick only: it allocates.
    pub fn computed(&mut self, names: &[String]) -> Result<BTreeMap<String, f64>, i32> {
        let mut values = BTreeMap::new();
        let Some(computed) = self
            .lib
            .descriptor
            .computed
            .filter(|_| self.info.abi.1 >= 4)
        else {
            return Ok(values);
        };
        for name in names {
            let mut v = f64::NAN;
            // SAFETY: `inst` is live; `name` is valid for the call and `v` is an exclusive
            // out-parameter.
            match unsafe { computed(self.inst, StrRef::new(name), &mut v) } {
                status::OK => {
                    values.insert(name.clone(), v);
                }
                status::INVALID => {}
                code => return Err(code),
            }
        }
        Ok(values)
    }

    /// Gives a freshly created instance the state `save` returned in an earlier run.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), i32> {
        let Some((_, restore)) = self.state_fns() else {
            return Err(status::INVALID);
        };
        // SAFETY: `inst` is live and `bytes` is valid for the call.
        match unsafe { restore(self.inst, bytes.as_ptr(), bytes.len()) } {
            status::OK => Ok(()),
            code => Err(code),
        }
    }
}

impl Drop for PluginInstance {
    fn drop(&mut self) {
        // The instance is freed by the plugin that allocated it; the library itself stays loaded.
        // SAFETY: `inst` came from this descriptor's `create` and is freed once, here.
        unsafe { (self.lib.descriptor.destroy)(self.inst) };
    }
}
