//! Semantic attacks: well-typed protocol files whose values would switch safety off (the hostile
//! cases of issue #9). Each file in `tests/corpus/attacks/` is a shipped protocol with one hostile
//! edit, refused by `perfuse check` with exactly the diagnostics listed here, and nothing else.

mod common;
use common::*;

/// Each attack with every diagnostic it must produce (whole lines of stderr, in order).
const ATTACKS: &[(&str, &[&str])] = &[
    // An ANSI escape in a HIGH alarm text cleared the screen and printed "all fine" in green.
    (
        "ansi_alarm_text.ron",
        &[
            "ansi_alarm_text.ron:123:19: rules[2].text: expected a printable single line of at most 160 characters (no control characters), found \"\\u{1b}[2J\\u{1b}[H\\u{1b}[32mall fine, no alarm\\u{1b}[0m\" (the character \\u{1b})",
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
    // A time to live of 1e300 s switches the device's watchdog off.
    (
        "command_ttl_forever.ron",
        &[
            "command_ttl_forever.ron:51:32: circuit.actuators[0].command_ttl_s: expected a command time to live of at most 10 s, found 1e300",
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
            "dose_cap_huge.ron:165:41: circuit.actuators[6].dose_cap.max_ml: expected a dose cap (what the pump delivers in the window at its maximum rate) of at most 5 mL, found 1e300",
        ],
    ),
    // An escalation after 1e300 s never escalates.
    (
        "escalation_forever.ron",
        &[
            "escalation_forever.ron:201:31: rules[9].escalate_after_s: expected an escalation time of at most 3600 s, found 1e300",
        ],
    ),
    // `kp: 1e300` turns the pressure loop into an on-off switch.
    (
        "gain_huge.ron",
        &[
            "gain_huge.ron:54:25: circuit.actuators[0].control.kp: expected a gain of at most ±41170 mL/min per mmHg (1/1000 of the input's range may swing the output across its whole range), found 1e300",
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
            "persist_forever.ron:108:24: rules[0].persist_s: expected a persistence of at most 900 s, found 1e300",
        ],
    ),
    // A phase of 1e300 s: the run never ends.
    (
        "phase_forever.ron",
        &[
            "phase_forever.ron:84:25: phases[0].duration_s: expected a phase duration (7 days, the longest published preservation) of at most 604800 s, found 1e300",
        ],
    ),
    // A rate limit of 1e300 limits nothing.
    (
        "rate_limit_huge.ron",
        &[
            "rate_limit_huge.ron:49:33: circuit.actuators[0].max_rate_per_s: expected a rate limit (the whole absolute range in one tick; `None` for no limit) of at most 700000 mL/min/s, found 1e300",
        ],
    ),
    // A setpoint of 140 mmHg in a 27-33 mmHg band.
    (
        "setpoint_outside_band.ron",
        &[
            "setpoint_outside_band.ron:88:31: phases[0].targets[\"systolic_pressure\"].setpoint: expected a setpoint inside the phase's band 27 to 33 mmHg from `settle_s` on, found 140",
        ],
    ),
    // `stale_after_s: 1e300`: a dead bubble detector is never stale.
    (
        "stale_forever.ron",
        &[
            "stale_forever.ron:41:109: circuit.sensors[4].stale_after_s: expected a staleness time for a device sensor of at most 60 s, found 1e300",
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
