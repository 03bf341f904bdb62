//! One case of a sweep: a lockstep run in this thread with no outputs attached (no status lines,
//! no record), its summary turned into one CSV row.

use super::{ReplayBase, SweepArgs, replay_command};
use crate::exit::Failure;
use crate::wiring::{
    bind_derived, enter_patient, load_model_library, located, plugin_problem, resolve_computed,
};
use perfuse_core::config::alarm_ids;
use perfuse_core::config::{self, Loaded};
use perfuse_core::plan::Plan;
use perfuse_core::plugin::{self, loader, loader::OpenedLibrary};
use perfuse_core::run::summary::Summary;
use perfuse_core::run::{Run, RunOptions, StopRequest};
use perfuse_hal_sim::{Fault, Organ, SimHal};
use perfuse_record::schema::text_sha256;
use std::path::PathBuf;
use std::sync::Arc;

/// What makes one case: its index in the sweep, its seeds and its faults (times drawn).
#[derive(Debug, Clone)]
pub struct CaseSpec {
    pub index: u64,
    pub seed: u64,
    pub organ_seed: u64,
    pub faults: Vec<String>,
}

/// A sweep's protocol, loaded once, and what each case's row holds.
pub struct Sweeper {
    file: PathBuf,
    text: String,
    /// The protocol before the plugin gave its computed values: each case enters its patient's
    /// measures into a copy and has them computed for it, as `perfuse run` does.
    loaded: Loaded,
    plan: Arc<Plan>,
    /// The plugin's library, found, read, hashed and verified once for the whole sweep; every
    /// case gets a fresh instance of it.
    library: OpenedLibrary,
    scenario: Option<String>,
    duration_s: Option<f64>,
    /// `--param` texts, for each case's replay command.
    params: Vec<String>,
    /// `--plugin-dir` and `--allow-untrusted` as given, for each case's replay command.
    plugin_dirs: Vec<PathBuf>,
    allow_untrusted: bool,
    end_s: f64,
    /// The organ parameters every case draws (the cohort's, for this protocol and scenario).
    organ_params: Vec<String>,
    /// Whether the model has a cohort to draw from: a model from an outside library has none,
    /// and every case runs the protocol's own organ with its own noise seed.
    cohort: bool,
    /// Signals with a band in some phase.
    banded: Vec<String>,
    alarms: Vec<String>,
    derived: Vec<String>,
}

/// A worker thread of the sweep, running its cases one after the other.
pub struct Worker<'a> {
    sweeper: &'a Sweeper,
}

impl Sweeper {
    /// Loads the protocol, checks the scenario and the plugin (one instance, to learn its
    /// derived values), as `perfuse run` would for a single case.
    pub fn new(args: &SweepArgs) -> Result<Sweeper, Failure> {
        let file = &args.file;
        let text = config::input_file::read_text(file, "protocol").map_err(|d| {
            Failure::input(
                config::LoadError {
                    file: file.clone(),
                    diagnostics: vec![d],
                }
                .to_string(),
            )
        })?;
        let mut loaded =
            config::load_str(&text, file).map_err(|e| Failure::input(e.to_string()))?;
        loaded
            .plan
            .plugin
            .override_params(&args.params)
            .map_err(Failure::usage)?;
        let unresolved = loaded.clone();
        let plugins = loader::SearchPolicy::new(&args.plugin_dirs, args.allow_untrusted);
        // As `perfuse run`: an outside model is registered before the cohort or a fault names it.
        load_model_library(&loaded, file, &plugins)?;
        let plugin_failure =
            |e: loader::PluginError| Failure::plugin(plugin_problem(&loaded, file, &e));
        let library = plugin::open(&loaded.plan, &plugins).map_err(plugin_failure)?;
        let mut plugin =
            plugin::instantiate(&loaded.plan, library.clone()).map_err(plugin_failure)?;
        // For the file's own patient: the plan the header is made from.
        resolve_computed(&mut loaded, file, &mut plugin)?;
        bind_derived(&mut loaded, file, &plugin.info)?;
        let derived = plugin.info.derived_names.clone();
        drop(plugin);
        let cohort = loaded.file.simulator.library.is_none();
        let organ_params = if cohort {
            Organ::draw(&loaded.file, args.scenario.as_deref(), args.seed)
                .map_err(|e| Failure::input(located(&loaded, file, "simulator", &e)))?
                .params
                .into_keys()
                .collect()
        } else {
            Vec::new()
        };
        let plan = Arc::new(loaded.plan.clone());
        let banded = plan
            .signals
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                plan.phases
                    .iter()
                    .any(|p| p.targets[*i].as_ref().is_some_and(|t| t.band.is_some()))
            })
            .map(|(_, s)| s.id.clone())
            .collect();
        Ok(Sweeper {
            file: file.clone(),
            end_s: config::run_end_s(&plan, args.duration_s, &[]),
            alarms: alarm_ids(&plan),
            organ_params,
            cohort,
            text,
            loaded: unresolved,
            plan,
            library,
            scenario: args.scenario.clone(),
            duration_s: args.duration_s,
            params: args.params.clone(),
            plugin_dirs: args.plugin_dirs.clone(),
            allow_untrusted: args.allow_untrusted,
            banded,
            derived,
        })
    }

    pub fn protocol_sha256(&self) -> String {
        text_sha256(&self.text)
    }

    /// Checks a fault as `perfuse run --fault` does: known kind and target, within the run.
    pub fn check_fault(&self, spec: &str) -> Result<(), Failure> {
        let fault = Fault::parse(spec, &self.loaded.file)
            .map_err(|e| Failure::usage(format!("--fault {spec}: {e}")))?;
        if fault.at_s > self.end_s {
            return Err(Failure::usage(format!(
                "--fault {spec}: expected a time within the run, which ends at {} s, found {} s",
                self.end_s, fault.at_s
            )));
        }
        Ok(())
    }

    /// The CSV header; every row has these columns in this order.
    pub fn header(&self) -> Result<Vec<String>, Failure> {
        let mut h: Vec<String> = ["case", "seed", "organ_seed", "faults"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        h.extend(self.organ_params.iter().map(|p| format!("organ.{p}")));
        h.extend(self.banded.iter().map(|s| format!("in_band.{s}")));
        h.extend(["alarms.high", "alarms.medium", "alarms.low"].map(String::from));
        h.extend(self.alarms.iter().map(|a| format!("alarm.{a}")));
        h.extend(self.derived.iter().map(|d| format!("derived.{d}")));
        h.extend(["plugin_fault", "worst_alarm", "verdict", "replay"].map(String::from));
        Ok(h)
    }

    /// A worker thread's handle on the sweep.
    pub fn worker(&self) -> Worker<'_> {
        Worker { sweeper: self }
    }
}

impl Worker<'_> {
    /// Runs case `spec` to its end and returns its CSV row.
    pub fn run(&self, spec: &CaseSpec) -> Result<Vec<String>, String> {
        let sw = self.sweeper;
        let scenario = sw.scenario.as_deref();
        let mut loaded = sw.loaded.clone();
        let organ = sw
            .cohort
            .then(|| Organ::draw(&loaded.file, scenario, spec.organ_seed))
            .transpose()?;
        // As `perfuse run` (wiring::wire): the case's patient's measures reach its plugin, which
        // computes its values for them, before the simulator is built.
        enter_patient(&mut loaded, scenario, organ.as_ref())?;
        let mut plugin =
            plugin::instantiate(&loaded.plan, sw.library.clone()).map_err(|e| e.to_string())?;
        resolve_computed(&mut loaded, &sw.file, &mut plugin).map_err(|f| f.message)?;
        bind_derived(&mut loaded, &sw.file, &plugin.info).map_err(|f| f.message)?;
        let protocol = &loaded.file;
        let faults = spec
            .faults
            .iter()
            .map(|f| Fault::parse(f, protocol).map_err(|e| format!("--fault {f}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let sim = SimHal::with_organ(protocol, scenario, organ.as_ref(), spec.seed, &faults)?;
        let opts = RunOptions {
            seed: spec.seed,
            scenario: sw.scenario.clone().or(sw.plan.default_scenario.clone()),
            organ: organ.map(|o| perfuse_core::run::Organ {
                seed: o.seed,
                params: o.params,
            }),
            duration_s: sw.duration_s,
        };
        let mut run = Run::direct(Arc::new(loaded.plan), Box::new(sim), plugin, &opts);
        run.enter_operator_input(Vec::new(), Vec::new());
        run.initialize()?;
        // Supervised: a case whose plugin hangs faults it and finishes, like `perfuse run`.
        let run = run.run_lockstep(&StopRequest::default());
        Ok(self.row(spec, &run.summary(0.0, 0)))
    }

    fn row(&self, spec: &CaseSpec, s: &Summary) -> Vec<String> {
        let sw = self.sweeper;
        let num = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        let mut row = vec![
            spec.index.to_string(),
            spec.seed.to_string(),
            if sw.cohort {
                spec.organ_seed.to_string()
            } else {
                String::new()
            },
            spec.faults.join(" "),
        ];
        let organ = s.organ.as_ref().map(|o| &o.params);
        row.extend(
            sw.organ_params
                .iter()
                .map(|p| num(organ.and_then(|o| o.get(p).copied()))),
        );
        row.extend(
            sw.banded
                .iter()
                .map(|c| num(s.channels.get(c).and_then(|c| c.in_band_fraction))),
        );
        let by_priority = |p: &str| -> u32 {
            s.alarms
                .iter()
                .filter(|a| a.highest_priority == p)
                .map(|a| a.count)
                .sum()
        };
        let counts = [
            by_priority("high"),
            by_priority("medium"),
            by_priority("low"),
        ];
        row.extend(counts.iter().map(u32::to_string));
        row.extend(sw.alarms.iter().map(|id| {
            s.alarms
                .iter()
                .find(|a| &a.id == id)
                .map_or(0, |a| a.count)
                .to_string()
        }));
        row.extend(
            sw.derived
                .iter()
                .map(|d| num(s.derived.get(d).copied().flatten())),
        );
        row.push(s.plugin.fault.clone().unwrap_or_default());
        let worst = ["high", "medium", "low"]
            .into_iter()
            .zip(counts)
            .find(|(_, n)| *n > 0)
            .map_or("none", |(p, _)| p);
        row.push(worst.to_string());
        row.push(verdict(s).to_string());
        let base = ReplayBase {
            duration_s: sw.duration_s,
            scenario: sw.scenario.clone(),
            params: sw.params.clone(),
            plugin_dirs: sw.plugin_dirs.clone(),
            allow_untrusted: sw.allow_untrusted,
            cohort: sw.cohort,
        };
        row.push(replay_command(&sw.file, &base, spec));
        row
    }
}

/// The plugin's verdict at the end, from its derived values named `…verdict…` or `…_viable`
/// (1 viable, 0 not): `not_viable` if any says no, `viable` if those present all say yes, `-`
/// when the plugin gives none (yet).
fn verdict(s: &Summary) -> &'static str {
    let verdicts: Vec<f64> = s
        .derived
        .iter()
        .filter(|(name, _)| name.contains("verdict") || name.ends_with("_viable"))
        .filter_map(|(_, v)| *v)
        .collect();
    if verdicts.is_empty() {
        "-"
    } else if verdicts.iter().any(|&v| v < 0.5) {
        "not_viable"
    } else {
        "viable"
    }
}
