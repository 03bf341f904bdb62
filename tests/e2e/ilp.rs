//! System tests of the ILP protocols (leg and arm) on the simulated limb: the default runs
//! through the command line, the systemic-leak alarms against the model's leak course, and the
//! §6/§9 safety rules under injected faults.

use crate::common::*;
use perfuse_core::run::Run;

fn priority(run: &Run, id: &str) -> &'static str {
    run.alarms()
        .list
        .iter()
        .find(|a| a.id == id)
        .unwrap()
        .priority
        .as_str()
}

fn default_run(file: &str, flow_band: (f64, f64)) {
    let s = run_summary(&protocol(file), &["--seed", "1"]);
    assert_eq!(s["completed"], true, "{file}");
    let phases = s["phases"].as_array().unwrap();
    let ids: Vec<&str> = phases.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["warm_up", "tnf", "melphalan", "washout"]);
    let start = |i: usize| f(&phases[i]["start_s"]);
    // Warm-up ends once both probes hold 38.5 °C or at 20 min, whichever is first.
    assert!(
        start(1) > 600.0 && start(1) <= 1200.0 + 0.02,
        "{file}: warm-up {}",
        start(1)
    );
    assert!((start(2) - start(1) - 1800.0).abs() < 0.02, "TNF 30 min");
    assert!(
        (start(3) - start(2) - 3600.0).abs() < 0.02,
        "melphalan 60 min"
    );
    // Perfusion ends within the 120-min tourniquet limit (§6 [S3]).
    let total = f(&s["simulated_s"]);
    assert!(
        (6600.0..=7200.0 + 0.02).contains(&total),
        "{file}: ≤ 2 h, {total} s"
    );

    for id in [
        "pump_flow",
        "inflow_temp",
        "tissue_proximal",
        "tissue_distal",
    ] {
        let ch = &s["channels"][id];
        assert!(f(&ch["in_band_fraction"]) >= 0.95, "{file} {id}: {ch}");
    }
    let flow = &s["channels"]["pump_flow"];
    assert!(
        f(&flow["mean"]) > flow_band.0 && f(&flow["mean"]) < flow_band.1,
        "{flow}"
    );
    // Inflow up to 42 °C, tissue never at the 40 °C warning, limb pressure below systemic.
    assert!(f(&s["channels"]["inflow_temp"]["max"]) <= 42.5);
    assert!(f(&s["channels"]["tissue_proximal"]["max"]) < 40.0);
    let line = f(&s["channels"]["mean_line_pressure"]["max"]);
    assert!(
        line < f(&s["channels"]["systemic_pressure"]["min"]),
        "{line}"
    );
    let d = &s["derived"];
    assert!(
        f(&d["tissue_in_band_min"]) > 85.0,
        "{}",
        d["tissue_in_band_min"]
    );
    assert!(f(&d["pressure_margin_mmhg"]) > 10.0);
    assert!(f(&d["leak_rate_pct_h"]) < 2.0);

    assert!(high_alarms(&s).is_empty(), "{file}: {}", s["alarms"]);
    assert!(
        s["alarms"].as_array().unwrap().is_empty(),
        "{file}: {}",
        s["alarms"]
    );
}

#[test]
fn leg_runs_warm_up_tnf_melphalan_washout_in_band() {
    default_run("ilp-leg.ron", (400.0, 500.0));
}

#[test]
fn arm_runs_warm_up_tnf_melphalan_washout_in_band() {
    default_run("ilp-arm.ron", (150.0, 300.0));
}

/// Follows a rule's condition `leak_pct > limit` the way the core judges it ([`Persistence`])
/// and returns, when the alarm `id` first fires, the tick its count began and the ticks held.
fn leak_alarm(run: &mut Run, id: &str, limit: f64, until_s: f64) -> (u64, u64) {
    let mut held = Persistence::new(run);
    step_until(run, until_s, |r| {
        held.feed(r.tick() - 1, exceeds(r, "leak_pct", limit));
        alarm_first_tick(r, id).is_some()
    });
    (held.since.expect("leak above the limit"), held.held)
}

#[test]
fn an_injected_leak_raises_the_medium_then_the_high_alarm_at_the_crossing_times() {
    let mut run = lockstep(&protocol("ilp-leg.ron"), &["systemic-leak@40m"], 1);
    let persist = ticks(&run, 10.0);
    let period = run.plan.period_s;
    // The model: 2 %/h until the event at 2400 s, then 20 %/h (limb defaults), both at a
    // 15-mmHg margin below the systemic 80 mmHg and scaled by e^(0.0724·(15 − margin)) at the
    // limb's own (§10.5). The probe is averaged over 30 s, which delays a ramp by 15 s; its noise
    // (2 counts/s per reading, 0.04 % over the window) moves a crossing of a 0.1 %/min ramp by
    // ~25 s (one standard deviation), hence the 45-s tolerance against the model. Against the
    // recorded signal the alarm time is exact.
    step_until(&mut run, 2399.0, |r| r.tick() as f64 * period >= 2390.0);
    let margin = 80.0 - run.signal("mean_line_pressure").unwrap().0;
    let factor = (0.072_411 * (15.0 - margin)).exp();
    let before = 2.0 * factor * 2400.0 / 3600.0;
    let model_crossing = |pct: f64| 2400.0 + (pct - before) / (20.0 * factor) * 3600.0 + 15.0;

    let (above5, held) = leak_alarm(&mut run, "leak_warning", 5.0, 4000.0);
    assert_eq!(held, persist + 1, "5 % alarm after its persistence");
    let t5 = above5 as f64 * period;
    assert!(
        (t5 - model_crossing(5.0)).abs() < 45.0,
        "5 % at {t5} s, model {}",
        model_crossing(5.0)
    );
    assert_eq!(priority(&run, "leak_warning"), "medium");
    assert_eq!(alarm_first_tick(&run, "leak_critical"), None, "not yet");

    let (above10, held) = leak_alarm(&mut run, "leak_critical", 10.0, 5600.0);
    assert_eq!(held, persist + 1, "10 % alarm after its persistence");
    let high = alarm_first_tick(&run, "leak_critical").unwrap();
    let t10 = above10 as f64 * period;
    assert!(
        (t10 - model_crossing(10.0)).abs() < 45.0,
        "10 % at {t10} s, model {}",
        model_crossing(10.0)
    );
    assert_eq!(priority(&run, "leak_critical"), "high");
    // The reservoir, the second leak signal, fell steadily in between (~1 mL/min).
    let falling = alarm_first_tick(&run, "reservoir_falling").expect("reservoir trend alarm");
    assert!(
        falling as f64 * period > 2400.0 && falling < high,
        "{falling}"
    );
    // No automatic action: perfusion continues (§6, §9).
    assert!(run.signal("mean_line_pressure").unwrap().0 > 40.0);
}

#[test]
fn a_fast_falling_reservoir_reduces_the_flow_with_a_high_alarm() {
    let mut run = lockstep(&protocol("ilp-leg.ron"), &["leak:2@40m"], 1);
    let pump = actuator(&run, "pump");
    let mut before = 0.0;
    step_until(&mut run, 2700.0, |r| {
        let on = r
            .alarms()
            .list
            .iter()
            .any(|a| a.id == "reservoir_falling_fast" && a.active);
        if !on {
            before = r.commands().values[pump];
        }
        on
    });
    assert_eq!(priority(&run, "reservoir_falling_fast"), "high");
    // The cut is a cap on the command, which comes down at the pump's rate limit (50 mL/min/s).
    for _ in 0..ticks(&run, 5.0) {
        run.step_lockstep();
    }
    let now = run.commands().values[pump];
    assert!(
        now <= 0.75 * before + 1e-9,
        "flow cut by 25 %: {before} → {now}"
    );
    assert!(run.commands().values[pump] > 0.0, "reduced, not stopped");
}

#[test]
fn air_stops_the_pump_and_closes_the_clamp() {
    let mut run = lockstep(&protocol("ilp-arm.ron"), &["air@50m"], 1);
    let (pump, clamp) = (actuator(&run, "pump"), actuator(&run, "arterial_clamp"));
    let onset = step_until(&mut run, 3010.0, |r| r.signal("bubble").unwrap().0 > 0.5);
    let persist = ticks(&run, 0.02);
    for _ in 0..persist {
        run.step_lockstep();
    }
    assert_eq!(alarm_first_tick(&run, "air_in_line"), Some(onset + persist));
    assert_eq!(run.commands().values[pump], 0.0);
    assert_eq!(run.commands().values[clamp], 1.0);
}

#[test]
fn a_runaway_heater_is_cut_at_43_degrees_inflow_and_flow_continues() {
    let mut run = lockstep(&protocol("ilp-leg.ron"), &["heater-runaway:heater@45m"], 1);
    let heater = actuator(&run, "heater");
    let crossed = step_until(&mut run, 3600.0, |r| {
        r.signal("inflow_temp").unwrap().0 > 43.0
    });
    let second = ticks(&run, 1.0);
    // Probe noise may take the reading back below 43 °C for a while; the rule needs 1 s.
    for _ in 0..ticks(&run, 60.0) {
        run.step_lockstep();
    }
    let first = alarm_first_tick(&run, "inflow_critical").expect("inflow alarm");
    assert!(first >= crossed + second, "not before its persistence");
    assert_eq!(priority(&run, "inflow_critical"), "high");
    assert_eq!(run.commands().values[heater], 0.0);
    assert!(
        run.signal("pump_flow").unwrap().0 > 400.0,
        "perfusion continues"
    );
}

#[test]
fn an_occluded_limb_stops_the_pump_on_over_pressure() {
    let s = run_summary(
        &protocol("ilp-leg.ron"),
        &["--duration", "50m", "--fault", "occlusion@45m"],
    );
    let medium = alarm(&s, "line_over_pressure").expect("over-pressure alarm");
    assert_eq!(medium["priority"], "medium");
    let critical = alarm(&s, "line_over_pressure_critical").expect("critical over-pressure");
    assert_eq!(critical["priority"], "high");
    assert!(f(&medium["first_s"]) >= 2700.0 && f(&critical["first_s"]) > f(&medium["first_s"]));
}

#[test]
fn losing_the_gamma_probe_is_a_high_alarm() {
    let s = run_summary(
        &protocol("ilp-leg.ron"),
        &[
            "--duration",
            "50m",
            "--fault",
            "channel-loss:gamma_probe@45m",
        ],
    );
    let lost = alarm(&s, "leak_monitor_lost").expect("probe loss alarm");
    assert_eq!(lost["priority"], "high");
    assert!((2701.0..2702.1).contains(&f(&lost["first_s"])), "{lost}");
}

#[test]
fn the_leaky_scenario_crosses_both_leak_limits_at_the_modelled_times() {
    // 5.8 %/h from the start (§6 [S9] series mean): 5 % at 3103 s and 10 % at 6207 s, plus the
    // 15-s lag of the 30-s probe mean and the rules' 10-s persistence.
    let s = run_summary(&protocol("ilp-leg.ron"), &["--scenario", "leaky_isolation"]);
    assert_eq!(s["completed"], true);
    for (id, pct, priority) in [
        ("leak_warning", 5.0, "medium"),
        ("leak_critical", 10.0, "high"),
    ] {
        let a = alarm(&s, id).unwrap_or_else(|| panic!("{id}: {}", s["alarms"]));
        assert_eq!(a["priority"], priority);
        let expected = pct / 5.8 * 3600.0 + 15.0 + 10.0;
        let first = f(&a["first_s"]);
        assert!(
            (first - expected).abs() < 45.0,
            "{id} at {first} s, model {expected} s"
        );
    }
}

#[test]
fn plugin_parameters_are_checked_with_their_name() {
    assert_plugin_refuses(
        "ilp-arm.ron",
        ("\"inflow_max_c\": 42.0,", "\"inflow_max_c\": 38.0,"),
        "`tissue_target_c` must be below `inflow_max_c`",
    );
}

#[test]
fn a_low_systemic_pressure_lowers_the_limb_flow_to_keep_the_margin() {
    // Systemic mean 66 mmHg: at 450 mL/min the limb (58.5 mmHg) would sit 7.5 mmHg below it,
    // inside the 10-mmHg margin; the plugin gives up 10 mL/min per mmHg of excess.
    let low = edited_protocol(
        "ilp-leg.ron",
        &[(
            "\"circuit_ml\": 800.0,",
            "\"circuit_ml\": 800.0, \"systemic_map_mmhg\": 66.0,",
        )],
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("low-map.ron");
    std::fs::write(&file, low).unwrap();
    let s = run_summary(&file, &["--duration", "40m"]);
    let margin = f(&s["derived"]["pressure_margin_mmhg"]);
    assert!((8.0..10.5).contains(&margin), "margin {margin} mmHg");
    let mean_flow = f(&s["channels"]["pump_flow"]["mean"]);
    assert!((400.0..440.0).contains(&mean_flow), "flow {mean_flow}");
    assert!(f(&s["channels"]["pump_flow"]["in_band_fraction"]) >= 0.95);
    assert!(
        s["alarms"].as_array().unwrap().is_empty(),
        "{}",
        s["alarms"]
    );
}
