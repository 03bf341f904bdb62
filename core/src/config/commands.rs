//! Operator commands during a run, scripted for tests and rehearsals with `--commands FILE`.
//!
//! The file is a RON list, checked like a protocol file:
//!
//! ```ron
//! [
//!     (at_s: 600.0, command: Acknowledge("air_in_line")),
//!     (at_s: 610.0, command: PauseAudio),
//!     (at_s: 615.0, command: ResumeAudio),
//!     (at_s: 620.0, command: Setpoint(signal: "systolic_pressure", value: 28.0)),
//!     (at_s: 660.0, command: Reset("air_in_line")),
//!     (at_s: 700.0, command: AdvancePhase),
//!     (at_s: 800.0, command: HoldPhase(true)),
//!     (at_s: 900.0, command: Stop),
//! ]
//! ```

use super::{Diagnostic, LoadError, de, ron_doc, span_of};
use crate::plan::Plan;
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
struct EntrySpec {
    at_s: f64,
    command: CommandSpec,
}

#[derive(Debug, Clone, Deserialize)]
enum CommandSpec {
    Acknowledge(String),
    Reset(String),
    PauseAudio,
    ResumeAudio,
    Setpoint { signal: String, value: f64 },
    AdvancePhase,
    HoldPhase(bool),
    Stop,
}

/// What the operator does, with names resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OperatorAction {
    /// Acknowledge the alarm with this index (see [`alarm_ids`]): silences it for a time.
    Acknowledge(usize),
    /// End a latched alarm whose condition is gone (refused while it is present).
    Reset(usize),
    /// Silence what sounds now for a limited time; the visual alarm stays.
    PauseAudio,
    /// End the audio pause early.
    ResumeAudio,
    /// A new setpoint for a controlled signal, for the rest of the phase, inside its limits.
    Setpoint {
        signal: usize,
        value: f64,
    },
    AdvancePhase,
    /// Freeze (true) or release (false) the phase clock.
    HoldPhase(bool),
    /// End the run.
    Stop,
}

impl OperatorAction {
    /// Why the core refuses this action when it does: for the record and the console.
    pub fn refusal(self) -> &'static str {
        match self {
            OperatorAction::Setpoint { .. } => "outside the phase's band (or the signal's range)",
            OperatorAction::Acknowledge(_) => "the alarm was not active or already acknowledged",
            OperatorAction::Reset(_) => {
                "the alarm was not latched and active, or its condition is still present"
            }
            OperatorAction::PauseAudio => "nothing sounded, or the pause limit was reached",
            OperatorAction::ResumeAudio => "no audio pause was in force",
            _ => "not allowed now",
        }
    }
}

/// One command at its tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperatorCommand {
    pub tick: u64,
    pub action: OperatorAction,
}

/// Ids of the alarms a command may name: the rules in file order, the core's sensor coverage,
/// then the core's own.
pub fn alarm_ids(plan: &Plan) -> Vec<String> {
    crate::plan::alarm_ids(plan)
}

/// The commands as a commands file says them, which [`load_commands_str`] reads back to the
/// same list: how a run keeps the commands its operator gave live (the console).
pub fn commands_text(plan: &Plan, commands: &[OperatorCommand]) -> String {
    let alarms = alarm_ids(plan);
    let mut text = String::from("[\n");
    for c in commands {
        let command = match c.action {
            OperatorAction::Acknowledge(i) => format!("Acknowledge(\"{}\")", alarms[i]),
            OperatorAction::Reset(i) => format!("Reset(\"{}\")", alarms[i]),
            OperatorAction::PauseAudio => "PauseAudio".into(),
            OperatorAction::ResumeAudio => "ResumeAudio".into(),
            OperatorAction::Setpoint { signal, value } => format!(
                "Setpoint(signal: \"{}\", value: {value:?})",
                plan.signals[signal].id
            ),
            OperatorAction::AdvancePhase => "AdvancePhase".into(),
            OperatorAction::HoldPhase(hold) => format!("HoldPhase({hold})"),
            OperatorAction::Stop => "Stop".into(),
        };
        let at_s = c.tick as f64 * plan.period_s;
        text.push_str(&format!("    (at_s: {at_s:?}, command: {command}),\n"));
    }
    text.push_str("]\n");
    text
}

/// Reads and checks a commands file against a plan and the run's `--duration`; commands come
/// back in time order (commands at the same time keep their file order). A command beyond the
/// run's end, and a `HoldPhase(true)` never released in a run without `--duration`, are errors.
pub fn load_commands(
    path: &Path,
    plan: &Plan,
    duration_s: Option<f64>,
) -> Result<Vec<OperatorCommand>, LoadError> {
    let src = super::input_file::read_text(path, "commands").map_err(|d| LoadError {
        file: path.to_path_buf(),
        diagnostics: vec![d],
    })?;
    load_commands_str(&src, path, plan, duration_s)
}

/// As [`load_commands`], from text (e.g. as a record keeps it); `path` only names it in diagnostics.
pub fn load_commands_str(
    src: &str,
    path: &Path,
    plan: &Plan,
    duration_s: Option<f64>,
) -> Result<Vec<OperatorCommand>, LoadError> {
    let fail = |diagnostics| LoadError {
        file: path.to_path_buf(),
        diagnostics,
    };
    let root = ron_doc::parse(src).map_err(|d| fail(vec![d]))?;
    let (specs, diagnostics) = de::from_node::<Vec<EntrySpec>>(&root);
    let specs = match specs {
        Some(specs) if diagnostics.is_empty() => specs,
        _ => return Err(fail(diagnostics)),
    };
    let alarms = alarm_ids(plan);
    let controlled: Vec<usize> = plan
        .actuators
        .iter()
        .filter_map(|a| a.control.as_ref().map(|l| l.signal))
        .collect();
    let mut problems = Vec::new();
    let mut commands = Vec::with_capacity(specs.len());
    for (i, e) in specs.iter().enumerate() {
        let mut problem = |field: &str, expected: String, found: String| {
            let path = format!("[{i}].{field}");
            problems.push(Diagnostic {
                span: span_of(&root, &path),
                path,
                expected,
                found,
            });
        };
        if e.at_s < 0.0 {
            problem(
                "at_s",
                "a time of 0 s or more".into(),
                super::bounds::short_num(e.at_s),
            );
        }
        let action = match &e.command {
            CommandSpec::Acknowledge(id) | CommandSpec::Reset(id) => {
                match alarms.iter().position(|a| a == id) {
                    Some(i) if matches!(e.command, CommandSpec::Reset(_)) => {
                        Some(OperatorAction::Reset(i))
                    }
                    Some(i) => Some(OperatorAction::Acknowledge(i)),
                    None => {
                        problem(
                            "command",
                            format!("one of the alarms: {}", alarms.join(", ")),
                            format!("\"{id}\""),
                        );
                        None
                    }
                }
            }
            CommandSpec::PauseAudio => Some(OperatorAction::PauseAudio),
            CommandSpec::ResumeAudio => Some(OperatorAction::ResumeAudio),
            CommandSpec::Setpoint { signal, value } => {
                match plan.signal(signal).filter(|s| controlled.contains(s)) {
                    Some(s) => Some(OperatorAction::Setpoint {
                        signal: s,
                        value: *value,
                    }),
                    None => {
                        let names: Vec<&str> = controlled
                            .iter()
                            .map(|&s| plan.signals[s].id.as_str())
                            .collect();
                        problem(
                            "command.signal",
                            format!("a controlled signal: {}", names.join(", ")),
                            format!("\"{signal}\""),
                        );
                        None
                    }
                }
            }
            CommandSpec::AdvancePhase => Some(OperatorAction::AdvancePhase),
            CommandSpec::HoldPhase(hold) => Some(OperatorAction::HoldPhase(*hold)),
            CommandSpec::Stop => Some(OperatorAction::Stop),
        };
        if let Some(action) = action {
            commands.push((
                i,
                OperatorCommand {
                    tick: (e.at_s / plan.period_s).round() as u64,
                    action,
                },
            ));
        }
    }
    commands.sort_by_key(|(_, c)| c.tick);
    if problems.is_empty() {
        super::run_end::end_tick(plan, duration_s, &commands, |p| {
            let path = format!("[{}].{}", p.index, p.field);
            problems.push(Diagnostic {
                span: span_of(&root, &path),
                path,
                expected: p.expected,
                found: p.found,
            });
        });
    }
    if !problems.is_empty() {
        problems.sort_by_key(|d| (d.span.line, d.span.col));
        return Err(fail(problems));
    }
    Ok(commands.into_iter().map(|(_, c)| c).collect())
}
