//! Dose caps: what an infusion pump has delivered over a sliding window, in one-second buckets
//! allocated when the world is built.

use bevy_ecs::prelude::*;

/// Delivered volume of one infusion pump over the last `window` seconds.
#[derive(Component, Debug, Clone)]
pub struct DoseWindow {
    max_ml: f64,
    /// mL delivered in each of the last whole seconds; `head` is the oldest.
    buckets: Vec<f64>,
    head: usize,
    /// Sum of `buckets`.
    sum: f64,
    /// mL delivered so far in the current second.
    current: f64,
    ticks_in_second: u32,
    ticks_per_second: u32,
    /// Everything delivered during the run, for the record.
    pub total_ml: f64,
}

impl DoseWindow {
    pub fn new(max_ml: f64, window_s: f64, period_s: f64) -> Self {
        DoseWindow {
            max_ml,
            buckets: vec![0.0; (window_s.round() as usize).max(1)],
            head: 0,
            sum: 0.0,
            current: 0.0,
            ticks_in_second: 0,
            ticks_per_second: ((1.0 / period_s).round() as u32).max(1),
            total_ml: 0.0,
        }
    }

    /// What the window holds, oldest second first, for a run's saved state.
    pub fn memory(&self) -> DoseMemory {
        let (newer, older) = self.buckets.split_at(self.head);
        let mut runs: Vec<(u32, f64)> = Vec::new();
        for &ml in older.iter().chain(newer) {
            match runs.last_mut() {
                Some((n, v)) if v.to_bits() == ml.to_bits() => *n += 1,
                _ => runs.push((1, ml)),
            }
        }
        DoseMemory {
            seconds_ml: runs,
            current_ml: self.current,
            ticks_in_second: self.ticks_in_second,
            total_ml: self.total_ml,
        }
    }

    /// Whether `m` is a window of this one's length and rate, with finite amounts.
    pub fn accepts(&self, m: &DoseMemory) -> Result<(), String> {
        let seconds: u64 = m.seconds_ml.iter().map(|(n, _)| u64::from(*n)).sum();
        if seconds != self.buckets.len() as u64 || m.ticks_in_second >= self.ticks_per_second {
            return Err(format!(
                "the saved dose window has {seconds} seconds, this one {}",
                self.buckets.len()
            ));
        }
        let per_second = m.seconds_ml.iter().map(|(_, v)| v);
        let amounts = per_second.chain([&m.current_ml, &m.total_ml]);
        if amounts.into_iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err("the saved dose window holds an amount that is not a volume".into());
        }
        Ok(())
    }

    /// Takes back a saved window that [`DoseWindow::accepts`], so a restart never forgets a dose.
    pub fn resume(&mut self, m: &DoseMemory) {
        debug_assert!(self.accepts(m).is_ok());
        let seconds = m
            .seconds_ml
            .iter()
            .flat_map(|&(n, v)| std::iter::repeat_n(v, n as usize));
        for (slot, v) in self.buckets.iter_mut().zip(seconds) {
            *slot = v;
        }
        self.head = 0;
        self.sum = self.buckets.iter().sum();
        self.current = m.current_ml;
        self.ticks_in_second = m.ticks_in_second;
        self.total_ml = m.total_ml;
    }

    /// Ticks after which a further `pass` changes nothing: the whole window has slid by.
    pub fn span_ticks(&self) -> u64 {
        (self.buckets.len() as u64 + 1) * u64::from(self.ticks_per_second)
    }

    /// Whether the cap has been reached within the window.
    pub fn exhausted(&self) -> bool {
        self.sum + self.current >= self.max_ml
    }

    /// Records one tick at `rate_ml_h`.
    pub fn deliver(&mut self, rate_ml_h: f64, period_s: f64) {
        let ml = rate_ml_h.max(0.0) * period_s / 3600.0;
        self.current += ml;
        self.total_ml += ml;
        self.ticks_in_second += 1;
        if self.ticks_in_second == self.ticks_per_second {
            self.sum += self.current - self.buckets[self.head];
            self.buckets[self.head] = self.current;
            self.head += 1;
            if self.head == self.buckets.len() {
                self.head = 0;
                // Rebuild the running sum exactly once per window, so rounding cannot drift.
                self.sum = self.buckets.iter().sum();
            }
            self.current = 0.0;
            self.ticks_in_second = 0;
        }
    }
}

/// A dose window as saved with a run's state.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DoseMemory {
    /// mL delivered in each whole second of the window, oldest first, as runs of equal seconds
    /// `(seconds, mL in each)`: an hour's window of a pump that mostly sat still is a few runs.
    pub seconds_ml: Vec<(u32, f64)>,
    /// mL delivered so far in the current second, and its ticks.
    pub current_ml: f64,
    pub ticks_in_second: u32,
    pub total_ml: f64,
}

impl DoseMemory {
    /// What the window holds: mL delivered within it so far.
    pub fn in_window_ml(&self) -> f64 {
        let whole: f64 = self.seconds_ml.iter().map(|(n, v)| f64::from(*n) * v).sum();
        whole + self.current_ml
    }
}

#[cfg(test)]
mod tests {
    use super::DoseWindow;

    #[test]
    fn a_resumed_window_holds_what_was_delivered() {
        let mut w = DoseWindow::new(10.0, 60.0, 0.01);
        for _ in 0..750 {
            w.deliver(3600.0, 0.01); // 7.5 mL
        }
        let m = w.memory();
        let mut fresh = DoseWindow::new(10.0, 60.0, 0.01);
        fresh.resume(&m);
        assert_eq!(fresh.memory(), m);
        // Oldest first: 53 empty seconds, then 7 whole seconds of (about) 1 mL each.
        let runs: Vec<u32> = m.seconds_ml.iter().map(|r| r.0).collect();
        assert_eq!(runs, [53, 7]);
        assert!((m.seconds_ml[1].1 - 1.0).abs() < 1e-9);
        assert!((m.in_window_ml() - 7.5).abs() < 1e-9);
        let mut ticks = 0;
        while !fresh.exhausted() {
            fresh.deliver(3600.0, 0.01);
            ticks += 1;
        }
        assert_eq!(ticks, 250, "only the 2.5 mL left in the window");
        let other = DoseWindow::new(10.0, 30.0, 0.01);
        assert!(other.accepts(&m).unwrap_err().contains("60 seconds"));
    }

    #[test]
    fn the_cap_closes_and_reopens_as_the_window_slides() {
        // 10 mL per 60 s; 100 Hz.
        let mut w = DoseWindow::new(10.0, 60.0, 0.01);
        let mut ticks = 0;
        while !w.exhausted() {
            w.deliver(3600.0, 0.01); // 1 mL/s
            ticks += 1;
        }
        assert_eq!(ticks, 1000, "10 mL at 1 mL/s");
        // Nothing more for 50 s: the first seconds are still in the window.
        for _ in 0..5000 {
            w.deliver(0.0, 0.01);
        }
        assert!(w.exhausted());
        // After 60 s the first second has slid out.
        for _ in 0..1100 {
            w.deliver(0.0, 0.01);
        }
        assert!(!w.exhausted());
        assert!((w.total_ml - 10.0).abs() < 1e-9);
    }
}
