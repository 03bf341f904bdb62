//! The console without a terminal: the screen drawn on ratatui's test backend (80×24 and larger,
//! flashing, refusals, dialogs), the keyboard as pure functions, and the fallback to status lines
//! when the console fails. Helpers first: a setup from a shipped protocol, frames built by hand,
//! the screen as text.

use perfuse_console::Setup;
use perfuse_console::draw::draw;
use perfuse_console::keys::Ui;
use perfuse_console::view::View;
use perfuse_core::config;
use perfuse_core::output::Frame;
use perfuse_core::run::status::StatusNames;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Cell;
use std::path::Path;
use std::sync::Arc;

/// The console's setup for a shipped protocol, as the CLI builds it from a run.
pub fn setup(protocol: &str) -> Setup {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../protocols")
        .join(protocol);
    let loaded = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let plan = Arc::new(loaded.plan);
    let ids = config::alarm_ids(&plan);
    let rule = |id: &str| plan.rules.iter().find(|r| r.id == id);
    let alarms = ids
        .iter()
        .map(|id| {
            (
                id.clone(),
                rule(id).map_or(String::new(), |r| r.text.clone()),
            )
        })
        .collect();
    let technical = ids
        .iter()
        .map(|id| rule(id).is_none_or(|r| r.technical))
        .collect();
    Setup {
        names: StatusNames {
            plan: plan.clone(),
            derived: vec!["resistance_index".into(), "verdict".into()],
            alarms,
            technical,
        },
        record: Some("runs/kidney-test.sqlite".into()),
        end_tick: None,
        pace: "×60 simulated".into(),
        status_every_ticks: 100,
    }
}

pub fn alarm_index(setup: &Setup, id: &str) -> usize {
    setup
        .names
        .alarms
        .iter()
        .position(|(a, _)| a == id)
        .unwrap_or_else(|| panic!("no alarm {id}"))
}

pub fn signal(setup: &Setup, id: &str) -> usize {
    setup
        .names
        .plan
        .signal(id)
        .unwrap_or_else(|| panic!("no signal {id}"))
}

/// A sample frame at `tick` with every signal valid at `value` per id.
pub fn frame(setup: &Setup, tick: u64, values: &[(&str, f64)]) -> Frame {
    let mut f = Frame::new();
    f.tick = tick;
    f.sample = true;
    for (i, _) in setup.names.plan.signals.iter().enumerate() {
        f.values[i] = 0.5;
        f.validity[i] = perfuse_plugin_sdk::validity::OK;
    }
    for (id, v) in values {
        f.values[signal(setup, id)] = *v;
    }
    f
}

/// Draws the screen at `now_ms` on a `w`×`h` test terminal.
pub fn render(view: &View, ui: &Ui, w: u16, h: u16, now_ms: u64) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    t.draw(|fr| draw(fr, view, ui, now_ms)).expect("draws");
    t
}

/// The screen's rows as text.
pub fn rows(t: &Terminal<TestBackend>) -> Vec<String> {
    let b = t.backend().buffer();
    (0..b.area.height)
        .map(|y| (0..b.area.width).map(|x| b[(x, y)].symbol()).collect())
        .collect()
}

/// The cell where `text` first starts on screen.
pub fn cell_of<'a>(t: &'a Terminal<TestBackend>, text: &str) -> &'a Cell {
    let b = t.backend().buffer();
    for (y, row) in rows(t).iter().enumerate() {
        if let Some(byte) = row.find(text) {
            let x = row[..byte].chars().count() as u16;
            return &b[(x, y as u16)];
        }
    }
    panic!("`{text}` is not on screen:\n{}", rows(t).join("\n"));
}

pub fn screen_has(t: &Terminal<TestBackend>, text: &str) -> bool {
    rows(t).iter().any(|r| r.contains(text))
}

// ---- the screen ----

use perfuse_console::keys::{Key, Mode, Pending};
use perfuse_core::config::OperatorAction;
use perfuse_core::output::ALARM_ACKNOWLEDGED;
use perfuse_core::tick::events::Event;
use perfuse_core::tick::operator::LiveInput;
use ratatui::style::Color;

/// Kidney HMP at 00:20:00 in its one phase: pressure in band, perfusate too warm (out of its
/// 1–8 °C band, in force after 15 min), three alarms (high occlusion, medium perfusate_warm
/// acknowledged, low ice_warm) and the high one sounding.
fn alarming_view() -> View {
    view_until(120_000)
}

fn view_until(end_tick: u64) -> View {
    let s = setup("kidney-hmp.ron");
    let (occlusion, warm, ice) = (
        alarm_index(&s, "occlusion"),
        alarm_index(&s, "perfusate_warm"),
        alarm_index(&s, "ice_warm"),
    );
    let sys = signal(&s, "systolic_pressure");
    let mut view = View::new(s.clone());
    for t in (0..=end_tick).step_by(100) {
        let mut f = frame(
            &s,
            t,
            &[("systolic_pressure", 30.0), ("perfusate_temp", 9.5)],
        );
        f.setpoints[sys] = 30.0;
        if t >= 30_000 {
            f.alarms[occlusion] = 3;
            f.alarm_since[occlusion] = 30_000;
            f.alarms[warm] = 2 | ALARM_ACKNOWLEDGED;
            f.alarm_since[warm] = 20_000;
            f.alarms[ice] = 1;
            f.alarm_since[ice] = 10_000;
            f.sounding = 3;
        }
        view.take(&f);
    }
    view
}

#[test]
fn an_80_by_24_screen_shows_the_run_its_alarms_by_priority_and_the_keys() {
    let view = alarming_view();
    let t = render(&view, &Ui::default(), 80, 24, 0);
    let screen = rows(&t).join("\n");
    println!("{screen}");
    for text in [
        "Kidney HMP",
        "run 00:20:00",
        "×60 simulated",
        "record runs/kidney-test.sqlite",
        "phase perfusion (1/1) · in phase 00:20:00 · left 05:40:00",
        "Alarms (3)",
        "sound HIGH",
        "▶HIGH   occlusion 00:05:00",
        "MEDIUM perfusate_warm 00:03:20",
        "ACK",
        "LOW    ice_warm 00:01:40",
        "Trend perfusate_temp (°C) · 10 min",
        "? help",
    ] {
        assert!(screen.contains(text), "`{text}` missing:\n{screen}");
    }
    // By priority, then time: high, medium, low, whatever their start.
    let at = |s: &str| screen.find(s).unwrap();
    assert!(at("occlusion") < at("perfusate_warm") && at("perfusate_warm") < at("ice_warm"));
    // Out of band: marked in text, in the alarm's reverse video; in band: not marked.
    let temp = rows(&t)
        .into_iter()
        .find(|r| r.starts_with("perfusate_temp"))
        .unwrap();
    assert!(temp.contains("HI   9.50"), "{temp}");
    let sys = rows(&t)
        .into_iter()
        .find(|r| r.starts_with("systolic_press"))
        .unwrap();
    assert!(sys.contains("  30.00 mmHg  sp 30.00"), "{sys}");
    // Before the band is in force (the perfusate's settle time, 15 min), no mark.
    let early = render(&view_until(60_000), &Ui::default(), 80, 24, 0);
    let temp = rows(&early)
        .into_iter()
        .find(|r| r.starts_with("perfusate_temp"))
        .unwrap();
    assert!(temp.contains("    9.50"), "{temp}");
    // The bindings stay on screen.
    assert!(
        rows(&t)[22].starts_with("a ack · A ack all"),
        "{}",
        rows(&t)[22]
    );
}

#[test]
fn a_larger_screen_shows_bands_actuators_and_the_alarm_text() {
    let view = alarming_view();
    let t = render(&view, &Ui::default(), 140, 45, 0);
    let screen = rows(&t).join("\n");
    for text in [
        "sp 30.00 [27.00–33.00]",
        "[1.00–8.00]",
        "Actuators (command)",
        "pump",
        "arterial_clamp",
        "resistance_index",
        "Flow lost with pressure present",
        "-10m",
    ] {
        assert!(screen.contains(text), "`{text}` missing:\n{screen}");
    }
}

#[test]
fn high_flashes_at_2_hz_in_red_medium_slower_in_yellow_low_is_steady() {
    let view = alarming_view();
    let ui = Ui::default();
    let at = |ms| render(&view, &ui, 100, 30, ms);
    let high = |t: &Terminal<TestBackend>| cell_of(t, "HIGH  ").clone();
    let medium = |t: &Terminal<TestBackend>| cell_of(t, "MEDIUM").clone();
    let low = |t: &Terminal<TestBackend>| cell_of(t, "LOW   ").clone();
    let (t0, t300, t900) = (at(0), at(300), at(900));
    // High: lit (red background) in the first 250 ms of each 500 ms, red text otherwise.
    assert_eq!(high(&t0).bg, Color::Red);
    assert_eq!(high(&t300).bg, Color::Reset);
    assert_eq!(high(&t300).fg, Color::Red);
    assert_eq!(high(&at(500)).bg, Color::Red);
    // Medium: yellow background for 800 ms of 1600 ms.
    assert_eq!(medium(&t0).bg, Color::Yellow);
    assert_eq!(medium(&t300).bg, Color::Yellow);
    assert_eq!(medium(&t900).bg, Color::Reset);
    assert_eq!(medium(&t900).fg, Color::Yellow);
    // Low: the same at every instant.
    assert_eq!(low(&t0), low(&t300));
    assert_eq!(low(&t0), low(&t900));
    assert_eq!(low(&t0).fg, Color::Cyan);
    // The priority is written whatever the colour: it reads on a monochrome terminal.
    assert!(screen_has(&t300, "HIGH   occlusion"));
}

#[test]
fn a_refused_action_shows_its_reason_and_an_accepted_one_says_done() {
    let mut view = alarming_view();
    let s = view.setup.clone();
    let sys = signal(&s, "systolic_pressure");
    let mut f = frame(&s, 120_100, &[]);
    f.events[0] = Event::Operator {
        action: OperatorAction::Setpoint {
            signal: sys,
            value: 45.0,
        },
        accepted: false,
    };
    f.n_events = 1;
    view.take(&f);
    let t = render(&view, &Ui::default(), 100, 30, 0);
    let line = rows(&t)[3].clone();
    assert!(
        line.contains("00:20:01 refused: setpoint systolic_pressure 45: outside the phase's band"),
        "{line}"
    );
    assert_eq!(cell_of(&t, "» 00:20:01").fg, Color::Red);
    f.tick = 120_200;
    f.events[0] = Event::Operator {
        action: OperatorAction::Acknowledge(alarm_index(&s, "occlusion")),
        accepted: true,
    };
    view.take(&f);
    let t = render(&view, &Ui::default(), 100, 30, 0);
    assert!(screen_has(&t, "» 00:20:02 done: acknowledge occlusion"));
    assert_eq!(cell_of(&t, "» 00:20:02").fg, Color::Green);
}

#[test]
fn the_audio_pause_counts_down_on_screen() {
    let mut view = alarming_view();
    let mut f = **view.frame.as_ref().unwrap();
    f.tick += 100;
    f.audio_paused_until = f.tick + 9_000;
    f.sounding = 0;
    view.take(&f);
    let t = render(&view, &Ui::default(), 100, 30, 0);
    assert!(
        screen_has(&t, "AUDIO PAUSED 00:01:30"),
        "{}",
        rows(&t).join("\n")
    );
    assert!(screen_has(&t, "sound off"));
}

#[test]
fn help_and_dialogs_draw_over_the_screen_at_80_by_24() {
    let view = alarming_view();
    let mut ui = Ui {
        help: true,
        ..Ui::default()
    };
    let t = render(&view, &ui, 80, 24, 0);
    assert!(screen_has(&t, "HIGH red flashing 2.0 Hz"));
    assert!(screen_has(&t, "MEDIUM yellow flashing 0.6 Hz"));
    assert!(screen_has(&t, "any key: close help"));
    ui.help = false;
    for k in [Key::Char('s'), Key::Enter, Key::Char('2'), Key::Char('8')] {
        ui.key(k, &view);
    }
    let t = render(&view, &ui, 80, 24, 0);
    assert!(
        screen_has(&t, "Setpoint: type the value"),
        "{}",
        rows(&t).join("\n")
    );
    assert!(screen_has(&t, "systolic_pressure (mmHg)"));
    assert!(screen_has(&t, "> 28_"));
    assert!(screen_has(&t, "band 27.00 to 33.00"));
    ui.key(Key::Enter, &view);
    let t = render(&view, &ui, 80, 24, 0);
    assert!(screen_has(&t, "Set systolic_pressure (mmHg) to 28.00?"));
    assert!(screen_has(&t, "y yes · n or Esc no"));
}

#[test]
fn tiny_and_huge_terminals_draw_without_panicking() {
    let view = alarming_view();
    let mut ui = Ui::default();
    for (w, h) in [(1, 1), (20, 5), (80, 24), (300, 100)] {
        render(&view, &ui, w, h, 0);
        ui.help = true;
        render(&view, &ui, w, h, 0);
        ui.help = false;
    }
    // Before the first frame: the protocol's name and nothing else to show.
    let empty = View::new(setup("kidney-hmp.ron"));
    let t = render(&empty, &ui, 80, 24, 0);
    assert!(screen_has(&t, "Kidney HMP"));
    assert!(screen_has(&t, "starting"));
}

// ---- the keyboard ----

fn keys(ui: &mut Ui, view: &View, keys: &[Key]) -> Vec<LiveInput> {
    keys.iter().flat_map(|&k| ui.key(k, view)).collect()
}

fn chars(s: &str) -> Vec<Key> {
    s.chars().map(Key::Char).collect()
}

#[test]
fn acknowledge_the_selected_alarm_or_all_of_them() {
    let view = alarming_view();
    let s = &view.setup;
    let ack = |id| LiveInput::Command(OperatorAction::Acknowledge(alarm_index(s, id)));
    let mut ui = Ui::default();
    assert_eq!(keys(&mut ui, &view, &[Key::Char('a')]), [ack("occlusion")]);
    // Down twice selects the low alarm (the list is by priority); further down stays there.
    let got = keys(
        &mut ui,
        &view,
        &[Key::Down, Key::Down, Key::Down, Key::Char('a')],
    );
    assert_eq!(got, [ack("ice_warm")]);
    // All: the unacknowledged ones (perfusate_warm already is).
    assert_eq!(
        keys(&mut ui, &view, &[Key::Char('A')]),
        [ack("occlusion"), ack("ice_warm")]
    );
    let r = keys(&mut ui, &view, &[Key::Up, Key::Char('r')]);
    assert_eq!(
        r,
        [LiveInput::Command(OperatorAction::Reset(alarm_index(
            s,
            "perfusate_warm"
        )))]
    );
    assert_eq!(
        keys(&mut ui, &view, &chars("pu")),
        [
            LiveInput::Command(OperatorAction::PauseAudio),
            LiveInput::Command(OperatorAction::ResumeAudio)
        ]
    );
    // Without alarms, a note instead of a command.
    let quiet = View::new(setup("kidney-hmp.ron"));
    let mut ui = Ui::default();
    assert!(keys(&mut ui, &quiet, &chars("aA")).is_empty());
    assert_eq!(ui.notice.as_deref(), Some("no unacknowledged alarm"));
}

#[test]
fn a_setpoint_is_picked_typed_and_confirmed() {
    let view = alarming_view();
    let sys = signal(&view.setup, "systolic_pressure");
    let mut ui = Ui::default();
    let mut typed = vec![Key::Char('s'), Key::Enter];
    typed.extend(chars("2x9.5"));
    typed.extend([Key::Backspace, Key::Char('0'), Key::Enter]);
    // Nothing is sent before the confirmation.
    assert!(keys(&mut ui, &view, &typed).is_empty());
    assert_eq!(
        ui.mode,
        Mode::Confirm(Pending::Setpoint {
            signal: sys,
            value: 29.0
        })
    );
    assert_eq!(
        keys(&mut ui, &view, &[Key::Char('y')]),
        [LiveInput::Command(OperatorAction::Setpoint {
            signal: sys,
            value: 29.0
        })]
    );
    assert_eq!(ui.mode, Mode::Normal);
    // Not a number: said, and the value can be typed again.
    let mut ui = Ui::default();
    let mut typed = vec![Key::Char('s'), Key::Enter];
    typed.extend(chars("--1"));
    typed.push(Key::Enter);
    assert!(keys(&mut ui, &view, &typed).is_empty());
    let Mode::Type { error, .. } = &ui.mode else {
        panic!("{:?}", ui.mode)
    };
    assert_eq!(error.as_deref(), Some("`--1` is not a number"));
    // Esc cancels at any step, and `n` at the confirmation.
    assert!(keys(&mut ui, &view, &[Key::Esc]).is_empty());
    assert_eq!(ui.mode, Mode::Normal);
    let mut typed = vec![Key::Char('s'), Key::Enter];
    typed.extend(chars("29"));
    typed.extend([Key::Enter, Key::Char('n')]);
    assert!(keys(&mut ui, &view, &typed).is_empty());
    assert_eq!(ui.notice.as_deref(), Some("cancelled"));
}

#[test]
fn phase_commands_are_confirmed_and_stop_twice() {
    let view = alarming_view();
    let mut ui = Ui::default();
    let cmd = |a| vec![LiveInput::Command(a)];
    assert_eq!(
        keys(&mut ui, &view, &chars("ny")),
        cmd(OperatorAction::AdvancePhase)
    );
    assert_eq!(
        keys(&mut ui, &view, &chars("hy")),
        cmd(OperatorAction::HoldPhase(true))
    );
    assert!(
        keys(&mut ui, &view, &chars("qy")).is_empty(),
        "one confirmation is not enough"
    );
    assert_eq!(ui.mode, Mode::Confirm(Pending::Stop { second: true }));
    assert_eq!(keys(&mut ui, &view, &chars("y")), cmd(OperatorAction::Stop));
    // Ctrl-C asks the same two questions; a no ends it.
    assert!(
        keys(
            &mut ui,
            &view,
            &[Key::Interrupt, Key::Char('y'), Key::Char('n')]
        )
        .is_empty()
    );
    assert_eq!(ui.mode, Mode::Normal);
    // Other keys leave a question open.
    assert!(keys(&mut ui, &view, &chars("qxa")).is_empty());
    assert_eq!(ui.mode, Mode::Confirm(Pending::Stop { second: false }));
}

#[test]
fn lab_values_go_to_operator_sensors_inside_their_range() {
    let view = View::new(setup("ta-nrp.ron"));
    let plan = view.setup.names.plan.clone();
    let lactate = plan
        .sensors
        .iter()
        .position(|s| s.id == "lactate_lab")
        .unwrap();
    let mut ui = Ui::default();
    ui.key(Key::Char('l'), &view);
    let Mode::Pick { options, .. } = &ui.mode else {
        panic!("{:?}", ui.mode)
    };
    assert!(options.iter().all(|&o| plan.sensors[o].operator));
    let at = options.iter().position(|&o| o == lactate).unwrap();
    for _ in 0..at {
        ui.key(Key::Down, &view);
    }
    ui.key(Key::Enter, &view);
    // 31 mmol/L is outside the sensor's 0–30: refused by the console, typed again.
    let mut typed = chars("31");
    typed.push(Key::Enter);
    assert!(keys(&mut ui, &view, &typed).is_empty());
    let Mode::Type { error, .. } = &ui.mode else {
        panic!("{:?}", ui.mode)
    };
    assert_eq!(error.as_deref(), Some("outside the sensor's range 0 to 30"));
    let mut typed = vec![Key::Backspace, Key::Backspace];
    typed.extend(chars("4.2"));
    typed.extend([Key::Enter, Key::Char('y')]);
    assert_eq!(
        keys(&mut ui, &view, &typed),
        [LiveInput::Lab {
            sensor: lactate,
            value: 4.2
        }]
    );
    // A protocol without operator sensors says so.
    let kidney = View::new(setup("kidney-hmp.ron"));
    let mut ui = Ui::default();
    ui.key(Key::Char('l'), &kidney);
    assert_eq!(ui.mode, Mode::Normal);
    assert_eq!(
        ui.notice.as_deref(),
        Some("this protocol has no operator-site sensor")
    );
}

// ---- the console failing ----

#[test]
fn a_panicking_console_carries_on_as_status_lines() {
    let s = setup("kidney-hmp.ron");
    let (tx, rx) = crossbeam_channel::bounded(16);
    let occlusion = alarm_index(&s, "occlusion");
    let mut out = Vec::new();
    let feeder = {
        let s = s.clone();
        std::thread::spawn(move || {
            for t in [0u64, 100, 200] {
                let mut f = frame(&s, t, &[("systolic_pressure", 30.0)]);
                if t == 200 {
                    f.events[0] = Event::Alarm {
                        alarm: occlusion,
                        change: perfuse_core::tick::events::AlarmChange::Raised,
                        priority: perfuse_core::config::Priority::High,
                        limit: f64::NAN,
                        value: f64::NAN,
                    };
                    f.n_events = 1;
                }
                tx.send(f).unwrap();
            }
        })
    };
    perfuse_console::supervise(s, &rx, &mut out, |_| panic!("a bug in the console"));
    feeder.join().unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "console: the console crashed; the run goes on; status lines follow"
    );
    assert!(lines[1].starts_with("00:00:00 perfusion"), "{text}");
    assert!(lines[2].starts_with("00:00:01 perfusion"), "{text}");
    assert!(
        lines[3].starts_with("00:00:02 ALARM occlusion [HIGH] raised"),
        "{text}"
    );
    assert_eq!(lines.len(), 5, "{text}");
}
