//! The perfuse simulator's model SDK: write an organ, patient or circuit model in a crate of your
//! own, build it as a `cdylib`, and a protocol runs it in `perfuse`'s simulator like a shipped
//! model (`simulator: (model: "NAME", library: Some((id: "ID")), ...)`).
//!
//! A model implements [`Model`]: its sites (named points, each with the sensor kinds it feeds
//! and the actuator kinds it takes, as indices into the model's outputs and inputs), its
//! parameters ([`Param`]: default, range, unit, meaning, source), its events (model-specific
//! faults, `--fault NAME@TIME`), and its step. [`export_model!`] turns it into the C ABI the host
//! loads: a [`ModelDescriptor`] behind the symbol `perfuse_model_descriptor`. A Rust trait object
//! cannot cross a library boundary, so everything crossing it is `repr(C)` and checked by the
//! host: kinds are names (`"Pressure"`, `"RollerPump"`), indices are bounded, strings UTF-8.
//!
//! The host checks every parameter against its range before [`Model::create`] and passes all
//! of them, in [`Model::PARAMS`] order, defaults filled in. A panic inside the model is caught:
//! from then on its outputs read NaN (the sensors read nothing, and the core's alarms on invalid
//! readings take over), as a simulated device whose model crashed.
//!
//! Building blocks: [`oxygenator`], the membrane oxygenator and gas blender the shipped bypass
//! and ECMO models step, for any patient or organ circuit with one.
//!
//! ```
//! use perfuse_model_sdk::{Event, Model, Param, PlantFault, Point, Site, MAX_INPUTS};
//!
//! /// A bed of fixed resistance behind a roller pump.
//! struct Bed { r: f64, out: [f64; 1] }
//!
//! impl Model for Bed {
//!     const NAME: &'static str = "bed";
//!     const SUMMARY: &'static str = "a resistance behind a pump";
//!     const SITES: &'static [Site] = &[Site::new(
//!         "arterial_line",
//!         &[Point::new("Pressure", 0)],
//!         &[Point::new("RollerPump", 0)],
//!     )];
//!     const PARAMS: &'static [Param] = &[Param::new(
//!         "r_mmhg_min_ml", 0.3, 0.01, 10.0, "mmHg/(mL/min)", "bed resistance", "my choice",
//!     )];
//!     const EVENTS: &'static [Event] = &[];
//!     const OUTPUTS: usize = 1;
//!     fn create(params: &[f64]) -> Result<Self, String> {
//!         Ok(Bed { r: params[0], out: [0.0] })
//!     }
//!     fn step(&mut self, inputs: &[f64; MAX_INPUTS], _dt_s: f64) {
//!         self.out[0] = inputs[0] * self.r;
//!     }
//!     fn outputs(&self) -> &[f64] {
//!         &self.out
//!     }
//!     fn inject(&mut self, _fault: PlantFault) {}
//! }
//!
//! perfuse_model_sdk::export_model!(Bed);
//! # let d = perfuse_model_sdk::descriptor::<Bed>();
//! # assert_eq!(d.n_params, 1);
//! ```

#![deny(missing_docs)]

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

pub mod oxygenator;

/// ABI major version: the host refuses any other.
pub const ABI_MAJOR: u16 = 1;
/// ABI minor version: the host refuses a newer one. Bumped when fields are appended to
/// [`ModelDescriptor`].
pub const ABI_MINOR: u16 = 0;
/// First field of every descriptor ("PFMD").
pub const MAGIC: u32 = 0x5046_4d44;
/// The symbol [`export_model!`] exports: `extern "C" fn() -> *const ModelDescriptor`.
pub const DESCRIPTOR_SYMBOL: &[u8] = b"perfuse_model_descriptor\0";
/// Most inputs a plant takes (combined actuator commands), as the simulator's.
pub const MAX_INPUTS: usize = 12;
/// Most outputs a model may declare.
pub const MAX_OUTPUTS: usize = 256;
/// Room for [`Model::create`]'s error message, bytes (longer ones are cut at a character).
pub const ERROR_CAPACITY: usize = 1024;

/// A UTF-8 string in static memory: pointer and length.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Str {
    /// First byte.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl Str {
    /// `s` as an ABI string.
    pub const fn new(s: &'static str) -> Str {
        Str {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// The string, if it is UTF-8.
    ///
    /// # Safety
    /// `ptr` must point at `len` readable bytes that outlive the result.
    pub unsafe fn as_str<'a>(&self) -> Option<&'a str> {
        if self.ptr.is_null() {
            return None;
        }
        // SAFETY: the caller guarantees `len` readable bytes at `ptr`.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.len) };
        std::str::from_utf8(bytes).ok()
    }
}

/// One sensor or actuator kind at a site, with its index: into [`Model::outputs`] for a
/// sensor, into the inputs of [`Model::step`] for an actuator.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Point {
    /// The kind as a protocol's circuit writes it: `"Pressure"`, `"Flow"`, `"RollerPump"`, ...
    pub kind: Str,
    /// Output or input index.
    pub index: u32,
}

impl Point {
    /// A kind at an index.
    pub const fn new(kind: &'static str, index: u32) -> Point {
        Point {
            kind: Str::new(kind),
            index,
        }
    }
}

/// A named point of the plant where sensors read and actuators act.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Site {
    /// As a protocol's circuit names it (`site: "arterial_line"`).
    pub name: Str,
    /// Sensor kinds readable here.
    pub sensors: *const Point,
    /// How many.
    pub n_sensors: usize,
    /// Actuator kinds that act here.
    pub actuators: *const Point,
    /// How many.
    pub n_actuators: usize,
}

impl Site {
    /// A site with its sensors and actuators.
    pub const fn new(
        name: &'static str,
        sensors: &'static [Point],
        actuators: &'static [Point],
    ) -> Site {
        Site {
            name: Str::new(name),
            sensors: sensors.as_ptr(),
            n_sensors: sensors.len(),
            actuators: actuators.as_ptr(),
            n_actuators: actuators.len(),
        }
    }
}

/// One numeric parameter, set by a protocol's `simulator.params`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Its name; by convention it ends in its unit (`kidney_mass_g`, `r_mmhg_min_ml`).
    pub name: Str,
    /// `g`, `mmHg/(mL/min)`; empty for a number without a unit.
    pub unit: Str,
    /// What it means, for `perfuse models` and error messages.
    pub meaning: Str,
    /// Where the default comes from (a paper, a section, "my choice").
    pub source: Str,
    /// The value when the protocol gives none; within the range.
    pub default: f64,
    /// Smallest allowed value.
    pub min: f64,
    /// Largest allowed value.
    pub max: f64,
}

impl Param {
    /// A parameter: name, default, range, unit, meaning and source.
    pub const fn new(
        name: &'static str,
        default: f64,
        min: f64,
        max: f64,
        unit: &'static str,
        meaning: &'static str,
        source: &'static str,
    ) -> Param {
        Param {
            name: Str::new(name),
            unit: Str::new(unit),
            meaning: Str::new(meaning),
            source: Str::new(source),
            default,
            min,
            max,
        }
    }
}

/// A model-specific fault, injected with `--fault NAME@TIME`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Event {
    /// As written on the command line.
    pub name: Str,
    /// What happens.
    pub meaning: Str,
}

impl Event {
    /// An event and what it does.
    pub const fn new(name: &'static str, meaning: &'static str) -> Event {
        Event {
            name: Str::new(name),
            meaning: Str::new(meaning),
        }
    }
}

/// A fault of the plant, as it crosses the ABI: `kind` is one of the `FAULT_*` constants.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FaultCode {
    /// [`FAULT_AIR`], [`FAULT_OCCLUSION`], [`FAULT_LEAK`] or [`FAULT_EVENT`].
    pub kind: u32,
    /// The occlusion's factor or the leak's resistance.
    pub value: f64,
    /// The event's index in [`Model::EVENTS`].
    pub event: u32,
}

/// Air in the arterial line.
pub const FAULT_AIR: u32 = 0;
/// The perfused bed's resistance multiplied by `value`.
pub const FAULT_OCCLUSION: u32 = 1;
/// A leak from the arterial line through `value` mmHg/(mL/min).
pub const FAULT_LEAK: u32 = 2;
/// The model's event `event`.
pub const FAULT_EVENT: u32 = 3;

/// Faults that change the physics rather than a sensor or an actuator (every model takes air,
/// occlusion and leak; it may ignore what makes no sense for it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PlantFault {
    /// Air in the arterial line.
    Air,
    /// The perfused bed's resistance is multiplied by this factor.
    Occlusion {
        /// ≥ 1.
        factor: f64,
    },
    /// Perfusate escapes from the arterial line through this resistance.
    Leak {
        /// mmHg/(mL/min), > 0.
        resistance_mmhg_min_ml: f64,
    },
    /// The model's event, by its index in [`Model::EVENTS`].
    Event(usize),
}

impl FaultCode {
    /// The fault as it crosses the ABI.
    pub fn encode(fault: PlantFault) -> FaultCode {
        let (kind, value, event) = match fault {
            PlantFault::Air => (FAULT_AIR, 0.0, 0),
            PlantFault::Occlusion { factor } => (FAULT_OCCLUSION, factor, 0),
            PlantFault::Leak {
                resistance_mmhg_min_ml,
            } => (FAULT_LEAK, resistance_mmhg_min_ml, 0),
            PlantFault::Event(i) => (FAULT_EVENT, 0.0, u32::try_from(i).unwrap_or(u32::MAX)),
        };
        FaultCode { kind, value, event }
    }

    /// The fault it encodes; `None` for an unknown kind.
    pub fn decode(self) -> Option<PlantFault> {
        match self.kind {
            FAULT_AIR => Some(PlantFault::Air),
            FAULT_OCCLUSION => Some(PlantFault::Occlusion { factor: self.value }),
            FAULT_LEAK => Some(PlantFault::Leak {
                resistance_mmhg_min_ml: self.value,
            }),
            FAULT_EVENT => Some(PlantFault::Event(self.event as usize)),
            _ => None,
        }
    }
}

/// What a model library exports, ABI 1.0. Every pointer points at static data of the library,
/// which the host never unloads.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ModelDescriptor {
    /// [`MAGIC`].
    pub magic: u32,
    /// [`ABI_MAJOR`] of the SDK the model was built with.
    pub abi_major: u16,
    /// [`ABI_MINOR`] of that SDK.
    pub abi_minor: u16,
    /// `size_of::<ModelDescriptor>()` of that SDK.
    pub size: u32,
    /// The name a protocol's `simulator.model` uses.
    pub name: Str,
    /// One line: what the model simulates.
    pub summary: Str,
    /// The sites.
    pub sites: *const Site,
    /// How many.
    pub n_sites: usize,
    /// The parameters.
    pub params: *const Param,
    /// How many.
    pub n_params: usize,
    /// The events.
    pub events: *const Event,
    /// How many.
    pub n_events: usize,
    /// Length of the outputs.
    pub n_outputs: usize,
    /// Builds a plant from `n_values` parameter values in [`Model::PARAMS`] order. On success a
    /// plant the host owns until `destroy`; on refusal null, with a UTF-8 message of
    /// `*error_len` bytes written to `error` (room for `error_cap`).
    ///
    /// # Safety
    /// `values` points at `n_values` numbers, `error` at `error_cap` writable bytes, `error_len`
    /// at a writable `usize`.
    pub create: unsafe extern "C" fn(
        values: *const f64,
        n_values: usize,
        error: *mut u8,
        error_cap: usize,
        error_len: *mut usize,
    ) -> *mut c_void,
    /// Steps the plant over `dt_s` with [`MAX_INPUTS`] inputs.
    ///
    /// # Safety
    /// `plant` came from `create` and is not destroyed; `inputs` points at [`MAX_INPUTS`]
    /// numbers.
    pub step: unsafe extern "C" fn(plant: *mut c_void, inputs: *const f64, dt_s: f64),
    /// The plant's `n_outputs` true values, valid until the next call on it.
    ///
    /// # Safety
    /// `plant` came from `create` and is not destroyed.
    pub outputs: unsafe extern "C" fn(plant: *const c_void) -> *const f64,
    /// Applies a fault of the plant from now on.
    ///
    /// # Safety
    /// `plant` came from `create` and is not destroyed.
    pub inject: unsafe extern "C" fn(plant: *mut c_void, fault: FaultCode),
    /// Frees the plant.
    ///
    /// # Safety
    /// `plant` came from `create`; it is not used again.
    pub destroy: unsafe extern "C" fn(plant: *mut c_void),
}

// SAFETY: descriptors and their tables only point at immutable static data and functions, so
// they may sit in statics shared between threads.
unsafe impl Sync for ModelDescriptor {}
// SAFETY: as above.
unsafe impl Sync for Str {}
// SAFETY: as above.
unsafe impl Sync for Point {}
// SAFETY: as above.
unsafe impl Sync for Site {}
// SAFETY: as above.
unsafe impl Sync for Param {}
// SAFETY: as above.
unsafe impl Sync for Event {}

/// The layout the host reads: checked here, so that a change to it fails to compile instead of
/// loading garbage.
const _: () = {
    assert!(std::mem::size_of::<Str>() == 16);
    assert!(std::mem::size_of::<Point>() == 24);
    assert!(std::mem::size_of::<Site>() == 48);
    assert!(std::mem::size_of::<Param>() == 88);
    assert!(std::mem::size_of::<Event>() == 32);
    assert!(std::mem::size_of::<FaultCode>() == 24);
    assert!(std::mem::offset_of!(ModelDescriptor, name) == 16);
    assert!(std::mem::offset_of!(ModelDescriptor, n_outputs) == 96);
    assert!(std::mem::offset_of!(ModelDescriptor, create) == 104);
    assert!(std::mem::size_of::<ModelDescriptor>() == 144);
};

/// A simulator model, written in Rust and exported with [`export_model!`].
pub trait Model: Sized + Send + 'static {
    /// The name a protocol's `simulator.model` uses: letters, digits, `-` and `_`.
    const NAME: &'static str;
    /// One line: what it simulates.
    const SUMMARY: &'static str;
    /// Its sites.
    const SITES: &'static [Site];
    /// Its parameters.
    const PARAMS: &'static [Param];
    /// Its events.
    const EVENTS: &'static [Event];
    /// How many outputs [`Model::outputs`] returns (at most [`MAX_OUTPUTS`]).
    const OUTPUTS: usize;
    /// Builds the plant at device time 0 from every parameter, in [`Model::PARAMS`] order, each
    /// already within its range. An error says what is wrong with which parameters (a
    /// combination the ranges cannot express).
    fn create(params: &[f64]) -> Result<Self, String>;
    /// Integrates over `dt_s` seconds (> 0) with the inputs held; an input no actuator drives
    /// is 0. Runs in the control tick: no allocation, locks, I/O or blocking.
    fn step(&mut self, inputs: &[f64; MAX_INPUTS], dt_s: f64);
    /// The true values at every output point ([`Model::OUTPUTS`] of them).
    fn outputs(&self) -> &[f64];
    /// Applies a fault of the plant from now on.
    fn inject(&mut self, fault: PlantFault);
}

/// The plant behind the ABI: the model, or NaN outputs once it panicked.
struct Held<M> {
    model: M,
    failed: bool,
    nan: Vec<f64>,
}

/// The descriptor of `M`, as [`export_model!`] exports it.
pub const fn descriptor<M: Model>() -> ModelDescriptor {
    ModelDescriptor {
        magic: MAGIC,
        abi_major: ABI_MAJOR,
        abi_minor: ABI_MINOR,
        size: std::mem::size_of::<ModelDescriptor>() as u32,
        name: Str::new(M::NAME),
        summary: Str::new(M::SUMMARY),
        sites: M::SITES.as_ptr(),
        n_sites: M::SITES.len(),
        params: M::PARAMS.as_ptr(),
        n_params: M::PARAMS.len(),
        events: M::EVENTS.as_ptr(),
        n_events: M::EVENTS.len(),
        n_outputs: M::OUTPUTS,
        create: create::<M>,
        step: step::<M>,
        outputs: outputs::<M>,
        inject: inject::<M>,
        destroy: destroy::<M>,
    }
}

/// Writes `message` into the host's buffer, cut at a character boundary.
///
/// # Safety
/// As [`ModelDescriptor::create`].
unsafe fn report(message: &str, error: *mut u8, cap: usize, len: *mut usize) {
    let mut n = message.len().min(cap);
    while !message.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: the host gave `cap` writable bytes at `error` and a writable `len`.
    unsafe {
        std::ptr::copy_nonoverlapping(message.as_ptr(), error, n);
        *len = n;
    }
}

unsafe extern "C" fn create<M: Model>(
    values: *const f64,
    n_values: usize,
    error: *mut u8,
    error_cap: usize,
    error_len: *mut usize,
) -> *mut c_void {
    if n_values != M::PARAMS.len() {
        let message = format!("{} values for {} parameters", n_values, M::PARAMS.len());
        // SAFETY: as the caller's contract.
        unsafe { report(&message, error, error_cap, error_len) };
        return std::ptr::null_mut();
    }
    // SAFETY: the host passes `n_values` numbers.
    let params = unsafe { std::slice::from_raw_parts(values, n_values) };
    let made = catch_unwind(|| M::create(params));
    let message = match made {
        Ok(Ok(model)) => {
            let held = Held {
                model,
                failed: false,
                nan: vec![f64::NAN; M::OUTPUTS],
            };
            return Box::into_raw(Box::new(held)).cast();
        }
        Ok(Err(message)) => message,
        Err(_) => "the model panicked while being built".to_string(),
    };
    // SAFETY: as the caller's contract.
    unsafe { report(&message, error, error_cap, error_len) };
    std::ptr::null_mut()
}

unsafe extern "C" fn step<M: Model>(plant: *mut c_void, inputs: *const f64, dt_s: f64) {
    // SAFETY: `plant` came from `create::<M>`; `inputs` points at MAX_INPUTS numbers.
    let (held, inputs) = unsafe {
        (
            &mut *plant.cast::<Held<M>>(),
            &*inputs.cast::<[f64; MAX_INPUTS]>(),
        )
    };
    if held.failed {
        return;
    }
    let model = AssertUnwindSafe(&mut held.model);
    let ok = catch_unwind(move || {
        let m = model;
        m.0.step(inputs, dt_s);
        m.0.outputs().len() == M::OUTPUTS
    });
    held.failed = !matches!(ok, Ok(true));
}

unsafe extern "C" fn outputs<M: Model>(plant: *const c_void) -> *const f64 {
    // SAFETY: `plant` came from `create::<M>`.
    let held = unsafe { &*plant.cast::<Held<M>>() };
    if held.failed {
        held.nan.as_ptr()
    } else {
        held.model.outputs().as_ptr()
    }
}

unsafe extern "C" fn inject<M: Model>(plant: *mut c_void, fault: FaultCode) {
    // SAFETY: `plant` came from `create::<M>`.
    let held = unsafe { &mut *plant.cast::<Held<M>>() };
    let Some(fault) = fault.decode() else {
        return;
    };
    if held.failed {
        return;
    }
    let model = AssertUnwindSafe(&mut held.model);
    held.failed = catch_unwind(move || {
        let m = model;
        m.0.inject(fault)
    })
    .is_err();
}

unsafe extern "C" fn destroy<M: Model>(plant: *mut c_void) {
    // SAFETY: `plant` came from `create::<M>` and is not used again.
    drop(unsafe { Box::from_raw(plant.cast::<Held<M>>()) });
}

/// Exports `$model` (a [`Model`]) as the library's model: the `perfuse_model_descriptor` symbol.
#[macro_export]
macro_rules! export_model {
    ($model:ty) => {
        static PERFUSE_MODEL_DESCRIPTOR: $crate::ModelDescriptor = $crate::descriptor::<$model>();

        /// The model's descriptor, read by the host when it loads the library.
        #[unsafe(no_mangle)]
        pub extern "C" fn perfuse_model_descriptor() -> *const $crate::ModelDescriptor {
            &PERFUSE_MODEL_DESCRIPTOR
        }
    };
}
