//! Laboratory values entered by the operator (`--labs FILE`): read by the Sample stage like a
//! sensor, judged by the rules, and rejected with a located diagnostic when wrong.

use crate::common::*;
use std::path::PathBuf;

/// Kidney NMP with an operator-entered lactate and a rule on it.
fn protocol_with_lab(dir: &tempfile::TempDir) -> PathBuf {
    let text = std::fs::read_to_string(protocol("kidney-nmp.ron")).unwrap();
    let sensor = r#"            (id: "lactate", kind: Concentration, site: "operator", range: (min: 0.0, max: 30.0), stale_after_s: 3600.0, stuck_after_s: None),
        ],
        actuators: ["#;
    let rule = r#"    rules: [
        (
            id: "lactate_high",
            text: "Lactate above 5 mmol/L",
            priority: High,
            condition: Above(signal: "lactate", limit: 5.0),
            persist_s: 0.0,
            latch: false,
            action: AlarmOnly,
        ),"#;
    let text = edit(
        &text,
        &[
            ("        ],\n        actuators: [", sensor),
            ("    rules: [", rule),
        ],
    );
    let file = dir.path().join("nmp-with-lab.ron");
    std::fs::write(&file, text).unwrap();
    file
}

fn labs(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let file = dir.path().join("labs.ron");
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn a_lab_value_reaches_the_rules_at_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let file = protocol_with_lab(&dir);
    let labs = labs(
        &dir,
        "[\n    (at_s: 1800.0, sensor: \"lactate\", value: 6.2),\n    (at_s: 600.0, sensor: \"lactate\", value: 2.1),\n]\n",
    );
    let s = run_summary(&file, &["--labs", labs.to_str().unwrap()]);
    let high = alarm(&s, "lactate_high").expect("lactate alarm");
    assert_eq!(f(&high["first_s"]), 1800.0);
    let lactate = &s["channels"]["lactate"];
    assert_eq!(lactate["unit"], "mmol/L");
    assert_eq!(f(&lactate["min"]), 2.1);
    assert_eq!(f(&lactate["max"]), 6.2);
}

#[test]
fn a_wrong_labs_file_is_refused_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let file = protocol_with_lab(&dir);
    let labs = labs(
        &dir,
        "[\n    (at_s: 60.0, sensor: \"lactat\", value: 2.0),\n    (at_s: 120.0, sensor: \"lactate\", value: NaN),\n]\n",
    );
    let out = perfuse(&[
        "run",
        file.to_str().unwrap(),
        "--quiet",
        "--labs",
        labs.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(INVALID_INPUT));
    let err = stderr(&out);
    assert!(
        err.contains("labs.ron:3:45: [1].value: expected a finite number, found NaN"),
        "{err}"
    );
    // Once the types are right, the sensor is checked against the protocol.
    let labs = self::labs(
        &dir,
        "[\n    (at_s: 60.0, sensor: \"lactat\", value: 2.0),\n]\n",
    );
    let out = perfuse(&[
        "run",
        file.to_str().unwrap(),
        "--quiet",
        "--labs",
        labs.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(INVALID_INPUT));
    let err = stderr(&out);
    assert!(
        err.contains("labs.ron:2:26: [0].sensor: expected one of the operator-entered sensors: macroscopic_grade, lactate, found \"lactat\""),
        "{err}"
    );
}
