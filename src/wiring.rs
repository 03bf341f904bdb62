//! Wiring a run: the protocol, its plugin, the simulator, the drivers, the outputs (status lines
//! and the record), signals, the summary. Also what re-runs a record: resume and replay.

use crate::exit::Failure;
use crate::signals;
use perfuse_core::config::{self, Loaded};
use perfuse_core::hal::rt::{self, Priority};
use perfuse_core::output::{Delivery, FrameReceiver};
use perfuse_core::plugin::{self, loader};
use perfuse_core::run::state::{RunState, StateSink};
use perfuse_core::run::{Run, RunOptions, StopRequest, realtime, status};
use perfuse_core::tick::HalPort;
use perfuse_hal_sim::{Fault, Organ, SimHal};
use perfuse_record::schema::{StoredRun, stored_run, text_sha256};
use perfuse_record::{
    EndReason, RecordFile, RecordedDevices, RunInputs, checkpoint, compare, writer,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Queue sizes: a few seconds of frames at a 100 Hz tick rate.
const STATUS_QUEUE: usize = 256;
const RECORD_QUEUE: usize = 1024;
/// The monitor takes a frame a second of run time (and those with events).
const MONITOR_QUEUE: usize = 256;
/// After the run, the time the monitor's open streams get to send the end.
const MONITOR_GRACE: std::time::Duration = std::time::Duration::from_secs(2);
/// How long the end of a run waits for the console to finish.
const CONSOLE_GRACE: std::time::Duration = std::time::Duration::from_secs(3);
/// The console's queues: frames (a few seconds of its frames), and the operator's actions.
const CONSOLE_QUEUE: usize = 64;
const CONSOLE_INPUT_QUEUE: usize = 64;

/// Where the run is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordTo {
    /// `runs/` of the working directory, under a name made of protocol, time and seed.
    Default,
    Path(PathBuf),
    None,
}

/// Everything `perfuse run` was given.
#[derive(Debug, Clone)]
pub struct RunArgs {
    pub file: PathBuf,
    pub duration_s: Option<f64>,
    pub seed: u64,
    /// Draw the organ from the protocol's cohort with this seed (`None`: the protocol's organ).
    pub organ_seed: Option<u64>,
    pub scenario: Option<String>,
    pub summary: Option<PathBuf>,
    pub quiet: bool,
    pub realtime: bool,
    pub labs: Option<PathBuf>,
    pub commands: Option<PathBuf>,
    pub faults: Vec<String>,
    /// `--param KEY=VALUE` texts: plugin parameters over the file's `plugin_params`.
    pub params: Vec<String>,
    pub status_every_s: f64,
    /// Where the plugin is looked for and whether an untrusted one may load.
    pub plugins: loader::SearchPolicy,
    pub record: RecordTo,
    /// Samples per second in the record.
    pub record_hz: f64,
    /// Where the team monitor listens (`--monitor`), and whether it may be off loopback.
    pub monitor: Option<std::net::SocketAddr>,
    pub monitor_bind_any: bool,
    /// The full-screen console instead of status lines; real time unless `speed` is given.
    pub console: bool,
    /// Lockstep paced to this many simulated seconds per wall second.
    pub speed: Option<f64>,
    /// Real devices over Modbus instead of the simulator (`--hal modbus`).
    pub devices: Option<DeviceArgs>,
    /// On `--resume` of a run on devices: every device at this `host:port` instead of where the
    /// record says they were (`--devices`).
    pub resume_devices_at: Option<String>,
    /// `SCHED_FIFO` for the control and device threads of a real-time run (`--rt-priority`).
    pub rt_priority: Option<Priority>,
}

/// Where the devices of a `--hal modbus` run are.
#[derive(Debug, Clone)]
pub struct DeviceArgs {
    /// The device profile (`--profile`).
    pub profile: PathBuf,
    /// Every device at this `host:port` instead of its profile's endpoint (`--devices`).
    pub endpoint: Option<String>,
}

/// How a run ended, for the exit status: 0, or 130 / 143 after SIGINT / SIGTERM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    pub signal: Option<i32>,
}

impl Ended {
    pub fn exit_code(self) -> u8 {
        match self.signal {
            Some(n) => 128 + n as u8,
            None => 0,
        }
    }
}

/// Formats a problem found after parsing (plugin, simulator) at the field it concerns.
pub fn located(loaded: &Loaded, file: &Path, path: &str, message: &str) -> String {
    let span = loaded.span_of(path);
    format!(
        "{}:{}:{}: {path}: {message}",
        file.display(),
        span.line,
        span.col
    )
}

/// An input file's text, read only if it is a regular file under the size limit.
fn read_text(path: &Path, what: &str) -> Result<String, Failure> {
    config::input_file::read_text(path, what).map_err(|d| {
        Failure::input(
            config::LoadError {
                file: path.to_path_buf(),
                diagnostics: vec![d],
            }
            .to_string(),
        )
    })
}

/// A run built from its inputs, not yet started.
struct Prepared {
    run: Run,
    inputs: RunInputs,
    /// The device links' counters of a `--hal modbus` run, told on stderr at its end.
    links: Vec<(String, Arc<perfuse_hal_modbus::link::LinkStats>)>,
}

/// The names diagnostics give the protocol, labs and commands files.
struct Sources<'a> {
    protocol: &'a Path,
    labs: &'a Path,
    commands: &'a Path,
}

impl<'a> Sources<'a> {
    /// The texts a record keeps, named after the protocol file the run was given.
    fn recorded(protocol: &'a Path) -> Self {
        Sources {
            protocol,
            labs: Path::new("labs (from the record)"),
            commands: Path::new("commands (from the record)"),
        }
    }
}

/// Builds a run from its inputs (as given, or as a record keeps them): protocol text, plugin,
/// labs, commands, faults, scenario, seed.
fn prepare(
    inputs: RunInputs,
    src: &Sources<'_>,
    plugins: &loader::SearchPolicy,
    priority: Option<Priority>,
) -> Result<Prepared, Failure> {
    let file = src.protocol;
    let input = |e: config::LoadError| Failure::input(e.to_string());
    let mut loaded = config::load_str(&inputs.protocol_text, file).map_err(input)?;
    // The devices' links have alarms a commands file may name: known before it is read.
    let devices = inputs.devices.as_ref();
    let profile = match devices {
        Some(d) => Some(device_profile(d, &mut loaded.plan, &inputs)?),
        None => None,
    };
    let commands = match &inputs.commands {
        Some(text) => {
            config::load_commands_str(text, src.commands, &loaded.plan, inputs.duration_s)
                .map_err(input)?
        }
        None => Vec::new(),
    };
    // Labs beyond the run's end would never happen: an error, not a silent drop.
    let end_s = config::run_end_s(&loaded.plan, inputs.duration_s, &commands);
    let labs = match &inputs.labs {
        Some(text) => config::load_labs_str(text, src.labs, &loaded.plan, end_s).map_err(input)?,
        None => Vec::new(),
    };
    // The devices are checked before the plugin is even loaded: nothing is commanded on a rig
    // that is not there, or not as its profile says.
    let modbus = match (devices, &profile) {
        (Some(d), Some(p)) => Some(connect_devices(d, p, priority)?),
        _ => None,
    };
    let links = modbus.as_ref().map(|m| m.stats()).unwrap_or_default();
    let devices = match modbus {
        Some(m) => Devices::Hal(Box::new(m)),
        None => Devices::Simulator(inputs.faults.clone()),
    };
    let spec = Wiring {
        plugins,
        params: inputs.params.clone(),
        seed: inputs.seed,
        organ_seed: inputs.organ_seed,
        scenario: inputs.scenario.clone(),
        duration_s: inputs.duration_s,
        realtime: inputs.realtime,
        priority,
        devices,
        labs,
        commands,
    };
    let run = wire(loaded, file, spec)?;
    Ok(Prepared { run, inputs, links })
}

/// Where a wired run's devices are.
pub enum Devices {
    /// The simulator the protocol describes, with these faults injected (as `--fault` takes
    /// them: `KIND@TIME`).
    Simulator(Vec<String>),
    /// A device driver built by the caller: real devices, or a test's wrapper of the simulator.
    Hal(Box<dyn perfuse_core::hal::Hal>),
    /// A device port the caller builds, called once the plugin is loaded so that a device
    /// clock that starts with the port does not run ahead of control (a test's driver).
    Port(Box<dyn FnOnce() -> HalPort>),
}

/// What [`wire`] builds a run from besides its protocol.
pub struct Wiring<'a> {
    /// Where the plugin (and an outside simulator model) is looked for and whether an untrusted
    /// one may load.
    pub plugins: &'a loader::SearchPolicy,
    /// `--param KEY=VALUE` texts: plugin parameters set over the file's `plugin_params`.
    pub params: Vec<String>,
    pub seed: u64,
    /// Draw the organ from the protocol's cohort with this seed (`None`: the protocol's organ).
    pub organ_seed: Option<u64>,
    /// The simulator's scenario (`None`: the protocol's default).
    pub scenario: Option<String>,
    pub duration_s: Option<f64>,
    /// The devices on a thread of their own, for a run against the wall clock; else the
    /// control thread steps them (lockstep).
    pub realtime: bool,
    /// `SCHED_FIFO` for the device thread of a real-time run (see [`claim_realtime`]).
    pub priority: Option<Priority>,
    pub devices: Devices,
    /// What the operator enters, at its times.
    pub labs: Vec<config::LabEntry>,
    pub commands: Vec<config::OperatorCommand>,
}

impl<'a> Wiring<'a> {
    /// A lockstep run on the protocol's simulator, with nothing else given.
    pub fn lockstep(plugins: &'a loader::SearchPolicy, seed: u64) -> Self {
        Wiring {
            plugins,
            params: Vec::new(),
            seed,
            organ_seed: None,
            scenario: None,
            duration_s: None,
            realtime: false,
            priority: None,
            devices: Devices::Simulator(Vec::new()),
            labs: Vec::new(),
            commands: Vec::new(),
        }
    }
}

/// The one place a run is put together, for `perfuse run`, resume, replay, the tests and the
/// examples: the run's `--param` values over the file's, the protocol's plugin, its simulator
/// (with its outside model library, when it names one) or the devices given, the drivers' port,
/// the operator's input; the run is initialized, not yet ticked. `file` names the protocol in
/// diagnostics.
pub fn wire(mut loaded: Loaded, file: &Path, w: Wiring<'_>) -> Result<Run, Failure> {
    loaded
        .plan
        .plugin
        .override_params(&w.params)
        .map_err(Failure::usage)?;
    // An outside simulator model is registered before anything names it (the organ, faults).
    if let Devices::Simulator(_) = w.devices {
        load_model_library(&loaded, file, w.plugins)?;
    }
    let simulator_error =
        |loaded: &Loaded, e: &str| Failure::input(located(loaded, file, "simulator", e));
    let organ = w
        .organ_seed
        .map(|s| Organ::draw(&loaded.file, w.scenario.as_deref(), s))
        .transpose()
        .map_err(|e| simulator_error(&loaded, &e))?;
    if let Devices::Simulator(_) = w.devices {
        enter_patient(&mut loaded, w.scenario.as_deref(), organ.as_ref())
            .map_err(|e| simulator_error(&loaded, &e))?;
    }
    let mut plugin = plugin::load(&loaded.plan, w.plugins)
        .map_err(|e| Failure::plugin(plugin_problem(&loaded, file, &e)))?;
    resolve_computed(&mut loaded, file, &mut plugin)?;
    bind_derived(&mut loaded, file, &plugin.info)?;
    log::debug!(
        target: "perfuse",
        "plugin {} {} (ABI {}.{}, sha256 {}) loaded from {}",
        plugin.info.id,
        plugin.info.version,
        plugin.info.abi.0,
        plugin.info.abi.1,
        plugin.info.sha256,
        plugin.info.path.display()
    );
    let period_s = loaded.plan.period_s;
    let port = match w.devices {
        Devices::Simulator(faults) => {
            let end_s = config::run_end_s(&loaded.plan, w.duration_s, &w.commands);
            let faults = parse_faults(&loaded, &faults, end_s)?;
            let sim = SimHal::with_organ(
                &loaded.file,
                w.scenario.as_deref(),
                organ.as_ref(),
                w.seed,
                &faults,
            )
            .map_err(|e| simulator_error(&loaded, &e))?;
            hal_port(Box::new(sim), w.realtime, period_s, w.priority)?
        }
        Devices::Hal(hal) => hal_port(hal, w.realtime, period_s, w.priority)?,
        Devices::Port(build) => build(),
    };
    let scenario = w.scenario.or(loaded.plan.default_scenario.clone());
    let opts = RunOptions {
        organ: organ.map(|o| perfuse_core::run::Organ {
            seed: o.seed,
            params: o.params,
        }),
        seed: w.seed,
        scenario,
        duration_s: w.duration_s,
    };
    let mut run = Run::new(Arc::new(loaded.plan), port, plugin, &opts);
    run.enter_operator_input(w.labs, w.commands);
    run.initialize()?;
    Ok(run)
}

/// Where a plugin's refusal is told: at the `--param` that set the parameter it is about, else
/// at the field of the file it concerns.
pub fn plugin_problem(loaded: &Loaded, file: &Path, e: &loader::PluginError) -> String {
    if let loader::PluginError::Params { error, .. } = e
        && let Some(given) = loaded.plan.plugin.override_text(&error.name)
    {
        return format!("{given}: {e}");
    }
    located(loaded, file, &e.field(), &e.to_string())
}

/// Writes the values the plugin computed at creation into the numbers the file gives as
/// `Of("name", factor)`, before anything reads the plan: refused like a refused plugin (each
/// problem at the file's `computed` entry) when a value the file declares is missing, not
/// finite or outside the file's interval. The tick then sees plain numbers only.
pub fn resolve_computed(
    loaded: &mut Loaded,
    file: &Path,
    plugin: &mut plugin::PluginInstance,
) -> Result<(), Failure> {
    let names = loaded.computed_names();
    if names.is_empty() {
        return Ok(());
    }
    let values = plugin.computed(&names).map_err(|code| {
        let message = format!(
            "plugin {} failed while giving its computed values (status {code})",
            plugin.info.id
        );
        Failure::plugin(located(loaded, file, "computed", &message))
    })?;
    loaded.resolve(&values).map_err(|diagnostics| {
        let lines: Vec<String> = diagnostics
            .iter()
            .map(|d| config::format_diagnostic(file, d))
            .collect();
        Failure::plugin(lines.join("\n"))
    })?;
    for (name, value) in &loaded.plan.computed {
        log::debug!(target: "perfuse", "computed {name} = {value} (plugin {})", plugin.info.id);
    }
    Ok(())
}

/// Enters the simulated organ's or patient's measures (the scenario's parameters, and the drawn
/// organ's when there is one) into the plugin's parameters before the plugin is opened, as the
/// team would enter the measured ones ([`perfuse_core::plan::PluginPlan::enter_patient`]).
pub fn enter_patient(
    loaded: &mut Loaded,
    scenario: Option<&str>,
    organ: Option<&Organ>,
) -> Result<(), String> {
    let mut patient = loaded.file.simulator.params_for(scenario)?;
    patient.extend(organ.iter().flat_map(|o| o.params.clone()));
    loaded.plan.plugin.enter_patient(&patient);
    Ok(())
}

/// Binds the derived values the file's conditions name (`derived.NAME`) to the plugin's, so that
/// the tick reads them by index; a name the plugin does not declare is an error at each
/// condition naming it.
pub fn bind_derived(
    loaded: &mut Loaded,
    file: &Path,
    plugin: &plugin::PluginInfo,
) -> Result<(), Failure> {
    loaded
        .plan
        .bind_derived(&plugin.id, &plugin.derived_names)
        .map_err(|problems| {
            let lines: Vec<String> = problems
                .iter()
                .map(|(path, message)| located(loaded, file, path, message))
                .collect();
            Failure::input(lines.join("\n"))
        })
}

/// Loads the outside model library the protocol's `simulator.library` names, if any, under the
/// plugin trust rules, and registers its model. Every path that builds the protocol's simulator
/// calls it first ([`wire`], `perfuse sweep`, `perfuse devsim`): the simulator, the cohort and
/// `--fault` then find the model by name.
pub fn load_model_library(
    loaded: &Loaded,
    file: &Path,
    plugins: &loader::SearchPolicy,
) -> Result<(), Failure> {
    let line = crate::models::load_library(&loaded.file, plugins)
        .map_err(|(field, e)| Failure::plugin(located(loaded, file, &field, &e)))?;
    if let Some(line) = line {
        log::debug!(target: "perfuse", "{line}");
    }
    Ok(())
}

/// Reads `--fault` texts against the protocol's simulator model; a fault after the run's end
/// (`end_s`) would never happen, so it is an error rather than a silent drop.
pub fn parse_faults(loaded: &Loaded, texts: &[String], end_s: f64) -> Result<Vec<Fault>, Failure> {
    texts
        .iter()
        .map(|s| {
            let fault = Fault::parse(s, &loaded.file)
                .map_err(|e| Failure::input(format!("--fault {s}: {e}")))?;
            if fault.at_s > end_s {
                return Err(Failure::input(format!(
                    "--fault {s}: expected a time within the run, which ends at {} s at the latest, found {} s",
                    config::bounds::short_num(end_s),
                    config::bounds::short_num(fault.at_s)
                )));
            }
            Ok(fault)
        })
        .collect()
}

/// The port the control thread reaches `hal` through: directly in lockstep, or through the
/// channels of a device thread of its own in real time.
fn hal_port(
    hal: Box<dyn perfuse_core::hal::Hal>,
    realtime: bool,
    period_s: f64,
    priority: Option<Priority>,
) -> Result<HalPort, Failure> {
    if !realtime {
        return Ok(HalPort::direct(hal));
    }
    let (channels, _hal_thread) = realtime::spawn_hal(hal, period_s, priority)
        .map_err(|e| format!("cannot start the HAL thread: {e}"))?;
    Ok(HalPort::Threaded(channels))
}

/// Reads the device profile against the protocol and names the plan's device links after its
/// devices.
fn device_profile(
    d: &RecordedDevices,
    plan: &mut perfuse_core::plan::Plan,
    inputs: &RunInputs,
) -> Result<perfuse_hal_modbus::profile::Profile, Failure> {
    if !inputs.realtime {
        return Err(Failure::usage(
            "--hal modbus drives real devices: it needs --realtime",
        ));
    }
    if !inputs.faults.is_empty() {
        return Err(Failure::usage(
            "--fault injects into the simulator: give it to `perfuse devsim`, not to a --hal modbus run",
        ));
    }
    let profile =
        perfuse_hal_modbus::profile::load_str(&d.profile_text, Path::new(&d.profile_path), plan)
            .map_err(|e| Failure::input(e.to_string()))?;
    plan.links = profile.devices.iter().map(|d| d.id.clone()).collect();
    Ok(profile)
}

/// Connects to every device of the profile (refused with [`crate::exit::DEVICES_UNREACHABLE`]).
fn connect_devices(
    d: &RecordedDevices,
    profile: &perfuse_hal_modbus::profile::Profile,
    priority: Option<Priority>,
) -> Result<perfuse_hal_modbus::ModbusHal, Failure> {
    perfuse_hal_modbus::ModbusHal::connect(profile, d.endpoint.as_deref(), priority).map_err(|e| {
        Failure {
            status: crate::exit::DEVICES_UNREACHABLE,
            message: format!("{e}: not started, nothing was commanded"),
        }
    })
}

/// Ticks between samples for a rate in Hz, refused beyond the tick rate.
fn sample_every(period_s: f64, hz: f64) -> Result<u64, Failure> {
    let tick_hz = 1.0 / period_s;
    if !(hz > 0.0 && hz <= tick_hz + 1e-9) {
        return Err(Failure::usage(format!(
            "--record-hz {hz}: expected more than 0 and at most the tick rate, {tick_hz} Hz"
        )));
    }
    Ok(((tick_hz / hz).round() as u64).max(1))
}

/// `runs/<protocol>-<UTC date and time>-seed<seed>.sqlite`, not taken yet.
fn default_record_path(protocol_file: &Path, seed: u64) -> PathBuf {
    let stem = protocol_file
        .file_stem()
        .map_or("run".into(), |s| s.to_string_lossy().into_owned());
    let base = format!(
        "{stem}-{}-seed{seed}",
        utc_stamp(perfuse_record::schema::now_unix_s())
    );
    let mut path = PathBuf::from("runs").join(format!("{base}.sqlite"));
    let mut n = 2;
    while path.exists() {
        path = PathBuf::from("runs").join(format!("{base}-{n}.sqlite"));
        n += 1;
    }
    path
}

/// `YYYYMMDDTHHMMSSZ` of a Unix time.
pub fn utc_stamp(unix_s: f64) -> String {
    let (y, m, d, h, min, sec) = perfuse_record::schema::utc_civil(unix_s);
    format!("{y:04}{m:02}{d:02}T{h:02}{min:02}{sec:02}Z")
}

/// The outputs of one run: status lines or console, and recorder threads.
struct Outputs {
    status: Option<std::thread::JoinHandle<()>>,
    /// The console, in the status lines' place.
    console: Option<std::thread::JoinHandle<()>>,
    recorder: Option<std::thread::JoinHandle<writer::Written>>,
    /// The record's file, named in the closing lines.
    record_path: Option<PathBuf>,
}

/// Where the status lines and the closing text go: stdout, or stderr when the summary takes
/// stdout. Writes that fail are dropped: a closed stdout never ends a run.
fn text_out(summary_to_stdout: bool) -> Box<dyn Write + Send> {
    if summary_to_stdout {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    }
}

/// Whether the status lines are coloured: on a terminal (the stream `text_out` writes them to),
/// unless `NO_COLOR` says otherwise.
fn colour(summary_to_stdout: bool) -> bool {
    use std::io::IsTerminal;
    let terminal = if summary_to_stdout {
        std::io::stderr().is_terminal()
    } else {
        std::io::stdout().is_terminal()
    };
    status::use_colour(terminal, std::env::var_os("NO_COLOR").as_deref())
}

/// Starts the status thread and the recorder on `run`.
fn start_outputs(
    run: &mut Run,
    status_every_ticks: Option<u64>,
    summary_to_stdout: bool,
    record: Option<(RecordFile, u64, u64)>,
    record_path: Option<PathBuf>,
) -> Result<Outputs, String> {
    let delivery = if run.is_lockstep() {
        Delivery::Wait
    } else {
        Delivery::Drop
    };
    let status = match status_every_ticks {
        Some(every) => {
            let rx = run.attach_output(every, STATUS_QUEUE, delivery);
            Some(
                status::spawn(
                    status::StatusNames::of(run),
                    rx,
                    text_out(summary_to_stdout),
                    colour(summary_to_stdout),
                )
                .map_err(|e| format!("cannot start the status thread: {e}"))?,
            )
        }
        None => None,
    };
    let recorder = match record {
        Some((file, every, checkpoint_every)) => {
            let rx: FrameReceiver = run.attach_output(every, RECORD_QUEUE, delivery);
            Some(
                writer::spawn(file, rx, checkpoint_every)
                    .map_err(|e| format!("cannot start the recorder: {e}"))?,
            )
        }
        None => None,
    };
    Ok(Outputs {
        status,
        console: None,
        recorder,
        record_path,
    })
}

/// Drives the run to its end (or a signal), closes the outputs, writes the record's end and
/// the summary, prints the closing lines.
fn drive_and_finish(
    run: Run,
    outputs: Outputs,
    stop: &StopRequest,
    summary_path: Option<&Path>,
    speed: Option<f64>,
    priority: Option<Priority>,
) -> Result<Ended, Failure> {
    let started = Instant::now();
    let (mut run, overruns) = if run.is_lockstep() {
        let run = match speed {
            Some(speed) => run.run_paced(stop, speed),
            None => run.run_lockstep(stop),
        };
        (run, 0)
    } else {
        realtime::run(run, stop, priority)
    };
    let wall_s = started.elapsed().as_secs_f64();
    run.close_outputs();
    // The record and the summary first: a status thread held by a paused terminal must not
    // hold them.
    let written = outputs.recorder.map(|h| h.join());
    let summary = run.summary(wall_s, overruns);
    let json = serde_json::to_string_pretty(&summary)
        .map_err(|e| format!("cannot encode the summary: {e}"))?;
    let reason = match (run.ended_by_signal, summary.stopped_s) {
        (Some(sig), _) => EndReason::Signal(sig),
        (None, Some(_)) => EndReason::Stopped,
        (None, None) => EndReason::Completed,
    };
    let mut problems = Vec::new();
    match written {
        Some(Ok(w)) => {
            if let Some(e) = &w.error {
                problems.push(format!("the record stopped early: {e}"));
            }
            if let Some((labs, commands)) = live_operator_input(&run)
                && let Err(e) = w.record.set_operator_input(&labs, &commands)
            {
                problems.push(e);
            }
            if let Err(e) = w.record.finish(reason, run.tick(), &json) {
                problems.push(e);
            }
        }
        Some(Err(_)) => problems.push("the recorder thread panicked".into()),
        None => {}
    }
    let to_stdout = summary_path.is_some_and(|p| p == Path::new("-"));
    if let Some(path) = summary_path {
        if to_stdout {
            let mut out = std::io::stdout();
            let _ = out.write_all((json.clone() + "\n").as_bytes());
        } else {
            write_atomically(path, &(json.clone() + "\n"))?;
        }
    }
    let mut text = format!(
        "{}: {} after {} simulated in {:.2} s wall ({} ticks, seed {}), final phase `{}`\n",
        summary.protocol,
        match reason {
            EndReason::Completed => "completed".to_string(),
            EndReason::Stopped => "stopped".to_string(),
            EndReason::Signal(_) => format!("stopped by {}", reason.text()),
        },
        status::clock_text(summary.simulated_s),
        wall_s,
        summary.ticks,
        match &summary.organ {
            Some(o) => format!("{}, organ seed {}", summary.seed, o.seed),
            None => summary.seed.to_string(),
        },
        summary.final_phase
    );
    for o in &run.plan.plugin.overridden {
        let file = o.file.map_or("the plugin's default".to_string(), |v| {
            format!("{} in the file", config::bounds::short_num(v))
        });
        text.push_str(&format!(
            "  plugin parameter {} = {} (--param; {file})\n",
            o.key,
            config::bounds::short_num(o.value)
        ));
    }
    for o in &run.plan.plugin.entered {
        let file = o.file.map_or(String::new(), |v| {
            format!("; {} in the file", config::bounds::short_num(v))
        });
        text.push_str(&format!(
            "  plugin parameter {} = {:.2} (the simulated patient's{file})\n",
            o.key, o.value
        ));
    }
    for a in &summary.alarms {
        let escalated = if a.highest_priority != a.priority {
            format!(" → {}", a.highest_priority.to_uppercase())
        } else {
            String::new()
        };
        text.push_str(&format!(
            "  alarm {} [{}{escalated}] first at {} ({}x): {}\n",
            a.id,
            a.priority.to_uppercase(),
            status::clock_text(a.first_s),
            a.count,
            a.text
        ));
    }
    if summary.alarm_log_dropped > 0 {
        text.push_str(&format!(
            "  alarm log: {} low-priority entries dropped\n",
            summary.alarm_log_dropped
        ));
    }
    if let Some(l) = &summary.lateness {
        text.push_str(&format!(
            "  tick lateness: p50 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs, max {:.0} µs ({} overruns)\n",
            l.p50_us, l.p99_us, l.p999_us, l.max_us, summary.overruns
        ));
    }
    if let Some(h) = outputs.status {
        let _ = h.join();
    }
    if let Some(h) = outputs.console {
        finish_console(h);
    }
    if let Some(p) = &outputs.record_path {
        text.push_str(&format!("  recorded in {}\n", p.display()));
    }
    let mut out = text_out(to_stdout);
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    for p in &problems {
        eprintln!("{p}");
    }
    if problems.is_empty() {
        Ok(Ended {
            signal: run.ended_by_signal,
        })
    } else {
        Err(Failure::internal(problems.join("\n")))
    }
}

/// With anything entered live (the console): the labs and commands files that reproduce the
/// run's operator input, scripted and live.
fn live_operator_input(run: &Run) -> Option<(String, String)> {
    let input = &run.tick_state().input;
    input.entered_live().then(|| {
        (
            config::labs_text(&run.plan, &input.entered_labs()),
            config::commands_text(&run.plan, &input.entered_commands()),
        )
    })
}

/// Writes a file through a temporary file in the same directory and a rename: a reader sees
/// the old file or the whole new one, never half.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let name = path
        .file_name()
        .map_or("summary".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut f = std::fs::File::create(&tmp).map_err(fail)?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// Takes the real-time scheduling a run asks for (`--rt-priority`), before anything is loaded or
/// commanded: refused when the run is not in real time, or when this process may not have it
/// (it needs root, `CAP_SYS_NICE` or an `rtprio` limit). The process's memory is locked too, so
/// that no page fault stalls a tick.
pub fn claim_realtime(priority: Option<Priority>, realtime: bool) -> Result<(), Failure> {
    let Some(p) = priority else {
        return Ok(());
    };
    if !realtime {
        return Err(Failure::usage(
            "--rt-priority schedules the threads of a run against the wall clock: it needs --realtime",
        ));
    }
    rt::check(p).map_err(|e| {
        format!(
            "--rt-priority {}: {p} refused ({e}); run as root, give the binary CAP_SYS_NICE \
             (setcap cap_sys_nice+ep) or raise the user's rtprio limit; not started",
            p.get()
        )
    })?;
    rt::lock_memory().map_err(|e| {
        format!(
            "--rt-priority {}: the process's memory cannot be locked ({e}); raise the user's \
             memlock limit; not started",
            p.get()
        )
    })?;
    Ok(())
}

/// `perfuse run`: runs a protocol on the simulator, recorded unless told otherwise.
pub fn run(args: &RunArgs) -> Result<Ended, Failure> {
    let stop = signals::install()?;
    // The console runs in real time unless paced by `--speed`.
    let args = &RunArgs {
        realtime: args.realtime || (args.console && args.speed.is_none()),
        ..args.clone()
    };
    if let Some(speed) = args.speed
        && !(speed.is_finite() && speed > 0.0)
    {
        return Err(Failure::usage(format!(
            "--speed {speed}: expected a number of simulated seconds per wall second, more than 0"
        )));
    }
    claim_realtime(args.rt_priority, args.realtime)?;
    let inputs = RunInputs {
        protocol_path: args.file.display().to_string(),
        protocol_text: read_text(&args.file, "protocol")?,
        seed: args.seed,
        organ_seed: args.organ_seed,
        scenario: args.scenario.clone(),
        duration_s: args.duration_s,
        faults: args.faults.clone(),
        params: args.params.clone(),
        labs: args
            .labs
            .as_deref()
            .map(|p| read_text(p, "labs"))
            .transpose()?,
        commands: args
            .commands
            .as_deref()
            .map(|p| read_text(p, "commands"))
            .transpose()?,
        realtime: args.realtime,
        sample_every_ticks: 1,
        checkpoint_every_ticks: 0,
        devices: args
            .devices
            .as_ref()
            .map(|d| -> Result<RecordedDevices, Failure> {
                Ok(RecordedDevices {
                    profile_path: d.profile.display().to_string(),
                    profile_text: read_text(&d.profile, "profile")?,
                    endpoint: d.endpoint.clone(),
                })
            })
            .transpose()?,
    };
    let none = Path::new("");
    let sources = Sources {
        protocol: &args.file,
        labs: args.labs.as_deref().unwrap_or(none),
        commands: args.commands.as_deref().unwrap_or(none),
    };
    let Prepared {
        mut run,
        mut inputs,
        links,
    } = prepare(inputs, &sources, &args.plugins, args.rt_priority)?;
    let period = run.plan.period_s;
    inputs.sample_every_ticks = sample_every(period, args.record_hz)?;
    if !args.realtime {
        // A checkpoint is written from a sample: on a multiple of the sample interval.
        let every = inputs.sample_every_ticks;
        inputs.checkpoint_every_ticks = checkpoint::every_ticks(period).div_ceil(every) * every;
    }
    let record = match &args.record {
        RecordTo::None => None,
        RecordTo::Default => Some(default_record_path(&args.file, args.seed)),
        RecordTo::Path(p) => Some(p.clone()),
    };
    let file = match &record {
        Some(path) => Some((
            RecordFile::create(path, &run, &inputs).map_err(Failure::input)?,
            inputs.sample_every_ticks,
            inputs.checkpoint_every_ticks,
        )),
        None => None,
    };
    if args.realtime
        && let Some(path) = &record
    {
        keep_states(&mut run, path)?;
    }
    let every = status_every_ticks(args.realtime, args.status_every_s, period);
    // The console takes the status lines' place on the terminal.
    let status_every = (!args.quiet && !args.console).then_some(every);
    let to_stdout = args.summary.as_deref() == Some(Path::new("-"));
    let console = args
        .console
        .then(|| console_setup(&run, args, record.as_deref(), every));
    let mut outputs = start_outputs(&mut run, status_every, to_stdout, file, record)?;
    if let Some(setup) = console {
        signals::survive_hangup()?;
        outputs.console = Some(start_console(&mut run, setup, args.speed)?);
    }
    let ended = drive_monitored(run, outputs, &stop, args);
    tell_links(&links);
    ended
}

/// Each device link's counters on stderr, at the end of a run on devices.
fn tell_links(links: &[(String, Arc<perfuse_hal_modbus::link::LinkStats>)]) {
    for (device, stats) in links {
        eprintln!("{}", link_line(device, stats));
    }
}

/// One device link's counters: requests, failures, reconnections and round trips.
fn link_line(device: &str, s: &perfuse_hal_modbus::link::LinkStats) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let q = |p| {
        s.rtt_quantile_us(p)
            .map_or("-".to_string(), |us| us.to_string())
    };
    format!(
        "device `{device}`: {} requests, {} timeouts, {} exceptions, {} corrupted, {} reconnections; round trip p50 {} us, p99 {} us, max {} us",
        s.requests.load(Relaxed),
        s.timeouts.load(Relaxed),
        s.exceptions.load(Relaxed),
        s.corrupt.load(Relaxed),
        s.reconnects.load(Relaxed),
        q(0.5),
        q(0.99),
        q(1.0)
    )
}

/// Waits for the console to show the end and restore the terminal, at most [`CONSOLE_GRACE`]:
/// a console stuck on a terminal that went away must not keep the process from ending (the
/// record and the summary are written by then).
fn finish_console(h: std::thread::JoinHandle<()>) {
    let started = Instant::now();
    while !h.is_finished() {
        if started.elapsed() > CONSOLE_GRACE {
            eprintln!("perfuse: the console did not finish; ending without it");
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = h.join();
}

/// Starts the team monitor when `--monitor` asks for it, drives the run to its end, and gives
/// the monitor's open streams a moment to send the end.
fn drive_monitored(
    mut run: Run,
    outputs: Outputs,
    stop: &StopRequest,
    args: &RunArgs,
) -> Result<Ended, Failure> {
    let monitor = start_monitor(&mut run, args)?;
    let ended = drive_and_finish(
        run,
        outputs,
        stop,
        args.summary.as_deref(),
        args.speed,
        args.rt_priority,
    );
    if let Some(m) = monitor {
        m.finish(MONITOR_GRACE);
    }
    ended
}

/// Starts the team monitor when `--monitor` asks for it: an output that may lose frames (it
/// shows the present, it keeps nothing), its URL with the run's token printed on stderr.
fn start_monitor(
    run: &mut Run,
    args: &RunArgs,
) -> Result<Option<perfuse_monitor::Monitor>, Failure> {
    let Some(addr) = args.monitor else {
        return Ok(None);
    };
    perfuse_monitor::check_address(addr, args.monitor_bind_any).map_err(Failure::usage)?;
    let every = ((1.0 / run.plan.period_s).round() as u64).max(1);
    let frames = run.attach_output(every, MONITOR_QUEUE, Delivery::Drop);
    let monitor = perfuse_monitor::start(status::StatusNames::of(run), frames, addr)
        .map_err(Failure::internal)?;
    eprintln!("monitor: {}", monitor.url());
    Ok(Some(monitor))
}

/// What the console shows besides the frames.
fn console_setup(
    run: &Run,
    args: &RunArgs,
    record: Option<&Path>,
    status_every_ticks: u64,
) -> perfuse_console::Setup {
    let period = run.plan.period_s;
    perfuse_console::Setup {
        names: status::StatusNames::of(run),
        record: record.map(|p| p.display().to_string()),
        end_tick: args.duration_s.map(|d| (d / period).round() as u64),
        pace: match args.speed {
            Some(s) => format!("×{} simulated", config::bounds::short_num(s)),
            None => "real time".into(),
        },
        status_every_ticks,
    }
}

/// Starts the console: its frames about ten times a wall second (at least every 0.25 s of run
/// time), dropped rather than waited for; its actions to the tick through the live queue.
fn start_console(
    run: &mut Run,
    setup: perfuse_console::Setup,
    speed: Option<f64>,
) -> Result<std::thread::JoinHandle<()>, Failure> {
    let every_s = (0.1 * speed.unwrap_or(1.0)).max(0.25);
    let every = ((every_s / run.plan.period_s).round() as u64).max(1);
    let frames = run.attach_output(every, CONSOLE_QUEUE, Delivery::Drop);
    let input = run.open_live_input(CONSOLE_INPUT_QUEUE);
    perfuse_console::spawn(setup, frames, input)
        .map_err(|e| Failure::internal(format!("cannot start the console: {e}")))
}

/// A real-time run keeps its state in its record at intervals, for a resume after a restart.
fn keep_states(run: &mut Run, record: &Path) -> Result<(), Failure> {
    let (tx, _writer) = checkpoint::spawn_state_writer(record)?;
    run.state_sink = Some(StateSink::new(tx, run.plan.period_s, run.tick()));
    Ok(())
}

/// Status lines every `every_s` of simulated time in lockstep, every second in real time.
fn status_every_ticks(realtime: bool, every_s: f64, period_s: f64) -> u64 {
    let s = if realtime { 1.0 } else { every_s };
    ((s / period_s).round() as u64).max(1)
}

/// A record's stored run, and the protocol file name it gave.
fn stored(conn: &perfuse_record::rusqlite::Connection) -> Result<(StoredRun, PathBuf), String> {
    let s = stored_run(conn)?;
    let file = PathBuf::from(&s.inputs.protocol_path);
    if text_sha256(&s.inputs.protocol_text) != s.protocol_sha256 {
        return Err("the record's protocol text does not match its recorded sha256".into());
    }
    Ok((s, file))
}

/// A resumed run keeps the `--param` values it started with (the record's): one given again
/// must say the same; any other is refused, since the plugin cannot change its parameters
/// halfway through a run.
fn same_params(given: &[String], stored: &[String]) -> Result<(), Failure> {
    let ran: Vec<(String, f64)> = stored
        .iter()
        .map(|t| config::parse_param(t))
        .collect::<Result<_, _>>()
        .map_err(|e| Failure::input(format!("the record's {e}")))?;
    for text in given {
        let (key, value) = config::parse_param(text).map_err(Failure::usage)?;
        if !ran.iter().any(|(k, v)| *k == key && *v == value) {
            let ran = if stored.is_empty() {
                "none".to_string()
            } else {
                stored.join(" ")
            };
            return Err(Failure::usage(format!(
                "--param {text}: a resumed run keeps the plugin parameters it started with (its --param: {ran}); not resumed"
            )));
        }
    }
    Ok(())
}

/// Refuses to re-run a record whose plugin library is not the one that ran.
fn same_plugin(run: &Run, s: &StoredRun) -> Result<(), String> {
    if run.plugin.sha256 != s.plugin_sha256 {
        return Err(format!(
            "the plugin `{}` found now (sha256 {}) is not the one the record ran (sha256 {})",
            run.plugin.id, run.plugin.sha256, s.plugin_sha256
        ));
    }
    Ok(())
}

/// `perfuse run --resume RECORD`: continues an interrupted lockstep run in the same record.
///
/// The run is rebuilt by running the recorded inputs again, deterministically and without
/// recording, up to the record's last checkpoint; the state reached must have the checkpoint's
/// digest. What the record holds after the checkpoint is dropped, a `resumed` event is written,
/// and the run goes on recording from there: the record is then, sample for sample, the one an
/// uninterrupted run writes.
pub fn resume(path: &Path, args: &RunArgs) -> Result<Ended, Failure> {
    let stop = signals::install()?;
    let conn = perfuse_record::open_existing(path, true).map_err(Failure::input)?;
    let (mut s, file) = stored(&conn).map_err(Failure::input)?;
    same_params(&args.params, &s.inputs.params)?;
    if let Some(reason) = &s.end_reason {
        return Err(Failure::input(format!(
            "{}: the run ended ({reason}); only an interrupted run can be resumed",
            path.display()
        )));
    }
    if let Some(at) = &args.resume_devices_at {
        let Some(devices) = &mut s.inputs.devices else {
            return Err(Failure::usage(format!(
                "--devices {at}: the run in {} was on the simulator, and a resumed run stays \
                 where it ran",
                path.display()
            )));
        };
        devices.endpoint = Some(at.clone());
    }
    claim_realtime(args.rt_priority, s.inputs.realtime)?;
    if s.inputs.realtime {
        return resume_realtime(path, args, &conn, &s, &file, &stop);
    }
    let Some((at, digest)) = checkpoint::last(&conn)? else {
        return Err(Failure::input(format!(
            "{}: the run was interrupted before its first checkpoint (one simulated minute); start it again",
            path.display()
        )));
    };
    drop(conn);
    let Prepared {
        mut run, inputs, ..
    } = prepare(
        s.inputs.clone(),
        &Sources::recorded(&file),
        &args.plugins,
        None,
    )?;
    same_plugin(&run, &s).map_err(Failure::plugin)?;
    let probe = run.attach_output(inputs.checkpoint_every_ticks, 4, Delivery::Wait);
    let mut reached = None;
    while run.tick() <= at && !run.finished() {
        run.step_lockstep();
        for f in probe.try_iter() {
            if f.tick == at && f.sample {
                reached = Some(checkpoint::digest(&f));
            }
        }
    }
    run.detach_outputs();
    drop(probe);
    if reached.as_deref() != Some(digest.as_str()) {
        return Err(Failure::input(format!(
            "{}: re-running the recorded inputs does not reach the state of the checkpoint at {} (the core, the simulator or the plugin changed); not resumed",
            path.display(),
            status::clock_text(at as f64 * run.plan.period_s)
        )));
    }
    let record = RecordFile::reopen(path, &run)?;
    checkpoint::truncate_after(&record.conn, at)?;
    writer::insert_run_event(
        &record.conn,
        at + 1,
        (at + 1) as f64 * run.plan.period_s,
        "resumed",
        &format!("{{\"from_checkpoint_tick\":{at}}}"),
    )?;
    let status_every =
        (!args.quiet).then(|| status_every_ticks(false, args.status_every_s, run.plan.period_s));
    let to_stdout = args.summary.as_deref() == Some(Path::new("-"));
    let outputs = start_outputs(
        &mut run,
        status_every,
        to_stdout,
        Some((
            record,
            inputs.sample_every_ticks,
            inputs.checkpoint_every_ticks,
        )),
        Some(path.to_path_buf()),
    )?;
    drive_monitored(run, outputs, &stop, args)
}

/// Resume of a real-time run: its last saved state is restored into a run built afresh from the
/// recorded inputs; the time since that state (the controller was down) counts as run time, so
/// the phase clock and dose windows move on by it. The record goes on in the same file after a
/// `resumed` event; what it holds from before stays, as it happened.
fn resume_realtime(
    path: &Path,
    args: &RunArgs,
    conn: &perfuse_record::rusqlite::Connection,
    s: &StoredRun,
    file: &Path,
    stop: &StopRequest,
) -> Result<Ended, Failure> {
    let Some((at, text)) = checkpoint::last_state(conn).map_err(Failure::input)? else {
        return Err(Failure::input(format!(
            "{}: the real-time run was interrupted before its first saved state ({} s); start it again",
            path.display(),
            perfuse_core::run::state::STATE_EVERY_S
        )));
    };
    let state = RunState::from_json(&text).map_err(Failure::input)?;
    let (started_at, last): (f64, Option<i64>) = conn
        .query_row(
            "SELECT started_at, (SELECT max(tick) FROM samples) FROM run",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
    // A run on real devices reconnects to them (the record keeps its profile): never to the
    // simulator.
    let Prepared {
        mut run,
        inputs,
        links,
    } = prepare(
        s.inputs.clone(),
        &Sources::recorded(file),
        &args.plugins,
        args.rt_priority,
    )?;
    same_plugin(&run, s).map_err(Failure::plugin)?;
    let period = run.plan.period_s;
    // Down since the state was saved, and at least past what the record already holds.
    let since_state = perfuse_record::schema::now_unix_s() - (started_at + at as f64 * period);
    let recorded = last.map_or(0.0, |t| (t as u64 + 1).saturating_sub(at) as f64 * period);
    let downtime_s = since_state.max(recorded).max(0.0);
    run.restore_state(&state, downtime_s)
        .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
    let record = RecordFile::reopen(path, &run)?;
    // Devices found elsewhere (`--devices`): the record says where, for the event and for a
    // later resume.
    let moved_to = match (&args.resume_devices_at, &s.inputs.devices) {
        (Some(at), Some(devices)) => {
            record.set_devices(devices)?;
            format!(",\"devices_at\":{}", serde_json::Value::from(at.as_str()))
        }
        _ => String::new(),
    };
    writer::insert_run_event(
        &record.conn,
        run.tick(),
        run.tick() as f64 * period,
        "resumed",
        &format!("{{\"from_state_tick\":{at},\"downtime_s\":{downtime_s:.3}{moved_to}}}"),
    )?;
    keep_states(&mut run, path)?;
    let status_every = (!args.quiet).then(|| status_every_ticks(true, 1.0, period));
    let to_stdout = args.summary.as_deref() == Some(Path::new("-"));
    let outputs = start_outputs(
        &mut run,
        status_every,
        to_stdout,
        Some((record, inputs.sample_every_ticks, 0)),
        Some(path.to_path_buf()),
    )?;
    let ended = drive_monitored(run, outputs, stop, args);
    tell_links(&links);
    ended
}

/// `perfuse replay RECORD`: runs a recorded simulated run again from what the record holds and
/// compares the new record with the stored one. `Ok(None)`: identical.
pub fn replay(
    path: &Path,
    plugins: &loader::SearchPolicy,
    out: Option<&Path>,
) -> Result<Option<compare::Difference>, Failure> {
    let stored_conn = perfuse_record::open_existing(path, false).map_err(Failure::input)?;
    let (s, file) = stored(&stored_conn).map_err(Failure::input)?;
    if s.inputs.realtime {
        return Err(Failure::input(format!(
            "{}: a real-time run depends on the wall clock and cannot be replayed; only lockstep runs can",
            path.display()
        )));
    }
    let Prepared {
        mut run, inputs, ..
    } = prepare(s.inputs.clone(), &Sources::recorded(&file), plugins, None)?;
    same_plugin(&run, &s).map_err(Failure::plugin)?;
    let tmp;
    let new_path = match out {
        Some(p) => p.to_path_buf(),
        None => {
            tmp = tempdir()?;
            tmp.path.join("replay.sqlite")
        }
    };
    let record = RecordFile::create(&new_path, &run, &inputs)?;
    let outputs = start_outputs(
        &mut run,
        None,
        false,
        Some((
            record,
            inputs.sample_every_ticks,
            inputs.checkpoint_every_ticks,
        )),
        None,
    )?;
    // The stored run's last tick: its end, or where it was interrupted or stopped by a signal.
    let last: Option<u64> = stored_conn
        .query_row("SELECT max(tick) FROM samples", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .map_err(|e| e.to_string())?
        .map(|t| t as u64);
    let until = match (&s.end_reason, s.end_tick) {
        (Some(r), Some(end)) if r.starts_with("signal") => Some(end),
        (Some(_), _) => None,
        (None, _) => last.map(|t| t + 1),
    };
    while !run.finished() && until.is_none_or(|u| run.tick() < u) {
        run.step_lockstep();
    }
    if let (Some(u), Some(r)) = (until, &s.end_reason)
        && r.starts_with("signal")
        && run.tick() == u
    {
        run.stop_by_signal(if r.contains("SIGTERM") { 15 } else { 2 });
    }
    run.close_outputs();
    let written = outputs
        .recorder
        .map(|h| {
            h.join()
                .map_err(|_| "the recorder thread panicked".to_string())
        })
        .transpose()?;
    if let Some(w) = written {
        if let Some(e) = w.error {
            return Err(Failure::internal(format!(
                "the replay's record failed: {e}"
            )));
        }
        drop(w.record);
    }
    let new_conn = perfuse_record::open_existing(&new_path, false)?;
    let limit = if s.end_reason.is_none() { last } else { None };
    Ok(compare::first_difference(&stored_conn, &new_conn, limit)?)
}

/// A temporary directory removed when dropped.
struct TempDir {
    path: PathBuf,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn tempdir() -> Result<TempDir, String> {
    let path = std::env::temp_dir().join(format!(
        "perfuse-replay-{}-{}",
        std::process::id(),
        utc_stamp(perfuse_record::schema::now_unix_s())
    ));
    std::fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    Ok(TempDir { path })
}

/// `perfuse summary RECORD`: the summary JSON of a recorded run. A finished run's is stored
/// with it; an interrupted lockstep run's is rebuilt by running its inputs again to where the
/// record ends.
pub fn summary(path: &Path, plugins: &loader::SearchPolicy) -> Result<String, Failure> {
    let conn = perfuse_record::open_existing(path, false).map_err(Failure::input)?;
    let (s, file) = stored(&conn).map_err(Failure::input)?;
    if let Some(json) = s.summary {
        return Ok(json);
    }
    if s.inputs.realtime {
        return Err(Failure::input(format!(
            "{}: the real-time run was interrupted before its summary was written",
            path.display()
        )));
    }
    let last: Option<i64> = conn
        .query_row(
            "SELECT max(tick) FROM (SELECT max(tick) AS tick FROM samples UNION ALL SELECT max(tick) FROM events)",
            [],
            |r| r.get(0),
        )
        .map_err(|e| e.to_string())?;
    let end = last.map_or(0, |t| t as u64 + 1);
    let Prepared { mut run, .. } =
        prepare(s.inputs.clone(), &Sources::recorded(&file), plugins, None)?;
    same_plugin(&run, &s).map_err(Failure::plugin)?;
    while !run.finished() && run.tick() < end {
        run.step_lockstep();
    }
    Ok(serde_json::to_string_pretty(&run.summary(0.0, 0)).map_err(|e| e.to_string())?)
}
