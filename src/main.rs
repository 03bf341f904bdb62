//! The `perfuse` command line: argument parsing and wiring only; the logic lives in the core.

use clap::{CommandFactory, Parser, Subcommand};
use perfuse::exit::{self, Failure};
use perfuse::wiring::{self, RecordTo, RunArgs};
use perfuse_core::config::{self, Loaded};
use perfuse_core::hal::rt::Priority;
use perfuse_core::logging;
use perfuse_core::plugin::loader;
use perfuse_plugin_sdk::metadata;
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

/// The team monitor's options of `perfuse run`.
#[derive(clap::Args)]
struct MonitorArgs {
    /// Serve a read-only live view of the run (web page, JSON, server-sent events) at this
    /// address, e.g. 127.0.0.1:8080 (port 0: any free port); its URL with the run's token is
    /// printed on stderr.
    #[arg(long, value_name = "ADDR:PORT")]
    monitor: Option<std::net::SocketAddr>,
    /// Let --monitor listen on an address that is not loopback (anyone who can reach it and
    /// has the URL sees the run).
    #[arg(long, requires = "monitor")]
    monitor_bind_any: bool,
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
    /// Set a plugin parameter for this run over the file's `plugin_params`, KEY=VALUE (e.g.
    /// kidney_mass_g=180), checked like the file's; repeatable. Kept in the record; with
    /// --resume, only the values the run started with are accepted.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Simulated time between status lines in lockstep runs.
    #[arg(long, default_value = "10m", value_parser = config::parse_duration)]
    status_every: f64,
    /// Extra directory to search for plugins; repeatable.
    #[arg(long = "plugin-dir")]
    plugin_dirs: Vec<PathBuf>,
    #[command(flatten)]
    monitor: MonitorArgs,
    /// Full-screen operator console (alarms, trends, keyboard actions) instead of status
    /// lines; in real time unless --speed is given.
    #[arg(long, conflicts_with_all = ["resume", "quiet"])]
    console: bool,
    /// Pace a simulated run at N simulated seconds per wall second (e.g. 60: 6 h in 6 min).
    #[arg(long, value_name = "N", conflicts_with_all = ["realtime", "resume"])]
    speed: Option<f64>,
    /// Load a plugin library that is neither pinned by the protocol nor shipped beside
    /// perfuse (its sha256 is still recorded).
    #[arg(long)]
    allow_untrusted: bool,
    /// The devices: the built-in simulator, or real devices over Modbus as --profile maps them
    /// (needs --realtime).
    #[arg(long, value_enum, default_value_t = HalKind::Sim, conflicts_with = "resume")]
    hal: HalKind,
    /// The device profile (RON) of a --hal modbus run.
    #[arg(long, required_if_eq("hal", "modbus"))]
    profile: Option<PathBuf>,
    /// Reach every device at this HOST:PORT instead of its profile's endpoint (a devsim
    /// rehearsal); with --resume, instead of where the record says the run's devices were (they
    /// came back elsewhere).
    #[arg(long, value_name = "HOST:PORT")]
    devices: Option<String>,
    /// Run the control thread and the device threads under SCHED_FIFO at N (1-98; the watchdog
    /// one above), with the process's memory locked: a busy machine then cannot delay a tick.
    /// Needs --realtime and the privilege (root, CAP_SYS_NICE or an rtprio limit); refused at
    /// start without it.
    #[arg(long, value_name = "N", value_parser = parse_priority)]
    rt_priority: Option<Priority>,
}

/// `--rt-priority N`: a SCHED_FIFO priority in its range.
fn parse_priority(s: &str) -> Result<Priority, String> {
    let n: i64 = s
        .parse()
        .map_err(|_| format!("expected a whole number from 1 to {}", Priority::MAX))?;
    Priority::new(n)
}

/// Where a run's devices are.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum HalKind {
    Sim,
    Modbus,
}

/// `perfuse devsim`'s arguments.
#[derive(clap::Args)]
struct DevsimCmd {
    /// The protocol file (RON).
    file: PathBuf,
    /// The device profile (RON) whose devices are served.
    #[arg(long)]
    profile: PathBuf,
    /// Address to serve the devices at, e.g. 127.0.0.1:5020 (port 0: any free port; the
    /// address is printed).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: String,
    /// Simulator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulator scenario the protocol declares.
    #[arg(long)]
    scenario: Option<String>,
    /// Inject a fault, KIND@TIME from the devsim's start (as `perfuse run --fault`); repeatable.
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// Make this device of the profile answer one request in four late (three times its
    /// timeout): an overloaded device, to rehearse slow answers; repeatable.
    #[arg(long, value_name = "DEVICE")]
    slow: Vec<String>,
    /// Make this device garble one answer in ten (a bit flipped), to rehearse a noisy serial
    /// line; its profile must use RTU framing, whose CRC tells; repeatable.
    #[arg(long, value_name = "DEVICE")]
    corrupt: Vec<String>,
    /// Make this device answer every write with an exception from TIME after the devsim's
    /// start on (`DEVICE@TIME`, e.g. `pump_drive@30s`), while it still answers reads: commands
    /// that no longer arrive, to rehearse its watchdog; repeatable.
    #[arg(long, value_name = "DEVICE@TIME")]
    refuse_writes: Vec<String>,
    /// Serve the devices from threads under SCHED_FIFO at N (1-98), memory locked, as real
    /// devices keep their own time; refused at start without the privilege.
    #[arg(long, value_name = "N", value_parser = parse_priority)]
    rt_priority: Option<Priority>,
    /// Extra directory to search for the protocol's model library; repeatable.
    #[arg(long = "plugin-dir")]
    plugin_dirs: Vec<PathBuf>,
    /// Load a model library that is neither pinned by the protocol nor shipped beside perfuse.
    #[arg(long)]
    allow_untrusted: bool,
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
    /// Set a plugin parameter in every case over the file's `plugin_params`, KEY=VALUE, checked
    /// like the file's; repeatable.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
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
    /// Load a plugin or model library that is neither pinned by the protocol nor shipped
    /// beside perfuse.
    #[arg(long)]
    allow_untrusted: bool,
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

/// What `perfuse new` makes.
#[derive(Subcommand)]
enum New {
    /// A plugin crate of its own (depending on this checkout's SDK by path), with a skeleton
    /// plugin, its unit tests and a protocol file on the simulator's kidney model.
    Plugin {
        /// The plugin's id: lower-case letters, digits, `-` and `_`, e.g. `va-ecmo`.
        id: String,
        /// Where to write it (default `./ID`); it must not exist or be empty.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The SDK to depend on (default: the SDK of the checkout perfuse was built from).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run a protocol on the simulator, or on real devices (--hal modbus).
    Run(Box<RunCmd>),
    /// Serve the simulator as the Modbus devices of a profile, in real time, until stopped: a
    /// rehearsal rig for `perfuse run --hal modbus`.
    Devsim(Box<DevsimCmd>),
    /// Validate protocol files and their plugins; every problem is reported.
    Check {
        files: Vec<PathBuf>,
        #[arg(long = "plugin-dir")]
        plugin_dirs: Vec<PathBuf>,
        /// Load a plugin library that is neither pinned by the protocol nor shipped beside
        /// perfuse (its sha256 is still recorded).
        #[arg(long)]
        allow_untrusted: bool,
        /// Also check a laboratory values file against each protocol.
        #[arg(long)]
        labs: Option<PathBuf>,
        /// Also check an operator commands file against each protocol.
        #[arg(long)]
        commands: Option<PathBuf>,
        /// Also check a device profile (`--hal modbus`) against each protocol.
        #[arg(long)]
        profile: Option<PathBuf>,
        /// Check with this plugin parameter over each file's `plugin_params`, KEY=VALUE, as
        /// `perfuse run --param` would set it; repeatable.
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
    },
    /// Pin a protocol file's plugin: write the sha256 of the library it would load into the
    /// file's `plugin` section (comments and layout kept), so that it is trusted wherever it lies.
    Pin {
        file: PathBuf,
        #[arg(long = "plugin-dir")]
        plugin_dirs: Vec<PathBuf>,
    },
    /// Start something new outside this checkout.
    #[command(subcommand)]
    New(New),
    /// List the simulator's models: sites, parameters (default, range, unit, meaning, source)
    /// and events; with protocol files, also the models their `simulator.library` loads.
    Models {
        /// Protocol files whose model libraries are listed too.
        files: Vec<PathBuf>,
        /// As JSON.
        #[arg(long)]
        json: bool,
        #[arg(long = "plugin-dir")]
        plugin_dirs: Vec<PathBuf>,
        /// Load a model library that is neither pinned by the protocol nor shipped beside perfuse.
        #[arg(long)]
        allow_untrusted: bool,
    },
    /// List the plugins found, read from their files without running them: id, version, ABI,
    /// trust, sha256 and declared parameters.
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
        /// Load a plugin library that is neither pinned by the protocol nor shipped beside
        /// perfuse (its sha256 is still recorded).
        #[arg(long)]
        allow_untrusted: bool,
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
        /// Load a plugin library that is neither pinned by the protocol nor shipped beside
        /// perfuse (its sha256 is still recorded).
        #[arg(long)]
        allow_untrusted: bool,
    },
    /// Print a shell completion script (e.g. `perfuse completions bash > ~/.local/share/bash-completion/completions/perfuse`).
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff; e.g. `perfuse man | man -l -`), or write every page, one per
    /// command, into a directory.
    Man {
        /// Write perfuse.1 and perfuse-<command>.1 here instead.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let rust_log = std::env::var("RUST_LOG").ok();
    match logging::Filter::parse(rust_log.as_deref(), log::LevelFilter::Info) {
        Ok(filter) => logging::init(filter),
        Err(e) => {
            logging::init(logging::Filter::level(log::LevelFilter::Info));
            eprintln!("perfuse: {e}; logging at `info`");
        }
    }
    let cli = Cli::parse();
    // A panic is a bug: its own exit status, not the 101 of an unwinding main.
    let code = match std::panic::catch_unwind(|| dispatch(cli)) {
        Ok(Ok(status)) => ExitCode::from(status),
        Ok(Err(f)) => exit::finish(Err(f)),
        Err(_) => exit::finish(Err(Failure::internal(
            "internal error: perfuse panicked (a bug; please report it with the command line)",
        ))),
    };
    log::logger().flush();
    code
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
                params,
                status_every,
                plugin_dirs,
                scenario,
                list_scenarios,
                labs,
                commands,
                monitor,
                console,
                speed,
                allow_untrusted,
                hal,
                profile,
                devices,
                rt_priority,
            } = *cmd;
            if resume.is_some() && profile.is_some() {
                return Err(Failure::usage(
                    "--profile: a resumed run drives its devices as the profile its record keeps",
                ));
            }
            if resume.is_none() && hal == HalKind::Sim && (profile.is_some() || devices.is_some()) {
                return Err(Failure::usage(
                    "--profile and --devices name real devices: give them with --hal modbus",
                ));
            }
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
                params,
                status_every_s: status_every,
                plugins: loader::SearchPolicy::new(&plugin_dirs, allow_untrusted),
                record: match (record, no_record) {
                    (Some(p), _) => RecordTo::Path(p),
                    (None, true) => RecordTo::None,
                    (None, false) => RecordTo::Default,
                },
                record_hz,
                monitor: monitor.monitor,
                monitor_bind_any: monitor.monitor_bind_any,
                console,
                speed,
                resume_devices_at: devices.clone().filter(|_| resume.is_some()),
                devices: match (hal, profile) {
                    (HalKind::Modbus, Some(profile)) => Some(wiring::DeviceArgs {
                        profile,
                        endpoint: devices,
                    }),
                    _ => None,
                },
                rt_priority,
            };
            let ended = match &resume {
                Some(path) => wiring::resume(path, &args)?,
                None => wiring::run(&args)?,
            };
            Ok(ended.exit_code())
        }
        Command::Devsim(cmd) => {
            let DevsimCmd {
                file,
                profile,
                listen,
                seed,
                scenario,
                faults,
                slow,
                corrupt,
                refuse_writes,
                rt_priority,
                plugin_dirs,
                allow_untrusted,
            } = *cmd;
            done(perfuse::devsim::run(&perfuse::devsim::DevsimArgs {
                file,
                profile,
                listen,
                seed,
                scenario,
                faults,
                slow,
                corrupt,
                refuse_writes,
                rt_priority,
                plugins: loader::SearchPolicy::new(&plugin_dirs, allow_untrusted),
            }))
        }
        Command::Replay {
            record,
            out,
            plugin_dirs,
            allow_untrusted,
        } => match wiring::replay(
            &record,
            &loader::SearchPolicy::new(&plugin_dirs, allow_untrusted),
            out.as_deref(),
        )? {
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
                params,
                out,
                shard,
                plugin_dirs,
                allow_untrusted,
            } => perfuse::sweep::run(&perfuse::sweep::SweepArgs {
                file: file.unwrap_or_default(),
                cases: cases.unwrap_or_default(),
                jobs: jobs
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
                duration_s: duration,
                scenario,
                seed,
                faults,
                params,
                out: out.unwrap_or_default(),
                shard,
                plugin_dirs,
                allow_untrusted,
            }),
        },
        Command::Summary {
            record,
            plugin_dirs,
            allow_untrusted,
        } => {
            let plugins = loader::SearchPolicy::new(&plugin_dirs, allow_untrusted);
            done(print(wiring::summary(&record, &plugins).map(|j| j + "\n")))
        }
        Command::Check {
            files,
            plugin_dirs,
            allow_untrusted,
            labs,
            commands,
            profile,
            params,
        } => done(perfuse::check::check(
            &files,
            &loader::SearchPolicy::new(&plugin_dirs, allow_untrusted),
            &perfuse::check::OperatorFiles {
                labs,
                commands,
                profile,
            },
            &params,
        )),
        Command::Plugins { plugin_dirs } => done(print(plugins(&plugin_dirs))),
        Command::Models {
            files,
            json,
            plugin_dirs,
            allow_untrusted,
        } => done(print(models(
            &files,
            json,
            &loader::SearchPolicy::new(&plugin_dirs, allow_untrusted),
        ))),
        Command::Pin { file, plugin_dirs } => done(print(perfuse::pin::pin(&file, &plugin_dirs))),
        Command::New(New::Plugin { id, dir, sdk }) => done(print(perfuse::scaffold::new_plugin(
            &id,
            dir.as_deref(),
            sdk.as_deref(),
        ))),
        Command::Completions { shell } => {
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "perfuse", &mut text);
            done(print(Ok(String::from_utf8_lossy(&text).into_owned())))
        }
        Command::Man { dir: Some(dir) } => {
            let cmd = Cli::command();
            clap_mangen::generate_to(cmd, &dir).map_err(|e| {
                Failure::input(format!(
                    "cannot write the manual pages in {}: {e}",
                    dir.display()
                ))
            })?;
            Ok(exit::OK)
        }
        Command::Man { dir: None } => {
            let mut text = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut text)
                .map_err(|e| Failure::internal(format!("cannot write the manual page: {e}")))?;
            done(print(Ok(String::from_utf8_lossy(&text).into_owned())))
        }
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

/// Lists the plugins found, from their files alone: listing never runs a library.
fn plugins(plugin_dirs: &[PathBuf]) -> Result<String, Failure> {
    let dirs = loader::search_dirs(plugin_dirs);
    let found = loader::discover(&dirs);
    if found.is_empty() {
        let list: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(Failure::plugin(format!(
            "no plugins found in: {}",
            list.join(", ")
        )));
    }
    let mut text = format!(
        "{:<12} {:<10} {:<6} {:<9} {:<64} path\n",
        "id", "version", "abi", "trust", "sha256"
    );
    for path in found {
        match describe(&path) {
            Ok(lines) => text.push_str(&lines),
            Err(e) => text.push_str(&format!("(refused) {e}")),
        }
        text.push('\n');
    }
    Ok(text)
}

/// `perfuse models`: the shipped models and those the protocol files' libraries provide.
fn models(files: &[PathBuf], json: bool, policy: &loader::SearchPolicy) -> Result<String, Failure> {
    for file in files {
        let loaded = load(file)?;
        perfuse::models::load_library(&loaded.file, policy).map_err(|(field, e)| {
            Failure::plugin(perfuse::wiring::located(&loaded, file, &field, &e))
        })?;
    }
    let models: Vec<_> = perfuse_hal_sim::model::all()
        .iter()
        .map(|m| m.info())
        .collect();
    Ok(perfuse::models::list(&models, json))
}

/// A plugin's line in `perfuse plugins`, then one line per declared parameter.
fn describe(path: &Path) -> Result<String, String> {
    let lib = loader::inspect(path).map_err(|e| e.to_string())?;
    let trust = if lib.in_release_dir() {
        "release"
    } else {
        "untrusted"
    };
    let metadata = lib
        .metadata()
        .map_err(|e| format!("refusing {}: {e}", path.display()))?;
    let Some(m) = metadata else {
        return Ok(format!(
            "{:<12} {:<10} {:<6} {trust:<9} {:<64} {} (no metadata record: built with an older SDK; nothing of it is known until it is loaded)",
            "?",
            "?",
            "?",
            lib.sha256,
            path.display()
        ));
    };
    loader::check_abi(path, m.abi).map_err(|e| e.to_string())?;
    let mut text = format!(
        "{:<12} {:<10} {:<6} {trust:<9} {:<64} {}",
        m.id,
        m.version,
        format!("{}.{}", m.abi.0, m.abi.1),
        lib.sha256,
        path.display()
    );
    for p in &m.params {
        let default = match (p.required, p.default) {
            (true, _) => "required".to_string(),
            (false, Some(d)) => format!("default {}", metadata::number(d)),
            (false, None) => "optional".to_string(),
        };
        text.push_str(&format!(
            "\n    {:<24} {:<8} {} to {}, {default}",
            p.name,
            p.unit,
            metadata::number(p.min),
            metadata::number(p.max)
        ));
    }
    Ok(text)
}
