//! Tick lateness of a real-time kidney-hmp run beside a bare absolute-deadline sleep loop, both
//! in this process at the same time, so that both see the same machine load. Each records how
//! long after its deadline every tick started, in the same histogram. A benchmark: it reports
//! numbers and asserts nothing. Run with
//! `cargo run --release --example lateness -- [SECONDS]` (default 60).

use perfuse::wiring::{Wiring, wire};
use perfuse_core::config;
use perfuse_core::plugin::loader;
use perfuse_core::run::lateness::{Lateness, LatenessSummary};
use perfuse_core::run::{StopRequest, realtime};
use std::path::Path;
use std::time::{Duration, Instant};

/// The driver's wait, and nothing else: sleep to each absolute deadline, measure the wake-up.
fn bare_loop(period: Duration, ticks: u32) -> Lateness {
    let mut lateness = Lateness::default();
    let start = Instant::now();
    for n in 1..=ticks {
        let deadline = start + period * n;
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        lateness.record(Instant::now().saturating_duration_since(deadline));
    }
    lateness
}

fn line(name: &str, s: &LatenessSummary) {
    println!(
        "{name:<16} {:>8} ticks  p50 {:>7.1} µs  p99 {:>7.1} µs  p99.9 {:>7.1} µs  max {:>8.1} µs",
        s.ticks, s.p50_us, s.p99_us, s.p999_us, s.max_us
    );
}

fn main() -> Result<(), String> {
    let seconds: f64 = match std::env::args().nth(1) {
        Some(a) => a
            .parse()
            .map_err(|_| format!("not a number of seconds: {a}"))?,
        None => 60.0,
    };
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
        ..Wiring::lockstep(&policy, 1)
    };
    let run = wire(loaded, &file, w).map_err(|e| e.message)?;

    let bare = std::thread::spawn(move || bare_loop(period, ticks));
    let (run, overruns) = realtime::run(run, &StopRequest::default());
    let bare = bare.join().map_err(|_| "the bare loop panicked")?.summary();
    let tick = run
        .lateness
        .as_ref()
        .ok_or("the real-time driver kept no lateness")?
        .summary();

    println!("kidney-hmp in real time for {seconds} s at 100 Hz, beside a bare sleep loop:");
    line("perfuse tick", &tick);
    line("bare sleep loop", &bare);
    println!(
        "p99 ratio {:.2} (perfuse / bare), {overruns} overruns",
        tick.p99_us / bare.p99_us
    );
    Ok(())
}
