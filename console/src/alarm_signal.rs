//! The alarm signals' timing, IEC 60601-1-8 style, as pure functions of the time: the visual
//! flashing per priority and the audible pulse pattern the terminal bell plays.

use perfuse_core::config::Priority;

/// One flash cycle per priority, in ms: high 2 Hz (the standard asks 1.4–2.8 Hz), medium
/// 0.625 Hz (0.4–0.8 Hz); low does not flash.
fn flash_period_ms(p: Priority) -> Option<u64> {
    match p {
        Priority::High => Some(500),
        Priority::Medium => Some(1600),
        Priority::Low => None,
    }
}

/// Whether an alarm of priority `p` is in the lit half of its flash cycle at `now_ms` (50 %
/// duty cycle). Low priority is always lit: it is steady.
pub fn lit(p: Priority, now_ms: u64) -> bool {
    flash_period_ms(p).is_none_or(|period| now_ms % period < period / 2)
}

/// The flash frequency in Hz (`None`: steady), for the help screen and tests.
pub fn flash_hz(p: Priority) -> Option<f64> {
    flash_period_ms(p).map(|ms| 1000.0 / ms as f64)
}

/// The bell's pattern per priority: the pulses' offsets in a cycle, and the cycle, in ms. High:
/// a burst of 3 + 2 pulses every 5 s; medium: 3 pulses every 10 s; low: 2 pulses every 30 s.
fn bell_pattern(p: Priority) -> (&'static [u64], u64) {
    match p {
        Priority::High => (&[0, 150, 300, 700, 850], 5_000),
        Priority::Medium => (&[0, 200, 400], 10_000),
        Priority::Low => (&[0, 250], 30_000),
    }
}

/// How many bell pulses of priority `p`, sounding since `onset_ms`, fall in the wall-time
/// interval `(from_ms, to_ms]`.
pub fn bells_between(p: Priority, onset_ms: u64, from_ms: u64, to_ms: u64) -> usize {
    let (offsets, cycle) = bell_pattern(p);
    if to_ms < onset_ms || to_ms <= from_ms {
        return 0;
    }
    // Each pulse fires at onset + k·cycle + offset, k ≥ 0.
    let count_upto = |t: u64| -> u64 {
        // Pulses at or before `t` (none before the onset).
        if t < onset_ms {
            return 0;
        }
        let since = t - onset_ms;
        let full = since / cycle;
        let rest = since % cycle;
        full * offsets.len() as u64 + offsets.iter().filter(|&&o| o <= rest).count() as u64
    };
    let before = if from_ms < onset_ms {
        0
    } else {
        count_upto(from_ms)
    };
    (count_upto(to_ms) - before) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flashing_rates_are_inside_the_standards_ranges() {
        let high = flash_hz(Priority::High).unwrap();
        let medium = flash_hz(Priority::Medium).unwrap();
        assert!((1.4..=2.8).contains(&high), "{high}");
        assert!((0.4..=0.8).contains(&medium), "{medium}");
        assert_eq!(flash_hz(Priority::Low), None);
        // High: lit 0–249 ms, dark 250–499 ms.
        assert!(lit(Priority::High, 0) && lit(Priority::High, 249));
        assert!(!lit(Priority::High, 250) && !lit(Priority::High, 499));
        assert!(lit(Priority::High, 500));
        assert!(lit(Priority::Medium, 700) && !lit(Priority::Medium, 900));
        assert!((0..5000).step_by(37).all(|t| lit(Priority::Low, t)));
    }

    #[test]
    fn the_bell_plays_its_pattern_per_priority() {
        // A whole cycle of each, from its onset.
        assert_eq!(bells_between(Priority::High, 1000, 0, 5999), 5);
        assert_eq!(bells_between(Priority::Medium, 1000, 0, 10_999), 3);
        assert_eq!(bells_between(Priority::Low, 1000, 0, 30_999), 2);
        // Cut into 50 ms render steps, nothing is lost or doubled.
        let steps: usize = (0..200)
            .map(|i| bells_between(Priority::High, 1000, i * 50, (i + 1) * 50))
            .sum();
        assert_eq!(steps, 10, "two cycles of 5 pulses in 10 s");
        // Nothing before the onset.
        assert_eq!(bells_between(Priority::High, 1000, 0, 999), 0);
        assert_eq!(bells_between(Priority::High, 1000, 1000, 1000), 0);
    }
}
