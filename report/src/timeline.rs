//! The alarm timeline: one row per priority, a bar from each alarm's start to its end, a black
//! tick at each acknowledgement and a diamond at each escalation. Alarms that overlap in time take
//! separate lanes of their row, so none hides another. Drawn as plain SVG (a few rectangles need
//! no chart library).

use crate::alarms::{Episode, PRIORITIES, rank};
use crate::page::{esc, hms};
use std::fmt::Write;

const WIDTH: f64 = 900.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 10.0;
const ROW: f64 = 22.0;
const COLORS: [&str; 3] = ["#c0392b", "#e69500", "#d4c100"];

/// For each episode its lane within its priority's row (the first lane free at its start), and
/// the number of lanes of each row.
fn lanes(episodes: &[Episode], t1: f64) -> (Vec<usize>, [usize; 3]) {
    let mut ends: [Vec<f64>; 3] = Default::default();
    let lane = episodes
        .iter()
        .map(|e| {
            let row = &mut ends[rank(&e.priority)];
            let end = e.end_s.unwrap_or(t1);
            match row.iter().position(|&busy_until| busy_until <= e.start_s) {
                Some(l) => {
                    row[l] = end;
                    l
                }
                None => {
                    row.push(end);
                    row.len() - 1
                }
            }
        })
        .collect();
    (lane, ends.map(|r| r.len().max(1)))
}

/// The timeline over the run's span `t0..t1` (seconds).
pub fn svg(episodes: &[Episode], t0: f64, t1: f64) -> String {
    let (lane, lanes_of) = lanes(episodes, t1);
    let row_top = |r: usize| lanes_of[..r].iter().sum::<usize>() as f64 * ROW;
    let rows_h = row_top(3);
    let height = rows_h + 24.0;
    let span = (t1 - t0).max(1.0);
    let x = |t: f64| LEFT + (t - t0).clamp(0.0, span) / span * (WIDTH - LEFT - RIGHT);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"11\">"
    );
    for (i, p) in PRIORITIES.iter().enumerate() {
        let y = row_top(i);
        let _ = write!(
            s,
            "<rect x=\"{LEFT}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"#f4f5f7\"/>\
             <text x=\"4\" y=\"{}\">{p}</text>",
            WIDTH - LEFT - RIGHT,
            lanes_of[i] as f64 * ROW - 2.0,
            y + 15.0
        );
    }
    for (e, lane) in episodes.iter().zip(lane) {
        let row = rank(&e.priority);
        let y = row_top(row) + lane as f64 * ROW + 3.0;
        let (a, b) = (x(e.start_s), x(e.end_s.unwrap_or(t1)));
        let _ = write!(
            s,
            "<rect x=\"{a:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\">\
             <title>{} ({}) {} – {}</title></rect>",
            (b - a).max(1.5),
            ROW - 8.0,
            COLORS[row],
            esc(&e.alarm),
            esc(&e.priority),
            hms(e.start_s),
            e.end_s.map_or_else(|| "end".to_string(), hms)
        );
        for &ack in &e.acks {
            let _ = write!(
                s,
                "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#000\" stroke-width=\"2\"/>",
                x(ack),
                y - 2.0,
                y + ROW - 6.0
            );
        }
        for (t, _) in &e.escalations {
            let (cx, cy) = (x(*t), y + (ROW - 8.0) / 2.0);
            let _ = write!(
                s,
                "<path d=\"M{:.1} {cy} l4 -5 l4 5 l-4 5 z\" fill=\"#000\"/>",
                cx - 4.0
            );
        }
    }
    for k in 0..=6 {
        let t = t0 + span * k as f64 / 6.0;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            x(t).clamp(LEFT + 20.0, WIDTH - RIGHT - 25.0),
            rows_h + 16.0,
            hms(t)
        );
    }
    s.push_str("</svg>");
    s
}
