//! Status lines for the operator, formatted between ticks, never inside one.

use super::Run;
use crate::tick::protocol::{PluginOutputs, Targets};
use perfuse_plugin_sdk::validity;
use std::fmt::Write;

/// `hh:mm:ss` of a time in seconds.
pub fn clock_text(t_s: f64) -> String {
    let s = t_s.max(0.0).round() as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// One line: time, phase, every signal with a target in this phase, derived values, alarms.
pub fn line(run: &Run) -> String {
    let plan = &run.plan;
    let t = run.tick() as f64 * plan.period_s;
    let mut out = format!("{} {:<12}", clock_text(t), run.phase());
    let phase = &plan.phases[run
        .world
        .resource::<crate::tick::protocol::PhaseState>()
        .index];
    let targets = run.world.resource::<Targets>();
    for (i, sig) in plan.signals.iter().enumerate() {
        if phase.targets[i].is_none() {
            continue;
        }
        let Some((v, valid)) = run.signal(&sig.id) else {
            continue;
        };
        let mark = match valid {
            validity::OK => "",
            validity::STALE => " (stale)",
            validity::STUCK => " (stuck)",
            _ => " (invalid)",
        };
        let _ = write!(out, " | {} {:.1} {}{}", sig.id, v, sig.unit, mark);
        let sp = targets.setpoints[i];
        if sp.is_finite() {
            let _ = write!(out, " (set {sp:.1})");
        }
    }
    let derived = &run.world.resource::<PluginOutputs>().derived;
    for (name, v) in run
        .plugin
        .derived_names
        .iter()
        .zip(&derived.values[..derived.n])
    {
        if v.is_finite() {
            let _ = write!(out, " | {name} {v:.3}");
        }
    }
    let active: Vec<String> = run
        .alarms()
        .list
        .iter()
        .filter(|a| a.active)
        .map(|a| format!("{} [{}]", a.id, a.priority.as_str().to_uppercase()))
        .collect();
    if active.is_empty() {
        out.push_str(" | alarms: none");
    } else {
        let _ = write!(out, " | ALARMS: {}", active.join(", "));
    }
    out
}
