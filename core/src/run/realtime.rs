//! The real-time driver: ticks at absolute deadlines; the HAL on its own thread behind bounded
//! channels that the control thread only touches with `try_send` and `try_recv`.
//!
//! A tick that misses its deadline by more than a period is counted and the missed ticks are
//! skipped, never bunched up: tick indices keep matching wall time.

use super::{Run, StopRequest};
use crate::hal::{CommandFrame, Hal, SensorFrame};
use crossbeam_channel::{Receiver, Sender, TryRecvError, bounded};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The control thread's ends of the HAL channels.
pub struct HalChannels {
    commands: Sender<CommandFrame>,
    frames: Receiver<SensorFrame>,
}

impl HalChannels {
    /// Keeps the newest frame that arrived since the last call (or leaves `out` as it was).
    pub fn take_newest(&mut self, out: &mut SensorFrame) {
        while let Ok(f) = self.frames.try_recv() {
            *out = f;
        }
    }

    /// Queues a command frame; `false` if the queue was full and the frame was dropped.
    pub fn send(&mut self, frame: &CommandFrame) -> bool {
        self.commands.try_send(*frame).is_ok()
    }
}

/// Starts the HAL thread: every period it applies the newest command frame, lets the device's
/// time pass and publishes a sensor frame. It stops when the control side hangs up.
pub fn spawn_hal(
    mut hal: Box<dyn Hal>,
    period_s: f64,
) -> std::io::Result<(HalChannels, JoinHandle<()>)> {
    let (cmd_tx, cmd_rx) = bounded::<CommandFrame>(4);
    let (frame_tx, frame_rx) = bounded::<SensorFrame>(4);
    let handle = std::thread::Builder::new()
        .name("perfuse-hal".into())
        .spawn(move || {
            let period = Duration::from_secs_f64(period_s);
            let start = Instant::now();
            let mut frame = SensorFrame::default();
            hal.read(&mut frame);
            let _ = frame_tx.try_send(frame);
            let mut n: u32 = 0;
            loop {
                loop {
                    match cmd_rx.try_recv() {
                        Ok(cmd) => hal.write(&cmd),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => return,
                    }
                }
                hal.advance(period_s);
                hal.read(&mut frame);
                // A full queue means the control thread is behind: it wants the newest frame.
                let _ = frame_tx.try_send(frame);
                n += 1;
                let deadline = start + period * n;
                if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        })?;
    Ok((
        HalChannels {
            commands: cmd_tx,
            frames: frame_rx,
        },
        handle,
    ))
}

/// Runs `run` to its end in real time and returns the number of overruns (missed deadlines).
/// A plugin step may take half a tick in real time: beyond that the tick misses its deadline.
const REALTIME_STEP_BUDGET: f64 = 0.5;

/// A stop request (a signal) ends the run like the operator's Stop, between two ticks.
pub fn run(run: &mut Run, stop: &StopRequest) -> u64 {
    run.world.non_send_mut::<crate::tick::PluginSlot>().budget_s =
        REALTIME_STEP_BUDGET * run.plan.period_s;
    let start = Instant::now();
    // A resumed run starts at its restored tick, not at 0.
    let first = run.tick();
    let mut overruns = 0;
    let mut lateness = super::lateness::Lateness::default();
    while !run.finished() {
        if let Some(sig) = stop.signal() {
            run.stop_by_signal(sig);
            break;
        }
        run.run_tick();
        run.read_outputs_health();
        run.offer_state();
        let mut next = run.tick();
        let now = Instant::now();
        let behind = first + (now.duration_since(start).as_secs_f64() / run.plan.period_s) as u64;
        if behind > next {
            // Skip the ticks whose deadlines have passed; count every missed deadline, and tell
            // the tick, whose `tick_overrun` alarm reports it.
            overruns += behind - next;
            next = behind;
            run.world.resource_mut::<crate::tick::Clock>().tick = next;
            let mut alarms = run.world.resource_mut::<crate::tick::alarms::Alarms>();
            alarms.overruns.total = overruns;
            alarms.overruns.last_tick = Some(next);
        }
        let deadline = start + Duration::from_secs_f64((next - first) as f64 * run.plan.period_s);
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        lateness.record(Instant::now().saturating_duration_since(deadline));
    }
    run.lateness = Some(lateness);
    overruns
}
