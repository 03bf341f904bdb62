//! The liver criteria judged on what the operator enters (`liver-nmp.ron`, §3A): Groningen's
//! bile chemistry (bile − perfusate bicarbonate > 5 mmol/L, glucose < −5 mmol/L) and VITTAL's
//! homogeneous perfusion, through `perfuse run --labs` as an operator would enter them.

use crate::common::*;
use serde_json::Value;

/// Runs liver-nmp for `duration` with `labs` (a RON list) and returns the summary.
fn run_with_labs(duration: &str, labs: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("labs.ron");
    std::fs::write(&file, labs).unwrap();
    run_summary(
        &protocol("liver-nmp.ron"),
        &["--duration", duration, "--labs", file.to_str().unwrap()],
    )
}

/// The values of the assessment recorded at `t_s`.
fn assessed(s: &Value, t_s: f64) -> &Value {
    &s["assessments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| (f(&a["t_s"]) - t_s).abs() < 0.02)
        .unwrap_or_else(|| panic!("no assessment at {t_s} s: {}", s["assessments"]))["values"]
}

/// Groningen is judged at 2.5 h (`groningen_at_s`), where the default liver's perfusate glucose
/// is about 5.9 mmol/L.
const GRONINGEN_S: f64 = 9000.0;

fn bile_chemistry(bicarbonate: f64, glucose: f64) -> String {
    format!(
        "[(at_s: 8400.0, sensor: \"bile_bicarbonate\", value: {bicarbonate}), \
         (at_s: 8400.0, sensor: \"perfusate_bicarbonate\", value: 24.0), \
         (at_s: 8400.0, sensor: \"bile_glucose\", value: {glucose})]"
    )
}

#[test]
fn groningen_judges_the_entered_bile_chemistry() {
    // Δbicarbonate +7, Δglucose about −5.6: met. The verdict still fails on lactate (§10.5).
    let s = run_with_labs("2h31m", &bile_chemistry(31.0, 0.3));
    let g = assessed(&s, GRONINGEN_S);
    assert_eq!(f(&g["groningen_bile_chemistry"]), 1.0, "{g}");
    assert_eq!(f(&g["groningen_lactate"]), 0.0, "{g}");
    assert_eq!(f(&g["groningen_viable"]), 0.0, "{g}");

    // Δbicarbonate +3: not met.
    let s = run_with_labs("2h31m", &bile_chemistry(27.0, 0.3));
    let g = assessed(&s, GRONINGEN_S);
    assert_eq!(f(&g["groningen_bile_chemistry"]), 0.0, "{g}");

    // Δglucose about −3.9: not met.
    let s = run_with_labs("2h31m", &bile_chemistry(31.0, 2.0));
    let g = assessed(&s, GRONINGEN_S);
    assert_eq!(f(&g["groningen_bile_chemistry"]), 0.0, "{g}");
}

#[test]
fn without_the_samples_the_bile_chemistry_is_not_judged() {
    let s = run_with_labs("2h31m", "[]");
    let g = assessed(&s, GRONINGEN_S);
    assert!(g["groningen_bile_chemistry"].is_null(), "{g}");
    // A measured reason that fails still decides the verdict.
    assert_eq!(f(&g["groningen_lactate"]), 0.0, "{g}");
    assert_eq!(f(&g["groningen_viable"]), 0.0, "{g}");
    assert!(g["vittal_homogeneous"].is_null(), "{g}");
}

#[test]
fn vittal_counts_the_operators_look_at_the_perfusion() {
    let look = |value: f64| {
        format!("[(at_s: 12000.0, sensor: \"homogeneous_perfusion\", value: {value})]")
    };
    let s = run_with_labs("4h1m", &look(1.0));
    let v = assessed(&s, 14_400.0);
    assert_eq!(f(&v["vittal_homogeneous"]), 1.0, "{v}");
    assert_eq!(f(&v["vittal_viable"]), 1.0, "{v}");
    let s = run_with_labs("4h1m", &look(0.0));
    let v = assessed(&s, 14_400.0);
    assert_eq!(f(&v["vittal_homogeneous"]), 0.0, "{v}");
    // The default liver meets the other four secondary criteria: still viable.
    assert_eq!(f(&v["vittal_viable"]), 1.0, "{v}");
}
