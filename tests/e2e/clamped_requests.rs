//! The phase band is visible to the plugin (ABI 1.3), and a request the core clamps into it is
//! reported: an event in the record when the clamping begins, a count in the summary.

use crate::common::*;
use serde_json::Value;

/// Kidney HMP driven by the faulty test plugin in `mode` from `at_s`.
fn run_faulty(mode: u32, at_s: f64, record: Option<&std::path::Path>) -> Value {
    let params = format!(r#""mode": {mode}.0, "at_s": {at_s:.1},"#);
    let edited = edited_protocol(
        "kidney-hmp.ron",
        &[
            (
                r#"plugin: (id: "kidney", version: "^0.1"),"#,
                r#"plugin: (id: "faulty", version: "^0.1"),"#,
            ),
            (r#""kidney_mass_g": 150.0, // §10.2 [T]"#, &params),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("faulty.ron");
    std::fs::write(&file, edited).unwrap();
    let fixture = fixture_args();
    let mut args = vec!["--duration", "20m"];
    let record_arg;
    match record {
        Some(r) => {
            record_arg = r.to_str().unwrap().to_string();
            args.extend(["--record", record_arg.as_str()]);
        }
        None => args.push("--no-record"),
    }
    run_summary(&file, &with_fixture_args(&args, &fixture))
}

#[test]
fn a_clamped_request_is_one_event_and_one_count() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("run.sqlite");
    // Mode 5 asks for a systolic pressure of a million mmHg every tick from 10 min on.
    let s = run_faulty(5, 600.0, Some(&db));
    assert_eq!(s["plugin"]["clamped_requests"], 1, "{}", s["plugin"]);
    assert!(f(&s["channels"]["systolic_pressure"]["max"]) < 35.0);
    let conn = perfuse_record::rusqlite::Connection::open(&db).unwrap();
    let rows: Vec<(f64, String, f64, f64)> = conn
        .prepare(
            "SELECT t_s, subject, value, limit_value FROM events WHERE kind = 'plugin_clamped'",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [(600.0, "systolic_pressure".to_string(), 1.0e6, 33.0)]
    );

    let quiet = run_faulty(5, 1.0e6, None);
    assert_eq!(
        quiet["plugin"]["clamped_requests"], 0,
        "no request, no clamp"
    );
}

#[test]
fn the_plugin_sees_the_band_it_is_clamped_into() {
    // Mode 11 requests the top of the band its input gives (33 mmHg, the phase's 27-33 band)
    // from 10 min on: inside it, so nothing is clamped, and the pressure runs 3 mmHg above the
    // file's 30 for the last 10 minutes.
    let at_top = run_faulty(11, 600.0, None);
    let never = run_faulty(11, 1.0e6, None);
    assert_eq!(at_top["plugin"]["clamped_requests"], 0);
    let mean = |s: &Value| f(&s["channels"]["systolic_pressure"]["mean"]);
    let rise = mean(&at_top) - mean(&never);
    assert!((1.0..2.0).contains(&rise), "{rise}");
}
