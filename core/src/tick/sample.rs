//! Sample: take in the operator's input (laboratory values, and the commands due, carried out
//! here and only here: see [`super::operator`]); take the newest sensor frame and judge every
//! reading (ok, stale, implausible, stuck).

use super::events::TickEvents;
use super::operator::{Commanded, OperatorInput};
use super::state::{HalPort, Signals, Validity};
use crate::config::Range;
use crate::plan::{Plan, SensorPlan};
use bevy_ecs::prelude::*;

/// A sensor entity: its channel in the HAL frame and its plausibility limits.
#[derive(Component, Debug, Clone)]
pub struct SensorChannel {
    pub index: usize,
    /// Read from the operator's entries rather than the HAL frame.
    pub operator: bool,
    /// The redundant sensor (its signal index) that stands in while this reading is invalid.
    pub backup: Option<usize>,
    pub signal: usize,
    pub range: Range,
    pub stale_after_ticks: u64,
    pub stuck_after_ticks: u64,
}

impl SensorChannel {
    pub fn new(index: usize, plan: &SensorPlan) -> Self {
        SensorChannel {
            index,
            operator: plan.operator,
            backup: plan.backup,
            signal: plan.signal,
            range: plan.range,
            stale_after_ticks: plan.stale_after_ticks,
            stuck_after_ticks: plan.stuck_after_ticks,
        }
    }
}

/// What the Sample stage remembers about a sensor between ticks.
#[derive(Component, Debug, Default, Clone)]
pub struct SensorHealth {
    /// Sequence number of the frame the last fresh reading came from.
    pub last_seq: u64,
    pub fresh_tick: u64,
    /// Bits of the last reading, to tell "unchanged" exactly.
    pub last_bits: u64,
    pub unchanged_since: u64,
}

/// Judges one reading. Implausible outranks stale, which outranks stuck.
pub fn judge(ch: &SensorChannel, h: &SensorHealth, value: f64, tick: u64) -> Validity {
    if !value.is_finite() || !ch.range.contains(value) {
        Validity::Implausible
    } else if tick.saturating_sub(h.fresh_tick) >= ch.stale_after_ticks {
        Validity::Stale
    } else if tick.saturating_sub(h.unchanged_since) >= ch.stuck_after_ticks {
        Validity::Stuck
    } else {
        Validity::Ok
    }
}

/// What the Sample stage reads and writes besides the sensors.
pub struct SampleStage<'a> {
    pub tick: u64,
    pub plan: &'a Plan,
    pub hal: &'a mut HalPort,
    pub input: &'a mut OperatorInput,
    /// What the operator's commands act on.
    pub commanded: Commanded<'a>,
    pub signals: &'a mut Signals,
    pub events: &'a mut TickEvents,
}

/// The Sample stage: the operator's input due this tick, then every sensor's reading.
pub fn sample_sensors(
    stage: SampleStage<'_>,
    sensors: &mut Query<(&SensorChannel, &mut SensorHealth)>,
) {
    let SampleStage {
        tick,
        plan,
        hal,
        input,
        commanded,
        signals,
        events,
    } = stage;
    // The first stage: a new tick's events start here.
    events.clear();
    match hal {
        HalPort::Direct(h) => h.get().read(&mut signals.frame),
        HalPort::Threaded(ch) => ch.take_newest(&mut signals.frame),
    }
    input.apply_due(plan, tick, events);
    input.apply_commands(tick, plan, commanded, events);
    let frame = &signals.frame;
    for (ch, h) in sensors.iter_mut() {
        // Nothing watches the sensors' health for changes: one plain borrow, not a change
        // mark at every field written.
        let h = h.into_inner();
        let (value, seq, fresh) = if ch.operator {
            let (value, seq) = input.lab(ch.index);
            (value, seq, true)
        } else {
            let fresh = frame.not_fresh & (1 << ch.index) == 0;
            (frame.values[ch.index], frame.seq, fresh)
        };
        if seq != h.last_seq && fresh {
            h.last_seq = seq;
            h.fresh_tick = tick;
            let bits = value.to_bits();
            if bits != h.last_bits || tick == 0 {
                h.last_bits = bits;
                h.unchanged_since = tick;
            }
        }
        let judged = judge(ch, h, value, tick);
        signals.values[ch.signal] = value;
        signals.validity[ch.signal] = judged;
        signals.health[ch.signal] = judged;
    }
    // Redundancy: a failed reading takes its healthy backup's value, so loops and value rules go
    // on; the sensor-health rules still see the failure in `health`. Read from the plan, which
    // lists the same sensors, rather than by iterating the entities a second time.
    for s in &plan.sensors {
        if let Some(b) = s.backup
            && signals.health[s.signal] != Validity::Ok
            && signals.health[b] == Validity::Ok
        {
            signals.values[s.signal] = signals.values[b];
            signals.validity[s.signal] = Validity::Ok;
        }
    }
    debug_assert!(plan.sensors.len() <= signals.values.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel() -> SensorChannel {
        SensorChannel {
            index: 0,
            operator: false,
            backup: None,
            signal: 0,
            range: Range {
                min: 0.0,
                max: 100.0,
            },
            stale_after_ticks: 10,
            stuck_after_ticks: 50,
        }
    }

    #[test]
    fn a_reading_is_judged_in_order_of_severity() {
        let ch = channel();
        let fresh = SensorHealth {
            fresh_tick: 100,
            unchanged_since: 100,
            ..Default::default()
        };
        assert_eq!(judge(&ch, &fresh, 50.0, 100), Validity::Ok);
        assert_eq!(judge(&ch, &fresh, f64::NAN, 100), Validity::Implausible);
        assert_eq!(judge(&ch, &fresh, 150.0, 100), Validity::Implausible);
        assert_eq!(judge(&ch, &fresh, 50.0, 110), Validity::Stale);
        let unchanged = SensorHealth {
            fresh_tick: 160,
            unchanged_since: 100,
            ..Default::default()
        };
        assert_eq!(judge(&ch, &unchanged, 50.0, 149), Validity::Ok);
        assert_eq!(judge(&ch, &unchanged, 50.0, 150), Validity::Stuck);
    }
}
