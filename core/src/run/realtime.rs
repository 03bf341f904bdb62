//! The real-time driver: ticks at absolute deadlines; the HAL on its own thread behind bounded
//! channels that the control thread only touches with `try_send` and `try_recv` ([`spawn_hal`],
//! in perfuse-hal, re-exported here).
//!
//! A tick that misses its deadline by more than a period is counted and the missed ticks are
//! skipped, never bunched up: tick indices keep matching wall time.

use super::supervise::{self, Budget, Pace, Watch};
use super::{Run, StopRequest};
pub use crate::hal::rt::Priority;
pub use crate::hal::{HalChannels, spawn_hal};
use std::time::{Duration, Instant};

/// A plugin step may take half a tick in real time: beyond that the tick misses its deadline.
const REALTIME_STEP_BUDGET: f64 = 0.5;

/// Runs `run` to its end in real time on a supervised control thread; returns the run and the
/// number of overruns (missed deadlines). A stop request (a signal) ends the run like the
/// operator's Stop, between two ticks. A plugin call longer than half a tick is given up within
/// the next tick, and the watchdog raises `controller_not_responding` on every output when no
/// tick finishes for [`supervise::STALL`]. With a `priority` the control thread runs under
/// `SCHED_FIFO` at it and its supervisor one above.
pub fn run(run: Run, stop: &StopRequest, priority: Option<Priority>) -> (Run, u64) {
    let period = Duration::from_secs_f64(run.plan.period_s);
    let watch = Watch {
        budget: Budget::Wall(REALTIME_STEP_BUDGET * run.plan.period_s),
        // Often enough to give up a hung call within a tick after its budget.
        poll: (period / 4).clamp(Duration::from_millis(1), Duration::from_millis(20)),
        watchdog: true,
        priority,
    };
    let pace = RealTime {
        stop: stop.clone(),
        start: Instant::now(),
        first: run.tick(),
        overruns: 0,
        lateness: super::lateness::Lateness::default(),
    };
    let (mut run, pace) = supervise::drive(run, pace, watch);
    run.lateness = Some(pace.lateness);
    (run, pace.overruns)
}

/// The real-time driver's pacing: absolute deadlines from the start.
struct RealTime {
    stop: StopRequest,
    start: Instant,
    /// A resumed run starts at its restored tick, not at 0.
    first: u64,
    overruns: u64,
    /// How late each tick started after its deadline.
    lateness: super::lateness::Lateness,
}

impl Pace for RealTime {
    fn go_on(&mut self, run: &mut Run) -> bool {
        if run.finished() {
            return false;
        }
        if let Some(sig) = self.stop.signal() {
            run.stop_by_signal(sig);
            return false;
        }
        true
    }

    fn after_tick(&mut self, run: &mut Run) {
        run.read_outputs_health();
        run.offer_state();
        let mut next = run.tick();
        let now = Instant::now();
        let elapsed = now.duration_since(self.start).as_secs_f64();
        let behind = self.first + (elapsed / run.plan.period_s) as u64;
        if behind > next {
            // Skip the ticks whose deadlines have passed; count every missed deadline, and tell
            // the tick, whose `tick_overrun` alarm reports it.
            self.overruns += behind - next;
            next = behind;
            let state = run.tick_state_mut();
            state.now.clock.tick = next;
            let alarms = &mut state.alarms;
            alarms.overruns.total = self.overruns;
            alarms.overruns.last_tick = Some(next);
        }
        let deadline =
            self.start + Duration::from_secs_f64((next - self.first) as f64 * run.plan.period_s);
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        self.lateness
            .record(Instant::now().saturating_duration_since(deadline), next);
    }
}
