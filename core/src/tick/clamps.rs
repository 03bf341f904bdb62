//! Setpoint requests the core had to clamp into a phase's band: recorded, never silent. An
//! episode (one signal's requests outside the band on consecutive ticks) is one event when it
//! begins and one count in the run summary, so a plugin that keeps asking does not flood the
//! record.

use super::events::{Event, TickEvents};
use perfuse_plugin_sdk::MAX_SIGNALS;

/// Which signals' requests are being clamped now, and how many episodes began in the run.
#[derive(Debug, Clone, Copy)]
pub struct ClampReport {
    clamping: [bool; MAX_SIGNALS],
    /// Episodes of clamping over the run, all signals together.
    pub episodes: u64,
}

impl Default for ClampReport {
    fn default() -> Self {
        ClampReport {
            clamping: [false; MAX_SIGNALS],
            episodes: 0,
        }
    }
}

impl ClampReport {
    /// Notes this tick's request for `signal` and what the core applied; an event when a
    /// request is clamped after one that was not.
    pub fn note(&mut self, signal: usize, requested: f64, applied: f64, events: &mut TickEvents) {
        let clamped = requested != applied;
        if clamped && !self.clamping[signal] {
            self.episodes += 1;
            events.push(Event::RequestClamped {
                signal,
                requested,
                applied,
            });
        }
        self.clamping[signal] = clamped;
    }

    /// The signal has no request this tick (none made, or the operator's or the file's
    /// setpoint is in force): a later clamped request begins a new episode.
    pub fn clear(&mut self, signal: usize) {
        self.clamping[signal] = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_episode_is_one_event_and_one_count() {
        let mut r = ClampReport::default();
        let mut ev = TickEvents::new();
        r.note(2, 50.0, 50.0, &mut ev);
        assert!(ev.as_slice().is_empty(), "inside the band: nothing");
        for _ in 0..3 {
            r.note(2, 90.0, 80.0, &mut ev);
        }
        assert_eq!(
            ev.as_slice(),
            [Event::RequestClamped {
                signal: 2,
                requested: 90.0,
                applied: 80.0
            }]
        );
        r.clear(2);
        r.note(2, 10.0, 20.0, &mut ev);
        assert_eq!(ev.as_slice().len(), 2);
        assert_eq!(r.episodes, 2);
    }
}
