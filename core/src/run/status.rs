//! Status lines for the operator, formatted between ticks, never inside one.

use super::Run;
use crate::config::Priority;
use crate::tick::alarms::Alarm;
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
    let alarms = run.alarms();
    let tick = run.tick();
    alarm_part(
        &mut out,
        &alarms.list,
        alarms.sounding_priority(tick),
        alarms
            .audio_paused(tick)
            .then(|| (alarms.audio_paused_until - tick) as f64 * plan.period_s),
    );
    out
}

/// The alarms part of a status line: the active alarms by priority (highest first), then by
/// start time, each with its acknowledged (`ack`) and paused marks; what the sound is doing; and
/// an audio pause with its remaining time. Plain data in, so any output thread can format it.
pub fn alarm_part(
    out: &mut String,
    list: &[Alarm],
    sounding: Option<Priority>,
    paused_remaining_s: Option<f64>,
) {
    let mut active: Vec<&Alarm> = list.iter().filter(|a| a.active).collect();
    active.sort_by_key(|a| (std::cmp::Reverse(a.priority), a.active_since));
    if active.is_empty() {
        out.push_str(" | alarms: none");
    } else {
        out.push_str(" | ALARMS:");
        for (i, a) in active.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            let kind = if a.technical { " technical" } else { "" };
            let _ = write!(
                out,
                "{sep}{} [{}{kind}]",
                a.id,
                a.priority.as_str().to_uppercase()
            );
            if a.acknowledged {
                out.push_str(" (ack)");
            }
            if a.paused {
                out.push_str(" (paused)");
            }
        }
    }
    match sounding {
        Some(p) => {
            let _ = write!(out, " | sound {}", p.as_str().to_uppercase());
        }
        None if !active.is_empty() => out.push_str(" | sound off"),
        None => {}
    }
    if let Some(s) = paused_remaining_s {
        let _ = write!(out, " | audio paused {}", clock_text(s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;
    use crate::tick::alarms::Alarms;

    fn plan() -> Plan {
        Plan {
            name: "test".into(),
            scenarios: Vec::new(),
            default_scenario: None,
            period_s: 0.01,
            plugin: crate::plan::PluginPlan {
                id: "test".into(),
                version_req: semver::VersionReq::STAR,
                sha256: None,
                params: Vec::new(),
            },
            signals: Vec::new(),
            sensors: Vec::new(),
            estimates: Vec::new(),
            actuators: Vec::new(),
            phases: Vec::new(),
            rules: Vec::new(),
            coverage: Vec::new(),
            source_sha256: String::new(),
        }
    }

    #[test]
    fn alarms_are_listed_by_priority_then_start_with_their_marks() {
        let mut list = Alarms::new(&plan()).list;
        // plugin_fault, tick_overrun, output_failure, alarm_log_full.
        let start = |a: &mut Alarm, p: Priority, since: u64| {
            a.active = true;
            a.priority = p;
            a.active_since = since;
        };
        start(&mut list[1], Priority::Medium, 10);
        start(&mut list[3], Priority::Medium, 5);
        start(&mut list[2], Priority::High, 20);
        list[2].acknowledged = true;
        list[3].paused = true;
        let mut out = String::new();
        alarm_part(&mut out, &list, Some(Priority::Medium), Some(95.0));
        assert_eq!(
            out,
            " | ALARMS: output_failure [HIGH technical] (ack), alarm_log_full [MEDIUM technical] \
             (paused), tick_overrun [MEDIUM technical] | sound MEDIUM | audio paused 00:01:35"
        );
        let mut none = String::new();
        alarm_part(&mut none, &Alarms::new(&plan()).list, None, None);
        assert_eq!(none, " | alarms: none");
    }
}
