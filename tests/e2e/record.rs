//! The perfusion record end to end, through the command line: what a record holds, bad records
//! refused, graceful stops by signal, failing stdout, replay, resume, export, listing.

use crate::common::{perfuse, protocol, shipped_protocols, stderr, stdout};
use perfuse_record::rusqlite::Connection;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_perfuse"))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn db(path: &Path) -> Connection {
    Connection::open(path).expect("the record opens")
}

fn one<T: perfuse_record::rusqlite::types::FromSql>(conn: &Connection, sql: &str) -> T {
    conn.query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn integrity(path: &Path) {
    let ok: String = one(&db(path), "PRAGMA integrity_check");
    assert_eq!(ok, "ok", "{}", path.display());
}

/// A small deterministic generator for the kill points (seeded by the clock, printed on failure).
struct Lcg(u64);

impl Lcg {
    fn next_f64(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn seed_from_clock() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    t.as_nanos() as u64
}

#[test]
fn a_record_holds_inputs_samples_events_and_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("liver.sqlite");
    let summary = dir.path().join("summary.json");
    let out = perfuse(&[
        "run",
        s(&protocol("liver-nmp.ron")),
        "--duration",
        "20m",
        "--fault",
        "air@10m",
        "--record",
        s(&rec),
        "--summary",
        s(&summary),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Status lines print alarms as they are raised, from the frames.
    assert!(
        stdout(&out).contains("ALARM air_in_ha_line [HIGH] raised: Air in the hepatic-artery line"),
        "{}",
        stdout(&out)
    );
    integrity(&rec);
    let c = db(&rec);
    let text = std::fs::read_to_string(protocol("liver-nmp.ron")).unwrap();
    let stored: String = one(&c, "SELECT protocol_text FROM run");
    assert_eq!(stored, text);
    let faults: String = one(&c, "SELECT faults FROM run");
    assert_eq!(faults, r#"["air@10m"]"#);
    let reason: String = one(&c, "SELECT end_reason FROM run");
    assert_eq!(reason, "completed");
    // 1 Hz over 20 minutes: ticks 0, 1 s, ..., 1200 s (the last is the state at the end).
    let n: i64 = one(&c, "SELECT count(*) FROM samples");
    assert_eq!(n, 1201);
    let unit: String = one(&c, "SELECT unit FROM channels WHERE name = 'ha_pressure'");
    assert_eq!(unit, "mmHg");
    // Every alarm of the summary was recorded as raised, at the same time.
    let sum: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let alarms = sum["alarms"].as_array().unwrap();
    assert!(!alarms.is_empty());
    for a in alarms {
        let id = a["id"].as_str().unwrap();
        let t: f64 = c
            .query_row(
                "SELECT min(t_s) FROM events WHERE kind = 'alarm' AND change = 'raised' AND subject = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert!((t - a["first_s"].as_f64().unwrap()).abs() < 1e-9, "{id}");
    }
    let action: String = one(
        &c,
        "SELECT json_extract(detail, '$.action') FROM events WHERE subject = 'air_in_ha_line' AND change = 'raised'",
    );
    assert_eq!(action, "stop ha_pump, close ha_clamp");
    // `perfuse summary` gives back the summary the run wrote.
    let out = perfuse(&["summary", s(&rec)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(again, sum);
}

#[test]
fn bad_records_and_record_places_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    // Not a perfuse record: another SQLite file, and a text file.
    let other = dir.path().join("other.sqlite");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t(x)")
        .unwrap();
    let text = dir.path().join("notes.sqlite");
    std::fs::write(
        &text,
        "not a database at all, longer than a header would be ....",
    )
    .unwrap();
    for f in [&other, &text] {
        for cmd in ["replay", "summary"] {
            let out = perfuse(&[cmd, s(f)]);
            assert_eq!(out.status.code(), Some(3), "{cmd}");
            assert!(
                stderr(&out).contains("is not a perfuse record"),
                "{cmd}: {}",
                stderr(&out)
            );
        }
    }
    // A record of a newer schema: refused, naming both versions.
    let rec = dir.path().join("new.sqlite");
    let out = perfuse(&[
        "run",
        s(&protocol("kidney-hmp.ron")),
        "--duration",
        "1m",
        "--quiet",
        "--record",
        s(&rec),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    db(&rec).pragma_update(None, "user_version", 7).unwrap();
    let out = perfuse(&["summary", s(&rec)]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("record schema version 7; this perfuse reads version 1"),
        "{}",
        stderr(&out)
    );
    // An existing file and an unwritable place are refused before the run starts.
    let out = perfuse(&["run", s(&protocol("kidney-hmp.ron")), "--record", s(&rec)]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("exists already"), "{}", stderr(&out));
    let blocked = text.join("run.sqlite");
    let out = perfuse(&[
        "run",
        s(&protocol("kidney-hmp.ron")),
        "--record",
        s(&blocked),
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("cannot create its directory"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty(), "nothing ran: {}", stdout(&out));
}

/// Starts `perfuse run` in the background.
fn spawn_run(args: &[&str], stdout: Stdio) -> Child {
    bin()
        .arg("run")
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("perfuse starts")
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
fn sigint_and_sigterm_stop_the_run_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    for (sig, code, name, realtime) in [
        ("-INT", 130, "signal SIGINT", true),
        ("-TERM", 143, "signal SIGTERM", true),
        ("-TERM", 143, "signal SIGTERM", false),
    ] {
        let rec = dir.path().join(format!("{name}-{realtime}.sqlite"));
        let summary = dir.path().join(format!("{name}-{realtime}.json"));
        let kidney = protocol("kidney-hmp.ron");
        let mut args = vec![
            s(&kidney),
            "--duration",
            "6h",
            "--record",
            s(&rec),
            "--summary",
            s(&summary),
        ];
        if realtime {
            args.push("--realtime");
        }
        let child = spawn_run(&args, Stdio::null());
        std::thread::sleep(Duration::from_millis(if realtime { 1500 } else { 300 }));
        signal(&child, sig);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
        let sum: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
        assert_eq!(sum["signal"], code - 128, "{name}");
        assert_eq!(sum["completed"], false);
        assert!(sum["stopped_s"].as_f64().unwrap() < 6.0 * 3600.0);
        integrity(&rec);
        let c = db(&rec);
        let reason: String = one(&c, "SELECT end_reason FROM run");
        assert_eq!(reason, name);
        // The last command frame put every actuator in its safe state: kidney-hmp's pump off.
        let cmd: f64 = one(
            &c,
            "SELECT \"cmd.pump\" FROM samples ORDER BY tick DESC LIMIT 1",
        );
        assert_eq!(cmd, 0.0, "{name}");
    }
}

#[test]
fn a_second_sigint_exits_at_once_and_the_record_stays_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("twice.sqlite");
    let child = spawn_run(
        &[
            s(&protocol("kidney-hmp.ron")),
            "--realtime",
            "--duration",
            "1m",
            "--record",
            s(&rec),
        ],
        Stdio::null(),
    );
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, "-INT");
    signal(&child, "-INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    integrity(&rec);
}

#[test]
fn a_failing_stdout_stops_the_printing_not_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("s.json");
    let kidney = protocol("kidney-hmp.ron");
    let args = [
        s(&kidney),
        "--duration",
        "2h",
        "--status-every",
        "1s",
        "--no-record",
        "--summary",
        s(&summary),
    ];
    // A full disk.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = spawn_run(&args, Stdio::from(full))
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let sum: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(sum["completed"], true);
    assert_eq!(sum["outputs"]["failed"], 1);
    std::fs::remove_file(&summary).unwrap();
    // A pipe whose reader is gone (as with `| head -1`).
    let mut child = spawn_run(&args, Stdio::piped());
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let sum: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(sum["completed"], true);
}

#[test]
fn summary_dash_writes_the_summary_to_stdout_and_status_to_stderr() {
    let out = perfuse(&[
        "run",
        s(&protocol("kidney-hmp.ron")),
        "--duration",
        "20m",
        "--summary",
        "-",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sum: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("stdout is JSON");
    assert_eq!(sum["completed"], true);
    assert!(
        stderr(&out).contains("00:10:00 perfusion"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn every_shipped_protocol_replays_identically() {
    let dir = tempfile::tempdir().unwrap();
    let files = shipped_protocols();
    for f in &files {
        let rec = dir
            .path()
            .join(f.file_stem().unwrap())
            .with_extension("sqlite");
        let out = perfuse(&[
            "run",
            s(f),
            "--duration",
            "3m",
            "--quiet",
            "--record",
            s(&rec),
        ]);
        assert!(out.status.success(), "{}: {}", f.display(), stderr(&out));
        let out = perfuse(&["replay", s(&rec)]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}{}",
            f.display(),
            stdout(&out),
            stderr(&out)
        );
        assert!(stdout(&out).contains("replay identical"));
    }
}

#[test]
fn replay_names_the_first_difference() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("k.sqlite");
    let out = perfuse(&[
        "run",
        s(&protocol("kidney-hmp.ron")),
        "--duration",
        "5m",
        "--quiet",
        "--record",
        s(&rec),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let changed = db(&rec)
        .execute(
            "UPDATE samples SET mean_flow = 123.5 WHERE tick = 12000",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1, "the edit matched a sample");
    let out = perfuse(&["replay", s(&rec)]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("first difference at t = 120 s: sample mean_flow: recorded 123.5, replayed"),
        "{text}"
    );
}

/// Removes a record and its WAL files, to start its run afresh.
fn restart(rec: &Path) {
    std::fs::remove_file(rec).unwrap();
    let _ = std::fs::remove_file(rec.with_extension("sqlite-wal"));
    let _ = std::fs::remove_file(rec.with_extension("sqlite-shm"));
}

/// Kills (SIGKILL) a lockstep run at random points, resumes it each time from its last
/// checkpoint, and checks after every kill the file's integrity and that nothing is missing
/// before its last sample; the finished record must equal an uninterrupted run's.
#[test]
fn killed_lockstep_runs_resume_to_the_uninterrupted_record() {
    let seed = seed_from_clock();
    let mut rng = Lcg(seed);
    let dir = tempfile::tempdir().unwrap();
    let args = |rec: &Path| {
        vec![
            s(&protocol("liver-nmp.ron")).to_string(),
            "--duration".into(),
            "40m".into(),
            "--fault".into(),
            "air@25m".into(),
            "--quiet".into(),
            "--record".into(),
            s(rec).to_string(),
        ]
    };
    let whole = dir.path().join("whole.sqlite");
    let a = args(&whole);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let t0 = Instant::now();
    let out = spawn_run(&a, Stdio::null()).wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let whole_wall = t0.elapsed().as_secs_f64();
    let mut kills = 0;
    let mut summary_checked = false;
    // Chains of kills and resumes until enough kills landed (a run may finish first on a
    // machine that got faster since the uninterrupted run was timed).
    let mut chain = 0;
    while kills < 14 {
        assert!(
            chain < 10,
            "seed {seed}: only {kills} kills in {chain} chains"
        );
        chain += 1;
        let rec = dir.path().join(format!("chain{chain}.sqlite"));
        let a = args(&rec);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let mut child = spawn_run(&a, Stdio::null());
        loop {
            let at = 0.05 + rng.next_f64() * whole_wall * 0.5;
            std::thread::sleep(Duration::from_secs_f64(at));
            let finished = child.try_wait().unwrap().is_some();
            if finished {
                break;
            }
            signal(&child, "-KILL");
            child.wait().unwrap();
            integrity(&rec);
            let c = db(&rec);
            let created: bool = one(
                &c,
                "SELECT count(*) = 1 FROM sqlite_master WHERE name = 'run'",
            );
            if !created {
                // Killed while the record was being created: no tables, so not a record.
                let out = perfuse(&["run", "--resume", s(&rec)]);
                assert_eq!(out.status.code(), Some(3));
                assert!(
                    stderr(&out).contains("is not a perfuse record"),
                    "{}",
                    stderr(&out)
                );
                kills += 1;
                restart(&rec);
                child = spawn_run(&a, Stdio::null());
                continue;
            }
            let end: Option<String> = one(&c, "SELECT end_reason FROM run");
            if end.is_some() {
                // The run had just written its end when the kill came: nothing interrupted.
                child = bin()
                    .arg("--version")
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap();
                break;
            }
            kills += 1;
            // Samples every second, none missing up to the last committed one.
            let (n, last): (i64, i64) = c
                .query_row("SELECT count(*), max(tick) FROM samples", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap();
            assert_eq!(n - 1, last / 100, "seed {seed}: gaps in the samples");
            let has_checkpoint: bool = one(&c, "SELECT count(*) > 0 FROM checkpoints");
            if !has_checkpoint {
                // Killed before its first simulated minute: resume refuses, start afresh.
                let out = perfuse(&["run", "--resume", s(&rec)]);
                assert_eq!(out.status.code(), Some(3));
                assert!(stderr(&out).contains("before its first checkpoint"));
                restart(&rec);
                child = spawn_run(&a, Stdio::null());
                continue;
            }
            if !summary_checked {
                summary_checked = true;
                // An interrupted record's summary is rebuilt up to where the record ends.
                let last_t: f64 = one(&c, "SELECT max(t_s) FROM samples");
                let out = perfuse(&["summary", s(&rec)]);
                assert!(out.status.success(), "{}", stderr(&out));
                let sum: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
                assert_eq!(sum["completed"], false);
                assert!(sum["simulated_s"].as_f64().unwrap() > last_t, "{sum}");
            }
            child = bin()
                .args(["run", "--resume", s(&rec), "--quiet"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            if kills >= 5 * chain {
                break;
            }
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "seed {seed}: {}", stderr(&out));
        integrity(&rec);
        let stored = db(&whole);
        let resumed = db(&rec);
        let diff = perfuse_record::compare::first_difference(&stored, &resumed, None).unwrap();
        assert_eq!(diff, None, "seed {seed}: chain {chain}");
        let reason: String = one(&resumed, "SELECT end_reason FROM run");
        assert_eq!(reason, "completed");
    }
    assert!(summary_checked);
}

/// SIGKILL of real-time runs at random points: the file passes its integrity check, is listed
/// as interrupted, and holds every second up to at most one second before the kill.
#[test]
fn killed_realtime_runs_lose_at_most_a_second() {
    let seed = seed_from_clock();
    let mut rng = Lcg(seed);
    let dir = tempfile::tempdir().unwrap();
    for i in 0..8 {
        let rec = dir.path().join(format!("rt{i}.sqlite"));
        let child = spawn_run(
            &[
                s(&protocol("kidney-hmp.ron")),
                "--realtime",
                "--duration",
                "1m",
                "--quiet",
                "--record",
                s(&rec),
            ],
            Stdio::null(),
        );
        // Wait until the record exists, then a random time.
        while !rec.exists() {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_secs_f64(1.2 + rng.next_f64() * 1.8));
        let killed_at = perfuse_record::schema::now_unix_s();
        signal(&child, "-KILL");
        child.wait_with_output().unwrap();
        integrity(&rec);
        let c = db(&rec);
        let started: f64 = one(&c, "SELECT started_at FROM run");
        let alive_s = killed_at - started;
        let last_t: f64 = one(&c, "SELECT max(t_s) FROM samples");
        // Samples are taken every second; of those taken, at most the last second's may be
        // lost (the recorder commits them within half a second).
        assert!(
            last_t >= alive_s - 1.6,
            "seed {seed}: last sample at {last_t} s, killed after {alive_s:.2} s"
        );
        let out = perfuse(&["runs", s(dir.path())]);
        let line = stdout(&out)
            .lines()
            .find(|l| l.contains(&format!("rt{i}.sqlite")))
            .map(str::to_string)
            .unwrap();
        assert!(line.contains("interrupted"), "{line}");
    }
}

/// A real-time run killed after its first saved state resumes from that state: the phase clock
/// counts the time the controller was down, the record goes on in the same file after a
/// `resumed` event, and the run completes at its planned end.
#[test]
fn a_killed_realtime_run_resumes_from_its_saved_state() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rt.sqlite");
    let child = spawn_run(
        &[
            s(&protocol("kidney-hmp.ron")),
            "--realtime",
            "--duration",
            "20s",
            "--quiet",
            "--record",
            s(&rec),
        ],
        Stdio::null(),
    );
    while !rec.exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
    // A state is saved every 10 s of run time: kill after the first, then stay down 2 s.
    std::thread::sleep(Duration::from_secs_f64(12.0));
    signal(&child, "-KILL");
    child.wait_with_output().unwrap();
    integrity(&rec);
    let saved: i64 = one(
        &db(&rec),
        "SELECT max(tick) FROM checkpoints WHERE state IS NOT NULL",
    );
    // The state at 10 s (a later tick only if a loaded machine made the driver skip ticks).
    assert!((1000..1100).contains(&saved), "state at tick {saved}");
    let killed_tick: i64 = one(&db(&rec), "SELECT max(tick) FROM samples");
    std::thread::sleep(Duration::from_secs(2));
    // The run was on the simulator: it resumes there, never on devices, whatever it is told.
    for (extra, said) in [
        (
            ["--devices", "127.0.0.1:5020"],
            "--devices 127.0.0.1:5020: the run in",
        ),
        (
            ["--profile", "profiles/kidney-hmp.ron"],
            "--profile: a resumed run drives its devices as the profile its record keeps",
        ),
    ] {
        let out = perfuse(&["run", "--resume", s(&rec), "--quiet", extra[0], extra[1]]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(said), "{}", stderr(&out));
    }
    let out = perfuse(&["run", "--resume", s(&rec), "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    integrity(&rec);
    let c = db(&rec);
    let (resumed_tick, detail): (i64, String) = c
        .query_row(
            "SELECT tick, detail FROM events WHERE kind = 'resumed'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(info["from_state_tick"], saved);
    let down = info["downtime_s"].as_f64().unwrap();
    // Down from the state at 10 s: the 2 s or more run after it, then 2 s stopped.
    assert!((4.0..8.0).contains(&down), "{info}");
    // The event gives the time down to the millisecond: the restored tick within one of it.
    let expected = saved + (down * 100.0).round() as i64;
    assert!(
        (resumed_tick - expected).abs() <= 1,
        "resumed at tick {resumed_tick}, expected {expected}"
    );
    assert!(resumed_tick > killed_tick, "nothing recorded twice");
    let end: String = one(&c, "SELECT end_reason FROM run");
    assert_eq!(end, "completed");
    let last: i64 = one(&c, "SELECT max(tick) FROM samples");
    assert_eq!(last, 2000, "the run ends at its planned 20 s");
    let after: i64 = one(
        &c,
        &format!("SELECT count(*) FROM samples WHERE tick >= {resumed_tick}"),
    );
    assert!(after >= 5, "the resumed run recorded its samples: {after}");
}

#[test]
fn export_writes_every_table_as_csv_and_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("h.sqlite");
    let commands = dir.path().join("commands.ron");
    std::fs::write(
        &commands,
        "[(at_s: 60.0, command: PauseAudio), (at_s: 90.0, command: Setpoint(signal: \"systolic_pressure\", value: 500.0))]",
    )
    .unwrap();
    let out = perfuse(&[
        "run",
        s(&protocol("kidney-hmp.ron")),
        "--duration",
        "3m",
        "--quiet",
        "--commands",
        s(&commands),
        "--record",
        s(&rec),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = dir.path().join("csv");
    let out = perfuse(&["export", s(&rec), "--format", "csv", "--out", s(&csv)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let samples = std::fs::read_to_string(csv.join("samples.csv")).unwrap();
    let header = samples.lines().next().unwrap();
    assert!(header.starts_with("tick,t [s],phase,"), "{header}");
    assert!(header.contains("systolic_pressure [mmHg]"), "{header}");
    assert!(header.contains("cmd.pump [mL/min]"), "{header}");
    assert_eq!(samples.lines().count(), 1 + 181);
    let operator = std::fs::read_to_string(csv.join("operator.csv")).unwrap();
    // Nothing sounds at 60 s: the pause is refused, and the export says why.
    assert!(
        operator.contains("pause audio,0,\"nothing sounded, or the pause limit was reached\""),
        "{operator}"
    );
    assert!(
        operator.contains("setpoint systolic_pressure 500,0,outside the phase's band"),
        "{operator}"
    );
    for t in ["alarms", "events", "assessments"] {
        assert!(csv.join(format!("{t}.csv")).is_file(), "{t}");
    }
    let pq = dir.path().join("pq");
    let out = perfuse(&["export", s(&rec), "--format", "parquet", "--out", s(&pq)]);
    assert!(out.status.success(), "{}", stderr(&out));
    for t in ["samples", "alarms", "events", "operator", "assessments"] {
        let bytes = std::fs::read(pq.join(format!("{t}.parquet"))).unwrap();
        assert_eq!(&bytes[..4], b"PAR1", "{t}");
        assert_eq!(&bytes[bytes.len() - 4..], b"PAR1", "{t}");
    }
    let out = perfuse(&["export", s(&rec), "--format", "xlsx", "--out", s(&pq)]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("expected csv or parquet"));
}

/// The drivers' view of the outputs, through the library: a lagging real-time output loses
/// frames, counted; an output that hangs up is counted failed at its tick; control goes on.
#[test]
fn the_driver_reads_lost_frames_and_failed_outputs_between_ticks() {
    use perfuse_core::output::Delivery;
    let mut run = crate::common::lockstep(&protocol("kidney-hmp.ron"), &[], 1);
    let lagging = run.attach_output(1, 4, Delivery::Drop);
    let failing = run.attach_output(1, 4, Delivery::Drop);
    for _ in 0..10 {
        run.step_lockstep();
    }
    let h = run.read_outputs_health();
    assert_eq!(
        h.frames_lost,
        2 * (10 - 4),
        "both queues full after 4 frames"
    );
    assert_eq!(h.failed, 0);
    drop(failing);
    crate::common::step(&mut run, 5);
    let h = run.read_outputs_health();
    assert_eq!(h.failed, 1);
    assert_eq!(h.last_failure_tick, Some(10));
    // Told between ticks, the alarms raise `output_failure` in the next tick.
    crate::common::step(&mut run, 1);
    let alarm = run
        .alarms()
        .list
        .iter()
        .find(|a| a.id == "output_failure")
        .expect("the core's output alarm");
    assert!(alarm.active && alarm.technical, "{alarm:?}");
    assert_eq!(alarm.priority, perfuse_core::config::Priority::High);
    assert_eq!(run.tick(), 16, "control went on");
    assert_eq!(
        lagging.try_iter().map(|f| f.tick).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
}

/// A recorder whose disk fills up mid-run stops with the error; the run goes on to its end and
/// counts the output failed; what was committed before stays readable.
#[test]
fn a_full_disk_stops_the_recorder_not_the_run() {
    use perfuse_core::output::Delivery;
    use perfuse_record::{RecordFile, RunInputs, writer};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.sqlite");
    let mut run = crate::common::lockstep(&protocol("kidney-hmp.ron"), &[], 1);
    let inputs = RunInputs {
        protocol_path: "kidney-hmp.ron".into(),
        protocol_text: std::fs::read_to_string(protocol("kidney-hmp.ron")).unwrap(),
        seed: 1,
        sample_every_ticks: 1,
        ..RunInputs::default()
    };
    let record = RecordFile::create(&path, &run, &inputs).unwrap();
    // The database may not grow past its size now plus a few pages: a disk that fills up.
    let pages: i64 = one(&record.conn, "PRAGMA page_count");
    record
        .conn
        .pragma_update(None, "max_page_count", pages + 8)
        .unwrap();
    let rx = run.attach_output(1, 64, Delivery::Wait);
    let recorder = writer::spawn(record, rx, 0).unwrap();
    crate::common::step(&mut run, 20_000);
    assert_eq!(run.tick(), 20_000, "control went on");
    let h = run.read_outputs_health();
    assert_eq!(h.failed, 1);
    run.close_outputs();
    let written = recorder.join().unwrap();
    let error = written.error.as_deref().expect("the recorder stopped");
    assert!(error.contains("full"), "{error}");
    drop(written.record);
    integrity(&path);
    let n: i64 = one(&db(&path), "SELECT count(*) FROM samples");
    assert!(n > 0 && n < 20_000, "{n} samples kept");
}

/// Status lines are formatted from frames alone: the line of a sample tick, and the line of an
/// alarm as it is raised.
#[test]
fn status_lines_come_from_the_frames() {
    use perfuse_core::output::Delivery;
    use perfuse_core::run::status::{StatusNames, alarm_line, line};
    let mut run = crate::common::lockstep(&protocol("kidney-hmp.ron"), &["air@1m"], 1);
    let names = StatusNames::of(&run);
    let rx = run.attach_output(1000, 1024, Delivery::Wait);
    let reader = std::thread::spawn(move || rx.iter().collect::<Vec<_>>());
    crate::common::step(&mut run, 7000);
    run.close_outputs();
    let frames = reader.join().unwrap();
    let raised: Vec<String> = frames
        .iter()
        .flat_map(|f| {
            f.events()
                .iter()
                .filter_map(|e| alarm_line(&names, f.tick, e, false))
        })
        .collect();
    assert_eq!(
        raised.first().map(String::as_str),
        Some(
            "00:01:00 ALARM air_in_line [HIGH] raised: Air in the arterial line: pump stopped and arterial clamp closed"
        ),
        "{raised:?}"
    );
    let last = frames.last().unwrap();
    assert_eq!(last.tick, 7000, "the last frame is the run's end");
    let text = line(&names, last, false);
    assert!(text.starts_with("00:01:10 perfusion"), "{text}");
    assert!(
        text.contains("ALARMS: air_in_line [HIGH technical] | sound HIGH"),
        "{text}"
    );
    assert!(text.contains("systolic_pressure "), "{text}");
}
