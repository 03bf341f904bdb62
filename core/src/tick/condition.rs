//! The protocol's conditions judged on this tick's signals and the plugin's derived values:
//! whether a rule's condition holds (or cannot be told), and the limit and value an alarm
//! records when it is raised.
//!
//! A derived value is read by the slot the plan bound its name to when the plugin was loaded.
//! It is valid while the plugin has defined it (finite) and is not faulted; otherwise, like a
//! stale sensor's reading, it cannot be judged: the condition neither raises nor ends an alarm,
//! and the plugin's fault is the core's own HIGH alarm (`plugin_fault`).

use super::state::{Signals, Validity};
use crate::plan::{ConditionPlan, ValueRef};

/// This tick's valid value of `v`: a valid signal's, or a derived value the plugin defined.
/// `derived` is empty while the plugin is faulted ([`super::state::PluginOutputs::for_rules`]).
#[inline(always)]
fn read(v: &ValueRef, s: &Signals, derived: &[f64]) -> Option<f64> {
    match v {
        ValueRef::Signal(i) => s.is_valid(*i).then_some(s.values[*i]),
        ValueRef::Derived { slot, .. } => derived.get(*slot).copied().filter(|x| x.is_finite()),
    }
}

/// Whether a condition holds: `Some(true)` or `Some(false)` when its inputs are valid, `None`
/// when a value it needs is invalid (nobody can tell; the sensor-health rules, the core's
/// coverage and its plugin-fault alarm catch the failure instead). `deadband` moves every value
/// limit inward, so that an active alarm's condition counts as absent only once the value is
/// that far back inside.
#[inline(always)] // Called for every rule every tick: the call itself was a fair part of its cost.
pub fn judge(c: &ConditionPlan, s: &Signals, derived: &[f64], deadband: f64) -> Option<bool> {
    let value = |v: &ValueRef| read(v, s, derived);
    match c {
        ConditionPlan::Above { value: v, limit } => value(v).map(|v| v > *limit - deadband),
        ConditionPlan::Below { value: v, limit } => value(v).map(|v| v < *limit + deadband),
        ConditionPlan::Outside { value: v, band } => {
            value(v).map(|v| v < band.min + deadband || v > band.max - deadband)
        }
        ConditionPlan::Stale { signal } => Some(s.health[*signal] == Validity::Stale),
        ConditionPlan::Stuck { signal } => Some(s.health[*signal] == Validity::Stuck),
        ConditionPlan::Implausible { signal } => Some(s.health[*signal] == Validity::Implausible),
        ConditionPlan::Disagree { a, b, tolerance } => {
            let signal = |i: usize| s.is_valid(i).then_some(s.values[i]);
            Some((signal(*a)? - signal(*b)?).abs() > *tolerance - deadband)
        }
        ConditionPlan::All(list) => judge_all(list, s, derived, deadband),
    }
}

/// False as soon as one part is known false; true only when every part is known true.
fn judge_all(list: &[ConditionPlan], s: &Signals, derived: &[f64], deadband: f64) -> Option<bool> {
    let mut all = Some(true);
    for c in list {
        match judge(c, s, derived, deadband) {
            Some(false) => return Some(false),
            None => all = None,
            Some(true) => {}
        }
    }
    all
}

/// The limit in force and the value of the first value condition in `c`.
pub fn limit_and_value(c: &ConditionPlan, s: &Signals, derived: &[f64]) -> (f64, f64) {
    let value = |v: &ValueRef| match v {
        ValueRef::Signal(i) => s.values[*i],
        ValueRef::Derived { slot, .. } => derived.get(*slot).copied().unwrap_or(f64::NAN),
    };
    match c {
        ConditionPlan::Above { value: v, limit } | ConditionPlan::Below { value: v, limit } => {
            (*limit, value(v))
        }
        ConditionPlan::Outside { value: v, band } => {
            let v = value(v);
            (if v > band.max { band.max } else { band.min }, v)
        }
        ConditionPlan::Stale { signal }
        | ConditionPlan::Stuck { signal }
        | ConditionPlan::Implausible { signal } => (f64::NAN, s.values[*signal]),
        ConditionPlan::Disagree { a, b, tolerance } => (*tolerance, s.values[*a] - s.values[*b]),
        ConditionPlan::All(list) => list
            .iter()
            .map(|c| limit_and_value(c, s, derived))
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
            value: ValueRef::Signal(0),
            limit: 40.0,
        };
        assert_eq!(
            judge(&above, &signals(41.0, Validity::Ok), &[], 0.0),
            Some(true)
        );
        assert_eq!(
            judge(&above, &signals(39.0, Validity::Ok), &[], 0.0),
            Some(false)
        );
        assert_eq!(
            judge(&above, &signals(41.0, Validity::Stale), &[], 0.0),
            None
        );
        let outside = ConditionPlan::Outside {
            value: ValueRef::Signal(0),
            band: Range { min: 1.0, max: 8.0 },
        };
        assert_eq!(
            judge(&outside, &signals(9.0, Validity::Ok), &[], 0.0),
            Some(true)
        );
        assert_eq!(
            judge(&outside, &signals(5.0, Validity::Ok), &[], 0.0),
            Some(false)
        );
        let stuck = ConditionPlan::Stuck { signal: 0 };
        assert_eq!(
            judge(&stuck, &signals(5.0, Validity::Stuck), &[], 0.0),
            Some(true)
        );
        let all = ConditionPlan::All(vec![above.clone(), stuck]);
        assert_eq!(
            judge(&all, &signals(41.0, Validity::Ok), &[], 0.0),
            Some(false)
        );
        let below = ConditionPlan::Below {
            value: ValueRef::Signal(0),
            limit: 0.0,
        };
        let unknown_and_false = ConditionPlan::All(vec![above.clone(), below]);
        assert_eq!(
            judge(
                &unknown_and_false,
                &signals(41.0, Validity::Stale),
                &[],
                0.0
            ),
            None
        );
    }

    #[test]
    fn a_deadband_keeps_the_condition_until_the_value_is_back_inside() {
        let above = ConditionPlan::Above {
            value: ValueRef::Signal(0),
            limit: 40.0,
        };
        assert_eq!(
            judge(&above, &signals(39.0, Validity::Ok), &[], 2.0),
            Some(true)
        );
        assert_eq!(
            judge(&above, &signals(37.9, Validity::Ok), &[], 2.0),
            Some(false)
        );
        let outside = ConditionPlan::Outside {
            value: ValueRef::Signal(0),
            band: Range { min: 1.0, max: 8.0 },
        };
        assert_eq!(
            judge(&outside, &signals(7.5, Validity::Ok), &[], 1.0),
            Some(true)
        );
        assert_eq!(
            judge(&outside, &signals(6.5, Validity::Ok), &[], 1.0),
            Some(false)
        );
    }

    #[test]
    fn a_derived_value_is_judged_while_the_plugin_defines_it_and_unknown_otherwise() {
        let ri = |slot| ConditionPlan::Above {
            value: ValueRef::Derived {
                name: "resistance_index".into(),
                slot,
            },
            limit: 0.4,
        };
        let s = Signals::default();
        let derived = [0.1, 0.5];
        assert_eq!(judge(&ri(1), &s, &derived, 0.0), Some(true));
        assert_eq!(judge(&ri(0), &s, &derived, 0.0), Some(false));
        assert_eq!(judge(&ri(1), &s, &derived, 0.2), Some(true), "deadband");
        assert_eq!(limit_and_value(&ri(1), &s, &derived), (0.4, 0.5));
        // Undefined by the plugin (NaN), the plugin faulted (no values), or never bound.
        assert_eq!(judge(&ri(1), &s, &[0.1, f64::NAN], 0.0), None);
        assert_eq!(judge(&ri(1), &s, &[], 0.0), None);
        assert_eq!(judge(&ri(crate::plan::UNBOUND), &s, &derived, 0.0), None);
        // With a signal in `All`: false as soon as a part is known false.
        let signal_low = ConditionPlan::Below {
            value: ValueRef::Signal(0),
            limit: 0.0,
        };
        let both = ConditionPlan::All(vec![ri(1), signal_low]);
        assert_eq!(
            judge(&both, &signals(5.0, Validity::Ok), &[], 0.0),
            Some(false)
        );
        assert_eq!(judge(&both, &signals(-1.0, Validity::Ok), &[], 0.0), None);
        assert_eq!(
            judge(&both, &signals(-1.0, Validity::Ok), &derived, 0.0),
            Some(true)
        );
    }
}
