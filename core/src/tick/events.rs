//! Events of a tick: what happened, each at its tick, for the record and every other output.
//!
//! Stages push into one buffer reserved when the world is built; the Sample stage empties it at
//! the start of every tick and the Record stage publishes it at the end. Pushing never
//! allocates: events beyond the reserved room are counted, never silently lost.

use crate::config::{OperatorAction, Priority};

/// How an alarm changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmChange {
    /// The condition began to hold (the alarm follows once it has persisted).
    ConditionBegan,
    /// The alarm became active.
    Raised,
    /// The alarm stayed and rose a priority.
    Escalated,
    /// The operator acknowledged it: its audible signal is silenced.
    Acknowledged,
    /// Its acknowledgement ran out (per priority): it sounds again.
    AcknowledgementExpired,
    /// The operator reset a latched alarm whose condition was gone.
    Reset,
    /// The alarm ended.
    Ended,
    /// Its activation found no room in the alarm log (low priority only): counted, alarmed.
    LogDropped,
    /// A low-priority entry was overwritten to keep this high or medium one; or, with no such
    /// entry left, this activation was merged into the alarm's previous entry.
    LogMerged,
}

/// Something that happened in a tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event {
    /// The run entered this phase (index into the plan's phases).
    PhaseStarted { phase: usize },
    /// An alarm (index into `Alarms::list`) changed; `priority` is its priority after the change,
    /// `limit` and `value` the limit in force and the value that triggered it (NaN where none).
    Alarm {
        alarm: usize,
        change: AlarmChange,
        priority: Priority,
        limit: f64,
        value: f64,
    },
    /// An operator command, carried out or refused.
    Operator {
        action: OperatorAction,
        accepted: bool,
    },
    /// A laboratory value entered for the sensor with this index.
    Lab { sensor: usize, value: f64 },
    /// The plugin recorded an assessment: its index in the run's assessments.
    Assessment { index: usize },
    /// The plugin was marked faulted, with the reason code.
    PluginFault { code: i32 },
    /// The audible signal: the priority it sounds with now (None: silent).
    Sounding { priority: Option<Priority> },
    /// The operator paused the audible signal of what sounds now, until this tick.
    AudioPaused { until_tick: u64 },
    /// The audio pause ended: by the operator (`early`) or because its time ran out.
    AudioResumed { early: bool },
    /// The core clamped the plugin's setpoint request for this signal into the phase's band
    /// (or the signal's range), the first tick of such an episode.
    RequestClamped {
        signal: usize,
        requested: f64,
        applied: f64,
    },
    /// The real-time watchdog (never the tick): no tick finished for `silent_ms` ms, the HIGH
    /// technical alarm `controller_not_responding` (`responding: false`), or ticks came again.
    Watchdog { responding: bool, silent_ms: u64 },
}

/// Id of the watchdog's alarm.
pub const WATCHDOG_ALARM: &str = "controller_not_responding";
/// Text of the watchdog's alarm.
pub const WATCHDOG_TEXT: &str = "controller not responding: no control tick; each device puts its \
     actuators in their safe state when their commands expire";

/// This tick's events, in a buffer reserved when the world is built.
#[derive(Debug, Clone)]
pub struct TickEvents {
    list: Vec<Event>,
    /// Events that found no room, over the whole run.
    pub dropped: u64,
}

impl TickEvents {
    /// Room for the events of one tick; far more than any protocol raises at once.
    pub const CAPACITY: usize = 256;

    pub fn new() -> Self {
        TickEvents {
            list: Vec::with_capacity(Self::CAPACITY),
            dropped: 0,
        }
    }

    /// Empties the buffer for a new tick, keeping its room.
    pub fn clear(&mut self) {
        self.list.clear();
    }

    /// Adds an event, or counts it when the reserved room is used up.
    pub fn push(&mut self, e: Event) {
        if self.list.len() < self.list.capacity() {
            self.list.push(e);
        } else {
            self.dropped += 1;
        }
    }

    /// The events of this tick, in the order they happened.
    pub fn as_slice(&self) -> &[Event] {
        &self.list
    }
}

impl Default for TickEvents {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_buffer_counts_what_it_cannot_hold() {
        let mut ev = TickEvents::new();
        for i in 0..TickEvents::CAPACITY + 3 {
            ev.push(Event::Lab {
                sensor: i,
                value: 1.0,
            });
        }
        assert_eq!(ev.as_slice().len(), TickEvents::CAPACITY);
        assert_eq!(ev.dropped, 3);
        ev.clear();
        assert!(ev.as_slice().is_empty());
        assert_eq!(ev.dropped, 3, "the count covers the whole run");
    }
}
