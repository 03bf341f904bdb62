//! An independent watchdog on the control thread (real time).
//!
//! The control thread bumps a heartbeat after every tick; a thread of its own watches it. When
//! the heartbeat stands still for [`STALL`], for whatever reason (a stuck system call, a bug, the
//! machine), the watchdog raises the HIGH technical alarm "controller not responding" on every
//! output it is given, and clears it when ticks resume. It commands nothing: meanwhile the
//! devices' command time to live puts each actuator in its safe state by itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Silence of the heartbeat after which the alarm is raised: with the polling interval, the
/// alarm is out within half a second of the last tick.
pub const STALL: Duration = Duration::from_millis(400);
/// How often the watchdog looks at the heartbeat.
const POLL: Duration = Duration::from_millis(20);

/// Id of the watchdog's alarm on the outputs.
pub const ALARM_ID: &str = "controller_not_responding";
/// Text of the watchdog's alarm.
pub const ALARM_TEXT: &str = "controller not responding: no control tick for 0.4 s; the devices put every actuator in its safe state when its commands expire";

/// What the watchdog tells its outputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WatchdogEvent {
    /// HIGH technical alarm: the heartbeat stopped at `tick` and has been silent for `silent`.
    NotResponding { tick: u64, silent: Duration },
    /// The heartbeat moved again after `silent` without a tick.
    Responding { tick: u64, silent: Duration },
}

/// Where the watchdog's alarms go; called on the watchdog's thread, never the control thread's.
pub type WatchdogOutput = Arc<dyn Fn(&WatchdogEvent) + Send + Sync>;

/// The default output: a line on stderr.
pub fn stderr_output() -> WatchdogOutput {
    Arc::new(|e: &WatchdogEvent| match e {
        WatchdogEvent::NotResponding { tick, silent } => eprintln!(
            "ALARM {ALARM_ID} [HIGH, technical] after tick {tick}, silent {:.2} s: {ALARM_TEXT}",
            silent.as_secs_f64()
        ),
        WatchdogEvent::Responding { tick, silent } => eprintln!(
            "ALARM {ALARM_ID} cleared: ticking again at tick {tick} after {:.2} s",
            silent.as_secs_f64()
        ),
    })
}

/// The control thread's side: one atomic store per tick.
#[derive(Clone, Default)]
pub struct Heartbeat(Arc<AtomicU64>);

impl Heartbeat {
    /// Tells the watchdog the control thread finished tick `tick`.
    pub fn beat(&self, tick: u64) {
        self.0.store(tick, Ordering::Relaxed);
    }
}

/// The watchdog thread; it stops within a poll when dropped (not joined: an output that blocks
/// must not hold up the end of the run).
pub struct Watchdog {
    stop: Arc<AtomicBool>,
}

impl Watchdog {
    /// Starts watching `heartbeat`, reporting to `output`.
    pub fn start(heartbeat: &Heartbeat, output: WatchdogOutput) -> std::io::Result<Watchdog> {
        let stop = Arc::new(AtomicBool::new(false));
        let (beat, stopped) = (heartbeat.0.clone(), stop.clone());
        std::thread::Builder::new()
            .name("perfuse-watchdog".into())
            .spawn(move || watch(&beat, &stopped, &*output))?;
        Ok(Watchdog { stop })
    }
}

fn watch(beat: &AtomicU64, stop: &AtomicBool, output: &(dyn Fn(&WatchdogEvent) + Send + Sync)) {
    let mut last = beat.load(Ordering::Relaxed);
    let mut since = Instant::now();
    let mut raised = false;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(POLL);
        let now = beat.load(Ordering::Relaxed);
        if now != last {
            if raised {
                output(&WatchdogEvent::Responding {
                    tick: now,
                    silent: since.elapsed(),
                });
                raised = false;
            }
            last = now;
            since = Instant::now();
        } else if !raised && since.elapsed() >= STALL && !stop.load(Ordering::Relaxed) {
            output(&WatchdogEvent::NotResponding {
                tick: last,
                silent: since.elapsed(),
            });
            raised = true;
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
