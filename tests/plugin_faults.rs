//! A deliberately faulty plugin, loaded like a real one, in each of its modes: the plugin is
//! marked faulted, a high-priority technical alarm is raised, and control continues on the last
//! safe setpoints (the kidney HMP circuit keeps its pressure in band).

mod common;
use common::*;
use serde_json::Value;

/// Kidney HMP driven by the faulty plugin in `mode`, misbehaving from 10 minutes.
fn faulty_protocol(dir: &tempfile::TempDir, mode: u32) -> std::path::PathBuf {
    faulty_protocol_with(dir, mode, 600.0, 0.8)
}

/// Kidney HMP driven by the faulty plugin in `mode`, misbehaving from `at_s`; mode 4 runs on the
/// CPU for `busy_s` in one step.
fn faulty_protocol_with(
    dir: &tempfile::TempDir,
    mode: u32,
    at_s: f64,
    busy_s: f64,
) -> std::path::PathBuf {
    let text = std::fs::read_to_string(protocol("kidney-hmp.ron")).unwrap();
    let text = text
        .replace(
            r#"plugin: (id: "kidney", version: "^0.1"),"#,
            r#"plugin: (id: "faulty", version: "^0.1"),"#,
        )
        .replace(
            r#""kidney_mass_g": 150.0, // §10.2 [T]"#,
            // Mode 4 runs 0.8 s on the CPU once: over the 0.5 s a lockstep step may take.
            &format!(r#""mode": {mode}.0, "at_s": {at_s:?}, "busy_s": {busy_s:?},"#),
        );
    assert!(
        text.contains(r#""mode": "#),
        "the protocol's plugin lines changed"
    );
    let file = dir.path().join(format!("faulty-{mode}-{at_s}.ron"));
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

#[test]
fn a_plugin_that_never_returns_on_the_cpu_is_contained() {
    // Faulted once its thread has used 0.5 s of CPU; the thread is abandoned, spinning.
    assert_contained(&run_mode(8), "overran its time budget");
}

#[test]
fn a_plugin_that_blocks_forever_is_contained() {
    // It uses no CPU: the wall-clock backstop (3 s of the control thread waiting) catches it.
    let started = std::time::Instant::now();
    assert_contained(&run_mode(9), "overran its time budget");
    assert!(started.elapsed().as_secs_f64() >= 3.0);
}

/// A real-time run of 4 s whose plugin hangs at 2 s in `mode`.
fn realtime_hang(mode: u32) {
    let dir = tempfile::tempdir().unwrap();
    let file = faulty_protocol_with(&dir, mode, 2.0, 0.8);
    let s = run_summary(&file, &["--realtime", "--duration", "4s"]);
    assert_eq!(s["completed"], true);
    assert_eq!(s["plugin"]["fault"], "overran its time budget");
    // Half a tick of budget, and up to a tick for the plugin thread to take the call up.
    let at = f(&s["plugin"]["fault_s"]);
    assert!((2.0..2.05).contains(&at), "faulted at {at} s");
    let alarm = alarm(&s, "plugin_fault").expect("plugin fault alarm");
    assert_eq!(alarm["priority"], "high");
    // Control went on: every tick ran or was counted as missed, and the pump kept running.
    let ticks = s["ticks"].as_u64().unwrap();
    let overruns = s["overruns"].as_u64().unwrap();
    assert_eq!(ticks + overruns, 400, "ticks {ticks}, overruns {overruns}");
    assert!(ticks > 300, "{ticks} ticks run of 400");
    assert!(f(&s["actuators"]["pump"]["mean"]) > 0.0);
}

#[test]
fn a_plugin_that_never_returns_is_contained_in_real_time() {
    realtime_hang(8);
}

#[test]
fn a_plugin_that_blocks_forever_is_contained_in_real_time() {
    realtime_hang(9);
}

/// The summary without what depends on the machine.
fn without_wall(mut s: serde_json::Value) -> serde_json::Value {
    s.as_object_mut().unwrap().remove("wall_s");
    s
}

#[test]
fn pausing_the_process_never_changes_a_lockstep_record() {
    // One step takes 0.3 s of CPU, within its 0.5 s budget; the process is paused for 0.6 s at a
    // time throughout the run, so the step's wall time goes well over the budget.
    let dir = tempfile::tempdir().unwrap();
    let file = faulty_protocol_with(&dir, 4, 60.0, 0.3);
    let calm = run_summary(&file, &["--duration", "5m"]);
    assert_eq!(
        calm["plugin"]["fault"],
        serde_json::Value::Null,
        "within budget"
    );

    let summary = dir.path().join("paused.json");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_perfuse"))
        .args([
            "run",
            file.to_str().unwrap(),
            "--duration",
            "5m",
            "--quiet",
            "--no-record",
            "--summary",
            summary.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let signal = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
    };
    let mut pauses = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if signal("-STOP").success() {
            pauses += 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(600));
        signal("-CONT");
        std::thread::sleep(std::time::Duration::from_millis(30));
    };
    assert!(status.success());
    assert!(pauses >= 2, "paused {pauses} times");
    let paused: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(without_wall(paused), without_wall(calm));
}
