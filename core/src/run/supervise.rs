//! Supervised driving: the control loop runs on a thread of its own, watched by the thread that
//! started the run.
//!
//! The plugin is called between the tick's two halves with the run released (see
//! `tick::plugin_call`): a call that does not return holds nothing the run needs. When a call
//! overruns its budget the supervisor gives it up, and a new control thread finishes that tick
//! without the plugin (the Protocol stage marks it faulted, HIGH `plugin_fault`) and carries the
//! run on to its end on the last setpoints. Foreign code cannot be stopped safely, so the hung
//! thread is left where it is; should its call ever return, it finds the run gone on and ends.
//!
//! The budget:
//! - real time: wall time from the call's start (half a tick by default);
//! - lockstep: the CPU time the control thread spends in the call, so neither the machine's load
//!   nor a paused process changes a record; a call that blocks without using the CPU is given up
//!   after [`BLOCKED`] of the supervisor's own watching.
//!
//! In real time the supervisor is also the watchdog of the whole tick, whatever stops it (a
//! device call that blocks, a bug, the machine): see [`Watchdog`].

use super::Run;
use crate::hal::rt::{self, Priority};
use crate::output::{Frame, FrameSender};
use crate::tick::plugin_call::PluginCall;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a lockstep call may block (using no CPU) before it is given up, counted in the
/// supervisor's polls so that a paused process does not count.
pub const BLOCKED: Duration = Duration::from_secs(5);

/// Silence of the ticks after which the watchdog raises its alarm (or two periods, for a
/// protocol with long ticks): with its polling, within half a second of the last tick.
pub const STALL: Duration = Duration::from_millis(400);

/// How a driver paces its ticks: the part of the driver that moves with the run when a new
/// control thread takes it over.
pub trait Pace: Send + 'static {
    /// Before a tick: whether to run it (`false`: the run is over, or a stop request was
    /// carried out).
    fn go_on(&mut self, run: &mut Run) -> bool;
    /// After a tick (the clock already moved on): outputs, device time, deadlines.
    fn after_tick(&mut self, run: &mut Run);
}

/// What a plugin call may take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// Wall time from the call's start, in seconds (real time).
    Wall(f64),
    /// CPU time of the control thread in the call, in seconds (lockstep).
    Cpu(f64),
}

/// How the supervisor watches a run.
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    pub budget: Budget,
    /// How often it looks.
    pub poll: Duration,
    /// Whether the watchdog watches the ticks (real time only: in lockstep, time is simulated
    /// and a stall harms no device).
    pub watchdog: bool,
    /// Real-time scheduling: the control thread at this priority, the supervisor one above it
    /// (checked at start with [`crate::hal::rt::check`]).
    pub priority: Option<Priority>,
}

/// What the control threads share with the supervisor.
struct Handoff<P> {
    /// The run and its pacing; a control thread holds it except while the plugin is called.
    state: Mutex<Option<(Run, P)>>,
    /// Even: no call out; odd: a call is out. The control thread that made the call and the
    /// supervisor race to move it to the next even number: whoever wins owns what follows.
    call: AtomicU64,
    /// When the call out started, in nanoseconds from `origin` (timed calls only).
    call_started_ns: AtomicU64,
    /// Ticks done: the watchdog's heartbeat.
    beat: AtomicU64,
    /// Whether a watchdog reads the heartbeat (without one, the clock is not looked up for it).
    beating: bool,
    origin: Instant,
}

impl<P> Handoff<P> {
    fn lock(&self) -> MutexGuard<'_, Option<(Run, P)>> {
        // A poisoned lock means a control thread panicked; the supervisor re-raises that panic.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

type Done<P> = Sender<(Run, P)>;

/// Runs `run` on a control thread until `pace` says it is over, watching it as `watch` says;
/// returns the run and its pacing at the end.
pub fn drive<P: Pace>(mut run: Run, pace: P, watch: Watch) -> (Run, P) {
    let timed = matches!(watch.budget, Budget::Wall(_));
    run.tick_state_mut().protocol.slot.wall_budget_s = match watch.budget {
        Budget::Wall(s) => Some(s),
        Budget::Cpu(_) => None,
    };
    let mut watchdog = watch.watchdog.then(|| Watchdog::new(&run));
    let handoff = Arc::new(Handoff {
        state: Mutex::new(Some((run, pace))),
        call: AtomicU64::new(0),
        call_started_ns: AtomicU64::new(0),
        beat: AtomicU64::new(0),
        beating: watchdog.is_some(),
        origin: Instant::now(),
    });
    let (done_tx, done_rx) = bounded(1);
    let _policy = watch.priority.map(Elevated::supervisor);
    let priority = watch.priority;
    let mut control = match ControlThread::spawn(&handoff, &done_tx, timed, priority, false) {
        Ok(c) => c,
        Err(e) => return unsupervised(&handoff, &done_tx, &done_rx, timed, false, &e),
    };
    let mut call = CallWatch::default();
    loop {
        match done_rx.recv_timeout(watch.poll) {
            Ok(done) => return done,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => unreachable!("the supervisor holds a sender"),
        }
        if control.handle.is_finished() {
            if let Ok(done) = done_rx.try_recv() {
                return done;
            }
            // The control thread ended without handing the run back: it panicked.
            match control.handle.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(()) => panic!("the control thread ended without its run"),
            }
        }
        let now = Instant::now();
        if call.overran(&handoff, &control, watch, now) {
            let out = call.seen;
            // The call's thread may have won the race by returning just now.
            if handoff
                .call
                .compare_exchange(out, out + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                log::error!(
                    "the plugin's call did not return within its budget ({:?}): control goes \
                     on without it",
                    watch.budget
                );
                control = match ControlThread::spawn(&handoff, &done_tx, timed, priority, true) {
                    Ok(c) => c,
                    Err(e) => return unsupervised(&handoff, &done_tx, &done_rx, timed, true, &e),
                };
            }
        }
        if let Some(w) = &mut watchdog {
            w.check(handoff.beat.load(Ordering::Relaxed), now);
        }
    }
}

/// The supervisor's thread under `SCHED_FIFO` one above the control thread while it watches,
/// back to normal when it is done.
struct Elevated;

impl Elevated {
    fn supervisor(p: Priority) -> Elevated {
        if let Err(e) = rt::enter(p.above()) {
            log::error!(
                "the supervisor stays at normal priority: {} refused ({e})",
                p.above()
            );
        }
        Elevated
    }
}

impl Drop for Elevated {
    fn drop(&mut self) {
        if let Err(e) = rt::leave() {
            log::error!("the supervisor's thread stays under SCHED_FIFO: {e}");
        }
    }
}

/// When no control thread can be started (the system's limit on threads or memory), the
/// supervisor's own thread carries the run on to its end rather than abandon control: unwatched,
/// so a hung plugin call or a stalled tick is no longer caught, which the log says.
fn unsupervised<P: Pace>(
    handoff: &Handoff<P>,
    done_tx: &Done<P>,
    done_rx: &Receiver<(Run, P)>,
    timed: bool,
    mid_tick: bool,
    e: &std::io::Error,
) -> (Run, P) {
    log::error!(
        "cannot start a control thread ({e}): the run goes on without its supervisor; a hung \
         plugin call or a stalled tick is no longer caught"
    );
    control(handoff, done_tx, timed, mid_tick);
    match done_rx.try_recv() {
        Ok(done) => done,
        Err(_) => unreachable!("the control loop hands the run back before it returns"),
    }
}

/// A control thread and the clock of the CPU time it uses.
struct ControlThread {
    handle: JoinHandle<()>,
    cpu: Option<libc::clockid_t>,
}

impl ControlThread {
    /// Starts a control thread; `mid_tick`: it takes over a tick whose plugin call was given up.
    fn spawn<P: Pace>(
        handoff: &Arc<Handoff<P>>,
        done: &Done<P>,
        timed: bool,
        priority: Option<Priority>,
        mid_tick: bool,
    ) -> std::io::Result<Self> {
        let (h, done) = (handoff.clone(), done.clone());
        let handle = std::thread::Builder::new()
            .name("perfuse-control".into())
            .spawn(move || {
                // It inherits the supervisor's policy; it runs one priority below it.
                if let Some(p) = priority
                    && let Err(e) = rt::enter(p)
                {
                    log::error!("the control thread could not take {p}: {e}");
                }
                control(&h, &done, timed, mid_tick)
            })?;
        let mut clock: libc::clockid_t = 0;
        // SAFETY: the handle is not joined, so its pthread_t is valid; `clock` is a valid
        // out-pointer for the call.
        let ok = unsafe { libc::pthread_getcpuclockid(handle.as_pthread_t(), &mut clock) } == 0;
        Ok(ControlThread {
            handle,
            cpu: ok.then_some(clock),
        })
    }

    /// CPU time the thread has used (zero when its clock cannot be read, e.g. it has ended).
    fn cpu_time(&self) -> Duration {
        let Some(clock) = self.cpu else {
            return Duration::ZERO;
        };
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid out-pointer; an invalid clock only makes the call fail.
        if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
            return Duration::ZERO;
        }
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }
}

/// The control loop: ticks until the pacing says the run is over, then hands the run back.
fn control<P: Pace>(h: &Handoff<P>, done: &Done<P>, timed: bool, mut mid_tick: bool) {
    let mut guard = h.lock();
    loop {
        if !mid_tick {
            let (run, pace) = guard.as_mut().expect("the run is with its control thread");
            if !pace.go_on(run) {
                break;
            }
            run.first_half();
            if let Some(call) = run.take_due_call() {
                drop(guard);
                let Some(call) = call_released(h, call, timed) else {
                    // Given up: another control thread has the run.
                    return;
                };
                guard = h.lock();
                let (run, _) = guard.as_mut().expect("the run is with its control thread");
                run.put_back_call(call);
            }
        }
        mid_tick = false;
        let (run, pace) = guard.as_mut().expect("the run is with its control thread");
        run.second_half();
        if h.beating {
            h.beat.store(run.tick(), Ordering::Relaxed);
        }
        pace.after_tick(run);
    }
    let taken = guard.take().expect("the run is with its control thread");
    drop(guard);
    // The supervisor waits for it; it is gone only if the supervisor itself panicked.
    let _ = done.send(taken);
}

/// Makes the call with the run released; `None` if the supervisor gave it up meanwhile.
fn call_released<P>(
    h: &Handoff<P>,
    mut call: Box<PluginCall>,
    timed: bool,
) -> Option<Box<PluginCall>> {
    let out = h.call.load(Ordering::Relaxed) + 1;
    if timed {
        let started = h.origin.elapsed().as_nanos() as u64;
        h.call_started_ns.store(started, Ordering::Relaxed);
    }
    h.call.store(out, Ordering::Release);
    call.invoke(timed);
    h.call
        .compare_exchange(out, out + 1, Ordering::AcqRel, Ordering::Acquire)
        .ok()
        .map(|_| call)
}

/// The supervisor's view of the call out, from one poll to the next.
#[derive(Default)]
struct CallWatch {
    /// The `call` value last seen (odd while a call is out).
    seen: u64,
    /// The control thread's CPU time when the call was first seen.
    cpu_at_first_sight: Duration,
    /// Wall time watched while the call stayed out, each poll counted at most twice its
    /// interval: a paused process adds nothing.
    watched: Duration,
    last_poll: Option<Instant>,
}

impl CallWatch {
    /// Whether the call out (if any) has overrun its budget.
    fn overran<P>(
        &mut self,
        h: &Handoff<P>,
        control: &ControlThread,
        watch: Watch,
        now: Instant,
    ) -> bool {
        let state = h.call.load(Ordering::Acquire);
        let since_poll = self.last_poll.map_or(Duration::ZERO, |t| now - t);
        self.last_poll = Some(now);
        if state.is_multiple_of(2) {
            self.seen = state;
            return false;
        }
        if state != self.seen {
            self.seen = state;
            self.cpu_at_first_sight = control.cpu_time();
            self.watched = Duration::ZERO;
        } else {
            self.watched += since_poll.min(2 * watch.poll);
        }
        match watch.budget {
            Budget::Wall(s) => {
                let started = Duration::from_nanos(h.call_started_ns.load(Ordering::Relaxed));
                (now - h.origin).saturating_sub(started).as_secs_f64() > s
            }
            Budget::Cpu(s) => {
                let used = control.cpu_time().saturating_sub(self.cpu_at_first_sight);
                used.as_secs_f64() > s || self.watched > BLOCKED
            }
        }
    }
}

/// The watchdog of a real-time run: when no tick finishes for [`STALL`], it raises the HIGH
/// technical alarm "controller not responding" on every output, and ends it when ticks come
/// again. It commands nothing: meanwhile each device's command time to live puts its actuators
/// in their safe state by itself.
struct Watchdog {
    outputs: Vec<FrameSender>,
    stall: Duration,
    last_beat: u64,
    since: Instant,
    raised: bool,
}

impl Watchdog {
    fn new(run: &Run) -> Self {
        let period = Duration::from_secs_f64(run.plan.period_s);
        Watchdog {
            outputs: run.tick_state().outputs.senders(),
            stall: STALL.max(2 * period),
            last_beat: 0,
            since: Instant::now(),
            raised: false,
        }
    }

    fn check(&mut self, beat: u64, now: Instant) {
        let silent = now - self.since;
        if beat != self.last_beat {
            if self.raised {
                self.tell(beat, true, silent);
                self.raised = false;
            }
            self.last_beat = beat;
            self.since = now;
        } else if !self.raised && silent >= self.stall {
            self.tell(beat, false, silent);
            self.raised = true;
        }
    }

    /// Hands the alarm (or its end) to every output that takes it now; never waits.
    fn tell(&self, tick: u64, responding: bool, silent: Duration) {
        let silent_ms = silent.as_millis() as u64;
        if responding {
            log::warn!("the controller is ticking again, after {silent_ms} ms without a tick");
        } else {
            log::error!(
                "HIGH alarm controller_not_responding: no control tick for {silent_ms} ms; each \
                 device puts its actuators in their safe state when their commands expire"
            );
        }
        let frame = Frame::watchdog(tick, responding, silent_ms);
        for tx in &self.outputs {
            let _ = tx.try_send(frame);
        }
    }
}
