//! The real-time driver: the same protocol against the wall clock, the simulator on its own
//! thread. A few seconds of wall time.

use crate::common::*;

#[test]
fn a_short_realtime_run_completes_and_keeps_pressure() {
    let started = std::time::Instant::now();
    let s = run_summary(
        &protocol("kidney-hmp.ron"),
        &["--realtime", "--duration", "10s"],
    );
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(s["completed"], true);
    assert_eq!(f(&s["simulated_s"]), 10.0);
    assert!(wall >= 9.5, "real time: the run took {wall} s of wall time");
    // Missed deadlines are counted and skipped, so ticks plus overruns cover the run.
    let ticks = s["ticks"].as_u64().unwrap();
    let overruns = s["overruns"].as_u64().unwrap();
    assert_eq!(ticks + overruns, 1000, "ticks {ticks}, overruns {overruns}");
    assert!(overruns < 100, "{overruns} overruns on an idle machine");
    // Every tick's lateness is counted, its percentiles in order, the median under a period.
    let late = &s["lateness"];
    assert_eq!(late["ticks"].as_u64(), Some(ticks), "{late}");
    let (p50, p99, p999, max) = (
        f(&late["p50_us"]),
        f(&late["p99_us"]),
        f(&late["p999_us"]),
        f(&late["max_us"]),
    );
    assert!(
        0.0 <= p50 && p50 <= p99 && p99 <= p999 && p999 <= max,
        "{late}"
    );
    assert!(p50 < 10_000.0, "half the ticks a period late: {late}");
    // The soft start ramps the systolic setpoint 0 -> 30 mmHg over 30 s: after 10 s the
    // pressure follows the ramp, near 10 mmHg and nowhere near a limit.
    let systolic = &s["channels"]["systolic_pressure"];
    assert!(
        f(&systolic["max"]) > 7.0 && f(&systolic["max"]) < 14.0,
        "{systolic}"
    );
    assert!(
        s["alarms"].as_array().unwrap().is_empty(),
        "{}",
        s["alarms"]
    );
}

#[test]
fn a_lockstep_summary_has_no_lateness() {
    let s = run_summary(&protocol("kidney-hmp.ron"), &["--duration", "10s"]);
    assert_eq!(s["completed"], true);
    assert!(s.get("lateness").is_none(), "{}", s["lateness"]);
}
