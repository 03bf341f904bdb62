//! System tests of the heart protocols on the simulator: whole runs through the command line,
//! and every safety rule of §9 driven by an injected fault, checked tick by tick.

use crate::common::*;
use perfuse_core::run::Run;
use perfuse_plugin_sdk::validity;
use serde_json::Value;

/// Steps for `seconds` of simulated time.
fn run_for(run: &mut Run, seconds: f64) {
    let n = ticks(run, seconds);
    step(run, n);
}

/// Steps until the run has reached `t_s`.
fn run_until(run: &mut Run, t_s: f64) {
    let n = ticks(run, t_s) - run.tick();
    step(run, n);
}

/// Steps until alarm `id` becomes active, counting the ticks `cond` held toward the persistence;
/// returns (that count when the alarm was raised, the tick it was raised).
fn alarm_after_streak(
    run: &mut Run,
    id: &str,
    limit_s: f64,
    mut cond: impl FnMut(&Run) -> bool,
) -> (u64, u64) {
    // Persistence as the core counts it: ticks the condition held, restarted only once it has
    // been absent for longer than the rule's clear time (the default, 2 s, in these rules).
    let clear = ticks(run, perfuse_core::config::DEFAULT_CLEAR_S);
    let (mut held, mut absent) = (0, 0);
    let raised = step_until(run, limit_s, |r| {
        if cond(r) {
            held += 1;
            absent = 0;
        } else {
            absent += 1;
            if absent > clear {
                held = 0;
            }
        }
        active(r, id)
    });
    (held, raised)
}

fn value(run: &Run, id: &str) -> f64 {
    run.signal(id).unwrap_or_else(|| panic!("no signal {id}")).0
}

fn command(run: &Run, id: &str) -> f64 {
    run.commands().values[actuator(run, id)]
}

fn active(run: &Run, id: &str) -> bool {
    run.alarms().list.iter().any(|a| a.id == id && a.active)
}

fn priority(run: &Run, id: &str) -> &'static str {
    run.alarms()
        .list
        .iter()
        .find(|a| a.id == id)
        .unwrap_or_else(|| panic!("no alarm {id}"))
        .priority
        .as_str()
}

fn in_band(s: &Value, signal: &str) -> f64 {
    f(&s["channels"][signal]["in_band_fraction"])
}

fn nmp() -> std::path::PathBuf {
    protocol("heart-nmp.ron")
}

fn hope() -> std::path::PathBuf {
    protocol("heart-hope.ron")
}

// --- Whole runs -----------------------------------------------------------------------------

#[test]
fn nmp_good_heart_runs_to_its_end_in_band_with_flat_lactate() {
    let s = run_summary(&nmp(), &["--seed", "1"]);
    assert_eq!(s["completed"], true);
    assert_eq!(s["scenario"], "good");
    assert_eq!(s["plugin"]["id"], "heart");
    // 10 min of reperfusion, then 4 h of preservation.
    assert_eq!(f(&s["simulated_s"]), 15_000.0);
    assert_eq!(s["final_phase"], "preservation");
    for signal in ["mean_pressure", "perfusate_temp", "mean_coronary_flow"] {
        let fraction = in_band(&s, signal);
        assert!(fraction >= 0.95, "{signal}: {}", s["channels"][signal]);
    }
    assert!(high_alarms(&s).is_empty(), "high alarms: {}", s["alarms"]);
    assert!(
        s["alarms"].as_array().unwrap().is_empty(),
        "{}",
        s["alarms"]
    );

    // Lactate stays near 2.2 mmol/L (§1A) and the verdict is viable.
    let d = &s["derived"];
    let lactate = f(&d["arterial_lactate_mmol_l"]);
    assert!((2.0..=2.4).contains(&lactate), "{d}");
    assert!(f(&d["arterial_lactate_trend_mmol_l_h"]).abs() < 0.1, "{d}");
    assert_eq!(f(&d["lactate_rises_in_a_row"]), 0.0);
    assert_eq!(f(&d["lactate_verdict_viable"]), 1.0);
    // The coronary bed is stable: no rise from baseline.
    let rise = f(&d["cvr_rise_ratio"]);
    assert!((0.9..=1.1).contains(&rise), "CVR rise ×{rise}");
    let cvr = f(&d["coronary_vascular_resistance"]);
    assert!((0.09..=0.11).contains(&cvr), "CVR {cvr}");
    // Beating at 34 °C: O2 use between the arrested and the working value at 37 °C (§10.2).
    let mvo2 = f(&d["mvo2_ml_min_100g"]);
    assert!((2.0..=9.0).contains(&mvo2), "MVO2 {mvo2}");

    // Hourly samples from 30 min into preservation, each recorded as an assessment.
    let assessments = s["assessments"].as_array().unwrap();
    let times: Vec<f64> = assessments.iter().map(|a| f(&a["t_s"])).collect();
    assert_eq!(times, [2400.0, 6000.0, 9600.0, 13_200.0]);
    for (i, a) in assessments.iter().enumerate() {
        assert_eq!(a["phase"], "preservation");
        assert_eq!(f(&a["values"]["lactate_samples"]), (i + 1) as f64);
        assert!((2.0..=2.4).contains(&f(&a["values"]["arterial_lactate_mmol_l"])));
    }
    assert!(assessments[0]["values"]["lactate_verdict_viable"].is_null());
    assert_eq!(f(&assessments[3]["values"]["lactate_verdict_viable"]), 1.0);
}

#[test]
fn nmp_poor_heart_lactate_rises_and_the_verdict_rejects() {
    // Three hourly samples (40 min, 1 h 40, 2 h 40): two rises in a row.
    let s = run_summary(&nmp(), &["--scenario", "poor", "--duration", "3h"]);
    assert_eq!(s["completed"], true);
    assert_eq!(s["scenario"], "poor");
    let d = &s["derived"];
    let trend = f(&d["arterial_lactate_trend_mmol_l_h"]);
    assert!(
        (0.35..=0.7).contains(&trend),
        "about 0.5 mmol/L/h (§10.2): {d}"
    );
    assert!(f(&d["venous_lactate_trend_mmol_l_h"]) > 0.3, "{d}");
    assert_eq!(f(&d["lactate_rises_in_a_row"]), 2.0);
    assert_eq!(f(&d["lactate_verdict_viable"]), 0.0);
    assert!(
        f(&d["cvr_rise_ratio"]) > 1.1,
        "the injured bed stiffens: {d}"
    );
    let lactates: Vec<f64> = s["assessments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| f(&a["values"]["arterial_lactate_mmol_l"]))
        .collect();
    assert_eq!(lactates.len(), 3);
    assert!(
        lactates.windows(2).all(|w| w[1] > w[0] + 0.3),
        "{lactates:?}"
    );
    // Pressure is still held; only the metabolic picture is bad: no high alarm.
    assert!(in_band(&s, "mean_pressure") >= 0.95);
    assert!(high_alarms(&s).is_empty(), "high alarms: {}", s["alarms"]);
    // The rising lactate is an alarm of its own, once the 30-min trend has run 10 min above
    // 0.3 mmol/L/h (§1A).
    let rising = alarm(&s, "lactate_rising").unwrap_or_else(|| panic!("{}", s["alarms"]));
    assert_eq!(rising["priority"], "low");
    assert!(
        (2400.0..3600.0).contains(&f(&rising["first_s"])),
        "{rising}"
    );
}

#[test]
fn hope_runs_to_its_end_at_8_degrees_and_20_to_25_mmhg() {
    let s = run_summary(&hope(), &["--seed", "1"]);
    assert_eq!(s["completed"], true);
    assert_eq!(s["scenario"], "good");
    // The median clinical preservation: 223 min (§1B).
    assert_eq!(f(&s["simulated_s"]), 223.0 * 60.0);
    for signal in ["mean_pressure", "perfusate_temp", "mean_coronary_flow"] {
        let fraction = in_band(&s, signal);
        assert!(fraction >= 0.95, "{signal}: {}", s["channels"][signal]);
    }
    // Never above the 25-mmHg warning, so no reduction was ever needed.
    assert!(f(&s["channels"]["aortic_pressure"]["max"]) < 25.0);
    assert!(
        s["alarms"].as_array().unwrap().is_empty(),
        "{}",
        s["alarms"]
    );
    let d = &s["derived"];
    let cvr = f(&d["coronary_vascular_resistance"]);
    assert!((0.11..=0.15).contains(&cvr), "CVR {cvr}");
    assert!(f(&d["cvr_rise_ratio"]) < 1.0, "the cold bed relaxes: {d}");
    // No lactate analyser in this circuit: no lactate values, but hourly assessments.
    assert!(d["lactate_verdict_viable"].is_null());
    assert_eq!(s["assessments"].as_array().unwrap().len(), 4);
}

#[test]
fn hope_poor_heart_shows_a_rising_coronary_resistance() {
    // Samples at 40 min, 1 h 40 and 2 h 40.
    let s = run_summary(&hope(), &["--scenario", "poor", "--duration", "2h45m"]);
    let d = &s["derived"];
    let rise = f(&d["cvr_rise_ratio"]);
    assert!(rise > 1.25, "CVR rise ×{rise}");
    // At the held pressure the flow falls: below the good heart's ~165 mL/min.
    let flow = f(&s["channels"]["mean_coronary_flow"]["mean"]);
    assert!(flow < 140.0, "mean coronary flow {flow}");
    assert!(in_band(&s, "mean_pressure") >= 0.95, "pressure still held");
}

#[test]
fn scenarios_are_listed_for_both_protocols() {
    for file in [nmp(), hope()] {
        let out = perfuse(&["run", file.to_str().unwrap(), "--list-scenarios"]);
        assert!(out.status.success());
        assert_eq!(stdout(&out), "good (default)\npoor\n");
    }
}

// --- Faults, tick by tick -------------------------------------------------------------------

#[test]
fn vf_in_nmp_raises_the_high_alarm_within_one_tick_of_its_persistence() {
    let mut run = lockstep(&nmp(), &["vf@20m"], 1);
    let persist = ticks(&run, 3.0);
    let onset = step_until(&mut run, 1210.0, |r| value(r, "heart_rate") > 250.0);
    assert!((1200.0..1200.05).contains(&(onset as f64 * run.plan.period_s)));
    step(&mut run, persist - 1);
    assert!(!active(&run, "ventricular_fibrillation"), "too early");
    step(&mut run, 1);
    assert_eq!(
        alarm_first_tick(&run, "ventricular_fibrillation"),
        Some(onset + persist)
    );
    assert_eq!(priority(&run, "ventricular_fibrillation"), "high");
    // Alarm only: the operator defibrillates; perfusion goes on.
    step(&mut run, 1000);
    assert!(active(&run, "ventricular_fibrillation"), "latched");
    assert!(command(&run, "pump") > 0.0);
}

#[test]
fn hope_over_pressure_is_reduced_then_stopped_at_the_tick_it_is_seen() {
    let mut run = lockstep(&hope(), &["occlusion@20m"], 1);
    let mut before = f64::NAN;
    let over_25 = step_until(&mut run, 1210.0, |r| {
        let above = value(r, "aortic_pressure") > 25.0;
        if !above {
            before = command(r, "pump");
        }
        above
    });
    // Persistence 0: the reduction is in the tick the reading crossed 25 mmHg.
    assert_eq!(alarm_first_tick(&run, "over_pressure"), Some(over_25));
    assert_eq!(priority(&run, "over_pressure"), "medium");
    assert!(
        command(&run, "pump") <= 0.7 * before + 1e-9,
        "reduced by 30 %: {} after {before}",
        command(&run, "pump")
    );
    let over_30 = step_until(&mut run, 1215.0, |r| value(r, "aortic_pressure") > 30.0);
    assert_eq!(
        alarm_first_tick(&run, "over_pressure_critical"),
        Some(over_30)
    );
    assert_eq!(priority(&run, "over_pressure_critical"), "high");
    assert_eq!(command(&run, "pump"), 0.0);
    // The flow-loss alarm follows after its own 5 s; the stop is latched.
    run_for(&mut run, 10.0);
    assert!(alarm_first_tick(&run, "occlusion").is_some());
    assert_eq!(command(&run, "pump"), 0.0);
}

#[test]
fn nmp_occlusion_stops_the_pump_one_second_after_critical_pressure() {
    let mut run = lockstep(&nmp(), &["occlusion@20m"], 2);
    let persist = ticks(&run, 1.0);
    let over_100 = step_until(&mut run, 1210.0, |r| {
        let (p, v) = r.signal("mean_pressure").unwrap();
        v == validity::OK && p > 100.0
    });
    step(&mut run, persist - 1);
    assert!(command(&run, "pump") > 0.0, "not before its persistence");
    step(&mut run, 1);
    assert_eq!(
        alarm_first_tick(&run, "over_pressure_critical"),
        Some(over_100 + persist)
    );
    assert_eq!(command(&run, "pump"), 0.0);
}

#[test]
fn air_stops_the_pump_and_clamps_the_line_in_both_protocols() {
    for file in [nmp(), hope()] {
        let mut run = lockstep(&file, &["air@20m"], 1);
        let persist = ticks(&run, 0.02);
        let onset = step_until(&mut run, 1210.0, |r| value(r, "bubble") > 0.5);
        step(&mut run, persist - 1);
        assert!(command(&run, "pump") > 0.0, "{file:?}: stopped too early");
        step(&mut run, 1);
        assert_eq!(alarm_first_tick(&run, "air_in_line"), Some(onset + persist));
        assert_eq!(priority(&run, "air_in_line"), "high");
        assert_eq!(command(&run, "pump"), 0.0);
        assert_eq!(command(&run, "arterial_clamp"), 1.0);
    }
}

#[test]
fn nmp_over_temperature_turns_the_heater_off_while_flow_continues() {
    let mut run = lockstep(&nmp(), &["heater-runaway@20m"], 3);
    let persist = ticks(&run, 1.0);
    let (held, raised) = alarm_after_streak(&mut run, "over_temperature", 3600.0, |r| {
        value(r, "reservoir_temp") > 37.0
    });
    assert_eq!(
        held,
        persist + 1,
        "raised once the condition had held its persistence"
    );
    assert_eq!(alarm_first_tick(&run, "over_temperature"), Some(raised));
    assert_eq!(priority(&run, "over_temperature"), "high");
    assert_eq!(command(&run, "heater"), 0.0);
    step(&mut run, 6000);
    assert_eq!(command(&run, "heater"), 0.0, "latched off");
    assert!(
        value(&run, "mean_coronary_flow") > 500.0,
        "perfusion continues"
    );
}

#[test]
fn hope_over_temperature_alarms_while_cooling_and_flow_continue() {
    let mut run = lockstep(&hope(), &["heater-runaway:cooler@20m"], 3);
    let persist = ticks(&run, 5.0);
    let (held, raised) = alarm_after_streak(&mut run, "over_temperature", 3600.0, |r| {
        value(r, "perfusate_temp") > 12.0
    });
    assert_eq!(
        held,
        persist + 1,
        "raised once the condition had held its persistence"
    );
    assert_eq!(alarm_first_tick(&run, "over_temperature"), Some(raised));
    assert_eq!(priority(&run, "over_temperature"), "high");
    // Heating is capped at 0 W; the cooling the loop asks for goes through.
    assert!(command(&run, "cooler") < 0.0, "cooling continues");
    assert!(
        value(&run, "mean_coronary_flow") > 100.0,
        "perfusion continues"
    );
}

#[test]
fn hope_under_temperature_turns_the_cooler_off() {
    // The probe drifts down 1 °C/min: the controller warms against it, until the reading
    // falls below 4 °C and the cooler is switched off.
    let mut run = lockstep(&hope(), &["drift:perfusate_temp:-1@20m"], 4);
    let persist = ticks(&run, 5.0);
    let (held, raised) = alarm_after_streak(&mut run, "under_temperature", 1800.0, |r| {
        value(r, "perfusate_temp") < 4.0
    });
    assert_eq!(
        held,
        persist + 1,
        "raised once the condition had held its persistence"
    );
    assert_eq!(alarm_first_tick(&run, "under_temperature"), Some(raised));
    assert_eq!(priority(&run, "under_temperature"), "high");
    assert_eq!(command(&run, "cooler"), 0.0);
    assert!(command(&run, "pump") > 0.0);
}

#[test]
fn a_frozen_pressure_reading_holds_the_warm_pump_but_stops_the_cold_one() {
    for (file, pump_runs) in [(nmp(), true), (hope(), false)] {
        let mut run = lockstep(&file, &["stuck:aortic_pressure@20m"], 5);
        let onset = step_until(&mut run, 1210.0, |r| {
            r.signal("aortic_pressure").unwrap().1 == validity::STUCK
        });
        // stuck_after_s is 2 s; persistence 0: alarm and action in the detecting tick.
        let onset_s = onset as f64 * run.plan.period_s;
        assert!((1201.95..1202.05).contains(&onset_s), "{file:?}: {onset_s}");
        assert_eq!(alarm_first_tick(&run, "pressure_sensor_stuck"), Some(onset));
        assert_eq!(priority(&run, "pressure_sensor_stuck"), "high");
        assert_eq!(command(&run, "pump") > 0.0, pump_runs, "{file:?}");
    }
}

#[test]
fn sensor_losses_raise_their_alarms() {
    let mut run = lockstep(
        &nmp(),
        &[
            "dropout:perfusate_temp:5@20m",
            "channel-loss:bubble@25m",
            "channel-loss:heart_rate@30m",
        ],
        6,
    );
    run_until(&mut run, 1201.0);
    assert!(active(&run, "temperature_probe_failed"));
    assert_eq!(
        alarm_first_tick(&run, "temperature_probe_failed"),
        Some(ticks(&run, 1200.0) + ticks(&run, 0.5))
    );
    assert_eq!(command(&run, "heater"), 0.0, "heater off");
    assert!(command(&run, "pump") > 0.0, "perfusion continues");
    run_until(&mut run, 1802.0);
    assert_eq!(priority(&run, "bubble_detector_failed"), "high");
    assert!(active(&run, "bubble_detector_failed"));
    assert!(active(&run, "ecg_lost"));
    assert_eq!(priority(&run, "ecg_lost"), "medium");
}
