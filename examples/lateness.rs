//! Tick lateness of a real-time kidney-hmp run beside a bare absolute-deadline sleep loop, both
//! in this process at the same time, so that both see the same machine load. Each records how
//! long after its deadline every tick started, in the same histogram. A benchmark: it reports
//! numbers and asserts nothing. Run with
//! `cargo run --release --example lateness -- [SECONDS] [PRIORITY]` (default 60 s; with a
//! PRIORITY both loops run under SCHED_FIFO at it, the run as `perfuse run --rt-priority`).
//! `-- SECONDS PRIORITY bare-only` runs the bare loop alone, at 100 Hz like kidney-hmp and
//! liver-nmp, and prints the wall-clock time of
//! every wake-up more than a period late: beside another process (bench/modbus-loopback.sh),
//! it tells whether that process's missed deadlines were the machine's.

use perfuse::wiring::{Wiring, wire};
use perfuse_core::config;
use perfuse_core::hal::rt::{self, Priority};
use perfuse_core::plugin::loader;
use perfuse_core::run::lateness::{Lateness, LatenessSummary};
use perfuse_core::run::{StopRequest, realtime};
use std::path::Path;
use std::time::{Duration, Instant};

/// The driver's wait, and nothing else: sleep to each absolute deadline, measure the wake-up.
fn bare_loop(period: Duration, ticks: u32, priority: Option<Priority>, stalls: bool) -> Lateness {
    if let Some(p) = priority {
        rt::enter(p).expect("the priority was claimed for the process");
    }
    let mut lateness = Lateness::default();
    let start = Instant::now();
    for n in 1..=ticks {
        let deadline = start + period * n;
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let late = Instant::now().saturating_duration_since(deadline);
        lateness.record(late, u64::from(n));
        if stalls && late > period {
            let unix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            println!(
                "bare loop stalled: woke {:.1} ms late at unix time {:.3} s",
                late.as_secs_f64() * 1e3,
                unix.as_secs_f64()
            );
        }
    }
    lateness
}

/// CPU time the hypervisor took from this virtual machine so far (`steal` of /proc/stat's `cpu`
/// line, in clock ticks of 10 ms), when the kernel tells.
fn steal_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().next()?.split_whitespace().nth(8)?.parse().ok()
}

fn line(name: &str, s: &LatenessSummary) {
    println!(
        "{name:<16} {:>8} ticks  p50 {:>7.1} µs  p99 {:>7.1} µs  p99.9 {:>7.1} µs  max {:>8.1} µs \
         at tick {}",
        s.ticks, s.p50_us, s.p99_us, s.p999_us, s.max_us, s.max_at_tick
    );
}

fn main() -> Result<(), String> {
    let seconds: f64 = match std::env::args().nth(1) {
        Some(a) => a
            .parse()
            .map_err(|_| format!("not a number of seconds: {a}"))?,
        None => 60.0,
    };
    let priority = match std::env::args().nth(2) {
        Some(a) => Some(Priority::new(
            a.parse().map_err(|_| format!("not a priority: {a}"))?,
        )?),
        None => None,
    };
    perfuse::wiring::claim_realtime(priority, true).map_err(|e| e.message)?;
    if std::env::args().nth(3).as_deref() == Some("bare-only") {
        let period = Duration::from_millis(10);
        let bare = bare_loop(period, (seconds * 100.0).round() as u32, priority, true);
        line("bare sleep loop", &bare.summary());
        return Ok(());
    }
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("protocols/kidney-hmp.ron");
    let loaded = config::load(&file).map_err(|e| e.to_string())?;
    // The plugin cargo built beside this example (target/release/deps): this build's own.
    let deps = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("deps"))
        .ok_or("no directory above the example")?;
    let policy = loader::SearchPolicy::new(&[deps], true);
    let period_s = loaded.plan.period_s;
    let period = Duration::from_secs_f64(period_s);
    let ticks = (seconds / period_s).round() as u32;
    let w = Wiring {
        duration_s: Some(seconds),
        realtime: true,
        priority,
        ..Wiring::lockstep(&policy, 1)
    };
    let run = wire(loaded, &file, w).map_err(|e| e.message)?;

    let steal_before = steal_ticks();
    let bare = std::thread::spawn(move || bare_loop(period, ticks, priority, false));
    let (run, overruns) = realtime::run(run, &StopRequest::default(), priority);
    let bare = bare.join().map_err(|_| "the bare loop panicked")?.summary();
    let tick = run
        .lateness
        .as_ref()
        .ok_or("the real-time driver kept no lateness")?
        .summary();

    let sched = priority.map_or("normal priority".into(), |p| p.to_string());
    println!(
        "kidney-hmp in real time for {seconds} s at 100 Hz, beside a bare sleep loop ({sched}):"
    );
    line("perfuse tick", &tick);
    line("bare sleep loop", &bare);
    println!(
        "p99 ratio {:.2} (perfuse / bare), {overruns} overruns",
        tick.p99_us / bare.p99_us
    );
    if let (Some(a), Some(b)) = (steal_before, steal_ticks()) {
        println!(
            "CPU time taken by the hypervisor meanwhile (steal): {} ms",
            (b - a) * 10
        );
    }
    Ok(())
}
