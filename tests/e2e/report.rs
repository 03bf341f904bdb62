//! `perfuse report` through the command line, on records of real runs.

use crate::common::{perfuse, stderr, stdout};
use std::path::Path;

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_str(&stdout(out)).expect("JSON on stdout")
}

/// The README's example: kidney HMP with air in the line at 30 min scores 77, for the reasons the
/// README gives.
#[test]
fn the_readme_example_scores_77_with_its_parts() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("kidney-air.sqlite");
    let rec_s = rec.to_str().unwrap();
    let out = perfuse(&[
        "run",
        "protocols/kidney-hmp.ron",
        "--duration",
        "40m",
        "--fault",
        "air@30m",
        "--quiet",
        "--record",
        rec_s,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = perfuse(&["report", rec_s]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = dir.path().join("kidney-air.html");
    assert_eq!(stdout(&out).trim(), page.to_str().unwrap());
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("77 / 100"));
    assert!(html.contains("air_in_line") && html.contains("no_pressure"));

    let j = json(&perfuse(&["report", rec_s, "--format", "json"]));
    assert_eq!(j["score"], 77);
    let p = &j["parts"];
    assert_eq!(p["alarms"]["count"]["high"], 2);
    let near = |v: &serde_json::Value, x: f64| (v.as_f64().unwrap() - x).abs() < 0.05;
    assert!(near(&p["targets"]["points"], 44.7), "{}", p["targets"]);
    assert!(near(&p["alarms"]["points"], 2.1), "{}", p["alarms"]);
    assert!(near(&p["alarms"]["minutes"]["high"], 19.8));
    assert_eq!(p["data"]["samples_present"], 2401);
    assert_eq!(p["data"]["samples_expected"], 2401);
}

/// Operator commands of a real run are counted, alarm handling excepted, and a stopped run's data
/// part expects samples only to its end.
#[test]
fn operator_commands_count_as_interventions() {
    let dir = tempfile::tempdir().unwrap();
    let commands = dir.path().join("commands.ron");
    std::fs::write(
        &commands,
        r#"[
    (at_s: 600.0, command: PauseAudio),
    (at_s: 620.0, command: Setpoint(signal: "systolic_pressure", value: 28.0)),
    (at_s: 630.0, command: Setpoint(signal: "systolic_pressure", value: 90.0)),
    (at_s: 900.0, command: Stop),
]"#,
    )
    .unwrap();
    let rec = dir.path().join("k.sqlite");
    let rec_s = rec.to_str().unwrap();
    let out = perfuse(&[
        "run",
        "protocols/kidney-hmp.ron",
        "--commands",
        commands.to_str().unwrap(),
        "--quiet",
        "--record",
        rec_s,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let j = json(&perfuse(&["report", rec_s, "--format", "json"]));
    let p = &j["parts"];
    // Two setpoints (the second refused: outside the band) and the stop; not the audio pause.
    assert_eq!(p["interventions"]["operator_commands"], 3);
    assert_eq!(p["interventions"]["points"], 7.0);
    assert_eq!(p["data"]["samples_expected"], p["data"]["samples_present"]);
    let html_out = dir.path().join("page.html");
    let out = perfuse(&["report", rec_s, "--out", html_out.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = std::fs::read_to_string(&html_out).unwrap();
    assert!(html.contains("setpoint systolic_pressure 28"));
    assert!(html.contains("refused: outside the phase"));
    assert!(html.contains("stopped by the operator"));
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let not_record = dir.path().join("x.sqlite");
    std::fs::write(&not_record, "not sqlite at all").unwrap();
    let out = perfuse(&["report", not_record.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("is not a perfuse record"),
        "{}",
        stderr(&out)
    );
    let out = perfuse(&["report", "no/such.sqlite"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("no such file"), "{}", stderr(&out));
    let out = perfuse(&["report", "x.sqlite", "--format", "xml"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("--format xml: expected html or json"));
    assert!(!Path::new("x.html").exists());
}
