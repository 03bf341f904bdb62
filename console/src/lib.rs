//! The operator's console: a full-screen terminal view of a run, and the keyboard's way to act
//! on it.
//!
//! It is an output like the status lines: it takes the tick's frames from its own bounded queue
//! on its own thread ([`spawn`]) and never blocks the control thread. What the operator does goes
//! back to the tick through a second bounded queue, as [`LiveInput`], which the Sample stage
//! drains with `try_recv`: the same checks, refusals and record as `--commands`. A frozen or
//! closed terminal only holds this thread (its frames are dropped, counted); a failing or
//! panicking console restores the terminal and carries on as status lines on stderr.
//!
//! [`LiveInput`]: perfuse_core::tick::operator::LiveInput

pub mod alarm_signal;
pub mod draw;
pub mod keys;
mod terminal;
pub mod view;

use perfuse_core::run::status::StatusNames;

pub use terminal::{spawn, supervise};

/// What the console shows besides the frames.
#[derive(Debug, Clone)]
pub struct Setup {
    pub names: StatusNames,
    /// The record's file, as the header names it (`None`: not recorded).
    pub record: Option<String>,
    /// With `--duration`: the tick the run ends at.
    pub end_tick: Option<u64>,
    /// How the run is paced, for the header: `real time`, `×60`.
    pub pace: String,
    /// Simulated time between status lines on stderr should the console fail.
    pub status_every_ticks: u64,
}
