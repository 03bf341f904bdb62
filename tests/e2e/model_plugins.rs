//! Simulator models from outside hal-sim: the fixture model library (tests/fixtures/test-model,
//! built with perfuse-model-sdk) named by a protocol's `simulator.library`, loaded under the
//! plugin trust rules, run, faulted, listed, and refused with located errors when wrong.

use crate::common::{edit, fixtures_dir, perfuse, protocol, stderr, stdout};
use std::path::{Path, PathBuf};

/// The shipped kidney NMP protocol with its simulator section replaced by `section` (the lines
/// from `model:` up to `default_scenario`).
fn on_model(dir: &Path, name: &str, section: &str) -> PathBuf {
    let text = std::fs::read_to_string(protocol("kidney-nmp.ron")).unwrap();
    let a = text
        .find("        model: \"kidney\",")
        .expect("kidney-nmp names its model");
    let b = text
        .find("        default_scenario: Some(\"viable\"),")
        .expect("kidney-nmp has a default scenario");
    let edited = format!("{}{section}{}", &text[..a], &text[b..]);
    assert_ne!(edited, text);
    let path = dir.join(name);
    std::fs::write(&path, edited).unwrap();
    path
}

/// The simulator section on the fixture model, with `library` and `params` as given.
fn section(model: &str, library: &str, params: &str) -> String {
    format!(
        "        model: \"{model}\",\n        library: {library},\n        params: {{ {params} }},\n        \
         scenarios: Some({{ \"viable\": {{}} }}),\n"
    )
}

fn dir_arg() -> String {
    fixtures_dir().to_string_lossy().into_owned()
}

fn library_sha256() -> String {
    let bytes = std::fs::read(fixtures_dir().join("libperfuse_model_test_model.so")).unwrap();
    perfuse_core::config::sha256_hex(&bytes)
}

#[test]
fn an_outside_model_runs_when_allowed_or_pinned_and_is_refused_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = "Some((id: \"test-model\"))";
    let file = on_model(
        tmp.path(),
        "organ.ron",
        &section("test-organ", lib, "\"r_mmhg_min_ml\": 0.33"),
    );
    let f = file.to_str().unwrap();
    let dir = dir_arg();

    let out = perfuse(&["run", f, "--duration", "20m", "--plugin-dir", &dir]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("simulator.library") && err.contains("--allow-untrusted"),
        "{err}"
    );

    let summary = crate::common::run_summary(
        &file,
        &[
            "--duration",
            "20m",
            "--plugin-dir",
            &dir,
            "--allow-untrusted",
        ],
    );
    assert_eq!(summary["ticks"], 120_000, "{summary}");

    // Pinned, it runs without --allow-untrusted; a wrong pin is refused.
    let pinned = format!(
        "Some((id: \"test-model\", sha256: Some(\"{}\")))",
        library_sha256()
    );
    let file = on_model(
        tmp.path(),
        "pinned.ron",
        &section("test-organ", &pinned, ""),
    );
    let out = perfuse(&[
        "run",
        file.to_str().unwrap(),
        "--duration",
        "10m",
        "--plugin-dir",
        &dir,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let wrong = format!(
        "Some((id: \"test-model\", sha256: Some(\"{}\")))",
        "0".repeat(64)
    );
    let file = on_model(tmp.path(), "wrong.ron", &section("test-organ", &wrong, ""));
    let out = perfuse(&[
        "run",
        file.to_str().unwrap(),
        "--duration",
        "10m",
        "--plugin-dir",
        &dir,
    ]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("does not match the pin"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn its_events_are_faults_and_its_physics_answer_them() {
    let tmp = tempfile::tempdir().unwrap();
    let file = on_model(
        tmp.path(),
        "organ.ron",
        &section("test-organ", "Some((id: \"test-model\"))", ""),
    );
    let f = file.to_str().unwrap();
    let dir = dir_arg();
    let run = |fault: &str| {
        perfuse(&[
            "run",
            f,
            "--duration",
            "40m",
            "--plugin-dir",
            &dir,
            "--allow-untrusted",
            "--fault",
            fault,
        ])
    };
    // The model's own event: the bed's resistance triples, the pressure loop's pressure alarms.
    let out = run("spasm@20m");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("alarm over_pressure [MEDIUM] first at 00:20:0"),
        "{}",
        stdout(&out)
    );
    // A fault no model has lists the model's events.
    let out = run("cramp@20m");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("spasm"), "{}", stderr(&out));
    // Air reaches its bubble detector at once: the core stops the pump and clamps the line.
    let out = run("air@20m");
    assert!(
        stdout(&out).contains("alarm air_in_line [HIGH] first at 00:20:00"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn wrong_libraries_models_and_parameters_get_located_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = dir_arg();
    let check = |name: &str, section: String| {
        let file = on_model(tmp.path(), name, &section);
        let out = perfuse(&[
            "check",
            file.to_str().unwrap(),
            "--plugin-dir",
            &dir,
            "--allow-untrusted",
        ]);
        assert!(!out.status.success());
        stderr(&out)
    };
    let lib = "Some((id: \"test-model\"))";

    let err = check(
        "missing.ron",
        section("test-organ", "Some((id: \"no-such-model\"))", ""),
    );
    assert!(
        err.contains("simulator.library: model library `no-such-model` not found")
            && err.contains("libperfuse_model_no_such_model.so"),
        "{err}"
    );

    let err = check("other.ron", section("test-organx", lib, ""));
    assert!(
        err.contains("simulator.model: model library `test-model` provides the model `test-organ`, not `test-organx`"),
        "{err}"
    );

    let err = check("unknown.ron", section("spleen", "None", ""));
    assert!(
        err.contains("unknown simulator model `spleen`; models: kidney"),
        "{err}"
    );

    let err = check(
        "range.ron",
        section("test-organ", lib, "\"r_mmhg_min_ml\": 50.0"),
    );
    assert!(
        err.contains("simulator param `r_mmhg_min_ml` = 50: must be a number from 0.01 to 20 (bed resistance)"),
        "{err}"
    );
    let err = check("name.ron", section("test-organ", lib, "\"r_inf\": 1.0"));
    assert!(
        err.contains(
            "unknown simulator param `r_inf` for model `test-organ`; allowed: r_mmhg_min_ml"
        ),
        "{err}"
    );
    let err = check(
        "pin.ron",
        section(
            "test-organ",
            "Some((id: \"test-model\", sha256: Some(\"abc\")))",
            "",
        ),
    );
    assert!(
        err.contains("simulator.library.sha256") && err.contains("64 hexadecimal digits"),
        "{err}"
    );
    // Every problem has a line and column in the file.
    assert!(err.lines().next().unwrap().contains("pin.ron:"), "{err}");
}

#[test]
fn perfuse_models_lists_a_protocols_model_library() {
    let tmp = tempfile::tempdir().unwrap();
    let file = on_model(
        tmp.path(),
        "organ.ron",
        &section("test-organ", "Some((id: \"test-model\"))", ""),
    );
    let out = perfuse(&[
        "models",
        file.to_str().unwrap(),
        "--json",
        "--plugin-dir",
        &dir_arg(),
        "--allow-untrusted",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let organ = json["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "test-organ")
        .expect("the library's model is listed");
    assert!(
        organ["origin"]
            .as_str()
            .unwrap()
            .contains("libperfuse_model_test_model.so")
    );
    assert_eq!(organ["params"][0]["name"], "r_mmhg_min_ml");
    assert_eq!(organ["params"][0]["default"], 0.33);
    assert_eq!(organ["params"][0]["unit"], "mmHg/(mL/min)");
    assert_eq!(organ["events"][0]["name"], "spasm");
    let sites: Vec<&str> = organ["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(sites.contains(&"oxygenator"), "{sites:?}");
    // The shipped models are still there.
    assert!(json["models"].as_array().unwrap().len() >= 10);
}

#[test]
fn the_example_protocol_is_kidney_nmp_on_the_test_organ() {
    // The README runs tests/fixtures/test-model/test-organ.ron: it must stay the shipped kidney
    // NMP protocol with only its simulator section on the fixture model.
    let tmp = tempfile::tempdir().unwrap();
    let expected = on_model(
        tmp.path(),
        "organ.ron",
        &edit(
            &section(
                "test-organ",
                "Some((id: \"test-model\"))",
                "\"r_mmhg_min_ml\": 0.33",
            ),
            &[(
                "scenarios: Some({ \"viable\": {} }),",
                "scenarios: Some({ \"viable\": {}, \"poor\": { \"r_mmhg_min_ml\": 1.2 } }),",
            )],
        ),
    );
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test-model/test-organ.ron");
    assert_eq!(
        std::fs::read_to_string(example).unwrap(),
        std::fs::read_to_string(expected).unwrap()
    );
}

/// Every path that builds a protocol's simulator loads its model library: `wire` (the run the
/// tests and examples build), `perfuse sweep` and `perfuse devsim`, not only `perfuse run`.
#[test]
fn a_sweep_a_devsim_and_wire_load_the_protocols_model_library() {
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test-model/test-organ.ron");
    let f = file.to_str().unwrap();
    let dir = dir_arg();

    let loaded = perfuse_core::config::load(&file).unwrap();
    let policy = perfuse_core::plugin::loader::SearchPolicy::new(&[fixtures_dir()], true);
    let w = perfuse::wiring::Wiring {
        devices: perfuse::wiring::Devices::Simulator(vec!["spasm@1m".into()]),
        duration_s: Some(120.0),
        ..perfuse::wiring::Wiring::lockstep(&policy, 1)
    };
    let run = perfuse::wiring::wire(loaded, &file, w)
        .unwrap_or_else(|e| panic!("{}", e.message))
        .run_lockstep(&Default::default());
    assert_eq!(run.tick(), 12_000);

    let out_dir = tempfile::tempdir().unwrap();
    let sweep = |extra: &[&str]| {
        let mut args = vec![
            "sweep",
            f,
            "--cases",
            "2",
            "--jobs",
            "1",
            "--duration",
            "5m",
            "--fault",
            "spasm@2m..3m",
            "--plugin-dir",
            &dir,
            "--out",
            out_dir.path().to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        perfuse(&args)
    };
    let out = sweep(&[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("simulator.library") && stderr(&out).contains("--allow-untrusted"),
        "{}",
        stderr(&out)
    );
    let out = sweep(&["--allow-untrusted"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = std::fs::read_to_string(out_dir.path().join("cases.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.contains("spasm@"), "{csv}");
    // Each case's replay command finds and trusts the libraries as the sweep did, and runs.
    let replay = csv.lines().nth(1).unwrap().rsplit(',').next().unwrap();
    assert!(
        replay.contains(&format!("--plugin-dir {dir}")) && replay.contains("--allow-untrusted"),
        "{replay}"
    );
    let words: Vec<&str> = replay.split_whitespace().skip(1).collect();
    let out = perfuse(&words);
    assert!(out.status.success(), "{replay}: {}", stderr(&out));

    // The devices of the test organ on one Modbus unit, served from its model.
    let profile = out_dir.path().join("organ-profile.ron");
    let sensor = |id: &str, reg: u16| {
        format!(
            "(id: \"{id}\", device: \"rig\", register: {reg}, type: F32, word_order: HighFirst, scale: 1.0, offset: 0.0, poll_ms: 10),"
        )
    };
    let actuator = |id: &str, reg: u16, safe: &str| {
        format!(
            "(id: \"{id}\", device: \"rig\", command_register: {reg}, delivered_register: {}, type: F32, word_order: HighFirst, scale: 1.0, offset: 0.0, poll_ms: 10, watchdog: (timeout_s: 0.2, safe: {safe})),",
            reg + 2
        )
    };
    let text = format!(
        "(devices: [(id: \"rig\", endpoint: \"127.0.0.1:5020\", unit: 1, timeout_ms: 10, framing: Tcp)],\n\
         sensors: [{}{}{}{}{}{}],\nactuators: [{}{}{}],)",
        sensor("arterial_pressure", 0),
        sensor("arterial_flow", 2),
        sensor("perfusate_temp", 4),
        sensor("reservoir_temp", 6),
        sensor("bubble", 8),
        sensor("urine_volume", 10),
        actuator("pump", 100, "Hold"),
        actuator("heater", 110, "Value(0.0)"),
        actuator("arterial_clamp", 120, "Value(1.0)"),
    );
    std::fs::write(&profile, text).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_perfuse"))
        .args([
            "devsim",
            f,
            "--profile",
            profile.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--plugin-dir",
            &dir,
            "--allow-untrusted",
            "--fault",
            "spasm@1m",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(
        first.starts_with("listening on 127.0.0.1:"),
        "{first}{}",
        stderr(&out)
    );
}
