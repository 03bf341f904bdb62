//! SIGINT and SIGTERM end a run like the operator's Stop: the handler only stores the signal's
//! number, which the driver reads between ticks. A second SIGINT exits at once (status 130);
//! the record stays consistent, since SQLite commits are atomic.

use perfuse_core::run::StopRequest;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Installs the handlers and returns the stop request they set.
pub fn install() -> Result<StopRequest, String> {
    let stop = StopRequest::default();
    let interrupted = Arc::new(AtomicBool::new(false));
    let fail = |e: std::io::Error| format!("cannot install the signal handlers: {e}");
    // Registered first, so it sees the flag as the previous SIGINT left it.
    signal_hook::flag::register_conditional_shutdown(SIGINT, 130, interrupted.clone())
        .map_err(fail)?;
    signal_hook::flag::register(SIGINT, interrupted).map_err(fail)?;
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_usize(sig, stop.0.clone(), sig as usize).map_err(fail)?;
    }
    Ok(stop)
}

/// A run with the console outlives its terminal: a hang-up (the terminal closed) no longer ends
/// the process; the console notices its terminal gone and the run goes on, recorded.
pub fn survive_hangup() -> Result<(), String> {
    signal_hook::flag::register(SIGHUP, Arc::new(AtomicBool::new(false)))
        .map(|_| ())
        .map_err(|e| format!("cannot install the hang-up handler: {e}"))
}
