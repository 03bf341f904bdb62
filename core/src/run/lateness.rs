//! How late each real-time tick starts after its deadline, kept in a fixed histogram: recording
//! a tick is an index computation and an increment, never an allocation.
//!
//! Buckets are log-linear in nanoseconds: exact below 16 ns, then 16 buckets per power of two,
//! so a percentile read from it is at most 1/16 (6.25 %) above the true value. The maximum is
//! kept exactly.

use serde::Serialize;
use std::time::Duration;

/// Sub-buckets per power of two (2^SUB_BITS).
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Enough buckets for any `u64` of nanoseconds.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// Tick lateness: a histogram of nanoseconds past the deadline.
#[derive(Debug, Clone)]
pub struct Lateness {
    counts: Box<[u64; BUCKETS]>,
    ticks: u64,
    max_ns: u64,
    /// The tick whose lateness was the maximum: two loops measured side by side that stalled at
    /// the same tick were stopped by the machine, not by what they run.
    max_at_tick: u64,
}

impl Default for Lateness {
    fn default() -> Self {
        Lateness {
            counts: Box::new([0; BUCKETS]),
            ticks: 0,
            max_ns: 0,
            max_at_tick: 0,
        }
    }
}

/// The bucket of `ns`: its value below `SUB`, else octave and the next `SUB_BITS` bits.
fn bucket(ns: u64) -> usize {
    if ns < SUB as u64 {
        return ns as usize;
    }
    let octave = 63 - ns.leading_zeros();
    let sub = (ns >> (octave - SUB_BITS)) as usize & (SUB - 1);
    (octave - SUB_BITS + 1) as usize * SUB + sub
}

/// The largest value that falls into bucket `i`.
fn bucket_top(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let octave = (i / SUB) as u32 + SUB_BITS - 1;
    let sub = (i % SUB) as u64;
    let low = (SUB as u64 + sub) << (octave - SUB_BITS);
    low + ((1u64 << (octave - SUB_BITS)) - 1)
}

impl Lateness {
    /// Counts tick `tick`, which started `late` after its deadline.
    pub fn record(&mut self, late: Duration, tick: u64) {
        let ns = u64::try_from(late.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket(ns)] += 1;
        self.ticks += 1;
        if ns > self.max_ns {
            self.max_ns = ns;
            self.max_at_tick = tick;
        }
    }

    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// The lateness that fraction `q` of the ticks did not exceed (the top of its bucket, never
    /// above the maximum); 0 with no ticks.
    pub fn quantile_ns(&self, q: f64) -> u64 {
        if self.ticks == 0 {
            return 0;
        }
        let rank = ((q * self.ticks as f64).ceil() as u64).clamp(1, self.ticks);
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return bucket_top(i).min(self.max_ns);
            }
        }
        self.max_ns
    }

    /// The percentiles a summary reports, in microseconds.
    pub fn summary(&self) -> LatenessSummary {
        let us = |ns: u64| ns as f64 / 1e3;
        LatenessSummary {
            ticks: self.ticks,
            p50_us: us(self.quantile_ns(0.5)),
            p99_us: us(self.quantile_ns(0.99)),
            p999_us: us(self.quantile_ns(0.999)),
            max_us: us(self.max_ns),
            max_at_tick: self.max_at_tick,
        }
    }
}

/// Tick lateness of a real-time run: how long after its deadline each tick started.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LatenessSummary {
    /// Ticks measured.
    pub ticks: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    /// The tick that started latest.
    pub max_at_tick: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_bound_their_values() {
        let mut last = 0;
        for ns in (0..5000u64).chain([1 << 20, (1 << 20) + 12345, u64::MAX / 3, u64::MAX]) {
            let b = bucket(ns);
            assert!(b < BUCKETS);
            assert!(bucket_top(b) >= ns, "{ns} above its bucket's top");
            // The top is within 1/16 of the value.
            assert!(
                bucket_top(b) - ns <= ns / SUB as u64,
                "{ns}: top {}",
                bucket_top(b)
            );
            if ns < 5000 {
                assert!(b == last || b == last + 1, "bucket skipped at {ns}");
                last = b;
            }
        }
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = Lateness::default();
        // 1..=1000 µs, one tick each.
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us), us + 7);
        }
        let s = h.summary();
        assert_eq!(s.ticks, 1000);
        let near = |got: f64, want: f64| got >= want && got <= want * 1.0625;
        assert!(near(s.p50_us, 500.0), "p50 {}", s.p50_us);
        assert!(near(s.p99_us, 990.0), "p99 {}", s.p99_us);
        assert!(near(s.p999_us, 999.0), "p99.9 {}", s.p999_us);
        assert_eq!((s.max_us, s.max_at_tick), (1000.0, 1007));
    }

    #[test]
    fn an_empty_histogram_reports_zeros() {
        let s = Lateness::default().summary();
        assert_eq!((s.ticks, s.p50_us, s.max_us), (0, 0.0, 0.0));
    }
}
