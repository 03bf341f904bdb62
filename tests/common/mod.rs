//! Helpers shared by the end-to-end tests: the `perfuse` command, and runs driven tick by tick
//! through the library exactly as the command line wires them. The end-to-end binary uses
//! every helper, so it catches one that nothing uses; the Modbus and stall binaries, which use
//! a few, allow the rest where they include this module.

pub use perfuse::wiring::{Devices, Wiring, wire};
use perfuse_core::config;
use perfuse_core::plugin::loader;
use perfuse_core::run::Run;
use perfuse_plugin_sdk::validity;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A shipped protocol file by name.
pub fn protocol(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("protocols")
        .join(name)
}

/// `text` with each `(from, to)` of `edits` applied, every `from` found exactly once. An edit of a
/// shipped protocol that no longer matches (the protocol changed under the test) fails the test
/// here, instead of letting it run on the unedited protocol and pass without testing anything.
#[track_caller]
pub fn edit(text: &str, edits: &[(&str, &str)]) -> String {
    edits
        .iter()
        .fold(text.to_string(), |t, (from, to)| edit_n(&t, from, to, 1))
}

/// `text` with every `from` replaced by `to`, where `from` must occur exactly `times` times.
#[track_caller]
pub fn edit_n(text: &str, from: &str, to: &str, times: usize) -> String {
    assert_ne!(from, to, "an edit that changes nothing");
    let found = text.matches(from).count();
    assert_eq!(
        found, times,
        "edit of {from:?}: expected {times} match(es) in the text, found {found}"
    );
    text.replace(from, to)
}

/// A shipped protocol's text with [`edit`]s applied.
#[track_caller]
pub fn edited_protocol(name: &str, edits: &[(&str, &str)]) -> String {
    let text = std::fs::read_to_string(protocol(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    edit(&text, edits)
}

/// Writes a protocol's text into a temporary directory (kept while the guard lives).
pub fn temp_protocol(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("edited.ron");
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

/// `perfuse check` of a shipped protocol with one plugin parameter edited: refused by the
/// plugin (exit 4), with `expected` in what it says.
#[track_caller]
pub fn assert_plugin_refuses(name: &str, param_edit: (&str, &str), expected: &str) {
    let (_dir, file) = temp_protocol(&edited_protocol(name, &[param_edit]));
    let out = perfuse(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(PLUGIN_REFUSED));
    let err = stderr(&out) + &stdout(&out);
    assert!(err.contains(expected), "{err}");
}

/// The edits that make kidney HMP run the faulty test plugin with `params` (its mode and times)
/// in place of its kidney mass.
pub fn faulty_kidney(params: &str) -> [(&str, &str); 2] {
    [
        (
            r#"plugin: (id: "kidney", version: "^0.1"),"#,
            r#"plugin: (id: "faulty", version: "^0.1"),"#,
        ),
        (r#""kidney_mass_g": 150.0, // §10.2 [T]"#, params),
    ]
}

/// Kidney HMP's text `t` with its pump loop removed and the pump started at 250 mL/min: the
/// pressure rises through the 40 mmHg stop, which latches.
#[track_caller]
pub fn kidney_open_loop(t: &str) -> String {
    let loop_start =
        "                control: Some((\n                    signal: \"systolic_pressure\"";
    assert_eq!(t.matches(loop_start).count(), 1, "the pump's loop");
    let start = t.find(loop_start).unwrap_or_default();
    let close = "                )),\n";
    let end = start + t[start..].find(close).expect("the loop's end") + close.len();
    let text = format!(
        "{}                control: None,\n{}",
        &t[..start],
        &t[end..]
    );
    edit(
        &text,
        &[
            (
                "                initial: 0.0,\n            ),\n            (\n                id: \"arterial_clamp\"",
                "                initial: 250.0,\n            ),\n            (\n                id: \"arterial_clamp\"",
            ),
            (
                "setpoint: Some(Ramp(from: 0.0, to: 30.0, over_s: 30.0)),",
                "setpoint: None,",
            ),
        ],
    )
}

/// The protocol files shipped in `protocols/`. A test of "every shipped protocol" runs exactly
/// these: a file added or removed there fails [`shipped_protocols`] until it is named here.
pub const SHIPPED_PROTOCOLS: [&str; 16] = [
    "cpb-adult.ron",
    "ecmo-va.ron",
    "heart-hope.ron",
    "heart-nmp.ron",
    "hipec-mmc.ron",
    "hipec-oxaliplatin.ron",
    "hithoc.ron",
    "ilp-arm.ron",
    "ilp-leg.ron",
    "kidney-hmp.ron",
    "kidney-nmp.ron",
    "liver-dhope.ron",
    "liver-hope.ron",
    "liver-nmp.ron",
    "lung-evlp.ron",
    "ta-nrp.ron",
];

/// Every protocol file in `protocols/`, sorted by name, asserted to be [`SHIPPED_PROTOCOLS`].
pub fn shipped_protocols() -> Vec<PathBuf> {
    let mut names: Vec<String> = std::fs::read_dir(protocol(""))
        .expect("protocols/ is readable")
        .map(|e| {
            e.expect("a readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".ron"))
        .collect();
    names.sort();
    assert_eq!(names, SHIPPED_PROTOCOLS, "the protocol files in protocols/");
    names.iter().map(|n| protocol(n)).collect()
}

/// A file of the broken-protocol corpus by name.
pub fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name)
}

/// The ids of the test-only plugins (tests/fixtures).
pub const FIXTURES: [&str; 4] = ["faulty", "test-abi-1-1", "test-abi-1-3", "test-wrong-abi"];

/// The directory the test-only plugins are built in, building them on first use. They are a
/// workspace of their own (tests/fixtures), so they are never found beside the shipped binary;
/// tests name this directory with `--plugin-dir` and allow them with `--allow-untrusted`.
pub fn fixtures_dir() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let target = root.join("target/fixtures");
            let out = Command::new(env!("CARGO"))
                .args([
                    "build",
                    "--release",
                    "--locked",
                    "--quiet",
                    "--manifest-path",
                ])
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

/// The arguments that let `perfuse` find and load the test-only plugins.
pub fn fixture_args() -> Vec<String> {
    vec![
        "--plugin-dir".into(),
        fixtures_dir().to_string_lossy().into_owned(),
        "--allow-untrusted".into(),
    ]
}

/// `args` followed by [`fixture_args`].
pub fn with_fixture_args<'a>(args: &[&'a str], fixture: &'a [String]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(fixture.iter().map(String::as_str));
    all
}

/// How a test loads the plugin `plan` names: a shipped one from the release directory, a
/// test-only one from [`fixtures_dir`], explicitly allowed.
pub fn plugin_policy(plan: &perfuse_core::plan::Plan) -> loader::SearchPolicy {
    if FIXTURES.contains(&plan.plugin.id.as_str()) {
        loader::SearchPolicy::new(&[fixtures_dir()], true)
    } else {
        loader::SearchPolicy::new(&[], false)
    }
}

/// Runs the `perfuse` binary. A `run` that names no record is not recorded, so that tests never
/// leave records in the repository's `runs/`.
pub fn perfuse(args: &[&str]) -> Output {
    let chooses = |a: &&str| ["--record", "--no-record", "--resume"].contains(a);
    let mut all: Vec<&str> = args.to_vec();
    if args.first() == Some(&"run") && !args.iter().any(chooses) {
        all.push("--no-record");
    }
    // Without backtraces whatever the caller's environment: symbolising a panicking plugin's
    // backtrace can take longer than its lockstep CPU budget, which then reports it hung.
    Command::new(env!("CARGO_BIN_EXE_perfuse"))
        .args(&all)
        .env("RUST_BACKTRACE", "0")
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
    lockstep_with_labs(file, faults, seed, "[]")
}

/// As [`lockstep`], with the laboratory values of `labs` (the text of a `--labs` file) entered
/// by the operator at their times.
pub fn lockstep_with_labs(file: &Path, faults: &[&str], seed: u64, labs: &str) -> Run {
    let loaded = config::load(file).unwrap_or_else(|e| panic!("{e}"));
    let labs = config::load_labs_str(labs, Path::new("labs.ron"), &loaded.plan, f64::INFINITY)
        .unwrap_or_else(|e| panic!("{e}"));
    let policy = plugin_policy(&loaded.plan);
    let w = Wiring {
        devices: Devices::Simulator(faults.iter().map(|f| f.to_string()).collect()),
        labs,
        ..Wiring::lockstep(&policy, seed)
    };
    wired(loaded, file, w)
}

/// [`wire`]: the run built as the command line builds it, ready to be stepped.
#[track_caller]
pub fn wired(loaded: config::Loaded, file: &Path, w: Wiring<'_>) -> Run {
    wire(loaded, file, w).unwrap_or_else(|e| panic!("{}", e.message))
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

/// Persistence as the core counts it: the ticks a rule's condition held, restarted only once it
/// has been absent for longer than the clear time (the default, 2 s, in the shipped rules); an
/// unknown condition (an invalid reading) neither counts nor restarts it.
pub struct Persistence {
    pub held: u64,
    absent: u64,
    clear: u64,
    /// The tick the count began.
    pub since: Option<u64>,
}

impl Persistence {
    pub fn new(run: &Run) -> Self {
        Persistence {
            held: 0,
            absent: 0,
            clear: ticks(run, perfuse_core::config::DEFAULT_CLEAR_S),
            since: None,
        }
    }

    /// Takes the condition of one tick.
    pub fn feed(&mut self, tick: u64, cond: Option<bool>) {
        match cond {
            Some(true) => {
                if self.held == 0 {
                    self.since = Some(tick);
                }
                self.held += 1;
                self.absent = 0;
            }
            Some(false) => {
                self.absent += 1;
                if self.absent > self.clear {
                    self.held = 0;
                    self.since = None;
                }
            }
            None => self.absent = 0,
        }
    }
}

/// `signal > limit`, or None while the signal is invalid.
pub fn exceeds(run: &Run, signal: &str, limit: f64) -> Option<bool> {
    let (v, ok) = run.signal(signal).unwrap();
    (ok == validity::OK).then_some(v > limit)
}

/// Steps until alarm `id` is raised (within 2 h of simulated time) and checks it was raised
/// exactly when `signal` had been above `limit` for the rule's `persist_s`, as the core counts
/// persistence ([`Persistence`]), not a tick later or earlier; returns the tick it was raised.
pub fn fires_after_persistence(
    run: &mut Run,
    id: &str,
    signal: &str,
    limit: f64,
    persist_s: f64,
) -> u64 {
    let mut p = Persistence::new(run);
    let first = step_until(run, 7200.0, |r| {
        p.feed(r.tick() - 1, exceeds(r, signal, limit));
        r.alarms()
            .list
            .iter()
            .any(|a| a.id == id && a.first_tick.is_some())
    });
    assert_eq!(
        p.held,
        ticks(run, persist_s) + 1,
        "{id}: raised after {} ticks of its condition",
        p.held
    );
    first
}

/// Exit status of an invalid input file or option value (src/exit.rs, README "Exit status").
pub const INVALID_INPUT: i32 = 3;

/// Exit status of a plugin that could not be used (not found, refused, parameters rejected).
pub const PLUGIN_REFUSED: i32 = 4;

/// Exit status of a wrong command line (clap's).
pub const USAGE: i32 = 2;

/// Exit status of a failure of the program or its environment.
pub const INTERNAL: i32 = 1;

/// The entries of the summary's alarm log for one alarm, in order.
pub fn log_entries<'a>(s: &'a Value, id: &str) -> Vec<&'a Value> {
    s["alarm_log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["id"] == id)
        .collect()
}
