//! Actuate: send this tick's commands to the HAL, each with its time to live.

use super::state::{ActuatorChannel, Clock, Command, HalPort, SentCommands};
use bevy_ecs::prelude::*;

pub fn send_commands(
    clock: Res<Clock>,
    actuators: Query<(&ActuatorChannel, &Command)>,
    mut hal: ResMut<HalPort>,
    mut sent: ResMut<SentCommands>,
) {
    sent.frame.t_s = clock.t_s();
    for (ch, cmd) in &actuators {
        sent.frame.values[ch.index] = cmd.sent;
        sent.frame.ttl_s[ch.index] = ch.spec.ttl_s;
    }
    match hal.as_mut() {
        HalPort::Direct(h) => h.get().write(&sent.frame),
        HalPort::Threaded(ch) => {
            if !ch.send(&sent.frame) {
                sent.dropped += 1;
            }
        }
    }
}
