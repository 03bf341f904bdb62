//! Estimate: values computed from signals over trailing windows (mean, systolic, diastolic).
//!
//! An estimate is valid only once its window has filled and while every sample in it is valid:
//! a partial window or an invalid input gives an invalid estimate, never a guess. Buffers are
//! allocated once, when the world is built.

use super::state::{PlanRes, Signals, Validity};
use crate::config::EstimateKind;
use crate::plan::Plan;
use bevy_ecs::prelude::*;

/// What a window reduces its samples to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reduce {
    Mean,
    Max,
    Min,
    Slope,
}

/// A trailing window over one signal, updated in O(1) (amortised for max and min) per sample:
/// a running sum for the mean, a monotonic deque for max and min, the ring's two ends for the
/// slope. Each kind keeps only what it needs, and a push does only its kind's work: this runs
/// for every estimate on every tick.
///
/// Whether the window holds an invalid sample is one comparison: the window is valid once the
/// last invalid sample (if any) is older than its oldest sample. Indices wrap by comparison,
/// never by division.
#[derive(Debug, Clone)]
pub struct Window {
    reduce: Reduce,
    cap: usize,
    /// Sequence number of the next sample (= samples pushed so far).
    seq: u64,
    /// Sequence number of the first sample after the last invalid one (0: none was invalid).
    valid_from: u64,
    /// Mean and slope: ring of the last `cap` samples (NaN for invalid ones and for slots not
    /// yet filled); `head` is the next slot. Empty for max and min, which need only the deque.
    ring: Vec<f64>,
    head: usize,
    /// Mean: the sum of the valid samples in the ring.
    sum: f64,
    /// `cap` as a float, the mean's divisor; `cap - 1` as a float, the slope's.
    cap_f: f64,
    steps_f: f64,
    /// Max and min: monotonic deque of (sequence number, value), `deque[dq_head..dq_tail]`, in
    /// a buffer of twice the window's length: the deque holds at most `cap` samples, so moving
    /// it back to the start when it reaches the end costs at most one copied sample per push,
    /// and no index ever wraps.
    deque: Vec<(u64, f64)>,
    dq_head: usize,
    dq_tail: usize,
    /// Samples per minute, to express a slope per minute.
    per_minute: f64,
}

impl Window {
    /// A window of `cap` samples for a windowed `kind` (`Linear` has none and is never given).
    pub fn new(kind: EstimateKind, cap: usize, period_s: f64) -> Self {
        let cap = cap.max(1);
        let reduce = match kind {
            EstimateKind::WindowMax { .. } => Reduce::Max,
            EstimateKind::WindowMin { .. } => Reduce::Min,
            EstimateKind::Slope { .. } => Reduce::Slope,
            _ => Reduce::Mean,
        };
        let extreme = matches!(reduce, Reduce::Max | Reduce::Min);
        Window {
            reduce,
            cap,
            seq: 0,
            valid_from: 0,
            ring: if extreme {
                Vec::new()
            } else {
                vec![f64::NAN; cap]
            },
            head: 0,
            sum: 0.0,
            cap_f: cap as f64,
            steps_f: (cap - 1) as f64,
            deque: if extreme {
                vec![(0, 0.0); 2 * cap]
            } else {
                Vec::new()
            },
            dq_head: 0,
            dq_tail: 0,
            per_minute: 60.0 / period_s,
        }
    }

    /// Adds a sample (`None` when invalid) and returns the estimate, `None` when invalid.
    /// Inlined into the Estimate stage, its one caller in the tick: the call's own cost was a
    /// fifth of the push's.
    #[inline(always)]
    pub fn push(&mut self, sample: Option<f64>) -> Option<f64> {
        let seq = self.seq;
        self.seq += 1;
        // A NaN is no sample either (a valid signal is never NaN).
        let v = match sample {
            Some(v) if !v.is_nan() => v,
            _ => {
                self.valid_from = self.seq;
                f64::NAN
            }
        };
        match self.reduce {
            Reduce::Mean => {
                // A slot not yet filled holds NaN, like an invalid sample: nothing to take out.
                let old = self.ring[self.head];
                if !old.is_nan() {
                    self.sum -= old;
                }
                if !v.is_nan() {
                    self.sum += v;
                }
                self.advance_ring(v);
            }
            Reduce::Slope => self.advance_ring(v),
            Reduce::Max => self.push_extreme(seq, v, |kept, new| kept > new),
            Reduce::Min => self.push_extreme(seq, v, |kept, new| kept < new),
        }
        // Full, and the last invalid sample (if any) has left.
        if self.seq < self.valid_from + self.cap as u64 {
            return None;
        }
        match self.reduce {
            Reduce::Mean => Some(self.sum / self.cap_f),
            // The ring is full: the newest sample is behind `head`, the oldest at it.
            Reduce::Slope => (self.cap > 1).then(|| {
                let newest = if self.head == 0 {
                    self.cap - 1
                } else {
                    self.head - 1
                };
                let rise = self.ring[newest] - self.ring[self.head];
                rise / self.steps_f * self.per_minute
            }),
            Reduce::Max | Reduce::Min => Some(self.deque[self.dq_head].1),
        }
    }

    /// Stores `v` in the ring's next slot.
    fn advance_ring(&mut self, v: f64) {
        self.ring[self.head] = v;
        self.head += 1;
        if self.head == self.cap {
            self.head = 0;
            if self.reduce == Reduce::Mean {
                // The running sum drifts by rounding; rebuild it exactly once per window
                // length.
                self.sum = self.ring.iter().filter(|v| !v.is_nan()).sum();
            }
        }
    }

    /// Max and min: the sample leaving the window (`seq` minus the window) leaves the deque's
    /// front; `v` (unless invalid) enters at the back, once every sample there that does not
    /// `dominate` it has been dropped.
    fn push_extreme(&mut self, seq: u64, v: f64, dominates: impl Fn(f64, f64) -> bool) {
        let cap = self.cap as u64;
        if self.dq_head < self.dq_tail && self.deque[self.dq_head].0 + cap <= seq {
            self.dq_head += 1;
        }
        if v.is_nan() {
            return;
        }
        while self.dq_tail > self.dq_head && !dominates(self.deque[self.dq_tail - 1].1, v) {
            self.dq_tail -= 1;
        }
        if self.dq_tail == self.deque.len() {
            self.deque.copy_within(self.dq_head..self.dq_tail, 0);
            self.dq_tail -= self.dq_head;
            self.dq_head = 0;
        }
        self.deque[self.dq_tail] = (seq, v);
        self.dq_tail += 1;
    }
}

/// How one estimate is computed from its input.
#[derive(Debug, Clone)]
enum Method {
    Linear { gain: f64, offset: f64 },
    Window(Window),
}

/// One estimate: the signal it reads, the signal it writes, and how.
#[derive(Debug, Clone)]
struct Estimator {
    from: usize,
    signal: usize,
    method: Method,
}

/// Every estimate, in file order, each with its window where its kind has one. Only the
/// Estimate stage uses it: it is the first half's `Local`, built from the plan when the schedule
/// is initialized, rather than a resource looked up every tick.
#[derive(Debug, Clone)]
pub struct Estimators {
    estimates: Vec<Estimator>,
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
                .map(|e| Estimator {
                    from: e.from,
                    signal: e.signal,
                    method: match e.kind {
                        EstimateKind::Linear { gain, offset, .. } => {
                            Method::Linear { gain, offset }
                        }
                        kind => Method::Window(Window::new(kind, e.window_ticks, plan.period_s)),
                    },
                })
                .collect(),
        }
    }
}

/// The Estimate stage: every estimate from this tick's signals, in file order.
pub fn estimate_signals(est: &mut Estimators, signals: &mut Signals) {
    for e in est.estimates.iter_mut() {
        let input = signals.is_valid(e.from).then_some(signals.values[e.from]);
        let estimate = match &mut e.method {
            Method::Linear { gain, offset } => input.map(|v| *gain * v + *offset),
            Method::Window(w) => w.push(input),
        };
        let (value, validity) = match estimate {
            Some(v) => (v, Validity::Ok),
            None => (f64::NAN, Validity::Implausible),
        };
        signals.values[e.signal] = value;
        signals.validity[e.signal] = validity;
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
    fn windows_with_invalid_samples_match_a_naive_computation() {
        // Every 23rd sample, and a run of five from 100, are invalid.
        let data: Vec<Option<f64>> = (0..400)
            .map(|i| {
                let invalid = i % 23 == 5 || (100..105).contains(&i);
                (!invalid).then(|| ((i * 53) % 97) as f64 * 0.5 - 20.0)
            })
            .collect();
        for kind in [
            EstimateKind::WindowMean { window_s: 0.0 },
            EstimateKind::WindowMax { window_s: 0.0 },
            EstimateKind::WindowMin { window_s: 0.0 },
            EstimateKind::Slope { window_s: 0.0 },
        ] {
            for cap in [1, 2, 5, 9] {
                let mut w = Window::new(kind, cap, 1.0);
                for (i, &v) in data.iter().enumerate() {
                    let got = w.push(v);
                    let lo = (i + 1).saturating_sub(cap);
                    let window: Option<Vec<f64>> = data[lo..=i].iter().copied().collect();
                    let want = match window {
                        Some(_) if i + 1 < cap => None,
                        Some(_) if cap == 1 && matches!(kind, EstimateKind::Slope { .. }) => None,
                        Some(_) => Some(naive(
                            kind,
                            &data.iter().map(|v| v.unwrap_or(0.0)).collect::<Vec<_>>(),
                            cap,
                            i,
                        )),
                        None => None,
                    };
                    match (got, want) {
                        (None, None) => {}
                        (Some(g), Some(x)) => assert!(
                            (g - x).abs() < 1e-9,
                            "{kind:?} cap {cap} at {i}: {g} vs {x}"
                        ),
                        _ => panic!("{kind:?} cap {cap} at {i}: {got:?} vs {want:?}"),
                    }
                }
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
