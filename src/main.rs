//! The `perfuse` command line: argument parsing and wiring only; the logic lives in the core.

use clap::{Parser, Subcommand};
use perfuse::exit::{self, Failure};
use perfuse::wiring::{self, RecordTo, RunArgs, located};
use perfuse_core::config::{self, Loaded};
use perfuse_core::plugin::{self, loader};
use perfuse_hal_sim::SimHal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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

/// `perfuse run`'s arguments.
#[derive(clap::Args)]
struct RunCmd {
    /// The protocol file (RON).
    #[arg(required_unless_present = "resume")]
    file: Option<PathBuf>,
    /// Run length, overriding the protocol's (e.g. 90m, 6h, 1h30m; at most 168h).
    #[arg(long, value_parser = config::parse_run_duration)]
    duration: Option<f64>,
    /// Simulator seed: the same seed gives the same record.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Draw the organ or patient from the protocol's virtual cohort with this seed
    /// (separate from the noise seed); without it, the protocol's own organ.
    #[arg(long)]
    organ_seed: Option<u64>,
    /// Simulator scenario the protocol declares (e.g. healthy, injured).
    #[arg(long)]
    scenario: Option<String>,
    /// List the protocol's scenarios and exit.
    #[arg(long)]
    list_scenarios: bool,
    /// Write the run summary (JSON) here; `-`: to stdout (status lines then go to stderr).
    #[arg(long)]
    summary: Option<PathBuf>,
    /// Record the run in this file (default: a new file in `runs/`).
    #[arg(long, conflicts_with = "no_record")]
    record: Option<PathBuf>,
    /// Do not record the run.
    #[arg(long)]
    no_record: bool,
    /// Samples per second in the record (at most the tick rate).
    #[arg(long, default_value_t = 1.0)]
    record_hz: f64,
    /// Continue an interrupted lockstep run from its record's last checkpoint.
    #[arg(long, conflicts_with_all = ["file", "record", "no_record", "realtime"])]
    resume: Option<PathBuf>,
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
    /// one of Acknowledge("alarm"), Reset("alarm"), PauseAudio, ResumeAudio,
    /// Setpoint(signal, value), AdvancePhase, HoldPhase(bool), Stop.
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
}

/// `perfuse sweep`'s arguments.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct SweepCmd {
    #[command(subcommand)]
    merge: Option<SweepMerge>,
    /// The protocol file (RON).
    #[arg(required = true)]
    file: Option<PathBuf>,
    /// Cases in the whole sweep; case i runs with noise and organ seed `--seed` + i.
    #[arg(long, required = true)]
    cases: Option<u64>,
    /// Cases run at once (worker threads); default: the machine's cores.
    #[arg(long)]
    jobs: Option<usize>,
    /// Length of every case, overriding the protocol's (e.g. 1h).
    #[arg(long, value_parser = config::parse_run_duration)]
    duration: Option<f64>,
    /// Simulator scenario: its settings pin those parameters in every case.
    #[arg(long)]
    scenario: Option<String>,
    /// Seeds of case 0.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Inject a fault in every case, KIND@TIME or KIND@FROM..TO (e.g. occlusion@10m..50m, the
    /// time drawn per case); repeatable.
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// The directory for cases.csv, summary.md and sweep.json.
    #[arg(long, required = true)]
    out: Option<PathBuf>,
    /// Run only the K-th of N deterministic slices of the cases (e.g. 3/10); join the slices'
    /// directories with `perfuse sweep merge`.
    #[arg(long, value_parser = perfuse::sweep::parse_shard)]
    shard: Option<(u64, u64)>,
    /// Extra directory to search for plugins; repeatable.
    #[arg(long = "plugin-dir")]
    plugin_dirs: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum SweepMerge {
    /// Join the shards of one sweep (every shard once) into the table of the whole sweep.
    Merge {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run a protocol on the simulator.
    Run(Box<RunCmd>),
    /// Validate protocol files and their plugins; every problem is reported.
    Check {
        files: Vec<PathBuf>,
        #[arg(long = "plugin-dir")]
        plugin_dirs: Vec<PathBuf>,
    },
    /// List the plugins found, with id, version and ABI version.
    Plugins {
        #[arg(long = "plugin-dir")]
        plugin_dirs: Vec<PathBuf>,
    },
    /// Run a recorded simulated run again and compare: exit 0 when identical, 1 at the first
    /// difference.
    Replay {
        record: PathBuf,
        /// Keep the replay's record here (default: a temporary file).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long = "plugin-dir")]
        plugin_dirs: Vec<PathBuf>,
    },
    /// List the records in a directory (default `runs`).
    Runs {
        #[arg(default_value = "runs")]
        dir: PathBuf,
    },
    /// Export a record's tables (samples, alarms, events, operator, assessments).
    Export {
        record: PathBuf,
        /// csv or parquet.
        #[arg(long, default_value = "csv")]
        format: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a run's report (one HTML page) from its record, or several runs side by side.
    Report {
        #[arg(required = true)]
        records: Vec<PathBuf>,
        /// The HTML file to write (default: the first record's name with `.html`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// html, or json: the quality score and its parts.
        #[arg(long, default_value = "html")]
        format: String,
    },
    /// Run many cohort members of a protocol in parallel (`perfuse sweep FILE --cases N`), or
    /// join the shards of a sweep (`perfuse sweep merge DIR... --out DIR`).
    Sweep(Box<SweepCmd>),
    /// Print the summary JSON of a record.
    Summary {
        record: PathBuf,
        #[arg(long = "plugin-dir")]
        plugin_dirs: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    perfuse_core::logging::init(log::LevelFilter::Info);
    let cli = Cli::parse();
    // A panic is a bug: its own exit status, not the 101 of an unwinding main.
    match std::panic::catch_unwind(|| dispatch(cli)) {
        Ok(Ok(status)) => ExitCode::from(status),
        Ok(Err(f)) => exit::finish(Err(f)),
        Err(_) => exit::finish(Err(Failure::internal(
            "internal error: perfuse panicked (a bug; please report it with the command line)",
        ))),
    }
}

/// Runs the command; its exit status, or why it failed.
fn dispatch(cli: Cli) -> Result<u8, Failure> {
    let done = |r: Result<(), Failure>| r.map(|()| exit::OK);
    match cli.command {
        Command::Run(cmd) => {
            let RunCmd {
                file,
                duration,
                seed,
                organ_seed,
                summary,
                record,
                no_record,
                record_hz,
                resume,
                quiet,
                realtime,
                faults,
                status_every,
                plugin_dirs,
                scenario,
                list_scenarios,
                labs,
                commands,
            } = *cmd;
            if list_scenarios && let Some(file) = &file {
                return scenarios(file).map(|()| exit::OK);
            }
            let args = RunArgs {
                file: file.unwrap_or_default(),
                duration_s: duration,
                seed,
                organ_seed,
                scenario,
                summary,
                quiet,
                realtime,
                labs,
                commands,
                faults,
                status_every_s: status_every,
                plugin_dirs,
                record: match (record, no_record) {
                    (Some(p), _) => RecordTo::Path(p),
                    (None, true) => RecordTo::None,
                    (None, false) => RecordTo::Default,
                },
                record_hz,
            };
            let ended = match &resume {
                Some(path) => wiring::resume(path, &args)?,
                None => wiring::run(&args)?,
            };
            Ok(ended.exit_code())
        }
        Command::Replay {
            record,
            out,
            plugin_dirs,
        } => match wiring::replay(&record, &plugin_dirs, out.as_deref())? {
            None => {
                println!("{}: replay identical", record.display());
                Ok(exit::OK)
            }
            Some(d) => {
                println!("{}: {d}", record.display());
                Ok(exit::REPLAY_DIFFERS)
            }
        },
        Command::Runs { dir } => done(print(perfuse::records::runs(&dir).map_err(Failure::input))),
        Command::Export {
            record,
            format,
            out,
        } => done(print(
            perfuse::records::export(&record, &format, &out).map_err(Failure::input),
        )),
        Command::Report {
            records,
            out,
            format,
        } => done(print(
            perfuse_report::Format::parse(&format)
                .and_then(|f| perfuse_report::run(&records, out.as_deref(), f))
                .map_err(Failure::input),
        )),
        Command::Sweep(cmd) => match *cmd {
            SweepCmd {
                merge: Some(SweepMerge::Merge { dirs, out }),
                ..
            } => {
                let summary = perfuse::sweep::merge(&dirs, &out)?;
                print!("{summary}");
                Ok(exit::OK)
            }
            SweepCmd {
                merge: None,
                file,
                cases,
                jobs,
                duration,
                scenario,
                seed,
                faults,
                out,
                shard,
                plugin_dirs,
            } => perfuse::sweep::run(&perfuse::sweep::SweepArgs {
                file: file.unwrap_or_default(),
                cases: cases.unwrap_or_default(),
                jobs: jobs
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
                duration_s: duration,
                scenario,
                seed,
                faults,
                out: out.unwrap_or_default(),
                shard,
                plugin_dirs,
            }),
        },
        Command::Summary {
            record,
            plugin_dirs,
        } => done(print(
            wiring::summary(&record, &plugin_dirs).map(|j| j + "\n"),
        )),
        Command::Check { files, plugin_dirs } => done(check(&files, &plugin_dirs)),
        Command::Plugins { plugin_dirs } => done(plugins(&plugin_dirs)),
    }
}

/// Prints a command's text on stdout (a closed stdout is not an error).
fn print(result: Result<String, Failure>) -> Result<(), Failure> {
    use std::io::Write;
    result.map(|text| {
        let _ = std::io::stdout().write_all(text.as_bytes());
    })
}

/// Loads a protocol file; the error lists every problem.
fn load(file: &Path) -> Result<Loaded, Failure> {
    config::load(file).map_err(|e| Failure::input(e.to_string()))
}

/// Checks every file; the status is invalid input when any file is invalid, else a refused
/// plugin when any plugin was refused.
fn check(files: &[PathBuf], plugin_dirs: &[PathBuf]) -> Result<(), Failure> {
    if files.is_empty() {
        return Err(Failure::usage(
            "perfuse check: name at least one protocol file",
        ));
    }
    let dirs = loader::search_dirs(plugin_dirs);
    let mut failed = 0;
    let mut status = exit::PLUGIN_REFUSED;
    for file in files {
        let outcome = load(file).and_then(|loaded| {
            let plugin = plugin::load(&loaded.plan, &dirs)
                .map_err(|e| Failure::plugin(located(&loaded, file, "plugin", &e.to_string())))?;
            // Every scenario must build a simulator, not only the default one.
            let names = loaded.plan.scenarios.iter().map(|s| Some(s.as_str()));
            for scenario in std::iter::once(None).chain(names) {
                SimHal::with_scenario(&loaded.file, scenario, 0, &[]).map_err(|e| {
                    let path = scenario.map_or("simulator".to_string(), |s| {
                        format!("simulator.scenarios[\"{s}\"]")
                    });
                    Failure::input(located(&loaded, file, &path, &e))
                })?;
            }
            let scenarios = if loaded.plan.scenarios.is_empty() {
                String::new()
            } else {
                format!("; scenarios: {}", loaded.plan.scenarios.join(", "))
            };
            Ok(format!(
                "{}: ok — {} ({} phases, {} rules{scenarios}; plugin {} {} sha256 {})",
                file.display(),
                loaded.plan.name,
                loaded.plan.phases.len(),
                loaded.plan.rules.len(),
                plugin.info.id,
                plugin.info.version,
                plugin.info.sha256
            ))
        });
        match outcome {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("{}", e.message);
                failed += 1;
                if e.status != exit::PLUGIN_REFUSED {
                    status = e.status;
                }
            }
        }
    }
    if failed > 0 {
        Err(Failure {
            status,
            message: format!(
                "{failed} of {} protocol file(s) failed the check",
                files.len()
            ),
        })
    } else {
        Ok(())
    }
}

fn scenarios(file: &Path) -> Result<(), Failure> {
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

fn plugins(plugin_dirs: &[PathBuf]) -> Result<(), Failure> {
    let dirs = loader::search_dirs(plugin_dirs);
    let found = loader::discover(&dirs);
    if found.is_empty() {
        let list: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(Failure::plugin(format!(
            "no plugins found in: {}",
            list.join(", ")
        )));
    }
    println!(
        "{:<12} {:<10} {:<6} {:<64} path",
        "id", "version", "abi", "sha256"
    );
    for path in found {
        match loader::open(&path, None) {
            Ok(lib) => println!(
                "{:<12} {:<10} {:<6} {:<64} {}",
                lib.id,
                lib.version,
                format!("{}.{}", lib.abi.0, lib.abi.1),
                lib.sha256,
                path.display()
            ),
            Err(e) => println!("(refused) {e}"),
        }
    }
    Ok(())
}
