//! End-to-end tests of the simulated device through its public API and the `Hal` trait.

mod common;

mod config_errors;
mod determinism;
mod faults;
mod hmp;
mod nmp;
mod ttl;
