//! `perfuse check`: every problem of a protocol file in one pass.
//!
//! The stages a run goes through (reading the file, validating it, the plugin, the simulator for
//! each scenario, the labs and commands files when given) each report what they find, and the
//! problems of all of them are printed together in one list, sorted by file, line and column.
//! Only a file that cannot be read into a protocol at all (a syntax error, a field of the wrong
//! type) stops the later stages: they need its contents.

use crate::exit::{self, Failure};
use perfuse_core::config::{self, Checked, ProtocolFile};
use perfuse_core::plan::Plan;
use perfuse_core::plugin::{self, loader};
use perfuse_hal_sim::SimHal;
use std::path::{Path, PathBuf};

/// One problem, at its place in a file.
struct Problem {
    file: PathBuf,
    line: u32,
    col: u32,
    text: String,
    /// Whether it is about the plugin (a refused plugin has its own exit status).
    plugin: bool,
}

/// The files checked against each protocol besides it: the operator's input (`--labs`,
/// `--commands`) and the device profile of a rig (`--profile`).
#[derive(Debug, Default)]
pub struct OperatorFiles {
    pub labs: Option<PathBuf>,
    pub commands: Option<PathBuf>,
    pub profile: Option<PathBuf>,
}

/// Checks every file, with the `--param` texts `params` over each file's `plugin_params` as a
/// run would set them; the status is invalid input when any file has a problem other than its
/// plugin, else a refused plugin when any plugin was refused.
pub fn check(
    files: &[PathBuf],
    plugins: &loader::SearchPolicy,
    operator: &OperatorFiles,
    params: &[String],
) -> Result<(), Failure> {
    if files.is_empty() {
        return Err(Failure::usage(
            "perfuse check: name at least one protocol file",
        ));
    }
    // A malformed or repeated `--param` is the command line's mistake, not a file's.
    config::run_params::apply(&mut Vec::new(), params).map_err(Failure::usage)?;
    let mut failed = 0;
    let mut status = exit::PLUGIN_REFUSED;
    for file in files {
        match check_file(file, plugins, operator, params) {
            Ok(line) => println!("{line}"),
            Err(problems) => {
                failed += 1;
                if problems.iter().any(|p| !p.plugin) {
                    status = exit::INVALID_INPUT;
                }
                for p in &problems {
                    eprintln!("{}", p.text);
                }
                eprintln!(
                    "{}: {} problem(s)",
                    config::bounds::escaped(&file.display().to_string(), 200),
                    problems.len()
                );
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

/// The file's `ok` line, or every problem of every stage, sorted by position.
fn check_file(
    file: &Path,
    plugins: &loader::SearchPolicy,
    operator: &OperatorFiles,
    params: &[String],
) -> Result<String, Vec<Problem>> {
    let checked = config::check(file);
    let mut problems: Vec<Problem> = checked
        .diagnostics
        .iter()
        .map(|d| Problem {
            file: file.to_path_buf(),
            line: d.span.line,
            col: d.span.col,
            text: config::format_diagnostic(file, d),
            plugin: false,
        })
        .collect();
    let located = |path: &str, message: &str, plugin: bool| {
        let span = checked.span_of(path);
        Problem {
            file: file.to_path_buf(),
            line: span.line,
            col: span.col,
            text: format!(
                "{}:{}:{}: {path}: {message}",
                file.display(),
                span.line,
                span.col
            ),
            plugin,
        }
    };
    let Some(protocol) = checked.file() else {
        return Err(problems);
    };
    if let Err((field, message)) = crate::models::load_library(protocol, plugins) {
        problems.push(located(&field, &message, true));
    }
    problems.extend(
        simulator_problems(protocol)
            .into_iter()
            .map(|(path, message)| located(&path, &message, false)),
    );
    let plugin = match plugin_stage(&checked, protocol, plugins, params) {
        Ok(info) => info,
        Err(PluginProblem::Given(text)) => {
            problems.push(Problem {
                file: file.to_path_buf(),
                line: 0,
                col: 0,
                text,
                plugin: true,
            });
            None
        }
        Err(PluginProblem::Plugin(e)) => {
            problems.push(located(&e.field(), &e.to_string(), true));
            None
        }
        Err(PluginProblem::Derived(list)) => {
            problems.extend(list.iter().map(|(path, m)| located(path, m, false)));
            None
        }
        Err(PluginProblem::Computed(list)) => {
            problems.extend(list.iter().map(|(path, m)| located(path, m, true)));
            None
        }
    };
    if let Some(loaded) = &checked.loaded {
        problems.extend(operator_problems(&loaded.plan, operator));
    }
    let (Some(loaded), Some(plugin), true) = (&checked.loaded, plugin, problems.is_empty()) else {
        // Stable: problems at the same place stay in stage order.
        problems.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
        return Err(problems);
    };
    let scenarios = if loaded.plan.scenarios.is_empty() {
        String::new()
    } else {
        format!("; scenarios: {}", loaded.plan.scenarios.join(", "))
    };
    let given: String = params.iter().map(|p| format!("; --param {p}")).collect();
    Ok(format!(
        "{}: ok — {} ({} phases, {} rules{scenarios}; plugin {} {} {} sha256 {}{given})",
        file.display(),
        loaded.plan.name,
        loaded.plan.phases.len(),
        loaded.plan.rules.len(),
        plugin.id,
        plugin.version,
        plugin.trust,
        plugin.sha256
    ))
}

/// The labs, commands and profile files' problems against the protocol's plan, as a run would
/// find them (labs after the run's end, as the commands leave it, are refused).
fn operator_problems(plan: &Plan, files: &OperatorFiles) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut take = |e: config::LoadError| {
        problems.extend(e.diagnostics.iter().map(|d| Problem {
            file: e.file.clone(),
            line: d.span.line,
            col: d.span.col,
            text: config::format_diagnostic(&e.file, d),
            plugin: false,
        }))
    };
    let commands = match &files.commands {
        Some(path) => config::load_commands(path, plan, None).unwrap_or_else(|e| {
            take(e);
            Vec::new()
        }),
        None => Vec::new(),
    };
    if let Some(path) = &files.labs
        && let Err(e) = config::load_labs(path, plan, config::run_end_s(plan, None, &commands))
    {
        take(e);
    }
    if let Some(path) = &files.profile
        && let Err(e) = perfuse_hal_modbus::profile::load(path, plan)
    {
        take(e);
    }
    problems
}

/// Every scenario must build a simulator, not only the default one.
fn simulator_problems(protocol: &ProtocolFile) -> Vec<(String, String)> {
    let names = protocol.simulator.scenarios.iter().flat_map(|s| s.keys());
    std::iter::once(None)
        .chain(names.map(|s| Some(s.as_str())))
        .filter_map(|scenario| {
            let e = SimHal::with_scenario(protocol, scenario, 0, &[]).err()?;
            let path = scenario.map_or("simulator".to_string(), |s| {
                format!("simulator.scenarios[\"{s}\"]")
            });
            Some((path, e))
        })
        .collect()
}

/// Why the plugin stage failed: the plugin refused the file, or a `--param` (told as such,
/// with the plugin's reason), or the file's conditions name derived values the plugin does not
/// declare (`(field path, message)` each).
enum PluginProblem {
    Plugin(loader::PluginError),
    Given(String),
    Derived(Vec<(String, String)>),
    /// The plugin's computed values that the file's intervals refuse, by path and message.
    Computed(Vec<(String, String)>),
}

impl From<loader::PluginError> for PluginProblem {
    fn from(e: loader::PluginError) -> Self {
        PluginProblem::Plugin(e)
    }
}

/// The values the plugin computes for the file's `computed` section, as a run asks for them:
/// each one the file's intervals refuse, by path and message.
fn computed_stage(
    loaded: &config::Loaded,
    plan: &Plan,
    instance: &mut plugin::PluginInstance,
) -> Result<(), Vec<(String, String)>> {
    let names = loaded.computed_names();
    if names.is_empty() {
        return Ok(());
    }
    let values = instance.computed(&names).map_err(|code| {
        let message = format!("the plugin failed while giving its computed values (status {code})");
        vec![("computed".to_string(), message)]
    })?;
    let mut resolved = loaded.clone();
    resolved.plan = plan.clone();
    resolved.resolve(&values).map_err(|diagnostics| {
        diagnostics
            .into_iter()
            .map(|d| {
                (
                    d.path,
                    format!("expected {}, found {}", d.expected, d.found),
                )
            })
            .collect()
    })
}

/// The plugin, created as a run creates it when the file is valid, with the `--param` texts
/// `given` over the file's parameters, and the derived values the file's conditions name bound
/// to the plugin's. When the file is not valid, there is no plan to create an
/// instance from: the library is still found, verified and its declared parameters checked
/// against the file's and the given ones, unless the file's `plugin` section itself is wrong.
fn plugin_stage(
    checked: &Checked,
    protocol: &ProtocolFile,
    policy: &loader::SearchPolicy,
    given: &[String],
) -> Result<Option<plugin::PluginInfo>, PluginProblem> {
    let refused = |set: &[config::ParamOverride], e: loader::PluginError| match &e {
        loader::PluginError::Params { error, .. } => {
            match config::run_params::given_text(set, &error.name) {
                Some(text) => PluginProblem::Given(format!("{text}: {e}")),
                None => PluginProblem::Plugin(e),
            }
        }
        _ => PluginProblem::Plugin(e),
    };
    if let Some(loaded) = &checked.loaded {
        let mut plan = loaded.plan.clone();
        plan.plugin
            .override_params(given)
            .map_err(PluginProblem::Given)?;
        let mut instance =
            plugin::load(&plan, policy).map_err(|e| refused(&plan.plugin.overridden, e))?;
        let info = instance.info.clone();
        computed_stage(loaded, &plan, &mut instance).map_err(PluginProblem::Computed)?;
        plan.bind_derived(&info.id, &info.derived_names)
            .map_err(PluginProblem::Derived)?;
        return Ok(Some(info));
    }
    let section_wrong = checked.diagnostics.iter().any(|d| {
        d.path == "plugin" || d.path.starts_with("plugin.") || d.path.starts_with("plugin_params")
    });
    if section_wrong {
        return Ok(None);
    }
    let req = &protocol.plugin;
    let mut params: Vec<(String, f64)> = protocol
        .plugin_params
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let set = config::run_params::apply(&mut params, given).map_err(PluginProblem::Given)?;
    let path = loader::find(&req.id, &policy.dirs)?;
    let pin = req.sha256.as_ref().map(|s| s.to_ascii_lowercase());
    loader::open(&path, pin.as_deref(), &params, policy).map_err(|e| refused(&set, e))?;
    Ok(None)
}
