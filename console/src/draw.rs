//! The screen, drawn from the view and the keyboard state at a wall time (for the flashing):
//! header, signals and actuators, alarms, trend, derived values, messages, key bindings, and the
//! dialog or help on top. Fits 80×24; a larger terminal shows more rows and a wider trend.

use crate::alarm_signal::{flash_hz, lit};
use crate::keys::{Entry, Mode, Pending, Ui, trend_signals};
use crate::view::View;
use perfuse_core::config::Priority;
use perfuse_core::run::status::clock_text;
use perfuse_core::tick::events::{WATCHDOG_ALARM, WATCHDOG_TEXT};
use perfuse_plugin_sdk::validity;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Clear, Dataset, GraphType, Paragraph, Wrap};

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, view: &View, ui: &Ui, now_ms: u64) {
    let [header, message, main, lower, keys] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Fill(3),
        Constraint::Fill(2),
        Constraint::Length(2),
    ])
    .areas(frame.area());
    let [signals, alarms] =
        Layout::horizontal([Constraint::Percentage(52), Constraint::Percentage(48)]).areas(main);
    let [trend, derived] =
        Layout::horizontal([Constraint::Min(30), Constraint::Length(30)]).areas(lower);
    frame.render_widget(Paragraph::new(header_lines(view)), header);
    frame.render_widget(Paragraph::new(message_line(view, ui)), message);
    draw_signals(frame, view, signals);
    draw_alarms(frame, view, ui, alarms, now_ms);
    draw_trend(frame, view, ui, trend);
    draw_derived(frame, view, derived);
    frame.render_widget(
        Paragraph::new(key_lines(ui)).wrap(Wrap { trim: true }),
        keys,
    );
    if ui.help {
        draw_help(frame);
    } else if ui.mode != Mode::Normal {
        draw_dialog(frame, view, ui);
    }
}

fn bold() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

fn header_lines(view: &View) -> Vec<Line<'static>> {
    let names = &view.setup.names;
    let plan = &names.plan;
    let Some(f) = &view.frame else {
        return vec![Line::from(format!("perfuse · {} · starting", plan.name))];
    };
    let run = clock_text(f.tick as f64 * plan.period_s);
    let record = view.setup.record.as_deref().unwrap_or("not recorded");
    let ended = if view.ended { " · RUN ENDED" } else { "" };
    let first = Line::from(vec![
        Span::styled(format!("{} ", plan.name), bold()),
        Span::raw(format!("· run {run} · {}{ended}", view.setup.pace)),
    ]);
    let phase = &plan.phases[f.phase];
    let left = view
        .phase_left_s()
        .map_or(String::new(), |s| format!(" · left {}", clock_text(s)));
    let held = if view.held { " · HELD" } else { "" };
    let second = Line::from(vec![
        Span::raw("phase "),
        Span::styled(phase.id.clone(), bold()),
        Span::raw(format!(
            " ({}/{}) · in phase {}{left}{held}",
            f.phase + 1,
            plan.phases.len(),
            clock_text(view.in_phase_s())
        )),
    ]);
    vec![first, second, Line::from(format!("record {record}"))]
}

fn message_line(view: &View, ui: &Ui) -> Line<'static> {
    if let Some(n) = &ui.notice {
        return Line::from(Span::styled(format!("» {n}"), bold()));
    }
    match view.messages.back() {
        Some(m) => {
            let style = if m.refused {
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
            } else {
                Style::default().fg(Color::Green)
            };
            let at = clock_text(m.tick as f64 * view.period_s());
            Line::from(Span::styled(format!("» {at} {}", m.text), style))
        }
        None => Line::from("» no operator action yet"),
    }
}

/// Short text for a number: up to 4 significant digits, no trailing noise.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn draw_signals(frame: &mut Frame, view: &View, area: Rect) {
    let block = Block::default().borders(Borders::TOP).title("Signals");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(f) = &view.frame else { return };
    let plan = &view.setup.names.plan;
    let phase = &plan.phases[f.phase];
    // Signals with a target in this phase first: they are what the operator watches.
    let mut order: Vec<usize> = (0..plan.signals.len()).collect();
    order.sort_by_key(|&i| phase.targets[i].is_none());
    let id_w = 14;
    let in_phase_ticks = (view.in_phase_s() / plan.period_s).round() as u64;
    let mut lines = Vec::new();
    for i in order {
        let sig = &plan.signals[i];
        let v = f.values[i];
        let band = phase.targets[i].and_then(|t| t.band);
        let state = match f.validity[i] {
            validity::OK => None,
            validity::STALE => Some("stale"),
            validity::STUCK => Some("stuck"),
            _ => Some("invalid"),
        };
        // Out of band: marked in text (HI / LO, for monochrome terminals) and in colour, once
        // the band is in force (after the phase's settle time for the signal, as the core has it).
        let settled = phase.targets[i].is_some_and(|t| in_phase_ticks >= t.settle_ticks);
        let out = band
            .filter(|b| settled && v.is_finite() && !b.contains(v))
            .map(|b| if v > b.max { "HI" } else { "LO" });
        let mut spans = vec![Span::raw(format!("{:<id_w$.id_w$} ", sig.id))];
        match out {
            Some(mark) => spans.push(Span::styled(
                format!("{mark}{:>7}", num(v)),
                Style::default()
                    .fg(Color::Yellow)
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            )),
            None => spans.push(Span::raw(format!("  {:>7}", num(v)))),
        }
        spans.push(Span::raw(format!(" {:<5.5}", sig.unit)));
        let sp = f.setpoints[i];
        if sp.is_finite() {
            spans.push(Span::raw(format!(" sp {}", num(sp))));
        }
        if let Some(b) = band {
            spans.push(Span::styled(
                format!(" [{}–{}]", num(b.min), num(b.max)),
                Style::default().fg(Color::DarkGray),
            ));
        }
        if let Some(s) = state {
            spans.push(Span::styled(
                format!(" ({s})"),
                Style::default()
                    .fg(Color::Magenta)
                    .add_modifier(Modifier::BOLD),
            ));
        }
        lines.push(Line::from(spans));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The style of an alarm of this priority at this instant of its flash cycle.
pub fn alarm_style(p: Priority, now_ms: u64) -> Style {
    let on = lit(p, now_ms);
    let base = Style::default().add_modifier(Modifier::BOLD);
    match (p, on) {
        (Priority::High, true) => base.fg(Color::White).bg(Color::Red),
        (Priority::High, false) => base.fg(Color::Red),
        (Priority::Medium, true) => base.fg(Color::Black).bg(Color::Yellow),
        (Priority::Medium, false) => base.fg(Color::Yellow),
        (Priority::Low, _) => Style::default().fg(Color::Cyan),
    }
}

fn draw_alarms(frame: &mut Frame, view: &View, ui: &Ui, area: Rect, now_ms: u64) {
    let rows = view.alarm_rows();
    let mut title = vec![Span::raw(format!("Alarms ({}) ", rows.len()))];
    match view.sounding() {
        Some(p) => title.push(Span::styled(
            format!("♪ sound {} ", p.as_str().to_uppercase()),
            alarm_style(p, now_ms),
        )),
        None if !rows.is_empty() => title.push(Span::raw("sound off ")),
        None => {}
    }
    if let Some(s) = view.audio_paused_left_s() {
        title.push(Span::styled(
            format!("AUDIO PAUSED {}", clock_text(s)),
            bold().add_modifier(Modifier::REVERSED),
        ));
    }
    let block = Block::default()
        .borders(Borders::TOP | Borders::LEFT)
        .title(Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let names = &view.setup.names;
    let mut lines = Vec::new();
    // The watchdog's alarm comes first: nothing else on screen is current while it stands.
    if let Some(tick) = view.not_responding_since {
        lines.push(Line::from(vec![
            Span::raw(" "),
            Span::styled("HIGH  ", alarm_style(Priority::High, now_ms)),
            Span::styled(format!(" {WATCHDOG_ALARM}"), bold()),
            Span::raw(format!(
                " {} tech",
                clock_text(tick as f64 * view.period_s())
            )),
        ]));
        lines.push(Line::from(format!("  {WATCHDOG_TEXT}")));
    }
    if rows.is_empty() {
        if lines.is_empty() {
            lines.push(Line::from("no active alarm"));
        }
        frame.render_widget(Paragraph::new(lines), inner);
        return;
    }
    let selected = ui.selected.min(rows.len() - 1);
    // Keep the selected alarm on screen: two lines per alarm.
    let fit = (inner.height as usize / 2)
        .saturating_sub(lines.len() / 2)
        .max(1);
    let first = selected.saturating_sub(fit - 1);
    for (n, r) in rows.iter().enumerate().skip(first) {
        let (id, text) = &names.alarms[r.index];
        let technical = if names.technical.get(r.index) == Some(&true) {
            " tech"
        } else {
            ""
        };
        let mut marks = String::new();
        if r.acknowledged {
            marks.push_str(" ACK");
        }
        if r.paused {
            marks.push_str(" PAUSED");
        }
        let cursor = if n == selected { "▶" } else { " " };
        lines.push(Line::from(vec![
            Span::raw(cursor),
            Span::styled(
                format!("{:<6}", r.priority.as_str().to_uppercase()),
                alarm_style(r.priority, now_ms),
            ),
            Span::styled(format!(" {id}"), bold()),
            Span::raw(format!(
                " {}{technical}{marks}",
                clock_text(r.since_tick as f64 * view.period_s())
            )),
        ]));
        lines.push(Line::from(format!("  {text}")));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_trend(frame: &mut Frame, view: &View, ui: &Ui, area: Rect) {
    let plan = &view.setup.names.plan;
    let list = trend_signals(view);
    let Some(&sig) = list.get(ui.trend % list.len().max(1)) else {
        return;
    };
    let span_s = if ui.long_span { 3600.0 } else { 600.0 };
    let now = view
        .frame
        .as_ref()
        .map_or(0.0, |f| f.tick as f64 * plan.period_s);
    let from = now - span_s;
    let points: Vec<(f64, f64)> = view.trends[sig]
        .iter()
        .filter(|(t, v)| *t >= from && v.is_finite())
        .copied()
        .collect();
    let band = view
        .frame
        .as_ref()
        .and_then(|f| plan.phases[f.phase].targets[sig])
        .and_then(|t| t.band);
    let (mut lo, mut hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, v)| {
            (lo.min(v), hi.max(v))
        });
    if let Some(b) = band {
        lo = lo.min(b.min);
        hi = hi.max(b.max);
    }
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.1).max(0.01);
    let (lo, hi) = (lo - pad, hi + pad);
    let band_lines: Vec<[(f64, f64); 2]> = band
        .map(|b| vec![[(from, b.min), (now, b.min)], [(from, b.max), (now, b.max)]])
        .unwrap_or_default();
    let mut datasets: Vec<Dataset> = band_lines
        .iter()
        .map(|l| {
            Dataset::default()
                .data(l)
                .graph_type(GraphType::Line)
                .marker(Marker::Dot)
                .style(Style::default().fg(Color::DarkGray))
        })
        .collect();
    datasets.push(
        Dataset::default()
            .data(&points)
            .graph_type(GraphType::Line)
            .marker(Marker::Braille)
            .style(Style::default().fg(Color::Green)),
    );
    let title = format!(
        "Trend {} ({}) · {} · band dotted",
        plan.signals[sig].id,
        plan.signals[sig].unit,
        if ui.long_span { "1 h" } else { "10 min" }
    );
    let chart = Chart::new(datasets)
        .block(Block::default().borders(Borders::TOP).title(title))
        .x_axis(
            Axis::default()
                .bounds([from, now])
                .labels([if ui.long_span { "-1h" } else { "-10m" }, "now"]),
        )
        .y_axis(Axis::default().bounds([lo, hi]).labels([num(lo), num(hi)]));
    frame.render_widget(chart, area);
}

fn draw_derived(frame: &mut Frame, view: &View, area: Rect) {
    let block = Block::default()
        .borders(Borders::TOP | Borders::LEFT)
        .title("Actuators (command) · plugin");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(f) = &view.frame else { return };
    let plan = &view.setup.names.plan;
    let names = &view.setup.names.derived;
    let mut lines: Vec<Line> = plan
        .actuators
        .iter()
        .zip(&f.commands)
        .map(|(a, v)| Line::from(format!("{:<18.18} {:>9}", a.id, num(*v))))
        .collect();
    lines.push(Line::from(Span::styled("derived", bold())));
    lines.extend(
        names
            .iter()
            .zip(&f.derived)
            .map(|(n, v)| Line::from(format!("{:<18.18} {:>9}", n, num(*v)))),
    );
    if let Some((tick, phase, values)) = &view.assessment {
        lines.push(Line::from(Span::styled(
            format!(
                "assessed {} ({})",
                clock_text(*tick as f64 * view.period_s()),
                view.setup.names.plan.phases[*phase].id
            ),
            bold(),
        )));
        for (n, v) in names.iter().zip(values) {
            if v.is_finite() {
                lines.push(Line::from(format!("{:<18.18} {:>9}", n, num(*v))));
            }
        }
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The bindings for the mode in force: always on screen.
fn key_lines(ui: &Ui) -> Vec<Line<'static>> {
    let text = if ui.help {
        "any key: close help"
    } else {
        match &ui.mode {
            Mode::Normal => {
                "a ack · A ack all · r reset · p pause audio · u resume · s setpoint · l lab · \
                 n next phase · h hold · q stop · t trend · w span · ↑↓ select · ? help"
            }
            Mode::Pick { .. } => "↑↓ choose · Enter select · Esc cancel",
            Mode::Type { .. } => "type the value · Backspace erase · Enter confirm · Esc cancel",
            Mode::Confirm(_) => "y yes · n or Esc no",
        }
    };
    vec![Line::from(Span::styled(
        text,
        Style::default().add_modifier(Modifier::REVERSED),
    ))]
}

/// A box in the middle of the screen, cleared.
fn popup(frame: &mut Frame, width: u16, height: u16, title: &str) -> Rect {
    let area = frame
        .area()
        .centered(Constraint::Length(width), Constraint::Length(height));
    frame.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(title.to_string());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    inner
}

fn draw_dialog(frame: &mut Frame, view: &View, ui: &Ui) {
    let plan = &view.setup.names.plan;
    let signal_name = |s: usize| format!("{} ({})", plan.signals[s].id, plan.signals[s].unit);
    let sensor_name = |s: usize| {
        let sensor = &plan.sensors[s];
        format!("{} ({})", sensor.id, plan.signals[sensor.signal].unit)
    };
    let (title, lines): (&str, Vec<Line>) = match &ui.mode {
        Mode::Normal => return,
        Mode::Pick {
            entry,
            options,
            cursor,
        } => {
            let title = match entry {
                Entry::Setpoint => "Setpoint: pick a signal",
                Entry::Lab => "Lab value: pick a sensor",
            };
            let lines = options
                .iter()
                .enumerate()
                .map(|(n, &o)| {
                    let name = match entry {
                        Entry::Setpoint => signal_name(o),
                        Entry::Lab => sensor_name(o),
                    };
                    if n == *cursor {
                        Line::from(Span::styled(
                            format!("▶ {name}"),
                            bold().add_modifier(Modifier::REVERSED),
                        ))
                    } else {
                        Line::from(format!("  {name}"))
                    }
                })
                .collect();
            (title, lines)
        }
        Mode::Type {
            entry,
            target,
            text,
            error,
        } => {
            let (title, what) = match entry {
                Entry::Setpoint => ("Setpoint: type the value", signal_name(*target)),
                Entry::Lab => ("Lab value: type the value", sensor_name(*target)),
            };
            let mut lines = vec![
                Line::from(what),
                Line::from(Span::styled(format!("> {text}_"), bold())),
            ];
            if let Entry::Setpoint = entry
                && let Some(f) = &view.frame
                && let Some(b) = plan.phases[f.phase].targets[*target].and_then(|t| t.band)
            {
                lines.push(Line::from(format!("band {} to {}", num(b.min), num(b.max))));
            }
            if let Some(e) = error {
                lines.push(Line::from(Span::styled(
                    e.clone(),
                    Style::default().fg(Color::Red),
                )));
            }
            (title, lines)
        }
        Mode::Confirm(p) => {
            let next = view.frame.as_ref().map(|f| f.phase + 1);
            let question = match *p {
                Pending::Setpoint { signal, value } => {
                    format!("Set {} to {}?", signal_name(signal), num(value))
                }
                Pending::Lab { sensor, value } => {
                    format!("Enter {} = {}?", sensor_name(sensor), num(value))
                }
                Pending::Advance => match next.and_then(|n| plan.phases.get(n)) {
                    Some(ph) => format!("End this phase and start `{}`?", ph.id),
                    None => "Advance the phase? (this is the last phase: refused)".into(),
                },
                Pending::Hold(true) => "Hold the phase (its clock stands still)?".into(),
                Pending::Hold(false) => "Release the phase (its clock runs again)?".into(),
                Pending::Stop { second: false } => {
                    "Stop the run? Perfusion ends: every actuator goes to its safe state.".into()
                }
                Pending::Stop { second: true } => "Confirm again: STOP the perfusion now?".into(),
            };
            (
                "Confirm",
                vec![Line::from(question), Line::from("y yes · n no")],
            )
        }
    };
    let height = (lines.len() as u16 + 2).min(frame.area().height);
    let inner = popup(frame, 60.min(frame.area().width), height, title);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
}

fn draw_help(frame: &mut Frame) {
    let hz = |p| flash_hz(p).map_or("steady".to_string(), |h| format!("flashing {h:.1} Hz"));
    let lines = vec![
        Line::from("a  acknowledge the selected alarm (↑↓ select)"),
        Line::from("A  acknowledge every active alarm"),
        Line::from("r  reset the selected latched alarm"),
        Line::from("p  pause audio (2 min)   u  resume audio"),
        Line::from("s  setpoint: pick signal, type, confirm"),
        Line::from("l  lab value for an operator-site sensor"),
        Line::from("n  advance phase   h  hold/release phase"),
        Line::from("q  stop the run (confirmed twice); Ctrl-C too"),
        Line::from("t  next trended signal   w  10 min / 1 h"),
        Line::from(format!("HIGH red {}", hz(Priority::High))),
        Line::from(format!("MEDIUM yellow {}", hz(Priority::Medium))),
        Line::from(format!("LOW cyan {}", hz(Priority::Low))),
    ];
    let height = (lines.len() as u16 + 2).min(frame.area().height);
    let inner = popup(frame, 52.min(frame.area().width), height, "Help");
    frame.render_widget(Paragraph::new(lines), inner);
}
