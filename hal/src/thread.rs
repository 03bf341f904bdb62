//! The device on its own thread, behind bounded channels that the control thread only touches
//! with `try_send` and `try_recv`: a slow or stuck device never stalls a tick.

use crate::rt::{self, Priority};
use crate::{CommandFrame, Hal, SensorFrame};
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError, bounded};
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
/// time pass and publishes a sensor frame. It stops when the control side hangs up. With a
/// `priority` the thread runs under `SCHED_FIFO` at it, or is not started.
pub fn spawn_hal(
    mut hal: Box<dyn Hal>,
    period_s: f64,
    priority: Option<Priority>,
) -> std::io::Result<(HalChannels, JoinHandle<()>)> {
    let (cmd_tx, cmd_rx) = bounded::<CommandFrame>(4);
    let (frame_tx, frame_rx) = bounded::<SensorFrame>(4);
    // The device thread's own end of the frame queue, to drop the oldest frame when it is full.
    let oldest = frame_rx.clone();
    let (ready_tx, ready_rx) = bounded::<std::io::Result<()>>(1);
    let handle = std::thread::Builder::new()
        .name("perfuse-hal".into())
        .spawn(move || {
            let raised = priority.map_or(Ok(()), rt::enter);
            let refused = raised.is_err();
            let _ = ready_tx.send(raised);
            if refused {
                return;
            }
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
                // A full queue means the control thread is behind: it wants the newest frame, so
                // the oldest makes room.
                if let Err(TrySendError::Full(f)) = frame_tx.try_send(frame) {
                    let _ = oldest.try_recv();
                    let _ = frame_tx.try_send(f);
                }
                n += 1;
                let deadline = start + period * n;
                if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        })?;
    ready_rx
        .recv()
        .map_err(|_| std::io::Error::other("the HAL thread ended before it started"))??;
    Ok((
        HalChannels {
            commands: cmd_tx,
            frames: frame_rx,
        },
        handle,
    ))
}
