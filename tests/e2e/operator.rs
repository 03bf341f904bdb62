//! Operator commands scripted with `--commands FILE`: acknowledge and latching, time-limited
//! audio pause that never hides the visual alarm, setpoint changes within the protocol's limits,
//! advance, hold and stop; escalation; the alarm log.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let file = dir.path().join(name);
    std::fs::write(&file, text).unwrap();
    file
}

fn run_with(file: &Path, commands: &str, extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let cmds = write(&dir, "commands.ron", commands);
    let mut args = vec!["--commands", cmds.to_str().unwrap()];
    args.extend_from_slice(extra);
    run_summary(file, &args)
}

/// Kidney HMP with its pump loop removed and the pump started at 250 mL/min: the pressure
/// rises through the 40 mmHg stop, which latches.
fn open_loop(dir: &tempfile::TempDir) -> PathBuf {
    let t = std::fs::read_to_string(protocol("kidney-hmp.ron")).unwrap();
    let text = kidney_open_loop(&t);
    write(dir, "open-loop.ron", &text)
}

#[test]
fn acknowledging_a_latched_stop_only_silences_and_a_reset_ends_it_once_the_condition_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let file = open_loop(&dir);
    // At 2 s the pressure is still far above 40 mmHg (the pump stopped at 1.5 s): the
    // acknowledgement is accepted, the reset refused. The pressure falls within seconds; the
    // stop holds until the reset at 60 s.
    let s = run_with(
        &file,
        r#"[
            (at_s: 2.0, command: Acknowledge("over_pressure_critical")),
            (at_s: 2.0, command: Reset("over_pressure_critical")),
            (at_s: 60.0, command: Reset("over_pressure_critical")),
        ]"#,
        &["--duration", "90s"],
    );
    let log = log_entries(&s, "over_pressure_critical");
    assert!(log.len() >= 2, "{log:?}");
    let first = log[0];
    assert!(f(&first["start_s"]) < 2.0, "{first}");
    assert_eq!(f(&first["acknowledged_s"]), 2.0);
    assert_eq!(
        f(&first["end_s"]),
        60.0,
        "ended by the reset, not by the pressure falling"
    );
    assert_eq!(f(&first["reset_s"]), 60.0);
    assert_eq!(f(&first["limit"]), 40.0);
    assert!(f(&first["value"]) > 40.0);
    assert_eq!(first["action"], "stop pump");
    // Released, the pump restarted at its command and the pressure rose through the limit again.
    assert!(f(&log[1]["start_s"]) > 60.0);
    let ops = s["operator"].as_array().unwrap();
    assert_eq!(ops[0]["command"], "acknowledge over_pressure_critical");
    assert_eq!(ops[0]["accepted"], true);
    assert_eq!(ops[1]["command"], "reset over_pressure_critical");
    assert_eq!(
        ops[1]["accepted"], false,
        "refused while the pressure is high"
    );
    assert_eq!(ops[2]["accepted"], true);

    // Without a reset the stop holds for the whole run, acknowledged or not.
    let held = run_with(
        &file,
        r#"[(at_s: 2.0, command: Acknowledge("over_pressure_critical"))]"#,
        &["--duration", "90s"],
    );
    let log = log_entries(&held, "over_pressure_critical");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["end_s"], Value::Null);
    assert_eq!(
        alarm(&held, "over_pressure_critical").unwrap()["active_at_end"],
        true
    );
}

#[test]
fn an_audio_pause_covers_only_what_sounds_and_is_bounded() {
    let file = protocol("kidney-hmp.ron");
    // Air from 1 min: the latched high `air_in_line`; with the pump stopped `no_pressure`
    // (high) follows at 73.56 s, during the pause given at 70 s: it sounds through the pause.
    let s = run_with(
        &file,
        "[(at_s: 70.0, command: PauseAudio)]",
        &["--duration", "150s", "--fault", "air@1m"],
    );
    assert_eq!(s["audio"]["pauses"], 1);
    let timeline = s["audio"]["timeline"].as_array().unwrap();
    assert_eq!(f(&timeline[0]["t_s"]), 60.02);
    assert_eq!(timeline[0]["priority"], "high");
    assert_eq!(f(&timeline[1]["t_s"]), 70.0);
    assert_eq!(timeline[1]["priority"], Value::Null, "paused");
    assert_eq!(f(&timeline[2]["t_s"]), 73.56, "no_pressure sounds at once");
    assert_eq!(timeline[2]["priority"], "high");
    assert_eq!(
        alarm(&s, "air_in_line").unwrap()["active_at_end"],
        true,
        "still shown"
    );

    // A pause with nothing sounding is refused and silences nothing that starts later.
    let early = run_with(
        &file,
        "[(at_s: 30.0, command: PauseAudio)]",
        &["--duration", "70s", "--fault", "air@1m"],
    );
    assert_eq!(early["operator"][0]["accepted"], false);
    assert_eq!(early["audio"]["pauses"], 0);
    assert_eq!(early["audio"]["sounding_priority_at_end"], "high");

    // 32 pauses, one every 10 s from 65 s: silence never lasts beyond the 120-s maximum, and
    // the signal sounds again before a new pause is accepted.
    let pauses: Vec<String> = (0..32)
        .map(|i| format!("(at_s: {}.0, command: PauseAudio)", 65 + 10 * i))
        .collect();
    let many = run_with(
        &file,
        &format!("[{}]", pauses.join(", ")),
        &["--duration", "400s", "--fault", "air@1m"],
    );
    let timeline = many["audio"]["timeline"].as_array().unwrap();
    let mut silent_since: Option<f64> = None;
    let mut silences = 0;
    for change in timeline {
        let t = f(&change["t_s"]);
        match (&change["priority"], silent_since) {
            (Value::Null, _) => silent_since = Some(t),
            (_, Some(from)) => {
                assert!(t - from <= 120.0 + 1e-9, "silent {from} to {t}");
                silences += 1;
                silent_since = None;
            }
            _ => {}
        }
    }
    assert!(silences >= 2, "{timeline:?}");
    if let Some(from) = silent_since {
        assert!(400.0 - from <= 120.0, "{timeline:?}");
    }

    // ResumeAudio ends a pause early; with no pause in force it is refused.
    let resumed = run_with(
        &file,
        "[(at_s: 62.0, command: PauseAudio), (at_s: 65.0, command: ResumeAudio), (at_s: 66.0, command: ResumeAudio)]",
        &["--duration", "70s", "--fault", "air@1m"],
    );
    let ops = resumed["operator"].as_array().unwrap();
    assert_eq!(ops[0]["accepted"], true);
    assert_eq!(ops[1]["command"], "resume audio");
    assert_eq!(ops[1]["accepted"], true);
    assert_eq!(ops[2]["accepted"], false);
    assert_eq!(resumed["audio"]["sounding_priority_at_end"], "high");
}

#[test]
fn acknowledging_silences_the_alarm_but_keeps_it_while_its_condition_lasts() {
    // Air stops the pump; with the pump stopped the pressure falls and `no_pressure` follows.
    // Each sounds until acknowledged.
    let one = run_with(
        &protocol("kidney-hmp.ron"),
        r#"[(at_s: 90.0, command: Acknowledge("air_in_line"))]"#,
        &["--duration", "150s", "--fault", "air@1m"],
    );
    assert_eq!(alarm(&one, "no_pressure").unwrap()["active_at_end"], true);
    assert_eq!(
        one["audio"]["sounding_at_end"], true,
        "no_pressure is not acknowledged"
    );
    let both = run_with(
        &protocol("kidney-hmp.ron"),
        r#"[
            (at_s: 90.0, command: Acknowledge("air_in_line")),
            (at_s: 90.0, command: Acknowledge("no_pressure")),
        ]"#,
        &["--duration", "150s", "--fault", "air@1m"],
    );
    assert_eq!(both["audio"]["sounding_at_end"], false);
    assert_eq!(alarm(&both, "air_in_line").unwrap()["active_at_end"], true);
    let entry = log_entries(&both, "air_in_line")[0];
    assert_eq!(f(&entry["acknowledged_s"]), 90.0);
    assert_eq!(entry["end_s"], Value::Null);
}

#[test]
fn setpoint_changes_stay_within_the_protocol_limits() {
    let s = run_with(
        &protocol("kidney-hmp.ron"),
        r#"[
            (at_s: 300.0, command: Setpoint(signal: "systolic_pressure", value: 40.0)),
            (at_s: 310.0, command: Setpoint(signal: "systolic_pressure", value: 28.0)),
        ]"#,
        &["--duration", "20m"],
    );
    let ops = s["operator"].as_array().unwrap();
    assert_eq!(
        ops[0]["accepted"], false,
        "40 mmHg is outside the 27-33 mmHg band"
    );
    assert_eq!(ops[1]["accepted"], true);
    assert!(alarm(&s, "over_pressure").is_none());
    // The loop tracks the new setpoint: the systolic pressure stays in its band throughout.
    assert!(f(&s["channels"]["systolic_pressure"]["in_band_fraction"]) >= 0.95);
    assert!(f(&s["channels"]["systolic_pressure"]["max"]) <= 33.0);
}

#[test]
fn the_operator_advances_holds_and_stops() {
    let nmp = protocol("kidney-nmp.ron");
    let advanced = run_with(&nmp, r#"[(at_s: 120.0, command: AdvancePhase)]"#, &[]);
    assert_eq!(advanced["phases"][1]["id"], "assessment");
    assert_eq!(f(&advanced["phases"][1]["start_s"]), 120.0);

    let held = run_with(
        &protocol("kidney-hmp.ron"),
        r#"[(at_s: 600.0, command: HoldPhase(true)), (at_s: 1200.0, command: HoldPhase(false))]"#,
        &[],
    );
    assert_eq!(held["completed"], true);
    assert!(
        (f(&held["simulated_s"]) - (21_600.0 + 600.0)).abs() < 0.02,
        "{}",
        held["simulated_s"]
    );

    let stopped = run_with(&nmp, r#"[(at_s: 300.0, command: Stop)]"#, &[]);
    assert_eq!(stopped["completed"], false);
    assert_eq!(f(&stopped["stopped_s"]), 300.0);
    assert!((f(&stopped["simulated_s"]) - 300.01).abs() < 0.02);
}

#[test]
fn an_alarm_that_stays_escalates() {
    // Too little ice: the low alarm after 5 min, medium 15 min later (kidney-hmp.ron, §4A).
    let s = run_summary(
        &protocol("kidney-hmp.ron"),
        &["--scenario", "warm_ice", "--duration", "30m"],
    );
    let entry = log_entries(&s, "ice_warm")[0];
    assert_eq!(entry["priority"], "low");
    assert_eq!(f(&entry["start_s"]), 300.0);
    assert_eq!(f(&entry["escalated_s"]), 1200.0);
}

#[test]
fn a_wrong_commands_file_is_refused_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let cmds = write(
        &dir,
        "commands.ron",
        "[\n    (at_s: 60.0, command: Acknowledge(\"air\")),\n    (at_s: 60.0, command: Setpoint(signal: \"mean_flow\", value: 1.0)),\n]\n",
    );
    let out = perfuse(&[
        "run",
        protocol("kidney-hmp.ron").to_str().unwrap(),
        "--quiet",
        "--commands",
        cmds.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(INVALID_INPUT));
    let err = stderr(&out);
    assert!(
        err.contains("commands.ron:2:27: [0].command: expected one of the alarms: air_in_line,"),
        "{err}"
    );
    assert!(
        err.contains("[1].command.signal: expected a controlled signal: systolic_pressure, found \"mean_flow\""),
        "{err}"
    );
}
