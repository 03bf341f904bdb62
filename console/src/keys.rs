//! The keyboard: a state machine from keys to operator input, pure (no terminal, no queue).
//! Every action that changes the run is picked, typed and confirmed here, then sent to the tick,
//! which checks it like a scripted command; what became of it comes back in the frames.

use crate::view::View;
use perfuse_core::config::OperatorAction;
use perfuse_core::tick::operator::LiveInput;

/// A key as the console reads it (decoupled from the terminal library, for tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Esc,
    Backspace,
    Up,
    Down,
    /// Ctrl-C: in raw mode it is a key, not a signal; it asks to stop like `q`.
    Interrupt,
}

/// What a value is being entered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A setpoint for a controlled signal (signal index).
    Setpoint,
    /// A laboratory value for an operator-site sensor (sensor index).
    Lab,
}

/// An action waiting for its confirmation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pending {
    Setpoint {
        signal: usize,
        value: f64,
    },
    Lab {
        sensor: usize,
        value: f64,
    },
    Advance,
    Hold(bool),
    /// Stop asks twice: `second` once the first confirmation was given.
    Stop {
        second: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    /// Choosing a signal or sensor from `options` (indices).
    Pick {
        entry: Entry,
        options: Vec<usize>,
        cursor: usize,
    },
    /// Typing a value for `target`.
    Type {
        entry: Entry,
        target: usize,
        text: String,
        error: Option<String>,
    },
    Confirm(Pending),
}

/// The console's own state: the dialog in progress, the selection, what the screen shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Ui {
    pub mode: Mode,
    pub help: bool,
    /// The selected row of the alarm list.
    pub selected: usize,
    /// The trended signal, as an index into [`trend_signals`].
    pub trend: usize,
    /// Trend span: 1 h rather than 10 min.
    pub long_span: bool,
    /// A note from the console itself (nothing to acknowledge, cancelled, not a number).
    pub notice: Option<String>,
}

impl Default for Ui {
    fn default() -> Self {
        Ui {
            mode: Mode::Normal,
            help: false,
            selected: 0,
            trend: 0,
            long_span: false,
            notice: None,
        }
    }
}

/// The signals a setpoint can be given for: those an actuator's loop controls.
pub fn controlled_signals(view: &View) -> Vec<usize> {
    let plan = &view.setup.names.plan;
    let mut out: Vec<usize> = plan
        .actuators
        .iter()
        .filter_map(|a| a.control.as_ref().map(|l| l.signal))
        .collect();
    out.dedup();
    out
}

/// The sensors whose values the operator enters (site `operator`).
pub fn operator_sensors(view: &View) -> Vec<usize> {
    let plan = &view.setup.names.plan;
    (0..plan.sensors.len())
        .filter(|&i| plan.sensors[i].operator)
        .collect()
}

/// The signals trended: those with a target in the phase in force (controlled and monitored),
/// else every signal.
pub fn trend_signals(view: &View) -> Vec<usize> {
    let plan = &view.setup.names.plan;
    let phase = view.frame.as_ref().map_or(0, |f| f.phase);
    let with_target: Vec<usize> = (0..plan.signals.len())
        .filter(|&i| plan.phases[phase].targets[i].is_some())
        .collect();
    if with_target.is_empty() {
        (0..plan.signals.len()).collect()
    } else {
        with_target
    }
}

impl Ui {
    /// Handles one key; returns what to send to the tick (in order).
    pub fn key(&mut self, key: Key, view: &View) -> Vec<LiveInput> {
        if key == Key::Interrupt {
            self.help = false;
            self.mode = Mode::Confirm(Pending::Stop { second: false });
            return Vec::new();
        }
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Normal => self.normal(key, view),
            Mode::Pick {
                entry,
                options,
                cursor,
            } => {
                self.pick(key, entry, options, cursor);
                Vec::new()
            }
            Mode::Type {
                entry,
                target,
                text,
                error,
            } => {
                self.typing(key, view, entry, target, text, error);
                Vec::new()
            }
            Mode::Confirm(p) => self.confirm(key, p),
        }
    }

    fn normal(&mut self, key: Key, view: &View) -> Vec<LiveInput> {
        let command = |a| vec![LiveInput::Command(a)];
        let rows = view.alarm_rows();
        self.selected = self.selected.min(rows.len().saturating_sub(1));
        if self.help {
            // Help covers the screen: any key closes it, and only that.
            self.help = false;
            return Vec::new();
        }
        self.notice = None;
        match key {
            Key::Char('?') => self.help = true,
            Key::Up | Key::Char('k') => self.selected = self.selected.saturating_sub(1),
            Key::Down | Key::Char('j') => {
                self.selected = (self.selected + 1).min(rows.len().saturating_sub(1))
            }
            Key::Char('a') => match rows.get(self.selected) {
                Some(r) => return command(OperatorAction::Acknowledge(r.index)),
                None => self.notice = Some("no active alarm to acknowledge".into()),
            },
            Key::Char('A') => {
                let all: Vec<LiveInput> = rows
                    .iter()
                    .filter(|r| !r.acknowledged)
                    .map(|r| LiveInput::Command(OperatorAction::Acknowledge(r.index)))
                    .collect();
                if all.is_empty() {
                    self.notice = Some("no unacknowledged alarm".into());
                }
                return all;
            }
            Key::Char('r') => match rows.get(self.selected) {
                Some(r) => return command(OperatorAction::Reset(r.index)),
                None => self.notice = Some("no active alarm to reset".into()),
            },
            Key::Char('p') => return command(OperatorAction::PauseAudio),
            Key::Char('u') => return command(OperatorAction::ResumeAudio),
            Key::Char('s') => self.start_pick(Entry::Setpoint, controlled_signals(view)),
            Key::Char('l') => self.start_pick(Entry::Lab, operator_sensors(view)),
            Key::Char('n') => self.mode = Mode::Confirm(Pending::Advance),
            Key::Char('h') => self.mode = Mode::Confirm(Pending::Hold(!view.held)),
            Key::Char('q') => self.mode = Mode::Confirm(Pending::Stop { second: false }),
            Key::Char('t') => {
                let n = trend_signals(view).len().max(1);
                self.trend = (self.trend + 1) % n;
            }
            Key::Char('w') => self.long_span = !self.long_span,
            _ => {}
        }
        Vec::new()
    }

    fn start_pick(&mut self, entry: Entry, options: Vec<usize>) {
        if options.is_empty() {
            self.notice = Some(match entry {
                Entry::Setpoint => "this protocol has no controlled signal".into(),
                Entry::Lab => "this protocol has no operator-site sensor".into(),
            });
            return;
        }
        self.mode = Mode::Pick {
            entry,
            options,
            cursor: 0,
        };
    }

    fn pick(&mut self, key: Key, entry: Entry, options: Vec<usize>, cursor: usize) {
        let last = options.len() - 1;
        let cursor = match key {
            Key::Esc => {
                self.notice = Some("cancelled".into());
                return;
            }
            Key::Enter => {
                self.mode = Mode::Type {
                    entry,
                    target: options[cursor],
                    text: String::new(),
                    error: None,
                };
                return;
            }
            Key::Up | Key::Char('k') => cursor.saturating_sub(1),
            Key::Down | Key::Char('j') => (cursor + 1).min(last),
            _ => cursor,
        };
        self.mode = Mode::Pick {
            entry,
            options,
            cursor,
        };
    }

    fn typing(
        &mut self,
        key: Key,
        view: &View,
        entry: Entry,
        target: usize,
        mut text: String,
        mut error: Option<String>,
    ) {
        match key {
            Key::Esc => {
                self.notice = Some("cancelled".into());
                return;
            }
            Key::Char(c) if (c.is_ascii_digit() || c == '.' || c == '-') && text.len() < 16 => {
                text.push(c);
                error = None;
            }
            Key::Backspace => {
                text.pop();
                error = None;
            }
            Key::Enter => match parse_value(view, entry, target, &text) {
                Ok(value) => {
                    self.mode = Mode::Confirm(match entry {
                        Entry::Setpoint => Pending::Setpoint {
                            signal: target,
                            value,
                        },
                        Entry::Lab => Pending::Lab {
                            sensor: target,
                            value,
                        },
                    });
                    return;
                }
                Err(e) => error = Some(e),
            },
            _ => {}
        }
        self.mode = Mode::Type {
            entry,
            target,
            text,
            error,
        };
    }

    fn confirm(&mut self, key: Key, p: Pending) -> Vec<LiveInput> {
        match key {
            Key::Char('y') | Key::Char('Y') => {}
            Key::Char('n') | Key::Char('N') | Key::Esc => {
                self.notice = Some("cancelled".into());
                return Vec::new();
            }
            _ => {
                self.mode = Mode::Confirm(p);
                return Vec::new();
            }
        }
        let command = |a| vec![LiveInput::Command(a)];
        match p {
            Pending::Setpoint { signal, value } => {
                command(OperatorAction::Setpoint { signal, value })
            }
            Pending::Lab { sensor, value } => vec![LiveInput::Lab { sensor, value }],
            Pending::Advance => command(OperatorAction::AdvancePhase),
            Pending::Hold(hold) => command(OperatorAction::HoldPhase(hold)),
            Pending::Stop { second: false } => {
                self.mode = Mode::Confirm(Pending::Stop { second: true });
                Vec::new()
            }
            Pending::Stop { second: true } => command(OperatorAction::Stop),
        }
    }
}

/// The typed value, checked where the console can: a finite number; a lab value inside its
/// sensor's range (a setpoint's band is the core's to judge, and its refusal says why).
fn parse_value(view: &View, entry: Entry, target: usize, text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("`{text}` is not a number"))?;
    if entry == Entry::Lab {
        let r = view.setup.names.plan.sensors[target].range;
        if !r.contains(value) {
            return Err(format!("outside the sensor's range {} to {}", r.min, r.max));
        }
    }
    Ok(value)
}
