//! Commands, their time to live, and the safe state the device falls to on its own.

use perfuse_hal::{CommandFrame, Hal, SensorFrame};
use perfuse_protocol::SafeState;

use crate::common::*;
use perfuse_hal_sim::{Fault, SimHal};

#[test]
fn actuators_hold_their_initial_command_until_the_first_frame() {
    let mut p = quiet_kidney(&[]);
    p.circuit.actuators[PUMP].initial = 50.0;
    let mut hal = sim(&p, &[]);
    for _ in 0..1000 {
        hal.advance(0.01);
    }
    assert_eq!(hal.applied_commands(), [50.0, 0.0, 0.0]);
    let mut f = SensorFrame::default();
    hal.read(&mut f);
    assert_eq!(f.values[FLOW], 50.0);
}

#[test]
fn expired_commands_fall_to_the_safe_state() {
    let mut hal = sim(&quiet_kidney(&[]), &[]);
    command(&mut hal, 100.0, 0.0, 50.0, 0.5);
    for _ in 0..40 {
        hal.advance(0.01);
    }
    assert_eq!(hal.applied_commands(), [100.0, 0.0, 50.0]);
    for _ in 0..20 {
        hal.advance(0.01);
    }
    // Pump and heater Off, clamp Closed.
    assert_eq!(hal.applied_commands(), [0.0, 1.0, 0.0]);
    let mut f = SensorFrame::default();
    hal.read(&mut f);
    assert_eq!(f.values[FLOW], 0.0);
    // A new frame takes over again.
    command(&mut hal, 80.0, 0.0, 0.0, 0.5);
    hal.advance(0.01);
    assert_eq!(hal.applied_commands(), [80.0, 0.0, 0.0]);
}

#[test]
fn each_frame_renews_the_time_to_live() {
    let mut hal = sim(&quiet_kidney(&[]), &[]);
    for _ in 0..500 {
        command(&mut hal, 100.0, 0.0, 0.0, 0.05);
        hal.advance(0.01);
    }
    assert_eq!(hal.applied_commands()[PUMP], 100.0);
}

#[test]
fn hold_last_and_open_safe_states() {
    let mut p = quiet_kidney(&[]);
    p.circuit.actuators[PUMP].safe_state = SafeState::HoldLast;
    p.circuit.actuators[CLAMP].safe_state = SafeState::Open;
    let mut hal = sim(&p, &[]);
    command(&mut hal, 120.0, 1.0, 0.0, 0.1);
    for _ in 0..100 {
        hal.advance(0.01);
    }
    assert_eq!(hal.applied_commands()[..2], [120.0, 0.0]);
}

#[test]
fn a_command_that_is_not_a_number_goes_to_the_safe_state() {
    let mut hal = sim(&quiet_kidney(&[]), &[]);
    command(&mut hal, 100.0, 0.0, 20.0, 10.0);
    hal.advance(0.01);
    let mut cmd = CommandFrame::default();
    cmd.values[..3].copy_from_slice(&[f64::NAN, 0.0, f64::INFINITY]);
    cmd.ttl_s[..3].fill(10.0);
    hal.write(&cmd);
    hal.advance(0.01);
    assert_eq!(hal.applied_commands(), [0.0, 0.0, 0.0]);
}

#[test]
fn time_and_frames_advance_together() {
    let mut hal = sim(&kidney(&[]), &[]);
    let mut f = SensorFrame::default();
    hal.read(&mut f);
    assert_eq!((f.seq, f.t_s), (1, 0.0));
    assert!(f.values[..9].iter().all(|v| v.is_finite()));
    assert!(f.values[9..].iter().all(|v| v.is_nan()));
    hal.advance(0.01);
    hal.advance(0.0);
    hal.advance(f64::NAN);
    hal.read(&mut f);
    assert_eq!((f.seq, f.t_s), (2, 0.01));
    assert_eq!(hal.time_s(), 0.01);
}

#[test]
fn every_frame_reports_what_each_actuator_delivered() {
    let mut p = quiet_kidney(&[]);
    p.circuit.actuators[PUMP].safe_state = SafeState::HoldLast;
    // The pump's channel is lost from 1 s for 2 s; the heater runs away at 4 s.
    let faults = [
        Fault::parse("channel-loss:pump:2@1s", &p).unwrap(),
        Fault::parse("heater-runaway:heater@4s", &p).unwrap(),
    ];
    let mut hal = sim(&p, &faults);
    let mut f = SensorFrame::default();
    let mut delivered_at = |hal: &mut SimHal, pump: f64, steps: usize| {
        for _ in 0..steps {
            command(hal, pump, 0.0, 10.0, 0.1);
            hal.advance(0.01);
        }
        hal.read(&mut f);
        [f.delivered[PUMP], f.delivered[CLAMP], f.delivered[HEATER]]
    };
    // What was commanded before the step is what the frame after it reports.
    assert_eq!(delivered_at(&mut hal, 100.0, 100), [100.0, 0.0, 10.0]);
    // Lost: the pump holds 100 whatever it is told, and says so.
    assert_eq!(delivered_at(&mut hal, 150.0, 100), [100.0, 0.0, 10.0]);
    // The channel is back at 3 s: the pump takes the command in force.
    assert_eq!(delivered_at(&mut hal, 150.0, 101), [150.0, 0.0, 10.0]);
    // A runaway heater delivers its full power (the protocol's range maximum).
    let full = p.circuit.actuators[HEATER].range.max;
    assert_eq!(delivered_at(&mut hal, 150.0, 100), [150.0, 0.0, full]);
    assert!(
        f.delivered[3..].iter().all(|v| v.is_nan()),
        "no such actuator"
    );
}

#[test]
fn the_frame_reports_an_actuator_whose_command_expired_until_a_command_reaches_it() {
    let mut p = quiet_kidney(&[]);
    p.circuit.actuators[PUMP].safe_state = SafeState::HoldLast;
    // The pump's commands are lost from 1 s for 2 s; the clamp and heater keep theirs.
    let faults = [Fault::parse("channel-loss:pump:2@1s", &p).unwrap()];
    let mut hal = sim(&p, &faults);
    let mut f = SensorFrame::default();
    let mut expired_after = |hal: &mut SimHal, steps: usize| {
        for _ in 0..steps {
            command(hal, 100.0, 0.0, 10.0, 0.1);
            hal.advance(0.01);
        }
        hal.read(&mut f);
        (f.expired, f.delivered[PUMP])
    };
    // Before any command nothing has expired (the pump is at its initial 0), and commands
    // every step keep it so.
    assert_eq!(expired_after(&mut hal, 0), (0, 0.0));
    assert_eq!(expired_after(&mut hal, 100), (0, 100.0));
    // Lost at 1 s: the command in force lives until 1.09 s (its last arrival plus 0.1 s).
    assert_eq!(expired_after(&mut hal, 9), (0, 100.0));
    // Past it the pump holds its last command, as its safe state says, and the device says
    // it is in that state: what it delivers alone would not tell.
    assert_eq!(expired_after(&mut hal, 2), (1 << PUMP, 100.0));
    assert_eq!(expired_after(&mut hal, 150), (1 << PUMP, 100.0));
    // The channel is back at 3 s: the first command that reaches the pump clears the bit.
    assert_eq!(expired_after(&mut hal, 40), (0, 100.0));
}
