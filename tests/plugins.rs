//! Plugin loading: listing, pins, ABI and version checks, through the command line.

mod common;
use common::*;
use std::path::PathBuf;

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
    line.split_whitespace().nth(3).unwrap().to_string()
}

#[test]
fn plugins_lists_id_version_and_abi() {
    let out = perfuse(&["plugins"]);
    let text = stdout(&out);
    let kidney = text
        .lines()
        .find(|l| l.starts_with("kidney "))
        .expect("kidney listed");
    let cols: Vec<&str> = kidney.split_whitespace().collect();
    assert_eq!(&cols[..3], &["kidney", "0.1.0", "1.2"]);
    assert_eq!(cols[3].len(), 64);
    // The test fixture with a future ABI is listed as refused, not loaded.
    assert!(
        text.contains("(refused)") && text.contains("plugin ABI 2.2"),
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
    assert_eq!(out.status.code(), Some(PLUGIN_REFUSED));
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
    assert_eq!(out.status.code(), Some(INVALID_INPUT));
    assert!(stderr(&out).contains("plugin.sha256: expected 64 hexadecimal digits, found \"abc\""));
}

#[test]
fn another_abi_major_is_refused_before_any_call() {
    let (_dir, file) = with_plugin(r#"plugin: (id: "test-wrong-abi", version: "^0.1"),"#);
    let out = perfuse(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(PLUGIN_REFUSED));
    let err = stderr(&out);
    assert!(
        err.contains(
            "plugin ABI 2.2 is incompatible with the host's ABI 1.2 (the major version must match, and the plugin's minor may not be newer)"
        ),
        "{err}"
    );
}

#[test]
fn an_unmet_version_requirement_is_refused() {
    let (_dir, file) = with_plugin(r#"plugin: (id: "kidney", version: "^2"),"#);
    let out = perfuse(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(PLUGIN_REFUSED));
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
    assert_eq!(out.status.code(), Some(PLUGIN_REFUSED));
    let err = stderr(&out);
    assert!(
        err.contains("invalid plugin_params: unknown parameter `kidney_mas_g`"),
        "{err}"
    );
}
