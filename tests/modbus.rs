//! Real devices rehearsed across processes: `perfuse devsim` serves the simulator as the Modbus
//! devices of a profile on loopback, `perfuse run --hal modbus --realtime` drives them. Each
//! test runs in real time (the two protocol runs 60 s each), one at a time: on a 2-core machine
//! several real-time controllers and devsims at once stall each other's link threads past a
//! sensor's 0.1-s staleness, which is what the alarms are for but not what these tests measure.

#[allow(dead_code)] // this binary uses a few of the shared helpers
mod common;
use common::*;
use perfuse_core::config;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Taken by every test for its whole length (see the module's comment).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn profile(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("profiles")
        .join(name)
}

/// Lines a child printed, each with when it arrived.
type Lines = Arc<Mutex<Vec<(Instant, String)>>>;

fn collect(r: impl std::io::Read + Send + 'static) -> Lines {
    let lines: Lines = Arc::default();
    let l = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            l.lock().unwrap().push((Instant::now(), line));
        }
    });
    lines
}

/// Waits up to `limit` for a line containing `text`; when it arrived.
fn wait_line(lines: &Lines, text: &str, limit: Duration) -> Option<(Instant, String)> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Some(l) = lines.lock().unwrap().iter().find(|(_, l)| l.contains(text)) {
            return Some(l.clone());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

/// A `perfuse devsim` process, killed when dropped.
struct Devsim {
    child: Child,
    addr: String,
    stderr: Lines,
}

impl Devsim {
    /// `extra`: more of devsim's options (`--fault`, `--slow`, `--corrupt`).
    fn start(protocol: &Path, profile: &Path, listen: &str, extra: &[&str]) -> Devsim {
        let mut args = vec![
            "devsim".to_string(),
            protocol.display().to_string(),
            "--profile".into(),
            profile.display().to_string(),
            "--listen".into(),
            listen.into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_perfuse"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("perfuse devsim starts");
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        let Some((_, line)) = wait_line(&stdout, "listening on ", Duration::from_secs(20)) else {
            let _ = child.kill();
            panic!("devsim did not start: {:?}", stderr.lock().unwrap());
        };
        let addr = line.trim_start_matches("listening on ").trim().to_string();
        Devsim {
            child,
            addr,
            stderr,
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Devsim {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The controller on devsim's devices, with status lines on stdout (their times tell when the
/// run's clock started).
fn controller(
    protocol: &Path,
    profile: &Path,
    addr: &str,
    duration: &str,
    summary: &Path,
    extra: &[&str],
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_perfuse"))
        .args([
            "run",
            protocol.to_str().unwrap(),
            "--hal",
            "modbus",
            "--profile",
            profile.to_str().unwrap(),
            "--devices",
            addr,
            "--realtime",
            "--duration",
            duration,
            "--no-record",
            "--summary",
            summary.to_str().unwrap(),
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("perfuse run starts")
}

/// The devices a record's run drove, as its `meta` row keeps them.
fn recorded_devices(record: &Path) -> Value {
    let conn = perfuse_record::open_existing(record, false).unwrap();
    let text: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'devices'", [], |r| {
            r.get(0)
        })
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn read_summary(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("summary written")).unwrap()
}

/// Runs the controller on devsim's devices to its end, which must be a success; its summary
/// and its stderr (where the links' counters are).
fn run_to_end(
    protocol: &Path,
    profile: &Path,
    addr: &str,
    duration: &str,
    dir: &Path,
) -> (Value, String) {
    let path = dir.join("summary.json");
    let out = controller(protocol, profile, addr, duration, &path, &[])
        .wait_with_output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    (read_summary(&path), stderr(&out))
}

/// kidney-hmp's 30-s soft start to 30 mmHg cut to 5 s, so that its pump settles early in a short
/// real-time run.
const KIDNEY_HMP_SOFT_START_5S: (&str, &str) = (
    "Ramp(from: 0.0, to: 30.0, over_s: 30.0)",
    "Ramp(from: 0.0, to: 30.0, over_s: 5.0)",
);

/// The protocol with its soft start and settling shortened, so that a 60-s run spends most of
/// its time where the band counts; the edit must match the shipped text.
fn shortened(name: &str, edits: &[(&str, &str)], dir: &Path) -> PathBuf {
    let text = edited_protocol(name, edits);
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `file` for 60 s in process (lockstep) and on devsim (real time, another process), and
/// checks every band's fraction on the devices is close to the simulator's.
fn same_bands_as_in_process(file: &Path, profile: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let inproc = run_summary(file, &["--duration", "60s"]);
    let devsim = Devsim::start(file, profile, "127.0.0.1:0", &[]);
    let (s, _) = run_to_end(file, profile, &devsim.addr, "60s", dir.path());
    assert_eq!(s["completed"], true);
    let mut bands = 0;
    for (id, ch) in inproc["channels"].as_object().unwrap() {
        let Some(want) = ch["in_band_fraction"].as_f64() else {
            continue;
        };
        bands += 1;
        let got = f(&s["channels"][id]["in_band_fraction"]);
        println!("{id}: in band {got:.3} on devsim, {want:.3} in process");
        assert!(
            got >= want - 0.05,
            "{id}: in band {got} on devsim, {want} in process; alarms {}",
            s["alarm_log"]
        );
    }
    assert!(bands > 0, "no band counted in 60 s");
    let alarms: Vec<&str> = s["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert!(
        !alarms
            .iter()
            .any(|a| a.ends_with("_link_lost") || a.ends_with("_not_following")),
        "{alarms:?}"
    );
    println!("overruns {}, alarms {alarms:?}", s["overruns"]);
}

#[test]
fn kidney_hmp_on_devsim_keeps_its_band_like_the_simulator() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let file = shortened(
        "kidney-hmp.ron",
        &[
            KIDNEY_HMP_SOFT_START_5S,
            ("settle_s: Some(120.0)", "settle_s: Some(15.0)"),
        ],
        dir.path(),
    );
    same_bands_as_in_process(&file, &profile("kidney-hmp.ron"));
}

#[test]
fn liver_nmp_on_devsim_keeps_its_bands_like_the_simulator() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let file = shortened(
        "liver-nmp.ron",
        &[
            (
                "Ramp(from: 0.0, to: 65.0, over_s: 120.0)",
                "Ramp(from: 0.0, to: 65.0, over_s: 10.0)",
            ),
            ("settle_s: Some(240.0)", "settle_s: Some(20.0)"),
            (
                "Ramp(from: 0.0, to: 1000.0, over_s: 300.0)",
                "Ramp(from: 0.0, to: 1000.0, over_s: 15.0)",
            ),
            ("settle_s: Some(420.0)", "settle_s: Some(30.0)"),
        ],
        dir.path(),
    );
    same_bands_as_in_process(&file, &profile("liver-nmp.ron"));
}

#[test]
fn devices_that_do_not_answer_keep_the_run_from_starting() {
    let _serial = one_at_a_time();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let out = perfuse(&[
        "run",
        protocol("kidney-hmp.ron").to_str().unwrap(),
        "--hal",
        "modbus",
        "--profile",
        profile("kidney-hmp.ron").to_str().unwrap(),
        "--devices",
        &addr,
        "--realtime",
        "--duration",
        "10s",
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("device `pressure_monitor`")
            && err.contains(&addr)
            && err.contains("nothing was commanded"),
        "{err}"
    );
    // Not even the first status line: no tick ran.
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

#[test]
fn a_killed_devsim_is_alarmed_within_two_polls_and_a_restarted_one_is_reconnected() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let file = protocol("kidney-hmp.ron");
    let prof = profile("kidney-hmp.ron");
    let mut devsim = Devsim::start(&file, &prof, "127.0.0.1:0", &[]);
    let addr = devsim.addr.clone();
    let path = dir.path().join("summary.json");
    // The latched alarms of the outage (a failed air detector stops the pump; actuators that
    // did not follow) stay until the operator resets them, once the devices are back.
    let commands = dir.path().join("commands.ron");
    std::fs::write(
        &commands,
        "[(at_s: 15.0, command: Reset(\"bubble_sensor_failed\")), \
         (at_s: 15.0, command: Reset(\"pump_not_following\")), \
         (at_s: 15.0, command: Reset(\"arterial_clamp_not_following\"))]",
    )
    .unwrap();
    let extra = ["--commands", commands.to_str().unwrap()];
    let mut run = controller(&file, &prof, &addr, "30s", &path, &extra);
    let status = collect(run.stdout.take().unwrap());
    let (t0, _) = wait_line(&status, "00:00:00", Duration::from_secs(20)).expect("the run starts");
    std::thread::sleep(Duration::from_secs(8));
    devsim.kill();
    let killed_s = t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(3));
    let _again = Devsim::start(&file, &prof, &addr, &[]);
    let out = run.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let s = read_summary(&path);
    let log: Vec<&Value> = s["alarm_log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["id"] == "pump_drive_link_lost")
        .collect();
    assert_eq!(log.len(), 1, "{}", s["alarm_log"]);
    let (start, end) = (f(&log[0]["start_s"]), f(&log[0]["end_s"]));
    assert_eq!(log[0]["priority"], "high");
    // The run's clock started at its first status line or a little before it: `killed_s`
    // counts from then, so it is at most the true time of the kill on the run's clock.
    let latency = start - killed_s;
    println!(
        "link lost alarmed {latency:.3} s after the kill, gap {:.2} s",
        end - start
    );
    assert!(
        latency <= 0.02 + 0.02,
        "alarmed {latency} s after the kill (two 10-ms polls and the HAL thread's hand-over)"
    );
    // Reconnected after the restart: the gap is the 3 s devsim was away and its start-up.
    assert!(end > start + 2.5 && end < start + 6.0, "gap {start}..{end}");
    // Every device's link was lost and came back.
    for d in [
        "pressure_monitor",
        "flow_meter",
        "thermometer",
        "pump_drive",
    ] {
        let id = format!("{d}_link_lost");
        let e = log_entries(&s, &id);
        assert!(e.len() == 1 && e[0]["end_s"].is_number(), "{id}: {e:?}");
    }
    // Control resumed: readings fresh again and the pump commanded at the end.
    let pressure = &s["channels"]["systolic_pressure"];
    println!("systolic {pressure}");
    for e in s["alarm_log"].as_array().unwrap() {
        println!(
            "{} {} {}..{}",
            e["id"], e["priority"], e["start_s"], e["end_s"]
        );
    }
    assert!(f(&pressure["max"]) > 20.0, "{pressure}");
}

#[test]
fn commands_that_stop_put_devsim_actuators_in_their_safe_state_by_its_own_watchdog() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let file = protocol("kidney-hmp.ron");
    let prof = profile("kidney-hmp.ron");
    let devsim = Devsim::start(&file, &prof, "127.0.0.1:0", &[]);
    let mut run = controller(
        &file,
        &prof,
        &devsim.addr,
        "60s",
        &dir.path().join("s.json"),
        &[],
    );
    wait_line(
        &devsim.stderr,
        "commands for `pump` resumed",
        Duration::from_secs(20),
    )
    .expect("the controller commands the pump");
    std::thread::sleep(Duration::from_secs(2));
    // The controller dies without a word: no last command, no safe state sent.
    let _ = run.kill();
    let killed = Instant::now();
    let _ = run.wait();
    for (actuator, safe) in [("pump", "0"), ("arterial_clamp", "1")] {
        let text = format!("no command for `{actuator}`: safe value {safe}");
        let (at, _) = wait_line(&devsim.stderr, &text, Duration::from_secs(2))
            .unwrap_or_else(|| panic!("{text}: {:?}", devsim.stderr.lock().unwrap()));
        let after = at.duration_since(killed).as_secs_f64();
        println!("{actuator} safe {after:.3} s after the controller died");
        // The watchdog's 0.2 s, a devsim period, and the kill's own latency.
        assert!(after <= 0.2 + 0.05, "{actuator}: {after} s");
    }
}

#[test]
fn an_exception_answer_makes_the_reading_invalid_under_the_sensor_rules() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let file = protocol("kidney-hmp.ron");
    let prof = profile("kidney-hmp.ron");
    // From 3 s the pressure channel is lost: its I16 register cannot carry NaN, so devsim
    // answers "slave device failure".
    let devsim = Devsim::start(
        &file,
        &prof,
        "127.0.0.1:0",
        &["--fault", "channel-loss:arterial_pressure@3s"],
    );
    let (s, _) = run_to_end(&file, &prof, &devsim.addr, "8s", dir.path());
    let a = alarm(&s, "pressure_sensor_failed").unwrap_or_else(|| panic!("{}", s["alarms"]));
    assert_eq!(a["priority"], "high");
    // The link itself is fine: the device answered.
    assert!(
        alarm(&s, "pressure_monitor_link_lost").is_none(),
        "{}",
        s["alarms"]
    );
}

#[test]
fn a_profile_is_checked_against_its_protocol_with_every_problem_located() {
    let _serial = one_at_a_time();
    let plan = config::load(&protocol("kidney-hmp.ron")).unwrap().plan;
    let good = std::fs::read_to_string(profile("kidney-hmp.ron")).unwrap();
    assert!(perfuse_hal_modbus::profile::load_str(&good, Path::new("k.ron"), &plan).is_ok());
    let edits = [
        // An unknown sensor, and so `bubble` unmapped.
        ("(id: \"bubble\", device", "(id: \"bubbles\", device"),
        // A register type that cannot hold the pump's 0-300 mL/min at this scale.
        (
            "command_register: 100, delivered_register: 102, type: F32, word_order: HighFirst, scale: 1.0",
            "command_register: 100, delivered_register: 102, type: I16, word_order: HighFirst, scale: 0.001",
        ),
        // A watchdog slower than the command's time to live, and a clamp left open by it.
        (
            "watchdog: (timeout_s: 0.2, safe: Value(0.0))",
            "watchdog: (timeout_s: 0.5, safe: Value(0.0))",
        ),
        (
            "watchdog: (timeout_s: 0.2, safe: Value(1.0))",
            "watchdog: (timeout_s: 0.2, safe: Value(0.0))",
        ),
        // An unknown device.
        (
            "(id: \"ice_temp\", device: \"thermometer\"",
            "(id: \"ice_temp\", device: \"thermometre\"",
        ),
    ];
    let bad = edit(&good, &edits);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.ron");
    std::fs::write(&path, &bad).unwrap();
    let out = perfuse(&[
        "run",
        protocol("kidney-hmp.ron").to_str().unwrap(),
        "--hal",
        "modbus",
        "--profile",
        path.to_str().unwrap(),
        "--realtime",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    let line_of = |needle: &str| bad.lines().position(|l| l.contains(needle)).unwrap() + 1;
    for (line, path) in [
        (line_of("\"bubbles\""), "sensors[1].id"),
        (
            line_of("type: I16, word_order: HighFirst, scale: 0.001"),
            "actuators[0].type",
        ),
        (line_of("timeout_s: 0.5"), "actuators[0].watchdog.timeout_s"),
        (
            line_of("timeout_s: 0.2, safe: Value(0.0)"),
            "actuators[1].watchdog.safe",
        ),
        (line_of("\"thermometre\""), "sensors[4].device"),
    ] {
        let at = format!("bad.ron:{line}:");
        assert!(
            err.lines().any(|l| l.contains(&at) && l.contains(path)),
            "no `{at}` … `{path}` in:\n{err}"
        );
    }
    assert!(err.contains("a mapping for sensor `bubble`"), "{err}");
    assert!(err.contains("6 problem(s)"), "{err}");
    // `perfuse check --profile` finds the same six (sorted by position, as `check` sorts every
    // problem), with the protocol's own check, before any rig is wired; the shipped profile
    // passes it.
    let kidney = protocol("kidney-hmp.ron");
    let out = perfuse(&[
        "check",
        kidney.to_str().unwrap(),
        "--profile",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let check_err = stderr(&out);
    // A diagnostic's place in the file (line, column); `None` for other lines.
    let place = |l: &str| -> Option<(u32, u32)> {
        let rest = &l[l.find("bad.ron:")? + "bad.ron:".len()..];
        let mut n = rest.split(':').map(|n| n.parse::<u32>().ok());
        Some((n.next()??, n.next()??))
    };
    let checked: Vec<&str> = check_err.lines().filter(|l| place(l).is_some()).collect();
    let mut ran: Vec<&str> = err.lines().filter(|l| place(l).is_some()).collect();
    ran.sort_by_key(|l| place(l));
    assert_eq!(checked.len(), 6, "{check_err}");
    assert_eq!(checked, ran, "{}", stderr(&out));
    assert!(stderr(&out).contains("6 problem(s)"), "{}", stderr(&out));
    let good = profile("kidney-hmp.ron");
    let out = perfuse(&[
        "check",
        kidney.to_str().unwrap(),
        "--profile",
        good.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(": ok"), "{}", stdout(&out));
}

#[test]
fn a_device_that_answers_late_persistently_is_alarmed_degraded_and_its_timeouts_counted() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let file = protocol("kidney-hmp.ron");
    let prof = profile("kidney-hmp.ron");
    // One request in four of the flow meter comes three timeouts late.
    let slow = Devsim::start(&file, &prof, "127.0.0.1:0", &["--slow", "flow_meter"]);
    let (s, err) = run_to_end(&file, &prof, &slow.addr, "8s", dir.path());
    let a = alarm(&s, "flow_meter_link_degraded").unwrap_or_else(|| panic!("{}", s["alarms"]));
    assert_eq!(a["priority"], "medium");
    // Late, not lost: every other answer comes.
    assert!(
        alarm(&s, "flow_meter_link_lost").is_none(),
        "{}",
        s["alarms"]
    );
    assert!(
        alarm(&s, "pressure_monitor_link_degraded").is_none(),
        "{}",
        s["alarms"]
    );
    // The timeouts are counted in the run's last words about its devices.
    let timeouts = counted(&err, "flow_meter", "timeouts");
    // 8 s of 100 requests per second, one in four late.
    assert!(timeouts > 50, "{err}");
}

/// Link counter `what` of `device` from the run's last words on stderr.
fn counted(err: &str, device: &str, what: &str) -> u64 {
    let line = err
        .lines()
        .find(|l| l.starts_with(&format!("device `{device}`")))
        .unwrap_or_else(|| panic!("{err}"));
    line.split(&[',', ';'][..])
        .find_map(|p| p.trim().strip_suffix(what))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {what} in {line}"))
}

#[test]
fn rtu_frames_work_across_processes_and_a_garbled_one_is_caught_by_its_crc() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let file = protocol("kidney-hmp.ron");
    let original = std::fs::read_to_string(profile("kidney-hmp.ron")).unwrap();
    let text = edit_n(&original, "framing: Tcp", "framing: Rtu", 4);
    let prof = dir.path().join("rtu.ron");
    std::fs::write(&prof, text).unwrap();
    let devsim = Devsim::start(&file, &prof, "127.0.0.1:0", &["--corrupt", "flow_meter"]);
    let (s, err) = run_to_end(&file, &prof, &devsim.addr, "6s", dir.path());
    // One answer in ten garbled, each caught by its CRC and the link started afresh.
    let corrupted = counted(&err, "flow_meter", "corrupted");
    assert!(corrupted > 20, "{err}");
    assert_eq!(counted(&err, "pressure_monitor", "corrupted"), 0, "{err}");
    let a = alarm(&s, "flow_meter_link_degraded").unwrap_or_else(|| panic!("{}", s["alarms"]));
    assert_eq!(a["priority"], "medium");
    for id in [
        "pressure_monitor",
        "flow_meter",
        "thermometer",
        "pump_drive",
    ] {
        assert!(
            alarm(&s, &format!("{id}_link_lost")).is_none(),
            "{}",
            s["alarms"]
        );
    }
    // The RTU devices were driven: the pressure follows the soft start.
    assert!(
        f(&s["channels"]["systolic_pressure"]["max"]) > 3.0,
        "{}",
        s["channels"]
    );
}

/// A real-time run on devices that is killed resumes on the same devices, never on the
/// simulator: the record keeps the profile and endpoint (`meta` row `devices`), a resume with
/// the devices gone is refused before anything is commanded (exit 6), and once they are back
/// it reconnects and finishes the run on them.
#[test]
fn a_killed_run_on_devices_resumes_on_the_same_devices() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let file = protocol("kidney-hmp.ron");
    let prof = profile("kidney-hmp.ron");
    let record = dir.path().join("rig.sqlite");
    let mut devsim = Devsim::start(&file, &prof, "127.0.0.1:0", &[]);
    let addr = devsim.addr.clone();
    let mut run = Command::new(env!("CARGO_BIN_EXE_perfuse"))
        .args(["run", file.to_str().unwrap(), "--hal", "modbus"])
        .args(["--profile", prof.to_str().unwrap(), "--devices", &addr])
        .args(["--realtime", "--duration", "20s", "--quiet"])
        .args(["--record", record.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Past the first saved state (every 10 s).
    std::thread::sleep(Duration::from_secs(12));
    run.kill().unwrap();
    run.wait().unwrap();
    let devices = recorded_devices(&record);
    assert_eq!(devices["endpoint"], addr.as_str(), "{devices}");
    assert_eq!(
        devices["profile_text"],
        std::fs::read_to_string(&prof).unwrap().as_str()
    );

    devsim.kill();
    let out = perfuse(&["run", "--resume", record.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not started, nothing was commanded"),
        "{}",
        stderr(&out)
    );

    // The devices back at the same address: the resume drives them to the run's end.
    let _devsim = Devsim::start(&file, &prof, &addr, &[]);
    let out = perfuse(&["run", "--resume", record.to_str().unwrap(), "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    for device in [
        "pressure_monitor",
        "flow_meter",
        "thermometer",
        "pump_drive",
    ] {
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("device `{device}`: "))
                    && !l.contains(": 0 requests")),
            "no requests to {device}:\n{err}"
        );
    }
}

#[test]
fn a_run_whose_devices_came_back_elsewhere_resumes_there_when_told() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let file = protocol("kidney-hmp.ron");
    let prof = profile("kidney-hmp.ron");
    let record = dir.path().join("rig.sqlite");
    let mut devsim = Devsim::start(&file, &prof, "127.0.0.1:0", &[]);
    let mut run = Command::new(env!("CARGO_BIN_EXE_perfuse"))
        .args(["run", file.to_str().unwrap(), "--hal", "modbus"])
        .args([
            "--profile",
            prof.to_str().unwrap(),
            "--devices",
            &devsim.addr,
        ])
        .args(["--realtime", "--duration", "15s", "--quiet"])
        .args(["--record", record.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Past the first saved state (every 10 s), then the devices go too.
    std::thread::sleep(Duration::from_secs(12));
    run.kill().unwrap();
    run.wait().unwrap();
    devsim.kill();
    // They come back on another port: without being told, the resume finds nobody where they
    // were and commands nothing; told, it drives them to the run's end.
    let moved = Devsim::start(&file, &prof, "127.0.0.1:0", &[]);
    let out = perfuse(&["run", "--resume", record.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let resume = ["run", "--resume", record.to_str().unwrap(), "--quiet"];
    let out = perfuse(&[&resume[..], &["--devices", &moved.addr]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("device `pump_drive`: ") && !stderr(&out).contains(": 0 requests"),
        "{}",
        stderr(&out)
    );
    // The record says where they are now, in its resumed event and for any later resume.
    let devices = recorded_devices(&record);
    assert_eq!(devices["endpoint"], moved.addr.as_str(), "{devices}");
    let conn = perfuse_record::open_existing(&record, false).unwrap();
    let detail: String = conn
        .query_row(
            "SELECT detail FROM events WHERE kind = 'resumed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let detail: Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(detail["devices_at"], moved.addr.as_str(), "{detail}");
}

#[test]
fn a_device_that_stops_taking_commands_is_alarmed_though_its_pump_holds_its_speed() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    // The pump's safe state holds its last speed, in the protocol and in the device's watchdog:
    // when its commands stop, it delivers just what it was last told. A 5-s soft start, so that
    // its command is steady when the device stops taking commands at 15 s.
    let file = shortened(
        "kidney-hmp.ron",
        &[
            (
                "safe_state: Off, // a stopped cold kidney",
                "safe_state: HoldLast, // a stopped cold kidney",
            ),
            KIDNEY_HMP_SOFT_START_5S,
        ],
        dir.path(),
    );
    let prof = dir.path().join("profile.ron");
    let text = std::fs::read_to_string(profile("kidney-hmp.ron")).unwrap();
    let text = edit(
        &text,
        &[(
            "watchdog: (timeout_s: 0.2, safe: Value(0.0))",
            "watchdog: (timeout_s: 0.2, safe: Hold)",
        )],
    );
    std::fs::write(&prof, text).unwrap();
    let refused_from_s = 15.0;
    let devsim = Devsim::start(
        &file,
        &prof,
        "127.0.0.1:0",
        &["--refuse-writes", "pump_drive@15s"],
    );
    let summary = dir.path().join("s.json");
    let mut run = controller(&file, &prof, &devsim.addr, "25s", &summary, &[]);
    let status = collect(run.stdout.take().unwrap());
    let (t0, _) = wait_line(&status, "00:00:00", Duration::from_secs(20)).expect("the run starts");
    let out = run.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = "watchdog: no command for `pump`: safe value ";
    let (tripped_at, line) = wait_line(&devsim.stderr, text, Duration::from_secs(1))
        .unwrap_or_else(|| panic!("{text}: {:?}", devsim.stderr.lock().unwrap()));
    let held: f64 = line.split(text).nth(1).unwrap().trim().parse().unwrap();
    assert!(held > 10.0, "the pump holds its speed: {line}");
    // The run's clock started at its first status line or a little before it.
    let tripped_s = tripped_at.duration_since(t0).as_secs_f64();
    let s = read_summary(&summary);
    let log = s["alarm_log"].as_array().unwrap();
    let raised = log
        .iter()
        .find(|e| e["id"] == "pump_not_following")
        .unwrap_or_else(|| panic!("no pump_not_following alarm: {log:?}"));
    assert_eq!(raised["priority"], "high");
    // Judged from the device's word: the condition began when the device's watchdog took over
    // (at 15 s of devsim's time), not when the loop's command had drifted from the held speed,
    // which takes this kidney's falling resistance seconds more (1.8 s when measured).
    let (condition, start) = (f(&raised["condition_s"]), f(&raised["start_s"]));
    println!(
        "watchdog tripped at {tripped_s:.3} s of the run (devsim's {refused_from_s} s plus its \
         0.2 s); pump_not_following from {condition:.2} s, raised at {start:.2} s; the pump \
         held {held}"
    );
    // The two processes' clocks line up to a tenth of a second or so (the status line comes a
    // little after the clock's start; devsim's line a little after its trip).
    assert!(
        (condition - tripped_s).abs() <= 0.5,
        "condition from {condition} s, watchdog at {tripped_s} s: {raised}"
    );
    // Then the pump's 2-s persistence.
    assert!((start - condition - 2.0).abs() < 0.02, "{raised}");
}

#[test]
fn a_refused_write_rehearsal_that_names_no_device_or_time_is_refused_with_the_reason() {
    let file = protocol("kidney-hmp.ron");
    let prof = profile("kidney-hmp.ron");
    for (arg, reason) in [
        ("pump_drive", "expected DEVICE@TIME, e.g. `pump_drive@30s`"),
        ("nosuch@1s", "no device `nosuch` in the profile"),
        ("pump_drive@soon", "bad duration `soon`"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_perfuse"))
            .args(["devsim", file.to_str().unwrap(), "--profile"])
            .arg(&prof)
            .args(["--listen", "127.0.0.1:0", "--refuse-writes", arg])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{arg}: {}", stderr(&out));
        let said = stderr(&out);
        assert!(
            said.contains(&format!("--refuse-writes {arg}: {reason}")),
            "{arg}: {said}"
        );
    }
}
