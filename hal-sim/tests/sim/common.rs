//! Shared helpers: protocols built in code, and a lockstep driver.

use std::f64::consts::PI;

use perfuse_hal::{CommandFrame, Hal, SensorFrame};
use perfuse_hal_sim::{Fault, SimHal};
use perfuse_protocol::{
    ActuatorKind, ActuatorSpec, Circuit, PluginRequirement, ProtocolFile, Range, SafeState,
    SensorKind, SensorSpec, SimulatorSpec,
};

// Sensor indices of `hmp()` and `nmp()`.
pub const PRESSURE: usize = 0;
pub const FLOW: usize = 1;
pub const PERFUSATE_T: usize = 2;
pub const ICE_T: usize = 3;
pub const BUBBLE: usize = 4;
pub const VOLUME: usize = 5;
pub const RENAL_FLOW: usize = 6;
pub const EXCHANGER_T: usize = 7;
pub const URINE: usize = 8;

// Actuator indices.
pub const PUMP: usize = 0;
pub const CLAMP: usize = 1;
pub const HEATER: usize = 2;

/// Parameters that silence every probe, for tests of the plant itself.
pub const QUIET: &[(&str, f64)] = &[
    ("pressure_noise_mmhg", 0.0),
    ("flow_noise_ml_min", 0.0),
    ("temperature_noise_c", 0.0),
    ("volume_noise_ml", 0.0),
    ("temperature_lag_s", 0.0),
];

pub fn sensor(id: &str, kind: SensorKind, site: &str, min: f64, max: f64) -> SensorSpec {
    SensorSpec {
        id: id.into(),
        kind,
        site: site.into(),
        range: Range { min, max },
        stale_after_s: 1.0,
        stuck_after_s: None,
        backup: None,
    }
}

pub fn actuator(
    id: &str,
    kind: ActuatorKind,
    site: &str,
    max: f64,
    safe_state: SafeState,
) -> ActuatorSpec {
    ActuatorSpec {
        id: id.into(),
        kind,
        site: site.into(),
        range: Range { min: 0.0, max },
        max_rate_per_s: None,
        safe_state,
        command_ttl_s: 0.5,
        control: None,
        initial: 0.0,
        dose_cap: None,
    }
}

pub fn protocol(
    params: &[(&str, f64)],
    sensors: Vec<SensorSpec>,
    actuators: Vec<ActuatorSpec>,
) -> ProtocolFile {
    ProtocolFile {
        name: "test".into(),
        description: "test circuit".into(),
        version: "0".into(),
        plugin: PluginRequirement {
            id: "kidney".into(),
            version: "^0.1".into(),
            sha256: None,
        },
        plugin_params: None,
        computed: None,
        tick_hz: None,
        simulator: SimulatorSpec {
            model: "kidney".into(),
            library: None,
            params: Some(params.iter().map(|(k, v)| (k.to_string(), *v)).collect()),
            scenarios: None,
            default_scenario: None,
        },
        circuit: Circuit { sensors, actuators },
        estimates: vec![],
        phases: vec![],
        rules: vec![],
        core_sensor_alarms: None,
    }
}

/// A kidney circuit with every site in use; `params` go to `simulator.params`.
pub fn kidney(params: &[(&str, f64)]) -> ProtocolFile {
    use ActuatorKind as A;
    use SensorKind as S;
    protocol(
        params,
        vec![
            sensor(
                "arterial_pressure",
                S::Pressure,
                "arterial_line",
                0.0,
                150.0,
            ),
            sensor("arterial_flow", S::Flow, "arterial_line", 0.0, 600.0),
            sensor("perfusate_temp", S::Temperature, "arterial_line", 0.0, 40.0),
            sensor("ice_temp", S::Temperature, "ice_container", -2.0, 20.0),
            sensor("air", S::Bubble, "arterial_line", 0.0, 1.0),
            sensor("perfusate_volume", S::Volume, "reservoir", 0.0, 2000.0),
            sensor("renal_flow", S::Flow, "renal_vein", 0.0, 600.0),
            sensor(
                "exchanger_temp",
                S::Temperature,
                "heat_exchanger",
                0.0,
                60.0,
            ),
            sensor("urine", S::Volume, "ureter", 0.0, 2000.0),
        ],
        vec![
            actuator(
                "pump",
                A::RollerPump,
                "arterial_line",
                500.0,
                SafeState::Off,
            ),
            actuator("clamp", A::Clamp, "arterial_line", 1.0, SafeState::Closed),
            actuator("heater", A::Heater, "heat_exchanger", 200.0, SafeState::Off),
        ],
    )
}

/// `kidney(params)` with quiet probes first (later entries override).
pub fn quiet_kidney(params: &[(&str, f64)]) -> ProtocolFile {
    let all: Vec<(&str, f64)> = QUIET.iter().chain(params).copied().collect();
    kidney(&all)
}

pub fn sim(protocol: &ProtocolFile, faults: &[Fault]) -> SimHal {
    SimHal::new(protocol, 1, faults).unwrap()
}

/// Sends pump, clamp and heater commands, each valid for `ttl_s`.
pub fn command(hal: &mut SimHal, pump: f64, clamp: f64, heater: f64, ttl_s: f64) {
    let mut cmd = CommandFrame::default();
    cmd.values[PUMP] = pump;
    cmd.values[CLAMP] = clamp;
    cmd.values[HEATER] = heater;
    cmd.ttl_s[..3].fill(ttl_s);
    hal.write(&cmd);
}

/// A pump command modulated ±`amplitude` at 60 bpm, as the core's pulsatile loop does.
pub fn pulsatile(mean: f64, amplitude: f64, t_s: f64) -> f64 {
    mean * (1.0 + amplitude * (2.0 * PI * t_s).sin())
}

/// Runs until device time `until_s` in steps of `dt_s`; before each step `control` gets the
/// newest frame and returns (pump, clamp, heater), sent with a 1-s time to live. Returns the
/// last frame.
pub fn run(
    hal: &mut SimHal,
    until_s: f64,
    dt_s: f64,
    mut control: impl FnMut(&SensorFrame) -> (f64, f64, f64),
) -> SensorFrame {
    let mut frame = SensorFrame::default();
    hal.read(&mut frame);
    while frame.t_s < until_s - dt_s / 2.0 {
        let (pump, clamp, heater) = control(&frame);
        command(hal, pump, clamp, heater, 1.0);
        hal.advance(dt_s);
        hal.read(&mut frame);
    }
    frame
}

/// Runs like [`run`] and returns the frames from `from_s` on.
pub fn record(
    hal: &mut SimHal,
    from_s: f64,
    until_s: f64,
    dt_s: f64,
    mut control: impl FnMut(&SensorFrame) -> (f64, f64, f64),
) -> Vec<SensorFrame> {
    let mut frames = Vec::new();
    let mut frame = SensorFrame::default();
    hal.read(&mut frame);
    while frame.t_s < until_s - dt_s / 2.0 {
        let (pump, clamp, heater) = control(&frame);
        command(hal, pump, clamp, heater, 1.0);
        hal.advance(dt_s);
        hal.read(&mut frame);
        if frame.t_s >= from_s - 1e-9 {
            frames.push(frame);
        }
    }
    frames
}

pub fn mean(frames: &[SensorFrame], sensor: usize) -> f64 {
    frames.iter().map(|f| f.values[sensor]).sum::<f64>() / frames.len() as f64
}

pub fn max(frames: &[SensorFrame], sensor: usize) -> f64 {
    frames
        .iter()
        .map(|f| f.values[sensor])
        .fold(f64::MIN, f64::max)
}

pub fn min(frames: &[SensorFrame], sensor: usize) -> f64 {
    frames
        .iter()
        .map(|f| f.values[sensor])
        .fold(f64::MAX, f64::min)
}
