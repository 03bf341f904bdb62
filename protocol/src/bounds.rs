//! Clinical and engineering bounds of a well-typed protocol file.
//!
//! A file can be well-typed and still switch safety off: a persistence of 1e300 s never raises its
//! alarm, a command time to live of 1e300 s disables the device's watchdog, a phase of 1e300 s
//! never ends. Every time, rate, gain, dose and duration therefore has a bound here, each with its
//! reason (the README's guarantees section lists them); setpoints lie inside their phase's band,
//! bands are ordered, one loop controls a signal, backups form no cycle, ids are printable
//! identifiers and texts printable single lines. Everything found is returned at once, located by
//! field path like the rest of [`super::compile`].

use super::schema::*;
use super::validate::Problem;
use crate::plan::SignalPlan;

/// The longest a run (and so any phase) may last: 7 days, the longest published machine
/// preservation of a human organ (injured livers kept for one week, Eshmuminov 2020, clinical
/// reference §3A [S6]).
pub const MAX_RUN_S: f64 = 7.0 * 86_400.0;

/// A device sensor streams many readings a second: one older than a minute no longer describes
/// the circuit, so its staleness alarm may wait at most this long.
pub const MAX_STALE_DEVICE_S: f64 = 60.0;

/// A value the operator enters comes from a blood sample, taken every 1–2 h (lactate, §1A):
/// it may count as fresh for at most two hours.
pub const MAX_STALE_OPERATOR_S: f64 = 7_200.0;

/// A reading unchanged for this long is stuck whatever the signal: 10 minutes.
pub const MAX_STUCK_S: f64 = 600.0;

/// The device's watchdog: a stalled controller leaves an actuator on its last command at most
/// this long before the device puts it in its safe state.
pub const MAX_COMMAND_TTL_S: f64 = 10.0;

/// A command must outlive the tick that sends the next one: at least this many periods.
pub const MIN_COMMAND_TTL_TICKS: f64 = 2.0;

/// An alarm waits at most 15 minutes for its condition to persist; longer, it alarms nothing.
pub const MAX_PERSIST_S: f64 = 900.0;

/// A lasting alarm rises a priority within an hour at the latest.
pub const MAX_ESCALATE_S: f64 = 3_600.0;

/// Gains are bounded by resolution: an input change of 1/1000 of its range may swing the output
/// across the whole absolute range of what it drives, no more (a larger gain is an on-off switch).
pub const GAIN_RESOLUTION: f64 = 1_000.0;

/// Longest identifier (signal, actuator, phase, rule, site, scenario, parameter names).
pub const MAX_ID_CHARS: usize = 64;

/// Longest protocol name.
pub const MAX_NAME_CHARS: usize = 80;

/// Longest alarm text: one line of an alarm display.
pub const MAX_ALARM_TEXT_CHARS: usize = 160;

/// Longest description and version text.
pub const MAX_DESCRIPTION_CHARS: usize = 1_000;
pub const MAX_VERSION_CHARS: usize = 32;

/// Checks every bound of `file`; `signals` are the resolved sensors and estimates (for ranges).
pub fn check(file: &ProtocolFile, signals: &[SignalPlan], period_s: f64) -> Vec<Problem> {
    let mut b = Bounds {
        problems: Vec::new(),
        signals,
        period_s,
    };
    b.texts_and_ids(file);
    b.sensors(file);
    b.actuators(file);
    b.estimates(file);
    b.phases(file);
    b.rules(file);
    b.problems
}

struct Bounds<'a> {
    problems: Vec<Problem>,
    signals: &'a [SignalPlan],
    period_s: f64,
}

impl Bounds<'_> {
    fn report(&mut self, path: String, expected: String, found: String) {
        self.problems.push(Problem {
            path,
            expected,
            found,
        });
    }

    /// Reports `value` above `max` (lower bounds are the validator's); `what` names the quantity,
    /// with the bound's reason in parentheses after it.
    fn at_most(&mut self, path: String, value: f64, max: f64, unit: &str, what: &str) {
        if value > max {
            let max = short_num(max);
            let expected = match what.split_once(" (") {
                Some((quantity, reason)) => format!("{quantity} of at most {max} {unit} ({reason}"),
                None => format!("{what} of at most {max} {unit}"),
            };
            self.report(path, expected, short_num(value));
        }
    }

    fn signal(&self, id: &str) -> Option<&SignalPlan> {
        self.signals.iter().find(|s| s.id == id)
    }

    /// `|gain| × input span ≤ GAIN_RESOLUTION × output span`.
    fn gain(&mut self, path: String, gain: f64, input: Range, output: (f64, f64), unit: &str) {
        let input_span = input.max - input.min;
        if input_span <= 0.0 {
            return; // an unordered range is reported where it is declared
        }
        let most = round_down(GAIN_RESOLUTION * (output.1 - output.0) / input_span);
        if gain.abs() > most {
            self.report(
                path,
                format!(
                    "a gain of at most ±{} {unit} (1/{} of the input's range may swing the output across its whole range)",
                    short_num(most),
                    GAIN_RESOLUTION
                ),
                short_num(gain),
            );
        }
    }

    fn texts_and_ids(&mut self, file: &ProtocolFile) {
        self.text("name".into(), &file.name, MAX_NAME_CHARS);
        self.text(
            "description".into(),
            &file.description,
            MAX_DESCRIPTION_CHARS,
        );
        self.text("version".into(), &file.version, MAX_VERSION_CHARS);
        for (i, s) in file.circuit.sensors.iter().enumerate() {
            self.id(format!("circuit.sensors[{i}].id"), &s.id);
            self.id(format!("circuit.sensors[{i}].site"), &s.site);
        }
        for (i, a) in file.circuit.actuators.iter().enumerate() {
            self.id(format!("circuit.actuators[{i}].id"), &a.id);
            self.id(format!("circuit.actuators[{i}].site"), &a.site);
        }
        for (i, e) in file.estimates.iter().enumerate() {
            self.id(format!("estimates[{i}].id"), &e.id);
        }
        for (i, p) in file.phases.iter().enumerate() {
            self.id(format!("phases[{i}].id"), &p.id);
        }
        for (i, r) in file.rules.iter().enumerate() {
            self.id(format!("rules[{i}].id"), &r.id);
            self.text(format!("rules[{i}].text"), &r.text, MAX_ALARM_TEXT_CHARS);
        }
        for key in file.plugin_params.iter().flatten().map(|(k, _)| k) {
            self.id(format!("plugin_params[\"{key}\"]"), key);
        }
        for key in file.simulator.params.iter().flatten().map(|(k, _)| k) {
            self.id(format!("simulator.params[\"{key}\"]"), key);
        }
        for (name, overrides) in file.simulator.scenarios.iter().flatten() {
            let path = format!("simulator.scenarios[\"{name}\"]");
            self.id(path.clone(), name);
            for key in overrides.keys() {
                self.id(format!("{path}[\"{key}\"]"), key);
            }
        }
    }

    /// An identifier: ASCII letters, digits, `_` and `-`, at most [`MAX_ID_CHARS`].
    /// (An empty id is the validator's to report.)
    fn id(&mut self, path: String, id: &str) {
        let bad = id
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        let long = id.chars().count() > MAX_ID_CHARS;
        if bad.is_some() || long {
            let found = match bad {
                Some(c) => format!("{} (the character {})", shown(id), char_name(c)),
                None => format!("{} ({} characters)", shown(id), id.chars().count()),
            };
            self.report(
                path,
                format!("an identifier of ASCII letters, digits, `_` and `-`, at most {MAX_ID_CHARS} characters"),
                found,
            );
        }
    }

    /// A printable single line of at most `max` characters.
    fn text(&mut self, path: String, text: &str, max: usize) {
        let bad = text.chars().find(|&c| !printable(c));
        let long = text.chars().count() > max;
        if bad.is_some() || long {
            let found = match bad {
                Some(c) => format!("{} (the character {})", shown(text), char_name(c)),
                None => format!("{} ({} characters)", shown(text), text.chars().count()),
            };
            self.report(
                path,
                format!(
                    "a printable single line of at most {max} characters (no control or invisible formatting characters)"
                ),
                found,
            );
        }
    }

    fn sensors(&mut self, file: &ProtocolFile) {
        let list = &file.circuit.sensors;
        for (i, s) in list.iter().enumerate() {
            let path = format!("circuit.sensors[{i}]");
            let (max, what) = if s.site == OPERATOR_SITE {
                (
                    MAX_STALE_OPERATOR_S,
                    "a staleness time for an operator-entered value (blood samples are taken every 1-2 h)",
                )
            } else {
                (
                    MAX_STALE_DEVICE_S,
                    "a staleness time for a device sensor (a minute-old reading no longer describes the circuit)",
                )
            };
            self.at_most(
                format!("{path}.stale_after_s"),
                s.stale_after_s,
                max,
                "s",
                what,
            );
            if let Some(stuck) = s.stuck_after_s {
                self.at_most(
                    format!("{path}.stuck_after_s"),
                    stuck,
                    MAX_STUCK_S,
                    "s",
                    "a stuck time (a frozen reading must not drive a loop unseen for longer)",
                );
            }
            // Backups stand in one level deep; a cycle leaves no sensor as the primary.
            let mut chain = vec![i];
            let mut at = i;
            while let Some(next) = list[at]
                .backup
                .as_ref()
                .and_then(|b| list.iter().position(|o| &o.id == b))
            {
                if next == i {
                    let names: Vec<String> = chain
                        .iter()
                        .chain(std::iter::once(&i))
                        .map(|&k| format!("`{}`", list[k].id))
                        .collect();
                    self.report(
                        format!("{path}.backup"),
                        "backups without a cycle (a sensor's backup has no backup leading back to it)".into(),
                        names.join(" → "),
                    );
                    break;
                }
                if chain.contains(&next) {
                    break; // a cycle further on: reported at its own members
                }
                chain.push(next);
                at = next;
            }
        }
    }

    fn actuators(&mut self, file: &ProtocolFile) {
        let mut controlled: Vec<(&str, usize)> = Vec::new();
        for (i, a) in file.circuit.actuators.iter().enumerate() {
            let path = format!("circuit.actuators[{i}]");
            let abs = a.kind.absolute_range();
            let unit = a.kind.unit();
            let min_ttl = MIN_COMMAND_TTL_TICKS * self.period_s;
            if a.command_ttl_s > 0.0 && a.command_ttl_s < min_ttl {
                self.report(
                    format!("{path}.command_ttl_s"),
                    format!(
                        "a time to live of at least {} s (two ticks: a command must outlive the tick that sends the next)",
                        short_num(min_ttl)
                    ),
                    short_num(a.command_ttl_s),
                );
            }
            self.at_most(
                format!("{path}.command_ttl_s"),
                a.command_ttl_s,
                MAX_COMMAND_TTL_S,
                "s",
                "a command time to live (the device's watchdog acts within seconds)",
            );
            if let Some(rate) = a.max_rate_per_s {
                // Crossing the whole absolute range within one tick limits nothing.
                let most = (abs.1 - abs.0) / self.period_s;
                self.at_most(
                    format!("{path}.max_rate_per_s"),
                    rate,
                    most,
                    &format!("{unit}/s"),
                    "a rate limit (the whole absolute range in one tick; `None` for no limit)",
                );
            }
            if let Some(cap) = a.dose_cap
                && cap.window_s > 0.0
            {
                // More than the pump delivers in the window at its range's maximum never acts.
                let most = a.range.max.max(0.0) * cap.window_s / 3600.0;
                self.at_most(
                    format!("{path}.dose_cap.max_ml"),
                    cap.max_ml,
                    most,
                    "mL",
                    "a dose cap (what the pump delivers in the window at its maximum rate)",
                );
            }
            let Some(ctl) = &a.control else { continue };
            if let Some(&(_, other)) = controlled.iter().find(|(s, _)| *s == ctl.signal) {
                self.report(
                    format!("{path}.control.signal"),
                    format!(
                        "one control loop per signal (`{}` already controls it)",
                        file.circuit.actuators[other].id
                    ),
                    format!("a second loop on `{}`", ctl.signal),
                );
            }
            controlled.push((&ctl.signal, i));
            let Some(sig) = self.signal(&ctl.signal).map(|s| (s.range, s.unit.clone())) else {
                continue;
            };
            let per = format!("{unit} per {}", sig.1);
            self.gain(format!("{path}.control.kp"), ctl.kp, sig.0, abs, &per);
            self.gain(
                format!("{path}.control.ki"),
                ctl.ki,
                sig.0,
                abs,
                &format!("{per} per s"),
            );
            match &ctl.feedforward {
                Some(Feedforward::Constant(v)) => {
                    let span = abs.1 - abs.0;
                    if v.abs() > span {
                        self.report(
                            format!("{path}.control.feedforward"),
                            format!(
                                "a feed-forward within ±{} {unit} (the actuator's absolute span)",
                                short_num(span)
                            ),
                            short_num(*v),
                        );
                    }
                }
                Some(Feedforward::Proportional { signal, gain }) => {
                    if let Some(from) = self.signal(signal).map(|s| (s.range, s.unit.clone())) {
                        self.gain(
                            format!("{path}.control.feedforward.gain"),
                            *gain,
                            from.0,
                            abs,
                            &format!("{unit} per {}", from.1),
                        );
                    }
                }
                None => {}
            }
        }
    }

    fn estimates(&mut self, file: &ProtocolFile) {
        for (i, e) in file.estimates.iter().enumerate() {
            if let EstimateKind::Linear { gain, quantity, .. } = e.kind
                && let Some(from) = self.signal(&e.from).map(|s| (s.range, s.unit.clone()))
            {
                self.gain(
                    format!("estimates[{i}].kind.gain"),
                    gain,
                    from.0,
                    quantity.absolute_range(),
                    &format!("{} per {}", quantity.unit(), from.1),
                );
            }
        }
    }

    fn phases(&mut self, file: &ProtocolFile) {
        let mut total = 0.0;
        for (i, p) in file.phases.iter().enumerate() {
            let path = format!("phases[{i}]");
            total += p.duration_s.max(0.0);
            self.at_most(
                format!("{path}.duration_s"),
                p.duration_s,
                MAX_RUN_S,
                "s",
                "a phase duration (7 days, the longest published preservation)",
            );
            if let Some(e) = &p.exit_when {
                self.condition(&format!("{path}.exit_when.condition"), &e.condition, 0);
            }
            for (sig_id, t) in &p.targets {
                let tpath = format!("{path}.targets[\"{sig_id}\"]");
                let settle = t.settle_s.unwrap_or(0.0);
                if settle > p.duration_s {
                    self.report(
                        format!("{tpath}.settle_s"),
                        format!(
                            "a settle time within the phase's duration {} s",
                            short_num(p.duration_s)
                        ),
                        short_num(settle),
                    );
                }
                if let Some(Setpoint::Ramp { over_s, .. }) = t.setpoint {
                    self.at_most(
                        format!("{tpath}.setpoint"),
                        over_s,
                        MAX_RUN_S,
                        "s",
                        "a ramp time (7 days, the longest published preservation)",
                    );
                }
                let (Some(sp), Some(band)) = (t.setpoint, t.band) else {
                    continue;
                };
                if band.min >= band.max {
                    continue; // reported by the validator
                }
                // From `settle_s` on, while the band counts, the setpoint's course stays inside it.
                let (first, last) = (sp.at(settle), sp.at(f64::INFINITY));
                if !band.contains(first) || !band.contains(last) {
                    let unit = self
                        .signal(sig_id)
                        .map_or(String::new(), |s| s.unit.clone());
                    let found = if first == last {
                        short_num(last)
                    } else {
                        format!(
                            "a ramp from {} (at `settle_s`) to {}",
                            short_num(first),
                            short_num(last)
                        )
                    };
                    self.report(
                        format!("{tpath}.setpoint"),
                        format!(
                            "a setpoint inside the phase's band {} to {} {unit} from `settle_s` on",
                            short_num(band.min),
                            short_num(band.max)
                        ),
                        found,
                    );
                }
            }
        }
        if file.phases.len() > 1 && total > MAX_RUN_S {
            self.report(
                "phases".into(),
                format!(
                    "phases lasting at most {} s together (7 days, the longest published preservation)",
                    short_num(MAX_RUN_S)
                ),
                format!("{} s", short_num(total)),
            );
        }
    }

    fn rules(&mut self, file: &ProtocolFile) {
        for (i, r) in file.rules.iter().enumerate() {
            let path = format!("rules[{i}]");
            self.at_most(
                format!("{path}.persist_s"),
                r.persist_s,
                MAX_PERSIST_S,
                "s",
                "a persistence (an alarm that waits longer alarms nothing)",
            );
            if let Some(after) = r.escalate_after_s {
                self.at_most(
                    format!("{path}.escalate_after_s"),
                    after,
                    MAX_ESCALATE_S,
                    "s",
                    "an escalation time (a lasting alarm rises within the hour)",
                );
            }
            self.condition(&format!("{path}.condition"), &r.condition, 0);
        }
    }

    fn condition(&mut self, path: &str, cond: &Condition, depth: usize) {
        match cond {
            Condition::Outside { band, .. } if band.min >= band.max => self.report(
                format!("{path}.band.min"),
                format!("min below max ({})", short_num(band.max)),
                short_num(band.min),
            ),
            Condition::Disagree { a, tolerance, .. } => {
                // A tolerance wider than the sensors' range can never be exceeded.
                if let Some(s) = self.signal(a) {
                    let (span, unit) = (s.range.max - s.range.min, s.unit.clone());
                    self.at_most(
                        format!("{path}.tolerance"),
                        *tolerance,
                        span,
                        &unit,
                        "a tolerance (the sensor's range)",
                    );
                }
            }
            Condition::All(list) if depth <= 8 => {
                for (i, sub) in list.iter().enumerate() {
                    self.condition(&format!("{path}[{i}]"), sub, depth + 1);
                }
            }
            _ => {}
        }
    }
}

/// Whether `c` may appear in a text shown to the operator: no control characters, and none of
/// the invisible characters that reorder or hide text (bidirectional overrides, zero widths).
pub fn printable(c: char) -> bool {
    !c.is_control()
        && !matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// Text safe to echo in a message: non-printable characters escaped, at most `max` characters.
pub fn escaped(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push_str("...");
            break;
        }
        if printable(c) {
            out.push(c);
        } else {
            out.push_str(&c.escape_unicode().to_string());
        }
    }
    out
}

/// A string value as echoed in a message: quoted, escaped, shortened.
fn shown(text: &str) -> String {
    format!("\"{}\"", escaped(text, 40))
}

fn char_name(c: char) -> String {
    if printable(c) {
        format!("`{c}`")
    } else {
        format!("{}", c.escape_unicode())
    }
}

/// `v` rounded down to 4 significant digits: a bound as a person would write it.
fn round_down(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return v;
    }
    let exp = 3 - v.log10().floor() as i32;
    if exp >= 0 {
        let scale = 10f64.powi(exp);
        (v * scale).floor() / scale
    } else {
        let unit = 10f64.powi(-exp);
        (v / unit).floor() * unit
    }
}

/// A number as echoed in a message: plain when of ordinary size, in exponent form otherwise
/// (1e300 rather than its 301 digits).
pub fn short_num(v: f64) -> String {
    let a = v.abs();
    if v.is_finite() && a != 0.0 && !(1e-6..1e9).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short() {
        assert_eq!(short_num(1e300), "1e300");
        assert_eq!(short_num(-2.5e-9), "-2.5e-9");
        assert_eq!(short_num(30.0), "30");
        assert_eq!(short_num(0.25), "0.25");
        assert_eq!(short_num(0.0), "0");
        assert_eq!(round_down(41_176.47), 41_170.0);
        assert_eq!(round_down(0.123_456), 0.1234);
    }

    #[test]
    fn echoed_text_is_escaped_and_shortened() {
        assert_eq!(escaped("a\u{1b}[2Jb", 40), "a\\u{1b}[2Jb");
        assert_eq!(escaped("x\u{202e}y", 40), "x\\u{202e}y");
        assert_eq!(escaped(&"z".repeat(50), 4), "zzzz...");
        assert_eq!(escaped("37 °C ≤ 42", 40), "37 °C ≤ 42");
    }
}
