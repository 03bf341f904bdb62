//! `perfuse check` on the shipped protocols and on a corpus of broken files: every problem is
//! reported with file:line:column, the field's path, what was expected and what was found, the
//! exit status is that of invalid input (or of a refused plugin), and nothing panics.

use crate::common::*;

#[test]
fn the_shipped_protocols_pass_the_check() {
    for name in ["kidney-hmp.ron", "kidney-nmp.ron"] {
        let out = perfuse(&["check", protocol(name).to_str().unwrap()]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains(": ok"), "{text}");
        assert!(text.contains("plugin kidney 0.1.1"), "{text}");
    }
}

/// Each broken file with the diagnostics it must produce (as substrings of stderr).
const CORPUS: &[(&str, &[&str])] = &[
    (
        "unknown_field.ron",
        &[
            "unknown_field.ron:29:157: circuit.sensors[0].colour: expected one of the fields `id`, `kind`, `site`, `range`, `stale_after_s`, `stuck_after_s`, `backup`, found an unknown field `colour`",
        ],
    ),
    (
        "nan.ron",
        &["nan.ron:29:126: circuit.sensors[0].stale_after_s: expected a finite number, found NaN"],
    ),
    (
        "infinity.ron",
        &["infinity.ron:169:63: rules[7].condition.limit: expected a finite number, found inf"],
    ),
    (
        "missing_field.ron",
        &[
            "missing_field.ron:30:13: circuit.sensors[1].stale_after_s: expected the field `stale_after_s` (a finite number), found nothing (the field is missing)",
        ],
    ),
    (
        "wrong_type.ron",
        &[
            "wrong_type.ron:109:24: rules[1].persist_s: expected a finite number, found a string \"one second\"",
        ],
    ),
    (
        "widened_limit.ron",
        &[
            "widened_limit.ron:29:103: circuit.sensors[0].range.max: expected at most the absolute maximum 400 mmHg, found 500",
        ],
    ),
    (
        "limit_outside_range.ron",
        &[
            "limit_outside_range.ron:117:66: rules[2].condition.limit: expected a limit within `systolic_pressure`'s range -20 to 150 mmHg, found 200",
        ],
    ),
    (
        "unknown_signal.ron",
        &[
            "unknown_signal.ron:178:38: rules[8].condition.signal: expected a declared sensor or estimate, or `derived.NAME` for a derived value of the plugin, found `ice_temperature`",
        ],
    ),
    (
        "duplicate_id.ron",
        &[
            "duplicate_id.ron:32:18: circuit.sensors[3].id: expected a signal id used once, found `perfusate_temp` again",
        ],
    ),
    (
        "unknown_plugin.ron",
        &[
            "unknown_plugin.ron:14:13: plugin: plugin `kidny` not found; looked for libperfuse_plugin_kidny.so",
        ],
    ),
    (
        "uncovered_sensor.ron",
        &[
            "uncovered_sensor.ron:99:24: rules[0].condition: expected a health rule (`Stale` or `Implausible`) for sensor `bubble` in every phase this rule is judged, or `core_sensor_alarms: Some(true)` to accept the core's alarm, found none",
            "uncovered_sensor.ron:178:24: rules[8].condition: expected a health rule (`Stale` or `Implausible`) for sensor `ice_temp`",
        ],
    ),
    (
        "band_at_zero_persistence_limit.ron",
        &[
            "band_at_zero_persistence_limit.ron:82:27: phases[0].targets[\"systolic_pressure\"].band: expected a band inside the limit of rule `over_pressure`, which has no persistence, found 27 to 33",
        ],
    ),
    (
        "several_stages.ron",
        &[
            "several_stages.ron:19:26: plugin_params[\"kidney_mass_g\"]: plugin `kidney` refuses it: expected kidney_mass_g from 20 to 1000 g, found 5000",
            "several_stages.ron:22:16: simulator: unknown simulator param `kidney_grams` for model `kidney`",
            "several_stages.ron:120:66: rules[2].condition.limit: expected a limit within `systolic_pressure`'s range -20 to 150 mmHg, found 200",
            "several_stages.ron: 7 problem(s)",
        ],
    ),
    (
        "syntax_error.ron",
        &["syntax_error.ron:73:11: estimates: expected `,` or `]`, found `:`"],
    ),
    (
        "several_at_once.ron",
        &[
            "several_at_once.ron:29:126: circuit.sensors[0].stale_after_s: expected a finite number, found NaN",
            "several_at_once.ron:29:157: circuit.sensors[0].colour: expected one of the fields",
            "several_at_once.ron:38:23: circuit.actuators[0].kind: expected one of `RollerPump`, `CentrifugalPump`, `Heater`, `HeaterCooler`, `Clamp`, `InfusionPump`, `TidalVolume`, `RespiratoryRate`, `Peep`, `Fio2`, `GasFlow`, found `RolerPump`",
            "several_at_once.ron:109:24: rules[1].persist_s: expected a finite number, found a string \"one second\"",
            "4 problem(s)",
        ],
    ),
];

#[test]
fn every_broken_file_gets_its_diagnostic_and_exit_status() {
    let mut seen = Vec::new();
    for (name, expected) in CORPUS {
        let out = perfuse(&["check", corpus(name).to_str().unwrap()]);
        let err = stderr(&out);
        let status = if *name == "unknown_plugin.ron" {
            PLUGIN_REFUSED
        } else {
            INVALID_INPUT
        };
        assert_eq!(out.status.code(), Some(status), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name} panicked: {err}");
        for e in *expected {
            assert!(err.contains(e), "{name}: expected\n  {e}\nin\n{err}");
        }
        seen.push(*name);
    }
    // Every file in the corpus has its expectation here.
    let dir = corpus("");
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            continue; // attacks/ has its own test (tests/e2e/attacks.rs)
        }
        let name = entry.file_name().into_string().unwrap();
        assert!(
            seen.contains(&name.as_str()),
            "{name} has no expected diagnostic"
        );
    }
}

#[test]
fn problems_of_every_stage_come_in_one_pass_sorted_by_position() {
    let out = perfuse(&["check", corpus("several_stages.ron").to_str().unwrap()]);
    let err = stderr(&out);
    // Plugin, simulator and validation problems, each found by another stage, in file order.
    let at = |s: &str| err.find(s).unwrap_or_else(|| panic!("no `{s}` in\n{err}"));
    let order = [
        at("several_stages.ron:19:26: plugin_params"),
        at("several_stages.ron:22:16: simulator:"),
        at("several_stages.ron:102:24: rules[0].condition"),
        at("several_stages.ron:120:66: rules[2].condition.limit"),
        at("several_stages.ron:181:24: rules[8].condition"),
    ];
    assert!(order.is_sorted(), "not in file order:\n{err}");
    assert_eq!(out.status.code(), Some(INVALID_INPUT), "{err}");
}

#[test]
fn run_refuses_a_broken_file_before_starting() {
    let out = perfuse(&["run", corpus("nan.ron").to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(INVALID_INPUT));
    assert!(stderr(&out).contains("expected a finite number, found NaN"));
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = perfuse(&["check", "no/such/protocol.ron"]);
    assert_eq!(out.status.code(), Some(INVALID_INPUT));
    let err = stderr(&out);
    assert!(err.contains("no/such/protocol.ron:1:1"), "{err}");
    assert!(
        err.contains("expected a readable UTF-8 protocol file"),
        "{err}"
    );
}

#[test]
fn check_gathers_the_protocol_plugin_labs_and_commands_problems_into_one_sorted_list() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    // A parameter the plugin refuses, a lab value out of range and one for a sensor that is
    // not entered by the operator, a command for an alarm that does not exist.
    let protocol = write(
        "a-ta-nrp.ron",
        &edited_protocol(
            "ta-nrp.ron",
            &[(
                "\"bsa_m2\": 1.65,\n        \"flow_index",
                "\"bsa_m2\": 9.0,\n        \"flow_index",
            )],
        ),
    );
    let commands = write(
        "c-commands.ron",
        "[\n    (at_s: 600.0, command: Acknowledge(\"no_such_alarm\")),\n]\n",
    );
    let labs = write(
        "b-labs.ron",
        "[\n    (at_s: 1800.0, sensor: \"lactate\", value: 3.1),\n    (at_s: 900.0, sensor: \"act\", value: -5.0),\n]\n",
    );
    let out = perfuse(&["check", &protocol, "--commands", &commands, "--labs", &labs]);
    assert_eq!(out.status.code(), Some(INVALID_INPUT), "{}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    let at = |file: &str, place: &str| format!("{}:{place}: ", dir.path().join(file).display());
    assert_eq!(lines.len(), 6, "{err}");
    assert!(lines[0].starts_with(&at("a-ta-nrp.ron", "26:19")), "{err}");
    assert!(
        lines[0]
            .ends_with("plugin `ta-nrp` refuses it: expected bsa_m2 from 0.2 to 3.5 m², found 9")
    );
    assert!(lines[1].starts_with(&at("b-labs.ron", "2:28")), "{err}");
    assert!(lines[1].contains("[0].sensor: expected one of the operator-entered sensors"));
    assert!(lines[2].starts_with(&at("b-labs.ron", "3:41")), "{err}");
    assert!(lines[2].contains("[1].value: expected a value within `act`'s range 0 to 1500 s"));
    assert!(lines[3].starts_with(&at("c-commands.ron", "2:28")), "{err}");
    assert!(lines[3].contains("found \"no_such_alarm\""));
    assert!(lines[4].ends_with("a-ta-nrp.ron: 4 problem(s)"), "{err}");
    // Good operator files add nothing.
    let good = write("labs.ron", "[(at_s: 900.0, sensor: \"act\", value: 480.0)]");
    let shipped = protocol_path("ta-nrp.ron");
    let out = perfuse(&["check", &shipped, "--labs", &good]);
    assert!(out.status.success(), "{}", stderr(&out));
}

fn protocol_path(name: &str) -> String {
    protocol(name).to_str().unwrap().to_string()
}

#[test]
fn the_tests_wiring_is_the_command_lines() {
    // A lockstep run built by `wire` (as the tests build theirs) ends with the summary the
    // binary writes for the same inputs.
    let file = protocol("kidney-hmp.ron");
    let cli = run_summary(
        &file,
        &["--duration", "10m", "--fault", "air@5m", "--seed", "3"],
    );
    let loaded = perfuse_core::config::load(&file).unwrap();
    let policy = plugin_policy(&loaded.plan);
    let w = Wiring {
        duration_s: Some(600.0),
        devices: Devices::Simulator(vec!["air@5m".into()]),
        ..Wiring::lockstep(&policy, 3)
    };
    let run = wired(loaded, &file, w).run_lockstep(&Default::default());
    let lib = serde_json::to_value(run.summary(0.0, 0)).unwrap();
    for key in [
        "ticks",
        "completed",
        "channels",
        "alarms",
        "alarm_log",
        "derived",
        "phases",
    ] {
        assert_eq!(lib[key], cli[key], "{key}");
    }
    assert!(!cli["alarms"].as_array().unwrap().is_empty());
}
