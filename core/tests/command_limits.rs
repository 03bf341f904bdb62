//! Property: whatever the control loops or the plugin request (any number, NaN or infinity
//! included) and whatever the Safety stage demands, no command sent to the device leaves its
//! limits. Requests come from sensor values and plugin outputs, so this bounds what either can
//! make the core send.

use perfuse_core::config::{ActuatorKind, Range, SafeState};
use perfuse_core::plan::ActuatorPlan;
use perfuse_core::tick::safety::{Demand, decide};
use perfuse_core::tick::state::Command;
use proptest::prelude::*;

const KINDS: [ActuatorKind; 11] = [
    ActuatorKind::RollerPump,
    ActuatorKind::CentrifugalPump,
    ActuatorKind::Heater,
    ActuatorKind::HeaterCooler,
    ActuatorKind::Clamp,
    ActuatorKind::InfusionPump,
    ActuatorKind::TidalVolume,
    ActuatorKind::RespiratoryRate,
    ActuatorKind::Peep,
    ActuatorKind::Fio2,
    ActuatorKind::GasFlow,
];

/// An actuator as validation would accept it: a range inside the kind's absolute range, a safe
/// state that fits the kind (a fixed one inside the range), a positive or no rate limit.
fn actuator() -> impl Strategy<Value = ActuatorPlan> {
    (
        0..KINDS.len(),
        0.0..1.0f64,
        0.0..1.0f64,
        0..4u8,
        0.0..1.0f64,
        prop::option::of(0.001..500.0f64),
    )
        .prop_map(|(k, a, b, safe, fixed, step)| {
            let kind = KINDS[k];
            let (lo, hi) = kind.absolute_range();
            let (a, b) = if a < b { (a, b) } else { (b, a + 1e-6) };
            let range = Range {
                min: lo + (hi - lo) * a,
                max: (lo + (hi - lo) * b).min(hi),
            };
            let safe_state = match (kind, safe) {
                (ActuatorKind::Clamp, 0) => SafeState::Closed,
                (ActuatorKind::Clamp, 1) => SafeState::Open,
                (_, 0) => SafeState::Off,
                (_, 1) => SafeState::Fixed(range.min + (range.max - range.min) * fixed),
                _ => SafeState::HoldLast,
            };
            ActuatorPlan {
                id: "a".into(),
                kind,
                range,
                max_step: step.unwrap_or(f64::INFINITY),
                safe_state,
                ttl_s: 0.1,
                control: None,
                initial: range.min,
                dose_cap: None,
            }
        })
}

/// Any request a loop or a plugin could produce, including garbage.
fn request() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e4..1e4f64,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => any::<f64>(),
    ]
}

/// What the Safety stage may demand: nothing, a cap, a stop, a closed clamp, the safe state.
fn demand() -> impl Strategy<Value = Demand> {
    (0..6u8, -100.0..5000.0f64).prop_map(|(which, cap)| match which {
        0 | 1 => Demand {
            safe_state: false,
            forced: f64::NAN,
            cap: f64::INFINITY,
        },
        2 => Demand {
            safe_state: false,
            forced: f64::NAN,
            cap,
        },
        3 => Demand {
            safe_state: false,
            forced: 0.0,
            cap: f64::INFINITY,
        },
        4 => Demand {
            safe_state: false,
            forced: 1.0,
            cap: f64::INFINITY,
        },
        _ => Demand {
            safe_state: true,
            forced: f64::NAN,
            cap: f64::INFINITY,
        },
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_command_leaves_its_limits(
        spec in actuator(),
        ticks in prop::collection::vec((request(), demand()), 1..60),
    ) {
        let mut cmd = Command::new(spec.initial);
        for (requested, demand) in ticks {
            let before = cmd;
            cmd.requested = requested;
            decide(&spec, &mut cmd, demand);
            let sent = cmd.sent;
            prop_assert!(sent.is_finite(), "sent {sent}");
            if demand.safe_state {
                prop_assert_eq!(sent, spec.safe_command(before.last_safe));
            } else if !demand.forced.is_nan() {
                prop_assert_eq!(sent, demand.forced);
            } else {
                let hi = spec.range.max.min(demand.cap).max(spec.range.min);
                prop_assert!(sent >= spec.range.min && sent <= hi, "{sent} outside {}..{hi}", spec.range.min);
                // A change beyond the rate limit happens only where the range or cap forced it.
                // `sent ± max_step` is rounded at the magnitude of `sent`: a step of 0.001 at
                // 4,000 may read back a few ulps of 4,000 (about 1e-12) larger.
                let step = (sent - before.sent).abs();
                let rounding = 4.0 * f64::EPSILON * sent.abs().max(before.sent.abs());
                prop_assert!(step <= spec.max_step * (1.0 + 1e-12) + rounding || sent == hi || sent == spec.range.min,
                    "jumped {step} with a limit of {}", spec.max_step);
            }
        }
    }
}
