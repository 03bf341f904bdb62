//! A deliberately faulty plugin, loaded like a real one, in each of its modes: the plugin is
//! marked faulted, a high-priority technical alarm is raised, and control continues on the last
//! safe setpoints (the kidney HMP circuit keeps its pressure in band).

use crate::common::*;
use serde_json::Value;

/// Kidney HMP driven by the faulty plugin in `mode`, misbehaving from 10 minutes.
fn faulty_protocol(dir: &tempfile::TempDir, mode: u32) -> std::path::PathBuf {
    // Mode 4 uses 0.8 s of CPU once: over the 0.5 s a lockstep step may take. Mode 10 sleeps
    // 0.8 s once, which uses no CPU.
    let params = format!(r#""mode": {mode}.0, "at_s": 600.0, "busy_s": 0.8, "sleep_s": 0.8,"#);
    let text = edited_protocol("kidney-hmp.ron", &faulty_kidney(&params));
    let file = dir.path().join(format!("faulty-{mode}.ron"));
    std::fs::write(&file, text).unwrap();
    file
}

fn run_mode(mode: u32) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture_args();
    run_summary(
        &faulty_protocol(&dir, mode),
        &with_fixture_args(&["--duration", "40m"], &fixture),
    )
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
    // Given up while still busy: the call did not return within its budget.
    assert_contained(&run_mode(4), HUNG);
}

const HUNG: &str = "hung: its call did not return within its time budget";

#[test]
fn a_plugin_that_hangs_busy_for_ever_is_given_up_and_the_run_ends() {
    assert_contained(&run_mode(8), HUNG);
}

#[test]
fn a_plugin_that_hangs_blocked_for_ever_is_given_up_and_the_run_ends() {
    assert_contained(&run_mode(9), HUNG);
}

/// In lockstep the budget is CPU time: a step that sleeps (as a paused process or a loaded
/// machine would make it) changes nothing, so the record stays the machine's load's to decide
/// never.
#[test]
fn a_slow_step_that_uses_no_cpu_does_not_fault_a_lockstep_run() {
    let s = run_mode(10);
    assert_eq!(s["completed"], true);
    assert_eq!(s["plugin"]["fault"], Value::Null, "{}", s["plugin"]);
    assert_eq!(f(&s["derived"]["steps"]), 240_000.0, "every step taken");
}

/// Pausing the whole process (SIGSTOP, SIGCONT) several times during a lockstep run leaves its
/// summary as it is without pauses.
#[test]
fn pauses_of_the_process_never_change_a_lockstep_record() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let file = protocol("liver-nmp.ron");
    let summary = |name: &str, pause: bool| {
        let path = dir.path().join(name);
        let mut child = Command::new(env!("CARGO_BIN_EXE_perfuse"))
            .args([
                "run",
                file.to_str().unwrap(),
                "--duration",
                "3h",
                "--no-record",
            ])
            .args(["--quiet", "--summary", path.to_str().unwrap()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        if pause {
            let pid = child.id().to_string();
            for _ in 0..4 {
                std::thread::sleep(std::time::Duration::from_millis(150));
                let stop = Command::new("kill").args(["-STOP", &pid]).status().unwrap();
                std::thread::sleep(std::time::Duration::from_millis(700));
                let cont = Command::new("kill").args(["-CONT", &pid]).status().unwrap();
                // The run may have ended before all the pauses were made.
                if !(stop.success() && cont.success()) {
                    break;
                }
            }
        }
        assert!(child.wait().unwrap().success());
        let mut s: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        s.as_object_mut().unwrap().remove("wall_s");
        s
    };
    let paused = summary("paused.json", true);
    assert_eq!(paused["plugin"]["fault"], Value::Null);
    assert_eq!(paused, summary("plain.json", false));
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
    let fixture = fixture_args();
    let out = perfuse(&with_fixture_args(
        &["run", file.to_str().unwrap(), "--quiet"],
        &fixture,
    ));
    assert_eq!(out.status.code(), Some(PLUGIN_REFUSED));
    let err = stderr(&out);
    assert!(
        err.contains(
            "plugin `faulty`: could not start: the plugin panicked while creating its instance"
        ),
        "{err}"
    );
}
