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
//!
//! The SDK depends on nothing of the core, and the core's types never appear here.

pub mod metadata;

pub use metadata::ParamSpec;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// First field of every descriptor: "PRFS" in ASCII.
pub const MAGIC: u32 = 0x5052_4653;
/// ABI major version: a plugin with another major is refused.
pub const ABI_MAJOR: u16 = 1;
/// ABI minor version: grows when fields are appended.
pub const ABI_MINOR: u16 = 1;
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
}

/// A borrowed UTF-8 string: pointer and length, no terminator, never freed by the receiver.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StrRef {
    pub ptr: *const u8,
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
    pub name: StrRef,
    pub value: f64,
}

/// A buffer the plugin writes an error message into (truncated to fit).
#[repr(C)]
pub struct ErrorBuf {
    pub bytes: [u8; 512],
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
    pub const ERROR: u32 = 1;
    pub const WARN: u32 = 2;
    pub const INFO: u32 = 3;
    pub const DEBUG: u32 = 4;
}

/// What the host gives a plugin instance at creation.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct HostApi {
    /// Logs a message through the host's non-blocking logger; `msg` is valid for the call only.
    pub log: extern "C" fn(level: u32, msg: StrRef),
}

/// What a plugin instance is created with. Strings are valid for the `create` call only.
#[repr(C)]
pub struct CreateArgs {
    pub host: HostApi,
    pub params: *const Param,
    pub n_params: usize,
    /// Signal ids in the order of [`StepInput::values`].
    pub signals: *const StrRef,
    pub n_signals: usize,
    /// Phase ids in protocol order.
    pub phases: *const StrRef,
    pub n_phases: usize,
    /// The control tick period in seconds.
    pub period_s: f64,
    /// Actuator ids in the order of [`StepInput::commands`] and [`StepOutput::commands`] (1.1).
    pub actuators: *const StrRef,
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
    pub tick: u64,
    /// `tick × period`: plugins never read a clock.
    pub t_s: f64,
    pub phase: u32,
    pub phase_elapsed_s: f64,
    pub n_signals: u32,
    pub values: [f64; MAX_SIGNALS],
    pub validity: [u8; MAX_SIGNALS],
    /// The protocol file's setpoint for each signal in this phase (NaN where it has none).
    pub setpoints: [f64; MAX_SIGNALS],
    /// The command each actuator received on the previous tick (1.1).
    pub commands: [f64; MAX_ACTUATORS],
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
    pub t_s: f64,
    pub from: u32,
    pub to: u32,
}

/// The table of functions behind [`DESCRIPTOR_SYMBOL`].
#[repr(C)]
pub struct PluginDescriptor {
    pub magic: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    /// `size_of::<PluginDescriptor>()` as the plugin was built.
    pub size: u32,
    pub id: StrRef,
    pub version: StrRef,
    /// Checks the protocol file's parameters; writes the reason into `err` when it returns non-zero.
    pub validate: extern "C" fn(params: *const Param, n: usize, err: *mut ErrorBuf) -> i32,
    /// Creates an instance; null on failure, with the reason in `err`.
    pub create: extern "C" fn(args: *const CreateArgs, err: *mut ErrorBuf) -> *mut c_void,
    /// Number of derived values and their names (static strings, valid for the process).
    pub derived_names: extern "C" fn(out: *mut StrRef, cap: usize) -> usize,
    pub step:
        extern "C" fn(inst: *mut c_void, input: *const StepInput, out: *mut StepOutput) -> i32,
    pub phase_event: extern "C" fn(inst: *mut c_void, event: *const PhaseEvent) -> i32,
    pub destroy: extern "C" fn(inst: *mut c_void),
}

// SAFETY: the descriptor is immutable static data; its strings point at 'static literals.
unsafe impl Sync for PluginDescriptor {}

/// Parameters as the plugin sees them.
#[derive(Clone, Copy)]
pub struct Params<'a> {
    raw: &'a [Param],
}

impl<'a> Params<'a> {
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
    pub params: Params<'a>,
    pub signals: Vec<&'a str>,
    pub phases: Vec<&'a str>,
    pub actuators: Vec<&'a str>,
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
    pub fn log(&self, level: u32, msg: &str) {
        (self.host.log)(level, StrRef::new(msg));
    }
    pub fn info(&self, msg: &str) {
        self.log(level::INFO, msg);
    }
    pub fn warn(&self, msg: &str) {
        self.log(level::WARN, msg);
    }
}

/// A protocol plugin. Implement this and call [`export_plugin!`].
pub trait Protocol: Sized + 'static {
    /// Stable identifier that protocol files name, e.g. `"kidney"`.
    const ID: &'static str;
    /// Semantic version of this plugin, e.g. `"0.1.0"`.
    const VERSION: &'static str;
    /// Names of the derived values, in the order [`StepOutput::derived`] carries them.
    const DERIVED: &'static [&'static str];
    /// The parameters it accepts, with unit, range and default, read by the host from the
    /// library file without running it ([`metadata`]); none declared: the host checks nothing.
    const PARAMS: &'static [ParamSpec] = &[];

    /// Checks the parameters a protocol file passes; the message says which and why.
    fn validate(params: Params<'_>) -> Result<(), String>;
    /// Builds an instance; may allocate. Resolve signal and phase indices here, not in `step`.
    fn create(ctx: &CreateContext<'_>) -> Result<Self, String>;
    /// Called once per tick. Must not allocate, lock, block or format.
    fn step(&mut self, input: &StepInput, out: &mut StepOutput);
    /// Called after the host changed phase.
    fn phase_event(&mut self, _event: &PhaseEvent) {}
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

    fn params<'a>(ptr: *const Param, n: usize) -> Params<'a> {
        let raw = if ptr.is_null() || n == 0 {
            &[][..]
        } else {
            // SAFETY: the host passes `n` valid params for the duration of the call.
            unsafe { std::slice::from_raw_parts(ptr, n) }
        };
        Params { raw }
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
        match catch_unwind(|| P::validate(params(ptr, n))) {
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
                params: params(a.params, a.n_params),
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

/// Exports a [`Protocol`] implementation as a perfuse plugin.
///
/// ```ignore
/// perfuse_plugin_sdk::export_plugin!(MyProtocol);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($ty:ty) => {
        const _: () = {
            use $crate::{CreateArgs, ErrorBuf, Param, PhaseEvent, StepInput, StepOutput, StrRef};
            extern "C" fn __validate(p: *const Param, n: usize, e: *mut ErrorBuf) -> i32 {
                unsafe { $crate::__rt::validate::<$ty>(p, n, e) }
            }
            extern "C" fn __create(
                a: *const CreateArgs,
                e: *mut ErrorBuf,
            ) -> *mut ::std::ffi::c_void {
                unsafe { $crate::__rt::create::<$ty>(a, e) }
            }
            extern "C" fn __derived(o: *mut StrRef, c: usize) -> usize {
                unsafe { $crate::__rt::derived_names::<$ty>(o, c) }
            }
            extern "C" fn __step(
                i: *mut ::std::ffi::c_void,
                x: *const StepInput,
                o: *mut StepOutput,
            ) -> i32 {
                unsafe { $crate::__rt::step::<$ty>(i, x, o) }
            }
            extern "C" fn __phase(i: *mut ::std::ffi::c_void, e: *const PhaseEvent) -> i32 {
                unsafe { $crate::__rt::phase_event::<$ty>(i, e) }
            }
            extern "C" fn __destroy(i: *mut ::std::ffi::c_void) {
                unsafe { $crate::__rt::destroy::<$ty>(i) }
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
