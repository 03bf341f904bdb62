//! A deliberately faulty plugin, loaded like a real one, in each of its modes: the plugin is
//! marked faulted, a high-priority technical alarm is raised, and control continues on the last
//! safe setpoints (the kidney HMP circuit keeps its pressure in band).

mod common;
use common::*;
use serde_json::Value;

/// Kidney HMP driven by the faulty plugin in `mode`, misbehaving from 10 minutes.
fn faulty_protocol(dir: &tempfile::TempDir, mode: u32) -> std::path::PathBuf {
    let text = std::fs::read_to_string(protocol("kidney-hmp.ron")).unwrap();
    let text = text
        .replace(
            r#"plugin: (id: "kidney", version: "^0.1"),"#,
            r#"plugin: (id: "faulty", version: "^0.1"),"#,
        )
        .replace(
            r#""kidney_mass_g": 150.0, // §10.2 [T]"#,
            // Mode 4 runs 0.8 s of CPU once: over the 0.5 s a lockstep step may take.
            &format!(r#""mode": {mode}.0, "at_s": 600.0, "busy_s": 0.8,"#),
        );
    let file = dir.path().join(format!("faulty-{mode}.ron"));
    std::fs::write(&file, text).unwrap();
    file
}

fn run_mode(mode: u32) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--duration".to_string(), "40m".into()];
    args.extend(fixture_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_summary(&faulty_protocol(&dir, mode), &args)
}

/// The fault is contained: faulted at 10 min for `reason`, one technical high alarm, the run
/// completes and the pressure stays controlled on the held setpoint.
fn assert_contained(s: &Value, reason: &str) {
    assert_eq!(s["completed"], true);
    assert_eq!(s["plugin"]["fault"], reason, "{}", s["plugin"]);
    let at = f(&s["plugin"]["fault_s"]);
    assert!((600.0..600.1).contains(&at), "faulted at {at} s");
    let alarm = alarm(s, "plugin_fault").expect("plugin fault alarm");
    assert_eq!(alarm["priority"], "high");
    assert_eq!(alarm["technical"], true);
    assert!((600.0..600.1).contains(&f(&alarm["first_s"])));
    assert_eq!(alarm["active_at_end"], true, "latched");
    let systolic = &s["channels"]["systolic_pressure"];
    assert!(f(&systolic["in_band_fraction"]) >= 0.95, "{systolic}");
    assert!(
        f(&s["actuators"]["pump"]["mean"]) > 50.0,
        "the pump kept running"
    );
    // The derived values stop at the fault: 600 s of steps at 100 Hz.
    assert_eq!(f(&s["derived"]["steps"]), 60_000.0);
}

#[test]
fn a_panicking_plugin_is_contained() {
    assert_contained(&run_mode(1), "panicked");
}

#[test]
fn an_infinite_setpoint_is_contained() {
    assert_contained(&run_mode(2), "returned a value that is not finite");
}

#[test]
fn an_infinite_command_is_contained() {
    assert_contained(&run_mode(3), "returned a value that is not finite");
}

#[test]
fn an_overrun_of_the_time_budget_is_contained() {
    assert_contained(&run_mode(4), "overran its time budget");
}

#[test]
fn an_out_of_range_setpoint_is_clamped_not_obeyed() {
    let s = run_mode(5);
    assert_eq!(
        s["plugin"]["fault"],
        Value::Null,
        "a finite request is not a fault"
    );
    // The request of a million mmHg is clamped into the phase's 27-33 mmHg band.
    let systolic = &s["channels"]["systolic_pressure"];
    assert!(f(&systolic["max"]) < 35.0, "{systolic}");
    assert!(alarm(&s, "over_pressure_critical").is_none());
}

#[test]
fn a_plugin_that_panics_while_starting_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = faulty_protocol(&dir, 6);
    let mut args = vec![
        "run".to_string(),
        file.to_str().unwrap().into(),
        "--quiet".into(),
    ];
    args.extend(fixture_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = perfuse(&args);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(
            "plugin `faulty`: could not start: the plugin panicked while creating its instance"
        ),
        "{err}"
    );
}

#[test]
fn a_step_that_loops_forever_is_contained() {
    assert_contained(&run_mode(7), "overran its time budget");
}

#[test]
fn a_step_that_blocks_forever_is_contained() {
    assert_contained(&run_mode(8), "overran its time budget");
}

/// In real time: the hung step (from 1 s) faults the plugin within one tick, control goes on
/// and the run ends normally at its duration.
fn realtime_hang_is_contained(mode: u32) {
    let text = std::fs::read_to_string(protocol("kidney-hmp.ron")).unwrap();
    let edited = text
        .replace(
            r#"plugin: (id: "kidney", version: "^0.1"),"#,
            r#"plugin: (id: "faulty", version: "^0.1"),"#,
        )
        .replace(
            r#""kidney_mass_g": 150.0, // §10.2 [T]"#,
            &format!(r#""mode": {mode}.0, "at_s": 1.0,"#),
        );
    assert_ne!(edited, text);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hang.ron");
    std::fs::write(&file, edited).unwrap();
    let mut args = vec!["--realtime".to_string(), "--duration".into(), "3s".into()];
    args.extend(fixture_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = run_summary(&file, &args);
    assert_eq!(s["completed"], true);
    assert_eq!(s["plugin"]["fault"], "overran its time budget");
    // Faulted in the tick of the hung step (at 1 s), unless the machine made that tick late.
    let at = f(&s["plugin"]["fault_s"]);
    assert!((1.0..1.1).contains(&at), "faulted at {at} s");
    let alarm = alarm(&s, "plugin_fault").expect("plugin fault alarm");
    assert_eq!(alarm["priority"], "high");
    assert_eq!(f(&alarm["first_s"]), at);
    assert!(
        (2.95..3.05).contains(&f(&s["simulated_s"])),
        "{}",
        s["simulated_s"]
    );
}

#[test]
fn a_step_that_loops_forever_in_real_time_is_contained() {
    realtime_hang_is_contained(7);
}

#[test]
fn a_step_that_blocks_forever_in_real_time_is_contained() {
    realtime_hang_is_contained(8);
}

/// The summary of a lockstep run, without the wall time it took.
fn lockstep_record(pause: bool) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("summary.json");
    let file = protocol("liver-nmp.ron");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_perfuse"))
        .args(["run", file.to_str().unwrap(), "--quiet", "--duration", "1h"])
        .args(["--summary", path.to_str().unwrap()])
        .spawn()
        .unwrap();
    if pause {
        // Three pauses of 0.7 s (SIGSTOP): more than the 0.5 s a step may take.
        let pid = child.id().to_string();
        for _ in 0..3 {
            std::thread::sleep(std::time::Duration::from_millis(300));
            let stop = std::process::Command::new("kill")
                .args(["-STOP", &pid])
                .status();
            std::thread::sleep(std::time::Duration::from_millis(700));
            let cont = std::process::Command::new("kill")
                .args(["-CONT", &pid])
                .status();
            assert!(stop.unwrap().success() && cont.unwrap().success());
        }
    }
    assert!(child.wait().unwrap().success());
    let mut s: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    s.as_object_mut().unwrap().remove("wall_s");
    s
}

#[test]
fn pausing_the_process_never_changes_a_lockstep_record() {
    let quiet = lockstep_record(false);
    let paused = lockstep_record(true);
    assert_eq!(quiet["plugin"]["fault"], Value::Null);
    assert_eq!(quiet, paused);
}
