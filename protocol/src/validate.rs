//! Semantic checks of a protocol file, done in the same pass that resolves it into a [`Plan`].
//!
//! Every problem is collected (none stops the pass), each with the path of the field it concerns,
//! what was expected and what was found; the loader turns paths into line and column.

use super::schema::*;
use crate::plan::*;
use perfuse_hal::{MAX_ACTUATORS, MAX_SENSORS};
use perfuse_plugin_sdk::{MAX_PARAMS, MAX_SIGNALS};
use std::collections::BTreeSet;

/// One semantic problem, located by field path.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub path: String,
    pub expected: String,
    pub found: String,
}

struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn report(
        &mut self,
        path: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) {
        self.problems.push(Problem {
            path: path.into(),
            expected: expected.into(),
            found: found.into(),
        });
    }

    /// Checks `value` lies in `[lo, hi]`.
    fn within(&mut self, path: String, value: f64, lo: f64, hi: f64, what: &str) {
        if !(value >= lo && value <= hi) {
            self.report(path, format!("{what} within {lo} to {hi}"), fmt_num(value));
        }
    }

    fn positive(&mut self, path: String, value: f64) {
        if value.is_nan() || value <= 0.0 {
            self.report(path, "a time greater than 0 s", fmt_num(value));
        }
    }

    /// Checks a protocol range narrows an absolute one.
    fn narrows(&mut self, path: &str, range: Range, abs: (f64, f64), unit: &str) {
        if range.min >= range.max {
            self.report(
                format!("{path}.min"),
                format!("min below max ({})", fmt_num(range.max)),
                fmt_num(range.min),
            );
        }
        if range.min < abs.0 {
            self.report(
                format!("{path}.min"),
                format!("at least the absolute minimum {} {unit}", fmt_num(abs.0)),
                fmt_num(range.min),
            );
        }
        if range.max > abs.1 {
            self.report(
                format!("{path}.max"),
                format!("at most the absolute maximum {} {unit}", fmt_num(abs.1)),
                fmt_num(range.max),
            );
        }
    }

    fn unique<'a>(&mut self, what: &str, items: impl Iterator<Item = (String, &'a str)>) {
        let mut seen = BTreeSet::new();
        for (path, id) in items {
            if id.is_empty() {
                self.report(path, format!("a non-empty {what} id"), "an empty string");
            } else if !seen.insert(id) {
                self.report(
                    path,
                    format!("a {what} id used once"),
                    format!("`{id}` again"),
                );
            }
        }
    }
}

fn fmt_num(v: f64) -> String {
    super::bounds::short_num(v)
}

fn ticks(seconds: f64, period_s: f64) -> u64 {
    if seconds.is_finite() && seconds > 0.0 {
        (seconds / period_s - 1e-9).ceil() as u64
    } else {
        0
    }
}

/// Validates `file` and resolves it into a [`Plan`], or returns every problem found.
pub fn compile(file: &ProtocolFile) -> Result<Plan, Vec<Problem>> {
    let mut c = Checker {
        problems: Vec::new(),
    };

    let tick_hz = file.tick_hz.unwrap_or(100.0);
    c.within("tick_hz".into(), tick_hz, 1.0, 1000.0, "a tick rate in Hz");
    let period_s = if (1.0..=1000.0).contains(&tick_hz) {
        1.0 / tick_hz
    } else {
        0.01
    };

    let plugin = check_plugin(&mut c, file);
    let (signals, sensors) = check_sensors(&mut c, file, period_s);
    let mut signals = signals;
    let estimates = check_estimates(&mut c, file, &mut signals, period_s);
    c.unique(
        "signal",
        file.circuit
            .sensors
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("circuit.sensors[{i}].id"), s.id.as_str()))
            .chain(
                file.estimates
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (format!("estimates[{i}].id"), e.id.as_str())),
            ),
    );
    // `derived.NAME` in a condition names the plugin's value, never a sensor or an estimate.
    let own_ids = file
        .circuit
        .sensors
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("circuit.sensors[{i}].id"), &s.id));
    let own_ids = own_ids.chain(
        file.estimates
            .iter()
            .enumerate()
            .map(|(i, e)| (format!("estimates[{i}].id"), &e.id)),
    );
    for (path, id) in own_ids {
        if id.starts_with(crate::plan::DERIVED_PREFIX) {
            c.report(
                path,
                format!(
                    "a signal id that does not start with `{}` (kept for the plugin's derived values)",
                    crate::plan::DERIVED_PREFIX
                ),
                format!("`{id}`"),
            );
        }
    }
    if signals.len() > MAX_SIGNALS {
        c.report(
            "estimates",
            format!("at most {MAX_SIGNALS} sensors and estimates together"),
            format!("{}", signals.len()),
        );
    }
    let actuators = check_actuators(&mut c, file, &signals, period_s);
    let phases = check_phases(&mut c, file, &signals, &sensors, &actuators, period_s);
    let rules = check_rules(&mut c, file, &signals, &sensors, &actuators, period_s);
    let coverage = check_coverage(&mut c, file, &sensors, &estimates, &rules);
    check_band_edges(&mut c, file, &signals, &phases, &rules);

    let scenarios: Vec<String> = file
        .simulator
        .scenarios
        .iter()
        .flatten()
        .map(|(name, _)| name.clone())
        .collect();
    if let Some(default) = &file.simulator.default_scenario
        && !scenarios.contains(default)
    {
        c.report(
            "simulator.default_scenario",
            format!("one of the scenarios declared: {}", scenarios.join(", ")),
            format!("\"{default}\""),
        );
    }

    if let Some(lib) = &file.simulator.library {
        check_library(
            &mut c,
            "simulator.library",
            "a model library id",
            &lib.id,
            lib.sha256.as_deref(),
        );
    }

    c.problems
        .extend(super::bounds::check(file, &signals, period_s));

    if c.problems.is_empty() {
        Ok(Plan {
            name: file.name.clone(),
            scenarios,
            default_scenario: file.simulator.default_scenario.clone(),
            period_s,
            plugin,
            signals,
            sensors,
            estimates,
            actuators,
            phases,
            rules,
            source_sha256: String::new(),
            coverage,
            links: Vec::new(),
            computed: Vec::new(),
        })
    } else {
        Err(c.problems)
    }
}

/// A library the file names (the plugin, an outside simulator model): its id, which becomes part
/// of a file name, and its pin, if any.
fn check_library(c: &mut Checker, at: &str, what: &str, id: &str, sha256: Option<&str>) {
    let id_ok = !id.is_empty()
        && id
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
    if !id_ok {
        c.report(
            format!("{at}.id"),
            format!("{what} of letters, digits, `-` and `_`"),
            format!("`{id}`"),
        );
    }
    if let Some(pin) = sha256
        && (pin.len() != 64 || !pin.chars().all(|ch| ch.is_ascii_hexdigit()))
    {
        c.report(
            format!("{at}.sha256"),
            "64 hexadecimal digits",
            format!("\"{pin}\""),
        );
    }
}

fn check_plugin(c: &mut Checker, file: &ProtocolFile) -> PluginPlan {
    let p = &file.plugin;
    check_library(c, "plugin", "a plugin id", &p.id, p.sha256.as_deref());
    let version_req = match semver::VersionReq::parse(&p.version) {
        Ok(req) => req,
        Err(e) => {
            c.report(
                "plugin.version",
                "a semver requirement such as \"^0.1\"",
                format!("\"{}\" ({e})", p.version),
            );
            semver::VersionReq::STAR
        }
    };
    let params: Vec<(String, f64)> = file
        .plugin_params
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    if params.len() > MAX_PARAMS {
        c.report(
            "plugin_params",
            format!("at most {MAX_PARAMS} parameters"),
            format!("{}", params.len()),
        );
    }
    PluginPlan {
        id: p.id.clone(),
        version_req,
        sha256: p.sha256.as_ref().map(|s| s.to_ascii_lowercase()),
        params,
        overridden: Vec::new(),
        entered: Vec::new(),
    }
}

fn check_sensors(
    c: &mut Checker,
    file: &ProtocolFile,
    period_s: f64,
) -> (Vec<SignalPlan>, Vec<SensorPlan>) {
    let list = &file.circuit.sensors;
    if list.is_empty() {
        c.report("circuit.sensors", "at least one sensor", "an empty list");
    }
    if list.len() > MAX_SENSORS {
        c.report(
            "circuit.sensors",
            format!("at most {MAX_SENSORS} sensors"),
            format!("{}", list.len()),
        );
    }
    let mut signals = Vec::new();
    let mut sensors = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let path = format!("circuit.sensors[{i}]");
        c.narrows(
            &format!("{path}.range"),
            s.range,
            s.kind.absolute_range(),
            s.kind.unit(),
        );
        c.positive(format!("{path}.stale_after_s"), s.stale_after_s);
        if let Some(stuck) = s.stuck_after_s {
            c.positive(format!("{path}.stuck_after_s"), stuck);
        }
        sensors.push(SensorPlan {
            id: s.id.clone(),
            signal: signals.len(),
            range: s.range,
            stale_after_ticks: ticks(s.stale_after_s, period_s).max(1),
            stuck_after_ticks: s
                .stuck_after_s
                .map_or(u64::MAX, |t| ticks(t, period_s).max(1)),
            operator: s.site == OPERATOR_SITE,
            backup: s.backup.as_ref().and_then(|b| {
                let found = list.iter().position(|o| &o.id == b);
                match found {
                    Some(j) if j != i && list[j].kind == s.kind => Some(j),
                    _ => {
                        c.report(
                            format!("{path}.backup"),
                            format!("another {:?} sensor of the circuit", s.kind),
                            format!("`{b}`"),
                        );
                        None
                    }
                }
            }),
        });
        signals.push(SignalPlan {
            id: s.id.clone(),
            unit: s.kind.unit().to_string(),
            range: s.range,
        });
    }
    (signals, sensors)
}

fn check_estimates(
    c: &mut Checker,
    file: &ProtocolFile,
    signals: &mut Vec<SignalPlan>,
    period_s: f64,
) -> Vec<EstimatePlan> {
    let mut out = Vec::new();
    for (i, e) in file.estimates.iter().enumerate() {
        let path = format!("estimates[{i}]");
        // An estimate may only read signals declared before it, so the Estimate stage runs in order.
        let from = signals.iter().position(|s| s.id == e.from);
        if from.is_none() {
            c.report(
                format!("{path}.from"),
                "a sensor or an earlier estimate",
                format!("`{}`", e.from),
            );
        }
        if let Some(window) = e.kind.window_s() {
            // A slope over one sample has no second point to compare with.
            let shortest = if matches!(e.kind, EstimateKind::Slope { .. }) {
                2.0 * period_s
            } else {
                period_s
            };
            c.within(
                format!("{path}.kind.window_s"),
                window,
                shortest,
                3600.0,
                "a window in seconds",
            );
        }
        let source = from.map(|f| (signals[f].unit.clone(), signals[f].range));
        let (unit, range) = match (e.kind, source) {
            (EstimateKind::Linear { quantity, gain, .. }, _) => {
                if gain == 0.0 {
                    c.report(format!("{path}.kind.gain"), "a gain other than 0", "0");
                }
                let (min, max) = quantity.absolute_range();
                (quantity.unit().to_string(), Range { min, max })
            }
            (EstimateKind::Slope { window_s }, Some((unit, r))) => {
                // The steepest change possible: the whole range crossed within the window.
                let most = (r.max - r.min) * 60.0 / window_s.max(period_s);
                (
                    format!("{unit}/min"),
                    Range {
                        min: -most,
                        max: most,
                    },
                )
            }
            (_, Some(source)) => source,
            (_, None) => (String::new(), Range { min: 0.0, max: 0.0 }),
        };
        let window_ticks = e.kind.window_s().map_or(1, |w| ticks(w, period_s) as usize);
        out.push(EstimatePlan {
            signal: signals.len(),
            from: from.unwrap_or(0),
            kind: e.kind,
            window_ticks: window_ticks.clamp(1, 360_000),
        });
        signals.push(SignalPlan {
            id: e.id.clone(),
            unit,
            range,
        });
    }
    out
}

fn check_actuators(
    c: &mut Checker,
    file: &ProtocolFile,
    signals: &[SignalPlan],
    period_s: f64,
) -> Vec<ActuatorPlan> {
    let list = &file.circuit.actuators;
    if list.len() > MAX_ACTUATORS {
        c.report(
            "circuit.actuators",
            format!("at most {MAX_ACTUATORS} actuators"),
            format!("{}", list.len()),
        );
    }
    c.unique(
        "actuator",
        list.iter()
            .enumerate()
            .map(|(i, a)| (format!("circuit.actuators[{i}].id"), a.id.as_str())),
    );
    let mut out = Vec::new();
    for (i, a) in list.iter().enumerate() {
        let path = format!("circuit.actuators[{i}]");
        c.narrows(
            &format!("{path}.range"),
            a.range,
            a.kind.absolute_range(),
            a.kind.unit(),
        );
        if !a.range.contains(a.initial) {
            c.report(
                format!("{path}.initial"),
                format!(
                    "a command within the actuator's range {} to {}",
                    a.range.min, a.range.max
                ),
                fmt_num(a.initial),
            );
        }
        c.positive(format!("{path}.command_ttl_s"), a.command_ttl_s);
        if let Some(rate) = a.max_rate_per_s
            && (rate.is_nan() || rate <= 0.0)
        {
            c.report(
                format!("{path}.max_rate_per_s"),
                "a rate greater than 0",
                fmt_num(rate),
            );
        }
        if !a.safe_state.fits(a.kind) {
            let allowed = if a.kind == ActuatorKind::Clamp {
                "`Closed`, `Open` or `HoldLast` for a clamp"
            } else {
                "`Off`, `HoldLast` or `Fixed(value)` for anything but a clamp"
            };
            c.report(
                format!("{path}.safe_state"),
                allowed,
                format!("{:?}", a.safe_state),
            );
        }
        if let SafeState::Fixed(v) = a.safe_state
            && !a.range.contains(v)
        {
            c.report(
                format!("{path}.safe_state"),
                format!(
                    "a safe command within the actuator's range {} to {}",
                    a.range.min, a.range.max
                ),
                fmt_num(v),
            );
        }
        if let Some(cap) = a.dose_cap {
            if a.kind != ActuatorKind::InfusionPump {
                c.report(
                    format!("{path}.dose_cap"),
                    "a dose cap only on an InfusionPump",
                    format!("a dose cap on a {:?}", a.kind),
                );
            }
            if cap.max_ml.is_nan() || cap.max_ml <= 0.0 {
                c.report(
                    format!("{path}.dose_cap.max_ml"),
                    "a volume greater than 0 mL",
                    fmt_num(cap.max_ml),
                );
            }
            c.within(
                format!("{path}.dose_cap.window_s"),
                cap.window_s,
                1.0,
                86_400.0,
                "a window in seconds",
            );
        }
        let control = a.control.as_ref().map(|ctl| {
            let signal = signals.iter().position(|s| s.id == ctl.signal);
            if signal.is_none() {
                c.report(
                    format!("{path}.control.signal"),
                    "a declared sensor or estimate",
                    format!("`{}`", ctl.signal),
                );
            }
            if a.kind == ActuatorKind::Clamp {
                c.report(
                    format!("{path}.control"),
                    "no control loop on a clamp",
                    "a control loop",
                );
            }
            if let Some(p) = ctl.pulsatile {
                c.within(
                    format!("{path}.control.pulsatile.rate_bpm"),
                    p.rate_bpm,
                    10.0,
                    200.0,
                    "a rate in beats per minute",
                );
                c.within(
                    format!("{path}.control.pulsatile.amplitude"),
                    p.amplitude,
                    0.0,
                    1.0,
                    "a fraction",
                );
            }
            let feedforward = match &ctl.feedforward {
                None => FeedforwardPlan::Constant(0.0),
                Some(Feedforward::Constant(v)) => FeedforwardPlan::Constant(*v),
                Some(Feedforward::Proportional { signal: id, gain }) => {
                    let found = signals.iter().position(|s| &s.id == id);
                    if found.is_none() {
                        c.report(
                            format!("{path}.control.feedforward.signal"),
                            "a declared sensor or estimate",
                            format!("`{id}`"),
                        );
                    }
                    FeedforwardPlan::Proportional {
                        signal: found.unwrap_or(0),
                        gain: *gain,
                    }
                }
            };
            LoopPlan {
                signal: signal.unwrap_or(0),
                kp: ctl.kp,
                ki: ctl.ki,
                feedforward,
                pulsatile: ctl.pulsatile,
            }
        });
        out.push(ActuatorPlan {
            id: a.id.clone(),
            kind: a.kind,
            range: a.range,
            max_step: a.max_rate_per_s.map_or(f64::INFINITY, |r| r * period_s),
            safe_state: a.safe_state,
            ttl_s: a.command_ttl_s,
            control,
            initial: a.initial,
            dose_cap: a.dose_cap,
        });
    }
    out
}

fn check_phases(
    c: &mut Checker,
    file: &ProtocolFile,
    signals: &[SignalPlan],
    sensors: &[SensorPlan],
    actuators: &[ActuatorPlan],
    period_s: f64,
) -> Vec<PhasePlan> {
    if file.phases.is_empty() {
        c.report("phases", "at least one phase", "an empty list");
    }
    c.unique(
        "phase",
        file.phases
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("phases[{i}].id"), p.id.as_str())),
    );
    let mut out = Vec::new();
    for (i, p) in file.phases.iter().enumerate() {
        let path = format!("phases[{i}]");
        c.positive(format!("{path}.duration_s"), p.duration_s);
        let mut targets = vec![None; signals.len()];
        for (sig_id, t) in &p.targets {
            let tpath = format!("{path}.targets[\"{sig_id}\"]");
            let Some(sig) = signals.iter().position(|s| &s.id == sig_id) else {
                c.report(
                    tpath,
                    "a declared sensor or estimate",
                    format!("`{sig_id}`"),
                );
                continue;
            };
            let range = signals[sig].range;
            let unit = &signals[sig].unit;
            if let Some(sp) = t.setpoint {
                let (lo, hi) = sp.extremes();
                if !range.contains(lo) || !range.contains(hi) {
                    c.report(
                        format!("{tpath}.setpoint"),
                        format!(
                            "a setpoint within the signal's range {} to {} {unit}",
                            range.min, range.max
                        ),
                        format!("{} to {}", fmt_num(lo), fmt_num(hi)),
                    );
                }
                if let Setpoint::Ramp { over_s, .. } = sp
                    && (over_s.is_nan() || over_s <= 0.0)
                {
                    c.report(
                        format!("{tpath}.setpoint"),
                        "a ramp time greater than 0 s",
                        fmt_num(over_s),
                    );
                }
                if !actuators
                    .iter()
                    .any(|a| a.control.as_ref().is_some_and(|l| l.signal == sig))
                {
                    c.report(
                        format!("{tpath}.setpoint"),
                        "a setpoint only for a signal that an actuator's control loop tracks",
                        format!("a setpoint for `{sig_id}`, which no loop controls"),
                    );
                }
            }
            if let Some(band) = t.band {
                if band.min >= band.max {
                    c.report(
                        format!("{tpath}.band.min"),
                        format!("min below max ({})", band.max),
                        fmt_num(band.min),
                    );
                }
                if band.min < range.min || band.max > range.max {
                    c.report(
                        format!("{tpath}.band"),
                        format!(
                            "a band within the signal's range {} to {} {unit}",
                            range.min, range.max
                        ),
                        format!("{} to {}", fmt_num(band.min), fmt_num(band.max)),
                    );
                }
            }
            if let Some(settle) = t.settle_s
                && (settle.is_nan() || settle < 0.0)
            {
                c.report(
                    format!("{tpath}.settle_s"),
                    "a time of 0 s or more",
                    fmt_num(settle),
                );
            }
            targets[sig] = Some(TargetPlan {
                setpoint: t.setpoint,
                band: t.band,
                settle_ticks: ticks(t.settle_s.unwrap_or(0.0), period_s),
            });
        }
        for (ai, a) in actuators.iter().enumerate() {
            if let Some(l) = &a.control
                && l.signal < targets.len()
                && targets[l.signal].and_then(|t| t.setpoint).is_none()
            {
                c.report(
                    format!("{path}.targets"),
                    format!(
                        "a setpoint for `{}`, which actuator `{}` controls",
                        signals[l.signal].id, actuators[ai].id
                    ),
                    "none",
                );
            }
        }
        let exit = p.exit_when.as_ref().map(|e| {
            let epath = format!("{path}.exit_when");
            if e.for_s.is_nan() || e.for_s < 0.0 || e.for_s > p.duration_s {
                c.report(
                    format!("{epath}.for_s"),
                    format!(
                        "a time from 0 s to the phase's duration {} s",
                        fmt_num(p.duration_s)
                    ),
                    fmt_num(e.for_s),
                );
            }
            ExitPlan {
                condition: condition(
                    c,
                    &format!("{epath}.condition"),
                    &e.condition,
                    signals,
                    sensors,
                    0,
                ),
                for_ticks: ticks(e.for_s, period_s),
            }
        });
        out.push(PhasePlan {
            id: p.id.clone(),
            duration_ticks: ticks(p.duration_s, period_s).max(1),
            targeted: (0..targets.len())
                .filter(|&i| targets[i].is_some())
                .collect(),
            targets,
            exit,
        });
    }
    out
}

fn check_rules(
    c: &mut Checker,
    file: &ProtocolFile,
    signals: &[SignalPlan],
    sensors: &[SensorPlan],
    actuators: &[ActuatorPlan],
    period_s: f64,
) -> Vec<RulePlan> {
    c.unique(
        "rule",
        file.rules
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("rules[{i}].id"), r.id.as_str())),
    );
    let mut out = Vec::new();
    for (i, r) in file.rules.iter().enumerate() {
        let path = format!("rules[{i}]");
        if r.text.trim().is_empty() {
            c.report(
                format!("{path}.text"),
                "a text the operator can read",
                "an empty string",
            );
        }
        if let Some(after) = r.escalate_after_s
            && (after <= 0.0 || r.priority == Priority::High)
        {
            let expected = if r.priority == Priority::High {
                "no escalation for a High alarm (it is already the highest)"
            } else {
                "an escalation time greater than 0 s"
            };
            c.report(format!("{path}.escalate_after_s"), expected, fmt_num(after));
        }
        if r.persist_s.is_nan() || r.persist_s < 0.0 {
            c.report(
                format!("{path}.persist_s"),
                "a time of 0 s or more",
                fmt_num(r.persist_s),
            );
        }
        let condition = condition(
            c,
            &format!("{path}.condition"),
            &r.condition,
            signals,
            sensors,
            0,
        );
        let action = action(c, &format!("{path}.action"), &r.action, actuators);
        let clear_s = r.clear_s.unwrap_or(DEFAULT_CLEAR_S);
        if clear_s.is_nan() || clear_s < 0.0 {
            c.report(
                format!("{path}.clear_s"),
                "a time of 0 s or more",
                fmt_num(clear_s),
            );
        }
        let deadband = r.deadband.unwrap_or(0.0);
        if deadband.is_nan() || deadband < 0.0 {
            c.report(
                format!("{path}.deadband"),
                "a deadband of 0 or more",
                fmt_num(deadband),
            );
        }
        let on_equipment = |s: usize| {
            file.circuit
                .sensors
                .get(s)
                .is_some_and(|s| matches!(s.kind, SensorKind::Bubble | SensorKind::Supply))
        };
        let technical = r
            .technical
            .unwrap_or_else(|| is_equipment(&condition, &on_equipment));
        out.push(RulePlan {
            id: r.id.clone(),
            text: r.text.clone(),
            priority: r.priority,
            condition,
            persist_ticks: ticks(r.persist_s, period_s),
            clear_ticks: ticks(clear_s, period_s),
            deadband: if deadband >= 0.0 { deadband } else { 0.0 },
            technical,
            latch: r.latch,
            action,
            escalate_ticks: r.escalate_after_s.map(|s| ticks(s, period_s)),
            phases: phase_mask(c, &format!("{path}.phases"), r.phases.as_deref(), file),
        });
    }
    out
}

/// Whether a condition is about the equipment: sensor health, or the reading of a bubble
/// detector or the supply monitor.
fn is_equipment(c: &ConditionPlan, on_equipment: &dyn Fn(usize) -> bool) -> bool {
    match c {
        ConditionPlan::Stale { .. }
        | ConditionPlan::Stuck { .. }
        | ConditionPlan::Implausible { .. }
        | ConditionPlan::Disagree { .. } => true,
        ConditionPlan::Above { value, .. }
        | ConditionPlan::Below { value, .. }
        | ConditionPlan::Outside { value, .. } => match value {
            ValueRef::Signal(s) => on_equipment(*s),
            ValueRef::Derived { .. } => false,
        },
        ConditionPlan::All(list) => list.iter().all(|c| is_equipment(c, on_equipment)),
    }
}

/// The sensors a value condition reads, through estimates back to their sensors.
fn value_sensors(
    c: &ConditionPlan,
    n_sensors: usize,
    estimates: &[EstimatePlan],
    out: &mut Vec<usize>,
) {
    let mut source = |mut s: usize| {
        while s >= n_sensors {
            match estimates.iter().find(|e| e.signal == s) {
                Some(e) if e.from < s => s = e.from,
                _ => return,
            }
        }
        if !out.contains(&s) {
            out.push(s);
        }
    };
    match c {
        ConditionPlan::Above { value, .. }
        | ConditionPlan::Below { value, .. }
        | ConditionPlan::Outside { value, .. } => {
            // A derived value reads no sensor of the file: the plugin-fault alarm covers it.
            if let ValueRef::Signal(s) = value {
                source(*s)
            }
        }
        ConditionPlan::Disagree { a, b, .. } => {
            source(*a);
            source(*b);
        }
        ConditionPlan::Stale { .. }
        | ConditionPlan::Stuck { .. }
        | ConditionPlan::Implausible { .. } => {}
        ConditionPlan::All(list) => {
            for c in list {
                value_sensors(c, n_sensors, estimates, out);
            }
        }
    }
}

/// Sensor-health coverage: every sensor a rule reads (directly or through estimates) is watched,
/// by a health rule of the protocol (`Stale` or `Implausible` on it, judged in every phase its
/// dependent rules are) or else by the core's own alarm, planned here. Without the protocol's
/// `core_sensor_alarms: Some(true)`, each sensor the core must cover is reported. A sensor with
/// a backup is always covered too: its health rules see its own reading fail while the backup
/// stands in, but once the backup fails as well no dependent rule can be judged, and the core's
/// alarm (raised only then) takes their priority and most protective action.
fn check_coverage(
    c: &mut Checker,
    file: &ProtocolFile,
    sensors: &[SensorPlan],
    estimates: &[EstimatePlan],
    rules: &[RulePlan],
) -> Vec<CoveragePlan> {
    let accepted = file.core_sensor_alarms == Some(true);
    let mut out = Vec::new();
    for sensor in sensors {
        let mut plan: Option<CoveragePlan> = None;
        let mut read = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            read.clear();
            value_sensors(&r.condition, sensors.len(), estimates, &mut read);
            if !read.contains(&sensor.signal) {
                continue;
            }
            let p = plan.get_or_insert_with(|| CoveragePlan {
                signal: sensor.signal,
                priority: r.priority,
                action: r.action,
                phases: 0,
                persist_ticks: sensor.stale_after_ticks,
                operator: sensor.operator,
                rules: Vec::new(),
            });
            p.priority = p.priority.max(r.priority);
            if r.action.protection() > p.action.protection() {
                p.action = r.action;
            }
            p.phases |= r.phases;
            p.rules.push(i);
        }
        let Some(mut plan) = plan else { continue };
        let watched: u64 = rules
            .iter()
            .filter(|r| {
                matches!(r.condition,
                    ConditionPlan::Stale { signal } | ConditionPlan::Implausible { signal }
                        if signal == sensor.signal)
            })
            .fold(0, |m, r| m | r.phases);
        let n = file.phases.len().min(64);
        let all = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
        if sensor.backup.is_none() && plan.phases & !watched & all == 0 {
            continue;
        }
        if !accepted {
            c.report(
                format!("rules[{}].condition", plan.rules[0]),
                format!(
                    "a health rule (`Stale` or `Implausible`) for sensor `{}` in every phase this \
                     rule is judged, or `core_sensor_alarms: Some(true)` to accept the core's alarm",
                    sensor.id
                ),
                "none",
            );
        }
        // An operator's value is overdue only for the orders it protects; it stops nothing.
        if plan.operator {
            plan.action = ActionPlan::AlarmOnly;
        }
        out.push(plan);
    }
    out
}

/// A band edge at or beyond a limit that raises at once (zero persistence) on the same signal
/// turns every ordinary excursion, or an accepted setpoint at the edge, into an alarm.
fn check_band_edges(
    c: &mut Checker,
    file: &ProtocolFile,
    signals: &[SignalPlan],
    phases: &[PhasePlan],
    rules: &[RulePlan],
) {
    for (pi, phase) in phases.iter().enumerate() {
        for (sig, target) in phase.targets.iter().enumerate() {
            let Some(band) = target.and_then(|t| t.band) else {
                continue;
            };
            for (ri, r) in rules.iter().enumerate() {
                let judged = pi < 64 && r.phases & (1 << pi) != 0;
                if r.persist_ticks != 0 || !judged {
                    continue;
                }
                let on_sig = |v: &ValueRef| *v == ValueRef::Signal(sig);
                let clash = match &r.condition {
                    ConditionPlan::Above { value, limit } => on_sig(value) && band.max >= *limit,
                    ConditionPlan::Below { value, limit } => on_sig(value) && band.min <= *limit,
                    ConditionPlan::Outside { value, band: b } => {
                        on_sig(value) && (band.min <= b.min || band.max >= b.max)
                    }
                    _ => false,
                };
                if clash {
                    c.report(
                        format!("phases[{pi}].targets[\"{}\"].band", signals[sig].id),
                        format!(
                            "a band inside the limit of rule `{}`, which has no persistence",
                            file.rules[ri].id
                        ),
                        format!("{} to {}", band.min, band.max),
                    );
                }
            }
        }
    }
}

/// The phases a rule is judged in, as a bit mask (all phases when none are named).
fn phase_mask(c: &mut Checker, path: &str, names: Option<&[String]>, file: &ProtocolFile) -> u64 {
    let Some(names) = names else {
        return u64::MAX;
    };
    if names.is_empty() {
        c.report(path, "at least one phase", "an empty list");
    }
    let mut mask = 0;
    for (i, name) in names.iter().enumerate() {
        match file.phases.iter().position(|p| &p.id == name) {
            Some(p) if p < 64 => mask |= 1 << p,
            Some(_) => c.report(
                format!("{path}[{i}]"),
                "one of the first 64 phases",
                format!("`{name}`"),
            ),
            None => c.report(
                format!("{path}[{i}]"),
                "a declared phase",
                format!("`{name}`"),
            ),
        }
    }
    mask
}

fn condition(
    c: &mut Checker,
    path: &str,
    cond: &Condition,
    signals: &[SignalPlan],
    sensors: &[SensorPlan],
    depth: usize,
) -> ConditionPlan {
    // A name with the `derived.` prefix is the plugin's, bound once the plugin is loaded.
    let value = |c: &mut Checker, id: &str| -> ValueRef {
        if let Some(name) = id.strip_prefix(DERIVED_PREFIX) {
            return ValueRef::Derived {
                name: name.to_string(),
                slot: UNBOUND,
            };
        }
        ValueRef::Signal(signals.iter().position(|s| s.id == id).unwrap_or_else(|| {
            c.report(
                format!("{path}.signal"),
                format!("a declared sensor or estimate, or `{DERIVED_PREFIX}NAME` for a derived value of the plugin"),
                format!("`{id}`"),
            );
            0
        }))
    };
    // A derived value has no range in the file: the plugin's number is only compared.
    let limit_in_range = |c: &mut Checker, field: &str, v: &ValueRef, limit: f64| {
        if let ValueRef::Signal(sig) = v
            && let Some(s) = signals.get(*sig)
            && !s.range.contains(limit)
        {
            c.report(
                format!("{path}.{field}"),
                format!(
                    "a limit within `{}`'s range {} to {} {}",
                    s.id, s.range.min, s.range.max, s.unit
                ),
                fmt_num(limit),
            );
        }
    };
    match cond {
        Condition::Above { signal: id, limit } => {
            let v = value(c, id);
            limit_in_range(c, "limit", &v, *limit);
            ConditionPlan::Above {
                value: v,
                limit: *limit,
            }
        }
        Condition::Below { signal: id, limit } => {
            let v = value(c, id);
            limit_in_range(c, "limit", &v, *limit);
            ConditionPlan::Below {
                value: v,
                limit: *limit,
            }
        }
        Condition::Outside { signal: id, band } => {
            let v = value(c, id);
            limit_in_range(c, "band.min", &v, band.min);
            limit_in_range(c, "band.max", &v, band.max);
            ConditionPlan::Outside {
                value: v,
                band: *band,
            }
        }
        Condition::Stale { sensor }
        | Condition::Stuck { sensor }
        | Condition::Implausible { sensor } => {
            let found = sensors.iter().find(|s| &s.id == sensor);
            if found.is_none() {
                c.report(
                    format!("{path}.sensor"),
                    "a declared sensor (not an estimate)",
                    format!("`{sensor}`"),
                );
            }
            let s = found.map_or(0, |s| s.signal);
            match cond {
                Condition::Stale { .. } => ConditionPlan::Stale { signal: s },
                Condition::Stuck { .. } => {
                    if found.is_some_and(|f| f.stuck_after_ticks == u64::MAX) {
                        c.report(
                            format!("{path}.sensor"),
                            format!(
                                "a sensor with `stuck_after_s` set, for a Stuck rule on `{sensor}`"
                            ),
                            "no `stuck_after_s`",
                        );
                    }
                    ConditionPlan::Stuck { signal: s }
                }
                _ => ConditionPlan::Implausible { signal: s },
            }
        }
        Condition::Disagree { a, b, tolerance } => {
            let mut sensor = |field: &str, id: &str| {
                sensors
                    .iter()
                    .find(|s| s.id == id)
                    .map(|s| s.signal)
                    .unwrap_or_else(|| {
                        c.report(
                            format!("{path}.{field}"),
                            "a declared sensor (not an estimate)",
                            format!("`{id}`"),
                        );
                        0
                    })
            };
            let (a, b) = (sensor("a", a), sensor("b", b));
            if tolerance.is_nan() || *tolerance <= 0.0 {
                c.report(
                    format!("{path}.tolerance"),
                    "a tolerance greater than 0",
                    fmt_num(*tolerance),
                );
            }
            ConditionPlan::Disagree {
                a,
                b,
                tolerance: *tolerance,
            }
        }
        Condition::All(list) => {
            if list.is_empty() {
                c.report(path, "at least one condition", "an empty list");
            }
            if depth > 8 {
                c.report(path, "conditions nested at most 8 deep", "deeper nesting");
                return ConditionPlan::All(Vec::new());
            }
            ConditionPlan::All(
                list.iter()
                    .enumerate()
                    .map(|(i, sub)| {
                        let sub_path = format!("{path}[{i}]");
                        condition(c, &sub_path, sub, signals, sensors, depth + 1)
                    })
                    .collect(),
            )
        }
    }
}

fn action(c: &mut Checker, path: &str, act: &Action, actuators: &[ActuatorPlan]) -> ActionPlan {
    let find = |c: &mut Checker, id: &str, what: &str, is: fn(ActuatorKind) -> bool| -> usize {
        match actuators.iter().position(|a| a.id == id) {
            Some(i) if is(actuators[i].kind) => i,
            Some(i) => {
                c.report(
                    path,
                    format!("a {what}"),
                    format!("`{id}`, a {:?}", actuators[i].kind),
                );
                i
            }
            None => {
                c.report(path, format!("a declared {what}"), format!("`{id}`"));
                0
            }
        }
    };
    match act {
        Action::AlarmOnly => ActionPlan::AlarmOnly,
        Action::Limit { actuator, max } => {
            let i = actuators.iter().position(|a| &a.id == actuator);
            match i {
                None => c.report(path, "a declared actuator", format!("`{actuator}`")),
                Some(i) if !actuators[i].range.contains(*max) => c.report(
                    path,
                    format!(
                        "a limit within `{actuator}`'s range {} to {} {}",
                        actuators[i].range.min,
                        actuators[i].range.max,
                        actuators[i].kind.unit()
                    ),
                    fmt_num(*max),
                ),
                Some(_) => {}
            }
            ActionPlan::Limit {
                actuator: i.unwrap_or(0),
                max: *max,
            }
        }
        Action::Reduce { actuator, fraction } => {
            let i = actuators.iter().position(|a| &a.id == actuator);
            if i.is_none() {
                c.report(path, "a declared actuator", format!("`{actuator}`"));
            }
            if !(*fraction > 0.0 && *fraction <= 1.0) {
                c.report(path, "a fraction above 0 and at most 1", fmt_num(*fraction));
            }
            ActionPlan::Reduce {
                actuator: i.unwrap_or(0),
                fraction: *fraction,
            }
        }
        Action::StopPump { pump, clamp } => ActionPlan::StopPump {
            pump: find(c, pump, "pump", ActuatorKind::is_pump),
            clamp: clamp
                .as_ref()
                .map(|id| find(c, id, "clamp", |k| k == ActuatorKind::Clamp)),
        },
        Action::HeaterOff { heater } => ActionPlan::HeaterOff {
            heater: find(c, heater, "heater", ActuatorKind::is_heater),
        },
        Action::HoldSetpoints => ActionPlan::HoldSetpoints,
        Action::SafeState => ActionPlan::SafeState,
    }
}
