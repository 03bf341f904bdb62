//! Actuator feedback: whether each actuator does what the core commanded.
//!
//! The device reports what every actuator delivered ([`crate::hal::SensorFrame::delivered`]).
//! The Safety stage compares it with the command sent on the tick before (the one the device
//! applied since): a mismatch beyond the actuator kind's tolerance that persists raises the
//! core's HIGH technical alarm `<actuator>_not_following`, latched; while it is active the
//! actuator's control loop follows what was delivered instead of winding up (Control stage), so
//! a channel that returns finds the command where the actuator already is. A device that reports
//! nothing for an actuator (NaN) counts as a mismatch: nobody can tell that it follows. So does
//! an actuator the device reports in its safe state because its command expired
//! ([`crate::hal::SensorFrame::expired`]): one whose safe state holds its last command delivers
//! just what it was commanded, and without the device's report its lost commands would go
//! unnoticed until the loop asked for something else.
//!
//! Tolerances and persistence are this project's proposal \[P\] (no published source fixes
//! them): a pump drive or a ventilator reports its speed, flow or setting to a few percent, a
//! heater's power averages over its switching, a clamp is open or closed.

use crate::config::ActuatorKind;
use crate::plan::ActuatorPlan;

/// How closely an actuator must follow its command, and for how long a mismatch may last.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeedbackCheck {
    /// Allowed difference: this share of the command's magnitude ...
    pub relative: f64,
    /// ... plus this much in the command's unit.
    pub absolute: f64,
    /// Ticks a mismatch must last before the alarm is raised.
    pub persist_ticks: u64,
}

/// The tolerance (share of the command, share of the actuator's range) and persistence in
/// seconds of each kind \[P\].
pub fn kind_tolerance(kind: ActuatorKind) -> (f64, f64, f64) {
    match kind {
        // Pump drives report their speed or flow within a few percent and follow a
        // rate-limited command within a second; the loop may wind up only this long before
        // it follows the delivery instead.
        ActuatorKind::RollerPump | ActuatorKind::CentrifugalPump => (0.05, 0.02, 2.0),
        // A syringe pump's drive and a gas blender start slowly at low rates.
        ActuatorKind::InfusionPump | ActuatorKind::GasFlow => (0.05, 0.02, 10.0),
        // A heater's power is switched and averaged: wider, and slower to judge.
        ActuatorKind::Heater | ActuatorKind::HeaterCooler => (0.10, 0.05, 10.0),
        // Open or closed; a clamp moves in well under 2 s.
        ActuatorKind::Clamp => (0.0, 0.5, 2.0),
        // Ventilator settings take effect within a breath (up to 15 s at the slowest rates).
        ActuatorKind::TidalVolume
        | ActuatorKind::RespiratoryRate
        | ActuatorKind::Peep
        | ActuatorKind::Fio2 => (0.05, 0.02, 15.0),
    }
}

impl FeedbackCheck {
    /// The check of actuator `spec` at a tick period of `period_s`.
    pub fn new(spec: &ActuatorPlan, period_s: f64) -> Self {
        let (relative, share_of_range, persist_s) = kind_tolerance(spec.kind);
        let span = spec.range.max - spec.range.min;
        // A clamp's 0.5 is absolute; other kinds scale with the protocol's range.
        let absolute = if spec.kind == ActuatorKind::Clamp {
            share_of_range
        } else {
            share_of_range * span
        };
        FeedbackCheck {
            relative,
            absolute,
            persist_ticks: (persist_s / period_s).round() as u64,
        }
    }

    /// The largest allowed difference from `commanded`.
    pub fn tolerance(&self, commanded: f64) -> f64 {
        self.absolute + self.relative * commanded.abs()
    }

    /// Whether `delivered` follows `commanded`; a missing report does not.
    pub fn follows(&self, commanded: f64, delivered: f64) -> bool {
        (delivered - commanded).abs() <= self.tolerance(commanded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Range, SafeState};

    fn spec(kind: ActuatorKind, min: f64, max: f64) -> ActuatorPlan {
        ActuatorPlan {
            id: "a".into(),
            kind,
            range: Range { min, max },
            max_step: f64::INFINITY,
            safe_state: SafeState::Off,
            ttl_s: 0.2,
            control: None,
            initial: 0.0,
            dose_cap: None,
        }
    }

    #[test]
    fn a_pump_follows_within_its_tolerance_and_a_missing_report_never_does() {
        let c = FeedbackCheck::new(&spec(ActuatorKind::CentrifugalPump, 0.0, 4000.0), 0.01);
        assert_eq!(c.persist_ticks, 200);
        // 2 % of 4000 rpm plus 5 % of 2000 rpm: 180 rpm.
        assert_eq!(c.tolerance(2000.0), 180.0);
        assert!(c.follows(2000.0, 2179.0));
        assert!(!c.follows(2000.0, 2181.0));
        assert!(!c.follows(2000.0, 1819.0));
        assert!(!c.follows(2000.0, f64::NAN));
    }

    #[test]
    fn a_clamp_is_judged_open_or_closed() {
        let c = FeedbackCheck::new(&spec(ActuatorKind::Clamp, 0.0, 1.0), 0.01);
        assert!(c.follows(1.0, 1.0));
        assert!(!c.follows(1.0, 0.0));
        assert_eq!(c.persist_ticks, 200);
    }
}
