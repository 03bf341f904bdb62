//! Hypothermic machine perfusion against the LifePort logs (§4A, §10.2).

use crate::common::*;

/// RI = mean pressure / mean flow over the 10 s before `at_s`, pump at a fixed 100 mL/min.
fn resistance_index(frames: &[perfuse_hal::SensorFrame], at_s: f64) -> f64 {
    let window: Vec<_> = frames
        .iter()
        .filter(|f| f.t_s > at_s - 10.0 && f.t_s <= at_s)
        .copied()
        .collect();
    mean(&window, PRESSURE) / mean(&window, FLOW)
}

#[test]
fn resistance_index_falls_along_the_lifeport_trajectory() {
    let mut hal = sim(&kidney(&[]), &[]);
    let frames = record(&mut hal, 0.0, 1800.0, 0.05, |_| (100.0, 0.0, 0.0));
    let ri = |min: f64| resistance_index(&frames, min * 60.0);
    assert!(ri(1.5) > 0.5, "RI at 1.5 min {}", ri(1.5));
    assert!((0.35..=0.45).contains(&ri(5.0)), "RI at 5 min {}", ri(5.0));
    assert!(ri(30.0) < 0.3, "RI at 30 min {}", ri(30.0));
    assert!(ri(1.5) > ri(5.0) && ri(5.0) > ri(10.0) && ri(10.0) > ri(30.0));
}

#[test]
fn pulsatile_pump_gives_a_lifeport_pulse_pressure() {
    // Resistance already at its plateau, at the 4.8 °C it is given for; mean flow for a mean
    // pressure of ~27 mmHg.
    let mut hal = sim(
        &quiet_kidney(&[
            ("r_fast_mmhg_min_ml", 0.0),
            ("r_slow_mmhg_min_ml", 0.0),
            ("perfusate_start_c", 4.8),
        ]),
        &[],
    );
    let frames = record(&mut hal, 20.0, 30.0, 0.01, |f| {
        (pulsatile(115.0, 0.6, f.t_s), 0.0, 0.0)
    });
    let (sys, dia, map) = (
        max(&frames, PRESSURE),
        min(&frames, PRESSURE),
        mean(&frames, PRESSURE),
    );
    assert!((5.0..=12.0).contains(&(sys - dia)), "{sys}/{dia}");
    assert!((26.0..=28.0).contains(&map), "mean {map}");
    // LifePort at a 30 mmHg set systolic: systolic ~28–30, diastolic 16–28 (§4A).
    assert!(
        (28.0..=33.0).contains(&sys) && (16.0..=28.0).contains(&dia),
        "{sys}/{dia}"
    );
}

#[test]
fn pressure_servo_at_mean_27_settles_at_lifeport_flow() {
    let mut hal = sim(&kidney(&[]), &[]);
    let mut pump = 30.0;
    let frames = record(&mut hal, 6600.0, 7200.0, 0.1, |f| {
        pump = (pump + 0.5 * (27.0 - f.values[PRESSURE]) * 0.1).clamp(0.0, 500.0);
        (pump, 0.0, 0.0)
    });
    let (map, flow) = (mean(&frames, PRESSURE), mean(&frames, FLOW));
    assert!((26.5..=27.5).contains(&map), "mean pressure {map}");
    assert!((100.0..=185.0).contains(&flow), "flow {flow}");
}

#[test]
fn perfusate_cools_on_ice_from_8_6_c_and_settles() {
    let mut hal = sim(&kidney(&[]), &[]);
    let at_15_min = record(&mut hal, 890.0, 900.0, 1.0, |_| (115.0, 0.0, 0.0));
    let t15 = mean(&at_15_min, PERFUSATE_T);
    assert!(t15 < 8.0, "perfusate at 15 min {t15}");
    let at_6_h = record(&mut hal, 21_000.0, 21_600.0, 1.0, |_| (115.0, 0.0, 0.0));
    let t6h = mean(&at_6_h, PERFUSATE_T);
    assert!((1.0..=8.0).contains(&t6h), "perfusate at 6 h {t6h}");
    // ST-0001 settled near 4.8 °C (§4A).
    assert!((4.3..=5.5).contains(&t6h), "perfusate at 6 h {t6h}");
    let ice = mean(&at_6_h, ICE_T);
    assert!((ice - 1.2).abs() < 0.05, "ice {ice}");
}

#[test]
fn closed_clamp_stops_line_flow_and_distal_pressure_decays() {
    let mut hal = sim(&quiet_kidney(&[]), &[]);
    let before = run(&mut hal, 60.0, 0.01, |_| (115.0, 0.0, 0.0));
    assert!(before.values[PRESSURE] > 20.0);
    let after = run(&mut hal, 70.0, 0.01, |_| (115.0, 1.0, 0.0));
    assert_eq!(after.values[FLOW], 0.0);
    assert!(after.values[PRESSURE] < 1.0, "{}", after.values[PRESSURE]);
    assert_eq!(hal.applied_commands()[CLAMP], 1.0);
}
