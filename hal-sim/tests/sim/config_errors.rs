//! Bad protocol files are refused with a message that names the culprit and what is allowed.

use perfuse_hal_sim::SimHal;
use perfuse_protocol::{ActuatorKind, SafeState, SensorKind};

use crate::common::*;

fn error(p: &perfuse_protocol::ProtocolFile) -> String {
    SimHal::new(p, 1, &[]).err().expect("should be refused")
}

#[test]
fn unknown_sensor_site_names_the_sensor_and_lists_the_sites() {
    let mut p = kidney(&[]);
    p.circuit.sensors[PRESSURE].site = "aorta".into();
    let e = error(&p);
    assert!(e.contains("sensor `arterial_pressure`"), "{e}");
    assert!(e.contains("unknown site `aorta`"), "{e}");
    for site in [
        "arterial_line",
        "renal_vein",
        "reservoir",
        "heat_exchanger",
        "ice_container",
        "ureter",
    ] {
        assert!(e.contains(site), "{site} missing from: {e}");
    }
}

#[test]
fn unknown_actuator_site_names_the_actuator() {
    let mut p = kidney(&[]);
    p.circuit.actuators[HEATER].site = "blanket".into();
    let e = error(&p);
    assert!(
        e.contains("actuator `heater`") && e.contains("unknown site `blanket`"),
        "{e}"
    );
}

#[test]
fn a_site_without_that_kind_says_where_the_kind_can_sit() {
    let mut p = kidney(&[]);
    p.circuit.sensors.push(sensor(
        "reservoir_air",
        SensorKind::Bubble,
        "reservoir",
        0.0,
        1.0,
    ));
    p.circuit.actuators.push(actuator(
        "venous_pump",
        ActuatorKind::RollerPump,
        "renal_vein",
        500.0,
        SafeState::Off,
    ));
    let e = error(&p);
    assert!(
        e.contains("sensor `reservoir_air`: site `reservoir`"),
        "{e}"
    );
    assert!(
        e.contains("Bubble sensors can sit at: arterial_line"),
        "{e}"
    );
    assert!(
        e.contains("actuator `venous_pump`: site `renal_vein`"),
        "{e}"
    );
    // Both problems in one message.
    assert_eq!(e.lines().count(), 2, "{e}");
}

#[test]
fn unknown_param_is_named_with_the_allowed_list() {
    let e = error(&kidney(&[("kidney_mass_kg", 0.2)]));
    assert!(e.contains("`kidney_mass_kg`"), "{e}");
    assert!(
        e.contains("kidney_mass_g") && e.contains("pressure_noise_mmhg"),
        "{e}"
    );
}

#[test]
fn bad_param_values_are_named_with_their_range() {
    let e = error(&kidney(&[
        ("r_inf_mmhg_min_ml", -1.0),
        ("flow_noise_ml_min", f64::NAN),
    ]));
    assert!(
        e.contains("`r_inf_mmhg_min_ml` = -1") && e.contains("from 0.01 to 20"),
        "{e}"
    );
    let e = error(&kidney(&[("flow_noise_ml_min", f64::INFINITY)]));
    assert!(e.contains("`flow_noise_ml_min` = inf"), "{e}");
    let e = error(&kidney(&[("normothermic", 2.0)]));
    assert!(e.contains("`normothermic` = 2"), "{e}");
}

#[test]
fn unknown_model_lists_the_models() {
    let mut p = kidney(&[]);
    p.simulator.model = "pancreas".into();
    let e = error(&p);
    assert!(e.contains("`pancreas`") && e.contains("kidney"), "{e}");
}

#[test]
fn unsuitable_safe_state_and_bad_initial_are_refused() {
    let mut p = kidney(&[]);
    p.circuit.actuators[PUMP].safe_state = SafeState::Closed;
    p.circuit.actuators[CLAMP].initial = f64::NAN;
    let e = error(&p);
    assert!(e.contains("actuator `pump`: safe state Closed"), "{e}");
    assert!(e.contains("actuator `clamp`: initial command NaN"), "{e}");
}

#[test]
fn too_many_channels_are_refused() {
    let mut p = kidney(&[]);
    let extra = p.circuit.sensors[PRESSURE].clone();
    p.circuit.sensors.extend(std::iter::repeat_n(extra, 40));
    assert!(error(&p).contains("at most 32"));
}
