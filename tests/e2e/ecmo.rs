//! System tests of adult VA-ECMO / E-CPR (`ecmo-va.ron`) on the simulated patient: a day of
//! support through the command line, and the start of the circuit tick by tick.

use crate::common::*;

#[test]
fn a_day_of_support_holds_flow_temperature_and_gases() {
    let s = run_summary(&protocol("ecmo-va.ron"), &["--seed", "1"]);
    assert_eq!(s["completed"], true);
    assert_eq!(f(&s["simulated_s"]), 86_400.0, "24 h");
    for id in [
        "pump_flow",
        "blood_temp",
        "body_temp",
        "mean_pressure",
        "pao2",
        "paco2",
    ] {
        let ch = &s["channels"][id];
        assert!(f(&ch["in_band_fraction"]) >= 0.99, "{id}: {ch}");
    }
    let ch = |id: &str, k: &str| f(&s["channels"][id][k]);
    assert!(ch("mean_drainage_pressure", "min") > -80.0);
    assert!(ch("blood_temp", "max") < 37.7);
    let d = &s["derived"];
    assert!(
        (f(&d["flow_target_ml_min"]) - 4800.0).abs() < 1e-6,
        "60 mL/kg/min × 80 kg"
    );
    let per_kg = f(&d["flow_ml_kg_min"]);
    assert!((50.0..70.0).contains(&per_kg), "{per_kg}");
    // The blender came down from FiO2 100 % toward the post-oxygenator PaO2 of 150 mmHg.
    assert!(f(&d["fio2_pct"]) < 60.0, "{}", d["fio2_pct"]);
    assert!(
        s["alarms"].as_array().unwrap().is_empty(),
        "{}",
        s["alarms"]
    );
}

#[test]
fn the_return_line_opens_only_once_the_pump_turns() {
    let mut run = lockstep(&protocol("ecmo-va.ron"), &[], 1);
    let clamp = actuator(&run, "return_clamp");
    let pump = actuator(&run, "pump");
    let five_s = ticks(&run, 5.0);
    step(&mut run, five_s);
    assert_eq!(run.commands().values[clamp], 1.0);
    let spin = run.commands().values[pump];
    assert!(spin > 1000.0, "spinning up: {spin} rpm");
    let opened = step_until(&mut run, 20.0, |r| r.commands().values[clamp] == 0.0);
    assert!(opened >= ticks(&run, 10.0), "opened at tick {opened}");
    let settle = ticks(&run, 300.0);
    step(&mut run, settle);
    let (flow, _) = run.signal("pump_flow").unwrap();
    assert!((4600.0..5000.0).contains(&flow), "{flow}");
}

#[test]
fn a_patient_without_cardiac_output_is_carried_by_the_circuit() {
    let s = run_summary(
        &protocol("ecmo-va.ron"),
        &["--duration", "2h", "--scenario", "no_cardiac_output"],
    );
    assert_eq!(s["completed"], true);
    let map = &s["channels"]["mean_pressure"];
    assert!(f(&map["in_band_fraction"]) >= 0.99, "{map}");
    assert!(high_alarms(&s).is_empty(), "{}", s["alarms"]);
}
