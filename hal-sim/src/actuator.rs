//! Actuators as the device sees them: the command in force, its time to live, the safe state it
//! falls to when that runs out, and injected actuator faults.

use perfuse_protocol::{ActuatorKind, ActuatorSpec, SafeState};

use crate::TIME_RESOLUTION_S;

/// One actuator in protocol order.
#[derive(Debug, Clone)]
pub(crate) struct Actuator {
    pub kind: ActuatorKind,
    /// Index of the plant input it drives.
    pub input: usize,
    safe_state: SafeState,
    /// The command in force, within the kind's hardware range.
    value: f64,
    /// Device time after which the command has expired; infinite before the first command and
    /// once it has expired.
    expires_s: f64,
    /// Full output of the fitted device (a runaway heater's power): the protocol's range maximum.
    full: f64,
    stalled: bool,
    runaway: bool,
    /// Until this device time no command reaches the actuator (its channel is lost).
    lost_until_s: f64,
    /// The command's time to live ran out and no newer one has arrived: the device reports it.
    expired: bool,
}

impl Actuator {
    /// The actuator `spec` driving plant input `input`; checks that its safe state suits its
    /// kind and that its initial command is a number.
    pub(crate) fn new(spec: &ActuatorSpec, input: usize) -> Result<Self, String> {
        if !spec.safe_state.fits(spec.kind) {
            return Err(format!(
                "actuator `{}`: safe state {:?} does not apply to a {:?} (clamps: Closed, Open or \
                 HoldLast; everything else: Off, HoldLast or Fixed)",
                spec.id, spec.safe_state, spec.kind
            ));
        }
        if !spec.initial.is_finite() {
            return Err(format!(
                "actuator `{}`: initial command {} is not a number",
                spec.id, spec.initial
            ));
        }
        let (lo, hi) = spec.kind.absolute_range();
        Ok(Actuator {
            kind: spec.kind,
            input,
            safe_state: spec.safe_state,
            value: spec.initial.clamp(lo, hi),
            expires_s: f64::INFINITY,
            full: if spec.range.max.is_finite() {
                spec.range.max.clamp(lo, hi)
            } else {
                hi
            },
            stalled: false,
            runaway: false,
            lost_until_s: f64::NEG_INFINITY,
            expired: false,
        })
    }

    /// Takes a command at device time `now_s`, valid for `ttl_s`. A command that is not a number
    /// is refused like an expired one: the actuator goes to its safe state.
    #[inline]
    pub(crate) fn command(&mut self, value: f64, ttl_s: f64, now_s: f64) {
        if now_s < self.lost_until_s - TIME_RESOLUTION_S {
            return;
        }
        if value.is_finite() {
            let (lo, hi) = self.kind.absolute_range();
            self.value = value.clamp(lo, hi);
            // A negative or NaN time to live expires at once.
            self.expires_s = now_s + if ttl_s > 0.0 { ttl_s } else { 0.0 };
            self.expired = false;
        } else {
            self.go_safe();
        }
    }

    /// What the actuator does during the step that ends at `now_s`.
    #[inline]
    pub(crate) fn output(&mut self, now_s: f64) -> f64 {
        if now_s > self.expires_s + TIME_RESOLUTION_S {
            self.go_safe();
            self.expired = true;
        }
        if self.stalled {
            0.0
        } else if self.runaway {
            self.full
        } else {
            self.value
        }
    }

    fn go_safe(&mut self) {
        self.value = match self.safe_state {
            SafeState::Off | SafeState::Open => 0.0,
            SafeState::Closed => 1.0,
            SafeState::HoldLast => self.value,
            SafeState::Fixed(v) => v,
        };
        self.expires_s = f64::INFINITY;
    }

    /// Whether the actuator is in its safe state because its command expired (see
    /// `SensorFrame::expired`).
    pub(crate) fn expired(&self) -> bool {
        self.expired
    }

    /// A stalled pump delivers nothing whatever its command.
    pub(crate) fn stall(&mut self) {
        self.stalled = true;
    }

    /// A runaway heater delivers full power whatever its command.
    pub(crate) fn run_away(&mut self) {
        self.runaway = true;
    }

    /// A lost channel receives no commands until device time `until_s` (infinite: never
    /// again); the one in force expires as usual.
    pub(crate) fn lose(&mut self, until_s: f64) {
        self.lost_until_s = until_s;
    }
}
