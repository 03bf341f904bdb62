//! An independent watchdog on the control thread of a real-time run.
//!
//! The control thread stores the tick it finished in a heartbeat (one relaxed atomic store); a
//! thread of its own looks at it every [`POLL`]. When the heartbeat stands still for [`STALL`],
//! whatever the reason (a stuck system call, a bug, the machine), the watchdog raises the HIGH
//! technical alarm "controller not responding" on every output it was given, and clears it when
//! ticks resume. It commands nothing: meanwhile each device's command time to live puts every
//! actuator in its safe state by itself.
//!
//! Lockstep runs have no watchdog: their time is simulated, so a stall harms no device, and an
//! alarm raised by the wall clock would make the record depend on the machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Silence of the heartbeat after which the alarm is raised: with the polling interval and a
/// tick's period, the alarm is out within half a second of the last tick.
pub const STALL: Duration = Duration::from_millis(400);
/// How often the watchdog looks at the heartbeat.
pub const POLL: Duration = Duration::from_millis(20);

/// Id of the watchdog's alarm.
pub const ALARM_ID: &str = "controller_not_responding";
/// Text of the watchdog's alarm.
pub const ALARM_TEXT: &str = "controller not responding: no control tick for 0.4 s; each device puts its actuators in their safe state when their commands expire";

/// What the watchdog tells its outputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WatchdogEvent {
    /// HIGH technical alarm: tick `tick` has not finished; the one before it did `silent` ago.
    NotResponding { tick: u64, silent: Duration },
    /// Ticks resumed (now at `tick`) after `silent` without one.
    Responding { tick: u64, silent: Duration },
}

impl WatchdogEvent {
    /// The line every text output shows.
    pub fn text(&self) -> String {
        match self {
            WatchdogEvent::NotResponding { tick, silent } => format!(
                "ALARM {ALARM_ID} [HIGH, technical] in tick {tick}, silent {:.2} s: {ALARM_TEXT}",
                silent.as_secs_f64()
            ),
            WatchdogEvent::Responding { tick, silent } => format!(
                "ALARM {ALARM_ID} cleared: ticking again at tick {tick} after {:.2} s",
                silent.as_secs_f64()
            ),
        }
    }
}

/// Where the watchdog's alarms go; called on the watchdog's thread, never the control thread's.
pub type WatchdogOutput = Box<dyn FnMut(&WatchdogEvent) + Send>;

/// The output every real-time run has: a line on stderr.
pub fn stderr_output() -> WatchdogOutput {
    Box::new(|e: &WatchdogEvent| eprintln!("{}", e.text()))
}

/// The control thread's side: one atomic store per tick.
#[derive(Clone, Default)]
pub struct Heartbeat(Arc<AtomicU64>);

impl Heartbeat {
    /// Tells the watchdog the control thread is at `next_tick`, having finished the one before.
    pub fn beat(&self, next_tick: u64) {
        self.0.store(next_tick, Ordering::Relaxed);
    }
}

/// The watchdog thread; it stops within a poll when dropped (not joined: an output that blocks
/// must not hold up the end of the run).
pub struct Watchdog {
    stop: Arc<AtomicBool>,
}

impl Watchdog {
    /// Starts watching `heartbeat` of a run ticking every `period`, reporting to every one of
    /// `outputs` in order. A protocol with ticks longer than [`STALL`] / 2 is given two ticks.
    pub fn start(
        heartbeat: &Heartbeat,
        period: Duration,
        outputs: Vec<WatchdogOutput>,
    ) -> std::io::Result<Self> {
        let stall = STALL.max(2 * period);
        let stop = Arc::new(AtomicBool::new(false));
        let (beat, stopped) = (heartbeat.0.clone(), stop.clone());
        std::thread::Builder::new()
            .name("perfuse-watchdog".into())
            .spawn(move || watch(&beat, &stopped, stall, outputs))?;
        Ok(Watchdog { stop })
    }
}

fn watch(beat: &AtomicU64, stop: &AtomicBool, stall: Duration, mut outputs: Vec<WatchdogOutput>) {
    let mut tell = |e: WatchdogEvent| outputs.iter_mut().for_each(|out| out(&e));
    let mut last = beat.load(Ordering::Relaxed);
    let mut since = Instant::now();
    let mut raised = false;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(POLL);
        let now = beat.load(Ordering::Relaxed);
        let silent = since.elapsed();
        if now != last {
            if raised {
                tell(WatchdogEvent::Responding { tick: now, silent });
                raised = false;
            }
            last = now;
            since = Instant::now();
        } else if !raised && silent >= stall && !stop.load(Ordering::Relaxed) {
            tell(WatchdogEvent::NotResponding { tick: last, silent });
            raised = true;
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
