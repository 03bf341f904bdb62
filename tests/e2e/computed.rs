//! A target the plugin computes and the protocol file names once: cpb-adult's
//! `computed: Some({"full_flow_ml_min": ...})`, written `Of("full_flow_ml_min", factor)` in its
//! ramp, holds, bands and flow alarm. The run asks the cpb plugin (flow index × body surface),
//! refuses a value outside the file's interval and puts plain numbers into the plan.

use crate::common::*;
use perfuse::wiring::{Devices, Wiring};
use perfuse_core::config::{self, Setpoint};
use perfuse_core::plan::ConditionPlan;
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The cpb-adult run with `params`, wired as the command line wires it.
fn wired_with(params: &[&str]) -> perfuse_core::run::Run {
    let file = protocol("cpb-adult.ron");
    let loaded = config::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let policy = plugin_policy(&loaded.plan);
    let w = Wiring {
        devices: Devices::Simulator(Vec::new()),
        params: params.iter().map(|p| p.to_string()).collect(),
        ..Wiring::lockstep(&policy, 1)
    };
    wired(loaded, &file, w)
}

/// The value of a `Hold` setpoint.
fn held(set: &Setpoint) -> f64 {
    match set {
        Setpoint::Hold(v) => *v,
        other => panic!("{other:?}"),
    }
}

/// The pump flow's setpoint and band in `phase`, and the `flow_low` rule's limit.
fn flows(run: &perfuse_core::run::Run, phase: &str) -> (Setpoint, (f64, f64), f64) {
    let plan = &run.plan;
    let signal = plan.signal("pump_flow").unwrap();
    let p = plan.phases.iter().find(|p| p.id == phase).unwrap();
    let t = p.targets[signal].as_ref().unwrap();
    let band = t.band.unwrap();
    let rule = plan.rules.iter().find(|r| r.id == "flow_low").unwrap();
    let ConditionPlan::Below { limit, .. } = rule.condition else {
        panic!("{:?}", rule.condition)
    };
    (t.setpoint.unwrap(), (band.min, band.max), limit)
}

#[test]
fn the_plugins_full_flow_is_in_every_place_the_file_names_it() {
    // The reference patient: 2.4 L/min/m² × 1.97 m², as the file wrote it by hand before.
    let run = wired_with(&[]);
    assert_eq!(run.plan.computed.len(), 1);
    let (name, full) = &run.plan.computed[0];
    assert_eq!(name, "full_flow_ml_min");
    assert!((full - 4728.0).abs() < 1e-9, "{full}");
    let (set, band, limit) = flows(&run, "cooling");
    assert_eq!(held(&set), *full);
    assert!((band.0 - 0.9167 * full).abs() < 1e-9 && (band.1 - 1.0833 * full).abs() < 1e-9);
    assert!((limit - 0.75 * full).abs() < 1e-9, "{limit}");
    let (ramp, band, _) = flows(&run, "initiation");
    assert!(
        matches!(ramp, Setpoint::Ramp { from: 0.0, to, over_s: 120.0 } if to == *full),
        "{ramp:?}"
    );
    assert!((band.1 - 1.1 * full).abs() < 1e-9);
    let (wean, _, _) = flows(&run, "wean");
    assert_eq!(held(&wean), 0.75 * full);

    // Another patient, 2.1 m² (`--param`): every one of those numbers follows.
    let run = wired_with(&["bsa_m2=2.1"]);
    let full = 2.4 * 2.1 * 1000.0;
    assert_eq!(run.plan.computed, vec![("full_flow_ml_min".into(), full)]);
    let (set, band, limit) = flows(&run, "cross_clamp");
    assert_eq!(held(&set), full);
    assert!((band.0 - 0.9167 * full).abs() < 1e-9 && (band.1 - 1.0833 * full).abs() < 1e-9);
    assert!((limit - 0.75 * full).abs() < 1e-9);
}

#[test]
fn the_summary_says_which_values_the_run_used() {
    let s = run_summary(&protocol("cpb-adult.ron"), &["--duration", "1m"]);
    assert_eq!(
        s["plugin"]["computed"],
        serde_json::json!({ "full_flow_ml_min": 4728.0 })
    );
    let kidney = run_summary(&protocol("kidney-nmp.ron"), &["--duration", "1m"]);
    assert_eq!(kidney["plugin"]["computed"], serde_json::json!({}));
}

/// 2.9 m² at 2.4 L/min/m² is 6,960 mL/min, above the file's 6,500: refused before the first
/// tick (and by `perfuse check`), at the file's declaration, with the plugin's exit status.
#[test]
fn a_value_outside_the_files_interval_is_refused_at_start() {
    let file = protocol("cpb-adult.ron");
    let run = &[
        "run",
        s(&file),
        "--duration",
        "1m",
        "--no-record",
        "--param",
        "bsa_m2=2.9",
    ][..];
    // `perfuse check` asks the plugin as a run does.
    let check = &["check", s(&file), "--param", "bsa_m2=2.9"][..];
    for args in [run, check] {
        let out = perfuse(args);
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
        let text = stderr(&out);
        assert!(
            text.contains(
                "cpb-adult.ron:57:29: computed[\"full_flow_ml_min\"]: expected a value the \
                 plugin computes inside the file's interval 3000 to 6500, found 6960 from the \
                 plugin"
            ),
            "{args:?}: {text}"
        );
    }
}

/// A plugin that computes no such value (kidney NMP's declares none) is refused too.
#[test]
fn a_value_the_plugin_does_not_compute_is_refused() {
    let text = edited_protocol(
        "kidney-nmp.ron",
        &[(
            "    tick_hz: ",
            "    computed: Some({ \"mass_g\": (min: 100.0, max: 300.0) }),\n    tick_hz: ",
        )],
    );
    let (_dir, file) = temp_protocol(&text);
    let out = perfuse(&["run", s(&file), "--duration", "1m", "--no-record"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "computed[\"mass_g\"]: expected a value the plugin computes inside the file's \
             interval 100 to 300, found none: the plugin does not compute it"
        ),
        "{}",
        stderr(&out)
    );
}

/// `perfuse check` proves the file for every value in the interval: a band that leaves the
/// flow sensor's range only at the interval's upper end is found without any run.
#[test]
fn check_tests_the_file_at_both_ends_of_the_interval() {
    let text = edited_protocol(
        "cpb-adult.ron",
        &[(
            "\"full_flow_ml_min\": (min: 3000.0, max: 6500.0)",
            "\"full_flow_ml_min\": (min: 3000.0, max: 7500.0)",
        )],
    );
    let (_dir, file) = temp_protocol(&text);
    let out = perfuse(&["check", s(&file)]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("phases[1].targets[\"pump_flow\"].band")
            && err.contains("(with full_flow_ml_min = 7500)"),
        "{err}"
    );
    let undeclared = edited_protocol(
        "cpb-adult.ron",
        &[(
            "limit: Of(\"full_flow_ml_min\", 0.75)",
            "limit: Of(\"full_flow\", 0.75)",
        )],
    );
    let (_dir, file) = temp_protocol(&undeclared);
    let out = perfuse(&["check", s(&file)]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "rules[10].condition.limit: expected one of the computed values \
             `full_flow_ml_min`, found \"full_flow\""
        ),
        "{}",
        stderr(&out)
    );
}

/// A replay asks the plugin again with the recorded parameters and gets the same values: a
/// run on bypass at 1.8 m² (full flow 4,320 mL/min) replays to the same record.
#[test]
fn a_run_on_a_computed_flow_replays_identically() {
    let dir = tempfile::tempdir().unwrap();
    let labs = dir.path().join("labs.ron");
    std::fs::write(&labs, "[(at_s: 60.0, sensor: \"act\", value: 520.0)]").unwrap();
    let rec = dir.path().join("r.sqlite");
    let file = protocol("cpb-adult.ron");
    let s = run_summary(
        &file,
        &[
            "--duration",
            "6m",
            "--param",
            "bsa_m2=1.8",
            "--labs",
            labs.to_str().unwrap(),
            "--record",
            rec.to_str().unwrap(),
        ],
    );
    assert_eq!(s["plugin"]["computed"]["full_flow_ml_min"], 4320.0);
    // On the ramp's full flow after the 2-min ramp, inside the resolved band.
    let flow = &s["channels"]["pump_flow"];
    assert!((4100.0..4400.0).contains(&f(&flow["max"])), "{flow}");
    // The record keeps the values the run used.
    let conn = perfuse_record::open_existing(&rec, false).unwrap();
    let computed: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'computed'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(computed, r#"{"full_flow_ml_min":4320.0}"#);
    drop(conn);
    let out = perfuse(&["replay", rec.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("replay identical"),
        "{}",
        stdout(&out)
    );
}

/// A plugin built for ABI 1.3, before `computed` was appended, loads and runs as before; the
/// host finds no computed value in its shorter descriptor (its trait would give one), so a
/// file that declares one is refused with it.
#[test]
fn a_plugin_built_for_abi_1_3_runs_and_computes_nothing() {
    let plugin = (
        r#"plugin: (id: "kidney", version: "^0.1"),"#,
        r#"plugin: (id: "test-abi-1-3", version: "^0.1"),"#,
    );
    let (_dir, file) = temp_protocol(&edited_protocol("kidney-hmp.ron", &[plugin]));
    let fixture = fixture_args();
    let summary = run_summary(&file, &with_fixture_args(&["--duration", "10m"], &fixture));
    assert_eq!(summary["completed"], true);
    assert_eq!(summary["plugin"]["fault"], serde_json::Value::Null);
    assert_eq!(f(&summary["derived"]["steps"]), 60_000.0);
    assert_eq!(summary["plugin"]["computed"], serde_json::json!({}));

    let declared = (
        "    tick_hz: ",
        "    computed: Some({ \"steps_per_s\": (min: 0.5, max: 2.0) }),\n    tick_hz: ",
    );
    let (_dir, file) = temp_protocol(&edited_protocol("kidney-hmp.ron", &[plugin, declared]));
    let out = perfuse(&with_fixture_args(
        &["run", s(&file), "--duration", "1m", "--no-record"],
        &fixture,
    ));
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("found none: the plugin does not compute it"),
        "{}",
        stderr(&out)
    );
}
