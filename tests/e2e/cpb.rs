//! System tests of adult cardiopulmonary bypass (`cpb-adult.ron`) on the simulated patient: the
//! whole operation through the command line, the heparin check, and the core-enforced
//! cardioplegia timer and level detector, tick by tick where the timing matters.

use crate::common::*;

/// ACT every 30 min from 2 min on: above 480 s throughout.
const LABS: &str = "[\n\
    (at_s: 120.0, sensor: \"act\", value: 520.0),\n\
    (at_s: 1800.0, sensor: \"act\", value: 510.0),\n\
    (at_s: 3600.0, sensor: \"act\", value: 500.0),\n\
    (at_s: 5400.0, sensor: \"act\", value: 495.0),\n\
    (at_s: 7200.0, sensor: \"act\", value: 490.0),\n\
    (at_s: 9000.0, sensor: \"act\", value: 485.0),\n\
    ]\n";

fn labs_file(dir: &tempfile::TempDir) -> String {
    let file = dir.path().join("labs.ron");
    std::fs::write(&file, LABS).unwrap();
    file.to_str().unwrap().to_string()
}

#[test]
fn a_whole_operation_on_bypass_stays_inside_its_limits() {
    let dir = tempfile::tempdir().unwrap();
    let s = run_summary(&protocol("cpb-adult.ron"), &["--labs", &labs_file(&dir)]);
    assert_eq!(s["completed"], true);
    let phases: Vec<&str> = s["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "heparin",
            "initiation",
            "cooling",
            "cross_clamp",
            "rewarming",
            "wean",
            "off_bypass"
        ]
    );
    let start = |id: &str| {
        f(&s["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap()["start_s"])
    };
    // No bypass before the ACT: the heparin phase ends with the first ACT, at 2 min.
    assert!((start("initiation") - 120.0).abs() < 0.1);
    // Cooling reaches 33.3 °C in the nasopharynx within its 30 min.
    let cooling_min = (start("cross_clamp") - start("cooling")) / 60.0;
    assert!(
        (5.0..30.0).contains(&cooling_min),
        "cooling {cooling_min} min"
    );
    let rewarming_min = (start("wean") - start("rewarming")) / 60.0;
    assert!(
        (15.0..60.0).contains(&rewarming_min),
        "rewarming {rewarming_min} min"
    );

    // Flow, MAP, outlet, core, Hct and gases in their bands while on full bypass.
    for id in [
        "pump_flow",
        "mean_pressure",
        "arterial_temp",
        "core_temp",
        "hct",
        "pao2",
        "paco2",
    ] {
        let ch = &s["channels"][id];
        assert!(f(&ch["in_band_fraction"]) >= 0.97, "{id}: {ch}");
    }
    let ch = |id: &str, k: &str| f(&s["channels"][id][k]);
    assert!(ch("arterial_temp", "max") < 37.0, "outlet never at 37 °C");
    assert!(ch("reservoir_level", "min") > 400.0);
    assert!(ch("line_pressure", "max") < 250.0);

    let d = &s["derived"];
    assert!(
        (f(&d["flow_target_ml_min"]) - 4728.0).abs() < 1e-6,
        "2.4 × 1.97 m²"
    );
    assert_eq!(f(&d["act_confirmed"]), 1.0);
    // Induction 20 mL/kg and one re-dose of 10 mL/kg for 80 kg.
    assert_eq!(f(&d["cp_doses"]), 2.0);
    assert!(
        (f(&d["cp_total_ml"]) - 2400.0).abs() < 5.0,
        "{}",
        d["cp_total_ml"]
    );
    assert!((f(&d["cross_clamp_min"]) - 100.0).abs() < 0.01);
    let lowest = f(&d["lowest_core_c"]);
    assert!((32.0..34.0).contains(&lowest), "lowest core {lowest}");
    assert!(
        ch("uf_volume", "max") > 300.0,
        "haemofiltration toward the Hct target"
    );
    // Off bypass the recovered heart carries the circulation.
    assert!(
        s["alarms"].as_array().unwrap().is_empty(),
        "{}",
        s["alarms"]
    );
}

#[test]
fn without_an_act_the_pump_never_starts() {
    let mut run = lockstep(&protocol("cpb-adult.ron"), &[], 1);
    let ten_min = ticks(&run, 600.0);
    step(&mut run, ten_min);
    assert_eq!(run.phase(), "heparin");
    let pump = actuator(&run, "arterial_pump");
    // The flow loop trims around a setpoint of 0 on the reading's noise; the clamp is closed.
    assert!(run.commands().values[pump] < 50.0);
    assert_eq!(run.commands().values[actuator(&run, "arterial_clamp")], 1.0);
    assert_eq!(
        run.commands().values[actuator(&run, "venous_occluder")],
        1.0
    );
    let (flow, _) = run.signal("pump_flow").unwrap();
    assert!(flow.abs() < 20.0, "{flow}");
}

#[test]
fn the_weaned_heart_carries_the_circulation_off_bypass() {
    let mut run = lockstep_with_labs(&protocol("cpb-adult.ron"), &[], 1, LABS);
    step_until(&mut run, 4.0 * 3600.0, |r| r.phase() == "off_bypass");
    let two_min = ticks(&run, 120.0);
    step(&mut run, two_min);
    assert_eq!(run.phase(), "off_bypass");
    let (map, _) = run.signal("mean_pressure").unwrap();
    let (cvp, _) = run.signal("cvp").unwrap();
    assert!((50.0..80.0).contains(&map), "MAP {map}");
    assert!((8.0..14.0).contains(&cvp), "CVP {cvp}");
    for (id, closed) in [
        ("arterial_clamp", 1.0),
        ("venous_occluder", 1.0),
        ("cross_clamp", 0.0),
    ] {
        assert_eq!(run.commands().values[actuator(&run, id)], closed, "{id}");
    }
}

#[test]
fn plugin_parameters_are_checked_with_their_name() {
    assert_plugin_refuses(
        "cpb-adult.ron",
        ("\"act_min_s\": 480.0,", "\"act_min_s\": 100.0,"),
        "plugin `cpb` refuses it: expected act_min_s from 200 to 1000 s, found 100",
    );
}
