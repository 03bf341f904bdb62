//! The EVNP quality score of `kidney-nmp.ron` (§4B): the macroscopic grade the operator enters
//! (1 to 3) plus a point for RBF below 50 mL/min/100 g and one for urine below 43 mL in the hour.

use crate::common::*;
use serde_json::Value;

fn run_with_labs(labs: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("labs.ron");
    std::fs::write(&file, labs).unwrap();
    run_summary(
        &protocol("kidney-nmp.ron"),
        &["--labs", file.to_str().unwrap()],
    )
}

#[test]
fn the_score_is_the_entered_grade_plus_the_measured_points() {
    // Entered half-way through the assessment; it stands after its entry goes stale.
    let s = run_with_labs("[(at_s: 1800.0, sensor: \"macroscopic_grade\", value: 3.0)]");
    let d = &s["derived"];
    assert_eq!(f(&d["evnp_macroscopic_grade"]), 3.0, "{d}");
    // The default kidney: ~140 mL/min/100 g and ~100 mL of urine, no points (§4B: good kidneys).
    assert_eq!(f(&d["evnp_points_rbf"]), 0.0, "{d}");
    assert_eq!(f(&d["evnp_points_urine"]), 0.0, "{d}");
    assert_eq!(f(&d["evnp_score"]), 3.0, "{d}");
}

#[test]
fn without_a_grade_there_is_no_score() {
    let s = run_with_labs("[]");
    let d = &s["derived"];
    assert!(d["evnp_macroscopic_grade"].is_null(), "{d}");
    assert!(d["evnp_score"].is_null(), "{d}");
    assert_eq!(f(&d["evnp_points_rbf"]), 0.0, "{d}");
}

#[test]
fn a_grade_outside_one_to_three_is_refused_where_it_stands() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("labs.ron");
    std::fs::write(
        &file,
        "[(at_s: 1800.0, sensor: \"macroscopic_grade\", value: 4.0)]",
    )
    .unwrap();
    let out = perfuse(&[
        "run",
        protocol("kidney-nmp.ron").to_str().unwrap(),
        "--quiet",
        "--labs",
        file.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("labs.ron:1:") && err.contains("macroscopic_grade"),
        "{err}"
    );
}
