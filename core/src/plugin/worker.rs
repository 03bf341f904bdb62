//! The plugin's own thread: a step that never returns must not stop control.
//!
//! The library is opened, and its instance created, called and destroyed, only on a dedicated
//! thread. The control thread hands each call over through a one-slot mailbox and waits at most
//! the call's [`Budget`]; a call that does not answer in time faults the plugin, which is never called
//! again, and its thread is abandoned (never joined, and the library never unloaded).
//!
//! In lockstep the budget counts the plugin thread's CPU time, so neither machine load nor a
//! paused process changes a simulated record; only a plugin that blocks without using CPU is
//! caught by a wall-clock backstop.

use super::PluginInfo;
use super::loader::{PluginError, SearchPolicy};
use crate::plan::Plan;
use crossbeam_channel::bounded;
use perfuse_plugin_sdk::{PhaseEvent, StepInput, StepOutput, status};
use std::cell::UnsafeCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// Fault code of a call that did not answer within its budget.
pub const FAULT_OVERRUN: i32 = 101;

/// How long the plugin may take to open, check its parameters and create its instance.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one call may take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// Wall time from when the plugin thread takes the call up (real time: half a tick); the
    /// thread may take up to `pickup` (a tick) to be scheduled before that counts as a hang.
    Wall { run: Duration, pickup: Duration },
    /// CPU time of the plugin's thread (lockstep), with a wall-clock backstop for a plugin that
    /// blocks without using CPU. The backstop counts only time the control thread was awake
    /// waiting, so a paused process does not use it up.
    Cpu { cpu: Duration, backstop: Duration },
}

impl Budget {
    /// The lockstep budget: 0.5 s of the plugin thread's CPU per call, 5 s of blocking.
    pub const LOCKSTEP: Budget = Budget::Cpu {
        cpu: Duration::from_millis(500),
        backstop: Duration::from_secs(5),
    };
}

/// One call, held in the mailbox's single slot (so its size costs nothing per call).
#[allow(clippy::large_enum_variant)]
enum Request {
    Step(StepInput),
    Phase(PhaseEvent),
}

struct Reply {
    status: i32,
    output: StepOutput,
}

/// The mailbox's states: who may touch the request and reply now.
mod state {
    /// The control thread owns both slots.
    pub const IDLE: u32 = 0;
    /// The plugin thread owns both slots; it has not taken the request up yet.
    pub const REQUEST: u32 = 1;
    /// The plugin thread is running the request.
    pub const RUNNING: u32 = 4;
    /// The reply is written; the control thread owns both slots again.
    pub const REPLY: u32 = 2;
    /// The control side is gone: the plugin thread destroys the instance and ends.
    pub const CLOSED: u32 = 3;
}

/// One request and one reply, handed over by `state` (acquire/release). A handover costs a few
/// hundred nanoseconds when the other thread is spinning: channels that park on every call
/// would make a lockstep tick ten times slower.
struct Mailbox {
    state: AtomicU32,
    request: UnsafeCell<Request>,
    reply: UnsafeCell<Reply>,
}

// SAFETY: the slots are only touched by the thread that `state` gives them to.
unsafe impl Sync for Mailbox {}

/// How long a waiting thread spins before it parks: long enough to cover a lockstep tick, short
/// enough to cost little between real-time ticks.
const SPIN: Duration = Duration::from_micros(50);

/// Waits actively until `done` holds or [`SPIN`] has passed; whether it holds. A short spin
/// covers the other thread answering on another core; yielding then lets it run on this one
/// when the machine has more threads than cores.
fn spin_until(done: impl Fn() -> bool) -> bool {
    for _ in 0..128 {
        if done() {
            return true;
        }
        std::hint::spin_loop();
    }
    let start = Instant::now();
    while start.elapsed() < SPIN {
        if done() {
            return true;
        }
        std::thread::yield_now();
    }
    done()
}

/// The control thread's handle on the plugin thread.
pub struct PluginWorker {
    pub info: PluginInfo,
    mailbox: Arc<Mailbox>,
    thread: Thread,
    /// The plugin thread's CPU-time clock.
    cpu_clock: libc::clockid_t,
    /// A call overran: the thread may still be running it, so nothing is handed over again.
    abandoned: bool,
}

/// What the plugin thread reports once the plugin is ready (or why it is not).
type Started = Result<(PluginInfo, libc::clockid_t), PluginError>;

/// Opens the plugin `plan` requires on a new thread and creates its instance there.
pub fn start(plan: &Plan, policy: &SearchPolicy) -> Result<PluginWorker, PluginError> {
    let mailbox = Arc::new(Mailbox {
        state: AtomicU32::new(state::IDLE),
        request: UnsafeCell::new(Request::Phase(PhaseEvent {
            t_s: 0.0,
            from: 0,
            to: 0,
        })),
        reply: UnsafeCell::new(Reply {
            status: status::OK,
            output: StepOutput::default(),
        }),
    });
    let (start_tx, start_rx) = bounded::<Started>(1);
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
            let _ = start_tx.send(Ok((instance.info.clone(), own_cpu_clock())));
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
        Ok(Ok((info, cpu_clock))) => Ok(PluginWorker {
            info,
            mailbox,
            thread,
            cpu_clock,
            abandoned: false,
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

/// The plugin thread's loop: one call per request until the control side closes the mailbox,
/// then the instance is destroyed by the plugin that created it (on drop).
fn serve(mut instance: super::PluginInstance, mailbox: &Mailbox, control: &Thread) {
    let ready = || {
        let s = mailbox.state.load(Ordering::Acquire);
        s == state::REQUEST || s == state::CLOSED
    };
    loop {
        if !spin_until(ready) {
            // Unpark tokens are kept, so a request that arrives before `park` is not missed.
            while !ready() {
                std::thread::park();
            }
        }
        if mailbox.state.load(Ordering::Acquire) == state::CLOSED {
            return;
        }
        mailbox.state.store(state::RUNNING, Ordering::Relaxed);
        // SAFETY: in state REQUEST the plugin thread owns both slots.
        let (request, reply) = unsafe { (&*mailbox.request.get(), &mut *mailbox.reply.get()) };
        let result = match request {
            Request::Step(input) => {
                reply.output = StepOutput::default();
                instance.step(input, &mut reply.output)
            }
            Request::Phase(event) => instance.phase_event(event),
        };
        reply.status = result.err().unwrap_or(status::OK);
        mailbox.state.store(state::REPLY, Ordering::Release);
        control.unpark();
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
    /// One step within `budget`; `Err` with the ABI status or [`FAULT_OVERRUN`].
    pub fn step(
        &mut self,
        input: &StepInput,
        out: &mut StepOutput,
        budget: Budget,
    ) -> Result<(), i32> {
        *out = self.call(Request::Step(*input), budget)?.output;
        Ok(())
    }

    /// Tells the plugin about a phase change, within `budget`.
    pub fn phase_event(&mut self, event: &PhaseEvent, budget: Budget) -> Result<(), i32> {
        self.call(Request::Phase(*event), budget).map(|_| ())
    }

    fn call(&mut self, request: Request, budget: Budget) -> Result<&Reply, i32> {
        if self.abandoned {
            return Err(FAULT_OVERRUN);
        }
        // SAFETY: in state IDLE the control thread owns both slots.
        unsafe { *self.mailbox.request.get() = request };
        self.mailbox.state.store(state::REQUEST, Ordering::Release);
        self.thread.unpark();
        if !self.wait(budget) {
            self.abandoned = true;
            return Err(FAULT_OVERRUN);
        }
        self.mailbox.state.store(state::IDLE, Ordering::Relaxed);
        // SAFETY: the reply was handed back (state REPLY, read with acquire).
        let reply = unsafe { &*self.mailbox.reply.get() };
        match reply.status {
            status::OK => Ok(reply),
            code => Err(code),
        }
    }

    fn replied(&self) -> bool {
        self.mailbox.state.load(Ordering::Acquire) == state::REPLY
    }

    /// Waits for the reply within `budget`; whether it came in time.
    ///
    /// With a CPU budget the plugin thread's clock is first read after the spin, so a step
    /// answered within it costs no system call; a slow step is judged on its CPU time from then
    /// (at most the spin less than its whole).
    fn wait(&self, budget: Budget) -> bool {
        if spin_until(|| self.replied()) {
            return true;
        }
        const SLICE: Duration = Duration::from_millis(1);
        let started = Instant::now();
        let cpu_start = cpu_time(self.cpu_clock);
        let mut awake = Duration::ZERO;
        let mut running_since = None;
        loop {
            let asked = Instant::now();
            // The plugin thread unparks this one when it replies.
            std::thread::park_timeout(SLICE);
            let over = match budget {
                Budget::Wall { run, pickup } => {
                    if running_since.is_none()
                        && self.mailbox.state.load(Ordering::Relaxed) == state::RUNNING
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
                    cpu_time(self.cpu_clock).saturating_sub(cpu_start) > cpu || awake > backstop
                }
            };
            if over {
                return false;
            }
            if self.replied() {
                return true;
            }
        }
    }
}

impl Drop for PluginWorker {
    fn drop(&mut self) {
        if !self.abandoned {
            // The plugin thread destroys the instance and ends; an abandoned one is left alone.
            self.mailbox.state.store(state::CLOSED, Ordering::Release);
            self.thread.unpark();
        }
    }
}
