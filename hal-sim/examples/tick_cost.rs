//! Measures what one control tick costs the simulator: a 6-hour HMP run at 100 Hz
//! (2.16 million ticks) of write + advance + read. Run with
//! `cargo run --release -p perfuse-hal-sim --example tick_cost`.

use std::f64::consts::PI;
use std::time::Instant;

use perfuse_hal::{CommandFrame, Hal, SensorFrame};
use perfuse_hal_sim::{Fault, SimHal};
use perfuse_protocol::{
    ActuatorKind, ActuatorSpec, Circuit, PluginRequirement, ProtocolFile, Range, SafeState,
    SensorKind, SensorSpec, SimulatorSpec,
};

fn sensor(id: &str, kind: SensorKind, site: &str) -> SensorSpec {
    SensorSpec {
        id: id.into(),
        kind,
        site: site.into(),
        range: Range {
            min: -10.0,
            max: 1000.0,
        },
        stale_after_s: 1.0,
        stuck_after_s: None,
        backup: None,
    }
}

fn actuator(id: &str, kind: ActuatorKind, safe_state: SafeState) -> ActuatorSpec {
    ActuatorSpec {
        id: id.into(),
        kind,
        site: "arterial_line".into(),
        range: Range {
            min: 0.0,
            max: 500.0,
        },
        max_rate_per_s: None,
        safe_state,
        command_ttl_s: 0.5,
        control: None,
        initial: 0.0,
        dose_cap: None,
    }
}

fn main() -> Result<(), String> {
    let protocol = ProtocolFile {
        name: "tick cost".into(),
        description: "LifePort-like HMP circuit".into(),
        version: "0".into(),
        plugin: PluginRequirement {
            id: "kidney".into(),
            version: "^0.1".into(),
            sha256: None,
        },
        plugin_params: None,
        computed: None,
        tick_hz: Some(100.0),
        simulator: SimulatorSpec {
            model: "kidney".into(),
            library: None,
            params: None,
            scenarios: None,
            default_scenario: None,
        },
        circuit: Circuit {
            sensors: vec![
                sensor("arterial_pressure", SensorKind::Pressure, "arterial_line"),
                sensor("arterial_flow", SensorKind::Flow, "arterial_line"),
                sensor("perfusate_temp", SensorKind::Temperature, "arterial_line"),
                sensor("ice_temp", SensorKind::Temperature, "ice_container"),
                sensor("air", SensorKind::Bubble, "arterial_line"),
                sensor("perfusate_volume", SensorKind::Volume, "reservoir"),
            ],
            actuators: vec![
                actuator("pump", ActuatorKind::RollerPump, SafeState::Off),
                actuator("clamp", ActuatorKind::Clamp, SafeState::Closed),
            ],
        },
        estimates: vec![],
        phases: vec![],
        rules: vec![],
        core_sensor_alarms: None,
    };
    let faults = [Fault::parse("drift:perfusate_temp@3h", &protocol)?];
    let mut hal = SimHal::new(&protocol, 42, &faults)?;

    let ticks = 6 * 3600 * 100;
    let dt = 0.01;
    let mut cmd = CommandFrame::default();
    cmd.ttl_s[..2].fill(0.5);
    let mut frame = SensorFrame::default();
    let mut checksum = 0.0;

    // Phase 1: write + advance + read, as the lockstep driver does.
    let start = Instant::now();
    for i in 0..ticks {
        let t = i as f64 * dt;
        cmd.values[0] = 115.0 * (1.0 + 0.6 * (2.0 * PI * t).sin());
        hal.write(&cmd);
        hal.advance(dt);
        hal.read(&mut frame);
        checksum += frame.values[0];
    }
    let full = start.elapsed();

    // Phase 2: advance + read only, command held.
    let start = Instant::now();
    for _ in 0..ticks {
        hal.advance(dt);
        hal.read(&mut frame);
        checksum += frame.values[0];
    }
    let bare = start.elapsed();

    let per = |d: std::time::Duration| d.as_secs_f64() * 1e9 / ticks as f64;
    println!(
        "{ticks} ticks, {} sensors, {} actuators",
        protocol.circuit.sensors.len(),
        protocol.circuit.actuators.len()
    );
    println!(
        "write+advance+read: {:.1} ns/tick ({:.3} s for 6 h at 100 Hz, incl. the test's sin())",
        per(full),
        full.as_secs_f64()
    );
    println!(
        "advance+read:       {:.1} ns/tick ({:.3} s)",
        per(bare),
        bare.as_secs_f64()
    );
    println!("(checksum {checksum:.1}, final t {} s)", frame.t_s);
    Ok(())
}
