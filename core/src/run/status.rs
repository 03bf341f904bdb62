//! Status lines for the operator: an output on its own thread, formatted from the tick's frames,
//! never on the control thread. A line every `every` of run time, one for every alarm raised or
//! escalated as it happens, and a last line where the run ended. A writer that fails (closed
//! pipe, full disk) ends the printing, never the run.

use super::Run;
use crate::config::Priority;
use crate::output::{ALARM_ACKNOWLEDGED, ALARM_PAUSED, Frame, FrameReceiver};
use crate::plan::Plan;
use crate::tick::events::{AlarmChange, Event, WATCHDOG_ALARM, WATCHDOG_TEXT};
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
    /// Per alarm: technical (equipment) rather than physiological.
    pub technical: Vec<bool>,
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
            technical: run.alarms().list.iter().map(|a| a.technical).collect(),
        }
    }
}

/// The priority a frame's alarm state or sounding byte encodes (`None` for 0).
pub fn priority_of(state: u8) -> Option<Priority> {
    match state & 0x0f {
        0 => None,
        1 => Some(Priority::Low),
        2 => Some(Priority::Medium),
        _ => Some(Priority::High),
    }
}

/// The ANSI colour of a priority on a terminal: high red (bold), medium yellow, low cyan, as
/// IEC 60601-1-8 colours its indicators; the priority is written as text as well.
fn colour_of(p: Priority) -> &'static str {
    match p {
        Priority::High => "\x1b[1;31m",
        Priority::Medium => "\x1b[33m",
        Priority::Low => "\x1b[36m",
    }
}
const RESET: &str = "\x1b[0m";

/// Whether status lines written to a stream are coloured: only on a terminal, and not when the
/// `NO_COLOR` environment variable is set to anything but the empty string (no-color.org).
pub fn use_colour(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// One line: time, phase, every signal with a target in this phase, derived values, alarms
/// (coloured by priority when `colour`).
pub fn line(names: &StatusNames, f: &Frame, colour: bool) -> String {
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
    let mut active: Vec<ActiveAlarm> = names
        .alarms
        .iter()
        .zip(&f.alarms)
        .enumerate()
        .filter_map(|(i, ((id, _), &s))| {
            Some(ActiveAlarm {
                id,
                priority: priority_of(s)?,
                technical: names.technical.get(i).copied().unwrap_or(false),
                acknowledged: s & ALARM_ACKNOWLEDGED != 0,
                paused: s & ALARM_PAUSED != 0,
                since: f.alarm_since[i],
            })
        })
        .collect();
    let paused = (f.audio_paused_until > f.tick)
        .then(|| (f.audio_paused_until - f.tick) as f64 * plan.period_s);
    alarm_part(
        &mut out,
        &mut active,
        priority_of(f.sounding),
        paused,
        colour,
    );
    out
}

/// An active alarm as a status line shows it.
#[derive(Debug, Clone, Copy)]
pub struct ActiveAlarm<'a> {
    pub id: &'a str,
    pub priority: Priority,
    pub technical: bool,
    pub acknowledged: bool,
    /// Its audible signal is under an audio pause.
    pub paused: bool,
    /// The tick it became active.
    pub since: u64,
}

/// The alarms part of a status line: the active alarms by priority (highest first), then by
/// start time, each with its acknowledged (`ack`) and paused marks; what the sound is doing; and
/// an audio pause with its remaining time; each alarm in its priority's colour when `colour`.
/// Plain data in, so any output can format it.
pub fn alarm_part(
    out: &mut String,
    active: &mut [ActiveAlarm],
    sounding: Option<Priority>,
    paused_remaining_s: Option<f64>,
    colour: bool,
) {
    active.sort_by_key(|a| (std::cmp::Reverse(a.priority), a.since));
    if active.is_empty() {
        out.push_str(" | alarms: none");
    } else {
        out.push_str(" | ALARMS:");
        for (i, a) in active.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            let kind = if a.technical { " technical" } else { "" };
            let (on, off) = if colour {
                (colour_of(a.priority), RESET)
            } else {
                ("", "")
            };
            let _ = write!(
                out,
                "{sep}{on}{} [{}{kind}]{off}",
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

/// The line for an alarm raised or escalated this tick, as it happens (`None` for other events),
/// in its priority's colour when `colour`.
pub fn alarm_line(names: &StatusNames, tick: u64, e: &Event, colour: bool) -> Option<String> {
    let at = clock_text(tick as f64 * names.plan.period_s);
    if let Event::Watchdog {
        responding,
        silent_ms,
    } = *e
    {
        let (on, off) = if colour {
            (colour_of(Priority::High), RESET)
        } else {
            ("", "")
        };
        return Some(if responding {
            format!("{at} ALARM {WATCHDOG_ALARM} ended: ticking again after {silent_ms} ms")
        } else {
            format!("{at} {on}ALARM {WATCHDOG_ALARM} [HIGH] raised{off}: {WATCHDOG_TEXT}")
        });
    }
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
    let (on, off) = if colour {
        (colour_of(priority), RESET)
    } else {
        ("", "")
    };
    Some(format!(
        "{} {on}ALARM {id} [{}] {what}{off}: {text}",
        at,
        priority.as_str().to_uppercase()
    ))
}

/// What a frame prints: a line per raised alarm, then, when `with_status`, its status line.
pub fn frame_text(names: &StatusNames, f: &Frame, with_status: bool, colour: bool) -> String {
    let mut text = String::new();
    for e in f.events() {
        if let Some(l) = alarm_line(names, f.tick, e, colour) {
            text.push_str(&l);
            text.push('\n');
        }
    }
    if with_status {
        text.push_str(&line(names, f, colour));
        text.push('\n');
    }
    text
}

/// Starts the status thread: it prints a line for every sample frame and every raised alarm to
/// `out` (alarms coloured when `colour`), and ends when the run hangs up or the writer fails.
pub fn spawn(
    names: StatusNames,
    frames: FrameReceiver,
    mut out: Box<dyn Write + Send>,
    colour: bool,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("perfuse-status".into())
        .spawn(move || {
            for f in frames.iter() {
                let text = frame_text(&names, &f, f.sample, colour);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarms_are_listed_by_priority_then_start_with_their_marks() {
        let alarm = |id, priority, since| ActiveAlarm {
            id,
            priority,
            technical: true,
            acknowledged: false,
            paused: false,
            since,
        };
        let mut active = [
            alarm("tick_overrun", Priority::Medium, 10),
            ActiveAlarm {
                acknowledged: true,
                ..alarm("output_failure", Priority::High, 20)
            },
            ActiveAlarm {
                paused: true,
                ..alarm("alarm_log_full", Priority::Medium, 5)
            },
        ];
        let mut out = String::new();
        alarm_part(
            &mut out,
            &mut active,
            Some(Priority::Medium),
            Some(95.0),
            false,
        );
        assert_eq!(
            out,
            " | ALARMS: output_failure [HIGH technical] (ack), alarm_log_full [MEDIUM technical] \
             (paused), tick_overrun [MEDIUM technical] | sound MEDIUM | audio paused 00:01:35"
        );
        let mut coloured = String::new();
        alarm_part(&mut coloured, &mut active, None, None, true);
        assert_eq!(
            coloured,
            " | ALARMS: \x1b[1;31moutput_failure [HIGH technical]\x1b[0m (ack), \
             \x1b[33malarm_log_full [MEDIUM technical]\x1b[0m (paused), \
             \x1b[33mtick_overrun [MEDIUM technical]\x1b[0m | sound off"
        );
        let mut none = String::new();
        alarm_part(&mut none, &mut [], None, None, true);
        assert_eq!(none, " | alarms: none");
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some(OsStr::new(""))));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None));
    }
}
