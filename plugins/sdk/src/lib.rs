//! The perfuse plugin ABI and the SDK that protocol plugins are written with.
//!
//! A plugin is a `cdylib` that exports one symbol, [`DESCRIPTOR_SYMBOL`], a function returning a
//! pointer to a static [`PluginDescriptor`]. Everything that crosses the boundary is `#[repr(C)]`
//! plain data: numbers, fixed arrays, and borrowed strings ([`StrRef`]) that are valid for the
//! duration of one call unless stated otherwise. Nothing allocated on one side is freed on the other.
//!
//! Plugin authors do not touch the raw ABI: they implement [`Protocol`] and call
//! [`export_plugin!`], which generates the `extern "C"` functions and wraps every call in
//! `catch_unwind`, so a panic becomes an error code instead of aborting the host.
//!
//! # Versioning
//! [`ABI_MAJOR`] changes when a layout or a meaning changes; the host refuses a different major.
//! [`ABI_MINOR`] grows when fields are appended to the structures the host owns; the host accepts
//! a plugin built for its minor or an older one (which simply never touches the appended fields),
//! and refuses a plugin built for a newer minor than its own.
//!
//! - 1.0: signals, setpoint requests, phase advance, derived values.
//! - 1.1: actuator commands ([`CreateArgs::actuators`], [`StepInput::commands`],
//!   [`StepOutput::commands`]) and assessments ([`StepOutput::assessment`]).
//! - 1.2: saving and restoring an instance's state across a restart ([`PluginDescriptor::save`],
//!   [`PluginDescriptor::restore`], [`Protocol::save`], [`Protocol::restore`], [`state`]). The host
//!   reads the two appended fields only from plugins of minor 2 or later.
//! - 1.3: the range each setpoint request is clamped into ([`StepInput::band_min`],
//!   [`StepInput::band_max`]), appended to the input the host owns; a plugin of an older minor
//!   reads the shorter input it knows and loads as before.
//! - 1.4: values the plugin computes when it is created, which the protocol file names in its
//!   `computed` section and uses in place of numbers ([`PluginDescriptor::computed`],
//!   [`Protocol::computed`]). The host reads the appended field only from plugins of minor 4 or
//!   later; an older plugin computes none.
//!
//! The [`metadata`] record the export macro also writes (id, version, ABI, declared parameters)
//! has its own format version: a host reads it from the library file without running it.
//!
//! # Three version numbers
//! - The ABI version, [`ABI_MAJOR`]`.`[`ABI_MINOR`], is what the host checks: it says which
//!   layout the descriptor and the structures have. It is stamped into every plugin at build time.
//! - The SDK crate's own version (`perfuse-plugin-sdk` in its `Cargo.toml`) versions this Rust
//!   API: helpers may be added without any change of ABI. This SDK, version 0.3.0, speaks ABI 1.4;
//!   an ABI minor bump is at least a minor bump of the crate, an ABI major bump a major one.
//! - [`Protocol::VERSION`] is the plugin's own version, chosen by its author; protocol files
//!   require it with a semver range (`plugin: (id: "kidney", version: "^0.1")`).
//!
//! # What a plugin sees, and when
//! - [`Protocol::validate`] and [`Protocol::create`] run when a protocol is loaded: by `perfuse
//!   run` before the first tick, and by `perfuse check`, which creates an instance (and drops it)
//!   to prove that the file and the plugin agree. Neither may therefore have effects outside the
//!   instance (files, network, threads).
//! - [`Protocol::computed`] is asked right after `create`, once for each value the protocol
//!   file's `computed` section declares (a target worked out from the parameters, such as a full
//!   flow from the body surface); the host refuses the run when a value is missing, not finite
//!   or outside the file's interval, and writes the accepted ones into the plan, so the file
//!   names such a target once and `step` never has to repeat it to the core.
//! - [`Protocol::step`] runs once per control tick, on the control thread, with the tick's
//!   signals ([`StepInput`]). A reading whose [`StepInput::validity`] is not [`validity::OK`]
//!   still carries a number in [`StepInput::values`], but that number is whatever the sensor last
//!   delivered (an old, stuck or out-of-range value, or NaN), never a substitute: read the
//!   validity first, or read through [`StepInput::valid`]. An estimate with no valid input is NaN.
//! - Everything [`StepOutput`] carries is a request: the core clamps setpoints into the phase's
//!   band (which the plugin sees, [`StepInput::band_min`] and [`StepInput::band_max`]) and
//!   commands into the actuator's limits, and its alarms and safety actions do not depend on the
//!   plugin. A setpoint request the core had to clamp is recorded (an event when the clamping
//!   begins) and counted in the run summary.
//!
//! # Example
//! A complete plugin (this example is compiled and its test run by `cargo test --doc`):
//! it holds the perfusion-pressure setpoint the protocol file gives, and reports the flow
//! index (flow per 100 g of organ) as a derived value.
//!
//! ```
//! use perfuse_plugin_sdk::{
//!     CreateContext, ParamSpec, Protocol, StepInput, StepOutput, export_plugin, validity,
//! };
//!
//! pub struct FlowIndex {
//!     flow: usize,
//!     per_100g: f64,
//! }
//!
//! const PARAMS: &[ParamSpec<'static>] = &[ParamSpec::required("organ_mass_g", "g", 20.0, 3000.0)];
//!
//! impl Protocol for FlowIndex {
//!     const ID: &'static str = "flow-index";
//!     const VERSION: &'static str = "0.1.0";
//!     const DERIVED: &'static [&'static str] = &["flow_index_ml_min_100g"];
//!     const PARAMS: &'static [ParamSpec<'static>] = PARAMS;
//!
//!     // No `validate`: the declared range is checked by the host and the SDK.
//!
//!     fn create(ctx: &CreateContext<'_>) -> Result<Self, String> {
//!         let mass = ctx.params.value("organ_mass_g")?;
//!         Ok(FlowIndex { flow: ctx.signal("flow")?, per_100g: 100.0 / mass })
//!     }
//!
//!     fn step(&mut self, input: &StepInput, out: &mut StepOutput) {
//!         if let Some(flow) = input.valid(self.flow) {
//!             out.derived[0] = flow * self.per_100g;
//!         }
//!     }
//! }
//!
//! export_plugin!(FlowIndex);
//! # let mut input = StepInput { n_signals: 1, ..StepInput::default() };
//! # input.values[0] = 90.0;
//! # let mut p = FlowIndex { flow: 0, per_100g: 100.0 / 150.0 };
//! # let mut out = StepOutput::default();
//! # p.step(&input, &mut out);
//! # assert!((out.derived[0] - 60.0).abs() < 1e-9);
//! # input.validity[0] = validity::STALE;
//! # let mut out = StepOutput::default();
//! # p.step(&input, &mut out);
//! # assert!(out.derived[0].is_nan(), "a stale flow gives no index");
//! ```
//!
//! `perfuse new plugin ID` writes a crate like this, with unit tests and a protocol file.
//!
//! The SDK depends on nothing of the core, and the core's types never appear here.

#![deny(missing_docs)]

pub mod metadata;

pub use metadata::ParamSpec;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// First field of every descriptor: "PRFS" in ASCII.
pub const MAGIC: u32 = 0x5052_4653;
/// ABI major version: a plugin with another major is refused.
pub const ABI_MAJOR: u16 = 1;
/// ABI minor version: grows when fields are appended.
pub const ABI_MINOR: u16 = 4;
/// Size in bytes of a [`PluginDescriptor`] as ABI 1.0 laid it out (every field up to and
/// including `destroy`; 1.0 and 1.1 descriptors are this size): no 1.x descriptor is smaller.
pub const DESCRIPTOR_SIZE_1_0: usize = 96;
/// The one symbol a plugin library exports (NUL-terminated for `dlsym`).
pub const DESCRIPTOR_SYMBOL: &[u8] = b"perfuse_plugin_descriptor_v1\0";

/// Most signals (sensors plus estimates) a protocol may declare.
pub const MAX_SIGNALS: usize = 48;
/// Most actuators a protocol may declare.
pub const MAX_ACTUATORS: usize = 16;
/// Most derived values a plugin may report.
pub const MAX_DERIVED: usize = 16;
/// Most numeric parameters a protocol may pass to its plugin.
pub const MAX_PARAMS: usize = 32;

/// Return codes of the ABI functions.
pub mod status {
    /// The call succeeded.
    pub const OK: i32 = 0;
    /// The plugin refused its input (details in the error buffer where there is one).
    pub const INVALID: i32 = 1;
    /// The plugin panicked; the panic was caught at the boundary.
    pub const PANICKED: i32 = 2;
    /// `save`'s buffer is too small; the needed size is in its `len` (1.2).
    pub const BUFFER_TOO_SMALL: i32 = 3;
}

/// A borrowed UTF-8 string: pointer and length, no terminator, never freed by the receiver.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StrRef {
    /// The first byte; null only for an empty string.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl StrRef {
    /// Borrows `s`; the caller keeps `s` alive for as long as the receiver may read it.
    pub const fn new(s: &str) -> Self {
        StrRef {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// An empty string.
    pub const fn empty() -> Self {
        StrRef {
            ptr: std::ptr::null(),
            len: 0,
        }
    }

    /// Reads the string back.
    ///
    /// # Safety
    /// `ptr` must point to `len` bytes that stay valid for `'a`.
    pub unsafe fn as_str<'a>(&self) -> Option<&'a str> {
        if self.ptr.is_null() {
            return if self.len == 0 { Some("") } else { None };
        }
        // SAFETY: guaranteed by the caller.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.len) };
        std::str::from_utf8(bytes).ok()
    }
}

/// One numeric parameter from the protocol file's `plugin_params`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Param {
    /// The parameter's name, as the file spells it.
    pub name: StrRef,
    /// Its value.
    pub value: f64,
}

/// A buffer the plugin writes an error message into (truncated to fit).
#[repr(C)]
pub struct ErrorBuf {
    /// The message's bytes (UTF-8), of which the first `len` are used.
    pub bytes: [u8; 512],
    /// Length of the message in bytes.
    pub len: usize,
}

impl Default for ErrorBuf {
    fn default() -> Self {
        ErrorBuf {
            bytes: [0; 512],
            len: 0,
        }
    }
}

impl ErrorBuf {
    /// Writes `msg`, cut at a character boundary if it does not fit.
    pub fn write(&mut self, msg: &str) {
        let mut end = msg.len().min(self.bytes.len());
        while !msg.is_char_boundary(end) {
            end -= 1;
        }
        self.bytes[..end].copy_from_slice(&msg.as_bytes()[..end]);
        self.len = end;
    }

    /// The message written so far.
    pub fn message(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len.min(self.bytes.len())]).unwrap_or("")
    }
}

/// Log levels of the host's log callback (same order as the `log` crate).
pub mod level {
    /// Something failed.
    pub const ERROR: u32 = 1;
    /// Something is wrong but the plugin goes on.
    pub const WARN: u32 = 2;
    /// Worth knowing in a normal run.
    pub const INFO: u32 = 3;
    /// Detail for the plugin's author.
    pub const DEBUG: u32 = 4;
}

/// What the host gives a plugin instance at creation.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct HostApi {
    /// Logs a message through the host's non-blocking logger; `msg` is valid for the call only.
    ///
    /// # Safety
    /// `msg` points at `len` readable bytes for the duration of the call.
    pub log: unsafe extern "C" fn(level: u32, msg: StrRef),
}

/// What a plugin instance is created with. Strings are valid for the `create` call only.
#[repr(C)]
pub struct CreateArgs {
    /// The host's functions.
    pub host: HostApi,
    /// The protocol file's `plugin_params`, in file order.
    pub params: *const Param,
    /// Number of entries behind `params`.
    pub n_params: usize,
    /// Signal ids in the order of [`StepInput::values`].
    pub signals: *const StrRef,
    /// Number of entries behind `signals`.
    pub n_signals: usize,
    /// Phase ids in protocol order.
    pub phases: *const StrRef,
    /// Number of entries behind `phases`.
    pub n_phases: usize,
    /// The control tick period in seconds.
    pub period_s: f64,
    /// Actuator ids in the order of [`StepInput::commands`] and [`StepOutput::commands`] (1.1).
    pub actuators: *const StrRef,
    /// Number of entries behind `actuators` (1.1).
    pub n_actuators: usize,
}

/// Validity of one signal value in [`StepInput`].
pub mod validity {
    /// A fresh, plausible reading or an estimate from such readings.
    pub const OK: u8 = 0;
    /// No new reading arrived in time.
    pub const STALE: u8 = 1;
    /// Outside the channel's absolute range, or not finite.
    pub const IMPLAUSIBLE: u8 = 2;
    /// The reading has not changed for longer than the channel allows.
    pub const STUCK: u8 = 3;
}

/// What the host passes to every step: the tick's signals and the phase.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct StepInput {
    /// Number of this tick, from 0 at the start of the run.
    pub tick: u64,
    /// `tick × period`: plugins never read a clock.
    pub t_s: f64,
    /// Index of the current phase in protocol order ([`CreateContext::phases`]).
    pub phase: u32,
    /// Seconds since the current phase started.
    pub phase_elapsed_s: f64,
    /// Number of signals in use at the front of `values`, `validity` and `setpoints`.
    pub n_signals: u32,
    /// Each signal's value this tick, in the order of [`CreateContext::signals`]. Where
    /// `validity` is not [`validity::OK`] the number is what the sensor last delivered (old,
    /// stuck, out of range or NaN): never use it without checking. An estimate without valid
    /// input is NaN.
    pub values: [f64; MAX_SIGNALS],
    /// Each signal's [`validity`] code.
    pub validity: [u8; MAX_SIGNALS],
    /// The protocol file's setpoint for each signal in this phase (NaN where it has none).
    pub setpoints: [f64; MAX_SIGNALS],
    /// The command each actuator received on the previous tick (1.1).
    pub commands: [f64; MAX_ACTUATORS],
    /// The lowest setpoint the host accepts from the plugin for each signal in this phase: the
    /// phase's band where it sets one, else the signal's range; a request below it is raised to
    /// it (and reported). NaN where the phase gives the signal no setpoint, so a request for it
    /// is ignored (1.3).
    pub band_min: [f64; MAX_SIGNALS],
    /// The highest setpoint the host accepts, as [`StepInput::band_min`] (1.3).
    pub band_max: [f64; MAX_SIGNALS],
}

/// An input for a plugin's unit tests: tick 0, phase 0, no signals in use, every value 0 and
/// [`validity::OK`], no setpoints and no bands (NaN), every previous command 0. The host fills
/// its own.
impl Default for StepInput {
    fn default() -> Self {
        StepInput {
            tick: 0,
            t_s: 0.0,
            phase: 0,
            phase_elapsed_s: 0.0,
            n_signals: 0,
            values: [0.0; MAX_SIGNALS],
            validity: [validity::OK; MAX_SIGNALS],
            setpoints: [f64::NAN; MAX_SIGNALS],
            commands: [0.0; MAX_ACTUATORS],
            band_min: [f64::NAN; MAX_SIGNALS],
            band_max: [f64::NAN; MAX_SIGNALS],
        }
    }
}

impl StepInput {
    /// Signal `i`'s value when its reading is valid ([`validity::OK`]), else `None`: the one
    /// way a plugin should read [`StepInput::values`], since an invalid slot holds whatever the
    /// sensor last delivered.
    pub fn valid(&self, i: usize) -> Option<f64> {
        (self.validity[i] == validity::OK).then_some(self.values[i])
    }
}

/// What a step returns. The host treats all of it as an untrusted request.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct StepOutput {
    /// Requested setpoint per signal; NaN leaves the protocol file's setpoint in force.
    pub setpoints: [f64; MAX_SIGNALS],
    /// Non-zero asks the host to end the current phase at this tick.
    pub advance_phase: u8,
    /// Derived values in the order of [`Protocol::DERIVED`]; NaN while not yet defined.
    pub derived: [f64; MAX_DERIVED],
    /// Requested command per actuator that has no control loop in the protocol file (an infusion
    /// pump, the ventilator's settings); NaN keeps its current command (1.1). The core clamps it
    /// to the actuator's range, rate limit, dose cap and every safety action.
    pub commands: [f64; MAX_ACTUATORS],
    /// Non-zero records the derived values of this tick as a time-stamped assessment (1.1).
    pub assessment: u8,
}

impl Default for StepOutput {
    fn default() -> Self {
        StepOutput {
            setpoints: [f64::NAN; MAX_SIGNALS],
            advance_phase: 0,
            derived: [f64::NAN; MAX_DERIVED],
            commands: [f64::NAN; MAX_ACTUATORS],
            assessment: 0,
        }
    }
}

/// A phase change, told to the plugin after the host made it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PhaseEvent {
    /// Run time of the change in seconds.
    pub t_s: f64,
    /// Index of the phase that ended.
    pub from: u32,
    /// Index of the phase that began.
    pub to: u32,
}

/// The table of functions behind [`DESCRIPTOR_SYMBOL`].
///
/// Every function is `unsafe` to call: the callee trusts the pointers it is given. The caller
/// passes pointers that are null or valid (and, for outputs, exclusive) for the duration of the
/// call, counts that match them, and instance pointers that `create` of the same descriptor
/// returned and `destroy` has not yet freed; it calls an instance from one thread at a time.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PluginDescriptor {
    /// [`MAGIC`].
    pub magic: u32,
    /// [`ABI_MAJOR`] as the plugin was built.
    pub abi_major: u16,
    /// [`ABI_MINOR`] as the plugin was built.
    pub abi_minor: u16,
    /// `size_of::<PluginDescriptor>()` as the plugin was built.
    pub size: u32,
    /// [`Protocol::ID`] (static, valid for the process).
    pub id: StrRef,
    /// [`Protocol::VERSION`] (static, valid for the process).
    pub version: StrRef,
    /// Checks the protocol file's parameters; writes the reason into `err` when it returns non-zero.
    pub validate: unsafe extern "C" fn(params: *const Param, n: usize, err: *mut ErrorBuf) -> i32,
    /// Creates an instance; null on failure, with the reason in `err`.
    pub create: unsafe extern "C" fn(args: *const CreateArgs, err: *mut ErrorBuf) -> *mut c_void,
    /// Number of derived values and their names (static strings, valid for the process).
    pub derived_names: unsafe extern "C" fn(out: *mut StrRef, cap: usize) -> usize,
    /// One tick: reads `input`, writes requests into `out`. Before each call the host resets
    /// `out`'s setpoints and commands to NaN and its flags to 0; `derived` keeps what the
    /// plugin last wrote.
    pub step: unsafe extern "C" fn(
        inst: *mut c_void,
        input: *const StepInput,
        out: *mut StepOutput,
    ) -> i32,
    /// Tells the instance about a phase change the host made.
    pub phase_event: unsafe extern "C" fn(inst: *mut c_void, event: *const PhaseEvent) -> i32,
    /// Frees an instance; it is not used again.
    pub destroy: unsafe extern "C" fn(inst: *mut c_void),
    /// Writes the instance's state into the host's buffer `buf` of `cap` bytes and its size into
    /// `len`; when `cap` is too small it writes nothing else, sets `len` to the size needed and
    /// returns [`status::BUFFER_TOO_SMALL`]. Called between ticks only. `None`: no state (1.2).
    pub save: Option<
        unsafe extern "C" fn(inst: *mut c_void, buf: *mut u8, cap: usize, len: *mut usize) -> i32,
    >,
    /// Replaces the state of a freshly created instance with `len` bytes that `save` wrote
    /// (borrowed for the call); [`status::INVALID`] when they are not a state it understands.
    /// Called before the first tick of a resumed run. `None`: no state (1.2).
    pub restore:
        Option<unsafe extern "C" fn(inst: *mut c_void, bytes: *const u8, len: usize) -> i32>,
    /// Writes into `out` the value the instance computed at creation under `name` (borrowed for
    /// the call), one the protocol file's `computed` section declares; [`status::INVALID`] when
    /// it computes none of that name. Called once per declared name after `create`, before the
    /// first tick. `None`: computes no value (1.4).
    pub computed:
        Option<unsafe extern "C" fn(inst: *mut c_void, name: StrRef, out: *mut f64) -> i32>,
}

/// The layouts are the ABI: a change that moves a field fails the build here, not a plugin at
/// run time. Offsets are those of a 64-bit target, the only one perfuse runs on.
#[cfg(target_pointer_width = "64")]
const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<StrRef>() == 16 && offset_of!(StrRef, len) == 8);
    assert!(size_of::<Param>() == 24 && offset_of!(Param, value) == 16);
    assert!(size_of::<ErrorBuf>() == 520 && offset_of!(ErrorBuf, len) == 512);
    assert!(size_of::<HostApi>() == 8);
    assert!(offset_of!(CreateArgs, host) == 0);
    assert!(offset_of!(CreateArgs, params) == 8);
    assert!(offset_of!(CreateArgs, n_params) == 16);
    assert!(offset_of!(CreateArgs, signals) == 24);
    assert!(offset_of!(CreateArgs, n_signals) == 32);
    assert!(offset_of!(CreateArgs, phases) == 40);
    assert!(offset_of!(CreateArgs, n_phases) == 48);
    assert!(offset_of!(CreateArgs, period_s) == 56);
    assert!(offset_of!(CreateArgs, actuators) == 64);
    assert!(offset_of!(CreateArgs, n_actuators) == 72);
    assert!(size_of::<CreateArgs>() == 80);
    assert!(offset_of!(StepInput, tick) == 0);
    assert!(offset_of!(StepInput, t_s) == 8);
    assert!(offset_of!(StepInput, phase) == 16);
    assert!(offset_of!(StepInput, phase_elapsed_s) == 24);
    assert!(offset_of!(StepInput, n_signals) == 32);
    assert!(offset_of!(StepInput, values) == 40);
    assert!(offset_of!(StepInput, validity) == 40 + 8 * MAX_SIGNALS);
    assert!(offset_of!(StepInput, setpoints) == 40 + 9 * MAX_SIGNALS);
    assert!(offset_of!(StepInput, commands) == 40 + 17 * MAX_SIGNALS);
    // 1.3 appended the bands.
    assert!(offset_of!(StepInput, band_min) == 40 + 17 * MAX_SIGNALS + 8 * MAX_ACTUATORS);
    assert!(offset_of!(StepInput, band_max) == 40 + 25 * MAX_SIGNALS + 8 * MAX_ACTUATORS);
    assert!(size_of::<StepInput>() == 40 + 33 * MAX_SIGNALS + 8 * MAX_ACTUATORS);
    assert!(offset_of!(StepOutput, setpoints) == 0);
    assert!(offset_of!(StepOutput, advance_phase) == 8 * MAX_SIGNALS);
    assert!(offset_of!(StepOutput, derived) == 8 * MAX_SIGNALS + 8);
    assert!(offset_of!(StepOutput, commands) == 8 * (MAX_SIGNALS + 1 + MAX_DERIVED));
    assert!(
        offset_of!(StepOutput, assessment) == 8 * (MAX_SIGNALS + 1 + MAX_DERIVED + MAX_ACTUATORS)
    );
    assert!(size_of::<StepOutput>() == 8 * (MAX_SIGNALS + 2 + MAX_DERIVED + MAX_ACTUATORS));
    assert!(size_of::<PhaseEvent>() == 16 && offset_of!(PhaseEvent, to) == 12);
    assert!(offset_of!(PluginDescriptor, magic) == 0);
    assert!(offset_of!(PluginDescriptor, abi_major) == 4);
    assert!(offset_of!(PluginDescriptor, abi_minor) == 6);
    assert!(offset_of!(PluginDescriptor, size) == 8);
    assert!(offset_of!(PluginDescriptor, id) == 16);
    assert!(offset_of!(PluginDescriptor, version) == 32);
    assert!(offset_of!(PluginDescriptor, validate) == 48);
    assert!(offset_of!(PluginDescriptor, create) == 56);
    assert!(offset_of!(PluginDescriptor, derived_names) == 64);
    assert!(offset_of!(PluginDescriptor, step) == 72);
    assert!(offset_of!(PluginDescriptor, phase_event) == 80);
    assert!(offset_of!(PluginDescriptor, destroy) == 88);
    // ABI 1.0 ended after `destroy`; 1.2 appended `save` and `restore`.
    assert!(offset_of!(PluginDescriptor, save) == DESCRIPTOR_SIZE_1_0);
    assert!(offset_of!(PluginDescriptor, restore) == DESCRIPTOR_SIZE_1_0 + 8);
    // 1.4 appended `computed`.
    assert!(offset_of!(PluginDescriptor, computed) == DESCRIPTOR_SIZE_1_0 + 16);
    assert!(size_of::<PluginDescriptor>() == DESCRIPTOR_SIZE_1_0 + 24);
    assert!(align_of::<PluginDescriptor>() == 8);
    // `Option` of a function pointer is a nullable pointer: `None` is null on the C side.
    assert!(size_of::<Option<unsafe extern "C" fn(*mut c_void)>>() == 8);
};

// SAFETY: the descriptor is immutable static data; its strings point at 'static literals.
unsafe impl Sync for PluginDescriptor {}

/// Parameters as the plugin sees them: the file's values, and the plugin's declared
/// [`Protocol::PARAMS`] for their defaults.
#[derive(Clone, Copy)]
pub struct Params<'a> {
    raw: &'a [Param],
    declared: &'a [ParamSpec<'a>],
}

impl<'a> Params<'a> {
    /// Parameters for a plugin's unit tests: `raw` as the file would give them, `declared` as
    /// the plugin declares them (its [`Protocol::PARAMS`]).
    pub fn new(raw: &'a [Param], declared: &'a [ParamSpec<'a>]) -> Self {
        Params { raw, declared }
    }

    /// The file's value of the declared parameter `name`, or its declared default; an error
    /// naming it when it has neither (an optional parameter the file left out, or a name the
    /// plugin does not declare). The host has already checked every given value against its
    /// declared range, so a plugin reads its parameters with this and checks nothing again.
    pub fn value(&self, name: &str) -> Result<f64, String> {
        self.declared
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| format!("the plugin declares no parameter `{name}`"))?
            .value(self)
            .ok_or_else(|| format!("missing plugin parameter `{name}`"))
    }

    /// Looks a parameter up by name.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// All parameters, in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, f64)> + 'a {
        // SAFETY: the host keeps the names alive for the duration of the call.
        self.raw
            .iter()
            .map(|p| (unsafe { p.name.as_str() }.unwrap_or(""), p.value))
    }

    /// A required parameter, or an error naming it.
    pub fn require(&self, name: &str) -> Result<f64, String> {
        self.get(name)
            .ok_or_else(|| format!("missing plugin parameter `{name}`"))
    }
}

/// What [`Protocol::create`] is given.
pub struct CreateContext<'a> {
    /// The protocol file's `plugin_params`.
    pub params: Params<'a>,
    /// Signal ids in the order of [`StepInput::values`] (see [`CreateContext::signal`]).
    pub signals: Vec<&'a str>,
    /// Phase ids in protocol order, the indices of [`StepInput::phase`].
    pub phases: Vec<&'a str>,
    /// Actuator ids in the order of [`StepInput::commands`] and [`StepOutput::commands`].
    pub actuators: Vec<&'a str>,
    /// The control tick period in seconds.
    pub period_s: f64,
    host: HostApi,
}

impl CreateContext<'_> {
    /// Index of a signal by id, or an error naming it.
    pub fn signal(&self, id: &str) -> Result<usize, String> {
        self.signals
            .iter()
            .position(|s| *s == id)
            .ok_or_else(|| format!("the protocol declares no signal `{id}`"))
    }

    /// Index of an actuator by id, or an error naming it.
    pub fn actuator(&self, id: &str) -> Result<usize, String> {
        self.actuators
            .iter()
            .position(|s| *s == id)
            .ok_or_else(|| format!("the protocol declares no actuator `{id}`"))
    }

    /// Index of a phase by id, or an error naming it.
    pub fn phase(&self, id: &str) -> Result<usize, String> {
        self.phases
            .iter()
            .position(|s| *s == id)
            .ok_or_else(|| format!("the protocol declares no phase `{id}`"))
    }

    /// A logger that stays valid for the instance's life.
    pub fn logger(&self) -> Logger {
        Logger { host: self.host }
    }
}

/// Sends messages to the host's logger. Formatting allocates: avoid it inside `step`.
#[derive(Clone, Copy)]
pub struct Logger {
    host: HostApi,
}

impl Logger {
    /// Logs `msg` at a [`level`].
    pub fn log(&self, level: u32, msg: &str) {
        // SAFETY: `msg` outlives the call, and the host's log function reads it only during it.
        unsafe { (self.host.log)(level, StrRef::new(msg)) };
    }
    /// Logs `msg` at [`level::INFO`].
    pub fn info(&self, msg: &str) {
        self.log(level::INFO, msg);
    }
    /// Logs `msg` at [`level::WARN`].
    pub fn warn(&self, msg: &str) {
        self.log(level::WARN, msg);
    }
}

/// A protocol plugin. Implement this and call [`export_plugin!`].
///
/// The host calls an instance one call at a time, but not always from the same thread (a run
/// whose plugin call hangs goes on on a new control thread): hence `Send`.
pub trait Protocol: Sized + Send + 'static {
    /// Stable identifier that protocol files name, e.g. `"kidney"`.
    const ID: &'static str;
    /// Semantic version of this plugin, e.g. `"0.1.0"`: the plugin's own, which protocol files
    /// require with a range; neither the SDK crate's version nor the ABI version.
    const VERSION: &'static str;
    /// Names of the derived values, in the order [`StepOutput::derived`] carries them.
    const DERIVED: &'static [&'static str];
    /// The parameters it takes from `plugin_params`, with unit, range and default. They are
    /// written into the library's [`metadata`] record, so the host refuses unknown, missing and
    /// out-of-range values before it opens the library, and `perfuse plugins` lists them; the
    /// SDK checks them again before [`Protocol::validate`]. None declared (the default): the
    /// plugin checks its own.
    const PARAMS: &'static [ParamSpec<'static>] = &[];

    /// Checks what [`Protocol::PARAMS`] cannot say about the file's parameters (how two of
    /// them relate, a parameter that another requires); the message says which and why. Each
    /// declared parameter's presence and range is checked before this is called. The default
    /// accepts what the declarations accept.
    fn validate(_params: Params<'_>) -> Result<(), String> {
        Ok(())
    }
    /// Builds an instance; may allocate. Resolve signal and phase indices here, not in `step`.
    /// Runs when a protocol is loaded: before a run's first tick, and also in `perfuse check`,
    /// which drops the instance again; so no effects outside the instance.
    fn create(ctx: &CreateContext<'_>) -> Result<Self, String>;
    /// Called once per tick. Must not allocate, lock, block or format.
    fn step(&mut self, input: &StepInput, out: &mut StepOutput);
    /// Called after the host changed phase.
    fn phase_event(&mut self, _event: &PhaseEvent) {}
    /// Writes what the instance has accumulated during the run (not what `create` derives from
    /// the parameters), so that a restarted controller continues where it was (1.2). Called
    /// between ticks; may allocate. The default writes nothing: a plugin without run state.
    fn save(&self, _out: &mut state::Writer) {}
    /// Reads back what [`Protocol::save`] wrote, into an instance just made by `create`. An
    /// error (a short or malformed state) faults the plugin in the resumed run (1.2).
    fn restore(&mut self, input: &mut state::Reader<'_>) -> Result<(), String> {
        input.finish()
    }
    /// The value this instance computed in `create` under `name` (e.g. full flow from the
    /// patient's body surface), for the protocol file's `computed` section: the file writes it
    /// once and uses `Of("name", factor)` wherever a setpoint, band edge or rule limit needs
    /// it. The host asks once per declared name before the first tick and refuses to run when a
    /// value is missing, not finite or outside the interval the file declares (1.4). The
    /// default computes none.
    fn computed(&self, _name: &str) -> Option<f64> {
        None
    }
}

pub mod state {
    //! A small, explicit byte encoding for [`Protocol::save`](crate::Protocol::save) and
    //! [`Protocol::restore`](crate::Protocol::restore): fields are written and read back in the
    //! same order, little-endian, without names. The host stores the bytes with the plugin's id
    //! and version and restores them only into the same plugin version.

    /// Collects the bytes of a saved state.
    #[derive(Debug, Default)]
    pub struct Writer {
        bytes: Vec<u8>,
    }

    impl Writer {
        /// An empty state.
        pub fn new() -> Self {
            Writer::default()
        }

        /// Appends one field.
        pub fn put<T: Field>(&mut self, value: &T) -> &mut Self {
            value.put(self);
            self
        }

        /// The bytes written so far.
        pub fn bytes(&self) -> &[u8] {
            &self.bytes
        }

        fn raw(&mut self, b: &[u8]) {
            self.bytes.extend_from_slice(b);
        }
    }

    /// Reads a saved state back, field by field.
    #[derive(Debug)]
    pub struct Reader<'a> {
        bytes: &'a [u8],
        pos: usize,
    }

    impl<'a> Reader<'a> {
        /// Reads `bytes` from the start.
        pub fn new(bytes: &'a [u8]) -> Self {
            Reader { bytes, pos: 0 }
        }

        /// Reads the next field.
        pub fn get<T: Field>(&mut self) -> Result<T, String> {
            T::get(self)
        }

        /// Reads the next field into `slot`.
        pub fn read<T: Field>(&mut self, slot: &mut T) -> Result<(), String> {
            *slot = T::get(self)?;
            Ok(())
        }

        /// Succeeds when every byte was read: a longer state is not the one this plugin wrote.
        pub fn finish(&self) -> Result<(), String> {
            match self.bytes.len() - self.pos {
                0 => Ok(()),
                n => Err(format!(
                    "{n} unexpected byte(s) at the end of the saved state"
                )),
            }
        }

        fn raw<const N: usize>(&mut self) -> Result<[u8; N], String> {
            let end = self.pos + N;
            let chunk = self.bytes.get(self.pos..end).ok_or_else(|| {
                format!(
                    "the saved state ends at byte {} where {N} more were expected",
                    self.bytes.len()
                )
            })?;
            self.pos = end;
            let mut out = [0; N];
            out.copy_from_slice(chunk);
            Ok(out)
        }
    }

    /// A value that can be saved and restored.
    pub trait Field: Sized {
        /// Appends the value's bytes.
        fn put(&self, w: &mut Writer);
        /// Reads a value back; an error when the state ends early or is not such a value.
        fn get(r: &mut Reader<'_>) -> Result<Self, String>;
    }

    impl Field for f64 {
        fn put(&self, w: &mut Writer) {
            w.raw(&self.to_le_bytes());
        }
        fn get(r: &mut Reader<'_>) -> Result<Self, String> {
            r.raw().map(f64::from_le_bytes)
        }
    }

    impl Field for u64 {
        fn put(&self, w: &mut Writer) {
            w.raw(&self.to_le_bytes());
        }
        fn get(r: &mut Reader<'_>) -> Result<Self, String> {
            r.raw().map(u64::from_le_bytes)
        }
    }

    impl Field for u32 {
        fn put(&self, w: &mut Writer) {
            w.raw(&self.to_le_bytes());
        }
        fn get(r: &mut Reader<'_>) -> Result<Self, String> {
            r.raw().map(u32::from_le_bytes)
        }
    }

    impl Field for usize {
        fn put(&self, w: &mut Writer) {
            (*self as u64).put(w);
        }
        fn get(r: &mut Reader<'_>) -> Result<Self, String> {
            let v = u64::get(r)?;
            usize::try_from(v).map_err(|_| format!("{v} does not fit this machine's usize"))
        }
    }

    impl Field for bool {
        fn put(&self, w: &mut Writer) {
            w.raw(&[u8::from(*self)]);
        }
        fn get(r: &mut Reader<'_>) -> Result<Self, String> {
            match r.raw::<1>()? {
                [0] => Ok(false),
                [1] => Ok(true),
                [b] => Err(format!("{b} is not a saved boolean")),
            }
        }
    }

    impl<T: Field> Field for Option<T> {
        fn put(&self, w: &mut Writer) {
            self.is_some().put(w);
            if let Some(v) = self {
                v.put(w);
            }
        }
        fn get(r: &mut Reader<'_>) -> Result<Self, String> {
            if bool::get(r)? {
                T::get(r).map(Some)
            } else {
                Ok(None)
            }
        }
    }

    impl<T: Field + Copy + Default, const N: usize> Field for [T; N] {
        fn put(&self, w: &mut Writer) {
            for v in self {
                v.put(w);
            }
        }
        fn get(r: &mut Reader<'_>) -> Result<Self, String> {
            let mut out = [T::default(); N];
            for slot in &mut out {
                *slot = T::get(r)?;
            }
            Ok(out)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn fields_read_back_in_order_and_a_wrong_length_is_an_error() {
            let mut w = Writer::new();
            w.put(&1.5f64)
                .put(&7u64)
                .put(&Some(3u32))
                .put(&None::<f64>)
                .put(&true)
                .put(&[1.0f64, f64::NAN]);
            let mut r = Reader::new(w.bytes());
            assert_eq!(r.get::<f64>(), Ok(1.5));
            assert_eq!(r.get::<u64>(), Ok(7));
            assert_eq!(r.get::<Option<u32>>(), Ok(Some(3)));
            assert_eq!(r.get::<Option<f64>>(), Ok(None));
            assert_eq!(r.get::<bool>(), Ok(true));
            let a: [f64; 2] = r.get().unwrap();
            assert_eq!(a[0], 1.0);
            assert!(a[1].is_nan());
            assert_eq!(r.finish(), Ok(()));

            let mut short = Reader::new(&w.bytes()[..4]);
            let err = short.get::<f64>().unwrap_err();
            assert!(err.contains("ends at byte 4"), "{err}");
            let mut long = Reader::new(w.bytes());
            long.get::<f64>().unwrap();
            assert!(long.finish().unwrap_err().contains("unexpected byte"));
        }
    }
}

/// Declares a plugin's derived values by name, so that `step` sets fields instead of writing
/// [`StepOutput::derived`] by position.
///
/// It expands to a struct with one public `f64` field per value (NaN: not yet defined), with
/// `NAMES` (the field names in declaration order: the plugin's [`Protocol::DERIVED`]),
/// `UNDEFINED` (every value NaN), `write` (into a [`StepOutput`]) and `read` (back out of one,
/// for unit tests). More than [`MAX_DERIVED`] values fail the build.
///
/// ```
/// perfuse_plugin_sdk::derived_values! {
///     /// What the plugin reports.
///     pub struct Derived {
///         /// Mean pressure over flow, mmHg·min/mL.
///         resistance_index,
///         /// Minutes with flow above 5 mL/min.
///         perfused_min,
///     }
/// }
/// assert_eq!(Derived::NAMES, ["resistance_index", "perfused_min"]);
/// let mut out = perfuse_plugin_sdk::StepOutput::default();
/// Derived { resistance_index: 0.3, ..Derived::UNDEFINED }.write(&mut out);
/// assert_eq!(out.derived[0], 0.3);
/// assert!(Derived::read(&out).perfused_min.is_nan());
/// ```
#[macro_export]
macro_rules! derived_values {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$field_meta:meta])* $field:ident),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq)]
        $vis struct $name {
            $($(#[$field_meta])* pub $field: f64,)+
        }

        impl $name {
            /// The values' names in [`StepOutput::derived`]($crate::StepOutput::derived) order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($field)),+];
            /// Every value undefined (NaN).
            pub const UNDEFINED: Self = $name { $($field: f64::NAN),+ };

            /// Writes every value into `out.derived`, in declaration order.
            pub fn write(&self, out: &mut $crate::StepOutput) {
                const {
                    assert!(
                        $name::NAMES.len() <= $crate::MAX_DERIVED,
                        "more derived values than MAX_DERIVED"
                    )
                };
                let values = [$(self.$field),+];
                out.derived[..values.len()].copy_from_slice(&values);
            }

            /// The values `out.derived` holds, by name.
            pub fn read(out: &$crate::StepOutput) -> Self {
                let mut slots = out.derived.iter().copied();
                $name { $($field: slots.next().unwrap_or(f64::NAN)),+ }
            }
        }
    };
}

#[doc(hidden)]
pub mod __rt {
    //! Glue the export macro expands to; not part of the public API.
    //!
    //! # Safety
    //! Every function here is called only by the host through the descriptor, with pointers
    //! that are null or valid for the duration of the call as the ABI documents, and with
    //! instance pointers that came from `create::<P>` of the same `P`.
    use super::*;

    fn params<'a, P: Protocol>(ptr: *const Param, n: usize) -> Params<'a> {
        let raw = if ptr.is_null() || n == 0 {
            &[][..]
        } else {
            // SAFETY: the host passes `n` valid params for the duration of the call.
            unsafe { std::slice::from_raw_parts(ptr, n) }
        };
        Params::new(raw, P::PARAMS)
    }

    fn strs<'a>(ptr: *const StrRef, n: usize) -> Vec<&'a str> {
        if ptr.is_null() || n == 0 {
            return Vec::new();
        }
        // SAFETY: the host passes `n` valid strings for the duration of the call.
        let raw = unsafe { std::slice::from_raw_parts(ptr, n) };
        raw.iter()
            .map(|s| unsafe { s.as_str() }.unwrap_or(""))
            .collect()
    }

    fn write_err(err: *mut ErrorBuf, msg: &str) {
        if !err.is_null() {
            // SAFETY: the host passes a valid, exclusive buffer.
            unsafe { (*err).write(msg) };
        }
    }

    /// # Safety
    /// See the module documentation.
    pub unsafe fn validate<P: Protocol>(ptr: *const Param, n: usize, err: *mut ErrorBuf) -> i32 {
        let checked = |p: Params<'_>| {
            if !P::PARAMS.is_empty() {
                metadata::check(P::PARAMS, p.iter()).map_err(|e| e.message)?;
            }
            P::validate(p)
        };
        match catch_unwind(|| checked(params::<P>(ptr, n))) {
            Ok(Ok(())) => status::OK,
            Ok(Err(msg)) => {
                write_err(err, &msg);
                status::INVALID
            }
            Err(_) => {
                write_err(err, "the plugin panicked while validating its parameters");
                status::PANICKED
            }
        }
    }

    /// # Safety
    /// See the module documentation.
    pub unsafe fn create<P: Protocol>(args: *const CreateArgs, err: *mut ErrorBuf) -> *mut c_void {
        if args.is_null() {
            write_err(err, "no creation arguments");
            return std::ptr::null_mut();
        }
        // SAFETY: checked non-null; the host keeps it valid for the call.
        let a = unsafe { &*args };
        let result = catch_unwind(AssertUnwindSafe(|| {
            let ctx = CreateContext {
                params: params::<P>(a.params, a.n_params),
                signals: strs(a.signals, a.n_signals),
                phases: strs(a.phases, a.n_phases),
                actuators: strs(a.actuators, a.n_actuators),
                period_s: a.period_s,
                host: a.host,
            };
            P::create(&ctx)
        }));
        match result {
            Ok(Ok(inst)) => Box::into_raw(Box::new(inst)).cast(),
            Ok(Err(msg)) => {
                write_err(err, &msg);
                std::ptr::null_mut()
            }
            Err(_) => {
                write_err(err, "the plugin panicked while creating its instance");
                std::ptr::null_mut()
            }
        }
    }

    /// # Safety
    /// See the module documentation.
    pub unsafe fn derived_names<P: Protocol>(out: *mut StrRef, cap: usize) -> usize {
        let names = P::DERIVED;
        if !out.is_null() {
            for (i, name) in names.iter().take(cap).enumerate() {
                // SAFETY: the host passes room for `cap` entries.
                unsafe { out.add(i).write(StrRef::new(name)) };
            }
        }
        names.len()
    }

    /// # Safety
    /// See the module documentation.
    pub unsafe fn step<P: Protocol>(
        inst: *mut c_void,
        input: *const StepInput,
        out: *mut StepOutput,
    ) -> i32 {
        if inst.is_null() || input.is_null() || out.is_null() {
            return status::INVALID;
        }
        let result = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: `inst` came from `create::<P>`; the host passes valid, exclusive frames.
            let (p, i, o) = unsafe { (&mut *inst.cast::<P>(), &*input, &mut *out) };
            p.step(i, o);
        }));
        if result.is_ok() {
            status::OK
        } else {
            status::PANICKED
        }
    }

    /// # Safety
    /// See the module documentation.
    pub unsafe fn phase_event<P: Protocol>(inst: *mut c_void, event: *const PhaseEvent) -> i32 {
        if inst.is_null() || event.is_null() {
            return status::INVALID;
        }
        let result = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: as in `step`.
            let (p, e) = unsafe { (&mut *inst.cast::<P>(), &*event) };
            p.phase_event(e);
        }));
        if result.is_ok() {
            status::OK
        } else {
            status::PANICKED
        }
    }

    /// # Safety
    /// See the module documentation; `buf` has room for `cap` bytes, `len` is valid.
    pub unsafe fn save<P: Protocol>(
        inst: *mut c_void,
        buf: *mut u8,
        cap: usize,
        len: *mut usize,
    ) -> i32 {
        if inst.is_null() || len.is_null() || (buf.is_null() && cap > 0) {
            return status::INVALID;
        }
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut w = state::Writer::new();
            // SAFETY: `inst` came from `create::<P>`.
            unsafe { &*inst.cast::<P>() }.save(&mut w);
            w
        }));
        let Ok(w) = result else {
            return status::PANICKED;
        };
        let bytes = w.bytes();
        // SAFETY: the host passes a valid `len`; the state stays in the plugin's own allocation,
        // only copied into the host's buffer.
        unsafe { *len = bytes.len() };
        if bytes.len() > cap {
            return status::BUFFER_TOO_SMALL;
        }
        if !bytes.is_empty() {
            // SAFETY: `buf` has room for `cap >= bytes.len()` bytes.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len()) };
        }
        status::OK
    }

    /// # Safety
    /// See the module documentation; `bytes` points at `len` bytes valid for the call.
    pub unsafe fn restore<P: Protocol>(inst: *mut c_void, bytes: *const u8, len: usize) -> i32 {
        if inst.is_null() || (bytes.is_null() && len > 0) {
            return status::INVALID;
        }
        let raw = if len == 0 {
            &[][..]
        } else {
            // SAFETY: the host passes `len` valid bytes for the duration of the call.
            unsafe { std::slice::from_raw_parts(bytes, len) }
        };
        let result = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: `inst` came from `create::<P>` and nothing else uses it during the call.
            let p = unsafe { &mut *inst.cast::<P>() };
            let mut r = state::Reader::new(raw);
            p.restore(&mut r).and_then(|()| r.finish())
        }));
        match result {
            Ok(Ok(())) => status::OK,
            Ok(Err(_)) => status::INVALID,
            Err(_) => status::PANICKED,
        }
    }

    /// # Safety
    /// See the module documentation; `name` is valid for the call and `out` is valid.
    pub unsafe fn computed<P: Protocol>(inst: *mut c_void, name: StrRef, out: *mut f64) -> i32 {
        if inst.is_null() || out.is_null() {
            return status::INVALID;
        }
        // SAFETY: the host passes a string valid for this call.
        let Some(name) = (unsafe { name.as_str() }) else {
            return status::INVALID;
        };
        // SAFETY: `inst` came from `create::<P>` and nothing else uses it during the call.
        let p = unsafe { &*inst.cast::<P>() };
        match catch_unwind(AssertUnwindSafe(|| p.computed(name))) {
            Ok(Some(v)) => {
                // SAFETY: checked non-null; the host passes a valid, exclusive out-parameter.
                unsafe { *out = v };
                status::OK
            }
            Ok(None) => status::INVALID,
            Err(_) => status::PANICKED,
        }
    }

    /// # Safety
    /// See the module documentation.
    pub unsafe fn destroy<P: Protocol>(inst: *mut c_void) {
        if inst.is_null() {
            return;
        }
        // SAFETY: `inst` came from `Box::into_raw` in `create::<P>` and is destroyed once.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            drop(unsafe { Box::from_raw(inst.cast::<P>()) })
        }));
    }
}

/// Exports a [`Protocol`] implementation as a perfuse plugin: the descriptor, the
/// [`DESCRIPTOR_SYMBOL`] function returning it, and the [`metadata`] record. Call it once per
/// `cdylib` crate, as in the crate-level example.
#[macro_export]
macro_rules! export_plugin {
    ($ty:ty) => {
        const _: () = {
            // Each entry point is an `unsafe extern "C" fn`: the host calls it under the contract
            // of `PluginDescriptor` (valid or null pointers, live instances, one thread at a
            // time), which is the `# Safety` condition of the `__rt` function it forwards to.
            use $crate::{CreateArgs, ErrorBuf, Param, PhaseEvent, StepInput, StepOutput, StrRef};
            unsafe extern "C" fn __validate(p: *const Param, n: usize, e: *mut ErrorBuf) -> i32 {
                unsafe { $crate::__rt::validate::<$ty>(p, n, e) }
            }
            unsafe extern "C" fn __create(
                a: *const CreateArgs,
                e: *mut ErrorBuf,
            ) -> *mut ::std::ffi::c_void {
                unsafe { $crate::__rt::create::<$ty>(a, e) }
            }
            unsafe extern "C" fn __derived(o: *mut StrRef, c: usize) -> usize {
                unsafe { $crate::__rt::derived_names::<$ty>(o, c) }
            }
            unsafe extern "C" fn __step(
                i: *mut ::std::ffi::c_void,
                x: *const StepInput,
                o: *mut StepOutput,
            ) -> i32 {
                unsafe { $crate::__rt::step::<$ty>(i, x, o) }
            }
            unsafe extern "C" fn __phase(i: *mut ::std::ffi::c_void, e: *const PhaseEvent) -> i32 {
                unsafe { $crate::__rt::phase_event::<$ty>(i, e) }
            }
            unsafe extern "C" fn __destroy(i: *mut ::std::ffi::c_void) {
                unsafe { $crate::__rt::destroy::<$ty>(i) }
            }
            unsafe extern "C" fn __save(
                i: *mut ::std::ffi::c_void,
                b: *mut u8,
                c: usize,
                l: *mut usize,
            ) -> i32 {
                unsafe { $crate::__rt::save::<$ty>(i, b, c, l) }
            }
            unsafe extern "C" fn __restore(
                i: *mut ::std::ffi::c_void,
                b: *const u8,
                l: usize,
            ) -> i32 {
                unsafe { $crate::__rt::restore::<$ty>(i, b, l) }
            }
            unsafe extern "C" fn __computed(
                i: *mut ::std::ffi::c_void,
                n: StrRef,
                o: *mut f64,
            ) -> i32 {
                unsafe { $crate::__rt::computed::<$ty>(i, n, o) }
            }
            static DESCRIPTOR: $crate::PluginDescriptor = $crate::PluginDescriptor {
                magic: $crate::MAGIC,
                abi_major: $crate::ABI_MAJOR,
                abi_minor: $crate::ABI_MINOR,
                size: ::std::mem::size_of::<$crate::PluginDescriptor>() as u32,
                id: StrRef::new(<$ty as $crate::Protocol>::ID),
                version: StrRef::new(<$ty as $crate::Protocol>::VERSION),
                validate: __validate,
                create: __create,
                derived_names: __derived,
                step: __step,
                phase_event: __phase,
                destroy: __destroy,
                save: Some(__save),
                restore: Some(__restore),
                computed: Some(__computed),
            };
            // Read from the file by the host before the library is ever opened.
            #[used]
            #[unsafe(link_section = ".perfuse_plugin")]
            static METADATA: [u8; $crate::metadata::SIZE] = $crate::metadata::record::<$ty>();
            #[unsafe(no_mangle)]
            pub extern "C" fn perfuse_plugin_descriptor_v1() -> *const $crate::PluginDescriptor {
                &DESCRIPTOR
            }
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A protocol with a little state, called through the same glue the export macro uses.
    struct Count {
        n: u64,
    }

    impl Protocol for Count {
        const ID: &'static str = "count";
        const VERSION: &'static str = "0.1.0";
        const DERIVED: &'static [&'static str] = &[];
        fn validate(_: Params<'_>) -> Result<(), String> {
            Ok(())
        }
        fn create(_: &CreateContext<'_>) -> Result<Self, String> {
            Ok(Count { n: 0 })
        }
        fn step(&mut self, _: &StepInput, _: &mut StepOutput) {}
        fn save(&self, out: &mut state::Writer) {
            assert!(self.n != 13, "unlucky");
            out.put(&self.n);
        }
        fn restore(&mut self, input: &mut state::Reader<'_>) -> Result<(), String> {
            input.read(&mut self.n)
        }
    }

    fn instance(n: u64) -> *mut c_void {
        Box::into_raw(Box::new(Count { n })).cast()
    }

    #[test]
    fn save_reports_the_size_it_needs_and_restore_checks_the_length() {
        let inst = instance(42);
        let mut len = 0;
        let mut small = [0u8; 4];
        let code = unsafe { __rt::save::<Count>(inst, small.as_mut_ptr(), 4, &mut len) };
        assert_eq!((code, len), (status::BUFFER_TOO_SMALL, 8));
        assert_eq!(small, [0; 4], "nothing written into a short buffer");
        let mut buf = [0u8; 16];
        let code = unsafe { __rt::save::<Count>(inst, buf.as_mut_ptr(), 16, &mut len) };
        assert_eq!((code, len), (status::OK, 8));

        let other = instance(0);
        let code = unsafe { __rt::restore::<Count>(other, buf.as_ptr(), 8) };
        assert_eq!(code, status::OK);
        assert_eq!(unsafe { &*other.cast::<Count>() }.n, 42);
        let short = unsafe { __rt::restore::<Count>(other, buf.as_ptr(), 7) };
        let long = unsafe { __rt::restore::<Count>(other, buf.as_ptr(), 9) };
        assert_eq!((short, long), (status::INVALID, status::INVALID));

        let unlucky = instance(13);
        let code = unsafe { __rt::save::<Count>(unlucky, buf.as_mut_ptr(), 16, &mut len) };
        assert_eq!(code, status::PANICKED, "a panic is caught at the boundary");
        for i in [inst, other, unlucky] {
            unsafe { __rt::destroy::<Count>(i) };
        }
    }
}
