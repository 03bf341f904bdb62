//! Estimate: values computed from signals over trailing windows (mean, systolic, diastolic).
//!
//! An estimate is valid only while every sample in its window was valid: an invalid input gives
//! an invalid estimate, never a guess. Buffers are allocated once, when the world is built.

use super::{PlanRes, Signals};
use crate::config::EstimateKind;
use crate::plan::Plan;
use bevy_ecs::prelude::*;
use perfuse_plugin_sdk::validity;

/// A trailing window over one signal with O(1) amortised mean, max and min.
#[derive(Debug, Clone)]
pub struct Window {
    kind: EstimateKind,
    /// Ring of the last `cap` samples (NaN for invalid ones).
    ring: Vec<f64>,
    cap: usize,
    /// Number of samples pushed so far (the ring index is `pushed % cap`).
    pushed: u64,
    invalid: usize,
    sum: f64,
    /// Monotonic deque of sample numbers for max/min, stored as a ring of capacity `cap`.
    deque: Vec<u64>,
    dq_head: usize,
    dq_len: usize,
}

impl Window {
    pub fn new(kind: EstimateKind, cap: usize) -> Self {
        let cap = cap.max(1);
        Window {
            kind,
            ring: vec![f64::NAN; cap],
            cap,
            pushed: 0,
            invalid: 0,
            sum: 0.0,
            deque: vec![0; cap],
            dq_head: 0,
            dq_len: 0,
        }
    }

    fn at(&self, n: u64) -> f64 {
        self.ring[(n % self.cap as u64) as usize]
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
        let n = self.pushed;
        if n >= self.cap as u64 {
            let old = self.at(n - self.cap as u64);
            if old.is_nan() {
                self.invalid -= 1;
            } else {
                self.sum -= old;
            }
            if self.dq_len > 0 && self.deque[self.dq_head] == n - self.cap as u64 {
                self.dq_head = (self.dq_head + 1) % self.cap;
                self.dq_len -= 1;
            }
        }
        let slot = (n % self.cap as u64) as usize;
        match sample {
            Some(v) => {
                self.ring[slot] = v;
                self.sum += v;
                while self.dq_len > 0 {
                    let back = (self.dq_head + self.dq_len - 1) % self.cap;
                    if self.dominates(self.at(self.deque[back]), v) {
                        break;
                    }
                    self.dq_len -= 1;
                }
                let back = (self.dq_head + self.dq_len) % self.cap;
                self.deque[back] = n;
                self.dq_len += 1;
            }
            None => {
                self.ring[slot] = f64::NAN;
                self.invalid += 1;
            }
        }
        self.pushed += 1;
        // The running sum drifts by rounding; rebuild it exactly once per window length.
        if self.pushed % self.cap as u64 == 0 {
            self.sum = self.ring.iter().filter(|v| !v.is_nan()).sum();
        }
        if self.invalid > 0 {
            return None;
        }
        let len = self.pushed.min(self.cap as u64);
        match self.kind {
            EstimateKind::WindowMean { .. } => Some(self.sum / len as f64),
            _ => Some(self.at(self.deque[self.dq_head])),
        }
    }
}

/// One window per estimate, in file order.
#[derive(Resource, Debug, Clone)]
pub struct Estimators {
    windows: Vec<Window>,
}

impl Estimators {
    pub fn new(plan: &Plan) -> Self {
        Estimators {
            windows: plan
                .estimates
                .iter()
                .map(|e| Window::new(e.kind, e.window_ticks))
                .collect(),
        }
    }
}

pub fn estimate_signals(
    plan: Res<PlanRes>,
    mut est: ResMut<Estimators>,
    mut signals: ResMut<Signals>,
) {
    for (e, w) in plan.0.estimates.iter().zip(est.windows.iter_mut()) {
        let input = signals.is_valid(e.from).then_some(signals.values[e.from]);
        match w.push(input) {
            Some(v) => {
                signals.values[e.signal] = v;
                signals.validity[e.signal] = validity::OK;
            }
            None => {
                signals.values[e.signal] = f64::NAN;
                signals.validity[e.signal] = validity::IMPLAUSIBLE;
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
        ] {
            let mut w = Window::new(kind, 7);
            for (i, &v) in data.iter().enumerate() {
                let got = w.push(Some(v)).unwrap();
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
        let mut w = Window::new(EstimateKind::WindowMean { window_s: 0.0 }, 3);
        assert_eq!(w.push(Some(1.0)), Some(1.0));
        assert_eq!(w.push(None), None);
        assert_eq!(w.push(Some(3.0)), None);
        assert_eq!(w.push(Some(5.0)), None);
        assert_eq!(w.push(Some(7.0)), Some(5.0));
    }
}
