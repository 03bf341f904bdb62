//! Estimate: values computed from signals over trailing windows (mean, systolic, diastolic).
//!
//! An estimate is valid only once its window has filled and while every sample in it is valid:
//! a partial window or an invalid input gives an invalid estimate, never a guess. Buffers are
//! allocated once, when the world is built.

use super::state::{PlanRes, Signals, Validity};
use crate::config::EstimateKind;
use crate::plan::{EstimatePlan, Plan};
use bevy_ecs::prelude::*;

/// A trailing window over one signal with O(1) amortised mean, max and min (the deque only
/// for max and min).
///
/// Indices wrap by comparison, never by division: this runs for every estimate on every tick.
#[derive(Debug, Clone)]
pub struct Window {
    kind: EstimateKind,
    /// Ring of the last `cap` samples (NaN for invalid ones); `head` is the next slot.
    ring: Vec<f64>,
    head: usize,
    /// Samples in the ring (grows to `cap`).
    len: usize,
    /// Sequence number of the next sample.
    seq: u64,
    invalid: usize,
    sum: f64,
    /// Monotonic deque of (sequence number, value) for max/min, a ring of capacity `cap`.
    deque: Vec<(u64, f64)>,
    dq_head: usize,
    dq_len: usize,
    /// Samples per minute, to express a slope per minute.
    per_minute: f64,
}

impl Window {
    pub fn new(kind: EstimateKind, cap: usize, period_s: f64) -> Self {
        let cap = cap.max(1);
        Window {
            per_minute: 60.0 / period_s,
            kind,
            ring: vec![f64::NAN; cap],
            head: 0,
            len: 0,
            seq: 0,
            invalid: 0,
            sum: 0.0,
            deque: vec![(0, 0.0); cap],
            dq_head: 0,
            dq_len: 0,
        }
    }

    fn cap(&self) -> usize {
        self.ring.len()
    }

    fn wrap(&self, i: usize) -> usize {
        if i >= self.cap() { i - self.cap() } else { i }
    }

    /// Whether the window keeps the deque: only a maximum or a minimum needs it.
    fn extreme(&self) -> bool {
        matches!(
            self.kind,
            EstimateKind::WindowMax { .. } | EstimateKind::WindowMin { .. }
        )
    }

    /// `true` if `a` should stay in front of `b` in the deque.
    fn dominates(&self, a: f64, b: f64) -> bool {
        match self.kind {
            EstimateKind::WindowMax { .. } => a > b,
            _ => a < b,
        }
    }

    /// Adds a sample (`None` when invalid) and returns the estimate, `None` when invalid.
    pub fn push(&mut self, sample: Option<f64>) -> Option<f64> {
        let cap = self.cap();
        let newest = self.head;
        if self.len == cap {
            let old = self.ring[self.head];
            if old.is_nan() {
                self.invalid -= 1;
            } else {
                self.sum -= old;
            }
            let leaving = self.seq - cap as u64;
            if self.extreme() && self.dq_len > 0 && self.deque[self.dq_head].0 == leaving {
                self.dq_head = self.wrap(self.dq_head + 1);
                self.dq_len -= 1;
            }
        } else {
            self.len += 1;
        }
        match sample {
            Some(v) if self.extreme() => {
                self.ring[self.head] = v;
                self.sum += v;
                while self.dq_len > 0 {
                    let back = self.wrap(self.dq_head + self.dq_len - 1);
                    if self.dominates(self.deque[back].1, v) {
                        break;
                    }
                    self.dq_len -= 1;
                }
                let back = self.wrap(self.dq_head + self.dq_len);
                self.deque[back] = (self.seq, v);
                self.dq_len += 1;
            }
            Some(v) => {
                self.ring[self.head] = v;
                self.sum += v;
            }
            None => {
                self.ring[self.head] = f64::NAN;
                self.invalid += 1;
            }
        }
        self.seq += 1;
        self.head += 1;
        if self.head == cap {
            self.head = 0;
            // The running sum drifts by rounding; rebuild it exactly once per window length.
            self.sum = self.ring.iter().filter(|v| !v.is_nan()).sum();
        }
        if self.invalid > 0 || self.len < cap {
            return None;
        }
        match self.kind {
            EstimateKind::WindowMean { .. } => Some(self.sum / self.len as f64),
            EstimateKind::Slope { .. } => {
                // The oldest sample follows the newest in a full ring, and is slot 0 before.
                let oldest = if self.len == cap {
                    self.wrap(newest + 1)
                } else {
                    0
                };
                (self.len > 1).then(|| {
                    let rise = self.ring[newest] - self.ring[oldest];
                    rise / (self.len - 1) as f64 * self.per_minute
                })
            }
            _ => Some(self.deque[self.dq_head].1),
        }
    }
}

/// One estimate per entry, in file order: its plan (what it reads and writes) with its window,
/// for the kinds that have one. Only the Estimate stage uses it: it is the first half's
/// `Local`, built from the plan when the schedule is initialized, rather than a resource looked
/// up every tick.
#[derive(Debug, Clone)]
pub struct Estimators {
    estimates: Vec<(EstimatePlan, Option<Window>)>,
}

impl FromWorld for Estimators {
    fn from_world(world: &mut World) -> Self {
        Estimators::new(&world.resource::<PlanRes>().0)
    }
}

impl Estimators {
    pub fn new(plan: &Plan) -> Self {
        Estimators {
            estimates: plan
                .estimates
                .iter()
                .map(|e| {
                    let window = e
                        .kind
                        .window_s()
                        .map(|_| Window::new(e.kind, e.window_ticks, plan.period_s));
                    (e.clone(), window)
                })
                .collect(),
        }
    }
}

/// The Estimate stage: every estimate from this tick's signals, in file order.
pub fn estimate_signals(est: &mut Estimators, signals: &mut Signals) {
    for (e, window) in est.estimates.iter_mut() {
        let input = signals.is_valid(e.from).then_some(signals.values[e.from]);
        let estimate = match (e.kind, window) {
            (EstimateKind::Linear { gain, offset, .. }, _) => input.map(|v| gain * v + offset),
            (_, Some(w)) => w.push(input),
            (_, None) => None,
        };
        match estimate {
            Some(v) => {
                signals.values[e.signal] = v;
                signals.validity[e.signal] = Validity::Ok;
            }
            None => {
                signals.values[e.signal] = f64::NAN;
                signals.validity[e.signal] = Validity::Implausible;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(kind: EstimateKind, data: &[f64], cap: usize, i: usize) -> f64 {
        let lo = (i + 1).saturating_sub(cap);
        let w = &data[lo..=i];
        match kind {
            EstimateKind::WindowMean { .. } => w.iter().sum::<f64>() / w.len() as f64,
            EstimateKind::WindowMax { .. } => w.iter().cloned().fold(f64::MIN, f64::max),
            EstimateKind::WindowMin { .. } => w.iter().cloned().fold(f64::MAX, f64::min),
            EstimateKind::Slope { .. } => (w[w.len() - 1] - w[0]) / (w.len() - 1) as f64 * 60.0,
            EstimateKind::Linear { .. } => unreachable!("not a window"),
        }
    }

    #[test]
    fn windows_match_a_naive_computation() {
        let data: Vec<f64> = (0..500)
            .map(|i| ((i * 37) % 101) as f64 - 50.0 + (i as f64 * 0.01).sin())
            .collect();
        for kind in [
            EstimateKind::WindowMean { window_s: 0.0 },
            EstimateKind::WindowMax { window_s: 0.0 },
            EstimateKind::WindowMin { window_s: 0.0 },
            EstimateKind::Slope { window_s: 0.0 },
        ] {
            // One sample a second: a slope per sample is 60 per minute.
            let mut w = Window::new(kind, 7, 1.0);
            for (i, &v) in data.iter().enumerate() {
                let Some(got) = w.push(Some(v)) else {
                    assert!(
                        i < 6,
                        "{kind:?}: no estimate at sample {i}, with a full window"
                    );
                    continue;
                };
                assert!(
                    i >= 6,
                    "{kind:?}: an estimate from a partial window at sample {i}"
                );
                let want = naive(kind, &data, 7, i);
                assert!(
                    (got - want).abs() < 1e-9,
                    "{kind:?} at {i}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn an_invalid_sample_invalidates_the_window_until_it_leaves() {
        let mut w = Window::new(EstimateKind::WindowMean { window_s: 0.0 }, 3, 0.01);
        assert_eq!(w.push(Some(1.0)), None, "the window is not full yet");
        assert_eq!(w.push(None), None);
        assert_eq!(w.push(Some(3.0)), None);
        assert_eq!(w.push(Some(5.0)), None);
        assert_eq!(w.push(Some(7.0)), Some(5.0));
    }
}
