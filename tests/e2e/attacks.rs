//! Semantic attacks: well-typed protocol files whose values would switch safety off (the hostile
//! cases of issue #9). Each file in `tests/corpus/attacks/` is a shipped protocol with one hostile
//! edit, refused by `perfuse check` with exactly the diagnostics listed here, and nothing else.

use crate::common::*;

/// Each attack with every diagnostic it must produce (whole lines of stderr, in order).
const ATTACKS: &[(&str, &[&str])] = &[
    // An ANSI escape in a HIGH alarm text cleared the screen and printed "all fine" in green.
    (
        "ansi_alarm_text.ron",
        &[
            "ansi_alarm_text.ron:123:19: rules[2].text: expected a printable single line of at most 160 characters (no control or invisible formatting characters), found \"\\u{1b}[2J\\u{1b}[H\\u{1b}[32mall fine, no alarm\\u{1b}[0m\" (the character \\u{1b})",
        ],
    ),
    // Two probes that back each other up: neither is the primary.
    (
        "backup_cycle.ron",
        &[
            "backup_cycle.ron:43:157: circuit.sensors[2].backup: expected backups without a cycle (a sensor's backup has no backup leading back to it), found `perfusate_temp` → `reservoir_temp` → `perfusate_temp`",
            "backup_cycle.ron:44:153: circuit.sensors[3].backup: expected backups without a cycle (a sensor's backup has no backup leading back to it), found `reservoir_temp` → `perfusate_temp` → `reservoir_temp`",
        ],
    ),
    // A right-to-left override reorders what the operator reads.
    (
        "bidi_override_in_name.ron",
        &[
            "bidi_override_in_name.ron:11:11: name: expected a printable single line of at most 80 characters (no control or invisible formatting characters), found \"Kidney HMP \\u{202e}(LifePort-like)\" (the character \\u{202e})",
        ],
    ),
    // A calibration gain of 1e9: the leak estimate saturates at the first count.
    (
        "calibration_gain_huge.ron",
        &[
            "calibration_gain_huge.ron:111:65: estimates[2].kind.gain: expected a gain of at most ±1.1 % per counts/s (1/1000 of the input's range may swing the output across its whole range), found 1e9",
        ],
    ),
    // A time to live shorter than a tick: every command expires before the next.
    (
        "command_ttl_below_a_tick.ron",
        &[
            "command_ttl_below_a_tick.ron:51:32: circuit.actuators[0].command_ttl_s: expected a time to live of at least 0.02 s (two ticks: a command must outlive the tick that sends the next), found 0.001",
        ],
    ),
    // A time to live of 1e300 s switches the device's watchdog off.
    (
        "command_ttl_forever.ron",
        &[
            "command_ttl_forever.ron:51:32: circuit.actuators[0].command_ttl_s: expected a command time to live of at most 10 s (the device's watchdog acts within seconds), found 1e300",
        ],
    ),
    // A control character (BEL) in an alarm id.
    (
        "control_char_id.ron",
        &[
            "control_char_id.ron:113:17: rules[1].id: expected an identifier of ASCII letters, digits, `_` and `-`, at most 64 characters, found \"over\\u{7}pressure\" (the character \\u{7})",
        ],
    ),
    // A dose cap of 1e300 mL caps nothing.
    (
        "dose_cap_huge.ron",
        &[
            "dose_cap_huge.ron:165:41: circuit.actuators[6].dose_cap.max_ml: expected a dose cap of at most 5 mL (what the pump delivers in the window at its maximum rate), found 1e300",
        ],
    ),
    // An escalation after 1e300 s never escalates.
    (
        "escalation_forever.ron",
        &[
            "escalation_forever.ron:201:31: rules[9].escalate_after_s: expected an escalation time of at most 3600 s (a lasting alarm rises within the hour), found 1e300",
        ],
    ),
    // A feed-forward of a megawatt: the heater runs flat out whatever the loop says.
    (
        "feedforward_huge.ron",
        &[
            "feedforward_huge.ron:80:34: circuit.actuators[1].control.feedforward: expected a feed-forward within ±2000 W (the actuator's absolute span), found 1000000",
        ],
    ),
    // `kp: 1e300` turns the pressure loop into an on-off switch.
    (
        "gain_huge.ron",
        &[
            "gain_huge.ron:54:25: circuit.actuators[0].control.kp: expected a gain of at most ±41170 mL/min per mmHg (1/1000 of the input's range may swing the output across its whole range), found 1e300",
        ],
    ),
    // An id longer than any display.
    (
        "id_too_long.ron",
        &[
            "id_too_long.ron:194:17: rules[9].id: expected an identifier of ASCII letters, digits, `_` and `-`, at most 64 characters, found \"iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii...\" (65 characters)",
        ],
    ),
    // `ki: 1e300`: the integral winds to a limit in one tick.
    (
        "integral_gain_huge.ron",
        &[
            "integral_gain_huge.ron:55:25: circuit.actuators[0].control.ki: expected a gain of at most ±41170 mL/min per mmHg per s (1/1000 of the input's range may swing the output across its whole range), found 1e300",
        ],
    ),
    // A lab value that stays fresh for a day hides a missing sample.
    (
        "lab_fresh_for_a_day.ron",
        &[
            "lab_fresh_for_a_day.ron:55:106: circuit.sensors[10].stale_after_s: expected a staleness time for an operator-entered value of at most 7200 s (blood samples are taken every 1-2 h), found 86400",
        ],
    ),
    // `Outside` with min > max: always alarming.
    (
        "outside_inverted.ron",
        &[
            "outside_inverted.ron:188:70: rules[8].condition.band.min: expected min below max (1), found 12",
        ],
    ),
    // `persist_s: 1e300` on `air_in_line`: air never raises an alarm.
    (
        "persist_forever.ron",
        &[
            "persist_forever.ron:108:24: rules[0].persist_s: expected a persistence of at most 900 s (an alarm that waits longer alarms nothing), found 1e300",
        ],
    ),
    // A phase of 1e300 s: the run never ends.
    (
        "phase_forever.ron",
        &[
            "phase_forever.ron:84:25: phases[0].duration_s: expected a phase duration of at most 604800 s (7 days, the longest published preservation), found 1e300",
        ],
    ),
    // Phases each under 7 days, together longer.
    (
        "phases_longer_than_a_week.ron",
        &[
            "phases_longer_than_a_week.ron:102:13: phases: expected phases lasting at most 604800 s together (7 days, the longest published preservation), found 1200000 s",
        ],
    ),
    // A rate limit of 1e300 limits nothing.
    (
        "rate_limit_huge.ron",
        &[
            "rate_limit_huge.ron:49:33: circuit.actuators[0].max_rate_per_s: expected a rate limit of at most 700000 mL/min/s (the whole absolute range in one tick; `None` for no limit), found 1e300",
        ],
    ),
    // A setpoint of 140 mmHg in a 27-33 mmHg band.
    (
        "setpoint_outside_band.ron",
        &[
            "setpoint_outside_band.ron:88:31: phases[0].targets[\"systolic_pressure\"].setpoint: expected a setpoint inside the phase's band 27 to 33 mmHg from `settle_s` on, found 140",
        ],
    ),
    // A settle time after the phase has ended: the band never counts.
    (
        "settle_after_the_phase.ron",
        &[
            "settle_after_the_phase.ron:95:31: phases[0].targets[\"perfusate_temp\"].settle_s: expected a settle time within the phase's duration 21600 s, found 99999",
        ],
    ),
    // `stale_after_s: 1e300`: a dead bubble detector is never stale.
    (
        "stale_forever.ron",
        &[
            "stale_forever.ron:41:109: circuit.sensors[4].stale_after_s: expected a staleness time for a device sensor of at most 60 s (a minute-old reading no longer describes the circuit), found 1e300",
        ],
    ),
    // A stuck time of 1e9 s: a frozen pressure reading drives the loop unseen.
    (
        "stuck_forever.ron",
        &[
            "stuck_forever.ron:37:146: circuit.sensors[0].stuck_after_s: expected a stuck time of at most 600 s (a frozen reading must not drive a loop unseen for longer), found 1e9",
        ],
    ),
    // A disagreement tolerance wider than the probes' range never trips.
    (
        "tolerance_never_exceeded.ron",
        &[
            "tolerance_never_exceeded.ron:215:86: rules[8].condition.tolerance: expected a tolerance of at most 40 °C (the sensor's range), found 1000000",
        ],
    ),
    // Two loops fighting over one signal.
    (
        "two_loops_one_signal.ron",
        &[
            "two_loops_one_signal.ron:77:29: circuit.actuators[1].control.signal: expected one control loop per signal (`pump` already controls it), found a second loop on `mean_pressure`",
            "two_loops_one_signal.ron:113:46: phases[0].targets[\"perfusate_temp\"].setpoint: expected a setpoint only for a signal that an actuator's control loop tracks, found a setpoint for `perfusate_temp`, which no loop controls",
            "two_loops_one_signal.ron:123:31: phases[1].targets[\"perfusate_temp\"].setpoint: expected a setpoint only for a signal that an actuator's control loop tracks, found a setpoint for `perfusate_temp`, which no loop controls",
        ],
    ),
];

fn attack(name: &str) -> std::path::PathBuf {
    corpus("attacks").join(name)
}

#[test]
fn every_attack_is_refused_with_its_located_diagnostics() {
    for (name, expected) in ATTACKS {
        let out = perfuse(&["check", attack(name).to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(INVALID_INPUT), "{name}: {err}");
        let dir = corpus("attacks");
        let prefix = format!("{}/", dir.display());
        let lines: Vec<String> = err
            .lines()
            .filter(|l| l.starts_with(&prefix) && !l.ends_with("problem(s)"))
            .map(|l| l[prefix.len()..].to_string())
            .collect();
        assert_eq!(lines, *expected, "{name}:\n{err}");
        // Nothing of an attack reaches the terminal raw.
        assert!(
            !err.contains('\u{1b}') && !err.contains('\u{7}'),
            "{name}: {err:?}"
        );
    }
    let mut names: Vec<String> = std::fs::read_dir(corpus("attacks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let listed: Vec<&str> = ATTACKS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names, listed,
        "every attack file has its expectation, in order"
    );
}

#[test]
fn the_shipped_protocols_pass_every_bound() {
    let names = [
        "kidney-hmp.ron",
        "kidney-nmp.ron",
        "lung-evlp.ron",
        "heart-nmp.ron",
        "heart-hope.ron",
        "liver-nmp.ron",
        "liver-hope.ron",
        "liver-dhope.ron",
        "ta-nrp.ron",
        "ilp-leg.ron",
        "ilp-arm.ron",
        "hipec-mmc.ron",
        "hipec-oxaliplatin.ron",
        "hithoc.ron",
        "cpb-adult.ron",
        "ecmo-va.ron",
    ];
    let files: Vec<String> = names
        .iter()
        .map(|n| protocol(n).to_str().unwrap().to_string())
        .collect();
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    let out = perfuse(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).matches(": ok").count(), names.len());
}

/// Writes `text` as `name` in `dir`.
fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let file = dir.path().join(name);
    std::fs::write(&file, text).unwrap();
    file
}

fn kidney_hmp() -> String {
    protocol("kidney-hmp.ron").to_str().unwrap().to_string()
}

#[test]
fn a_run_longer_than_seven_days_is_a_usage_error() {
    for duration in ["1e300", "99999999h", "169h", "0s"] {
        let out = perfuse(&["run", &kidney_hmp(), "--quiet", "--duration", duration]);
        assert_eq!(out.status.code(), Some(USAGE), "{duration}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "bad run length `{duration}`: expected more than 0 s and at most 7 days (168h, the longest published preservation)"
            )),
            "{err}"
        );
    }
    // Not a duration at all: a usage error too.
    let out = perfuse(&["run", &kidney_hmp(), "--quiet", "--duration", "1e300h"]);
    assert_eq!(out.status.code(), Some(USAGE));
    assert!(
        stderr(&out).contains("bad duration `1e300h`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_fault_beyond_the_run_is_an_error() {
    let out = perfuse(&["run", &kidney_hmp(), "--quiet", "--fault", "air@99999h"]);
    assert_eq!(out.status.code(), Some(INVALID_INPUT));
    assert_eq!(
        stderr(&out),
        "--fault air@99999h: expected a time within the run, which ends at 21600 s at the latest, found 359996400 s\n"
    );
    // With --duration the run ends earlier, and so does the time a fault may come.
    let out = perfuse(&[
        "run",
        &kidney_hmp(),
        "--quiet",
        "--duration",
        "10m",
        "--fault",
        "air@11m",
    ]);
    assert_eq!(out.status.code(), Some(INVALID_INPUT));
    assert!(stderr(&out).contains("ends at 600 s at the latest, found 660 s"));
}

#[test]
fn labs_beyond_the_run_or_outside_their_range_are_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let labs = write(
        &dir,
        "labs.ron",
        "[\n    (at_s: 600.0, sensor: \"act\", value: -1e6),\n    (at_s: 99999.0, sensor: \"act\", value: 480.0),\n]\n",
    );
    let out = perfuse(&[
        "run",
        protocol("ta-nrp.ron").to_str().unwrap(),
        "--quiet",
        "--labs",
        labs.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(INVALID_INPUT));
    let err = stderr(&out);
    assert!(
        err.contains("labs.ron:2:41: [0].value: expected a value within `act`'s range 0 to 1500 s, found -1000000"),
        "{err}"
    );
    assert!(
        err.contains("labs.ron:3:12: [1].at_s: expected a time within the run, which ends at 4200 s at the latest, found 99999 s"),
        "{err}"
    );
}

#[test]
fn lab_entries_are_in_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let labs = write(
        &dir,
        "labs.ron",
        "[\n    (at_s: 1200.0, sensor: \"lactate_lab\", value: 3.1),\n    (at_s: 600.0, sensor: \"act\", value: 480.0),\n]\n",
    );
    let s = run_summary(
        &protocol("ta-nrp.ron"),
        &["--duration", "30m", "--labs", labs.to_str().unwrap()],
    );
    assert_eq!(
        s["labs"],
        serde_json::json!([
            { "t_s": 600.0, "sensor": "act", "value": 480.0 },
            { "t_s": 1200.0, "sensor": "lactate_lab", "value": 3.1 },
        ])
    );
}

#[test]
fn commands_beyond_the_run_are_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let run = |text: &str, extra: &[&str]| {
        let cmds = write(&dir, "commands.ron", text);
        let protocol = kidney_hmp();
        let file = cmds.to_str().unwrap().to_string();
        let mut args = vec!["run", &protocol, "--quiet", "--commands", &file];
        args.extend_from_slice(extra);
        let out = perfuse(&args);
        (out.status.code(), stderr(&out))
    };
    // Beyond the protocol's 6 h.
    let (code, err) = run("[\n    (at_s: 99999.0, command: PauseAudio),\n]\n", &[]);
    assert_eq!(code, Some(INVALID_INPUT));
    assert!(
        err.contains("commands.ron:2:12: [0].at_s: expected a time within the run, which ends at 21600 s at the latest, found 99999 s"),
        "{err}"
    );
    // After a Stop.
    let (code, err) = run(
        "[\n    (at_s: 60.0, command: Stop),\n    (at_s: 61.0, command: PauseAudio),\n]\n",
        &[],
    );
    assert_eq!(code, Some(INVALID_INPUT));
    assert!(
        err.contains("commands.ron:3:12: [1].at_s: expected a time before the `Stop` at 60 s that ends the run, found 61 s"),
        "{err}"
    );
    // A hold lengthens the run by its time: 10 min of hold, so 6 h 10 min.
    let (code, err) = run(
        "[\n    (at_s: 60.0, command: HoldPhase(true)),\n    (at_s: 660.0, command: HoldPhase(false)),\n    (at_s: 22300.0, command: PauseAudio),\n]\n",
        &[],
    );
    assert_eq!(code, Some(INVALID_INPUT));
    assert!(
        err.contains("[2].at_s: expected a time within the run, which ends at 22200 s at the latest, found 22300 s"),
        "{err}"
    );
}

#[test]
fn a_hold_never_released_is_refused_unless_the_run_has_a_duration() {
    let dir = tempfile::tempdir().unwrap();
    let cmds = write(
        &dir,
        "commands.ron",
        "[\n    (at_s: 60.0, command: HoldPhase(true)),\n]\n",
    );
    let cmds = cmds.to_str().unwrap();
    let out = perfuse(&["run", &kidney_hmp(), "--quiet", "--commands", cmds]);
    assert_eq!(out.status.code(), Some(INVALID_INPUT));
    assert!(
        stderr(&out).contains("commands.ron:2:27: [0].command: expected a later `HoldPhase(false)` or `Stop` (or a `--duration`): a phase held to the end never ends the run, found no release"),
        "{}",
        stderr(&out)
    );
    // With a --duration the run ends then, held or not.
    let s = run_summary(
        &protocol("kidney-hmp.ron"),
        &["--duration", "2m", "--commands", cmds],
    );
    assert_eq!(s["simulated_s"], 120.0);
    assert_eq!(s["completed"], true);
}

/// Runs `perfuse` and fails the test if it has not exited within 10 s (a hang).
fn perfuse_within_10_s(args: &[&str]) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_perfuse"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(10) {
            child.kill().unwrap();
            panic!("perfuse {args:?} hung");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn only_regular_files_under_a_size_limit_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.ron");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let huge = dir.path().join("huge.ron");
    std::fs::write(&huge, vec![b' '; (1 << 20) + 1]).unwrap();
    let cases = [
        (fifo.to_str().unwrap(), "a FIFO (named pipe)"),
        ("/dev/zero", "a device"),
        (dir.path().to_str().unwrap(), "a directory"),
        (huge.to_str().unwrap(), "a file of 1048577 bytes"),
    ];
    for (path, found) in cases {
        // As the protocol.
        let out = perfuse_within_10_s(&["check", path]);
        assert_eq!(out.status.code(), Some(INVALID_INPUT), "{path}");
        let expected = format!(
            "{path}:1:1: (document): expected a readable UTF-8 protocol file (a regular file of at most 1024 kB), found {found}"
        );
        assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
        // As labs and commands.
        for (option, what) in [("--labs", "labs"), ("--commands", "commands")] {
            let out = perfuse_within_10_s(&["run", &kidney_hmp(), "--quiet", option, path]);
            assert_eq!(out.status.code(), Some(INVALID_INPUT), "{option} {path}");
            assert!(
                stderr(&out).contains(&format!("expected a readable UTF-8 {what} file")),
                "{}",
                stderr(&out)
            );
            assert!(stderr(&out).contains(found), "{}", stderr(&out));
        }
    }
}

#[test]
fn echoed_values_are_escaped_and_shortened() {
    let dir = tempfile::tempdir().unwrap();
    let long = "x".repeat(5000);
    let cmds = write(
        &dir,
        "commands.ron",
        &format!("[\n    (at_s: 1.0, command: Acknowledge(\"\\u{{1b}}[2J{long}\")),\n]\n"),
    );
    let out = perfuse(&[
        "run",
        &kidney_hmp(),
        "--quiet",
        "--commands",
        cmds.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(INVALID_INPUT));
    let err = stderr(&out);
    assert!(!err.contains('\u{1b}'), "{err:?}");
    let line = err.lines().next().unwrap();
    assert!(line.contains("found \"\\u{1b}[2Jxxxx"), "{line}");
    assert!(line.len() < 1000, "{} characters", line.len());
}

#[test]
fn exit_statuses_tell_the_failures_apart() {
    let code = |args: &[&str]| perfuse(args).status.code();
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("no-such-dir/summary.json");
    // Success.
    assert_eq!(code(&["check", &kidney_hmp()]), Some(0));
    // Usage: an unknown option, a missing argument.
    assert_eq!(code(&["run", &kidney_hmp(), "--colour"]), Some(USAGE));
    assert_eq!(code(&["run"]), Some(USAGE));
    assert_eq!(code(&["check"]), Some(USAGE));
    // Invalid input.
    let persist = attack("persist_forever.ron");
    assert_eq!(
        code(&["run", persist.to_str().unwrap()]),
        Some(INVALID_INPUT)
    );
    // A refused plugin.
    let unknown = corpus("unknown_plugin.ron");
    assert_eq!(
        code(&["check", unknown.to_str().unwrap()]),
        Some(PLUGIN_REFUSED)
    );
    // An invalid file outranks a refused plugin when several are checked.
    assert_eq!(
        code(&[
            "check",
            unknown.to_str().unwrap(),
            persist.to_str().unwrap()
        ]),
        Some(INVALID_INPUT)
    );
    // Internal: the summary cannot be written.
    let out = perfuse(&[
        "run",
        &kidney_hmp(),
        "--quiet",
        "--duration",
        "1s",
        "--summary",
        summary.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(INTERNAL));
    assert!(stderr(&out).contains("cannot write"), "{}", stderr(&out));
}
