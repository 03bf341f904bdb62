//! A plugin-computed value that the file names once: `computed: Some({...})` and
//! `Of("name", factor)` references, checked at both ends of each interval and resolved at start.

use perfuse_protocol::{Checked, Loaded, check_str};
use std::collections::BTreeMap;
use std::path::Path;

fn cpb() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocols/cpb-adult.ron");
    std::fs::read_to_string(path).expect("cpb-adult.ron")
}

/// `from` replaced by `to` exactly once in the shipped file.
fn edited(from: &str, to: &str) -> String {
    let text = cpb();
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from} once in cpb-adult.ron"
    );
    let out = text.replace(from, to);
    assert_ne!(out, text);
    out
}

fn problems(checked: &Checked) -> Vec<String> {
    checked
        .diagnostics
        .iter()
        .map(|d| {
            format!(
                "{}:{}: {}: expected {}, found {}",
                d.span.line, d.span.col, d.path, d.expected, d.found
            )
        })
        .collect()
}

fn loaded(text: &str) -> Loaded {
    let checked = check_str(text);
    let p = problems(&checked);
    checked.loaded.unwrap_or_else(|| panic!("{p:#?}"))
}

fn flow(v: f64) -> BTreeMap<String, f64> {
    BTreeMap::from([("full_flow_ml_min".to_string(), v)])
}

#[test]
fn references_read_as_the_lower_end_until_resolved_then_as_the_plugins_value() {
    let mut l = loaded(&cpb());
    assert_eq!(l.references.len(), 14, "{:#?}", l.references);
    let rule = |l: &Loaded| {
        let i = l
            .file
            .rules
            .iter()
            .position(|r| r.id == "flow_low")
            .unwrap();
        format!("{:?}", l.file.rules[i].condition)
    };
    assert!(rule(&l).contains("limit: 2250.0"), "{}", rule(&l));
    l.plan.source_sha256 = "abc".into();
    l.resolve(&flow(4728.0)).expect("inside the interval");
    assert!(rule(&l).contains("limit: 3546.0"), "{}", rule(&l));
    let cooling = l.file.phases.iter().find(|p| p.id == "cooling").unwrap();
    let target = format!("{:?}", cooling.targets["pump_flow"]);
    assert!(target.contains("Hold(4728.0)"), "{target}");
    assert_eq!(l.plan.computed, vec![("full_flow_ml_min".into(), 4728.0)]);
    assert_eq!(l.plan.source_sha256, "abc", "the fingerprint is kept");
}

#[test]
fn a_value_missing_not_finite_or_outside_the_interval_is_refused_at_its_declaration() {
    let l = loaded(&cpb());
    for (values, found) in [
        (BTreeMap::new(), "none: the plugin does not compute it"),
        (flow(f64::NAN), "NaN from the plugin"),
        (flow(6500.5), "6500.5 from the plugin"),
        (flow(2999.0), "2999 from the plugin"),
    ] {
        let mut l = l.clone();
        let e = l.resolve(&values).expect_err("refused");
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].path, "computed[\"full_flow_ml_min\"]");
        assert_eq!(e[0].found, found);
        assert!(e[0].expected.contains("3000 to 6500"), "{}", e[0].expected);
        assert!(e[0].span.line > 1);
    }
}

#[test]
fn the_file_is_checked_at_both_ends_of_the_interval() {
    // A band edge above the sensor's range only at the interval's upper end.
    let text = edited(
        "\"full_flow_ml_min\": (min: 3000.0, max: 6500.0)",
        "\"full_flow_ml_min\": (min: 3000.0, max: 7500.0)",
    );
    let checked = check_str(&text);
    let p = problems(&checked);
    assert!(checked.loaded.is_none());
    assert!(
        p.iter()
            .any(|d| d.contains("phases[1].targets[\"pump_flow\"].band")
                && d.contains("(with full_flow_ml_min = 7500)")),
        "{p:#?}"
    );
    assert!(p.iter().all(|d| !d.contains("= 3000)")), "{p:#?}");
}

#[test]
fn unknown_names_misplaced_references_and_bad_intervals_are_all_reported_at_once() {
    let text = edited(
        "condition: Below(signal: \"mean_flow\", limit: Of(\"full_flow_ml_min\", 0.75)),",
        "condition: Below(signal: \"mean_flow\", limit: Of(\"full_flow\", 0.75)),",
    )
    .replace(
        "\"full_flow_ml_min\": (min: 3000.0, max: 6500.0)",
        "\"full_flow_ml_min\": (min: 6500.0, max: 3000.0)",
    )
    .replace(
        "tick_hz: 100.0,",
        "tick_hz: Of(\"full_flow_ml_min\", 0.02),",
    );
    let p = problems(&check_str(&text));
    let has = |needle: &str| p.iter().any(|d| d.contains(needle));
    assert!(
        has("limit: expected one of the computed values `full_flow_ml_min`, found \"full_flow\""),
        "{p:#?}"
    );
    assert!(
        has("computed[\"full_flow_ml_min\"]: expected an interval"),
        "{p:#?}"
    );
    assert!(
        has("tick_hz: expected a number (a computed value may stand only"),
        "{p:#?}"
    );
}

#[test]
fn a_malformed_reference_is_a_type_error_at_its_place() {
    let text = edited(
        "Hold(Of(\"full_flow_ml_min\", 0.75))",
        "Hold(Of(\"full_flow_ml_min\", \"x\"))",
    );
    let p = problems(&check_str(&text));
    assert_eq!(
        p,
        vec![
            "284:51: phases[5].targets[\"pump_flow\"].setpoint: expected `Of(\"NAME\", FACTOR)`: \
             a computed value's name and a finite factor, found `Of(...)`"
        ]
    );
}

#[test]
fn without_a_computed_section_every_reference_is_reported() {
    let text = edited(
        "    computed: Some({\n",
        "    computed: None, unused: Some({\n",
    );
    let text = text.replacen("    computed: None, unused:", "    computed: None, //", 1);
    let start = text.find("computed: None, //").unwrap();
    let end = start + text[start..].find("}),\n").unwrap() + 4;
    let text = format!("{}computed: None,{}", &text[..start], &text[end..]);
    let p = problems(&check_str(&text));
    let none = "expected a value declared in the file's `computed` section (it declares none)";
    assert_eq!(p.iter().filter(|d| d.contains(none)).count(), 14, "{p:#?}");
    assert_eq!(p.len(), 14, "{p:#?}");
}

#[test]
fn files_other_than_protocols_take_no_references() {
    let e = perfuse_protocol::read_document::<perfuse_protocol::Range>(
        "(min: Of(\"full_flow_ml_min\", 1.0), max: 1.0)",
    )
    .expect_err("refused");
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(
        (e[0].path.as_str(), e[0].expected.as_str()),
        ("min", "a finite number")
    );
}
