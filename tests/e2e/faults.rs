//! Injected faults through the production paths: the simulator's fault injection, the core's
//! rules and the command frame sent to the device, checked tick by tick.

use crate::common::*;
use perfuse_plugin_sdk::validity;

#[test]
fn air_stops_the_pump_and_closes_the_clamp_within_one_tick_of_persistence() {
    let mut run = lockstep(&protocol("kidney-hmp.ron"), &["air@30m"], 1);
    let (pump, clamp) = (actuator(&run, "pump"), actuator(&run, "arterial_clamp"));
    let persist = ticks(&run, 0.02);
    // The first tick whose bubble reading shows air.
    let onset = step_until(&mut run, 1810.0, |r| r.signal("bubble").unwrap().0 > 0.5);
    assert!((1800.0..1800.05).contains(&(onset as f64 * run.plan.period_s)));
    // Until the persistence time has passed, the pump still runs.
    step(&mut run, persist - 1);
    assert!(run.commands().values[pump] > 0.0, "stopped too early");
    assert_eq!(run.commands().values[clamp], 0.0);
    // At the tick the persistence time is reached: stopped and clamped.
    step(&mut run, 1);
    assert_eq!(run.commands().values[pump], 0.0);
    assert_eq!(run.commands().values[clamp], 1.0);
    assert_eq!(alarm_first_tick(&run, "air_in_line"), Some(onset + persist));
    // Latched: it stays in the safe state.
    step(&mut run, 1000);
    assert_eq!(run.commands().values[pump], 0.0);
    assert_eq!(run.commands().values[clamp], 1.0);
    let air = run
        .alarms()
        .list
        .iter()
        .find(|a| a.id == "air_in_line")
        .unwrap();
    assert_eq!(air.priority.as_str(), "high");
    assert!(air.active);
}

#[test]
fn air_through_the_command_line_is_a_high_alarm_in_the_summary() {
    let s = run_summary(
        &protocol("kidney-hmp.ron"),
        &["--duration", "40m", "--fault", "air@30m"],
    );
    let air = alarm(&s, "air_in_line").expect("air alarm recorded");
    assert_eq!(air["priority"], "high");
    assert!((1800.0..1800.1).contains(&f(&air["first_s"])), "{air}");
    assert_eq!(air["active_at_end"], true);
    assert_eq!(s["completed"], true);
}

#[test]
fn occlusion_raises_the_high_alarm_after_its_persistence() {
    let mut run = lockstep(&protocol("kidney-hmp.ron"), &["occlusion@30m"], 3);
    let persist = ticks(&run, 5.0);
    // The tick at which flow has collapsed below 15 mL/min with the pressure still above 15.
    let onset = step_until(&mut run, 1830.0, |r| {
        let (q, qv) = r.signal("mean_flow").unwrap();
        let (p, pv) = r.signal("mean_pressure").unwrap();
        qv == validity::OK && pv == validity::OK && q < 15.0 && p > 15.0
    });
    let onset_s = onset as f64 * run.plan.period_s;
    assert!(
        (1800.0..1805.0).contains(&onset_s),
        "flow fell at {onset_s} s"
    );
    step(&mut run, persist + 1);
    assert_eq!(alarm_first_tick(&run, "occlusion"), Some(onset + persist));
    // The blocked bed turned the pump's flow into pressure: the critical over-pressure rule
    // stopped the pump within the first second, before the occlusion rule's 5 s persistence.
    let critical = alarm_first_tick(&run, "over_pressure_critical").expect("over-pressure stop");
    assert!(critical < onset + persist);
    assert_eq!(run.commands().values[actuator(&run, "pump")], 0.0);
}

#[test]
fn a_stuck_pressure_sensor_is_detected_and_the_pump_stopped() {
    let mut run = lockstep(
        &protocol("kidney-hmp.ron"),
        &["stuck:arterial_pressure@30m"],
        5,
    );
    let onset = step_until(&mut run, 1810.0, |r| {
        r.signal("arterial_pressure").unwrap().1 == validity::STUCK
    });
    let onset_s = onset as f64 * run.plan.period_s;
    // stuck_after_s is 2 s: detection 2 s after the reading froze.
    assert!((1802.0..1802.05).contains(&onset_s), "stuck at {onset_s} s");
    // Persistence 0: the alarm and the stop are in the same tick.
    assert_eq!(alarm_first_tick(&run, "pressure_sensor_stuck"), Some(onset));
    assert_eq!(run.commands().values[actuator(&run, "pump")], 0.0);
}

/// The HMP protocol rewritten by `edit`, in a temporary file.
fn variant(edit: impl FnOnce(String) -> String) -> (tempfile::TempDir, std::path::PathBuf) {
    let text = std::fs::read_to_string(protocol("kidney-hmp.ron")).unwrap();
    temp_protocol(&edit(text))
}

#[test]
fn moderate_over_pressure_limits_the_pump_without_stopping_it() {
    // The loop asked for 37 mmHg: above the 35 mmHg limit, below the 40 mmHg stop (with the
    // band widened to hold it: a setpoint lies inside its phase's band).
    let (_dir, file) = variant(|t| {
        edit(
            &t,
            &[
                (
                    "Ramp(from: 0.0, to: 30.0, over_s: 30.0)",
                    "Ramp(from: 0.0, to: 37.0, over_s: 30.0)",
                ),
                (
                    "band: Some((min: 27.0, max: 33.0)), // ±3 mmHg [P]",
                    "band: Some((min: 27.0, max: 39.0)),",
                ),
            ],
        )
    });
    let mut run = lockstep(&file, &[], 1);
    let pump = actuator(&run, "pump");
    let limited = step_until(&mut run, 600.0, |r| {
        r.alarms()
            .list
            .iter()
            .any(|a| a.id == "over_pressure" && a.active)
    });
    assert!(
        run.commands().values[pump] <= 60.0,
        "capped at the rule's 60 mL/min"
    );
    let ten_minutes = ticks(&run, 600.0);
    step(&mut run, ten_minutes);
    assert!(alarm_first_tick(&run, "over_pressure") == Some(limited));
    assert_eq!(alarm_first_tick(&run, "over_pressure_critical"), None);
    assert!(run.commands().values[pump] > 0.0, "limited, never stopped");
}

#[test]
fn severe_over_pressure_stops_the_pump_and_latches() {
    // No pump loop, and the pump started at 250 mL/min: pressure climbs through both limits.
    let (_dir, file) = variant(|t| kidney_open_loop(&t));
    let mut run = lockstep(&file, &[], 1);
    let pump = actuator(&run, "pump");
    let over_40 = step_until(&mut run, 30.0, |r| {
        r.signal("systolic_pressure").unwrap().0 > 40.0
    });
    let persist = ticks(&run, 0.5);
    step(&mut run, persist - 1);
    assert_eq!(run.commands().values[pump], 250.0, "not yet: persistence");
    step(&mut run, 1);
    assert_eq!(
        alarm_first_tick(&run, "over_pressure_critical"),
        Some(over_40 + persist)
    );
    assert_eq!(run.commands().values[pump], 0.0);
    step(&mut run, 3000);
    assert_eq!(run.commands().values[pump], 0.0, "the stop is latched");
}

#[test]
fn over_temperature_turns_the_heater_off_while_flow_continues() {
    let mut run = lockstep(&protocol("kidney-nmp.ron"), &["heater-runaway@20m"], 2);
    let (pump, heater) = (actuator(&run, "pump"), actuator(&run, "heater"));
    let crossed = step_until(&mut run, 3600.0, |r| {
        r.signal("perfusate_temp").unwrap().0 > 38.0
    });
    let half_minute = ticks(&run, 30.0);
    step(&mut run, half_minute);
    let first = alarm_first_tick(&run, "over_temperature").expect("over-temperature alarm");
    assert!(
        first >= crossed + ticks(&run, 1.0),
        "not before its persistence"
    );
    assert_eq!(run.commands().values[heater], 0.0);
    step(&mut run, 6000);
    assert_eq!(run.commands().values[heater], 0.0, "latched off");
    assert!(run.commands().values[pump] > 100.0, "perfusion continues");
    assert!(run.signal("mean_flow").unwrap().0 > 100.0);
}

#[test]
fn bad_fault_specifications_are_refused_with_a_reason() {
    let out = perfuse(&[
        "run",
        protocol("kidney-hmp.ron").to_str().unwrap(),
        "--fault",
        "meteor@1h",
    ]);
    assert_eq!(out.status.code(), Some(INVALID_INPUT));
    let err = stderr(&out);
    assert!(err.contains("--fault meteor@1h"), "{err}");
    let out = perfuse(&[
        "run",
        protocol("kidney-hmp.ron").to_str().unwrap(),
        "--fault",
        "stuck:nothing@1h",
    ]);
    assert_eq!(out.status.code(), Some(INVALID_INPUT));
    assert!(stderr(&out).contains("nothing"), "{}", stderr(&out));
}

#[test]
fn a_failed_temperature_probe_falls_back_to_its_backup() {
    // Kidney NMP: the heater loop reads the arterial-line probe, backed up by the reservoir one.
    let s = run_summary(
        &protocol("kidney-nmp.ron"),
        &["--fault", "dropout:perfusate_temp:600@20m"],
    );
    let failed = alarm(&s, "temperature_probe_failed").expect("probe failure alarm");
    assert_eq!(failed["priority"], "medium");
    assert_eq!(failed["technical"], true);
    // Ten minutes without the probe, and the perfusate stayed at 36 ± 0.5 °C on the backup.
    let temp = &s["channels"]["perfusate_temp"];
    assert!(f(&temp["in_band_fraction"]) >= 0.99, "{temp}");
}

#[test]
fn drifting_redundant_probes_raise_the_disagreement_alarm() {
    // The loop follows the drifting probe, so the perfusate itself cools and the backup shows it.
    let s = run_summary(
        &protocol("kidney-nmp.ron"),
        &["--fault", "drift:perfusate_temp:0.5@20m"],
    );
    let disagree = alarm(&s, "temperature_probes_disagree").expect("disagreement alarm");
    assert_eq!(disagree["priority"], "medium");
    // 1 °C of drift takes 2 min; the perfusate's heat capacity delays the cooling the backup
    // sees by tens of seconds more; then the 30-s persistence.
    let at = f(&disagree["first_s"]);
    assert!(
        (1200.0 + 150.0..1200.0 + 240.0).contains(&at),
        "raised at {at} s"
    );
}
