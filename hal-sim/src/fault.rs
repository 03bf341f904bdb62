//! Faults injected at a device time, written on the command line as `KIND[:ARG[:VALUE]]@TIME`.

use perfuse_protocol::{ActuatorKind, ProtocolFile, SensorKind, parse_duration};

use crate::model;

/// The fault syntax, quoted in every parse error.
pub const FAULT_SYNTAX: &str = "KIND[:ARG[:VALUE]]@TIME with KIND one of: air, occlusion[:FACTOR], \
     leak[:R_MMHG_MIN_ML], stuck:SENSOR, drift:SENSOR[:UNITS_PER_MIN], dropout:SENSOR[:SECONDS], \
     spike:SENSOR[:UNITS], pump-stall[:PUMP], heater-runaway[:HEATER], \
     channel-loss:SENSOR_OR_ACTUATOR[:SECONDS], mains-loss, or an event of the plant model (e.g. vf for the heart); \
     TIME like 90s, 30m, 1h30m";

/// Default renal resistance multiplier of an occlusion (my choice: the brief asks for ×20 or more).
const DEFAULT_OCCLUSION_FACTOR: f64 = 30.0;
/// Default leak path resistance, mmHg/(mL/min) (my choice: ~55 mL/min lost at the 27 mmHg of HMP,
/// ~150 mL/min at the 75 mmHg of NMP).
const DEFAULT_LEAK_MMHG_MIN_ML: f64 = 0.5;
/// Default dropout length, s (my choice).
const DEFAULT_DROPOUT_S: f64 = 5.0;

/// A fault and the device time from which it acts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fault {
    pub kind: FaultKind,
    /// Device time in seconds; the first frame at or after it shows the fault.
    pub at_s: f64,
}

/// What goes wrong. Sensors and actuators are indices in protocol order. A later fault of the
/// same kind on the same sensor replaces the earlier one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultKind {
    /// Air in the arterial line: the bubble detector reads 1 from then on, pump running or not.
    Air,
    /// The perfused bed's resistance is multiplied by `factor` (≥ 1).
    Occlusion { factor: f64 },
    /// Perfusate escapes from the arterial line, distal to the flow probe, through this
    /// resistance (> 0): renal flow and circuit volume fall.
    Leak { resistance_mmhg_min_ml: f64 },
    /// The sensor repeats one reading exactly, without noise.
    Stuck { sensor: usize },
    /// The sensor's reading drifts by `per_min` of its unit per minute.
    Drift { sensor: usize, per_min: f64 },
    /// The sensor delivers nothing (NaN) for `duration_s`, then recovers.
    Dropout { sensor: usize, duration_s: f64 },
    /// The sensor's reading jumps by `magnitude` for a tenth of a second.
    Spike { sensor: usize, magnitude: f64 },
    /// A pump delivers no flow whatever its command (`None`: every pump).
    PumpStall { pump: Option<usize> },
    /// A heater delivers the protocol's maximum power whatever its command (`None`: every
    /// heater).
    HeaterRunaway { heater: Option<usize> },
    /// The sensor's channel is lost: NaN from then on.
    SensorLoss { sensor: usize },
    /// The actuator's channel is lost for `duration_s` (infinite: for good): no command reaches
    /// it, so it falls to its safe state when the command in force expires; it still reports
    /// what it delivers.
    ActuatorLoss { actuator: usize, duration_s: f64 },
    /// The mains supply fails: the device runs on its battery from then on.
    MainsLoss,
    /// An event the plant model declares, by its index in the model's event list.
    Event { index: usize },
}

impl Fault {
    /// Parses `KIND[:ARG[:VALUE]]@TIME` (see [`FAULT_SYNTAX`]), resolving sensor and actuator ids
    /// against `protocol`. Defaults: occlusion ×30, leak 0.5 mmHg/(mL/min), dropout 5 s, drift
    /// 1 mmHg, 5 mL/min, 0.2 °C or 2 mL per minute by sensor kind, spike one span of the
    /// sensor's range (so the reading leaves it).
    pub fn parse(text: &str, protocol: &ProtocolFile) -> Result<Fault, String> {
        let fail = |why: String| format!("fault `{text}`: {why}; syntax: {FAULT_SYNTAX}");
        let (spec, time) = text
            .trim()
            .rsplit_once('@')
            .ok_or_else(|| fail("no `@TIME`".into()))?;
        let at_s = parse_duration(time).map_err(&fail)?;
        let mut parts = spec.split(':');
        let kind = parts.next().unwrap_or_default();
        let arg = parts.next();
        let value = parts.next();
        if parts.next().is_some() {
            return Err(fail("too many `:` parts".into()));
        }
        let number = |v: Option<&str>, default: f64| -> Result<f64, String> {
            match v {
                None => Ok(default),
                Some(s) => s
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| fail(format!("`{s}` is not a number"))),
            }
        };
        let none = |what: Option<&str>| match what {
            None => Ok(()),
            Some(s) => Err(fail(format!("`{kind}` takes no `:{s}`"))),
        };
        let sensor = |arg: Option<&str>| -> Result<usize, String> {
            let id =
                arg.ok_or_else(|| fail(format!("`{kind}` needs a sensor: `{kind}:SENSOR`")))?;
            sensor_index(protocol, id).ok_or_else(|| {
                fail(format!(
                    "no sensor `{id}`; sensors: {}",
                    list(protocol.circuit.sensors.iter().map(|s| s.id.as_str()))
                ))
            })
        };
        let actuator = |arg: Option<&str>,
                        want: &str,
                        is: fn(ActuatorKind) -> bool|
         -> Result<Option<usize>, String> {
            let Some(id) = arg else {
                return if protocol.circuit.actuators.iter().any(|a| is(a.kind)) {
                    Ok(None)
                } else {
                    Err(fail(format!("the protocol has no {want}")))
                };
            };
            let of_kind = || {
                protocol
                    .circuit
                    .actuators
                    .iter()
                    .filter(|a| is(a.kind))
                    .map(|a| a.id.as_str())
            };
            match protocol.circuit.actuators.iter().position(|a| a.id == id) {
                Some(i) if is(protocol.circuit.actuators[i].kind) => Ok(Some(i)),
                _ => Err(fail(format!(
                    "no {want} `{id}`; {want}s: {}",
                    list(of_kind())
                ))),
            }
        };

        let kind = match kind {
            "air" => {
                none(arg)?;
                FaultKind::Air
            }
            "mains-loss" => {
                none(arg)?;
                FaultKind::MainsLoss
            }
            "occlusion" => {
                none(value)?;
                FaultKind::Occlusion {
                    factor: number(arg, DEFAULT_OCCLUSION_FACTOR)?,
                }
            }
            "leak" => {
                none(value)?;
                FaultKind::Leak {
                    resistance_mmhg_min_ml: number(arg, DEFAULT_LEAK_MMHG_MIN_ML)?,
                }
            }
            "stuck" => {
                none(value)?;
                FaultKind::Stuck {
                    sensor: sensor(arg)?,
                }
            }
            "drift" => {
                let sensor = sensor(arg)?;
                let default = default_drift_per_min(protocol.circuit.sensors[sensor].kind);
                FaultKind::Drift {
                    sensor,
                    per_min: number(value, default)?,
                }
            }
            "dropout" => FaultKind::Dropout {
                sensor: sensor(arg)?,
                duration_s: number(value, DEFAULT_DROPOUT_S)?,
            },
            "spike" => {
                let sensor = sensor(arg)?;
                let spec = &protocol.circuit.sensors[sensor];
                let span = spec.range.max - spec.range.min;
                let default = if span.is_finite() && span > 0.0 {
                    span
                } else {
                    let (lo, hi) = spec.kind.absolute_range();
                    hi - lo
                };
                FaultKind::Spike {
                    sensor,
                    magnitude: number(value, default)?,
                }
            }
            "pump-stall" => {
                none(value)?;
                FaultKind::PumpStall {
                    pump: actuator(arg, "pump", ActuatorKind::is_pump)?,
                }
            }
            "heater-runaway" => {
                none(value)?;
                FaultKind::HeaterRunaway {
                    heater: actuator(arg, "heater", ActuatorKind::is_heater)?,
                }
            }
            "channel-loss" => {
                let id = arg.ok_or_else(|| {
                    fail("`channel-loss` needs a sensor or actuator: `channel-loss:ID`".into())
                })?;
                if let Some(sensor) = sensor_index(protocol, id) {
                    // A sensor that comes back is a dropout (`dropout:SENSOR:SECONDS`).
                    none(value)?;
                    FaultKind::SensorLoss { sensor }
                } else if let Some(actuator) =
                    protocol.circuit.actuators.iter().position(|a| a.id == id)
                {
                    FaultKind::ActuatorLoss {
                        actuator,
                        duration_s: number(value, f64::INFINITY)?,
                    }
                } else {
                    return Err(fail(format!(
                        "no sensor or actuator `{id}`; sensors: {}; actuators: {}",
                        list(protocol.circuit.sensors.iter().map(|s| s.id.as_str())),
                        list(protocol.circuit.actuators.iter().map(|a| a.id.as_str()))
                    )));
                }
            }
            other => {
                let events: Vec<String> = model::find(&protocol.simulator.model)
                    .map(|m| m.info().events.into_iter().map(|e| e.name).collect())
                    .unwrap_or_default();
                match events.iter().position(|e| e == other) {
                    Some(index) => {
                        none(arg)?;
                        FaultKind::Event { index }
                    }
                    None => {
                        return Err(fail(format!(
                            "unknown fault kind `{other}` (events of the `{}` model: {})",
                            protocol.simulator.model,
                            list(events.iter().map(String::as_str))
                        )));
                    }
                }
            }
        };
        let fault = Fault { kind, at_s };
        fault.check(protocol).map_err(&fail)?;
        Ok(fault)
    }

    /// Checks a fault, parsed or built by hand, against the protocol: indices in range, of the
    /// right kind, numbers in their domain.
    pub(crate) fn check(&self, protocol: &ProtocolFile) -> Result<(), String> {
        let sensors = &protocol.circuit.sensors;
        let actuators = &protocol.circuit.actuators;
        if !(self.at_s.is_finite() && self.at_s >= 0.0) {
            return Err(format!(
                "time {} must be finite and not negative",
                self.at_s
            ));
        }
        let sensor_ok = |i: usize| {
            if i < sensors.len() {
                Ok(())
            } else {
                Err(format!(
                    "sensor index {i} out of range (the protocol has {})",
                    sensors.len()
                ))
            }
        };
        let actuator_ok = |i: Option<usize>, want: Option<KindTest>| match i {
            None => Ok(()),
            Some(i) => match (actuators.get(i), want) {
                (Some(a), Some((what, is))) if !is(a.kind) => Err(format!(
                    "actuator `{}` is a {:?}, not a {what}",
                    a.id, a.kind
                )),
                (Some(_), _) => Ok(()),
                (None, _) => Err(format!(
                    "actuator index {i} out of range (the protocol has {})",
                    actuators.len()
                )),
            },
        };
        match self.kind {
            FaultKind::Air | FaultKind::MainsLoss => Ok(()),
            FaultKind::Occlusion { factor } => {
                if factor.is_finite() && factor >= 1.0 {
                    Ok(())
                } else {
                    Err(format!(
                        "occlusion factor {factor} must be a number of at least 1"
                    ))
                }
            }
            FaultKind::Leak {
                resistance_mmhg_min_ml,
            } => positive("leak resistance", resistance_mmhg_min_ml),
            FaultKind::Stuck { sensor } | FaultKind::SensorLoss { sensor } => sensor_ok(sensor),
            FaultKind::Drift { sensor, per_min } => {
                sensor_ok(sensor)?;
                if sensors[sensor].kind == SensorKind::Bubble {
                    return Err(format!(
                        "sensor `{}` is a bubble detector, which reads 0 or 1 and cannot drift",
                        sensors[sensor].id
                    ));
                }
                if per_min.is_finite() {
                    Ok(())
                } else {
                    Err(format!("drift rate {per_min} is not a number"))
                }
            }
            FaultKind::Dropout { sensor, duration_s } => {
                sensor_ok(sensor)?;
                positive("dropout length", duration_s)
            }
            FaultKind::Spike { sensor, magnitude } => {
                sensor_ok(sensor)?;
                if magnitude.is_finite() {
                    Ok(())
                } else {
                    Err(format!("spike magnitude {magnitude} is not a number"))
                }
            }
            FaultKind::PumpStall { pump } => {
                actuator_ok(pump, Some(("pump", ActuatorKind::is_pump)))
            }
            FaultKind::HeaterRunaway { heater } => {
                actuator_ok(heater, Some(("heater", ActuatorKind::is_heater)))
            }
            FaultKind::ActuatorLoss {
                actuator,
                duration_s,
            } => {
                actuator_ok(Some(actuator), None)?;
                if duration_s > 0.0 {
                    Ok(())
                } else {
                    Err(format!("channel-loss length {duration_s} must be positive"))
                }
            }
            FaultKind::Event { index } => {
                let events = model::find(&protocol.simulator.model)?.info().events;
                if index < events.len() {
                    Ok(())
                } else {
                    Err(format!(
                        "event index {index} out of range (the `{}` model has {})",
                        protocol.simulator.model,
                        events.len()
                    ))
                }
            }
        }
    }
}

/// A kind of actuator by name, with the test that recognises it.
type KindTest = (&'static str, fn(ActuatorKind) -> bool);

fn positive(what: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!("{what} {v} must be a positive number"))
    }
}

fn sensor_index(protocol: &ProtocolFile, id: &str) -> Option<usize> {
    protocol.circuit.sensors.iter().position(|s| s.id == id)
}

/// Default drift rate per minute in the sensor's unit (my choice: slow enough to look like a
/// real transducer drift, fast enough to cross a band within minutes).
fn default_drift_per_min(kind: SensorKind) -> f64 {
    match kind {
        SensorKind::Pressure => 1.0,
        SensorKind::Flow => 5.0,
        SensorKind::Temperature => 0.2,
        SensorKind::Volume => 2.0,
        SensorKind::Bubble => 0.0,
        SensorKind::AirwayPressure => 1.0,
        SensorKind::PartialPressure => 5.0,
        SensorKind::Concentration => 0.1,
        SensorKind::Ph => 0.01,
        SensorKind::Percent => 0.5,
        SensorKind::Rate => 1.0,
        SensorKind::CountRate => 10.0,
        SensorKind::Activity => 10.0,
        SensorKind::Haemoglobin => 0.1,
        SensorKind::Duration => 10.0,
        SensorKind::Supply | SensorKind::Score => 0.0,
    }
}

fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = names.collect();
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}
