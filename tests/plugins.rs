//! Plugin loading: listing, pins, ABI and version checks, through the command line.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `perfuse ARGS` with environment `env`.
fn perfuse_env(args: &[&str], env: &[(&str, &Path)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perfuse"));
    cmd.args(args).env_remove("PERFUSE_PLUGIN_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The directory cargo built the plugin libraries in for these tests.
fn built_plugins() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_perfuse"));
    exe.parent().unwrap().join("deps")
}

/// The HMP protocol with its `plugin: (...)` line replaced, in a temporary file.
fn with_plugin(line: &str) -> (tempfile::TempDir, PathBuf) {
    let text = std::fs::read_to_string(protocol("kidney-hmp.ron")).unwrap();
    let text = text.replace(r#"plugin: (id: "kidney", version: "^0.1"),"#, line);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pinned.ron");
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

/// The kidney plugin's sha256 as `perfuse plugins` reports it.
fn kidney_sha256() -> String {
    let out = perfuse(&["plugins"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("kidney "))
        .unwrap_or_else(|| panic!("kidney not listed:\n{text}"));
    line.split_whitespace().nth(4).unwrap().to_string()
}

#[test]
fn plugins_lists_id_version_and_abi() {
    let out = perfuse(&["plugins"]);
    let text = stdout(&out);
    // No test plugin is found beside the shipped binary.
    assert!(
        !text.contains("faulty") && !text.contains("wrong"),
        "{text}"
    );
    let fixtures = fixtures_dir();
    let out = perfuse(&["plugins", "--plugin-dir", fixtures.to_str().unwrap()]);
    let text = stdout(&out);
    let kidney = text
        .lines()
        .find(|l| l.starts_with("kidney "))
        .expect("kidney listed");
    let cols: Vec<&str> = kidney.split_whitespace().collect();
    assert_eq!(&cols[..4], &["kidney", "0.1.0", "1.1", "release"]);
    assert_eq!(cols[4].len(), 64);
    // The test fixture with a future ABI is listed as refused, not loaded.
    assert!(
        text.contains("(refused)") && text.contains("plugin ABI 2.1"),
        "{text}"
    );
}

#[test]
fn a_matching_pin_loads() {
    let sha = kidney_sha256();
    let (_dir, file) = with_plugin(&format!(
        r#"plugin: (id: "kidney", version: "^0.1", sha256: Some("{sha}")),"#
    ));
    let out = perfuse(&["check", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_wrong_pin_is_refused_showing_both_hashes() {
    let pin = "0".repeat(64);
    let (_dir, file) = with_plugin(&format!(
        r#"plugin: (id: "kidney", version: "^0.1", sha256: Some("{pin}")),"#
    ));
    let out = perfuse(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("its sha256 does not match the pin"), "{err}");
    assert!(err.contains(&format!("pinned: {pin}")), "{err}");
    assert!(
        err.contains(&format!("actual: {}", kidney_sha256())),
        "{err}"
    );
}

#[test]
fn a_malformed_pin_is_a_validation_error() {
    let (_dir, file) =
        with_plugin(r#"plugin: (id: "kidney", version: "^0.1", sha256: Some("abc")),"#);
    let out = perfuse(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("plugin.sha256: expected 64 hexadecimal digits, found \"abc\""));
}

#[test]
fn another_abi_major_is_refused_before_any_call() {
    let (_dir, file) = with_plugin(r#"plugin: (id: "test-wrong-abi", version: "^0.1"),"#);
    let fixtures = fixtures_dir();
    let dir = fixtures.to_str().unwrap();
    let out = perfuse(&[
        "check",
        file.to_str().unwrap(),
        "--plugin-dir",
        dir,
        "--allow-untrusted",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(
            "plugin ABI 2.1 is incompatible with the host's ABI 1.1 (the major version must match, and the plugin's minor may not be newer)"
        ),
        "{err}"
    );
}

#[test]
fn an_unmet_version_requirement_is_refused() {
    let (_dir, file) = with_plugin(r#"plugin: (id: "kidney", version: "^2"),"#);
    let out = perfuse(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("plugin `kidney` is version 0.1.0, but the protocol requires ^2")
    );
}

#[test]
fn the_plugin_rejects_bad_parameters_with_its_reason() {
    let text = std::fs::read_to_string(protocol("kidney-hmp.ron")).unwrap();
    let text = text.replace(
        r#""kidney_mass_g": 150.0, // §10.2 [T]"#,
        r#""kidney_mas_g": 150.0,"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("params.ron");
    std::fs::write(&file, text).unwrap();
    let out = perfuse(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    // The host refuses it from the parameters the library declares, before opening it.
    assert!(
        err.contains("plugin_params.kidney_mas_g: not a parameter of plugin `kidney`; it declares kidney_mass_g, warm_threshold_c, warm_hold_s"),
        "{err}"
    );
}

/// The HMP protocol with its kidney mass replaced by `value`, checked.
fn check_kidney_mass(value: &str) -> std::process::Output {
    let text = std::fs::read_to_string(protocol("kidney-hmp.ron")).unwrap();
    let edited = text.replace(
        r#""kidney_mass_g": 150.0, // §10.2 [T]"#,
        &format!(r#""kidney_mass_g": {value},"#),
    );
    assert_ne!(edited, text);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mass.ron");
    std::fs::write(&file, edited).unwrap();
    perfuse(&["check", file.to_str().unwrap()])
}

#[test]
fn a_parameter_outside_its_declared_range_is_refused() {
    let out = check_kidney_mass("1e300");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("plugin_params.kidney_mass_g: 1e300 g is outside the range 20 ..= 600 g plugin `kidney` declares"),
        "{err}"
    );
    assert!(check_kidney_mass("600.0").status.success());
}

#[test]
fn plugins_shows_each_declared_parameter_with_unit_range_and_default() {
    let text = stdout(&perfuse(&["plugins"]));
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("kidney "))
        .expect("kidney listed");
    let params: Vec<Vec<&str>> = lines[at + 1..at + 4]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        params[0],
        [
            "param",
            "kidney_mass_g",
            "g",
            "20",
            "..=",
            "600,",
            "required"
        ]
    );
    assert_eq!(
        params[2],
        [
            "param",
            "warm_hold_s",
            "s",
            "0",
            "..=",
            "1800,",
            "default",
            "60"
        ]
    );
}

#[test]
fn listing_and_refusing_a_library_never_runs_it() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("opened");
    let env = [("PERFUSE_TEST_CONSTRUCTOR_MARKER", marker.as_path())];
    let fixtures = fixtures_dir();
    let out = perfuse_env(
        &["plugins", "--plugin-dir", fixtures.to_str().unwrap()],
        &env,
    );
    assert!(stdout(&out).contains("plugin ABI 2.1"), "{}", stdout(&out));
    let (_d, file) = with_plugin(r#"plugin: (id: "test-wrong-abi", version: "^0.1"),"#);
    let args = [
        "check",
        file.to_str().unwrap(),
        "--plugin-dir",
        fixtures.to_str().unwrap(),
    ];
    let out = perfuse_env(&[&args[..], &["--allow-untrusted"]].concat(), &env);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("plugin ABI 2.1"), "{}", stderr(&out));
    // The constructor did not run: the ABI was refused from the metadata record in the file.
    assert!(!marker.exists(), "the library was opened");
}

/// A copy of the shipped kidney plugin in a directory of its own (as an attacker's library
/// earlier in the search path would be).
fn foreign_kidney() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let name = "libperfuse_plugin_kidney.so";
    std::fs::copy(built_plugins().join(name), dir.path().join(name)).unwrap();
    dir
}

#[test]
fn a_library_outside_the_release_is_refused_with_its_hash_unless_pinned_or_allowed() {
    let foreign = foreign_kidney();
    let env = [("PERFUSE_PLUGIN_DIR", foreign.path())];
    let hmp = protocol("kidney-hmp.ron");
    let out = perfuse_env(&["check", hmp.to_str().unwrap()], &env);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let sha = kidney_sha256();
    assert!(
        err.contains("neither pinned by the protocol nor shipped beside perfuse")
            && err.contains(&sha)
            && err.contains("--allow-untrusted"),
        "{err}"
    );
    // Allowed explicitly: it loads, and the summary records what ran.
    let out = perfuse_env(&["check", hmp.to_str().unwrap(), "--allow-untrusted"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("untrusted (allowed)"),
        "{}",
        stdout(&out)
    );
    // Pinned: it loads without the option.
    let (_d, pinned) = with_plugin(&format!(
        r#"plugin: (id: "kidney", version: "^0.1", sha256: Some("{sha}")),"#
    ));
    let out = perfuse_env(&["check", pinned.to_str().unwrap()], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("kidney 0.1.0 pinned"),
        "{}",
        stdout(&out)
    );
    // `perfuse plugins` shows it as untrusted.
    let out = perfuse_env(&["plugins"], &env);
    let line = stdout(&out)
        .lines()
        .find(|l| l.contains(foreign.path().to_str().unwrap()))
        .map(str::to_string)
        .unwrap_or_default();
    assert!(
        line.starts_with("kidney ") && line.contains(" untrusted "),
        "{line}"
    );
}

#[test]
fn empty_and_relative_plugin_dir_entries_never_reach_the_loader_s_own_search() {
    let foreign = foreign_kidney();
    // `:` gives two empty entries; `.` from inside the directory is relative.
    let out = Command::new(env!("CARGO_BIN_EXE_perfuse"))
        .args(["check", protocol("kidney-hmp.ron").to_str().unwrap()])
        .env("PERFUSE_PLUGIN_DIR", ":.:")
        .env("LD_LIBRARY_PATH", foreign.path())
        .current_dir(foreign.path())
        .output()
        .unwrap();
    // The relative entry became an absolute directory, whose library is not trusted (and the
    // empty entries did not hand the name to the loader's LD_LIBRARY_PATH search).
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let path = err
        .split("refusing to load ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("{err}"));
    assert!(Path::new(path).is_absolute(), "{err}");
    assert!(path.starts_with(foreign.path().to_str().unwrap()), "{err}");
}

#[test]
fn one_check_loads_every_shipped_plugin_each_from_its_own_file() {
    // Each library is loaded as /proc/self/fd/N: a later one must not be mistaken for an earlier
    // one whose descriptor number it reuses.
    let dir = protocol("");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    let out = perfuse(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for id in [
        "kidney", "lung", "heart", "liver", "ta-nrp", "ilp", "hipec", "hithoc",
    ] {
        assert!(
            text.contains(&format!("plugin {id} 0.1.0 release")),
            "{id}: {text}"
        );
    }
}
