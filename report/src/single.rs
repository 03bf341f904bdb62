//! The report of one run: the run, the score, operator actions, alarms, per-phase trends,
//! labs, assessments and doses.

use crate::alarms::episodes;
use crate::data::Record;
use crate::page::{document, esc, hms, num, table, utc};
use crate::plot::{self, Chart, Trace};
use crate::score::{FORMULA, Score, score};
use crate::timeline;
use perfuse_core::config::schema::Setpoint;
use plotters::style::RGBColor;
use std::fmt::Write;

const SIGNAL: RGBColor = RGBColor(31, 90, 180);
const COMMAND: RGBColor = RGBColor(120, 60, 150);

/// The whole page of one record.
pub fn html(rec: &Record) -> Result<String, String> {
    let s = score(rec);
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>{}</h1><p class=\"muted\">Run report of {} · perfuse {}</p>",
        esc(&rec.run.protocol),
        esc(&rec.path.display().to_string()),
        esc(&rec.run.perfuse_version)
    );
    b.push_str(&score_section(&s));
    b.push_str(&run_section(rec));
    b.push_str(&operator_section(rec));
    b.push_str(&alarm_section(rec));
    b.push_str(&phase_sections(rec)?);
    b.push_str(&lab_section(rec));
    b.push_str(&assessment_section(rec));
    b.push_str(&dose_section(rec));
    Ok(document(&format!("{} – run report", rec.run.protocol), &b))
}

fn score_section(s: &Score) -> String {
    let mut b = format!(
        "<h2>Perfusion quality score</h2><div class=\"score\">{} / 100</div>",
        s.shown()
    );
    let rows: Vec<Vec<String>> = s
        .parts()
        .into_iter()
        .map(|(name, points, max, what)| {
            vec![
                esc(name),
                format!("{points:.1}"),
                num(Some(max), 1),
                esc(&what),
            ]
        })
        .collect();
    b.push_str(&table(&["part", "points", "of", "made of"], &rows));
    if !s.targets.is_empty() {
        let rows: Vec<Vec<String>> = s
            .targets
            .iter()
            .map(|t| {
                vec![
                    esc(&t.phase),
                    esc(&t.signal),
                    format!(
                        "{}–{} {}",
                        num(Some(t.band.0), 3),
                        num(Some(t.band.1), 3),
                        esc(&t.unit)
                    ),
                    hms(t.settle_s),
                    format!("{:.2} %", 100.0 * t.in_band_fraction()),
                    t.time_to_target_s.map_or_else(|| "never".into(), hms),
                    format!("{:.2}", t.timeliness),
                    format!("{:.2} of {:.2}", t.points, t.share),
                ]
            })
            .collect();
        b.push_str("<h3>Targets</h3>");
        b.push_str(&table(
            &[
                "phase",
                "signal",
                "band",
                "settle",
                "in band after settling",
                "time to band",
                "timeliness",
                "points",
            ],
            &rows,
        ));
    }
    if !s.not_judged.is_empty() {
        let _ = write!(
            b,
            "<p class=\"muted\">Not judged (no sample after the settle time): {}</p>",
            esc(&s.not_judged.join(", "))
        );
    }
    let _ = write!(b, "<h3>Formula</h3><pre>{}</pre>", esc(FORMULA));
    b
}

fn params_text(p: &std::collections::BTreeMap<String, f64>) -> String {
    if p.is_empty() {
        return "–".into();
    }
    p.iter()
        .map(|(k, v)| format!("{} = {}", esc(k), num(Some(*v), 6)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn run_section(rec: &Record) -> String {
    let r = &rec.run;
    let (_, last) = rec.span_s();
    let row = |k: &str, v: String| vec![esc(k), v];
    let rows = vec![
        row(
            "protocol",
            format!(
                "{} version {} ({})",
                esc(&r.protocol),
                esc(&r.protocol_version),
                esc(&r.protocol_path)
            ),
        ),
        row(
            "protocol sha256",
            format!("<code>{}</code>", esc(&r.protocol_sha256)),
        ),
        row(
            "plugin",
            format!("{} {}", esc(&r.plugin_id), esc(&r.plugin_version)),
        ),
        row(
            "plugin sha256",
            format!("<code>{}</code>", esc(&r.plugin_sha256)),
        ),
        row(
            "organ or patient (plugin parameters)",
            params_text(&r.plugin_params),
        ),
        row(
            "simulator",
            format!(
                "model {}, scenario {}; {}",
                esc(&r.sim_model),
                esc(&rec.scenario_text()),
                params_text(&r.sim_params)
            ),
        ),
        row("seed", r.seed.to_string()),
        row("faults injected", esc(&r.faults)),
        row(
            "mode",
            format!(
                "{}, tick {} s, a sample every {} ticks",
                esc(&r.mode),
                r.period_s,
                r.sample_every_ticks
            ),
        ),
        row("start", utc(r.started_at)),
        row("end", r.ended_at.map_or_else(|| "–".into(), utc)),
        row("recorded run time", hms(last)),
        row(
            "end reason",
            esc(r
                .end_reason
                .as_deref()
                .unwrap_or("none: the run was interrupted")),
        ),
    ];
    format!("<h2>Run</h2>{}", table(&[], &rows))
}

fn operator_section(rec: &Record) -> String {
    let rows: Vec<Vec<String>> = rec
        .events
        .iter()
        .filter(|e| e.kind == "operator")
        .map(|e| {
            vec![
                hms(e.t_s),
                esc(e.subject.as_deref().unwrap_or("")),
                if e.accepted == Some(true) {
                    "accepted".into()
                } else {
                    format!("refused: {}", esc(e.detail.as_deref().unwrap_or("")))
                },
            ]
        })
        .collect();
    let mut b = String::from("<h2>Operator actions</h2>");
    if rows.is_empty() {
        b.push_str("<p>None.</p>");
    } else {
        b.push_str(&table(&["time", "command", "result"], &rows));
    }
    b
}

fn alarm_section(rec: &Record) -> String {
    let eps = episodes(rec);
    let (t0, t1) = rec.span_s();
    let mut b = String::from("<h2>Alarms</h2>");
    if eps.is_empty() {
        b.push_str("<p>No alarm.</p>");
        return b;
    }
    let _ = write!(
        b,
        "<div class=\"chart\">{}</div><p class=\"muted\">Bars from raised to ended; black ticks: \
         acknowledged; diamonds: escalated.</p>",
        timeline::svg(&eps, t0, t1)
    );
    let rows: Vec<Vec<String>> = eps
        .iter()
        .map(|e| {
            let prio = if e.top_priority != e.priority {
                format!("{} → {}", e.priority, e.top_priority)
            } else {
                e.priority.clone()
            };
            vec![
                esc(&e.alarm),
                format!("<span class=\"{}\">{}</span>", esc(&e.priority), esc(&prio)),
                esc(&e.text),
                hms(e.start_s),
                e.end_s.map_or_else(|| "active at end".into(), hms),
                format!("{:.1}", e.minutes(t1)),
                e.acks
                    .iter()
                    .map(|a| hms(*a))
                    .collect::<Vec<_>>()
                    .join(", "),
                num(e.limit, 3),
                num(e.value, 3),
                esc(e.action.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    b.push_str(&table(
        &[
            "alarm",
            "priority",
            "text",
            "raised",
            "ended",
            "min",
            "acknowledged",
            "limit",
            "value",
            "action",
        ],
        &rows,
    ));
    b
}

/// The setpoint of a phase as a polyline from its start to its end.
fn setpoint_line(sp: Option<Setpoint>, start: f64, end: f64) -> Vec<(f64, f64)> {
    match sp {
        None => Vec::new(),
        Some(Setpoint::Hold(v)) => vec![(start, v), (end, v)],
        Some(Setpoint::Ramp { from, to, over_s }) => {
            let ramp_end = (start + over_s).min(end);
            vec![
                (start, from),
                (ramp_end, sp.map_or(to, |s| s.at(ramp_end - start))),
                (end, to),
            ]
        }
    }
}

fn phase_sections(rec: &Record) -> Result<String, String> {
    let mut b = String::new();
    let plan = &rec.plan;
    for (phase, first, end) in rec.phase_runs() {
        let start = rec.phase_start_s(phase, first);
        let stop = rec.t_s[end - 1].max(start + plan.period_s);
        let (t, x) = (&rec.t_s[first..end], (start, stop));
        let _ = write!(
            b,
            "<h2>Phase {} ({} – {})</h2><p class=\"muted\">Signals: blue the record (each pixel \
             column spans its lowest and highest sample), green band and dashed setpoint from the \
             protocol. Time is run time (h:mm).</p>",
            esc(&plan.phases[phase].id),
            hms(start),
            hms(stop)
        );
        for (s, sig) in plan.signals.iter().enumerate() {
            let target = plan.phases[phase].targets[s];
            let band = target.and_then(|t| t.band).map(|r| (r.min, r.max));
            let values = &rec.signals[s][first..end];
            let title = format!(
                "<h3>{} [{}]{}</h3>",
                esc(&sig.id),
                esc(&sig.unit),
                band.map_or_else(String::new, |(lo, hi)| format!(
                    " <span class=\"muted\">band {}–{}</span>",
                    num(Some(lo), 3),
                    num(Some(hi), 3)
                ))
            );
            b.push_str(&title);
            if !values.iter().any(|v| v.is_finite()) {
                b.push_str("<p class=\"muted\">No value recorded in this phase.</p>");
                continue;
            }
            let sp = setpoint_line(target.and_then(|t| t.setpoint), start, stop);
            let svg = plot::svg(&Chart {
                x,
                height: 150,
                unit: &sig.unit,
                traces: vec![Trace {
                    t,
                    v: values,
                    color: SIGNAL,
                }],
                band,
                setpoint: sp,
            })?;
            let _ = write!(b, "<div class=\"chart\">{svg}</div>");
        }
        if !plan.actuators.is_empty() {
            b.push_str("<h3>Actuator commands</h3>");
        }
        for (a, act) in plan.actuators.iter().enumerate() {
            let unit = act.kind.unit();
            let values = &rec.commands[a][first..end];
            let _ = write!(
                b,
                "<div class=\"muted\">{} [{}]</div>",
                esc(&act.id),
                esc(unit)
            );
            if !values.iter().any(|v| v.is_finite()) {
                b.push_str("<p class=\"muted\">No command recorded in this phase.</p>");
                continue;
            }
            let svg = plot::svg(&Chart {
                x,
                height: 100,
                unit,
                traces: vec![Trace {
                    t,
                    v: values,
                    color: COMMAND,
                }],
                band: None,
                setpoint: Vec::new(),
            })?;
            let _ = write!(b, "<div class=\"chart\">{svg}</div>");
        }
    }
    Ok(b)
}

fn lab_section(rec: &Record) -> String {
    let rows: Vec<Vec<String>> = rec
        .events
        .iter()
        .filter(|e| e.kind == "lab")
        .map(|e| {
            let sensor = e.subject.as_deref().unwrap_or("");
            let unit = rec
                .plan
                .sensors
                .iter()
                .find(|s| s.id == sensor)
                .map_or("", |s| rec.plan.signals[s.signal].unit.as_str());
            vec![
                hms(e.t_s),
                esc(sensor),
                format!("{} {}", num(e.value, 4), esc(unit)),
            ]
        })
        .collect();
    let mut b = String::from("<h2>Laboratory entries</h2>");
    if rows.is_empty() {
        b.push_str("<p>None.</p>");
    } else {
        b.push_str(&table(&["time", "entry", "value"], &rows));
    }
    b
}

fn assessment_section(rec: &Record) -> String {
    let mut b = String::from("<h2>Assessments and verdicts</h2>");
    let list: Vec<_> = rec
        .events
        .iter()
        .filter(|e| e.kind == "assessment")
        .collect();
    if list.is_empty() {
        b.push_str("<p>None.</p>");
        return b;
    }
    for e in list {
        let values: serde_json::Map<String, serde_json::Value> = e
            .detail
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_default();
        let rows: Vec<Vec<String>> = values
            .iter()
            .map(|(k, v)| vec![esc(k), num(v.as_f64(), 4)])
            .collect();
        let _ = write!(
            b,
            "<h3>At {} in phase {}</h3>{}",
            hms(e.t_s),
            esc(e.subject.as_deref().unwrap_or("")),
            table(&["criterion or value", "value"], &rows)
        );
    }
    b
}

/// Delivered volume per dose-capped pump: the core's own total from the run's summary, else (an
/// interrupted run) the recorded rate integrated over the samples.
fn dose_section(rec: &Record) -> String {
    let summary: serde_json::Value = rec
        .run
        .summary
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let rows: Vec<Vec<String>> = rec
        .plan
        .actuators
        .iter()
        .enumerate()
        .filter(|(_, a)| a.dose_cap.is_some())
        .map(|(i, a)| {
            let (ml, how) = match summary["actuators"][&a.id]["delivered_ml"].as_f64() {
                Some(ml) => (ml, "run summary"),
                None => (
                    integrate_ml_h(&rec.t_s, &rec.commands[i]),
                    "from the recorded rate",
                ),
            };
            let cap = a.dose_cap.map_or_else(String::new, |c| {
                format!("{} mL per {}", num(Some(c.max_ml), 2), hms(c.window_s))
            });
            vec![
                esc(&a.id),
                format!("{} mL", num(Some(ml), 2)),
                cap,
                how.into(),
            ]
        })
        .collect();
    let mut b = String::from("<h2>Doses delivered</h2>");
    if rows.is_empty() {
        b.push_str("<p>No dose-capped pump in this protocol.</p>");
    } else {
        b.push_str(&table(&["drug pump", "delivered", "cap", "source"], &rows));
    }
    b
}

/// mL delivered by a rate in mL/h held from each sample to the next.
fn integrate_ml_h(t: &[f64], rate: &[f64]) -> f64 {
    t.windows(2)
        .zip(rate)
        .filter(|(_, r)| r.is_finite())
        .map(|(w, r)| r * (w[1] - w[0]) / 3600.0)
        .sum()
}
