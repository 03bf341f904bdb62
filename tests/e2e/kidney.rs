//! System tests of the kidney protocols on the simulator, through the command line.

use crate::common::*;

#[test]
fn hmp_six_hours_reaches_and_holds_its_targets() {
    let s = run_summary(
        &protocol("kidney-hmp.ron"),
        &["--duration", "6h", "--seed", "1"],
    );
    assert_eq!(s["completed"], true);
    assert_eq!(f(&s["simulated_s"]), 21_600.0);
    assert_eq!(s["ticks"], 2_160_000);
    assert_eq!(s["plugin"]["id"], "kidney");
    assert_eq!(s["plugin"]["sha256"].as_str().map(str::len), Some(64));

    // The controlled channel: systolic pressure, band 27-33 mmHg after the first 2 minutes.
    let systolic = &s["channels"]["systolic_pressure"];
    assert_eq!(systolic["unit"], "mmHg");
    assert!(f(&systolic["in_band_fraction"]) >= 0.95, "{systolic}");

    // The LifePort resistance trajectory (docs/clinical-basis.md §4A).
    let d = &s["derived"];
    assert!(
        f(&d["ri_at_2min"]) > 0.5,
        "RI at 2 min: {}",
        d["ri_at_2min"]
    );
    assert!(
        f(&d["ri_at_30min"]) < 0.3,
        "RI at 30 min: {}",
        d["ri_at_30min"]
    );
    let flow = f(&d["mean_flow_after_30min_ml_min"]);
    assert!((100.0..=185.0).contains(&flow), "steady flow {flow} mL/min");
    assert_eq!(f(&d["perfusate_above_10c_min"]), 0.0);
    assert!(f(&d["perfused_min"]) > 359.0);

    // Perfusate stays within 1-8 °C once cooled (band counted after 15 min).
    let temp = &s["channels"]["perfusate_temp"];
    assert_eq!(f(&temp["in_band_fraction"]), 1.0, "{temp}");
    assert!(f(&temp["min"]) >= 1.0 && f(&temp["max"]) <= 9.0, "{temp}");

    assert!(high_alarms(&s).is_empty(), "high alarms: {:?}", s["alarms"]);
    assert!(
        s["alarms"].as_array().unwrap().is_empty(),
        "alarms: {}",
        s["alarms"]
    );
}

#[test]
fn nmp_warms_then_assesses_at_36_degrees() {
    let s = run_summary(&protocol("kidney-nmp.ron"), &["--seed", "1"]);
    assert_eq!(s["completed"], true);
    let phases = s["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 2);
    assert_eq!(phases[0]["id"], "warm_up");
    assert_eq!(phases[1]["id"], "assessment");
    let assessment_start = f(&phases[1]["start_s"]);
    // Warm-up ends by the plugin's rule (35.5 °C held for 60 s), before its 20-minute limit.
    assert!(
        assessment_start > 60.0 && assessment_start < 1200.0,
        "{assessment_start}"
    );
    // The run ends 60 minutes into the assessment.
    assert!((f(&s["simulated_s"]) - (assessment_start + 3600.0)).abs() < 0.02);
    assert_eq!(s["final_phase"], "assessment");

    let map = &s["channels"]["mean_pressure"];
    assert!(f(&map["in_band_fraction"]) >= 0.95, "{map}");
    let temp = &s["channels"]["perfusate_temp"];
    assert!(f(&temp["in_band_fraction"]) >= 0.99, "36 ± 0.5 °C: {temp}");

    // The measurable parts of the EVNP score are reported (§4B).
    let d = &s["derived"];
    let rbf = f(&d["assessment_flow_per_100g_ml_min"]);
    assert!((100.0..=200.0).contains(&rbf), "RBF {rbf} mL/min/100 g");
    let urine = f(&d["urine_ml"]);
    assert!(
        (40.0..=260.0).contains(&urine),
        "urine {urine} mL in the hour"
    );
    assert_eq!(f(&d["evnp_points_rbf"]), 0.0);
    assert_eq!(f(&d["evnp_points_urine"]), 0.0);
    assert!(high_alarms(&s).is_empty(), "high alarms: {:?}", s["alarms"]);
}

fn without_wall_time(mut s: serde_json::Value) -> serde_json::Value {
    s.as_object_mut().unwrap().remove("wall_s");
    s
}

#[test]
fn the_same_seed_gives_the_same_summary() {
    let args = ["--duration", "20m", "--seed", "7"];
    let a = run_summary(&protocol("kidney-hmp.ron"), &args);
    let b = run_summary(&protocol("kidney-hmp.ron"), &args);
    assert_eq!(without_wall_time(a.clone()), without_wall_time(b));
    let c = run_summary(
        &protocol("kidney-hmp.ron"),
        &["--duration", "20m", "--seed", "8"],
    );
    assert_ne!(
        without_wall_time(a)["channels"],
        without_wall_time(c)["channels"],
        "another seed gives other sensor noise"
    );
}

#[test]
fn the_logged_lifeport_fault_cases_run_as_scenarios() {
    let hmp = protocol("kidney-hmp.ron");
    let warm = run_summary(&hmp, &["--scenario", "warm_perfusate", "--duration", "2h"]);
    assert_eq!(warm["scenario"], "warm_perfusate");
    // ST-0002 stayed above 10 °C for 64 min (§4A); the model cools a little faster.
    let minutes = f(&warm["derived"]["perfusate_above_10c_min"]);
    assert!(
        (40.0..=80.0).contains(&minutes),
        "{minutes} min above 10 °C"
    );
    let add_ice = alarm(&warm, "perfusate_warm").expect("add-ice alarm");
    assert_eq!(add_ice["priority"], "medium");

    let ice = run_summary(&hmp, &["--scenario", "warm_ice", "--duration", "1h"]);
    let replace = alarm(&ice, "ice_warm").expect("ice alarm");
    assert_eq!(replace["priority"], "low");
    assert_eq!(
        f(&replace["first_s"]),
        300.0,
        "after its 5-minute persistence"
    );

    let default = run_summary(&hmp, &["--duration", "10m"]);
    assert_eq!(default["scenario"], "perfect");
}

#[test]
fn a_poorly_perfused_kidney_scores_both_evnp_points() {
    let s = run_summary(&protocol("kidney-nmp.ron"), &["--scenario", "poor"]);
    let d = &s["derived"];
    assert!(f(&d["assessment_flow_per_100g_ml_min"]) < 50.0, "{d}");
    assert!(f(&d["urine_ml"]) < 43.0, "{d}");
    assert_eq!(f(&d["evnp_points_rbf"]), 1.0);
    assert_eq!(f(&d["evnp_points_urine"]), 1.0);
}

#[test]
fn scenarios_are_listed_and_an_unknown_one_is_refused() {
    let file = protocol("kidney-nmp.ron");
    let out = perfuse(&["run", file.to_str().unwrap(), "--list-scenarios"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "poor\nviable (default)\n");
    let out = perfuse(&[
        "run",
        file.to_str().unwrap(),
        "--scenario",
        "heroic",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(INVALID_INPUT));
    assert!(
        stderr(&out).contains("unknown scenario `heroic`; this protocol offers: poor, viable"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_phase_scoped_rule_is_judged_only_in_its_phases() {
    // Warm-up starts from a 30 °C prime: the under-temperature rule is for the assessment only.
    let nmp = protocol("kidney-nmp.ron");
    let normal = run_summary(&nmp, &[]);
    assert!(
        alarm(&normal, "under_temperature").is_none(),
        "{}",
        normal["alarms"]
    );
    // Unscoped, the same rule fires during the warm-up.
    let text = edit(
        &std::fs::read_to_string(&nmp).unwrap(),
        &[(
            "            phases: Some([\"assessment\"]), // warm-up starts from a 30 °C prime\n",
            "",
        )],
    );
    let dir = tempfile::tempdir().unwrap();
    let unscoped = dir.path().join("unscoped.ron");
    std::fs::write(&unscoped, text).unwrap();
    let s = run_summary(&unscoped, &["--duration", "10m"]);
    let early = alarm(&s, "under_temperature").expect("fires in warm-up when unscoped");
    assert!(f(&early["first_s"]) < 300.0);
    // In the assessment, a heater whose channel is lost falls to its safe state (off) and the
    // perfusate cools: the medium alarm, perfusion going on.
    let lost = run_summary(&nmp, &["--fault", "channel-loss:heater@20m"]);
    let cold = alarm(&lost, "under_temperature").expect("under-temperature in the assessment");
    assert_eq!(cold["priority"], "medium");
    assert!(f(&cold["first_s"]) > 1200.0);
    assert!(
        f(&lost["actuators"]["pump"]["mean"]) > 150.0,
        "perfusion continues"
    );
}

#[test]
fn a_stiff_kidney_raises_the_steady_phase_flow_and_resistance_alarms_after_15_min() {
    // A kidney with a plateau RI of 0.9 (the LifePort's kidneys plateau at 0.14–0.25, §4A):
    // §4A's limits are flow 50 mL/min and RI 0.4 and 0.6.
    let stiff = edited_protocol(
        "kidney-hmp.ron",
        &[(
            "\"kidney_mass_g\": 150.0, // the simulated kidney's, §10.2 [T]",
            "\"kidney_mass_g\": 150.0, \"r_inf_mmhg_min_ml\": 0.9,",
        )],
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stiff.ron");
    std::fs::write(&file, stiff).unwrap();
    let s = run_summary(&file, &["--duration", "20m"]);
    for (id, priority) in [
        ("low_flow", "low"),
        ("ri_above_0_4", "low"),
        ("ri_above_0_6", "medium"),
    ] {
        let a = alarm(&s, id).unwrap_or_else(|| panic!("{id}: {}", s["alarms"]));
        assert_eq!(a["priority"], priority, "{id}");
        let first = f(&a["first_s"]);
        assert!((900.0..1000.0).contains(&first), "{id} at {first} s");
    }
    // A good kidney raises none of them: hmp_six_hours_reaches_and_holds_its_targets checks it
    // has no alarm at all in six hours.
}
