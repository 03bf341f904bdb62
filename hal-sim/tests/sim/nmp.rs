//! Normothermic perfusion (§4B, §10.2): warming, flow and urine.

use crate::common::*;

const NMP: (&str, f64) = ("normothermic", 1.0);

#[test]
fn heater_at_constant_power_warms_the_perfusate() {
    let mut hal = sim(&quiet_kidney(&[NMP]), &[]);
    let start = run(&mut hal, 1.0, 1.0, |_| (0.0, 0.0, 100.0));
    let warm = run(&mut hal, 600.0, 1.0, |_| (0.0, 0.0, 100.0));
    assert!(
        warm.values[PERFUSATE_T] > start.values[PERFUSATE_T] + 5.0,
        "{} -> {}",
        start.values[PERFUSATE_T],
        warm.values[PERFUSATE_T]
    );
    // The heater warms the exchanger water first.
    assert!(warm.values[EXCHANGER_T] > warm.values[PERFUSATE_T] + 3.0);

    // Without the heater the perfusate cools towards the room.
    let mut hal = sim(&quiet_kidney(&[NMP]), &[]);
    let cold = run(&mut hal, 600.0, 1.0, |_| (0.0, 0.0, 0.0));
    assert!(cold.values[PERFUSATE_T] < 29.0 && cold.values[PERFUSATE_T] > 22.0);
}

/// A PI temperature loop like the core's: 0–200 W, integrator frozen while saturated.
fn heater_pi(target_c: f64, measured_c: f64, integral: &mut f64, dt_s: f64) -> f64 {
    let error = target_c - measured_c;
    let out = 40.0 * error + *integral;
    if (0.0..200.0).contains(&out) {
        *integral += 0.05 * error * dt_s;
    }
    out.clamp(0.0, 200.0)
}

#[test]
fn pi_loop_reaches_36_c_within_4_to_15_min_at_200_w() {
    let mut hal = sim(&kidney(&[NMP]), &[]);
    let mut integral = 0.0;
    let frames = record(&mut hal, 0.0, 1800.0, 0.1, |f| {
        let heater = heater_pi(36.0, f.values[PERFUSATE_T], &mut integral, 0.1);
        (150.0, 0.0, heater)
    });
    let reached = frames
        .iter()
        .find(|f| f.values[PERFUSATE_T] >= 35.5)
        .map(|f| f.t_s)
        .unwrap_or(f64::INFINITY);
    assert!((240.0..=900.0).contains(&reached), "35.5 °C at {reached} s");
    let last = &frames[frames.len() - 600..];
    let held = mean(last, PERFUSATE_T);
    assert!((held - 36.0).abs() < 0.3, "held at {held}");
    assert!(
        max(&frames, PERFUSATE_T) < 36.8,
        "overshoot {}",
        max(&frames, PERFUSATE_T)
    );
}

#[test]
fn good_kidney_at_map_75_and_36_c_has_cambridge_flow_and_urine() {
    let mut hal = sim(&kidney(&[NMP, ("perfusate_start_c", 36.0)]), &[]);
    let (mut pump, mut integral) = (100.0, 40.0);
    let frames = record(&mut hal, 1800.0, 3600.0, 0.1, |f| {
        pump = (pump + 1.0 * (75.0 - f.values[PRESSURE]) * 0.1).clamp(0.0, 500.0);
        let heater = heater_pi(36.0, f.values[PERFUSATE_T], &mut integral, 0.1);
        (pump, 0.0, heater)
    });
    let flow = mean(&frames[frames.len() - 600..], RENAL_FLOW);
    assert!((200.0..=250.0).contains(&flow), "renal flow {flow}");
    let first = frames[0].values[URINE];
    let last = frames[frames.len() - 1].values[URINE];
    let per_hour = (last - first) * 2.0;
    assert!((60.0..=150.0).contains(&per_hour), "urine {per_hour} mL/h");
}

#[test]
fn cold_hmp_makes_no_urine() {
    // Washed-out resistance, so that 115 mL/min gives the LifePort's ~27 mmHg.
    let p = quiet_kidney(&[("r_fast_mmhg_min_ml", 0.0), ("r_slow_mmhg_min_ml", 0.0)]);
    let mut hal = sim(&p, &[]);
    let f = run(&mut hal, 600.0, 0.1, |_| (115.0, 0.0, 0.0));
    assert_eq!(f.values[URINE], 0.0);
}
