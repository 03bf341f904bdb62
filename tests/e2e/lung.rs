//! System tests of the lung EVLP protocol on the simulator: whole runs through the command line,
//! and every safety rule exercised by an injected fault, tick by tick through the library.

use crate::common::*;
use perfuse_core::run::Run;
use perfuse_plugin_sdk::validity;

fn evlp() -> std::path::PathBuf {
    protocol("lung-evlp.ron")
}

/// Assessments of a summary: (time, values).
fn assessments(s: &serde_json::Value) -> Vec<(f64, &serde_json::Value)> {
    s["assessments"]
        .as_array()
        .expect("assessments list")
        .iter()
        .map(|a| (f(&a["t_s"]), &a["values"]))
        .collect()
}

#[test]
fn a_good_lung_runs_the_protocol_in_band_and_passes_the_verdict() {
    let s = run_summary(&evlp(), &["--seed", "1"]);
    assert_eq!(s["completed"], true);
    assert_eq!(s["scenario"], "good");
    assert_eq!(s["final_phase"], "steady");
    // 3 h 10 min: the phase the plugin ends runs to the tick after it asked.
    assert!(
        (f(&s["simulated_s"]) - 11_400.0).abs() < 0.02,
        "{}",
        s["simulated_s"]
    );

    // Every controlled or monitored channel with a band: in it ≥ 95 % after its settle time.
    let mut banded = 0;
    for (id, ch) in s["channels"].as_object().unwrap() {
        if !ch["in_band_fraction"].is_null() {
            banded += 1;
            assert!(f(&ch["in_band_fraction"]) >= 0.95, "{id}: {ch}");
        }
    }
    assert_eq!(banded, 4, "pa_flow, perfusate_temp, mean_lap, mean_pap");
    assert!(high_alarms(&s).is_empty(), "high alarms: {}", s["alarms"]);
    assert!(
        s["alarms"].as_array().unwrap().is_empty(),
        "{}",
        s["alarms"]
    );

    // Ventilation starts at 32 °C, by the plugin ending the rewarm phase there.
    let d = &s["derived"];
    let start_c = f(&d["ventilation_start_temp_c"]);
    assert!((start_c - 32.0).abs() <= 0.5, "ventilation at {start_c} °C");
    let phases = s["phases"].as_array().unwrap();
    assert_eq!(phases[1]["id"], "ventilated_rewarm");
    let vent_start_s = f(&phases[1]["start_s"]);
    assert!((f(&d["ventilation_start_min"]) * 60.0 - vent_start_s).abs() < 0.02);
    assert!(
        (1200.0..1800.0).contains(&vent_start_s),
        "25 → 37 °C over 40 min passes 32 °C near 23 min: {vent_start_s} s"
    );
    let tv = &s["actuators"]["vent_tidal_volume"];
    assert_eq!(f(&tv["max"]), 490.0, "7 mL/kg × 70 kg: {tv}");
    // Full flow reached at 60 min, the steady phase begins there.
    assert!((f(&phases[2]["start_s"]) - 3600.0).abs() < 0.02);
    assert_eq!(f(&d["target_flow_ml_min"]), 1960.0);

    // Hourly assessments at full flow and FiO2 100 %, each passing.
    let list = assessments(&s);
    assert_eq!(list.len(), 3);
    for (k, (t, v)) in list.iter().enumerate() {
        let expected_t = 3600.0 * (k + 1) as f64 + 300.0;
        assert!((t - expected_t).abs() < 0.02, "assessment at {t} s");
        // The stepped request is 1959.9999999999998 in floating point (JSON now reads exactly).
        let request = f(&v["flow_request_ml_min"]);
        assert!((request - 1960.0).abs() < 1e-9, "flow request {request}");
        let pvr = f(&v["pvr_dyn_s_cm5"]);
        assert!((80.0..=160.0).contains(&pvr), "PVR {pvr} at {t} s");
        let pf = f(&v["pf_ratio_mmhg"]);
        assert!(
            (460.0..=560.0).contains(&pf),
            "P/F {pf} (§2A: 514, 460-560)"
        );
        assert_eq!(f(&v["verdict_suitable"]), 1.0, "{v}");
    }
    for reason in [
        "reason_pf_below_400",
        "reason_pvr_worse",
        "reason_dynamic_compliance_worse",
        "reason_static_compliance_worse",
        "reason_peak_pressure_worse",
    ] {
        assert_eq!(f(&d[reason]), 0.0, "{reason}");
    }
    assert_eq!(f(&d["verdict_suitable"]), 1.0);
    // Oedema of a good lung: ~90 mL (50-175) lost to the airway (§2A).
    let lost = 2000.0 - f(&s["channels"]["reservoir_volume"]["mean"]);
    assert!((20.0..=175.0).contains(&lost), "{lost} mL lost");
}

#[test]
fn a_deteriorating_lung_fails_the_verdict_for_its_reasons() {
    let s = run_summary(&evlp(), &["--scenario", "deteriorating"]);
    assert_eq!(s["completed"], true);
    assert!(high_alarms(&s).is_empty(), "high alarms: {}", s["alarms"]);
    let list = assessments(&s);
    assert_eq!(list.len(), 3);
    let (_, first) = list[0];
    let (_, last) = list[2];
    assert!(f(&first["pf_ratio_mmhg"]) >= 400.0, "{first}");
    assert!(f(&last["pf_ratio_mmhg"]) < 400.0, "{last}");
    assert!(f(&last["pvr_dyn_s_cm5"]) > 1.15 * f(&first["pvr_dyn_s_cm5"]));
    let d = &s["derived"];
    assert_eq!(f(&d["verdict_suitable"]), 0.0);
    assert_eq!(f(&d["reason_pf_below_400"]), 1.0);
    assert_eq!(f(&d["reason_pvr_worse"]), 1.0);
    assert_eq!(f(&d["reason_dynamic_compliance_worse"]), 1.0);
    assert_eq!(f(&d["reason_static_compliance_worse"]), 1.0);
    // The oedema shows as lost perfusate.
    let loss = alarm(&s, "perfusate_loss").expect("perfusate loss alarm");
    assert_eq!(loss["priority"], "low");
}

#[test]
fn scenarios_are_listed() {
    let out = perfuse(&["run", evlp().to_str().unwrap(), "--list-scenarios"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "deteriorating\ngood (default)\n");
}

/// A fault run stepped until rule `rule` raises its alarm, checking that it did so exactly
/// when `condition` had held for `persist_s`, counted as the core counts it ([`Persistence`]). Returns the alarm's tick
/// and the commands sent on the tick before it.
fn interlock(
    run: &mut Run,
    rule: &str,
    persist_s: f64,
    limit_s: f64,
    condition: impl Fn(&Run) -> bool,
) -> (u64, [f64; 16]) {
    let limit = ticks(run, limit_s);
    let persist = ticks(run, persist_s);
    let mut held = Persistence::new(run);
    while run.tick() < limit {
        let previous = run.commands().values;
        run.step_lockstep();
        let t = run.tick() - 1;
        held.feed(t, Some(condition(run)));
        if let Some(first) = alarm_first_tick(run, rule) {
            assert_eq!(first, t);
            assert_eq!(held.held, persist + 1, "{rule}: not at its persistence");
            return (first, previous);
        }
    }
    panic!("{rule} not raised within {limit_s} s");
}

fn above(run: &Run, id: &str, limit: f64) -> bool {
    let (v, ok) = run.signal(id).unwrap();
    ok == validity::OK && v > limit
}

fn below(run: &Run, id: &str, limit: f64) -> bool {
    let (v, ok) = run.signal(id).unwrap();
    ok == validity::OK && v < limit
}

fn priority(run: &Run, id: &str) -> &'static str {
    run.alarms()
        .list
        .iter()
        .find(|a| a.id == id)
        .unwrap()
        .priority
        .as_str()
}

/// A `Limit` or `Reduce` cap is approached at the actuator's rate limit (the core slows every
/// cap but a stop or a cut-out): the command falls from the alarm's tick, and is at or under the
/// cap once the rate limit allows.
fn capped(run: &mut Run, actuator: usize, before: f64, cap: f64, rate_per_s: f64) {
    let now = run.commands().values[actuator];
    if before > cap {
        assert!(now < before, "{now} not falling from {before} at the alarm");
    }
    steps(run, (before - cap).max(0.0) / rate_per_s + 0.02);
    let now = run.commands().values[actuator];
    assert!(now <= cap + 1e-9, "{now} above the cap {cap}");
}

fn steps(run: &mut Run, seconds: f64) {
    for _ in 0..ticks(run, seconds) {
        run.step_lockstep();
    }
}

#[test]
fn air_stops_the_pump_and_clamps_the_artery() {
    let mut run = lockstep(&evlp(), &["air@5m"], 1);
    let (pump, clamp) = (actuator(&run, "pump"), actuator(&run, "pa_clamp"));
    let (_, before) = interlock(&mut run, "air_in_line", 0.02, 310.0, |r| {
        above(r, "bubble", 0.5)
    });
    assert!(before[pump] > 0.0);
    assert_eq!(run.commands().values[pump], 0.0);
    assert_eq!(run.commands().values[clamp], 1.0);
    assert_eq!(priority(&run, "air_in_line"), "high");
    steps(&mut run, 10.0);
    assert_eq!(run.commands().values[pump], 0.0, "latched");
    assert_eq!(run.commands().values[clamp], 1.0);
}

#[test]
fn high_pulmonary_artery_pressure_reduces_the_pump() {
    let mut run = lockstep(&evlp(), &["occlusion:15@30m"], 1);
    let pump = actuator(&run, "pump");
    let (_, before) = interlock(&mut run, "pap_high", 5.0, 1900.0, |r| {
        above(r, "mean_pap", 20.0)
    });
    assert_eq!(priority(&run, "pap_high"), "medium");
    let cap = 0.7 * before[pump];
    capped(&mut run, pump, before[pump], cap, 200.0);
    steps(&mut run, 60.0);
    assert!(run.commands().values[pump] <= cap + 1e-9, "latched");
    let (pap, _) = run.signal("mean_pap").unwrap();
    assert!(pap < 20.0, "PAP {pap} after the reduction");
    assert!(run.signal("mean_flow").unwrap().0 > 100.0, "still perfused");
}

#[test]
fn left_atrial_collapse_is_a_high_alarm_and_halves_the_pump() {
    let mut run = lockstep(&evlp(), &["la_collapse@5m"], 2);
    let pump = actuator(&run, "pump");
    let (_, before) = interlock(&mut run, "la_collapse", 2.0, 330.0, |r| {
        below(r, "mean_lap", 0.0)
    });
    assert_eq!(priority(&run, "la_collapse"), "high");
    capped(&mut run, pump, before[pump], 0.5 * before[pump], 200.0);
    assert!(run.commands().values[pump] > 0.0, "reduced, not stopped");
}

#[test]
fn high_peak_airway_pressure_limits_the_tidal_volume() {
    let mut run = lockstep(&evlp(), &["bronchospasm@30m"], 3);
    let tv = actuator(&run, "vent_tidal_volume");
    let (_, before) = interlock(&mut run, "peak_airway_high", 5.0, 1830.0, |r| {
        above(r, "peak_airway_pressure", 25.0)
    });
    assert_eq!(before[tv], 490.0);
    assert_eq!(run.commands().values[tv], 350.0);
    assert_eq!(priority(&run, "peak_airway_high"), "medium");
    steps(&mut run, 30.0);
    assert_eq!(run.commands().values[tv], 350.0, "latched");
    let (peak, _) = run.signal("peak_airway_pressure").unwrap();
    assert!(peak < 25.0, "peak {peak} cmH2O at 5 mL/kg");
}

#[test]
fn over_temperature_turns_the_heater_off_and_flow_continues() {
    let mut run = lockstep(&evlp(), &["heater-runaway@30m"], 4);
    let (pump, heater) = (actuator(&run, "pump"), actuator(&run, "heater"));
    interlock(&mut run, "over_temperature", 1.0, 2400.0, |r| {
        above(r, "perfusate_temp", 38.5)
    });
    assert_eq!(priority(&run, "over_temperature"), "high");
    assert_eq!(run.commands().values[heater], 0.0);
    steps(&mut run, 60.0);
    assert_eq!(run.commands().values[heater], 0.0, "latched off");
    assert!(run.commands().values[pump] > 0.0);
    let (flow, _) = run.signal("mean_flow").unwrap();
    assert!(flow > 700.0, "perfusion continues at {flow} mL/min");
}

#[test]
fn ventilator_failure_is_a_high_alarm_and_perfusion_continues() {
    let mut run = lockstep(&evlp(), &["ventilator_failure@30m"], 5);
    let pump = actuator(&run, "pump");
    let (_, before) = interlock(&mut run, "ventilator_failure", 10.0, 1830.0, |r| {
        above(r, "set_tidal_volume", 100.0) && below(r, "peak_airway_pressure", 3.0)
    });
    assert_eq!(priority(&run, "ventilator_failure"), "high");
    assert!((run.commands().values[pump] - before[pump]).abs() < 5.0);
    steps(&mut run, 60.0);
    let (flow, _) = run.signal("mean_flow").unwrap();
    assert!(flow > 700.0, "perfusion continues at {flow} mL/min");
}

#[test]
fn a_lost_flow_sensor_is_a_high_alarm_and_the_pump_holds_its_speed() {
    let mut run = lockstep(&evlp(), &["channel-loss:pa_flow@5m"], 6);
    let pump = actuator(&run, "pump");
    let (_, before) = interlock(&mut run, "flow_sensor_failed", 0.1, 310.0, |r| {
        r.signal("pa_flow").unwrap().1 == validity::IMPLAUSIBLE
    });
    assert_eq!(priority(&run, "flow_sensor_failed"), "high");
    steps(&mut run, 30.0);
    assert_eq!(
        run.commands().values[pump],
        before[pump],
        "held, not stopped"
    );
}

#[test]
fn a_stuck_pressure_sensor_is_detected() {
    let mut run = lockstep(&evlp(), &["stuck:pa_pressure@5m"], 7);
    interlock(&mut run, "pap_sensor_stuck", 0.0, 310.0, |r| {
        r.signal("pa_pressure").unwrap().1 == validity::STUCK
    });
    assert_eq!(priority(&run, "pap_sensor_stuck"), "medium");
}

#[test]
fn a_lost_left_atrial_pressure_is_reported() {
    let mut run = lockstep(&evlp(), &["channel-loss:la_pressure@5m"], 9);
    let pump = actuator(&run, "pump");
    interlock(&mut run, "lap_sensor_failed", 0.1, 310.0, |r| {
        r.signal("la_pressure").unwrap().1 == validity::IMPLAUSIBLE
    });
    assert_eq!(priority(&run, "lap_sensor_failed"), "medium");
    assert!(run.commands().values[pump] > 0.0, "perfusion continues");
}

#[test]
fn a_lost_temperature_probe_switches_the_heater_off() {
    // The heater loop's only probe: nothing to fall back on, so the heater is not run blind.
    let mut run = lockstep(&evlp(), &["dropout:perfusate_temp:60@10m"], 8);
    let (heater, pump) = (actuator(&run, "heater"), actuator(&run, "pump"));
    let (_, before) = interlock(&mut run, "temperature_sensor_failed", 1.0, 610.0, |r| {
        r.signal("perfusate_temp").unwrap().1 == validity::IMPLAUSIBLE
    });
    assert_eq!(priority(&run, "temperature_sensor_failed"), "high");
    assert!(before[heater] > 0.0, "heating before");
    assert_eq!(run.commands().values[heater], 0.0);
    assert!(run.commands().values[pump] > 0.0, "perfusion continues");
}

#[test]
fn the_plugin_refuses_a_missing_or_out_of_range_parameter() {
    let text = std::fs::read_to_string(evlp()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "\"peep_cmh2o\": 5.0,",
            "\"peep_cmh2o\": 50.0,",
            "plugin_params[\"peep_cmh2o\"]: plugin `lung` refuses it: expected peep_cmh2o from 0 to 20 cmH2O, found 50",
        ),
        (
            "\"donor_weight_kg\": 70.0,",
            "",
            "plugin `lung` refuses it: missing parameter `donor_weight_kg` (kg from 10 to 200), which the plugin requires",
        ),
    ];
    for (from, to, expected) in cases {
        let file = dir.path().join("variant.ron");
        std::fs::write(&file, edit(&text, &[(from, to)])).unwrap();
        let out = perfuse(&["check", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(PLUGIN_REFUSED));
        assert!(stderr(&out).contains(expected), "{}", stderr(&out));
    }
}

#[test]
fn a_left_atrial_pressure_outside_2_to_6_mmhg_warns() {
    // §2A: LAP 3–5 mmHg, warning below 2 or above 6 [P]; the collapse goes on to the high alarm.
    let mut run = lockstep(&evlp(), &["la_collapse@5m"], 2);
    interlock(&mut run, "lap_warning", 30.0, 400.0, |r| {
        below(r, "mean_lap", 2.0)
    });
    assert_eq!(priority(&run, "lap_warning"), "low");
}

#[test]
fn a_peak_airway_pressure_above_20_warns_before_the_tidal_volume_is_limited() {
    // §2A: Ppeak median 14, warning above 20, critical above 25 cmH2O [P].
    let mut run = lockstep(&evlp(), &["bronchospasm@30m"], 3);
    interlock(&mut run, "peak_airway_warning", 10.0, 1830.0, |r| {
        above(r, "peak_airway_pressure", 20.0)
    });
    assert_eq!(priority(&run, "peak_airway_warning"), "low");
}
