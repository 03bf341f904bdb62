//! Status lines for the operator: an output on its own thread, formatted from the tick's frames,
//! never on the control thread. A line every `every` of run time, one for every alarm raised or
//! escalated as it happens, and a last line where the run ended. A writer that fails (closed
//! pipe, full disk) ends the printing, never the run.

use super::Run;
use crate::output::{ALARM_ACKNOWLEDGED, Frame, FrameReceiver};
use crate::plan::Plan;
use crate::tick::events::{AlarmChange, Event};
use perfuse_plugin_sdk::validity;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;
use std::thread::JoinHandle;

/// `hh:mm:ss` of a time in seconds.
pub fn clock_text(t_s: f64) -> String {
    let s = t_s.max(0.0).round() as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// What the status lines name: the plan's signals and phases, the plugin's derived values, the
/// alarms' ids and texts.
#[derive(Debug, Clone)]
pub struct StatusNames {
    pub plan: Arc<Plan>,
    pub derived: Vec<String>,
    /// Per alarm (rules in file order, then the core's own): id and text.
    pub alarms: Vec<(String, String)>,
}

impl StatusNames {
    pub fn of(run: &Run) -> Self {
        StatusNames {
            plan: run.plan.clone(),
            derived: run.plugin.derived_names.clone(),
            alarms: run
                .alarms()
                .list
                .iter()
                .map(|a| (a.id.clone(), a.text.clone()))
                .collect(),
        }
    }
}

fn priority_text(state: u8) -> &'static str {
    match state & 0x0f {
        1 => "LOW",
        2 => "MEDIUM",
        _ => "HIGH",
    }
}

/// One line: time, phase, every signal with a target in this phase, derived values, alarms.
pub fn line(names: &StatusNames, f: &Frame) -> String {
    let plan = &names.plan;
    let phase = &plan.phases[f.phase];
    let mut out = format!(
        "{} {:<12}",
        clock_text(f.tick as f64 * plan.period_s),
        phase.id
    );
    for (i, sig) in plan.signals.iter().enumerate() {
        if phase.targets[i].is_none() {
            continue;
        }
        let mark = match f.validity[i] {
            validity::OK => "",
            validity::STALE => " (stale)",
            validity::STUCK => " (stuck)",
            _ => " (invalid)",
        };
        let _ = write!(out, " | {} {:.1} {}{}", sig.id, f.values[i], sig.unit, mark);
        let sp = f.setpoints[i];
        if sp.is_finite() {
            let _ = write!(out, " (set {sp:.1})");
        }
    }
    for (name, v) in names.derived.iter().zip(&f.derived) {
        if v.is_finite() {
            let _ = write!(out, " | {name} {v:.3}");
        }
    }
    let active: Vec<String> = names
        .alarms
        .iter()
        .zip(&f.alarms)
        .filter(|(_, s)| **s != 0)
        .map(|((id, _), s)| {
            let ack = if s & ALARM_ACKNOWLEDGED != 0 {
                ", acknowledged"
            } else {
                ""
            };
            format!("{id} [{}{ack}]", priority_text(*s))
        })
        .collect();
    if active.is_empty() {
        out.push_str(" | alarms: none");
    } else {
        let _ = write!(out, " | ALARMS: {}", active.join(", "));
    }
    out
}

/// The line for an alarm raised or escalated this tick, as it happens (`None` for other events).
pub fn alarm_line(names: &StatusNames, tick: u64, e: &Event) -> Option<String> {
    let Event::Alarm {
        alarm,
        change,
        priority,
        ..
    } = *e
    else {
        return None;
    };
    let what = match change {
        AlarmChange::Raised => "raised",
        AlarmChange::Escalated => "escalated",
        _ => return None,
    };
    let (id, text) = names.alarms.get(alarm)?;
    Some(format!(
        "{} ALARM {id} [{}] {what}: {text}",
        clock_text(tick as f64 * names.plan.period_s),
        priority.as_str().to_uppercase()
    ))
}

/// Starts the status thread: it prints a line for every sample frame and every raised alarm to
/// `out`, and ends when the run hangs up or the writer fails.
pub fn spawn(
    names: StatusNames,
    frames: FrameReceiver,
    mut out: Box<dyn Write + Send>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("perfuse-status".into())
        .spawn(move || {
            for f in frames.iter() {
                let mut text = String::new();
                for e in f.events() {
                    if let Some(l) = alarm_line(&names, f.tick, e) {
                        text.push_str(&l);
                        text.push('\n');
                    }
                }
                if f.sample {
                    text.push_str(&line(&names, &f));
                    text.push('\n');
                }
                // A failed write ends this thread: the port sees its queue hung up.
                if out
                    .write_all(text.as_bytes())
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    return;
                }
            }
        })
}
