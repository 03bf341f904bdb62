//! The `perfuse` command line: argument parsing and wiring only; the logic lives in the core.

use clap::{Parser, Subcommand};
use perfuse_core::config::{self, Loaded};
use perfuse_core::plugin::{loader, worker};
use perfuse_core::run::{Run, RunOptions, realtime, status};
use perfuse_core::tick::HalPort;
use perfuse_hal_sim::{Fault, SimHal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "perfuse",
    version,
    about = "Perfusion controller (simulation; not for clinical use)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a protocol on the simulator.
    Run {
        /// The protocol file (RON).
        file: PathBuf,
        /// Run length, overriding the protocol's (e.g. 90m, 6h, 1h30m).
        #[arg(long, value_parser = config::parse_duration)]
        duration: Option<f64>,
        /// Simulator seed: the same seed gives the same record.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Simulator scenario the protocol declares (e.g. healthy, injured).
        #[arg(long)]
        scenario: Option<String>,
        /// List the protocol's scenarios and exit.
        #[arg(long)]
        list_scenarios: bool,
        /// Write the run summary (JSON) here.
        #[arg(long)]
        summary: Option<PathBuf>,
        /// No status lines while running.
        #[arg(long)]
        quiet: bool,
        /// Tick against the wall clock, the simulator on its own thread.
        #[arg(long)]
        realtime: bool,
        /// Laboratory values the operator enters during the run, as a RON list of
        /// `(at_s, sensor, value)` for the protocol's sensors at the `operator` site.
        #[arg(long)]
        labs: Option<PathBuf>,
        /// Operator commands during the run, as a RON list of `(at_s, command)` with command
        /// one of Acknowledge("alarm"), PauseAudio, Setpoint(signal, value), AdvancePhase,
        /// HoldPhase(bool), Stop.
        #[arg(long)]
        commands: Option<PathBuf>,
        /// Inject a fault, KIND@TIME (e.g. air@30m, occlusion@1h, stuck:arterial_pressure@30m); repeatable.
        #[arg(long = "fault")]
        faults: Vec<String>,
        /// Simulated time between status lines in lockstep runs.
        #[arg(long, default_value = "10m", value_parser = config::parse_duration)]
        status_every: f64,
        /// Extra directory to search for plugins; repeatable.
        #[arg(long = "plugin-dir")]
        plugin_dirs: Vec<PathBuf>,
        /// Load a plugin library that is neither pinned by the protocol nor shipped beside
        /// perfuse (its sha256 is still recorded in the summary).
        #[arg(long)]
        allow_untrusted: bool,
    },
    /// Validate protocol files and their plugins; every problem is reported.
    Check {
        files: Vec<PathBuf>,
        #[arg(long = "plugin-dir")]
        plugin_dirs: Vec<PathBuf>,
        /// As for `run`.
        #[arg(long)]
        allow_untrusted: bool,
    },
    /// List the plugins found, read from their files without running them: id, version, ABI,
    /// trust, sha256 and declared parameters.
    Plugins {
        #[arg(long = "plugin-dir")]
        plugin_dirs: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    perfuse_core::logging::init(log::LevelFilter::Info);
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            file,
            duration,
            seed,
            summary,
            quiet,
            realtime,
            faults,
            status_every,
            plugin_dirs,
            scenario,
            list_scenarios,
            labs,
            commands,
            allow_untrusted,
        } => {
            if list_scenarios {
                return finish(scenarios(&file));
            }
            let opts = RunOptions {
                seed,
                scenario,
                duration_s: duration,
                status_every_s: (!quiet).then_some(status_every),
            };
            let inputs = Inputs {
                faults: &faults,
                labs: labs.as_deref(),
                commands: commands.as_deref(),
                plugin: loader::SearchPolicy::new(&plugin_dirs, allow_untrusted),
            };
            run(&file, &opts, realtime, &inputs, summary.as_deref())
        }
        Command::Check {
            files,
            plugin_dirs,
            allow_untrusted,
        } => check(
            &files,
            &loader::SearchPolicy::new(&plugin_dirs, allow_untrusted),
        ),
        Command::Plugins { plugin_dirs } => plugins(&plugin_dirs),
    };
    finish(result)
}

/// Exit status 0, or the error on stderr and status 2.
fn finish(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

/// Loads a protocol file; the error lists every problem.
fn load(file: &Path) -> Result<Loaded, String> {
    config::load(file).map_err(|e| e.to_string())
}

/// Formats a problem found after parsing (plugin, simulator) at the field it concerns.
fn located(loaded: &Loaded, file: &Path, path: &str, message: &str) -> String {
    let span = loaded.span_of(path);
    format!(
        "{}:{}:{}: {path}: {message}",
        file.display(),
        span.line,
        span.col
    )
}

/// What a run takes besides the protocol file and its options.
struct Inputs<'a> {
    faults: &'a [String],
    labs: Option<&'a Path>,
    commands: Option<&'a Path>,
    plugin: loader::SearchPolicy,
}

fn run(
    file: &Path,
    opts: &RunOptions,
    realtime: bool,
    inputs: &Inputs<'_>,
    summary_path: Option<&Path>,
) -> Result<(), String> {
    let loaded = load(file)?;
    let labs = match inputs.labs {
        Some(path) => config::load_labs(path, &loaded.plan).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    let commands = match inputs.commands {
        Some(path) => config::load_commands(path, &loaded.plan).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    let fault_specs = inputs.faults;
    let plugin = worker::start(&loaded.plan, &inputs.plugin)
        .map_err(|e| located(&loaded, file, "plugin", &e.to_string()))?;
    let faults = fault_specs
        .iter()
        .map(|s| Fault::parse(s, &loaded.file).map_err(|e| format!("--fault {s}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let scenario = opts.scenario.as_deref();
    let sim = SimHal::with_scenario(&loaded.file, scenario, opts.seed, &faults)
        .map_err(|e| located(&loaded, file, "simulator", &e))?;
    let opts = &RunOptions {
        scenario: scenario
            .or(loaded.plan.default_scenario.as_deref())
            .map(str::to_string),
        ..opts.clone()
    };
    let plan = Arc::new(loaded.plan);
    let print = |r: &Run| println!("{}", status::line(r));

    let started = Instant::now();
    let (run, overruns) = if realtime {
        let (channels, _hal_thread) = realtime::spawn_hal(Box::new(sim), plan.period_s)
            .map_err(|e| format!("cannot start the HAL thread: {e}"))?;
        let mut run = Run::new(plan, HalPort::Threaded(channels), plugin, opts);
        run.enter_operator_input(labs, commands);
        run.initialize()?;
        let overruns = realtime::run(&mut run, |r| {
            if opts.status_every_s.is_some() {
                print(r)
            }
        });
        (run, overruns)
    } else {
        let mut run = Run::direct(plan, Box::new(sim), plugin, opts);
        run.enter_operator_input(labs, commands);
        run.initialize()?;
        run.run_lockstep(opts.status_every_s, print);
        (run, 0)
    };
    let wall_s = started.elapsed().as_secs_f64();
    let summary = run.summary(wall_s, overruns);

    if let Some(path) = summary_path {
        let json = serde_json::to_string_pretty(&summary)
            .map_err(|e| format!("cannot encode the summary: {e}"))?;
        std::fs::write(path, json + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    println!(
        "{}: {} after {} simulated in {:.2} s wall ({} ticks, seed {}), final phase `{}`",
        summary.protocol,
        if summary.completed {
            "completed"
        } else {
            "stopped"
        },
        status::clock_text(summary.simulated_s),
        wall_s,
        summary.ticks,
        summary.seed,
        summary.final_phase
    );
    for a in &summary.alarms {
        println!(
            "  alarm {} [{}] first at {} ({}x): {}",
            a.id,
            a.priority.to_uppercase(),
            status::clock_text(a.first_s),
            a.count,
            a.text
        );
    }
    Ok(())
}

fn check(files: &[PathBuf], policy: &loader::SearchPolicy) -> Result<(), String> {
    if files.is_empty() {
        return Err("perfuse check: name at least one protocol file".into());
    }
    let mut failed = 0;
    for file in files {
        let outcome = load(file).and_then(|loaded| {
            let plugin = worker::start(&loaded.plan, policy)
                .map_err(|e| located(&loaded, file, "plugin", &e.to_string()))?;
            // Every scenario must build a simulator, not only the default one.
            let names = loaded.plan.scenarios.iter().map(|s| Some(s.as_str()));
            for scenario in std::iter::once(None).chain(names) {
                SimHal::with_scenario(&loaded.file, scenario, 0, &[]).map_err(|e| {
                    let path = scenario.map_or("simulator".to_string(), |s| {
                        format!("simulator.scenarios[\"{s}\"]")
                    });
                    located(&loaded, file, &path, &e)
                })?;
            }
            let scenarios = if loaded.plan.scenarios.is_empty() {
                String::new()
            } else {
                format!("; scenarios: {}", loaded.plan.scenarios.join(", "))
            };
            Ok(format!(
                "{}: ok — {} ({} phases, {} rules{scenarios}; plugin {} {} {} sha256 {})",
                file.display(),
                loaded.plan.name,
                loaded.plan.phases.len(),
                loaded.plan.rules.len(),
                plugin.info.id,
                plugin.info.version,
                plugin.info.trust,
                plugin.info.sha256
            ))
        });
        match outcome {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("{e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        Err(format!(
            "{failed} of {} protocol file(s) failed the check",
            files.len()
        ))
    } else {
        Ok(())
    }
}

fn scenarios(file: &Path) -> Result<(), String> {
    let loaded = load(file)?;
    let plan = &loaded.plan;
    if plan.scenarios.is_empty() {
        println!(
            "{}: no scenarios; the simulator runs the protocol's parameters",
            plan.name
        );
    }
    for name in &plan.scenarios {
        let default = plan.default_scenario.as_deref() == Some(name.as_str());
        println!("{name}{}", if default { " (default)" } else { "" });
    }
    Ok(())
}

fn plugins(plugin_dirs: &[PathBuf]) -> Result<(), String> {
    let dirs = loader::search_dirs(plugin_dirs);
    let found = loader::discover(&dirs);
    if found.is_empty() {
        let list: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(format!("no plugins found in: {}", list.join(", ")));
    }
    let release: Vec<PathBuf> = loader::release_dirs()
        .iter()
        .filter_map(|d| d.canonicalize().ok())
        .collect();
    println!(
        "{:<12} {:<10} {:<6} {:<9} {:<64} path",
        "id", "version", "abi", "trust", "sha256"
    );
    // Read from the files only: listing never runs a library.
    for path in found {
        let inspected = match loader::inspect(&path) {
            Ok(i) => i,
            Err(e) => {
                println!("(refused) {e}");
                continue;
            }
        };
        let metadata = match &inspected.metadata {
            Ok(m) => m,
            Err(e) => {
                println!("(refused) {}: {e}", path.display());
                continue;
            }
        };
        if let Err(e) = loader::check_metadata(&path, metadata) {
            println!("(refused) {e}");
            continue;
        }
        let dir = path.parent().and_then(|d| d.canonicalize().ok());
        let trust = if dir.is_some_and(|d| release.contains(&d)) {
            "release"
        } else {
            "untrusted"
        };
        println!(
            "{:<12} {:<10} {:<6} {:<9} {:<64} {}",
            metadata.id,
            metadata.version,
            format!("{}.{}", metadata.abi.0, metadata.abi.1),
            trust,
            inspected.sha256,
            path.display()
        );
        for p in &metadata.params {
            let default = p
                .default
                .map_or("required".to_string(), |d| format!("default {d}"));
            println!(
                "    param {:<28} {:<8} {} ..= {}, {default}",
                p.name, p.unit, p.min, p.max
            );
        }
    }
    Ok(())
}
