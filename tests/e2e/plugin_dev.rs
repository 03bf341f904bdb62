//! An outside developer's workflow: `perfuse new plugin`, build, check, pin, run; and `perfuse
//! pin` on its own.

use crate::common::*;
use std::path::Path;
use std::process::Command;

/// Runs cargo in the new crate. Its builds share one target directory under this checkout's
/// `target/`, so the SDK is compiled once across test runs.
fn cargo(dir: &Path, target: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .expect("cargo runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "cargo {args:?} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn a_new_plugin_builds_checks_pins_and_runs_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("va-ecmo");
    let d = dir.to_str().unwrap();
    let out = perfuse(&["new", "plugin", "va-ecmo", "--dir", d]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("created plugin `va-ecmo`"));
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/sdk");
    let sdk = sdk.canonicalize().unwrap();
    assert!(
        manifest.contains(&format!("path = \"{}\"", sdk.display())),
        "{manifest}"
    );

    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/new-plugin");
    let tests = cargo(&dir, &target, &["test", "--release", "--quiet"]);
    assert!(
        tests.contains("3 passed"),
        "the skeleton's unit tests: {tests}"
    );
    cargo(&dir, &target, &["build", "--release", "--quiet"]);
    let libs = target.join("release");
    let libs = libs.to_str().unwrap();
    let file = dir.join("va-ecmo.ron");
    let f = file.to_str().unwrap();

    // At once: with --allow-untrusted, or pinned.
    let out = perfuse(&["check", f, "--plugin-dir", libs, "--allow-untrusted"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("plugin va-ecmo 0.1.0 untrusted (allowed)"));
    let out = perfuse(&["check", f, "--plugin-dir", libs]);
    assert_eq!(out.status.code(), Some(PLUGIN_REFUSED), "{}", stderr(&out));
    assert!(stderr(&out).contains("neither pinned"), "{}", stderr(&out));

    let before = std::fs::read_to_string(&file).unwrap();
    let out = perfuse(&["pin", f, "--plugin-dir", libs]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = std::fs::read_to_string(&file).unwrap();
    let sha = perfuse_core::config::sha256_hex(
        &std::fs::read(target.join("release/libperfuse_plugin_va_ecmo.so")).unwrap(),
    );
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed,
        [(
            "    plugin: (id: \"va-ecmo\", version: \"^0.1\"),",
            format!("    plugin: (id: \"va-ecmo\", version: \"^0.1\", sha256: Some(\"{sha}\")),")
                .as_str()
        )]
    );
    assert_eq!(before.lines().count(), after.lines().count());

    let out = perfuse(&["check", f, "--plugin-dir", libs]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("plugin va-ecmo 0.1.0 pinned"));
    let out = perfuse(&["run", f, "--plugin-dir", libs, "--duration", "10m"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out) + &stderr(&out);
    assert!(text.contains("completed after 00:10:00"), "{text}");
    assert!(text.contains("flow_index_ml_min_100g"), "{text}");
}

#[test]
fn new_refuses_a_bad_id_and_a_directory_in_use() {
    let tmp = tempfile::tempdir().unwrap();
    let out = perfuse(&["new", "plugin", "VA ECMO"]);
    assert_eq!(out.status.code(), Some(USAGE));
    assert!(
        stderr(&out).contains("`VA ECMO` is not a plugin id"),
        "{}",
        stderr(&out)
    );
    std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    let d = tmp.path().to_str().unwrap();
    let out = perfuse(&["new", "plugin", "va-ecmo", "--dir", d]);
    assert_eq!(out.status.code(), Some(INVALID_INPUT));
    assert!(stderr(&out).contains("exists and is not an empty directory"));
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "nothing written beside the user's file");
}

#[test]
fn pin_writes_the_found_librarys_sha256_and_refuses_a_missing_plugin() {
    let tmp = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(protocol("kidney-hmp.ron")).unwrap();
    let file = tmp.path().join("kidney.ron");
    std::fs::write(&file, &shipped).unwrap();
    let f = file.to_str().unwrap();
    let out = perfuse(&["pin", f]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    let lib = said
        .rsplit_once(" (")
        .and_then(|(_, p)| p.trim_end().strip_suffix(')'))
        .unwrap_or_else(|| panic!("no library path in {said}"));
    let sha = perfuse_core::config::sha256_hex(&std::fs::read(lib).unwrap());
    let pinned = std::fs::read_to_string(&file).unwrap();
    assert_ne!(pinned, shipped, "the edit matched");
    assert_eq!(
        pinned,
        edit(
            &shipped,
            &[(
                "plugin: (id: \"kidney\", version: \"^0.1\"),",
                &format!("plugin: (id: \"kidney\", version: \"^0.1\", sha256: Some(\"{sha}\")),"),
            )]
        ),
        "only the plugin section changed"
    );
    let out = perfuse(&["check", f]);
    assert!(
        stdout(&out).contains("plugin kidney 0.1.1 pinned"),
        "{}",
        stderr(&out)
    );
    let out = perfuse(&["pin", f]);
    assert!(stdout(&out).contains("already pinned"));

    // Re-pinned when the pin is another library's; refused when no library is found.
    let stale = edit(&pinned, &[(&sha, &"0".repeat(64))]);
    std::fs::write(&file, &stale).unwrap();
    assert!(perfuse(&["pin", f]).status.success());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), pinned);
    let missing = edit(&shipped, &[("id: \"kidney\"", "id: \"no-such-plugin\"")]);
    std::fs::write(&file, &missing).unwrap();
    let out = perfuse(&["pin", f]);
    assert_eq!(out.status.code(), Some(PLUGIN_REFUSED));
    assert!(
        stderr(&out).contains("plugin `no-such-plugin` not found"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        missing,
        "unchanged"
    );
}
