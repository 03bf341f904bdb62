//! The protocol's conditions judged on this tick's signals: whether a rule's condition holds
//! (or cannot be told), and the limit and value an alarm records when it is raised.

use super::state::{Signals, Validity};
use crate::plan::ConditionPlan;

/// Whether a condition holds: `Some(true)` or `Some(false)` when its inputs are valid, `None`
/// when a value it needs is invalid (nobody can tell; the sensor-health rules and the core's
/// coverage catch the failure instead). `deadband` moves every value limit inward, so that an
/// active alarm's condition counts as absent only once the value is that far back inside.
#[inline(always)] // Called for every rule every tick: the call itself was a fair part of its cost.
pub fn judge(c: &ConditionPlan, s: &Signals, deadband: f64) -> Option<bool> {
    let value = |i: usize| s.is_valid(i).then_some(s.values[i]);
    match c {
        ConditionPlan::Above { signal, limit } => value(*signal).map(|v| v > *limit - deadband),
        ConditionPlan::Below { signal, limit } => value(*signal).map(|v| v < *limit + deadband),
        ConditionPlan::Outside { signal, band } => {
            value(*signal).map(|v| v < band.min + deadband || v > band.max - deadband)
        }
        ConditionPlan::Stale { signal } => Some(s.health[*signal] == Validity::Stale),
        ConditionPlan::Stuck { signal } => Some(s.health[*signal] == Validity::Stuck),
        ConditionPlan::Implausible { signal } => Some(s.health[*signal] == Validity::Implausible),
        ConditionPlan::Disagree { a, b, tolerance } => {
            Some((value(*a)? - value(*b)?).abs() > *tolerance - deadband)
        }
        ConditionPlan::All(list) => judge_all(list, s, deadband),
    }
}

/// False as soon as one part is known false; true only when every part is known true.
fn judge_all(list: &[ConditionPlan], s: &Signals, deadband: f64) -> Option<bool> {
    let mut all = Some(true);
    for c in list {
        match judge(c, s, deadband) {
            Some(false) => return Some(false),
            None => all = None,
            Some(true) => {}
        }
    }
    all
}

/// The limit in force and the value of the first value condition in `c`.
pub fn limit_and_value(c: &ConditionPlan, s: &Signals) -> (f64, f64) {
    match c {
        ConditionPlan::Above { signal, limit } | ConditionPlan::Below { signal, limit } => {
            (*limit, s.values[*signal])
        }
        ConditionPlan::Outside { signal, band } => {
            let v = s.values[*signal];
            (if v > band.max { band.max } else { band.min }, v)
        }
        ConditionPlan::Stale { signal }
        | ConditionPlan::Stuck { signal }
        | ConditionPlan::Implausible { signal } => (f64::NAN, s.values[*signal]),
        ConditionPlan::Disagree { a, b, tolerance } => (*tolerance, s.values[*a] - s.values[*b]),
        ConditionPlan::All(list) => list
            .iter()
            .map(|c| limit_and_value(c, s))
            .find(|(l, _)| !l.is_nan())
            .unwrap_or((f64::NAN, f64::NAN)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Range;

    fn signals(v: f64, valid: Validity) -> Signals {
        let mut s = Signals::default();
        s.values[0] = v;
        s.validity[0] = valid;
        s.health[0] = valid;
        s
    }

    #[test]
    fn a_value_condition_on_an_invalid_signal_is_unknown() {
        let above = ConditionPlan::Above {
            signal: 0,
            limit: 40.0,
        };
        assert_eq!(judge(&above, &signals(41.0, Validity::Ok), 0.0), Some(true));
        assert_eq!(
            judge(&above, &signals(39.0, Validity::Ok), 0.0),
            Some(false)
        );
        assert_eq!(judge(&above, &signals(41.0, Validity::Stale), 0.0), None);
        let outside = ConditionPlan::Outside {
            signal: 0,
            band: Range { min: 1.0, max: 8.0 },
        };
        assert_eq!(
            judge(&outside, &signals(9.0, Validity::Ok), 0.0),
            Some(true)
        );
        assert_eq!(
            judge(&outside, &signals(5.0, Validity::Ok), 0.0),
            Some(false)
        );
        let stuck = ConditionPlan::Stuck { signal: 0 };
        assert_eq!(
            judge(&stuck, &signals(5.0, Validity::Stuck), 0.0),
            Some(true)
        );
        let all = ConditionPlan::All(vec![above.clone(), stuck]);
        assert_eq!(judge(&all, &signals(41.0, Validity::Ok), 0.0), Some(false));
        let below = ConditionPlan::Below {
            signal: 0,
            limit: 0.0,
        };
        let unknown_and_false = ConditionPlan::All(vec![above.clone(), below]);
        assert_eq!(
            judge(&unknown_and_false, &signals(41.0, Validity::Stale), 0.0),
            None
        );
    }

    #[test]
    fn a_deadband_keeps_the_condition_until_the_value_is_back_inside() {
        let above = ConditionPlan::Above {
            signal: 0,
            limit: 40.0,
        };
        assert_eq!(judge(&above, &signals(39.0, Validity::Ok), 2.0), Some(true));
        assert_eq!(
            judge(&above, &signals(37.9, Validity::Ok), 2.0),
            Some(false)
        );
        let outside = ConditionPlan::Outside {
            signal: 0,
            band: Range { min: 1.0, max: 8.0 },
        };
        assert_eq!(
            judge(&outside, &signals(7.5, Validity::Ok), 1.0),
            Some(true)
        );
        assert_eq!(
            judge(&outside, &signals(6.5, Validity::Ok), 1.0),
            Some(false)
        );
    }
}
