//! `perfuse devsim`: the simulator served as the devices of a profile, in its own process, until
//! SIGINT or SIGTERM. Prints `listening on ADDR` once clients can connect, and every device
//! watchdog's change on stderr.

use crate::exit::Failure;
use perfuse_core::config;
use perfuse_hal_modbus::devsim::{DevSim, WatchdogEvent};
use perfuse_hal_sim::SimHal;
use std::io::Write;
use std::path::PathBuf;

/// Everything `perfuse devsim` was given.
#[derive(Debug, Clone)]
pub struct DevsimArgs {
    pub file: PathBuf,
    pub profile: PathBuf,
    pub listen: String,
    pub seed: u64,
    pub scenario: Option<String>,
    pub faults: Vec<String>,
    /// Devices that answer one request in four late.
    pub slow: Vec<String>,
    /// Devices that garble one answer in ten (RTU framing).
    pub corrupt: Vec<String>,
    /// `DEVICE@TIME`: devices that refuse every write from TIME after the start.
    pub refuse_writes: Vec<String>,
    /// `SCHED_FIFO` for every thread that serves the devices (`--rt-priority`).
    pub rt_priority: Option<perfuse_core::hal::rt::Priority>,
    /// Where an outside model library is looked for and whether an untrusted one may load.
    pub plugins: perfuse_core::plugin::loader::SearchPolicy,
}

pub fn run(args: &DevsimArgs) -> Result<(), Failure> {
    let stop = crate::signals::install()?;
    crate::wiring::claim_realtime(args.rt_priority, true)?;
    let loaded = config::load(&args.file).map_err(|e| Failure::input(e.to_string()))?;
    // Its outside model library, if it names one, under the same trust rules as a run's.
    crate::wiring::load_model_library(&loaded, &args.file, &args.plugins)?;
    let profile = perfuse_hal_modbus::profile::load(&args.profile, &loaded.plan)
        .map_err(|e| Failure::input(e.to_string()))?;
    // A devsim runs until stopped: any time is within it.
    let faults = crate::wiring::parse_faults(&loaded, &args.faults, f64::INFINITY)?;
    let sim = SimHal::with_scenario(&loaded.file, args.scenario.as_deref(), args.seed, &faults)
        .map_err(|e| {
            Failure::input(crate::wiring::located(&loaded, &args.file, "simulator", &e))
        })?;
    let mut devsim =
        DevSim::new(profile, Box::new(sim), loaded.plan.period_s).map_err(Failure::input)?;
    for id in &args.slow {
        devsim
            .slow_device(id)
            .map_err(|e| Failure::input(format!("--slow {id}: {e}")))?;
    }
    for id in &args.corrupt {
        devsim
            .corrupt_device(id)
            .map_err(|e| Failure::input(format!("--corrupt {id}: {e}")))?;
    }
    let started = std::time::Instant::now();
    for arg in &args.refuse_writes {
        let bad = |e: String| Failure::input(format!("--refuse-writes {arg}: {e}"));
        let (id, time) = arg
            .split_once('@')
            .ok_or_else(|| bad("expected DEVICE@TIME, e.g. `pump_drive@30s`".into()))?;
        let from_s = config::parse_duration(time).map_err(bad)?;
        devsim
            .refuse_writes(id, started + std::time::Duration::from_secs_f64(from_s))
            .map_err(bad)?;
    }
    let listener = std::net::TcpListener::bind(&args.listen)
        .map_err(|e| Failure::input(format!("--listen {}: {e}", args.listen)))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // The server's threads inherit the policy of the thread that starts them: this one.
    if let Some(p) = args.rt_priority {
        perfuse_core::hal::rt::enter(p).map_err(|e| format!("--rt-priority: {p} refused ({e})"))?;
    }
    devsim
        .serve(listener)
        .map_err(|e| format!("cannot start the devsim server: {e}"))?;
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
    let names: Vec<String> = loaded.plan.actuators.iter().map(|a| a.id.clone()).collect();
    let stopped = || stop.signal().is_some();
    devsim.run(&stopped, |e| match e {
        WatchdogEvent::Tripped {
            actuator,
            safe_value,
        } => eprintln!(
            "devsim: watchdog: no command for `{}`: safe value {safe_value}",
            names[actuator]
        ),
        WatchdogEvent::Resumed { actuator } => {
            eprintln!(
                "devsim: watchdog: commands for `{}` resumed",
                names[actuator]
            )
        }
    });
    Ok(())
}
