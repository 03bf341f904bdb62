//! Trend charts as inline SVG, drawn with plotters' SVG backend (text as SVG `<text>`, so no font
//! library and no font file: the browser draws the labels).

use crate::decimate::polylines;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Chart width in pixels; the plotting area is about 820 columns of it.
pub const WIDTH: u32 = 900;
const Y_LABELS: u32 = 60;
const MARGIN: u32 = 6;

/// One series on a chart.
pub struct Trace<'a> {
    pub t: &'a [f64],
    pub v: &'a [f64],
    pub color: RGBColor,
}

/// One chart: traces over a time span, with a band shaded and a setpoint line when known.
pub struct Chart<'a> {
    pub x: (f64, f64),
    pub height: u32,
    pub unit: &'a str,
    pub traces: Vec<Trace<'a>>,
    pub band: Option<(f64, f64)>,
    /// The setpoint as a polyline of (t, value).
    pub setpoint: Vec<(f64, f64)>,
}

/// Label steps for the time axis, in seconds.
const STEPS_S: [f64; 17] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    10800.0, 21600.0, 43200.0,
];

/// Time-axis labels at whole clock steps (every 5 min, 30 min, 2 h, ...), at most 10 of them,
/// and the step.
fn time_ticks(x0: f64, x1: f64) -> (Vec<f64>, f64) {
    let step = STEPS_S
        .iter()
        .copied()
        .find(|s| (x1 - x0) / s <= 10.0)
        .unwrap_or(86400.0);
    let first = (x0 / step).ceil() as i64;
    let last = (x1 / step).floor() as i64;
    ((first..=last).map(|k| k as f64 * step).collect(), step)
}

/// Run time as h:mm, or h:mm:ss when the labels are less than a minute apart.
fn clock(t: f64, seconds: bool) -> String {
    let s = t.max(0.0).round() as u64;
    if seconds {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 3600, s / 60 % 60)
    }
}

/// The y range: the data, the band and the setpoint, padded by 5 %.
fn y_range(chart: &Chart) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    let mut take = |v: f64| {
        if v.is_finite() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    };
    for tr in &chart.traces {
        tr.t.iter()
            .zip(tr.v)
            .filter(|(t, _)| **t >= chart.x.0 && **t <= chart.x.1)
            .for_each(|(_, v)| take(*v));
    }
    if let Some((a, b)) = chart.band {
        take(a);
        take(b);
    }
    chart.setpoint.iter().for_each(|p| take(p.1));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        return (lo - 1.0, hi + 1.0);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

/// The chart as an SVG element.
pub fn svg(chart: &Chart) -> Result<String, String> {
    let mut out = String::new();
    draw(chart, &mut out).map_err(|e| format!("cannot draw a chart: {e}"))?;
    Ok(out)
}

fn draw(chart: &Chart, out: &mut String) -> Result<(), Box<dyn std::error::Error>> {
    let (x0, x1) = if chart.x.1 > chart.x.0 {
        chart.x
    } else {
        (chart.x.0, chart.x.0 + 1.0)
    };
    let (y0, y1) = y_range(chart);
    let root = SVGBackend::with_string(out, (WIDTH, chart.height)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut ctx = ChartBuilder::on(&root)
        .margin(MARGIN)
        .x_label_area_size(18)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    // The time axis is labelled below at whole clock steps, which plotters' own labels are not.
    ctx.configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(4)
        .y_label_formatter(&|v| {
            format!("{v:.4}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        })
        .y_desc(chart.unit)
        .label_style(("sans-serif", 11))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;
    let (ticks, step) = time_ticks(x0, x1);
    let font = TextStyle::from(("sans-serif", 11).into_font());
    for &t in &ticks {
        ctx.draw_series(std::iter::once(PathElement::new(
            vec![(t, y0), (t, y1)],
            RGBColor(215, 215, 215),
        )))?;
        let (px, py) = ctx.backend_coord(&(t, y0));
        // The label at the right edge ends at its tick instead of running off the chart.
        let h = if px + 20 > WIDTH as i32 {
            HPos::Right
        } else {
            HPos::Center
        };
        let style = font.pos(Pos::new(h, VPos::Top));
        root.draw(&Text::new(clock(t, step < 60.0), (px, py + 4), style))?;
    }
    if let Some((lo, hi)) = chart.band {
        ctx.draw_series(std::iter::once(Rectangle::new(
            [(x0, lo), (x1, hi)],
            RGBColor(46, 160, 67).mix(0.15).filled(),
        )))?;
    }
    if chart.setpoint.len() > 1 {
        ctx.draw_series(DashedLineSeries::new(
            chart.setpoint.iter().copied(),
            6,
            4,
            RGBColor(30, 110, 50).stroke_width(1),
        ))?;
    }
    let columns = (WIDTH - Y_LABELS - 2 * MARGIN) as usize;
    for tr in &chart.traces {
        for line in polylines(tr.t, tr.v, x0, x1, columns) {
            ctx.draw_series(LineSeries::new(line, tr.color.stroke_width(1)))?;
        }
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The (x, y) points of every `<polyline>` drawn in `stroke` (axes are polylines too).
    fn polyline_points(svg: &str, stroke: &str) -> Vec<(f64, f64)> {
        svg.split("<polyline")
            .skip(1)
            .filter(|p| p.contains(&format!("stroke=\"{stroke}\"")))
            .filter_map(|p| p.split("points=\"").nth(1))
            .filter_map(|p| p.split('"').next())
            .flat_map(|pts| {
                pts.split_whitespace().filter_map(|xy| {
                    let (x, y) = xy.split_once(',')?;
                    Some((x.parse().ok()?, y.parse().ok()?))
                })
            })
            .collect()
    }

    #[test]
    fn a_one_sample_spike_in_24_hours_is_in_the_svg_path() {
        let n = 86_400;
        let t: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut v = vec![65.0; n];
        v[40_000] = 95.0; // one second out of a day
        let chart = |v: &[f64]| {
            svg(&Chart {
                x: (0.0, (n - 1) as f64),
                height: 160,
                unit: "mmHg",
                traces: vec![Trace {
                    t: &t,
                    v,
                    color: BLUE,
                }],
                band: Some((60.0, 70.0)),
                setpoint: Vec::new(),
            })
            .unwrap()
        };
        let spiky = polyline_points(&chart(&v), "#0000FF");
        let base_y = spiky.iter().map(|p| p.1).fold(f64::MIN, f64::max);
        let (top_x, top_y) = spiky
            .iter()
            .copied()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        // The y axis runs 60..95 padded by 5 %: 65 -> 95 spans 78 % of the plotting area's height.
        let plot_h = 160.0 - 18.0 - 2.0 * MARGIN as f64 - 1.0;
        let rise = (base_y - top_y) / plot_h;
        assert!(
            (rise - 30.0 / 38.5).abs() < 0.02,
            "spike drawn {rise} of the height up"
        );
        // Only one column reaches above the line: the spike's.
        assert_eq!(spiky.iter().filter(|p| p.1 < base_y - 1.0).count(), 1);
        let col = (WIDTH - Y_LABELS - 2 * MARGIN) as f64;
        let expect_x = (Y_LABELS + MARGIN) as f64 + 40_000.0 / (n - 1) as f64 * col;
        assert!(
            (top_x - expect_x).abs() <= 2.0,
            "spike at x {top_x}, expected {expect_x}"
        );
        assert!(
            spiky.len() < 2000,
            "{} points drawn for 86400 samples",
            spiky.len()
        );
    }
}
