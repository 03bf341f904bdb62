//! Device profiles: where every sensor and actuator of a protocol lives on the Modbus devices of
//! a rig. Read with the protocol files' parser and checked like them: every problem at once, each
//! with line:column and the field's path, and cross-checked against the protocol (every sensor
//! and actuator the device serves is mapped, no unknown ids, a watchdog that realises the
//! command's time to live and the protocol's safe state).

use crate::codec::{Encoding, RegType, WordOrder};
use perfuse_hal::MAX_LINKS;
use perfuse_protocol::plan::Plan;
use perfuse_protocol::{self as config, Diagnostic, Document, LoadError, SafeState};
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    devices: Vec<DeviceFile>,
    sensors: Vec<SensorFile>,
    actuators: Vec<ActuatorFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceFile {
    id: String,
    /// `host:port` of the device (or of the gateway in front of it).
    endpoint: String,
    /// Modbus unit identifier (slave address), 1 to 247.
    unit: u8,
    /// How long an answer may take before it counts as a timeout.
    timeout_ms: u32,
    framing: Framing,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SensorFile {
    id: String,
    device: String,
    register: u16,
    #[serde(rename = "type")]
    ty: RegType,
    word_order: WordOrder,
    scale: f64,
    offset: f64,
    poll_ms: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActuatorFile {
    id: String,
    device: String,
    command_register: u16,
    delivered_register: u16,
    #[serde(rename = "type")]
    ty: RegType,
    word_order: WordOrder,
    scale: f64,
    offset: f64,
    poll_ms: u32,
    watchdog: WatchdogFile,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct WatchdogFile {
    timeout_s: f64,
    safe: SafeValue,
}

/// How frames are delimited and checked on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Framing {
    /// Modbus TCP (MBAP header, no checksum: TCP checks).
    Tcp,
    /// RTU frames (unit, PDU, CRC-16) over a byte stream: a serial gateway's TCP port.
    Rtu,
}

/// What a device's watchdog applies when commands stop.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub enum SafeValue {
    /// Keeps the last command (a pump whose stop would harm the organ).
    Hold,
    /// This command, in the actuator's unit.
    Value(f64),
}

/// A checked profile: one entry per device, in file order (the plan's links).
#[derive(Debug, Clone)]
pub struct Profile {
    pub devices: Vec<Device>,
}

#[derive(Debug, Clone)]
pub struct Device {
    pub id: String,
    pub endpoint: String,
    pub unit: u8,
    pub framing: Framing,
    pub timeout: Duration,
    /// The device's cycle: its fastest channel's poll period.
    pub cycle: Duration,
    pub sensors: Vec<SensorChannel>,
    pub actuators: Vec<ActuatorChannel>,
}

#[derive(Debug, Clone)]
pub struct SensorChannel {
    /// The sensor's index in the protocol (and the frame).
    pub index: usize,
    pub register: u16,
    pub enc: Encoding,
    pub poll: Duration,
}

#[derive(Debug, Clone)]
pub struct ActuatorChannel {
    /// The actuator's index in the protocol (and the frame).
    pub index: usize,
    pub command_register: u16,
    pub delivered_register: u16,
    pub enc: Encoding,
    pub poll: Duration,
    pub watchdog_s: f64,
    pub safe: SafeValue,
}

/// Reads and checks a profile file against `plan`.
pub fn load(path: &Path, plan: &Plan) -> Result<Profile, LoadError> {
    let src = config::read_file(path, "profile")?;
    load_str(&src, path, plan)
}

/// As [`load`], from text; `path` only names the file in diagnostics.
pub fn load_str(src: &str, path: &Path, plan: &Plan) -> Result<Profile, LoadError> {
    let fail = |diagnostics| LoadError {
        file: path.to_path_buf(),
        diagnostics,
    };
    let (file, doc) = config::read_document::<ProfileFile>(src).map_err(fail)?;
    let mut c = Checker {
        doc: &doc,
        problems: Vec::new(),
    };
    let profile = check(&mut c, &file, plan);
    if c.problems.is_empty() {
        Ok(profile)
    } else {
        c.problems.sort_by_key(|d| (d.span.line, d.span.col));
        Err(fail(c.problems))
    }
}

struct Checker<'a> {
    doc: &'a Document,
    problems: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn problem(&mut self, path: String, expected: impl Into<String>, found: impl Into<String>) {
        self.problems.push(Diagnostic {
            span: self.doc.span_of(&path),
            path,
            expected: expected.into(),
            found: found.into(),
        });
    }
}

/// Register span `[start, start + words)` of a channel on a device, with the field that claims it.
struct Claim {
    device: usize,
    start: u32,
    end: u32,
    path: String,
}

fn check(c: &mut Checker, file: &ProfileFile, plan: &Plan) -> Profile {
    let mut devices: Vec<Device> = Vec::new();
    if file.devices.len() > MAX_LINKS {
        c.problem(
            "devices".into(),
            format!("at most {MAX_LINKS} devices"),
            format!("{}", file.devices.len()),
        );
    }
    for (i, d) in file.devices.iter().enumerate() {
        let at = |f: &str| format!("devices[{i}].{f}");
        if !is_name(&d.id) {
            c.problem(
                at("id"),
                "a name of letters, digits and `_`",
                format!("\"{}\"", d.id),
            );
        } else if devices.iter().any(|e| e.id == d.id) {
            c.problem(
                at("id"),
                "a device id not used before",
                format!("\"{}\" again", d.id),
            );
        }
        if !d
            .endpoint
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
        {
            c.problem(at("endpoint"), "`host:port`", format!("\"{}\"", d.endpoint));
        }
        if !(1..=247).contains(&d.unit) {
            c.problem(at("unit"), "a unit id from 1 to 247", d.unit.to_string());
        }
        if d.timeout_ms == 0 {
            c.problem(at("timeout_ms"), "more than 0 ms", "0");
        }
        devices.push(Device {
            id: d.id.clone(),
            endpoint: d.endpoint.clone(),
            unit: d.unit,
            framing: d.framing,
            timeout: Duration::from_millis(d.timeout_ms.into()),
            cycle: Duration::MAX,
            sensors: Vec::new(),
            actuators: Vec::new(),
        });
    }
    let device_of = |c: &mut Checker, path: String, name: &str| {
        let found = file.devices.iter().position(|d| d.id == name);
        if found.is_none() {
            let known: Vec<&str> = file.devices.iter().map(|d| d.id.as_str()).collect();
            c.problem(
                path,
                format!("one of the devices declared: {}", known.join(", ")),
                format!("\"{name}\""),
            );
        }
        found
    };
    let mut claims: Vec<Claim> = Vec::new();
    let mut mapped_sensors = vec![false; plan.sensors.len()];
    for (i, s) in file.sensors.iter().enumerate() {
        let at = |f: &str| format!("sensors[{i}].{f}");
        let index = plan
            .sensors
            .iter()
            .position(|p| plan.signals[p.signal].id == s.id);
        let index = match index {
            Some(x) if plan.sensors[x].operator => {
                c.problem(
                    at("id"),
                    "a sensor the devices measure (an operator-entered value has no register)",
                    format!("\"{}\", entered by the operator", s.id),
                );
                None
            }
            Some(x) if mapped_sensors[x] => {
                c.problem(
                    at("id"),
                    "a sensor not mapped before",
                    format!("\"{}\" again", s.id),
                );
                None
            }
            Some(x) => Some(x),
            None => {
                c.problem(
                    at("id"),
                    "a sensor of the protocol",
                    format!("\"{}\"", s.id),
                );
                None
            }
        };
        let device = device_of(c, at("device"), &s.device);
        let enc = encoding(c, &at(""), s.ty, s.word_order, s.scale, s.offset);
        poll_ok(c, at("poll_ms"), s.poll_ms);
        if let Some(x) = index {
            mapped_sensors[x] = true;
            let p = &plan.sensors[x];
            range_fits(c, at("type"), &enc, p.range.min, p.range.max);
            let stale_ms = p.stale_after_ticks as f64 * plan.period_s * 1000.0;
            if 2.0 * s.poll_ms as f64 > stale_ms + 1e-9 {
                c.problem(
                    at("poll_ms"),
                    format!(
                        "at most half the sensor's stale_after_s ({} ms), so that one late answer \
                         does not make it stale",
                        stale_ms / 2.0
                    ),
                    s.poll_ms.to_string(),
                );
            }
        }
        if let Some(d) = device {
            claim(c, &mut claims, d, s.register, s.ty, at("register"));
            if let Some(x) = index {
                let poll = Duration::from_millis(s.poll_ms.max(1).into());
                devices[d].sensors.push(SensorChannel {
                    index: x,
                    register: s.register,
                    enc,
                    poll,
                });
            }
        }
    }
    for (x, p) in plan.sensors.iter().enumerate() {
        if !p.operator && !mapped_sensors[x] {
            c.problem(
                "sensors".into(),
                format!(
                    "a mapping for sensor `{}` of the protocol",
                    plan.signals[p.signal].id
                ),
                "none",
            );
        }
    }
    let mut mapped_actuators = vec![false; plan.actuators.len()];
    for (i, a) in file.actuators.iter().enumerate() {
        let at = |f: &str| format!("actuators[{i}].{f}");
        let index = match plan.actuator(&a.id) {
            Some(x) if mapped_actuators[x] => {
                c.problem(
                    at("id"),
                    "an actuator not mapped before",
                    format!("\"{}\" again", a.id),
                );
                None
            }
            Some(x) => Some(x),
            None => {
                c.problem(
                    at("id"),
                    "an actuator of the protocol",
                    format!("\"{}\"", a.id),
                );
                None
            }
        };
        let device = device_of(c, at("device"), &a.device);
        let enc = encoding(c, &at(""), a.ty, a.word_order, a.scale, a.offset);
        poll_ok(c, at("poll_ms"), a.poll_ms);
        let w = &a.watchdog;
        if let Some(x) = index {
            mapped_actuators[x] = true;
            let p = &plan.actuators[x];
            range_fits(c, at("type"), &enc, p.range.min, p.range.max);
            if !(w.timeout_s.is_finite() && w.timeout_s > 0.0 && w.timeout_s <= p.ttl_s + 1e-9) {
                c.problem(
                    at("watchdog.timeout_s"),
                    format!(
                        "a time of more than 0 s and at most the actuator's command_ttl_s ({} s): \
                         the device's watchdog realises the command's time to live",
                        p.ttl_s
                    ),
                    w.timeout_s.to_string(),
                );
            } else if w.timeout_s * 1000.0 < 2.0 * a.poll_ms as f64 {
                c.problem(
                    at("watchdog.timeout_s"),
                    format!(
                        "at least two command cycles ({} s), or the watchdog trips in normal operation",
                        2.0 * a.poll_ms as f64 / 1000.0
                    ),
                    w.timeout_s.to_string(),
                );
            }
            let expected = match p.safe_state {
                SafeState::HoldLast => SafeValue::Hold,
                _ => SafeValue::Value(p.safe_command(0.0)),
            };
            if w.safe != expected {
                c.problem(
                    at("watchdog.safe"),
                    format!("{expected:?}: the protocol's safe state {:?}", p.safe_state),
                    format!("{:?}", w.safe),
                );
            }
        }
        if let Some(d) = device {
            claim(
                c,
                &mut claims,
                d,
                a.command_register,
                a.ty,
                at("command_register"),
            );
            claim(
                c,
                &mut claims,
                d,
                a.delivered_register,
                a.ty,
                at("delivered_register"),
            );
            if let Some(x) = index {
                devices[d].actuators.push(ActuatorChannel {
                    index: x,
                    command_register: a.command_register,
                    delivered_register: a.delivered_register,
                    enc,
                    poll: Duration::from_millis(a.poll_ms.max(1).into()),
                    watchdog_s: w.timeout_s,
                    safe: w.safe,
                });
            }
        }
    }
    for (x, p) in plan.actuators.iter().enumerate() {
        if !mapped_actuators[x] {
            c.problem(
                "actuators".into(),
                format!("a mapping for actuator `{}` of the protocol", p.id),
                "none",
            );
        }
    }
    for (i, d) in devices.iter_mut().enumerate() {
        let polls = d.sensors.iter().map(|s| s.poll);
        d.cycle = polls
            .chain(d.actuators.iter().map(|a| a.poll))
            .min()
            .unwrap_or(Duration::MAX);
        if d.cycle == Duration::MAX {
            c.problem(
                format!("devices[{i}]"),
                "a device that serves a sensor or an actuator",
                "none",
            );
        } else if d.timeout > d.cycle {
            c.problem(
                format!("devices[{i}].timeout_ms"),
                format!(
                    "at most the device's fastest poll period ({} ms), so a lost link is told \
                     within two polls",
                    d.cycle.as_millis()
                ),
                d.timeout.as_millis().to_string(),
            );
        }
    }
    Profile { devices }
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn encoding(
    c: &mut Checker,
    at: &str,
    ty: RegType,
    order: WordOrder,
    scale: f64,
    offset: f64,
) -> Encoding {
    if !(scale.is_finite() && scale != 0.0) {
        c.problem(
            format!("{at}scale"),
            "a finite number other than 0",
            scale.to_string(),
        );
    }
    if !offset.is_finite() {
        c.problem(format!("{at}offset"), "a finite number", offset.to_string());
    }
    Encoding {
        ty,
        order,
        scale,
        offset,
    }
}

fn poll_ok(c: &mut Checker, path: String, poll_ms: u32) {
    if poll_ms == 0 {
        c.problem(path, "a poll period of at least 1 ms", "0");
    }
}

/// Whether the register type can carry the protocol's whole range after scaling.
fn range_fits(c: &mut Checker, path: String, enc: &Encoding, min: f64, max: f64) {
    if !(enc.scale.is_finite() && enc.scale != 0.0 && enc.offset.is_finite()) {
        return;
    }
    let (lo, hi) = enc.ty.raw_range();
    let a = (min - enc.offset) / enc.scale;
    let b = (max - enc.offset) / enc.scale;
    if a.min(b) < lo || a.max(b) > hi {
        c.problem(
            path,
            format!(
                "a register type that holds the protocol's range {min} to {max} at scale {} and \
                 offset {} (raw {} to {})",
                enc.scale,
                enc.offset,
                a.min(b),
                a.max(b)
            ),
            format!("{:?} (raw {lo} to {hi})", enc.ty),
        );
    }
}

fn claim(
    c: &mut Checker,
    claims: &mut Vec<Claim>,
    device: usize,
    reg: u16,
    ty: RegType,
    path: String,
) {
    let (start, end) = (reg as u32, reg as u32 + ty.words() as u32);
    if end > 0x1_0000 {
        c.problem(
            path,
            "registers within 0 to 65535",
            format!("{reg} (+{} words)", ty.words()),
        );
        return;
    }
    if let Some(other) = claims
        .iter()
        .find(|o| o.device == device && o.start < end && start < o.end)
    {
        let other = other.path.clone();
        c.problem(
            path,
            format!("registers not used by `{other}` on the same device"),
            reg.to_string(),
        );
        return;
    }
    claims.push(Claim {
        device,
        start,
        end,
        path,
    });
}
