//! Each fault changes the right signal from the right time; parse errors name the problem.

use perfuse_hal::SensorFrame;
use perfuse_hal_sim::{Fault, FaultKind, SimHal};
use perfuse_protocol::ProtocolFile;

use crate::common::*;

const AT: f64 = 60.0;

fn fault(protocol: &ProtocolFile, text: &str) -> Fault {
    Fault::parse(text, protocol).unwrap()
}

/// Frames of a faulted run and of its healthy twin (same seed, same commands).
fn twins(
    protocol: &ProtocolFile,
    text: &str,
    until_s: f64,
    dt_s: f64,
    control: impl Fn(&SensorFrame) -> (f64, f64, f64) + Copy,
) -> (Vec<SensorFrame>, Vec<SensorFrame>) {
    let mut faulty = sim(protocol, &[fault(protocol, text)]);
    let mut healthy = sim(protocol, &[]);
    (
        record(&mut faulty, 0.0, until_s, dt_s, control),
        record(&mut healthy, 0.0, until_s, dt_s, control),
    )
}

fn before(frames: &[SensorFrame]) -> &[SensorFrame] {
    let n = frames.iter().take_while(|f| f.t_s < AT - 1e-9).count();
    &frames[..n]
}

fn after(frames: &[SensorFrame], from_s: f64) -> &[SensorFrame] {
    let n = frames.iter().take_while(|f| f.t_s < from_s - 1e-9).count();
    &frames[n..]
}

fn steady(_: &SensorFrame) -> (f64, f64, f64) {
    (115.0, 0.0, 0.0)
}

#[test]
fn air_sets_the_bubble_detector_and_it_stays_set() {
    let p = kidney(&[]);
    let mut hal = sim(&p, &[fault(&p, "air@1m")]);
    let frames = record(&mut hal, 0.0, 120.0, 0.01, |f| {
        // The pump stops on air, as the core's safety rule would.
        (if f.values[BUBBLE] > 0.5 { 0.0 } else { 115.0 }, 0.0, 0.0)
    });
    assert!(before(&frames).iter().all(|f| f.values[BUBBLE] == 0.0));
    let first = after(&frames, AT)[0];
    assert_eq!((first.t_s.round(), first.values[BUBBLE]), (AT, 1.0));
    assert!(after(&frames, AT).iter().all(|f| f.values[BUBBLE] == 1.0));
    assert_eq!(hal.applied_commands()[PUMP], 0.0);
    assert!(frames.last().unwrap().values[FLOW].abs() < 5.0);
}

#[test]
fn occlusion_raises_pressure_at_fixed_flow() {
    let (bad, good) = twins(&quiet_kidney(&[]), "occlusion@1m", 90.0, 0.01, steady);
    let p_before = before(&bad).last().unwrap().values[PRESSURE];
    assert_eq!(p_before, before(&good).last().unwrap().values[PRESSURE]);
    let p_after = bad.last().unwrap().values[PRESSURE];
    assert!(p_after > 5.0 * p_before, "{p_before} -> {p_after}");
    assert!(bad.last().unwrap().values[RENAL_FLOW] < 0.5 * good.last().unwrap().values[RENAL_FLOW]);
}

#[test]
fn occlusion_collapses_flow_under_pressure_control() {
    let p = kidney(&[]);
    let mut hal = sim(&p, &[fault(&p, "occlusion@20m")]);
    let mut pump = 30.0;
    let frames = record(&mut hal, 1140.0, 1500.0, 0.05, |f| {
        pump = (pump + 0.5 * (27.0 - f.values[PRESSURE]) * 0.05).clamp(0.0, 500.0);
        (pump, 0.0, 0.0)
    });
    let flow_before = mean(before_t(&frames, 1200.0), FLOW);
    let spike = max(after(&frames, 1200.0), PRESSURE);
    let flow_end = mean(after(&frames, 1440.0), FLOW);
    assert!(flow_before > 80.0, "flow before {flow_before}");
    assert!(spike > 40.0, "pressure peak {spike}");
    assert!(flow_end < 10.0, "flow after {flow_end}");
}

fn before_t(frames: &[SensorFrame], t_s: f64) -> &[SensorFrame] {
    let n = frames.iter().take_while(|f| f.t_s < t_s - 1e-9).count();
    &frames[..n]
}

#[test]
fn stuck_sensor_repeats_one_reading_exactly() {
    let p = kidney(&[]);
    let mut hal = sim(&p, &[fault(&p, "stuck:arterial_pressure@1m")]);
    let frames = record(&mut hal, 0.0, 90.0, 0.01, |f| {
        (pulsatile(115.0, 0.6, f.t_s), 0.0, 0.0)
    });
    let held = after(&frames, AT)[0].values[PRESSURE];
    assert!(held > 5.0);
    assert!(
        after(&frames, AT)
            .iter()
            .all(|f| f.values[PRESSURE] == held)
    );
    let last_second = &before(&frames)[before(&frames).len() - 100..];
    assert!(max(last_second, PRESSURE) - min(last_second, PRESSURE) > 3.0);
    // Other channels keep moving.
    assert!(max(after(&frames, AT), FLOW) - min(after(&frames, AT), FLOW) > 50.0);
}

#[test]
fn drift_adds_its_rate_from_the_fault_time() {
    let (bad, good) = twins(
        &kidney(&[]),
        "drift:perfusate_temp:0.5@1m",
        660.0,
        1.0,
        steady,
    );
    for (b, g) in bad.iter().zip(&good) {
        let expected = 0.5 * ((b.t_s - AT).max(0.0) / 60.0);
        let d = b.values[PERFUSATE_T] - g.values[PERFUSATE_T];
        assert!(
            (d - expected).abs() <= 0.1 + 1e-9,
            "at {}: {d} vs {expected}",
            b.t_s
        );
        assert_eq!(b.values[PRESSURE], g.values[PRESSURE]);
    }
    let end = bad.last().unwrap().values[PERFUSATE_T] - good.last().unwrap().values[PERFUSATE_T];
    assert!((end - 5.0).abs() <= 0.1, "{end}");
}

#[test]
fn dropout_delivers_nothing_for_a_while() {
    let p = kidney(&[]);
    let mut hal = sim(&p, &[fault(&p, "dropout:arterial_flow@1m")]);
    let frames = record(&mut hal, 0.0, 70.0, 0.01, steady);
    for f in &frames {
        let gone = f.t_s >= AT - 1e-9 && f.t_s < AT + 5.0 - 1e-9;
        assert_eq!(f.values[FLOW].is_nan(), gone, "at {}", f.t_s);
        assert!(f.values[PRESSURE].is_finite());
    }
}

#[test]
fn spike_jumps_by_the_range_span_for_a_tenth_of_a_second() {
    let (bad, good) = twins(
        &kidney(&[]),
        "spike:arterial_pressure@1m",
        62.0,
        0.01,
        steady,
    );
    let mut spiked = 0;
    for (b, g) in bad.iter().zip(&good) {
        let d = b.values[PRESSURE] - g.values[PRESSURE];
        if b.t_s >= AT - 1e-9 && b.t_s < AT + 0.1 - 1e-9 {
            spiked += 1;
            assert!((d - 150.0).abs() < 1e-6, "at {}: {d}", b.t_s);
            assert!(b.values[PRESSURE] > 150.0, "leaves the 0–150 range");
        } else {
            assert_eq!(d, 0.0, "at {}", b.t_s);
        }
    }
    assert_eq!(spiked, 10);
}

#[test]
fn pump_stall_stops_the_flow_whatever_the_command() {
    let (bad, good) = twins(&quiet_kidney(&[]), "pump-stall@1m", 75.0, 0.01, steady);
    assert_eq!(before(&bad).last().unwrap().values[FLOW], 115.0);
    assert!(after(&bad, AT).iter().all(|f| f.values[FLOW] == 0.0));
    assert!(bad.last().unwrap().values[PRESSURE] < 1.0);
    assert_eq!(good.last().unwrap().values[FLOW], 115.0);
}

#[test]
fn heater_runaway_drives_full_power_and_overheats() {
    let p = quiet_kidney(&[("normothermic", 1.0), ("perfusate_start_c", 36.0)]);
    let mut hal = sim(&p, &[fault(&p, "heater-runaway@1m")]);
    let frames = record(&mut hal, 0.0, 360.0, 0.1, |_| (200.0, 0.0, 0.0));
    assert_eq!(hal.applied_commands()[HEATER], 200.0);
    let at_fault = before(&frames).last().unwrap();
    let end = frames.last().unwrap();
    assert!(end.values[EXCHANGER_T] > at_fault.values[EXCHANGER_T] + 10.0);
    assert!(
        end.values[PERFUSATE_T] > 38.0,
        "{}",
        end.values[PERFUSATE_T]
    );
}

#[test]
fn leak_steals_renal_flow_and_drains_the_circuit_until_air() {
    let (bad, good) = twins(&quiet_kidney(&[]), "leak@1m", 600.0, 0.05, steady);
    let (b, g) = (bad.last().unwrap(), good.last().unwrap());
    // The line flow probe sits before the leak; the kidney gets less.
    assert_eq!(b.values[FLOW], g.values[FLOW]);
    assert!(b.values[RENAL_FLOW] < 0.75 * g.values[RENAL_FLOW]);
    assert!(b.values[PRESSURE] < 0.75 * g.values[PRESSURE]);
    assert_eq!(g.values[VOLUME], 1000.0);
    assert!(b.values[VOLUME] < 700.0, "{}", b.values[VOLUME]);

    let p = quiet_kidney(&[]);
    let mut hal = sim(&p, &[fault(&p, "leak:0.1@1m")]);
    let frames = record(&mut hal, 0.0, 1200.0, 0.1, steady);
    let dry = frames.iter().find(|f| f.values[BUBBLE] == 1.0).unwrap();
    assert!(
        dry.values[VOLUME] <= 50.0 && dry.t_s > AT,
        "{:?}",
        (dry.t_s, dry.values[VOLUME])
    );
}

#[test]
fn lost_sensor_channel_delivers_nothing_from_then_on() {
    let p = kidney(&[]);
    let mut hal = sim(&p, &[fault(&p, "channel-loss:perfusate_temp@1m")]);
    let frames = record(&mut hal, 0.0, 120.0, 0.1, steady);
    assert!(
        before(&frames)
            .iter()
            .all(|f| f.values[PERFUSATE_T].is_finite())
    );
    assert!(
        after(&frames, AT)
            .iter()
            .all(|f| f.values[PERFUSATE_T].is_nan())
    );
}

#[test]
fn lost_actuator_channel_falls_to_its_safe_state() {
    let p = quiet_kidney(&[]);
    let mut hal = sim(&p, &[fault(&p, "channel-loss:pump@1m")]);
    // Commands live 1 s (see `record`); the pump stops 1 s after the loss.
    let frames = record(&mut hal, 0.0, 65.0, 0.01, steady);
    assert_eq!(after(&frames, 60.5)[0].values[FLOW], 115.0);
    assert!(after(&frames, 61.1).iter().all(|f| f.values[FLOW] == 0.0));
    assert_eq!(hal.applied_commands()[PUMP], 0.0);
}

#[test]
fn parse_reads_every_kind_with_defaults_and_values() {
    let p = kidney(&[]);
    let parsed = |t: &str| Fault::parse(t, &p).unwrap();
    assert_eq!(
        parsed("air@30m"),
        Fault {
            kind: FaultKind::Air,
            at_s: 1800.0
        }
    );
    assert_eq!(
        parsed("occlusion@1h").kind,
        FaultKind::Occlusion { factor: 30.0 }
    );
    assert_eq!(
        parsed("occlusion:50@1h").kind,
        FaultKind::Occlusion { factor: 50.0 }
    );
    assert_eq!(
        parsed("leak@2h").kind,
        FaultKind::Leak {
            resistance_mmhg_min_ml: 0.5
        }
    );
    assert_eq!(
        parsed("stuck:arterial_pressure@30m"),
        Fault {
            kind: FaultKind::Stuck { sensor: PRESSURE },
            at_s: 1800.0
        }
    );
    assert_eq!(
        parsed("drift:arterial_flow@1h30m").kind,
        FaultKind::Drift {
            sensor: FLOW,
            per_min: 5.0
        }
    );
    assert_eq!(
        parsed("drift:perfusate_temp:-0.1@10m").kind,
        FaultKind::Drift {
            sensor: PERFUSATE_T,
            per_min: -0.1
        }
    );
    assert_eq!(
        parsed("dropout:ice_temp@90s").kind,
        FaultKind::Dropout {
            sensor: ICE_T,
            duration_s: 5.0
        }
    );
    assert_eq!(
        parsed("spike:urine@10").kind,
        FaultKind::Spike {
            sensor: URINE,
            magnitude: 2000.0
        }
    );
    assert_eq!(
        parsed("pump-stall@1m").kind,
        FaultKind::PumpStall { pump: None }
    );
    assert_eq!(
        parsed("pump-stall:pump@1m").kind,
        FaultKind::PumpStall { pump: Some(PUMP) }
    );
    assert_eq!(
        parsed("heater-runaway:heater@1m").kind,
        FaultKind::HeaterRunaway {
            heater: Some(HEATER)
        }
    );
    assert_eq!(
        parsed("channel-loss:air@1m").kind,
        FaultKind::SensorLoss { sensor: BUBBLE }
    );
    assert_eq!(
        parsed("channel-loss:clamp@1m").kind,
        FaultKind::ActuatorLoss {
            actuator: CLAMP,
            duration_s: f64::INFINITY
        }
    );
    assert_eq!(
        parsed("channel-loss:pump:30@1m").kind,
        FaultKind::ActuatorLoss {
            actuator: PUMP,
            duration_s: 30.0
        }
    );
}

#[test]
fn parse_errors_name_the_problem_and_list_the_kinds() {
    let p = kidney(&[]);
    let err = |t: &str| Fault::parse(t, &p).unwrap_err();
    let e = err("bubbles@30m");
    assert!(
        e.contains("unknown fault kind `bubbles`") && e.contains("pump-stall"),
        "{e}"
    );
    let e = err("stuck:venous_pressure@30m");
    assert!(
        e.contains("no sensor `venous_pressure`") && e.contains("arterial_pressure"),
        "{e}"
    );
    assert!(err("air").contains("no `@TIME`"));
    assert!(err("air@soon").contains("bad duration"));
    assert!(err("stuck@1m").contains("needs a sensor"));
    assert!(err("air:now@1m").contains("takes no `:now`"));
    assert!(err("occlusion:0.5@1m").contains("at least 1"));
    assert!(err("leak:x@1m").contains("`x` is not a number"));
    assert!(err("drift:air@1m").contains("cannot drift"));
    let e = err("pump-stall:heater@1m");
    assert!(
        e.contains("no pump `heater`") && e.contains("pumps: pump"),
        "{e}"
    );
    assert!(err("channel-loss:nothing@1m").contains("actuators: pump, clamp, heater"));
    assert!(err("channel-loss:air:5@1m").contains("takes no `:5`"));
    assert!(err("channel-loss:pump:0@1m").contains("must be positive"));
}

#[test]
fn hand_built_faults_are_checked_too() {
    let p = kidney(&[]);
    let bad = Fault {
        kind: FaultKind::Stuck { sensor: 40 },
        at_s: 10.0,
    };
    let e = SimHal::new(&p, 1, &[bad]).err().unwrap();
    assert!(e.contains("sensor index 40 out of range"), "{e}");
    let wrong = Fault {
        kind: FaultKind::PumpStall { pump: Some(HEATER) },
        at_s: 10.0,
    };
    let e = SimHal::new(&p, 1, &[wrong]).err().unwrap();
    assert!(e.contains("is a Heater"), "{e}");
}
