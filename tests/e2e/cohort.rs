//! Virtual cohorts end to end: `perfuse run --organ-seed` (the organ in the summary and the
//! record, replayed identically) and `perfuse sweep` (its table, shards and merge, replays).

use crate::common::{f, perfuse, protocol, run_summary, stderr, stdout};
use std::path::Path;

/// The rows of a sweep's `cases.csv` as (header, rows); none of the fields tested is quoted.
fn table(dir: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(dir.join("cases.csv")).unwrap();
    let mut lines = text
        .lines()
        .map(|l| l.split(',').map(String::from).collect::<Vec<_>>());
    let header = lines.next().unwrap();
    (header, lines.collect())
}

/// A sweep of 10-minute kidney-hmp cases into `out`.
fn sweep(out: &Path, extra: &[&str]) {
    sweep_of(
        "kidney-hmp.ron",
        out,
        &[&["--duration", "10m"], extra].concat(),
    );
}

/// A sweep of the shipped protocol `name` into `out`; it must succeed.
fn sweep_of(name: &str, out: &Path, extra: &[&str]) {
    let file = protocol(name);
    let mut args = vec![
        "sweep",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let run = perfuse(&args);
    assert!(run.status.success(), "{args:?}: {}", stderr(&run));
}

#[test]
fn an_organ_seed_draws_the_organ_into_the_summary_and_the_record_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("r.sqlite");
    let hmp = protocol("kidney-hmp.ron");
    let s = run_summary(
        &hmp,
        &[
            "--duration",
            "5m",
            "--organ-seed",
            "5",
            "--record",
            rec.to_str().unwrap(),
        ],
    );
    let organ = &s["organ"];
    assert_eq!(organ["seed"], 5);
    let r_inf = f(&organ["params"]["r_inf_mmhg_min_ml"]);
    assert!((0.08..=1.5).contains(&r_inf), "{organ}");
    assert_ne!(r_inf, 0.235, "drawn, not the default kidney");
    // The record keeps the seed and every drawn parameter.
    let conn = perfuse_record::open_existing(&rec, false).unwrap();
    let seed: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'organ_seed'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(seed, "5");
    let stored: f64 = conn
        .query_row(
            "SELECT value FROM organ WHERE param = 'r_inf_mmhg_min_ml'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, r_inf);
    let n: i64 = conn
        .query_row("SELECT count(*) FROM organ", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n as usize, organ["params"].as_object().unwrap().len());
    drop(conn);
    let replay = perfuse(&["replay", rec.to_str().unwrap()]);
    assert!(replay.status.success(), "{}", stderr(&replay));
    assert!(stdout(&replay).contains("identical"), "{}", stdout(&replay));

    // The same organ seed with another noise seed: the same organ.
    let other = run_summary(
        &hmp,
        &["--duration", "1m", "--organ-seed", "5", "--seed", "9"],
    );
    assert_eq!(other["organ"], s["organ"]);
    // Without an organ seed the protocol's organ, and the summary as before (no `organ`).
    let plain = run_summary(&hmp, &["--duration", "1m"]);
    assert!(plain.get("organ").is_none(), "{plain}");
}

#[test]
fn a_small_sweep_writes_one_row_per_case_with_the_columns() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path(), &["--cases", "8", "--jobs", "2"]);
    let (header, rows) = table(dir.path());
    for col in [
        "case",
        "seed",
        "organ_seed",
        "faults",
        "organ.r_inf_mmhg_min_ml",
        "organ.kidney_mass_g",
        "organ.ice_c",
        "in_band.systolic_pressure",
        "alarms.high",
        "alarms.medium",
        "alarms.low",
        "alarm.perfusate_warm",
        "alarm.air_in_line",
        "derived.resistance_index",
        "plugin_fault",
        "worst_alarm",
        "verdict",
        "replay",
    ] {
        assert!(
            header.iter().any(|h| h == col),
            "no column {col} in {header:?}"
        );
    }
    assert_eq!(rows.len(), 8);
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.len(), header.len());
        assert_eq!(r[at("case")], i.to_string());
        assert_eq!(r[at("organ_seed")], (i + 1).to_string());
        let ri: f64 = r[at("organ.r_inf_mmhg_min_ml")].parse().unwrap();
        assert!((0.08..=1.5).contains(&ri), "case {i}: {ri}");
        let in_band: f64 = r[at("in_band.systolic_pressure")].parse().unwrap();
        assert!((0.0..=1.0).contains(&in_band));
        assert!(["none", "low", "medium", "high"].contains(&r[at("worst_alarm")].as_str()));
    }
    // Organs differ from case to case.
    assert_ne!(
        rows[0][at("organ.r_inf_mmhg_min_ml")],
        rows[1][at("organ.r_inf_mmhg_min_ml")]
    );
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(summary.starts_with("8 cases."), "{summary}");
    assert!(summary.contains("| organ.r_inf_mmhg_min_ml |"), "{summary}");
    assert!(summary.contains("perfuse run "), "{summary}");
}

#[test]
fn shards_merged_equal_the_whole_sweep_whatever_the_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    sweep(
        &whole,
        &["--cases", "7", "--jobs", "2", "--fault", "occlusion@2m..8m"],
    );
    let mut shards = Vec::new();
    for k in 1..=3 {
        let d = dir.path().join(format!("shard{k}"));
        let shard = format!("{k}/3");
        sweep(
            &d,
            &[
                "--cases",
                "7",
                "--jobs",
                "1",
                "--fault",
                "occlusion@2m..8m",
                "--shard",
                &shard,
            ],
        );
        shards.push(d);
    }
    let merged = dir.path().join("merged");
    let mut args = vec!["sweep", "merge"];
    // Shards in any order.
    for d in shards.iter().rev() {
        args.push(d.to_str().unwrap());
    }
    args.extend(["--out", merged.to_str().unwrap()]);
    let out = perfuse(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    for file in ["cases.csv", "summary.md", "sweep.json"] {
        assert_eq!(
            std::fs::read_to_string(whole.join(file)).unwrap(),
            std::fs::read_to_string(merged.join(file)).unwrap(),
            "{file}"
        );
    }
    // The fault's time is drawn per case within the range.
    let (header, rows) = table(&whole);
    let faults = header.iter().position(|h| h == "faults").unwrap();
    let times: Vec<f64> = rows
        .iter()
        .map(|r| {
            let t = r[faults]
                .strip_prefix("occlusion@")
                .unwrap()
                .strip_suffix('s')
                .unwrap();
            t.parse().unwrap()
        })
        .collect();
    assert!(
        times.iter().all(|t| (120.0..=480.0).contains(t)),
        "{times:?}"
    );
    assert!(times.iter().any(|&t| t != times[0]), "{times:?}");
    // A missing shard is refused.
    let out = perfuse(&[
        "sweep",
        "merge",
        shards[0].to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("shard 2/3 is missing"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_case_replays_to_the_same_result_with_its_command() {
    let dir = tempfile::tempdir().unwrap();
    sweep(
        dir.path(),
        &[
            "--cases",
            "3",
            "--jobs",
            "2",
            "--seed",
            "40",
            "--fault",
            "occlusion@3m..6m",
        ],
    );
    let (header, rows) = table(dir.path());
    let s = assert_replays(&header, &rows[2]);
    assert_eq!(s["seed"], 42);
    assert_eq!(s["organ"]["seed"], 42);
    assert!(
        crate::common::alarm(&s, "occlusion").is_some(),
        "the fault was replayed"
    );
}

/// Runs a case's replay command and checks that its summary gives the case's row: every drawn
/// organ parameter, derived value and alarm count. Returns the replay's summary.
#[track_caller]
fn assert_replays(header: &[String], row: &[String]) -> serde_json::Value {
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let replay = &row[at("replay")];
    let words: Vec<&str> = replay.split(' ').collect();
    assert_eq!(words[..2], ["perfuse", "run"], "{replay}");
    let s = run_summary(Path::new(words[2]), &words[3..]);
    let mut compared = 0;
    for (i, name) in header.iter().enumerate() {
        let value = &row[i];
        if let Some(p) = name.strip_prefix("organ.") {
            assert_eq!(f(&s["organ"]["params"][p]).to_string(), *value, "{name}");
        } else if let Some(d) = name.strip_prefix("derived.") {
            let v = s["derived"][d]
                .as_f64()
                .map_or(String::new(), |v| v.to_string());
            assert_eq!(v, *value, "{name}");
        } else if let Some(id) = name.strip_prefix("alarm.") {
            let count = crate::common::alarm(&s, id).map_or(0, |a| a["count"].as_u64().unwrap());
            assert_eq!(count.to_string(), *value, "{name}");
        } else {
            continue;
        }
        compared += 1;
    }
    assert!(
        compared > 0,
        "no organ, derived or alarm column in {header:?}"
    );
    s
}

/// A bypass case's plugin computes its full flow from that case's drawn patient, as the case's
/// replay does: the two give the same row.
#[test]
fn a_bypass_case_computes_its_flow_for_its_own_patient_and_replays_the_same() {
    let dir = tempfile::tempdir().unwrap();
    sweep_of(
        "cpb-adult.ron",
        dir.path(),
        &["--cases", "2", "--duration", "5m"],
    );
    let (header, rows) = table(dir.path());
    for row in &rows {
        let s = assert_replays(&header, row);
        let bsa = f(&s["organ"]["params"]["bsa_m2"]);
        let full = f(&s["plugin"]["computed"]["full_flow_ml_min"]);
        assert!((full - 2400.0 * bsa).abs() < 1e-6, "{full} for BSA {bsa}");
    }
}

/// A drawn patient's body surface area and weight reach the bypass plugin as a team enters the
/// measured ones: the full flow it computes follows the patient, and a `--param` still wins.
#[test]
fn a_drawn_patient_s_measures_reach_the_plugin_unless_a_param_sets_them() {
    let cpb = protocol("cpb-adult.ron");
    let s = run_summary(&cpb, &["--duration", "30s", "--organ-seed", "3"]);
    let drawn = &s["organ"]["params"];
    let entered = &s["plugin"]["params_entered"];
    let bsa = f(&drawn["bsa_m2"]);
    assert_ne!(bsa, 1.97, "drawn, not the reference patient: {drawn}");
    assert_eq!(f(&entered["bsa_m2"]), bsa, "{entered}");
    assert_eq!(f(&entered["body_kg"]), f(&drawn["body_kg"]), "{entered}");
    // The file's flow index, 2.4 L/min/m², times the drawn surface area.
    let full = f(&s["plugin"]["computed"]["full_flow_ml_min"]);
    assert!((full - 2400.0 * bsa).abs() < 1e-6, "{full} for BSA {bsa}");

    let set = run_summary(
        &cpb,
        &[
            "--duration",
            "30s",
            "--organ-seed",
            "3",
            "--param",
            "bsa_m2=1.5",
        ],
    );
    assert!(set["plugin"]["params_entered"].get("bsa_m2").is_none());
    assert_eq!(f(&set["plugin"]["params_overridden"]["bsa_m2"]), 1.5);
    let full = f(&set["plugin"]["computed"]["full_flow_ml_min"]);
    assert!((full - 3600.0).abs() < 1e-6, "{full}");

    // Without a draw the reference patient is the file's: nothing is entered.
    let plain = run_summary(&cpb, &["--duration", "30s"]);
    assert_eq!(plain["plugin"]["params_entered"], serde_json::json!({}));
}

#[test]
fn a_drawn_kidney_s_mass_sets_the_plugin_s_flow_per_100_g() {
    // The plugin's mass is the only difference between the two runs: the same kidney, the same
    // noise, so the same flow, reported per 100 g of the drawn mass or of the file's 150 g.
    let nmp = protocol("kidney-nmp.ron");
    let args = ["--duration", "5m", "--organ-seed", "3"];
    let drawn = run_summary(&nmp, &args);
    let mass = f(&drawn["organ"]["params"]["kidney_mass_g"]);
    assert_ne!(mass, 150.0, "drawn, not the file's kidney");
    assert_eq!(f(&drawn["plugin"]["params_entered"]["kidney_mass_g"]), mass);
    let file_mass = run_summary(
        &nmp,
        &[&args[..], &["--param", "kidney_mass_g=150"]].concat(),
    );
    let per_100g = |s: &serde_json::Value| f(&s["derived"]["flow_per_100g_ml_min"]);
    let ratio = per_100g(&drawn) / per_100g(&file_mass);
    assert!(
        (ratio - 150.0 / mass).abs() < 1e-9,
        "{ratio} against 150 / {mass}"
    );
}

#[test]
fn a_drawn_donor_s_surface_area_sets_the_ta_nrp_flow() {
    let nrp = protocol("ta-nrp.ron");
    let target = |s: &serde_json::Value| f(&s["derived"]["flow_target_ml_min"]);
    let plain = run_summary(&nrp, &["--duration", "5m"]);
    assert!(
        (target(&plain) - 2400.0 * 1.65).abs() < 1e-6,
        "{}",
        plain["derived"]
    );
    let drawn = run_summary(&nrp, &["--duration", "5m", "--organ-seed", "4"]);
    let bsa = f(&drawn["organ"]["params"]["bsa_m2"]);
    assert_ne!(bsa, 1.65, "drawn, not the file's donor");
    assert_eq!(f(&drawn["plugin"]["params_entered"]["bsa_m2"]), bsa);
    assert!(
        (target(&drawn) - 2400.0 * bsa).abs() < 1e-6,
        "{} for BSA {bsa}",
        drawn["derived"]
    );
}
