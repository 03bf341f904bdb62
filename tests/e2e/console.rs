//! The operator console: live actions through the tick's checks and record (through the
//! library), and the console itself end to end in a pseudo-terminal (tmux): an accelerated run
//! where an alarm is acknowledged from the keyboard (then replayed from its record), a terminal
//! closed mid-run, and a console with no terminal at all. Needs `tmux` (CI installs it).

use crate::common::*;
use perfuse_core::config::OperatorAction;
use perfuse_core::tick::operator::LiveInput;
use perfuse_record::rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn alarm_index(run: &perfuse_core::run::Run, id: &str) -> usize {
    run.alarms().list.iter().position(|a| a.id == id).unwrap()
}

#[test]
fn live_actions_pass_the_same_checks_and_reach_the_same_record_as_scripted_ones() {
    let mut run = lockstep(&protocol("kidney-hmp.ron"), &["occlusion@1m"], 1);
    let live = run.open_live_input(8);
    let occlusion = alarm_index(&run, "occlusion");
    step_until(&mut run, 120.0, |r| r.alarms().list[occlusion].active);
    let sys = run.plan.signal("systolic_pressure").unwrap();
    let send = |a| live.try_send(LiveInput::Command(a)).unwrap();
    send(OperatorAction::Acknowledge(occlusion));
    send(OperatorAction::Setpoint {
        signal: sys,
        value: 45.0,
    });
    send(OperatorAction::Setpoint {
        signal: sys,
        value: 29.0,
    });
    // Nothing the console builds names an alarm the run lacks: were it to, it is not taken.
    send(OperatorAction::Acknowledge(9999));
    let at = run.tick();
    step(&mut run, 1);
    assert!(run.alarms().list[occlusion].acknowledged);
    assert_eq!(run.tick_state().input.live_refused, 1);
    let s = serde_json::to_value(run.summary(0.0, 0)).unwrap();
    let ops: Vec<(String, bool, f64)> = s["operator"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["command"].as_str().unwrap().to_string(),
                o["accepted"].as_bool().unwrap(),
                f(&o["t_s"]),
            )
        })
        .collect();
    let t = at as f64 * run.plan.period_s;
    assert_eq!(
        ops,
        [
            ("setpoint systolic_pressure 45".to_string(), false, t),
            ("setpoint systolic_pressure 29".to_string(), true, t),
            ("acknowledge occlusion".to_string(), true, t),
        ]
    );
    // The setpoint holds from this tick on.
    step(&mut run, 10);
    let targets = &run.tick_state().protocol.targets;
    assert_eq!(targets.setpoints[sys], 29.0);
}

#[test]
fn a_live_lab_value_is_taken_like_a_scripted_one() {
    let mut run = lockstep(&protocol("ta-nrp.ron"), &[], 1);
    let live = run.open_live_input(4);
    step(&mut run, 100);
    let lactate = run
        .plan
        .sensors
        .iter()
        .position(|s| s.id == "lactate_lab")
        .unwrap();
    live.try_send(LiveInput::Lab {
        sensor: lactate,
        value: 4.2,
    })
    .unwrap();
    // Not an operator-site sensor: not taken.
    live.try_send(LiveInput::Lab {
        sensor: 0,
        value: 1.0,
    })
    .unwrap();
    step(&mut run, 1);
    assert_eq!(run.signal("lactate_lab").unwrap().0, 4.2);
    assert_eq!(run.tick_state().input.live_refused, 1);
    let s = serde_json::to_value(run.summary(0.0, 0)).unwrap();
    assert_eq!(s["labs"][0]["sensor"], "lactate_lab");
    assert_eq!(f(&s["labs"][0]["value"]), 4.2);
    assert_eq!(f(&s["labs"][0]["t_s"]), 100.0 * run.plan.period_s);
}

/// A tmux server of its own, with one window running a command; killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(cmd: &str, width: u16, height: u16) -> Tmux {
        let t = Tmux {
            socket: format!("perfuse-test-{}-{}", std::process::id(), width),
        };
        let ok = t
            .tmux(&[
                "new-session",
                "-d",
                "-s",
                "run",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                cmd,
            ])
            .status
            .success();
        assert!(ok, "tmux could not start `{cmd}` (is tmux installed?)");
        t
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs (the console's end-to-end tests need tmux installed)")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "run"]).stdout)
            .into_owned()
    }

    fn keys(&self, keys: &str) {
        self.tmux(&["send-keys", "-t", "run", keys]);
    }

    /// Waits until the screen shows `text`, and returns the screen.
    fn wait_for(&self, text: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                start.elapsed() < limit,
                "`{text}` not on screen within {limit:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// Whether a process whose command line names `record` still runs.
fn still_running(record: &Path) -> bool {
    let name = record.to_str().unwrap();
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(name))
    })
}

fn wait_for_file(path: &Path, limit: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < limit, "{} not written", path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The console command for a kidney run with an occlusion at 1 min, `duration` at ×60.
fn console_run(dir: &Path, duration: &str) -> (String, PathBuf, PathBuf) {
    let record = dir.join("run.sqlite");
    let summary = dir.join("summary.json");
    let cmd = format!(
        "{} run {} --console --speed 60 --duration {duration} --fault occlusion@1m --record {} --summary {}",
        env!("CARGO_BIN_EXE_perfuse"),
        protocol("kidney-hmp.ron").display(),
        record.display(),
        summary.display()
    );
    (cmd, record, summary)
}

#[test]
fn an_alarm_acknowledged_from_the_keyboard_is_in_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let (cmd, record, summary) = console_run(dir.path(), "10m");
    let tmux = Tmux::start(&cmd, 80, 24);
    let screen = tmux.wait_for("HIGH   occlusion", Duration::from_secs(30));
    assert!(screen.contains("Kidney HMP"), "{screen}");
    assert!(screen.contains("? help"), "{screen}");
    tmux.keys("a");
    let screen = tmux.wait_for("done: acknowledge occlusion", Duration::from_secs(10));
    assert!(screen.contains("ACK"), "{screen}");
    // A resize is drawn at the new size.
    tmux.tmux(&["resize-window", "-t", "run", "-x", "120", "-y", "40"]);
    tmux.wait_for(
        "Flow lost with pressure present: check the",
        Duration::from_secs(10),
    );
    wait_for_file(&summary, Duration::from_secs(30));
    let conn = Connection::open(&record).unwrap();
    let (subject, accepted, tick): (String, i64, i64) = conn
        .query_row(
            "SELECT subject, accepted, tick FROM events WHERE kind = 'operator'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((subject.as_str(), accepted), ("acknowledge occlusion", 1));
    let ack: i64 = conn
        .query_row(
            "SELECT tick FROM events WHERE kind = 'alarm' AND subject = 'occlusion' AND change = 'acknowledged'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(ack, tick, "acknowledged in the tick that took the command");
    let (end, commands): (String, String) = conn
        .query_row("SELECT end_reason, commands FROM run", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(end, "completed");
    // The record keeps the live command among its inputs: the rehearsal replays as it ran.
    let at_s = tick as f64 * 0.01;
    assert_eq!(
        commands,
        format!("[\n    (at_s: {at_s:?}, command: Acknowledge(\"occlusion\")),\n]\n")
    );
    let replay = perfuse(&["replay", record.to_str().unwrap()]);
    assert!(
        stdout(&replay).contains("replay identical"),
        "{}{}",
        stdout(&replay),
        stderr(&replay)
    );
}

#[test]
fn a_terminal_closed_mid_run_leaves_the_run_going_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let (cmd, record, summary) = console_run(dir.path(), "4m");
    let tmux = Tmux::start(&cmd, 100, 30);
    tmux.wait_for("run 00:00:", Duration::from_secs(30));
    // The terminal goes away (hang-up, then writes fail): the run goes on, recorded.
    drop(tmux);
    wait_for_file(&summary, Duration::from_secs(60));
    // And the process ends: a console left on a terminal that went away must not keep it.
    let start = Instant::now();
    while still_running(&record) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the run's process did not end after its terminal closed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(f(&s["simulated_s"]), 240.0);
    assert!(s["stopped_s"].is_null());
    let conn = Connection::open(&record).unwrap();
    let (end, samples): (String, i64) = conn
        .query_row(
            "SELECT end_reason, (SELECT count(*) FROM samples) FROM run",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(end, "completed");
    assert!(samples >= 240, "{samples} samples");
}

#[test]
fn without_a_terminal_the_console_gives_way_to_status_lines() {
    let dir = tempfile::tempdir().unwrap();
    let out = perfuse(&[
        "run",
        protocol("kidney-hmp.ron").to_str().unwrap(),
        "--console",
        "--speed",
        "600",
        "--duration",
        "2m",
        "--status-every",
        "1m",
        "--record",
        dir.path().join("r.sqlite").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("console: the terminal failed (standard output is not a terminal); the run goes on; status lines follow"),
        "{err}"
    );
    assert!(err.contains("00:01:00 perfusion"), "{err}");
    assert!(stdout(&out).contains("completed after 00:02:00 simulated"));
}

#[test]
fn speed_paces_a_simulated_run() {
    let start = Instant::now();
    let out = perfuse(&[
        "run",
        protocol("kidney-hmp.ron").to_str().unwrap(),
        "--speed",
        "120",
        "--duration",
        "4m",
        "--no-record",
        "--quiet",
    ]);
    let wall = start.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        wall >= 2.0,
        "4 min at ×120 took {wall} s, expected at least 2 s"
    );
    let bad = perfuse(&[
        "run",
        protocol("kidney-hmp.ron").to_str().unwrap(),
        "--speed",
        "0",
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("--speed 0: expected"),
        "{}",
        stderr(&bad)
    );
}
