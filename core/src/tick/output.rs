//! What each tick publishes to the outputs (status lines, the record, later the console and the
//! monitor), and the ports it goes through.
//!
//! The Record stage fills one fixed-size [`Frame`] and hands a copy to every output that wants
//! this tick, through a bounded crossbeam queue with `try_send`: the control thread never waits
//! on an output. An output that lags loses frames, counted; an output that fails ends its thread,
//! which hangs up its queue, and the port counts it failed. Neither ever stops control.
//!
//! In lockstep simulation an output may ask to lose nothing ([`Delivery::Wait`]): the frame that
//! found its queue full is kept and handed over by the driver between ticks, where waiting costs
//! simulated time only. That is what makes a lockstep record the same whatever the machine's load.

pub use crate::tick::alarms::OutputHealth;
use crate::tick::events::Event;
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use perfuse_plugin_sdk::{MAX_ACTUATORS, MAX_DERIVED, MAX_SIGNALS};

/// Events a frame carries; a tick with more counts the rest in [`Frame::events_dropped`].
pub const FRAME_EVENTS: usize = 32;
/// Alarms whose state a frame carries (rules in file order, then the core's own).
pub const MAX_ALARMS: usize = 128;

/// One alarm's state in a frame: 0 inactive; else the priority (1 low, 2 medium, 3 high), plus
/// [`ALARM_ACKNOWLEDGED`] once acknowledged and [`ALARM_PAUSED`] while an audio pause covers it.
pub type AlarmState = u8;
pub const ALARM_ACKNOWLEDGED: AlarmState = 0x10;
pub const ALARM_PAUSED: AlarmState = 0x20;

/// Everything one tick publishes: plain data of a fixed size, copied into each output's queue.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// The tick this frame describes (its time is `tick × period`).
    pub tick: u64,
    /// Index of the phase in force.
    pub phase: usize,
    /// Value and validity of every signal (sensors, then estimates), as the plan lists them.
    pub values: [f64; MAX_SIGNALS],
    pub validity: [u8; MAX_SIGNALS],
    /// The setpoint in force per signal (NaN: none).
    pub setpoints: [f64; MAX_SIGNALS],
    /// The command sent to every actuator this tick.
    pub commands: [f64; MAX_ACTUATORS],
    /// What every actuator delivered, as the device reported it this tick (the previous
    /// tick's command as applied; NaN where the device reports nothing).
    pub delivered: [f64; MAX_ACTUATORS],
    /// The plugin's derived values (NaN while undefined).
    pub derived: [f64; MAX_DERIVED],
    /// With an [`Event::Assessment`] this tick: the values it recorded (else NaN).
    pub assessment: [f64; MAX_DERIVED],
    pub alarms: [AlarmState; MAX_ALARMS],
    /// The tick each active alarm became active.
    pub alarm_since: [u64; MAX_ALARMS],
    /// The priority the audible signal sounds with (encoded as in [`AlarmState`]; 0: silent).
    pub sounding: u8,
    /// While an audio pause is in force, the tick it ends (else 0).
    pub audio_paused_until: u64,
    /// Missed real-time deadlines over the run so far.
    pub overruns: u64,
    /// Whether this tick is one of the output's sample ticks (else it carries events only).
    pub sample: bool,
    /// This tick's events; `events[..n_events]` are valid.
    pub events: [Event; FRAME_EVENTS],
    pub n_events: usize,
    /// Events of this tick that neither the tick's buffer nor the frame had room for.
    pub events_dropped: u64,
}

impl Frame {
    pub fn new() -> Self {
        Frame {
            tick: 0,
            phase: 0,
            values: [f64::NAN; MAX_SIGNALS],
            validity: [0; MAX_SIGNALS],
            setpoints: [f64::NAN; MAX_SIGNALS],
            commands: [0.0; MAX_ACTUATORS],
            delivered: [f64::NAN; MAX_ACTUATORS],
            derived: [f64::NAN; MAX_DERIVED],
            assessment: [f64::NAN; MAX_DERIVED],
            alarms: [0; MAX_ALARMS],
            alarm_since: [0; MAX_ALARMS],
            sounding: 0,
            audio_paused_until: 0,
            overruns: 0,
            sample: false,
            events: [Event::PhaseStarted { phase: 0 }; FRAME_EVENTS],
            n_events: 0,
            events_dropped: 0,
        }
    }

    pub fn events(&self) -> &[Event] {
        &self.events[..self.n_events]
    }

    /// The watchdog's frame: only its event counts (the tick is the last one done); outputs
    /// keep the state they have and show the alarm.
    pub fn watchdog(tick: u64, responding: bool, silent_ms: u64) -> Self {
        let mut f = Frame::new();
        f.tick = tick;
        f.events[0] = Event::Watchdog {
            responding,
            silent_ms,
        };
        f.n_events = 1;
        f
    }

    /// The watchdog's event, if this is the watchdog's frame.
    pub fn watchdog_event(&self) -> Option<(bool, u64)> {
        match self.events() {
            [
                Event::Watchdog {
                    responding,
                    silent_ms,
                },
            ] => Some((*responding, *silent_ms)),
            _ => None,
        }
    }
}

impl Default for Frame {
    fn default() -> Self {
        Self::new()
    }
}

/// How an output takes frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Real time: a full queue loses the frame, counted.
    Drop,
    /// Lockstep simulation: a full queue holds the driver (simulated time waits), nothing lost.
    Wait,
}

/// One output's end of the frame stream, held by the tick.
#[derive(Debug)]
struct Port {
    tx: Option<Sender<Frame>>,
    /// Frames go out on every tick that is a multiple of this, and on every tick with events.
    every_ticks: u64,
    delivery: Delivery,
    /// A frame that found the queue full, for the driver to hand over ([`Delivery::Wait`]).
    held: Option<Frame>,
    lost: u64,
    failed_tick: Option<u64>,
}

/// Every output's port; part of the tick's state, used by the Record stage.
#[derive(Debug, Default)]
pub struct Outputs {
    ports: Vec<Port>,
    /// The frame being built, reserved with the world.
    pub frame: Frame,
    /// The tick buffer's count of dropped events when the last frame was built.
    pub events_dropped_seen: u64,
}

/// An output's queue, as its thread holds it.
pub type FrameReceiver = Receiver<Frame>;
/// An output's queue, as the run holds it.
pub type FrameSender = Sender<Frame>;

impl Outputs {
    /// Opens a port with room for `capacity` frames; frames go out every `every_ticks` ticks and
    /// on every tick with events.
    pub fn attach(
        &mut self,
        every_ticks: u64,
        capacity: usize,
        delivery: Delivery,
    ) -> Receiver<Frame> {
        let (tx, rx) = bounded(capacity.max(1));
        self.ports.push(Port {
            tx: Some(tx),
            every_ticks: every_ticks.max(1),
            delivery,
            held: None,
            lost: 0,
            failed_tick: None,
        });
        rx
    }

    /// Whether any output wants the frame of `tick` (which has `events` events).
    pub fn wanted(&self, tick: u64, events: bool) -> bool {
        self.ports
            .iter()
            .any(|p| p.tx.is_some() && (events || tick.is_multiple_of(p.every_ticks)))
    }

    /// Hands the built frame to every output that wants it, never waiting.
    pub fn publish(&mut self) {
        let events = self.frame.n_events > 0;
        let tick = self.frame.tick;
        for p in &mut self.ports {
            let Some(tx) = &p.tx else { continue };
            let sample = tick.is_multiple_of(p.every_ticks);
            if !(events || sample) {
                continue;
            }
            let mut f = self.frame;
            f.sample = sample;
            match tx.try_send(f) {
                Ok(()) => {}
                Err(TrySendError::Full(f)) => match p.delivery {
                    Delivery::Drop => p.lost += 1,
                    Delivery::Wait => p.held = Some(f),
                },
                Err(TrySendError::Disconnected(_)) => {
                    p.tx = None;
                    p.failed_tick = Some(tick);
                }
            }
        }
    }

    /// Sends the state where the run ended to every output, even one that does not sample this
    /// tick: the driver's last frame. Its events were published with their tick. An output that
    /// may lose frames loses this one too when its queue is full, rather than hold the run's end.
    pub fn publish_final(&mut self) {
        self.frame.sample = true;
        self.frame.n_events = 0;
        self.frame.events_dropped = 0;
        let f = self.frame;
        for p in &mut self.ports {
            let Some(tx) = &p.tx else { continue };
            let sent = match p.delivery {
                Delivery::Wait => tx.send(f).map_err(|_| TrySendError::Disconnected(f)),
                Delivery::Drop => tx.try_send(f),
            };
            match sent {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => p.lost += 1,
                Err(TrySendError::Disconnected(_)) => {
                    p.failed_tick = Some(f.tick);
                    p.tx = None;
                }
            }
        }
    }

    /// Hands over the frames held for lossless outputs, waiting for room. Called by the lockstep
    /// driver between ticks, never inside one.
    pub fn hand_over_held(&mut self) {
        for p in &mut self.ports {
            if let (Some(f), Some(tx)) = (p.held.take(), &p.tx)
                && tx.send(f).is_err()
            {
                p.failed_tick = Some(f.tick);
                p.tx = None;
            }
        }
    }

    /// A second end of every open queue, for the watchdog, which must reach the outputs while
    /// the control thread cannot.
    pub fn senders(&self) -> Vec<FrameSender> {
        self.ports.iter().filter_map(|p| p.tx.clone()).collect()
    }

    /// Removes every port on purpose, between ticks: an output that has had what it needed
    /// (resume's probe of the re-run) and then hangs up has not failed.
    pub fn detach_all(&mut self) {
        self.ports.clear();
    }

    /// Hangs up every queue: each output drains what it has and ends.
    pub fn close(&mut self) {
        self.hand_over_held();
        for p in &mut self.ports {
            p.tx = None;
        }
    }

    pub fn health(&self) -> OutputHealth {
        OutputHealth {
            failed: self
                .ports
                .iter()
                .filter(|p| p.failed_tick.is_some())
                .count() as u32,
            last_failure_tick: self.ports.iter().filter_map(|p| p.failed_tick).max(),
            frames_lost: self.ports.iter().map(|p| p.lost).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_at(out: &mut Outputs, tick: u64, events: usize) {
        out.frame.tick = tick;
        out.frame.n_events = events;
    }

    #[test]
    fn a_lagging_output_loses_frames_counted_and_control_goes_on() {
        let mut out = Outputs::default();
        let rx = out.attach(1, 2, Delivery::Drop);
        for t in 0..5 {
            frame_at(&mut out, t, 0);
            out.publish();
        }
        assert_eq!(out.health().frames_lost, 3);
        assert_eq!(rx.try_iter().map(|f| f.tick).collect::<Vec<_>>(), [0, 1]);
    }

    #[test]
    fn frames_go_out_on_sample_ticks_and_on_ticks_with_events() {
        let mut out = Outputs::default();
        let rx = out.attach(10, 64, Delivery::Drop);
        for t in 0..25 {
            frame_at(&mut out, t, usize::from(t == 13));
            out.publish();
        }
        let got: Vec<(u64, bool)> = rx.try_iter().map(|f| (f.tick, f.sample)).collect();
        assert_eq!(got, [(0, true), (10, true), (13, false), (20, true)]);
        assert!(!out.wanted(14, false));
        assert!(out.wanted(14, true));
        assert!(out.wanted(30, false));
    }

    #[test]
    fn a_detached_output_is_not_a_failed_one() {
        let mut out = Outputs::default();
        let rx = out.attach(1, 4, Delivery::Wait);
        frame_at(&mut out, 0, 0);
        out.publish();
        out.detach_all();
        drop(rx);
        frame_at(&mut out, 1, 0);
        out.publish();
        assert_eq!(out.health(), OutputHealth::default());
        assert!(!out.wanted(2, true), "no output left");
    }

    #[test]
    fn a_failed_output_is_counted_once_and_skipped() {
        let mut out = Outputs::default();
        let rx = out.attach(1, 4, Delivery::Drop);
        let keep = out.attach(1, 64, Delivery::Drop);
        drop(rx);
        for t in 0..5 {
            frame_at(&mut out, t, 0);
            out.publish();
        }
        let h = out.health();
        assert_eq!(h.failed, 1);
        assert_eq!(h.last_failure_tick, Some(0));
        assert_eq!(keep.try_iter().count(), 5);
    }

    #[test]
    fn the_last_frame_never_waits_on_an_output_that_may_lose_frames() {
        let mut out = Outputs::default();
        let rx = out.attach(1, 1, Delivery::Drop);
        frame_at(&mut out, 0, 0);
        out.publish();
        frame_at(&mut out, 1, 3);
        out.publish_final();
        assert_eq!(out.health().frames_lost, 1);
        out.close();
        assert_eq!(rx.iter().map(|f| f.tick).collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn a_waiting_output_loses_nothing() {
        let mut out = Outputs::default();
        let rx = out.attach(1, 1, Delivery::Wait);
        let reader = std::thread::spawn(move || rx.iter().map(|f| f.tick).collect::<Vec<_>>());
        for t in 0..100 {
            frame_at(&mut out, t, 0);
            out.publish();
            out.hand_over_held();
        }
        out.close();
        let got = reader.join().expect("reader");
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        assert_eq!(out.health().frames_lost, 0);
    }
}
