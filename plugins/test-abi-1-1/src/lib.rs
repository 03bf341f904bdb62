//! Test fixture: a plugin built as ABI 1.1 defined it, before save/restore (1.2) was appended.
//! Its descriptor is the 1.1 layout, declares minor 1 and is shorter than a 1.2 descriptor, so
//! the host must run it without ever reading past its end, and save no state for it.
//!
//! The protocol: it requests nothing and reports the steps it has taken since it was created
//! (which a restart therefore starts again from 0). It accepts any parameters.

use perfuse_plugin_sdk::{
    __rt, ABI_MAJOR, CreateArgs, CreateContext, ErrorBuf, MAGIC, Param, Params, PhaseEvent,
    Protocol, StepInput, StepOutput, StrRef,
};
use std::ffi::c_void;

pub struct Counter {
    steps: f64,
}

impl Protocol for Counter {
    const ID: &'static str = "test-abi-1-1";
    const VERSION: &'static str = "0.1.0";
    const DERIVED: &'static [&'static str] = &["steps"];

    fn validate(_params: Params<'_>) -> Result<(), String> {
        Ok(())
    }

    fn create(_ctx: &CreateContext<'_>) -> Result<Self, String> {
        Ok(Counter { steps: 0.0 })
    }

    fn step(&mut self, _input: &StepInput, out: &mut StepOutput) {
        self.steps += 1.0;
        out.derived[0] = self.steps;
    }
}

/// The descriptor exactly as ABI 1.1 laid it out: it ends after `destroy`.
#[repr(C)]
pub struct DescriptorV1_1 {
    pub magic: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    pub size: u32,
    pub id: StrRef,
    pub version: StrRef,
    pub validate: extern "C" fn(*const Param, usize, *mut ErrorBuf) -> i32,
    pub create: extern "C" fn(*const CreateArgs, *mut ErrorBuf) -> *mut c_void,
    pub derived_names: extern "C" fn(*mut StrRef, usize) -> usize,
    pub step: extern "C" fn(*mut c_void, *const StepInput, *mut StepOutput) -> i32,
    pub phase_event: extern "C" fn(*mut c_void, *const PhaseEvent) -> i32,
    pub destroy: extern "C" fn(*mut c_void),
}

// SAFETY: immutable static data; its strings point at 'static literals.
unsafe impl Sync for DescriptorV1_1 {}

// The same catch_unwind wrappers the 1.1 export macro generated.
extern "C" fn validate(p: *const Param, n: usize, e: *mut ErrorBuf) -> i32 {
    unsafe { __rt::validate::<Counter>(p, n, e) }
}
extern "C" fn create(a: *const CreateArgs, e: *mut ErrorBuf) -> *mut c_void {
    unsafe { __rt::create::<Counter>(a, e) }
}
extern "C" fn derived_names(o: *mut StrRef, c: usize) -> usize {
    unsafe { __rt::derived_names::<Counter>(o, c) }
}
extern "C" fn step(i: *mut c_void, x: *const StepInput, o: *mut StepOutput) -> i32 {
    unsafe { __rt::step::<Counter>(i, x, o) }
}
extern "C" fn phase_event(i: *mut c_void, e: *const PhaseEvent) -> i32 {
    unsafe { __rt::phase_event::<Counter>(i, e) }
}
extern "C" fn destroy(i: *mut c_void) {
    unsafe { __rt::destroy::<Counter>(i) }
}

static DESCRIPTOR: DescriptorV1_1 = DescriptorV1_1 {
    magic: MAGIC,
    abi_major: ABI_MAJOR,
    abi_minor: 1,
    size: std::mem::size_of::<DescriptorV1_1>() as u32,
    id: StrRef::new(Counter::ID),
    version: StrRef::new(Counter::VERSION),
    validate,
    create,
    derived_names,
    step,
    phase_event,
    destroy,
};

/// The descriptor symbol, as a 1.1 plugin exported it.
#[unsafe(no_mangle)]
pub extern "C" fn perfuse_plugin_descriptor_v1() -> *const DescriptorV1_1 {
    &DESCRIPTOR
}
