//! System tests of the HITHOC protocol on the simulator: the run through the command line, and
//! the safety rules of §8 and §9 under injected faults, tick by tick.

use crate::common::*;
use perfuse_core::run::Run;

fn value(run: &Run, id: &str) -> f64 {
    run.signal(id).unwrap().0
}

fn command(run: &Run, id: &str) -> f64 {
    run.commands().values[actuator(run, id)]
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

#[test]
fn sixty_minutes_at_42_degrees_in_the_closed_hemithorax() {
    let s = run_summary(&protocol("hithoc.ron"), &["--seed", "1"]);
    assert_eq!(s["completed"], true);
    assert_eq!(s["plugin"]["id"], "hithoc");
    let phases = s["phases"].as_array().unwrap();
    assert_eq!(phases[1]["id"], "drug");
    let drug_start = f(&phases[1]["start_s"]);
    assert!(drug_start > 300.0 && drug_start < 1800.0, "{drug_start}");
    assert!((f(&s["simulated_s"]) - (drug_start + 3600.0)).abs() < 0.02);
    for id in [
        "mean_inflow",
        "inflow_temp",
        "mean_itp",
        "outflow_temp",
        "pleural_apex_temp",
        "pleural_base_temp",
        "core_temp",
    ] {
        let ch = &s["channels"][id];
        assert!(f(&ch["in_band_fraction"]) >= 0.95, "{id}: {ch}");
    }
    // The inflow stays below 45 °C (§8) and the cavity near 42 °C.
    assert!(f(&s["channels"]["inflow_temp"]["max"]) < 44.0);
    let d = &s["derived"];
    assert!(f(&d["drug_lowest_pleural_c"]) >= 42.0, "{d}");
    assert!((42.0..=43.0).contains(&f(&d["drug_mean_pleural_c"])), "{d}");
    assert!((f(&d["drug_min"]) - 60.0).abs() < 0.01);
    assert_eq!(f(&d["drug_started_at_target"]), 1.0);
    assert!(f(&d["cem43_pleural_base_min"]) > 10.0 && f(&d["cem43_core_min"]) < 0.1);
    assert!(high_alarms(&s).is_empty(), "high alarms: {}", s["alarms"]);
    assert!(
        s["alarms"].as_array().unwrap().is_empty(),
        "{}",
        s["alarms"]
    );
}

#[test]
fn inflow_at_45_degrees_turns_the_heater_off_while_flow_continues() {
    let mut run = lockstep(&protocol("hithoc.ron"), &["heater-runaway@20m"], 2);
    fires_after_persistence(
        &mut run,
        "inflow_over_temperature",
        "inflow_temp",
        45.0,
        1.0,
    );
    assert_eq!(command(&run, "heater"), 0.0);
    assert!(
        command(&run, "inflow_pump") > 1350.0,
        "circulation continues"
    );
    assert_eq!(priority(&run, "inflow_over_temperature"), "high");
    let warning = alarm_first_tick(&run, "inflow_warm").expect("the 44 °C warning came first");
    assert_eq!(priority(&run, "inflow_warm"), "medium");
    assert!(warning < run.tick());
}

#[test]
fn raised_intrathoracic_pressure_reduces_then_stops_the_inflow() {
    let mut run = lockstep(&protocol("hithoc.ron"), &["occlusion@25m"], 3);
    fires_after_persistence(&mut run, "itp_high", "mean_itp", 12.0, 2.0);
    assert_eq!(priority(&run, "itp_high"), "medium");
    fires_after_persistence(&mut run, "itp_critical", "mean_itp", 15.0, 1.0);
    assert_eq!(priority(&run, "itp_critical"), "high");
    assert_eq!(command(&run, "inflow_pump"), 0.0);
    assert!(
        command(&run, "outflow_pump") > 0.0,
        "the drain keeps drawing"
    );
}

#[test]
fn air_stops_the_pumps_and_the_heater() {
    let mut run = lockstep(&protocol("hithoc.ron"), &["air@20m"], 4);
    let onset = step_until(&mut run, 1210.0, |r| value(r, "bubble") > 0.5);
    let persist = ticks(&run, 0.02);
    for _ in 0..persist {
        run.step_lockstep();
    }
    assert_eq!(alarm_first_tick(&run, "air_in_line"), Some(onset + persist));
    for id in ["inflow_pump", "outflow_pump", "heater"] {
        assert_eq!(command(&run, id), 0.0, "{id}");
    }
}

#[test]
fn a_hot_core_warns_then_turns_the_heater_off() {
    let mut run = lockstep(&protocol("hithoc.ron"), &["malignant-hyperthermia@15m"], 5);
    fires_after_persistence(&mut run, "core_warm", "core_temp", 39.0, 10.0);
    assert!(command(&run, "heater") > 0.0, "a warning only");
    fires_after_persistence(&mut run, "core_hot", "core_temp", 40.0, 10.0);
    assert_eq!(command(&run, "heater"), 0.0);
    assert!(command(&run, "inflow_pump") > 1350.0);
}

#[test]
fn a_failed_inflow_probe_turns_the_heater_off() {
    let s = run_summary(
        &protocol("hithoc.ron"),
        &["--duration", "25m", "--fault", "dropout:inflow_temp:30@20m"],
    );
    let failed = alarm(&s, "inflow_probe_failed").expect("probe alarm");
    assert_eq!(failed["priority"], "high");
    assert!(
        (1200.0..1200.2).contains(&f(&failed["first_s"])),
        "{failed}"
    );
    // Latched: heating stays off after the probe recovers.
    assert_eq!(failed["active_at_end"], true);
    // The circulation went on throughout.
    assert!(alarm(&s, "no_flow").is_none(), "{}", s["alarms"]);
    assert!(f(&s["channels"]["mean_inflow"]["in_band_fraction"]) >= 0.95);
}

#[test]
fn a_hemithorax_cooling_below_41_degrees_in_the_drug_phase_warns() {
    let s = run_summary(
        &protocol("hithoc.ron"),
        &["--fault", "channel-loss:heater@25m", "--duration", "60m"],
    );
    for id in ["pleural_apex_subtherapeutic", "pleural_base_subtherapeutic"] {
        let a = alarm(&s, id).unwrap_or_else(|| panic!("{id}: {}", s["alarms"]));
        assert_eq!(a["priority"], "medium");
        assert!(f(&a["first_s"]) > 1500.0);
    }
}

#[test]
fn the_plugin_gives_the_cisplatin_once_as_the_drug_phase_begins() {
    let mut run = lockstep(&protocol("hithoc.ron"), &[], 1);
    let period = run.plan.period_s;
    let mut given_ml = 0.0;
    // Nothing before the drug phase, and all of nothing is still in the perfusate.
    step_until(&mut run, 1800.0, |r| r.phase() == "drug");
    let before = value(&run, "cisplatin_left");
    assert!(
        (before - 100.0).abs() < 0.5,
        "{before} % (the sensor's noise)"
    );
    let start = run.tick();
    // The dose, 50 mL at 1000 mL/h, goes in over the first 3 minutes; then the pump stops.
    for _ in 0..ticks(&run, 600.0) {
        run.step_lockstep();
        given_ml += command(&run, "drug_pump") * period / 3600.0;
    }
    assert!((given_ml - 50.0).abs() < 0.05, "{given_ml} mL given");
    assert_eq!(command(&run, "drug_pump"), 0.0);
    // The perfusate loses its cisplatin first-order to the patient, 33.8 % an hour (§10.5).
    step_until(&mut run, 4000.0, |r| {
        (r.tick() - start) as f64 * period >= 1800.0
    });
    let left = value(&run, "cisplatin_left");
    let expected = 100.0 * (-0.4125 * (30.0 - 1.5) / 60.0f64).exp();
    assert!(
        (left - expected).abs() < 1.0,
        "{left} % left, {expected} expected"
    );
}

#[test]
fn a_drug_pump_needs_its_dose_and_a_dose_needs_the_pump() {
    assert_plugin_refuses(
        "hithoc.ron",
        ("        \"drug_ml\": 50.0,\n", ""),
        "the protocol has a `drug_pump`: give `drug_ml` and `drug_ml_h`",
    );
    assert_plugin_refuses(
        "hipec-oxaliplatin.ron",
        (
            "\"target_hold_s\": 30.0,",
            "\"target_hold_s\": 30.0, \"drug_ml\": 50.0, \"drug_ml_h\": 1000.0,",
        ),
        "`drug_ml` and `drug_ml_h` need a `drug_pump` actuator",
    );
}
