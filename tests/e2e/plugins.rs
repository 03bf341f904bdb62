//! Plugin loading through the command line: listing without running, trust (pins, the release
//! directory, `--allow-untrusted`), ABI and version checks, and the hostile cases of issue 9:
//! a library must never run before it is verified.

use crate::common::*;
use perfuse_core::plugin::loader;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `perfuse ARGS` with the environment `env` (and no inherited `PERFUSE_PLUGIN_DIR`).
fn perfuse_env(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perfuse"));
    cmd.args(args).env_remove("PERFUSE_PLUGIN_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The directory cargo built the shipped plugin libraries in (a release directory).
fn built_plugins() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_perfuse"));
    exe.parent().unwrap().join("deps")
}

const KIDNEY_LIB: &str = "libperfuse_plugin_kidney.so";

/// The HMP protocol with its `plugin: (...)` line replaced, in a temporary file.
fn with_plugin(line: &str) -> (tempfile::TempDir, PathBuf) {
    let edited = edited_protocol(
        "kidney-hmp.ron",
        &[(r#"plugin: (id: "kidney", version: "^0.1"),"#, line)],
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pinned.ron");
    std::fs::write(&file, edited).unwrap();
    (dir, file)
}

/// The line `perfuse plugins` prints for `id`.
fn listed(text: &str, id: &str) -> String {
    text.lines()
        .find(|l| l.starts_with(&format!("{id} ")))
        .unwrap_or_else(|| panic!("{id} not listed:\n{text}"))
        .to_string()
}

/// The kidney plugin's sha256 as `perfuse plugins` reports it.
fn kidney_sha256() -> String {
    let out = perfuse(&["plugins"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = listed(&stdout(&out), "kidney");
    line.split_whitespace().nth(4).unwrap().to_string()
}

#[test]
fn plugins_lists_id_version_abi_trust_and_hash_and_no_test_plugin_beside_the_binary() {
    let out = perfuse(&["plugins"]);
    let text = stdout(&out);
    let cols: Vec<String> = listed(&text, "kidney")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(&cols[..4], &["kidney", "0.1.1", "1.4", "release"]);
    assert_eq!(cols[4].len(), 64);
    assert_eq!(cols[5], built_plugins().join(KIDNEY_LIB).to_str().unwrap());
    for fixture in FIXTURES {
        assert!(!text.contains(fixture), "{fixture} listed:\n{text}");
    }
    // Named explicitly, the test plugins are listed as untrusted; the future ABI is refused
    // from its metadata record, and the ABI 1.1 library, which has none, says so.
    let fixtures = fixtures_dir();
    let out = perfuse(&["plugins", "--plugin-dir", fixtures.to_str().unwrap()]);
    let text = stdout(&out);
    let faulty = listed(&text, "faulty");
    assert!(faulty.contains(" untrusted "), "{faulty}");
    assert!(
        text.contains("(refused) refusing")
            && text.contains("libperfuse_plugin_test_wrong_abi.so: plugin ABI 2.4 is incompatible"),
        "{text}"
    );
    let old = listed(&text, "?");
    assert!(
        old.contains("libperfuse_plugin_test_abi_1_1.so (no metadata record"),
        "{old}"
    );
}

#[test]
fn listing_and_refusing_a_library_never_runs_it() {
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("opened");
    let env = [("PERFUSE_TEST_CONSTRUCTOR_MARK", mark.as_path())];
    let fixtures = fixtures_dir();
    let fixtures = fixtures.to_str().unwrap();
    let out = perfuse_env(&["plugins", "--plugin-dir", fixtures], &env);
    assert!(stdout(&out).contains("plugin ABI 2.4"), "{}", stdout(&out));
    let (_d, file) = with_plugin(r#"plugin: (id: "test-wrong-abi", version: "^0.1"),"#);
    let file = file.to_str().unwrap();
    let args = ["check", file, "--plugin-dir", fixtures, "--allow-untrusted"];
    let out = perfuse_env(&args, &env);
    assert_eq!(out.status.code(), Some(PLUGIN_REFUSED));
    assert!(stderr(&out).contains("plugin ABI 2.4"), "{}", stderr(&out));
    // The constructor never ran: the ABI was refused from the record in the file.
    assert!(!mark.exists(), "the library was opened");

    // The mark works: a program that does open the library (here the test itself) leaves it.
    let lib = Path::new(fixtures).join("libperfuse_plugin_test_wrong_abi.so");
    // SAFETY: the fixture's constructor only writes the mark file.
    unsafe { std::env::set_var("PERFUSE_TEST_CONSTRUCTOR_MARK", &mark) };
    let opened = unsafe { libloading::Library::new(&lib) }.unwrap();
    assert!(mark.exists(), "the fixture's constructor leaves its mark");
    std::mem::forget(opened);
}

#[test]
fn a_matching_pin_loads() {
    let sha = kidney_sha256();
    let (_dir, file) = with_plugin(&format!(
        r#"plugin: (id: "kidney", version: "^0.1", sha256: Some("{sha}")),"#
    ));
    let out = perfuse(&["check", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("plugin kidney 0.1.1 pinned sha256 {sha}")),
        "{}",
        stdout(&out)
    );
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
    let fixture = fixture_args();
    let out = perfuse(&with_fixture_args(
        &["check", file.to_str().unwrap()],
        &fixture,
    ));
    assert_eq!(out.status.code(), Some(PLUGIN_REFUSED));
    let err = stderr(&out);
    assert!(
        err.contains(
            "plugin ABI 2.4 is incompatible with the host's ABI 1.4 (the major version must match, and the plugin's minor may not be newer)"
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
        stderr(&out).contains("plugin `kidney` is version 0.1.1, but the protocol requires ^2")
    );
}

/// A copy of the shipped kidney plugin in a directory of its own, as a library an attacker put
/// earlier in the search path would be.
fn foreign_kidney() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        built_plugins().join(KIDNEY_LIB),
        dir.path().join(KIDNEY_LIB),
    )
    .unwrap();
    dir
}

#[test]
fn a_library_earlier_in_the_search_path_is_refused_with_its_hash_unless_pinned_or_allowed() {
    let foreign = foreign_kidney();
    let env = [("PERFUSE_PLUGIN_DIR", foreign.path())];
    let hmp = protocol("kidney-hmp.ron");
    let hmp = hmp.to_str().unwrap();
    let out = perfuse_env(&["check", hmp], &env);
    assert_eq!(out.status.code(), Some(PLUGIN_REFUSED));
    let err = stderr(&out);
    let sha = kidney_sha256();
    assert!(
        err.contains(&format!(
            "refusing to load {}: it is neither pinned by the protocol nor shipped beside perfuse (sha256 {sha})",
            foreign.path().join(KIDNEY_LIB).display()
        )) && err.contains("--allow-untrusted"),
        "{err}"
    );
    // Allowed explicitly: it loads, and the summary says so beside the hash of what ran.
    let out = perfuse_env(&["check", hmp, "--allow-untrusted"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("kidney 0.1.1 untrusted (allowed) sha256 {sha}")),
        "{}",
        stdout(&out)
    );
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("s.json");
    let args = [
        "run",
        hmp,
        "--duration",
        "1m",
        "--quiet",
        "--no-record",
        "--allow-untrusted",
        "--summary",
        summary.to_str().unwrap(),
    ];
    let out = perfuse_env(&args, &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["plugin"]["trust"], "untrusted (allowed)");
    assert_eq!(s["plugin"]["sha256"], sha.as_str());
    // Pinned by the protocol: it loads without the option.
    let (_d, pinned) = with_plugin(&format!(
        r#"plugin: (id: "kidney", version: "^0.1", sha256: Some("{sha}")),"#
    ));
    let out = perfuse_env(&["check", pinned.to_str().unwrap()], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("kidney 0.1.1 pinned"),
        "{}",
        stdout(&out)
    );
    // `perfuse plugins` lists it as untrusted.
    let out = perfuse_env(&["plugins"], &env);
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.contains(foreign.path().to_str().unwrap()))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.starts_with("kidney ") && line.contains(" untrusted "),
        "{line}"
    );
}

#[test]
fn empty_and_relative_plugin_dir_entries_never_reach_the_dynamic_loader_s_own_search() {
    let foreign = foreign_kidney();
    // `:` gives empty entries; `.`, from inside the directory, is relative.
    let out = Command::new(env!("CARGO_BIN_EXE_perfuse"))
        .args(["check", protocol("kidney-hmp.ron").to_str().unwrap()])
        .env("PERFUSE_PLUGIN_DIR", ":.:")
        .env("LD_LIBRARY_PATH", foreign.path())
        .current_dir(foreign.path())
        .output()
        .unwrap();
    // The relative entry became an absolute directory, whose library is not trusted; the empty
    // entries were ignored.
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(PLUGIN_REFUSED), "{err}");
    let expected = foreign.path().join(KIDNEY_LIB);
    assert!(
        err.contains(&format!("refusing to load {}:", expected.display())),
        "{err}"
    );
}

#[test]
fn a_huge_file_or_a_fifo_named_as_a_plugin_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join(KIDNEY_LIB);
    // 3 GB, sparse: reading it whole would take seconds and gigabytes.
    std::fs::File::create(&lib)
        .unwrap()
        .set_len(3_000_000_000)
        .unwrap();
    let hmp = protocol("kidney-hmp.ron");
    let dir_arg = dir.path().to_str().unwrap();
    let args = ["check", hmp.to_str().unwrap(), "--plugin-dir", dir_arg];
    let started = std::time::Instant::now();
    let out = perfuse(&[&args[..], &["--allow-untrusted"]].concat());
    assert_eq!(out.status.code(), Some(PLUGIN_REFUSED));
    assert!(
        stderr(&out).contains(
            "expected a plugin library (a regular file of at most 64 MiB), found a file of 3000000000 bytes"
        ),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed().as_secs_f64() < 10.0);
    // A FIFO would block a reader forever.
    std::fs::remove_file(&lib).unwrap();
    let made = Command::new("mkfifo").arg(&lib).status().unwrap();
    assert!(made.success());
    let out = perfuse(&[&args[..], &["--allow-untrusted"]].concat());
    assert_eq!(out.status.code(), Some(PLUGIN_REFUSED));
    assert!(
        stderr(&out).contains("found a FIFO (named pipe)"),
        "{}",
        stderr(&out)
    );
    // `perfuse plugins` says the same and goes on.
    let out = perfuse(&["plugins", "--plugin-dir", dir_arg]);
    assert!(
        stdout(&out).contains("(refused) cannot read") && stdout(&out).contains("\nlung "),
        "{}",
        stdout(&out)
    );
}

#[test]
fn what_loads_is_the_bytes_that_were_hashed_even_if_the_file_changes_in_place() {
    // Read and hashed, then overwritten in place (same inode) with another library, then
    // loaded: the library that runs is the one that was hashed.
    let dir = foreign_kidney();
    let path = dir.path().join(KIDNEY_LIB);
    let inspected = loader::inspect(&path).unwrap();
    let sha = inspected.sha256.clone();
    let other = fixtures_dir().join("libperfuse_plugin_test_abi_1_1.so");
    std::fs::write(&path, std::fs::read(other).unwrap()).unwrap();
    let policy = loader::SearchPolicy::new(&[], true);
    let params = [("kidney_mass_g".to_string(), 150.0)];
    let lib = loader::open_inspected(inspected, None, &params, &policy).unwrap();
    assert_eq!((lib.id.as_str(), lib.sha256.as_str()), ("kidney", &*sha));
    // Read again now, the file is the other library.
    let now = loader::open(&path, None, &[], &policy).unwrap();
    assert_eq!(now.id, "test-abi-1-1");
}

#[test]
fn a_pinned_library_swapped_while_perfuse_loads_it_never_runs_the_foreign_one() {
    // A thread keeps swapping the pinned library with a foreign one (whose constructor leaves a
    // mark), by rename and by writing in place, while perfuse checks the protocol again and
    // again: every check loads the genuine library or refuses the foreign one by its hash, and
    // the foreign code never runs.
    let dir = foreign_kidney();
    let path = dir.path().join(KIDNEY_LIB);
    let genuine = std::fs::read(&path).unwrap();
    let foreign =
        std::fs::read(fixtures_dir().join("libperfuse_plugin_test_wrong_abi.so")).unwrap();
    let sha = perfuse_core::config::sha256_hex(&genuine);
    let (_d, pinned) = with_plugin(&format!(
        r#"plugin: (id: "kidney", version: "^0.1", sha256: Some("{sha}")),"#
    ));
    let mark_dir = tempfile::tempdir().unwrap();
    let mark = mark_dir.path().join("opened");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swaps = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let swapper = {
        let (stop, swaps) = (stop.clone(), swaps.clone());
        let (path, dir) = (path.clone(), dir.path().to_path_buf());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let bytes = if i.is_multiple_of(2) {
                    &foreign
                } else {
                    &genuine
                };
                if i % 4 < 2 {
                    let tmp = dir.join("next");
                    std::fs::write(&tmp, bytes).unwrap();
                    std::fs::rename(&tmp, &path).unwrap();
                } else {
                    std::fs::write(&path, bytes).unwrap();
                }
                i += 1;
                swaps.store(i, std::sync::atomic::Ordering::Relaxed);
            }
        })
    };
    let env = [
        ("PERFUSE_PLUGIN_DIR", dir.path()),
        ("PERFUSE_TEST_CONSTRUCTOR_MARK", mark.as_path()),
    ];
    let (mut loaded, mut refused) = (0, 0);
    // At least 40 checks, and on until the swapper has swapped 40 times during them: how many
    // swaps fit in a check depends on the machine's load and the library's size.
    let mut checks = 0;
    while checks < 40 || (swaps.load(std::sync::atomic::Ordering::Relaxed) <= 40 && checks < 400) {
        checks += 1;
        let out = perfuse_env(&["check", pinned.to_str().unwrap()], &env);
        if out.status.success() {
            assert!(stdout(&out).contains(&format!("pinned sha256 {sha}")));
            loaded += 1;
        } else {
            assert_eq!(out.status.code(), Some(PLUGIN_REFUSED), "{}", stderr(&out));
            refused += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    swapper.join().unwrap();
    let swaps = swaps.load(std::sync::atomic::Ordering::Relaxed);
    assert!(!mark.exists(), "the foreign library ran");
    assert!(swaps > 40, "{swaps} swaps in {checks} checks");
    assert_eq!(loaded + refused, checks);
}

#[test]
fn one_check_loads_every_shipped_plugin_each_from_its_own_file() {
    // Each library is loaded from a memory file of its own; a later one must not be mistaken
    // for an earlier one.
    let files: Vec<String> = shipped_protocols()
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    let out = perfuse(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // kidney, liver and ilp are 0.1.1: their warm-up ends moved into the protocol files; hipec
    // and hithoc are 0.1.1: they give the dose of a protocol's drug pump.
    for (id, version) in [
        ("kidney", "0.1.1"),
        ("lung", "0.1.0"),
        ("heart", "0.1.0"),
        ("liver", "0.1.1"),
        ("ta-nrp", "0.1.0"),
        ("ilp", "0.1.1"),
        ("hipec", "0.1.1"),
        ("hithoc", "0.1.1"),
    ] {
        assert!(
            text.contains(&format!("plugin {id} {version} release sha256")),
            "{id}: {text}"
        );
    }
}

/// The HMP protocol with its `kidney_mass_g` line replaced, in a temporary file.
fn with_mass_line(line: &str) -> (tempfile::TempDir, PathBuf) {
    let edited = edited_protocol(
        "kidney-hmp.ron",
        &[(r#""kidney_mass_g": 150.0, // §10.2 [T]"#, line)],
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("params.ron");
    std::fs::write(&file, edited).unwrap();
    (dir, file)
}

#[test]
fn unknown_missing_and_out_of_range_parameters_are_refused_from_the_declaration_with_their_place() {
    let cases = [
        // `kidney_mass_g: 1e308` was accepted before the plugins declared their ranges.
        (
            r#""kidney_mass_g": 1e308,"#,
            r#"params.ron:19:26: plugin_params["kidney_mass_g"]: plugin `kidney` refuses it: expected kidney_mass_g from 20 to 1000 g, found 1e308"#,
        ),
        (
            r#""kidney_mas_g": 150.0,"#,
            r#"params.ron:19:25: plugin_params["kidney_mas_g"]: plugin `kidney` refuses it: unknown parameter `kidney_mas_g`; the plugin takes kidney_mass_g"#,
        ),
        (
            "",
            r#"params.ron:18:20: plugin_params["kidney_mass_g"]: plugin `kidney` refuses it: missing parameter `kidney_mass_g` (g from 20 to 1000), which the plugin requires"#,
        ),
    ];
    for (line, expected) in cases {
        let (dir, file) = with_mass_line(line);
        let out = perfuse(&["check", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(PLUGIN_REFUSED));
        let err = stderr(&out);
        let first = err.lines().next().unwrap_or_default();
        let prefix = format!("{}/", dir.path().display());
        assert_eq!(first.strip_prefix(&prefix), Some(expected), "{err}");
    }
    // `perfuse plugins` shows what the plugin declares.
    let out = perfuse(&["plugins"]);
    let text = stdout(&out);
    let kidney = text.lines().position(|l| l.starts_with("kidney ")).unwrap();
    let params: Vec<&str> = text.lines().skip(kidney + 1).take(1).collect();
    let params: Vec<String> = params
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(params, ["kidney_mass_g g 20 to 1000, required",]);
}

#[test]
fn every_shipped_plugin_that_takes_parameters_declares_them() {
    // Each shipped protocol's parameters are all declared by its plugin: listed under it.
    let out = perfuse(&["plugins"]);
    let text = stdout(&out);
    for path in shipped_protocols() {
        let loaded = perfuse_core::config::load(&path).unwrap();
        let plugin = &loaded.plan.plugin;
        let start = text
            .lines()
            .position(|l| l.starts_with(&format!("{} ", plugin.id)))
            .unwrap_or_else(|| panic!("{} not listed", plugin.id));
        let declared: Vec<&str> = text
            .lines()
            .skip(start + 1)
            .take_while(|l| l.starts_with("    "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        for (name, _) in &plugin.params {
            assert!(
                declared.contains(&name.as_str()),
                "{}: `{name}` not declared by `{}`",
                path.display(),
                plugin.id
            );
        }
    }
}
