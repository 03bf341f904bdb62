//! The real-time driver: the same protocol against the wall clock, the simulator on its own
//! thread. A few seconds of wall time.

use crate::common::*;
use std::path::Path;

#[test]
fn a_short_realtime_run_completes_and_keeps_pressure() {
    let started = std::time::Instant::now();
    let s = run_summary(
        &protocol("kidney-hmp.ron"),
        &["--realtime", "--duration", "10s"],
    );
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(s["completed"], true);
    assert_eq!(f(&s["simulated_s"]), 10.0);
    assert!(wall >= 9.5, "real time: the run took {wall} s of wall time");
    // Missed deadlines are counted and skipped, so ticks plus overruns cover the run.
    let ticks = s["ticks"].as_u64().unwrap();
    let overruns = s["overruns"].as_u64().unwrap();
    assert_eq!(ticks + overruns, 1000, "ticks {ticks}, overruns {overruns}");
    assert!(overruns < 100, "{overruns} overruns on an idle machine");
    // Every tick's lateness is counted, its percentiles in order, the median under a period.
    let late = &s["lateness"];
    assert_eq!(late["ticks"].as_u64(), Some(ticks), "{late}");
    let (p50, p99, p999, max) = (
        f(&late["p50_us"]),
        f(&late["p99_us"]),
        f(&late["p999_us"]),
        f(&late["max_us"]),
    );
    assert!(
        0.0 <= p50 && p50 <= p99 && p99 <= p999 && p999 <= max,
        "{late}"
    );
    assert!(p50 < 10_000.0, "half the ticks a period late: {late}");
    // The soft start ramps the systolic setpoint 0 -> 30 mmHg over 30 s: after 10 s the
    // pressure follows the ramp, near 10 mmHg and nowhere near a limit.
    let systolic = &s["channels"]["systolic_pressure"];
    assert!(
        f(&systolic["max"]) > 7.0 && f(&systolic["max"]) < 14.0,
        "{systolic}"
    );
    assert!(
        s["alarms"].as_array().unwrap().is_empty(),
        "{}",
        s["alarms"]
    );
}

#[test]
fn a_lockstep_summary_has_no_lateness() {
    let s = run_summary(&protocol("kidney-hmp.ron"), &["--duration", "10s"]);
    assert_eq!(s["completed"], true);
    assert!(s.get("lateness").is_none(), "{}", s["lateness"]);
}

/// The scheduling policy and real-time priority of every thread of process `pid`, by name
/// (fields 40 and 41 of /proc/PID/task/TID/stat; policy 1 is SCHED_FIFO).
fn thread_policies(pid: u32) -> Vec<(String, u32, u32)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("the run's threads") {
        let dir = task.expect("a thread").path();
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(dir.join("comm")),
            std::fs::read_to_string(dir.join("stat")),
        ) else {
            continue; // the thread ended meanwhile
        };
        let after_name = &stat[stat.rfind(')').expect("stat names the thread") + 1..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let field = |n: usize| fields[n - 3].parse::<u32>().expect("a number");
        out.push((comm.trim().to_string(), field(41), field(40)));
    }
    out
}

/// `--rt-priority`: where the process may have it (CI runs as root), the control thread and the
/// device thread run under SCHED_FIFO at the priority, the supervisor (the watchdog, on the main
/// thread) one above, and the outputs' threads stay at normal priority; where it may not, the
/// run is refused before it starts, saying why.
#[test]
fn rt_priority_puts_the_control_and_device_threads_under_fifo() {
    use perfuse_core::hal::rt::{Priority, check};
    let kidney = protocol("kidney-hmp.ron");
    let args = [
        "run",
        kidney.to_str().unwrap(),
        "--realtime",
        "--duration",
        "4s",
        "--no-record",
        "--rt-priority",
        "20",
    ];
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_perfuse"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("perfuse starts");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let threads = thread_policies(child.id());
    let out = child.wait_with_output().expect("perfuse ends");
    let permitted = std::thread::spawn(|| check(Priority::new(20).unwrap()).is_ok())
        .join()
        .unwrap();
    if !permitted {
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("--rt-priority 20: SCHED_FIFO 20 refused"),
            "{}",
            stderr(&out)
        );
        return;
    }
    assert!(out.status.success(), "{}", stderr(&out));
    let of = |name: &str| {
        threads
            .iter()
            .find(|t| t.0 == name)
            .map(|t| (t.1, t.2))
            .unwrap_or_else(|| panic!("no thread {name} in {threads:?}"))
    };
    assert_eq!(of("perfuse-control"), (1, 20), "{threads:?}");
    assert_eq!(of("perfuse-hal"), (1, 20), "{threads:?}");
    assert_eq!(of("perfuse"), (1, 21), "the supervisor: {threads:?}");
    let normal: Vec<_> = threads
        .iter()
        .filter(|t| !["perfuse-control", "perfuse-hal", "perfuse"].contains(&t.0.as_str()))
        .collect();
    assert!(!normal.is_empty(), "{threads:?}");
    assert!(normal.iter().all(|t| t.1 == 0), "{threads:?}");
}

#[test]
fn rt_priority_is_refused_outside_real_time_and_out_of_range() {
    let kidney = protocol("kidney-hmp.ron");
    let k = kidney.to_str().unwrap();
    let out = perfuse(&["run", k, "--duration", "10s", "--rt-priority", "20"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("it needs --realtime"),
        "{}",
        stderr(&out)
    );
    for bad in ["0", "99", "x"] {
        let out = perfuse(&["run", k, "--realtime", "--rt-priority", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(stderr(&out).contains("1 to 98"), "{bad}: {}", stderr(&out));
    }
}

/// Without the privilege, `--rt-priority` is refused before anything starts: checked as the
/// unprivileged user `nobody` (uid 65534) when the tests run as root, through util-linux
/// `setpriv`, on a copy of the binary that user may execute.
#[test]
fn rt_priority_without_the_privilege_is_refused_before_the_run_starts() {
    let uid = std::process::Command::new("id")
        .arg("-u")
        .output()
        .expect("id runs");
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        // Not root: the FIFO test above already takes the refusing branch.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("perfuse");
    let file = dir.path().join("kidney-hmp.ron");
    std::fs::copy(env!("CARGO_BIN_EXE_perfuse"), &bin).unwrap();
    std::fs::copy(protocol("kidney-hmp.ron"), &file).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for (p, mode) in [
        (dir.path(), 0o755),
        (bin.as_path(), 0o755),
        (file.as_path(), 0o644),
    ] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args([
            "run",
            file.to_str().unwrap(),
            "--realtime",
            "--duration",
            "2s",
        ])
        .args(["--no-record", "--rt-priority", "20"])
        .output()
        .expect("setpriv (util-linux) runs");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--rt-priority 20: SCHED_FIFO 20 refused (Operation not permitted")
            && err.contains("not started"),
        "{err}"
    );
    assert!(stdout(&out).is_empty(), "nothing ran: {}", stdout(&out));
}

/// When the system refuses the control thread (here the unprivileged user's limit of two
/// processes and threads, `prlimit --nproc=2`, as `nobody` when the tests run as root), the run
/// is not abandoned: the supervisor's own thread carries it to its end, and the log says it is
/// unwatched.
#[test]
fn a_run_whose_control_thread_cannot_start_goes_on_unsupervised() {
    let uid = std::process::Command::new("id")
        .arg("-u")
        .output()
        .expect("id runs");
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return; // Only root can run a command as `nobody`.
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("perfuse");
    let plugin = dir.path().join("libperfuse_plugin_kidney.so");
    let file = dir.path().join("kidney-hmp.ron");
    std::fs::copy(env!("CARGO_BIN_EXE_perfuse"), &bin).unwrap();
    // Where cargo builds the plugin as a dependency of the command line: `deps/` beside it.
    let built = Path::new(env!("CARGO_BIN_EXE_perfuse"))
        .with_file_name("deps")
        .join("libperfuse_plugin_kidney.so");
    std::fs::copy(&built, &plugin).unwrap_or_else(|e| panic!("{}: {e}", built.display()));
    std::fs::copy(protocol("kidney-hmp.ron"), &file).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for (p, mode) in [
        (dir.path(), 0o755),
        (bin.as_path(), 0o755),
        (plugin.as_path(), 0o755),
        (file.as_path(), 0o644),
    ] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["prlimit", "--nproc=2"])
        .arg(&bin)
        .args([
            "run",
            file.to_str().unwrap(),
            "--duration",
            "30s",
            "--no-record",
            "--quiet",
        ])
        .output()
        .expect("setpriv and prlimit (util-linux) run");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot start a control thread")
            && stderr(&out).contains("the run goes on without its supervisor"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("completed after 00:00:30 simulated"),
        "{}",
        stdout(&out)
    );
}
