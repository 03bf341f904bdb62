//! How long a run can last, so that the operator's scripted input is checked against it: a lab
//! value, a command or a fault beyond the run's end is an error, never silently dropped.
//!
//! The end is `--duration` when given; otherwise the phases' durations in sum, lengthened by the
//! time each scripted `HoldPhase(true)` holds the phase clock until its `HoldPhase(false)`. A `Stop`
//! ends the run where it stands. The plugin may end phases earlier: this is the longest the run
//! can last, never more than [`MAX_RUN_S`].

use super::bounds::{MAX_RUN_S, short_num};
use super::{OperatorAction, OperatorCommand};
use crate::plan::Plan;

/// A problem with one command, by its index in the file.
pub(super) struct CommandProblem {
    pub index: usize,
    /// `at_s` or `command`.
    pub field: &'static str,
    pub expected: String,
    pub found: String,
}

/// The tick at which a run of `plan` ends at the latest, given `--duration` and the operator's
/// commands (in time order); commands that fall outside the run are reported through `problem`.
/// `index` gives each command's position in its file.
pub(super) fn end_tick(
    plan: &Plan,
    duration_s: Option<f64>,
    commands: &[(usize, OperatorCommand)],
    mut problem: impl FnMut(CommandProblem),
) -> u64 {
    let ticks = |s: f64| (s / plan.period_s).round() as u64;
    let longest = ticks(MAX_RUN_S);
    let mut end = match duration_s {
        Some(d) => ticks(d),
        None => plan.phases.iter().map(|p| p.duration_ticks).sum(),
    }
    .min(longest);
    let mut held_since: Option<(usize, u64)> = None;
    let mut stopped: Option<u64> = None;
    for &(index, c) in commands {
        // While held (without `--duration`), the run lasts until the release, up to the longest.
        let limit = match held_since {
            Some(_) if duration_s.is_none() => longest,
            _ => end,
        };
        let at = clock_s(plan, c.tick);
        if let Some(stop) = stopped {
            problem(CommandProblem {
                index,
                field: "at_s",
                expected: format!(
                    "a time before the `Stop` at {} s that ends the run",
                    short_num(clock_s(plan, stop))
                ),
                found: format!("{} s", short_num(at)),
            });
            continue;
        }
        if c.tick > limit {
            problem(CommandProblem {
                index,
                field: "at_s",
                expected: format!(
                    "a time within the run, which ends at {} s at the latest",
                    short_num(clock_s(plan, limit))
                ),
                found: format!("{} s", short_num(at)),
            });
            continue;
        }
        match c.action {
            OperatorAction::HoldPhase(true) if held_since.is_none() => {
                held_since = Some((index, c.tick));
            }
            OperatorAction::HoldPhase(false) => {
                if let Some((_, since)) = held_since.take()
                    && duration_s.is_none()
                {
                    end = (end + (c.tick - since)).min(longest);
                }
            }
            OperatorAction::Stop => {
                stopped = Some(c.tick);
                end = end.min(c.tick);
            }
            _ => {}
        }
    }
    if let (Some((index, _)), None, None) = (held_since, stopped, duration_s) {
        problem(CommandProblem {
            index,
            field: "command",
            expected: "a later `HoldPhase(false)` or `Stop` (or a `--duration`): a phase held to the end never ends the run".into(),
            found: "no release".into(),
        });
    }
    end
}

/// The longest a run of `plan` lasts, in seconds, given `--duration` and the operator's commands
/// as `load_commands` returned them.
pub fn run_end_s(plan: &Plan, duration_s: Option<f64>, commands: &[OperatorCommand]) -> f64 {
    let indexed: Vec<(usize, OperatorCommand)> = commands.iter().copied().enumerate().collect();
    clock_s(plan, end_tick(plan, duration_s, &indexed, |_| {}))
}

fn clock_s(plan: &Plan, tick: u64) -> f64 {
    tick as f64 * plan.period_s
}
