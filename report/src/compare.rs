//! Runs side by side: their scores part by part, their alarm counts, and the trends of the signals
//! and commands they share overlaid on one time axis (run time from each run's start).

use crate::data::Record;
use crate::page::{document, esc, hms, table};
use crate::plot::{self, Chart, Trace};
use crate::score::{Score, score};
use plotters::style::RGBColor;
use std::fmt::Write;

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 90, 180),
    RGBColor(214, 96, 20),
    RGBColor(40, 150, 60),
    RGBColor(170, 40, 140),
    RGBColor(110, 110, 110),
    RGBColor(0, 150, 170),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// The page comparing `recs`.
pub fn html(recs: &[Record]) -> Result<String, String> {
    let scores: Vec<Score> = recs.iter().map(score).collect();
    let mut b = String::from("<h1>Runs side by side</h1>");
    b.push_str(&key(recs));
    b.push_str("<h2>Runs and scores</h2>");
    b.push_str(&score_table(recs, &scores));
    b.push_str(&trends(recs)?);
    Ok(document("perfuse: runs side by side", &b))
}

/// Which color is which run.
fn key(recs: &[Record]) -> String {
    let mut b = String::from("<p class=\"key\">");
    for (i, r) in recs.iter().enumerate() {
        let _ = write!(
            b,
            "<span><span style=\"color:{}\">■</span> {}</span>",
            hex(color(i)),
            esc(&r.label())
        );
    }
    b.push_str("</p>");
    b
}

fn score_table(recs: &[Record], scores: &[Score]) -> String {
    let labels: Vec<String> = recs.iter().map(|r| r.label()).collect();
    let mut head: Vec<&str> = vec![""];
    head.extend(labels.iter().map(String::as_str));
    let row = |name: &str, cell: &dyn Fn(usize) -> String| {
        let mut r = vec![esc(name)];
        r.extend((0..recs.len()).map(cell));
        r
    };
    let mut rows = vec![
        row("protocol", &|i| esc(&recs[i].run.protocol)),
        row("scenario, seed", &|i| {
            format!("{}, {}", esc(&recs[i].scenario_text()), recs[i].run.seed)
        }),
        row("recorded run time", &|i| hms(recs[i].span_s().1)),
        row("end reason", &|i| {
            esc(recs[i].run.end_reason.as_deref().unwrap_or("interrupted"))
        }),
        row("score", &|i| format!("<b>{}</b>", scores[i].shown())),
    ];
    for (k, name) in [
        "targets",
        "alarms",
        "interventions",
        "plugin faults",
        "data",
    ]
    .iter()
    .enumerate()
    {
        rows.push(row(name, &|i| {
            let (_, points, max, what) = &scores[i].parts()[k];
            format!(
                "{points:.1} / {max} <span class=\"muted\">({})</span>",
                esc(what)
            )
        }));
    }
    rows.push(row("alarms high / medium / low", &|i| {
        let c = scores[i].alarms.count;
        format!("{} / {} / {}", c[0], c[1], c[2])
    }));
    table(&head, &rows)
}

fn trends(recs: &[Record]) -> Result<String, String> {
    let mut b = String::from(
        "<h2>Trends overlaid</h2><p class=\"muted\">Signals and commands every run has, on run \
         time (h:mm); each pixel column spans its lowest and highest sample.</p>",
    );
    let end = recs.iter().map(|r| r.span_s().1).fold(0.0, f64::max);
    let first = &recs[0].plan;
    for sig in &first.signals {
        let cols: Option<Vec<&[f64]>> = recs
            .iter()
            .map(|r| r.plan.signal(&sig.id).map(|s| r.signals[s].as_slice()))
            .collect();
        if let Some(cols) = cols {
            b.push_str(&overlay(recs, &sig.id, &sig.unit, &cols, end, 150)?);
        }
    }
    for act in &first.actuators {
        let cols: Option<Vec<&[f64]>> = recs
            .iter()
            .map(|r| r.plan.actuator(&act.id).map(|a| r.commands[a].as_slice()))
            .collect();
        if let Some(cols) = cols {
            let name = format!("cmd.{}", act.id);
            b.push_str(&overlay(recs, &name, act.kind.unit(), &cols, end, 100)?);
        }
    }
    Ok(b)
}

fn overlay(
    recs: &[Record],
    name: &str,
    unit: &str,
    cols: &[&[f64]],
    end: f64,
    height: u32,
) -> Result<String, String> {
    let traces = recs
        .iter()
        .zip(cols)
        .enumerate()
        .map(|(i, (r, v))| Trace {
            t: &r.t_s,
            v,
            color: color(i),
        })
        .collect();
    let svg = plot::svg(&Chart {
        x: (0.0, end),
        height,
        unit,
        traces,
        band: None,
        setpoint: Vec::new(),
    })?;
    Ok(format!(
        "<h3>{} [{}]</h3><div class=\"chart\">{svg}</div>",
        esc(name),
        esc(unit)
    ))
}
