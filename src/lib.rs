//! The `perfuse` command line's wiring, as a library: [`wiring`] builds and drives runs with
//! their outputs and record, re-runs records (resume, replay, summary); [`records`] lists and
//! exports them; [`check`] reports every problem of protocol files; [`pin`] pins their plugin; [`models`] lists the simulator's models; [`scaffold`] makes a new plugin crate; [`devsim`] serves the simulator as Modbus devices; [`sweep`] runs many cohort members of a protocol in parallel and joins shards;
//! [`signals`] turns SIGINT and SIGTERM into a graceful stop; [`exit`] names the
//! exit statuses. `main.rs` only parses arguments and calls these.

pub mod check;
pub mod devsim;
pub mod exit;
pub mod models;
pub mod pin;
pub mod records;
pub mod scaffold;
pub mod signals;
pub mod sweep;
pub mod wiring;
