//! Actuate: send this tick's commands to the HAL, each with its time to live.

use super::state::{ActuatorChannel, Clock, Command, HalPort, SentCommands};

/// The Actuate stage: every actuator's command this tick, in one frame to the HAL.
pub fn send_commands<'a>(
    clock: &Clock,
    actuators: impl Iterator<Item = (&'a ActuatorChannel, &'a Command)>,
    hal: &mut HalPort,
    sent: &mut SentCommands,
) {
    sent.frame.t_s = clock.t_s();
    for (ch, cmd) in actuators {
        sent.frame.values[ch.index] = cmd.sent;
        sent.frame.ttl_s[ch.index] = ch.spec.ttl_s;
    }
    match hal {
        HalPort::Direct(h) => h.get().write(&sent.frame),
        HalPort::Threaded(ch) => {
            if !ch.send(&sent.frame) {
                sent.dropped += 1;
            }
        }
    }
}
