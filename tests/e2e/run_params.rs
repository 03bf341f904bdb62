//! Per-run plugin parameters, `--param KEY=VALUE`: set over the file's `plugin_params` for one
//! run, checked like the file's, kept in the record (replay and resume apply them again, resume
//! refuses others) and in a real-time run's saved state, shown in the summary; also taken by
//! `perfuse check` and `perfuse sweep`.

use crate::common::{perfuse, plugin_policy, protocol, run_summary, stderr, stdout};
use perfuse::wiring::{Wiring, wire};
use perfuse_record::rusqlite::Connection;
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn flow_index(summary: &serde_json::Value) -> f64 {
    summary["derived"]["flow_per_100g_ml_min"].as_f64().unwrap()
}

/// Kidney NMP reports flow per 100 g of kidney from `kidney_mass_g` (150 g in the file): the
/// same run with `--param kidney_mass_g=180` reports 150/180 of it, and says so.
#[test]
fn a_param_replaces_the_files_value_for_the_run_and_the_summary_says_so() {
    let file = protocol("kidney-nmp.ron");
    let plain = run_summary(&file, &["--duration", "5m"]);
    let set = run_summary(&file, &["--duration", "5m", "--param", "kidney_mass_g=180"]);
    let ratio = flow_index(&set) / flow_index(&plain);
    assert!((ratio - 150.0 / 180.0).abs() < 1e-9, "{ratio}");
    assert_eq!(
        set["plugin"]["params_overridden"],
        serde_json::json!({ "kidney_mass_g": 180.0 })
    );
    assert_eq!(plain["plugin"]["params_overridden"], serde_json::json!({}));

    let out = perfuse(&[
        "run",
        s(&file),
        "--duration",
        "1m",
        "--quiet",
        "--param",
        "kidney_mass_g=180",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("  plugin parameter kidney_mass_g = 180 (--param; 150 in the file)"),
        "{}",
        stdout(&out)
    );
}

/// A `--param` is refused as the file's value would be: the plugin's declared keys and ranges;
/// a malformed one is a usage error. `perfuse check` reports the same before a run.
#[test]
fn a_param_is_checked_like_the_files_values_by_run_and_check() {
    let file = protocol("kidney-nmp.ron");
    for cmd in ["run", "check"] {
        let out = perfuse(&[cmd, s(&file), "--param", "kidney_mass_g=5000"]);
        assert_eq!(out.status.code(), Some(4), "{cmd}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(
                "--param kidney_mass_g=5000: plugin `kidney` refuses it: expected kidney_mass_g from 20 to 1000 g, found 5000"
            ),
            "{cmd}: {}",
            stderr(&out)
        );
        let out = perfuse(&[cmd, s(&file), "--param", "kidney_mas_g=150"]);
        assert_eq!(out.status.code(), Some(4), "{cmd}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(
                "--param kidney_mas_g=150: plugin `kidney` refuses it: unknown parameter `kidney_mas_g`; the plugin takes kidney_mass_g"
            ),
            "{cmd}: {}",
            stderr(&out)
        );
        for (bad, why) in [
            ("kidney_mass_g", "no `=`"),
            ("kidney_mass_g=heavy", "`heavy` is not a number"),
            ("kidney_mass_g=inf", "not finite"),
        ] {
            let out = perfuse(&[cmd, s(&file), "--param", bad]);
            assert_eq!(out.status.code(), Some(2), "{cmd} {bad}: {}", stderr(&out));
            assert!(
                stderr(&out).contains(&format!("--param {bad}: expected KEY=VALUE"))
                    && stderr(&out).contains(why),
                "{cmd} {bad}: {}",
                stderr(&out)
            );
        }
        let out = perfuse(&[
            cmd,
            s(&file),
            "--param",
            "kidney_mass_g=180",
            "--param",
            "kidney_mass_g=190",
        ]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("`kidney_mass_g` is given twice"));
    }
    let out = perfuse(&["check", s(&file), "--param", "kidney_mass_g=180"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("; --param kidney_mass_g=180)"),
        "{}",
        stdout(&out)
    );
}

/// The record keeps the `--param` texts: replay runs them again (identical), an interrupted run
/// resumes with them without their being typed again, and resume refuses other values.
#[test]
fn the_record_keeps_the_params_for_replay_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("run.sqlite");
    let file = protocol("kidney-nmp.ron");
    let out = perfuse(&[
        "run",
        s(&file),
        "--duration",
        "4m",
        "--quiet",
        "--record",
        s(&rec),
        "--param",
        "kidney_mass_g=180",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = perfuse(&["replay", s(&rec)]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("replay identical"));
    // The report shows the parameters the plugin ran with.
    let html = dir.path().join("run.html");
    let out = perfuse(&["report", s(&rec), "--out", s(&html)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("kidney_mass_g = 180"),
        "the report's parameters"
    );

    // The same run, as if killed after 150 s: its end and what follows its samples are gone.
    let cut = dir.path().join("cut.sqlite");
    std::fs::copy(&rec, &cut).unwrap();
    let c = Connection::open(&cut).unwrap();
    c.execute_batch(
        "UPDATE run SET ended_at = NULL, end_reason = NULL, end_tick = NULL, summary = NULL;
         DELETE FROM samples WHERE tick > 15000; DELETE FROM events WHERE tick > 15000;
         DELETE FROM checkpoints WHERE tick > 15000;",
    )
    .unwrap();
    drop(c);
    let out = perfuse(&[
        "run",
        "--resume",
        s(&cut),
        "--quiet",
        "--param",
        "kidney_mass_g=150",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "--param kidney_mass_g=150: a resumed run keeps the plugin parameters it started with (its --param: kidney_mass_g=180); not resumed"
        ),
        "{}",
        stderr(&out)
    );
    // Given again with its value, or not at all, it resumes to the record of the whole run.
    let out = perfuse(&[
        "run",
        "--resume",
        s(&cut),
        "--quiet",
        "--param",
        "kidney_mass_g=180",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let whole = Connection::open(&rec).unwrap();
    let resumed = Connection::open(&cut).unwrap();
    let diff = perfuse_record::compare::first_difference(&whole, &resumed, None).unwrap();
    assert!(diff.is_none(), "{diff:?}");
}

/// A real-time run's saved state holds the parameters the plugin was created with; it is not
/// restored into a run built with others.
#[test]
fn a_saved_state_is_not_restored_into_a_run_with_other_params() {
    let file = protocol("kidney-nmp.ron");
    let build = |params: &[&str]| {
        let loaded = perfuse_core::config::load(&file).unwrap();
        let policy = plugin_policy(&loaded.plan);
        let w = Wiring {
            params: params.iter().map(|p| p.to_string()).collect(),
            ..Wiring::lockstep(&policy, 1)
        };
        wire(loaded, &file, w).unwrap_or_else(|e| panic!("{}", e.message))
    };
    let mut run = build(&["kidney_mass_g=180"]);
    crate::common::step(&mut run, 1000);
    let state = run.save_state();
    assert_eq!(
        state.plugin.params,
        Some(vec![("kidney_mass_g".to_string(), 180.0)])
    );
    let e = build(&[]).restore_state(&state, 0.0).unwrap_err();
    assert!(
        e.contains(
            "saved with plugin parameters [kidney_mass_g=180], but this run has [kidney_mass_g=150]"
        ),
        "{e}"
    );
    build(&["kidney_mass_g=180"])
        .restore_state(&state, 0.0)
        .unwrap();
}

/// A sweep sets the parameter in every case, names it in each case's replay command and in its
/// `sweep.json`.
#[test]
fn a_sweep_sets_the_param_in_every_case() {
    let dir = tempfile::tempdir().unwrap();
    let file = protocol("kidney-nmp.ron");
    let out = perfuse(&[
        "sweep",
        s(&file),
        "--cases",
        "2",
        "--jobs",
        "1",
        "--duration",
        "3m",
        "--param",
        "kidney_mass_g=180",
        "--out",
        s(dir.path()),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = std::fs::read_to_string(dir.path().join("cases.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    for row in rows {
        assert!(row.contains("--param kidney_mass_g=180"), "{row}");
    }
    let meta = std::fs::read_to_string(dir.path().join("sweep.json")).unwrap();
    assert!(meta.contains("\"kidney_mass_g=180\""), "{meta}");
    let out = perfuse(&[
        "sweep",
        s(&file),
        "--cases",
        "1",
        "--param",
        "kidney_mass_g=0",
        "--out",
        s(dir.path()),
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--param kidney_mass_g=0: plugin `kidney` refuses it"),
        "{}",
        stderr(&out)
    );
}
