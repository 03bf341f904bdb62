//! The end-to-end tests, one test binary (one link of the whole program instead of one per file):
//! each module is one area. To add one, put `NAME.rs` in this folder and a `mod NAME;` line below.
//! Separate binaries, on purpose: `tests/modbus.rs` (real-time runs across processes, one at a
//! time) and `tests/stall.rs` (wall-clock bounds of a stalled control thread), which need the
//! machine to themselves rather than beside this binary's other tests.

#[path = "../common/mod.rs"]
mod common;

mod actuator_feedback;
mod alarms;
mod attacks;
mod check;
mod clamped_requests;
mod cli;
mod clinical_basis;
mod cohort;
mod computed;
mod console;
mod cpb;
mod derived_rules;
mod ecmo;
mod evnp_score;
mod fault_matrix;
mod faults;
mod fidelity;
mod heart;
mod hipec;
mod hithoc;
mod ilp;
mod kidney;
mod labs;
mod liver;
mod liver_criteria;
mod lung;
mod model_plugins;
mod models;
mod monitor;
mod operator;
mod phase_exit;
mod plugin_dev;
mod plugin_faults;
mod plugins;
mod readme;
mod realtime;
mod record;
mod report;
mod resume;
mod run_params;
mod ta_nrp;
