//! Test fixture: a library that exports the perfuse descriptor symbol but declares ABI major
//! `ABI_MAJOR + 1`. The host must refuse it before opening it (its constructor leaves a mark),
//! and every function here reports failure: if the host ever called one, the test would see it.

use perfuse_plugin_sdk::{
    ABI_MAJOR, ABI_MINOR, CreateArgs, ErrorBuf, MAGIC, Param, PhaseEvent, PluginDescriptor,
    StepInput, StepOutput, StrRef, status,
};
use std::ffi::c_void;

extern "C" fn validate(_: *const Param, _: usize, _: *mut ErrorBuf) -> i32 {
    status::INVALID
}
extern "C" fn create(_: *const CreateArgs, _: *mut ErrorBuf) -> *mut c_void {
    std::ptr::null_mut()
}
extern "C" fn derived_names(_: *mut StrRef, _: usize) -> usize {
    0
}
extern "C" fn step(_: *mut c_void, _: *const StepInput, _: *mut StepOutput) -> i32 {
    status::INVALID
}
extern "C" fn phase_event(_: *mut c_void, _: *const PhaseEvent) -> i32 {
    status::INVALID
}
extern "C" fn destroy(_: *mut c_void) {}

static DESCRIPTOR: PluginDescriptor = PluginDescriptor {
    magic: MAGIC,
    abi_major: ABI_MAJOR + 1,
    abi_minor: ABI_MINOR,
    size: std::mem::size_of::<PluginDescriptor>() as u32,
    id: StrRef::new("test-wrong-abi"),
    version: StrRef::new("0.1.0"),
    validate,
    create,
    derived_names,
    step,
    phase_event,
    destroy,
};

/// Its metadata record, declaring the same future ABI: the host refuses the file from this
/// record alone, without opening it.
#[used]
#[unsafe(link_section = ".perfuse_plugin")]
static METADATA: [u8; perfuse_plugin_sdk::metadata::SIZE] = perfuse_plugin_sdk::metadata::record_of(
    "test-wrong-abi",
    "0.1.0",
    &[],
    (ABI_MAJOR + 1, ABI_MINOR),
);

/// A constructor, run by the dynamic loader when the library is opened: it creates the file
/// `$PERFUSE_TEST_CONSTRUCTOR_MARKER` names, so a test can see whether the host opened it.
#[used]
#[unsafe(link_section = ".init_array")]
static CONSTRUCTOR: extern "C" fn() = mark_opened;

extern "C" fn mark_opened() {
    if let Some(path) = std::env::var_os("PERFUSE_TEST_CONSTRUCTOR_MARKER") {
        let _ = std::fs::write(path, b"opened");
    }
}

/// The descriptor symbol, as a real plugin exports it.
#[unsafe(no_mangle)]
pub extern "C" fn perfuse_plugin_descriptor_v1() -> *const PluginDescriptor {
    &DESCRIPTOR
}
