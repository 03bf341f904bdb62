//! The plugin's own thread: a plugin call that never returns must not stop control.
//!
//! The library is opened, and its instance created, called, saved, restored and destroyed, only
//! on a dedicated thread. The control thread hands each call over through a one-slot mailbox and
//! waits for the answer at most the call's [`Budget`]; a call that does not answer in time faults
//! the plugin, which is never called again, and its thread is abandoned (never joined; the
//! library is never unloaded).
//!
//! The handover is cheap because neither side sleeps at once: the control thread spins briefly
//! on the mailbox's state for the answer, and the plugin thread, after answering, spins briefly
//! for the next call, before either parks. In a lockstep run the next call comes within the
//! spin, so a handover is a cache-line exchange between two cores, not two wake-ups of the
//! kernel. Nothing in a call allocates, locks or makes a system call unless a thread has to park.

use super::PluginInfo;
use super::loader::{PluginError, SearchPolicy};
use crate::plan::Plan;
use perfuse_plugin_sdk::{PhaseEvent, StepInput, StepOutput, status};
use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// Fault code of a call that did not answer within its budget.
pub const FAULT_OVERRUN: i32 = 101;

/// How long the plugin may take to open, check its parameters and create its instance.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a plugin thread may take to destroy its instance at the end of a run.
const END_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one call may take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// Real time: wall time from when the plugin thread takes the call up (`run`, half a tick);
    /// the thread may take up to `pickup` (a tick) to be scheduled before that counts as a hang.
    Wall { run: Duration, pickup: Duration },
    /// Lockstep: CPU time of the plugin's thread, so neither the machine's load nor a paused
    /// process changes a simulated record. A plugin that blocks without using CPU is caught by
    /// the `backstop`, which counts only the time the control thread was awake waiting (a pause
    /// of the whole process does not use it up).
    Cpu { cpu: Duration, backstop: Duration },
}

impl Budget {
    /// The lockstep budget: 0.5 s of the plugin thread's CPU per call, or 3 s blocked.
    pub const LOCKSTEP: Budget = Budget::Cpu {
        cpu: Duration::from_millis(500),
        backstop: Duration::from_secs(3),
    };
}

/// What the plugin thread is asked to do.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Step,
    Phase,
    Save,
    Restore,
}

/// One call and its answer, in the mailbox's single slot: reserved once, reused by every call.
struct Call {
    kind: Kind,
    input: StepInput,
    output: StepOutput,
    event: PhaseEvent,
    /// The state to restore, or the state saved (`None`: a plugin without save/restore).
    state: Option<Vec<u8>>,
    status: i32,
}

/// The mailbox's states: who may touch the call now.
mod state {
    /// The control thread owns the call.
    pub const IDLE: u32 = 0;
    /// The plugin thread owns the call; it has not taken it up yet.
    pub const REQUEST: u32 = 1;
    /// The plugin thread is running the call.
    pub const RUNNING: u32 = 2;
    /// The answer is written; the control thread owns the call again.
    pub const REPLY: u32 = 3;
    /// The control side is gone: the plugin thread destroys the instance and ends.
    pub const CLOSED: u32 = 4;
    /// The instance is destroyed and the plugin thread has ended.
    pub const ENDED: u32 = 5;
}

/// One call handed over by `state` (acquire/release). Each side says, in its `parked` flag,
/// when it is about to sleep, so the other wakes it only then: the flag and the state are
/// written and read in sequentially consistent order, so one of the two always sees the other.
struct Mailbox {
    state: AtomicU32,
    control_parked: AtomicBool,
    plugin_parked: AtomicBool,
    call: UnsafeCell<Call>,
}

// SAFETY: the call is only touched by the thread that `state` gives it to.
unsafe impl Sync for Mailbox {}

/// How long the control thread spins for an answer, and the plugin thread for the next call,
/// before parking: longer than a lockstep tick (a few microseconds), short enough to cost
/// little between real-time ticks (0.2 % of a core at 100 Hz).
const SPIN: Duration = Duration::from_micros(20);

/// How long a thread spins for the other to take up what it handed over. An idle peer takes
/// it up within a microsecond; one that has not is off its core (a loaded machine), and
/// spinning for its answer would only keep it off longer: then the thread parks at once.
const PICKUP: Duration = Duration::from_micros(3);

/// Spins until `done` holds or `limit` has passed; whether it holds. The clock is read once
/// every 64 rounds only.
fn spin_until(limit: Duration, done: impl Fn() -> bool) -> bool {
    let mut started: Option<Instant> = None;
    loop {
        for _ in 0..64 {
            if done() {
                return true;
            }
            std::hint::spin_loop();
        }
        let start = *started.get_or_insert_with(Instant::now);
        if start.elapsed() >= limit {
            return done();
        }
    }
}

/// The control thread's handle on the plugin thread. Not `Send`: the thread that started it is
/// the one the plugin thread wakes.
pub struct PluginWorker {
    pub info: PluginInfo,
    has_state: bool,
    mailbox: Arc<Mailbox>,
    thread: Thread,
    /// The plugin thread's CPU-time clock.
    cpu_clock: libc::clockid_t,
    /// A call overran: the plugin thread may still be running it, so nothing is handed over
    /// again and the mailbox is never touched.
    abandoned: Cell<bool>,
    not_send: PhantomData<*const ()>,
}

/// What the plugin thread reports once the plugin is ready (or why it is not).
type Started = Result<(PluginInfo, bool, libc::clockid_t), PluginError>;

/// Opens the plugin `plan` requires on a new thread and creates its instance there.
pub fn start(plan: &Plan, policy: &SearchPolicy) -> Result<PluginWorker, PluginError> {
    let mailbox = Arc::new(Mailbox {
        state: AtomicU32::new(state::IDLE),
        control_parked: AtomicBool::new(false),
        plugin_parked: AtomicBool::new(false),
        call: UnsafeCell::new(Call {
            kind: Kind::Step,
            input: crate::tick::protocol::empty_input(),
            output: StepOutput::default(),
            event: PhaseEvent {
                t_s: 0.0,
                from: 0,
                to: 0,
            },
            state: None,
            status: status::OK,
        }),
    });
    let (start_tx, start_rx) = crossbeam_channel::bounded::<Started>(1);
    let (plan, policy) = (plan.clone(), policy.clone());
    let id = plan.plugin.id.clone();
    let (theirs, control) = (mailbox.clone(), std::thread::current());
    let spawned = std::thread::Builder::new()
        .name("perfuse-plugin".into())
        .spawn(move || {
            let instance = match super::load(&plan, &policy) {
                Ok(instance) => instance,
                Err(e) => {
                    let _ = start_tx.send(Err(e));
                    return;
                }
            };
            let started = (instance.info.clone(), instance.has_state(), own_cpu_clock());
            let _ = start_tx.send(Ok(started));
            serve(instance, &theirs, &control);
        });
    let thread = match spawned {
        Ok(handle) => handle.thread().clone(),
        Err(e) => {
            return Err(PluginError::Rejected {
                id,
                message: format!("cannot start its thread: {e}"),
            });
        }
    };
    match start_rx.recv_timeout(START_TIMEOUT) {
        Ok(Ok((info, has_state, cpu_clock))) => Ok(PluginWorker {
            info,
            has_state,
            mailbox,
            thread,
            cpu_clock,
            abandoned: Cell::new(false),
            not_send: PhantomData,
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(PluginError::Rejected {
            id,
            message: format!(
                "did not finish starting within {} s (opening, checking its parameters, creating its instance)",
                START_TIMEOUT.as_secs()
            ),
        }),
    }
}

/// The plugin thread's loop: one call per request until the control side closes the mailbox;
/// then the instance is destroyed by the plugin that created it (on drop).
fn serve(mut instance: super::PluginInstance, mailbox: &Mailbox, control: &Thread) {
    let ready = || {
        let s = mailbox.state.load(Ordering::Acquire);
        s == state::REQUEST || s == state::CLOSED
    };
    let taken = || mailbox.state.load(Ordering::Relaxed) != state::REPLY;
    loop {
        // Spin for the next call only while the control thread is seen running.
        let spun = spin_until(PICKUP, taken) && spin_until(SPIN, ready);
        if !spun {
            mailbox.plugin_parked.store(true, Ordering::SeqCst);
            // A wake-up between the store and `park` leaves a token: `park` returns at once.
            while !ready() {
                std::thread::park();
            }
            mailbox.plugin_parked.store(false, Ordering::Relaxed);
        }
        if mailbox.state.load(Ordering::Acquire) == state::CLOSED {
            drop(instance);
            mailbox.state.store(state::ENDED, Ordering::SeqCst);
            control.unpark();
            return;
        }
        mailbox.state.store(state::RUNNING, Ordering::Relaxed);
        // SAFETY: in states REQUEST and RUNNING the plugin thread owns the call.
        let call = unsafe { &mut *mailbox.call.get() };
        let result = match call.kind {
            Kind::Step => instance.step(&call.input, &mut call.output),
            Kind::Phase => instance.phase_event(&call.event),
            Kind::Save => instance.save().map(|saved| call.state = saved),
            Kind::Restore => match call.state.take() {
                Some(bytes) => instance.restore(&bytes),
                None => Err(status::INVALID),
            },
        };
        call.status = result.err().unwrap_or(status::OK);
        mailbox.state.store(state::REPLY, Ordering::SeqCst);
        if mailbox.control_parked.load(Ordering::SeqCst) {
            control.unpark();
        }
    }
}

/// The calling thread's CPU-time clock.
fn own_cpu_clock() -> libc::clockid_t {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `pthread_self` is always valid and `clock` is a valid place to write.
    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    if rc == 0 {
        clock
    } else {
        // Not expected on Linux; the process's CPU clock still excludes pauses and load.
        libc::CLOCK_PROCESS_CPUTIME_ID
    }
}

/// CPU time consumed so far on `clock`.
fn cpu_time(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid place to write; an invalid clock only makes the call fail.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl PluginWorker {
    /// One step within `budget`; `Err` with the ABI status or [`FAULT_OVERRUN`]. `out` is what
    /// the plugin is given to fill, and holds its answer.
    pub fn step(
        &mut self,
        input: &StepInput,
        out: &mut StepOutput,
        budget: Budget,
    ) -> Result<(), i32> {
        let call = self.prepare()?;
        call.kind = Kind::Step;
        call.input = *input;
        call.output = *out;
        let call = self.call(budget)?;
        *out = call.output;
        Ok(())
    }

    /// Tells the plugin about a phase change, within `budget`.
    pub fn phase_event(&mut self, event: &PhaseEvent, budget: Budget) -> Result<(), i32> {
        let call = self.prepare()?;
        call.kind = Kind::Phase;
        call.event = *event;
        self.call(budget).map(|_| ())
    }

    /// Whether this plugin can carry its state across a restart (ABI 1.2).
    pub fn has_state(&self) -> bool {
        self.has_state
    }

    /// The plugin's state (see [`super::PluginInstance::save`]), within `budget`. Between
    /// ticks only: it allocates.
    pub fn save(&self, budget: Budget) -> Result<Option<Vec<u8>>, i32> {
        let call = self.prepare()?;
        call.kind = Kind::Save;
        call.state = None;
        Ok(self.call(budget)?.state.take())
    }

    /// Gives a freshly created instance a state `save` returned, within `budget`.
    pub fn restore(&mut self, bytes: &[u8], budget: Budget) -> Result<(), i32> {
        let call = self.prepare()?;
        call.kind = Kind::Restore;
        call.state = Some(bytes.to_vec());
        self.call(budget).map(|_| ())
    }

    /// The call slot, while the control thread owns it.
    #[allow(clippy::mut_from_ref)]
    fn prepare(&self) -> Result<&mut Call, i32> {
        if self.abandoned.get() {
            return Err(FAULT_OVERRUN);
        }
        // SAFETY: not abandoned, so the mailbox is IDLE: the control thread owns the call, and
        // `self` is borrowed until the call is handed over.
        Ok(unsafe { &mut *self.mailbox.call.get() })
    }

    /// Hands the prepared call over and waits for its answer within `budget`.
    #[allow(clippy::mut_from_ref)]
    fn call(&self, budget: Budget) -> Result<&mut Call, i32> {
        let m = &*self.mailbox;
        m.state.store(state::REQUEST, Ordering::SeqCst);
        if m.plugin_parked.load(Ordering::SeqCst) {
            self.thread.unpark();
        }
        if !self.wait(budget) {
            self.abandoned.set(true);
            return Err(FAULT_OVERRUN);
        }
        m.state.store(state::IDLE, Ordering::Relaxed);
        // SAFETY: the answer was handed back (state REPLY, read with acquire).
        let call = unsafe { &mut *m.call.get() };
        match call.status {
            status::OK => Ok(call),
            code => Err(code),
        }
    }

    fn replied(&self) -> bool {
        self.mailbox.state.load(Ordering::Acquire) == state::REPLY
    }

    /// Waits for the answer within `budget`; whether it came in time.
    ///
    /// Budgets are judged only once the spin is over, so an answer within it costs no system
    /// call: the CPU budget counts from there (at most [`SPIN`] short of the call's whole).
    fn wait(&self, budget: Budget) -> bool {
        let taken = || self.mailbox.state.load(Ordering::Relaxed) != state::REQUEST;
        // Spin for the answer only while the plugin thread is seen running.
        if spin_until(PICKUP, taken) && spin_until(SPIN, || self.replied()) {
            return true;
        }
        const SLICE: Duration = Duration::from_millis(1);
        let m = &*self.mailbox;
        let started = Instant::now();
        let cpu_start = cpu_time(self.cpu_clock);
        let mut awake = Duration::ZERO;
        let mut running_since = None;
        m.control_parked.store(true, Ordering::SeqCst);
        let in_time = loop {
            let asked = Instant::now();
            // The plugin thread unparks this one when it answers.
            std::thread::park_timeout(SLICE);
            let replied = self.replied();
            // An answer is in time only if the budget was kept, however late this thread,
            // on a loaded machine, comes to see it.
            let over = match budget {
                Budget::Wall { run, pickup } => {
                    if running_since.is_none()
                        && (replied || m.state.load(Ordering::Relaxed) == state::RUNNING)
                    {
                        running_since = Some(asked);
                    }
                    match running_since {
                        Some(t) => t.elapsed() > run,
                        None => started.elapsed() > pickup,
                    }
                }
                Budget::Cpu { cpu, backstop } => {
                    // A pause of the whole process shows as one long slice: count at most two.
                    awake += asked.elapsed().min(2 * SLICE);
                    let used = cpu_time(self.cpu_clock).saturating_sub(cpu_start);
                    used > cpu || (!replied && awake > backstop)
                }
            };
            if over {
                break false;
            }
            if replied {
                break true;
            }
        };
        m.control_parked.store(false, Ordering::Relaxed);
        in_time
    }
}

impl Drop for PluginWorker {
    /// The plugin thread destroys the instance and ends, waited for a bounded time; an
    /// abandoned thread is left alone.
    fn drop(&mut self) {
        if self.abandoned.get() {
            return;
        }
        let m = &*self.mailbox;
        m.control_parked.store(true, Ordering::SeqCst);
        m.state.store(state::CLOSED, Ordering::SeqCst);
        self.thread.unpark();
        let start = Instant::now();
        while m.state.load(Ordering::SeqCst) != state::ENDED && start.elapsed() < END_TIMEOUT {
            std::thread::park_timeout(Duration::from_millis(10));
        }
    }
}
