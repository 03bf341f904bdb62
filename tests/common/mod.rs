//! Helpers shared by the end-to-end tests: the `perfuse` command, and runs driven tick by tick
//! through the library exactly as the command line wires them.
#![allow(dead_code)] // each test binary uses its own subset

use perfuse_core::config;
use perfuse_core::plugin::{loader, worker};
use perfuse_core::run::{Run, RunOptions};
use perfuse_hal_sim::{Fault, SimHal};
use perfuse_plugin_sdk::validity;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

/// A shipped protocol file by name.
pub fn protocol(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("protocols")
        .join(name)
}

/// A file of the broken-protocol corpus by name.
pub fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name)
}

/// The directory the test-only plugins (tests/fixtures) are built in, building them on first
/// use. They are a workspace of their own, so they are never found beside the shipped binary;
/// tests name this directory with `--plugin-dir` and `--allow-untrusted`.
pub fn fixtures_dir() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let target = root.join("target/fixtures");
            let out = Command::new(env!("CARGO"))
                .args(["build", "--release", "--locked", "--quiet"])
                .arg("--manifest-path")
                .arg(root.join("tests/fixtures/Cargo.toml"))
                .arg("--target-dir")
                .arg(&target)
                .output()
                .expect("cargo runs");
            assert!(
                out.status.success(),
                "building the test plugins failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            target.join("release")
        })
        .clone()
}

/// The arguments that let `perfuse` load the test-only plugins.
pub fn fixture_args() -> Vec<String> {
    vec![
        "--plugin-dir".into(),
        fixtures_dir().to_string_lossy().into_owned(),
        "--allow-untrusted".into(),
    ]
}

/// Runs the `perfuse` binary.
pub fn perfuse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_perfuse"))
        .args(args)
        .output()
        .expect("the perfuse binary runs")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a protocol with `perfuse run --quiet --summary` and returns the summary.
pub fn run_summary(file: &Path, extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let summary = dir.path().join("summary.json");
    let mut args = vec![
        "run",
        file.to_str().expect("UTF-8 path"),
        "--quiet",
        "--summary",
        summary.to_str().expect("UTF-8 path"),
    ];
    args.extend_from_slice(extra);
    let out = perfuse(&args);
    assert!(
        out.status.success(),
        "perfuse {args:?} failed: {}",
        stderr(&out)
    );
    let text = std::fs::read_to_string(&summary).expect("summary written");
    serde_json::from_str(&text).expect("summary is JSON")
}

/// A lockstep run of `file` with faults, ready to be stepped by the test.
pub fn lockstep(file: &Path, faults: &[&str], seed: u64) -> Run {
    let loaded = config::load(file).unwrap_or_else(|e| panic!("{e}"));
    // The test-only plugins are found and allowed where a protocol names one.
    let policy = if ["faulty", "test-wrong-abi"].contains(&loaded.plan.plugin.id.as_str()) {
        loader::SearchPolicy::new(&[fixtures_dir()], true)
    } else {
        loader::SearchPolicy::new(&[], false)
    };
    let plugin = worker::start(&loaded.plan, &policy).unwrap_or_else(|e| panic!("{e}"));
    let faults: Vec<Fault> = faults
        .iter()
        .map(|f| Fault::parse(f, &loaded.file).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect();
    let sim = SimHal::new(&loaded.file, seed, &faults).unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions {
        seed,
        scenario: None,
        duration_s: None,
        status_every_s: None,
    };
    let mut run = Run::direct(Arc::new(loaded.plan), Box::new(sim), plugin, &opts);
    run.initialize().expect("the schedule builds");
    run
}

/// Index of an actuator in the command frame.
pub fn actuator(run: &Run, id: &str) -> usize {
    run.plan
        .actuator(id)
        .unwrap_or_else(|| panic!("no actuator {id}"))
}

/// The tick at which alarm `id` first became active, if it did.
pub fn alarm_first_tick(run: &Run, id: &str) -> Option<u64> {
    run.alarms()
        .list
        .iter()
        .find(|a| a.id == id)
        .unwrap_or_else(|| panic!("no alarm {id}"))
        .first_tick
}

/// Number of ticks in `seconds` at the run's period, as the validator counts them.
pub fn ticks(run: &Run, seconds: f64) -> u64 {
    (seconds / run.plan.period_s - 1e-9).ceil() as u64
}

/// The summary's alarm entry `id`.
pub fn alarm<'a>(summary: &'a Value, id: &str) -> Option<&'a Value> {
    summary["alarms"]
        .as_array()
        .expect("alarms list")
        .iter()
        .find(|a| a["id"] == id)
}

/// Ids of the high-priority alarms in a summary.
pub fn high_alarms(summary: &Value) -> Vec<String> {
    summary["alarms"]
        .as_array()
        .expect("alarms list")
        .iter()
        .filter(|a| a["priority"] == "high")
        .map(|a| a["id"].as_str().unwrap_or("?").to_string())
        .collect()
}

pub fn f(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("expected a number, found {v}"))
}

/// Steps until `pred` holds after a tick, and returns that tick's index.
pub fn step_until(run: &mut Run, limit_s: f64, mut pred: impl FnMut(&Run) -> bool) -> u64 {
    let limit = ticks(run, limit_s);
    while run.tick() < limit {
        run.step_lockstep();
        if pred(run) {
            return run.tick() - 1;
        }
    }
    panic!("condition not reached within {limit_s} s");
}

/// Steps `n` ticks.
pub fn step(run: &mut Run, n: u64) {
    for _ in 0..n {
        run.step_lockstep();
    }
}

/// Steps until alarm `id` is raised (within 2 h of simulated time) and checks it was raised
/// exactly when `signal` had stayed above `limit` for the rule's `persist_s`, not a tick later or
/// earlier; returns the tick it was raised.
pub fn fires_after_persistence(
    run: &mut Run,
    id: &str,
    signal: &str,
    limit: f64,
    persist_s: f64,
) -> u64 {
    let mut held = Vec::new();
    let start = run.tick() as usize;
    let first = step_until(run, 7200.0, |r| {
        let (v, ok) = r.signal(signal).unwrap();
        held.push(ok == validity::OK && v > limit);
        r.alarms()
            .list
            .iter()
            .any(|a| a.id == id && a.first_tick.is_some())
    }) as usize;
    let persist = ticks(run, persist_s) as usize;
    let last = first - start;
    assert_eq!(held.len(), last + 1);
    assert!(
        held[last - persist..=last].iter().all(|&h| h),
        "{id}: not held"
    );
    assert!(!held[last - persist - 1], "{id}: late");
    first as u64
}
