//! System tests of the HIPEC protocols on the simulator: the runs through the command line, the
//! drug timer against the temperature record, the swine heating data of docs/clinical-basis.md
//! (§7), and the safety rules of §7 and §9 under injected faults, tick by tick.

use crate::common::*;
use perfuse_core::run::Run;
use perfuse_plugin_sdk::validity;
use serde_json::Value;

/// The channels the protocols' loops control.
const CONTROLLED: [&str; 3] = ["mean_inflow", "inflow_temp", "mean_iap"];
/// The cavity probes whose reading starts the drug.
const CAVITY_PROBES: [&str; 3] = ["outflow_temp", "ip_upper_temp", "ip_pelvis_temp"];

fn value(run: &Run, id: &str) -> f64 {
    run.signal(id).unwrap().0
}

fn command(run: &Run, id: &str) -> f64 {
    run.commands().values[actuator(run, id)]
}

fn in_band(s: &Value, id: &str) -> f64 {
    f(&s["channels"][id]["in_band_fraction"])
}

/// Asserts what every protocol run must show: completed, the drug phase (with the phases of its
/// later fractions) lasting its full duration after heating, every banded channel in band ≥ 95 %
/// of the time, no high alarm.
fn assert_clean_run(s: &Value, drug_s: f64) -> f64 {
    assert_eq!(s["completed"], true);
    assert_eq!(s["plugin"]["id"], "hipec");
    let phases = s["phases"].as_array().unwrap();
    assert_eq!(phases[0]["id"], "heating");
    assert_eq!(phases[1]["id"], "drug");
    let drug_start = f(&phases[1]["start_s"]);
    assert!((f(&s["simulated_s"]) - (drug_start + drug_s)).abs() < 0.02);
    for id in CONTROLLED
        .iter()
        .chain(&CAVITY_PROBES)
        .chain(&["core_temp"])
    {
        assert!(in_band(s, id) >= 0.95, "{id}: {}", s["channels"][id]);
    }
    assert!(high_alarms(s).is_empty(), "high alarms: {}", s["alarms"]);
    let d = &s["derived"];
    assert!((f(&d["drug_min"]) - drug_s / 60.0).abs() < 0.01, "{d}");
    assert!(
        (f(&d["heating_min"]) - drug_start / 60.0).abs() < 0.01,
        "{d}"
    );
    assert_eq!(f(&d["drug_started_at_target"]), 1.0);
    drug_start
}

#[test]
fn mitomycin_c_runs_90_minutes_at_41_to_42_degrees() {
    let s = run_summary(&protocol("hipec-mmc.ron"), &["--seed", "1"]);
    let drug_start = assert_clean_run(&s, 5400.0);
    assert!(
        drug_start < 1800.0,
        "heating ended by the plugin: {drug_start}"
    );
    // The Dutch fractions (§7): half the dose as the drug phase starts, a quarter at 30 and at
    // 60 min, each a phase of its own in the record.
    let phases = s["phases"].as_array().unwrap();
    let ids: Vec<&str> = phases.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["heating", "drug", "drug_2", "drug_3"]);
    for (k, p) in phases[1..].iter().enumerate() {
        let at = drug_start + 1800.0 * k as f64;
        assert!((f(&p["start_s"]) - at).abs() < 0.02, "{p}");
    }
    assert!(alarm(&s, "core_warm").is_none());
    let d = &s["derived"];
    assert!(f(&d["drug_lowest_ip_c"]) >= 41.0, "{d}");
    let mean = f(&d["drug_mean_ip_c"]);
    assert!((41.0..=42.0).contains(&mean), "{mean}");
    // Thermal dose (CEM43) per probe: the hotter the probe, the larger its dose; the core stays
    // far below the cavity.
    let dose = |k: &str| f(&d[k]);
    assert!(dose("cem43_inflow_min") > dose("cem43_ip_upper_min"));
    assert!(dose("cem43_ip_upper_min") > dose("cem43_outflow_min"));
    assert!(dose("cem43_outflow_min") > dose("cem43_ip_pelvis_min"));
    assert!(
        dose("cem43_ip_pelvis_min") > 5.0 && dose("cem43_core_min") < 0.1,
        "{d}"
    );
}

#[test]
fn oxaliplatin_runs_30_minutes_at_42_to_44_degrees() {
    let s = run_summary(&protocol("hipec-oxaliplatin.ron"), &["--seed", "2"]);
    assert_clean_run(&s, 1800.0);
    let d = &s["derived"];
    assert!(f(&d["drug_lowest_ip_c"]) >= 42.0, "{d}");
    assert!(f(&s["channels"]["ip_upper_temp"]["max"]) <= 44.0);
    assert!(alarm(&s, "inflow_warm").is_none(), "{}", s["alarms"]);
}

#[test]
fn the_drug_phase_starts_only_once_the_cavity_has_held_its_target() {
    let mut run = lockstep(&protocol("hipec-mmc.ron"), &[], 3);
    let hold = ticks(&run, 30.0) as usize;
    // The coldest valid cavity reading of every tick until the drug phase begins.
    let mut coldest = Vec::new();
    let start = step_until(&mut run, 1800.0, |r| {
        let c = CAVITY_PROBES
            .iter()
            .map(|id| r.signal(id).unwrap())
            .map(|(v, ok)| if ok == validity::OK { v } else { f64::NAN })
            .fold(f64::INFINITY, f64::min);
        coldest.push(c);
        r.phase() == "drug"
    }) as usize;
    // The tick that began the drug phase is not in the heating record.
    coldest.pop();
    assert_eq!(coldest.len(), start);
    // The plugin asked on the tick before, when every probe had read 41 °C for 30 s.
    let window = &coldest[start - 1 - hold..start];
    assert!(window.iter().all(|&c| c >= 41.0), "{window:?}");
    // And not one tick later than it could have: no earlier 30-s run at target.
    let first_full_run = (hold..start)
        .find(|&k| coldest[k - hold..=k].iter().all(|&c| c >= 41.0))
        .unwrap();
    assert_eq!(first_full_run, start - 1);
    assert!(coldest[start - 2 - hold] < 41.0);
    // Heating took minutes, not seconds: the target is a real temperature, not a timer.
    assert!(start as f64 * run.plan.period_s > 300.0);
}

/// The MMC protocol rewritten by `edit`, in a temporary file.
fn variant(edit: impl FnOnce(String) -> String) -> (tempfile::TempDir, std::path::PathBuf) {
    let text = std::fs::read_to_string(protocol("hipec-mmc.ron")).unwrap();
    temp_protocol(&edit(text))
}

/// The swine study of §7: the exchanger water held at 43 °C, the pump at `flow_ml_min`. Returns
/// the minute the outflow's one-minute mean first read 42.5 °C or more (43 °C to the degree)
/// and that mean at `minutes`.
fn swine(flow_ml_min: f64, minutes: f64) -> (Option<f64>, f64) {
    let flow = format!("{flow_ml_min:.1}");
    // The flow band moves with the flow: a setpoint lies inside its phase's band.
    let band = "band: Some((min: 1800.0, max: 2200.0))";
    let (_dir, file) = variant(|t| {
        let t = edit(
            &t,
            &[
                ("\"thorax\": 0.0,", "\"thorax\": 0.0, \"bath_c\": 43.0,"),
                (
                    "to: 2000.0, over_s: 30.0",
                    &format!("to: {flow}, over_s: 1.0"),
                ),
            ],
        );
        // The drug phase holds the flow in each of its three fractions.
        let t = edit_n(&t, "Hold(2000.0)", &format!("Hold({flow})"), 3);
        // Every flow band: heating and the three fractions.
        let moved = format!(
            "band: Some((min: {:.1}, max: {:.1}))",
            0.9 * flow_ml_min,
            1.1 * flow_ml_min
        );
        edit_n(&t, band, &moved, 4)
    });
    let mut run = lockstep(&file, &[], 1);
    // Readings averaged over a minute, so that noise cannot decide the crossing.
    let per_minute = ticks(&run, 60.0) as usize;
    let mut last_minute = std::collections::VecDeque::with_capacity(per_minute);
    let mut reached = None;
    let end = ticks(&run, minutes * 60.0);
    while run.tick() < end {
        run.step_lockstep();
        if last_minute.len() == per_minute {
            last_minute.pop_front();
        }
        last_minute.push_back(value(&run, "outflow_temp"));
        let mean = last_minute.iter().sum::<f64>() / last_minute.len() as f64;
        if reached.is_none() && last_minute.len() == per_minute && mean >= 42.5 {
            reached = Some(run.tick() as f64 * run.plan.period_s / 60.0);
        }
    }
    assert!((value(&run, "mean_inflow") - flow_ml_min).abs() < 20.0);
    let mean = last_minute.iter().sum::<f64>() / last_minute.len() as f64;
    (reached, mean)
}

#[test]
fn the_heating_curve_matches_the_swine_data() {
    // 4 L/min: 43 °C outflow after 18 min (§7 [S 7-4]), within 20 %.
    let (reached, _) = swine(4000.0, 30.0);
    let minutes = reached.expect("43 °C reached at 4 L/min");
    assert!((14.4..=21.6).contains(&minutes), "{minutes} min");
    // 0.5 L/min: the outflow levels off at 40.4 °C (§7 [S 7-4]); within 20 % of the rise from
    // the 37 °C start.
    let (reached, plateau) = swine(500.0, 60.0);
    assert_eq!(reached, None, "0.5 L/min never reaches 43 °C");
    assert!(
        (plateau - 40.4).abs() <= 0.2 * (40.4 - 37.0),
        "{plateau} °C"
    );
}

#[test]
fn inflow_over_45_degrees_turns_the_heater_off_while_flow_continues() {
    let mut run = lockstep(&protocol("hipec-mmc.ron"), &["heater-runaway@20m"], 4);
    fires_after_persistence(
        &mut run,
        "inflow_over_temperature",
        "inflow_temp",
        45.0,
        1.0,
    );
    // In the tick the persistence time is reached: heater off, pump running.
    assert_eq!(command(&run, "heater"), 0.0);
    assert!(
        command(&run, "inflow_pump") > 1800.0,
        "circulation continues"
    );
    // Latched: the heater stays off, the perfusate keeps flowing.
    let two_minutes = ticks(&run, 120.0);
    step(&mut run, two_minutes);
    assert_eq!(command(&run, "heater"), 0.0);
    assert!(value(&run, "mean_inflow") > 1800.0);
    assert!(value(&run, "outflow_flow") > 1500.0);
}

#[test]
fn air_stops_both_pumps_and_the_heater() {
    let mut run = lockstep(&protocol("hipec-mmc.ron"), &["air@30m"], 5);
    let onset = step_until(&mut run, 1810.0, |r| value(r, "bubble") > 0.5);
    let persist = ticks(&run, 0.02);
    step(&mut run, persist - 1);
    assert!(
        command(&run, "inflow_pump") > 0.0,
        "not before its persistence"
    );
    step(&mut run, 1);
    assert_eq!(alarm_first_tick(&run, "air_in_line"), Some(onset + persist));
    for id in ["inflow_pump", "outflow_pump", "heater"] {
        assert_eq!(command(&run, id), 0.0, "{id}");
    }
}

#[test]
fn a_blocked_outflow_stops_the_inflow_before_the_abdomen_is_overdistended() {
    let mut run = lockstep(&protocol("hipec-mmc.ron"), &["occlusion@30m"], 6);
    // The pressure climbs: first the inflow is halved, then stopped.
    fires_after_persistence(&mut run, "iap_high", "mean_iap", 20.0, 2.0);
    // Halved, at the pump's rate limit (200 mL/min per s).
    let rate_limited = ticks(&run, 5.5);
    step(&mut run, rate_limited);
    assert!(command(&run, "inflow_pump") <= 1000.0 + 1.0, "halved");
    fires_after_persistence(&mut run, "iap_critical", "mean_iap", 25.0, 1.0);
    assert_eq!(command(&run, "inflow_pump"), 0.0);
    assert!(
        command(&run, "outflow_pump") > 0.0,
        "the drain keeps drawing"
    );
    assert_eq!(
        alarm_first_tick(&run, "outflow_blocked"),
        None,
        "the pressure acted first"
    );
    let minute = ticks(&run, 60.0);
    step(&mut run, minute);
    assert_eq!(command(&run, "inflow_pump"), 0.0, "latched");
    assert!(
        value(&run, "mean_iap") < 30.0,
        "{}",
        value(&run, "mean_iap")
    );
    let critical = run
        .alarms()
        .list
        .iter()
        .find(|a| a.id == "iap_critical")
        .unwrap();
    assert_eq!(critical.priority.as_str(), "high");
}

#[test]
fn with_the_pressure_reading_frozen_the_falling_reservoir_stops_the_inflow() {
    let mut run = lockstep(
        &protocol("hipec-mmc.ron"),
        &["stuck:iap@30m", "occlusion@30m"],
        6,
    );
    let half_hour = ticks(&run, 1800.0);
    step(&mut run, half_hour);
    let stopped = step_until(&mut run, 1900.0, |r| r.commands().values[0] == 0.0);
    assert_eq!(actuator(&run, "inflow_pump"), 0);
    let by = ["outflow_blocked", "reservoir_low"]
        .into_iter()
        .find(|id| alarm_first_tick(&run, id) == Some(stopped))
        .expect("a reservoir rule stopped the inflow");
    let rule = run.alarms().list.iter().find(|a| a.id == by).unwrap();
    assert_eq!(rule.priority.as_str(), "high");
    assert!(alarm_first_tick(&run, "iap_sensor_stuck").is_some());
    assert_eq!(
        alarm_first_tick(&run, "iap_critical"),
        None,
        "the frozen reading hid it"
    );
    assert!(
        value(&run, "reservoir_volume") > 100.0,
        "stopped before it ran dry"
    );
}

#[test]
fn a_blocked_outflow_through_the_command_line_raises_the_pressure_alarms() {
    let s = run_summary(
        &protocol("hipec-mmc.ron"),
        &["--duration", "35m", "--fault", "occlusion@30m"],
    );
    let warning = alarm(&s, "iap_high").expect("pressure warning");
    assert_eq!(warning["priority"], "medium");
    assert!(f(&warning["first_s"]) > 1800.0);
    assert!(!high_alarms(&s).is_empty());
    assert!(f(&s["channels"]["mean_iap"]["max"]) > 20.0);
}

#[test]
fn a_hot_core_warns_at_39_and_turns_the_heater_off_at_40() {
    let mut run = lockstep(
        &protocol("hipec-mmc.ron"),
        &["malignant-hyperthermia@20m"],
        7,
    );
    fires_after_persistence(&mut run, "core_warm", "core_temp", 39.0, 10.0);
    assert_eq!(alarm_first_tick(&run, "core_hot"), None);
    assert!(command(&run, "heater") > 0.0, "a warning only");
    fires_after_persistence(&mut run, "core_hot", "core_temp", 40.0, 10.0);
    assert_eq!(command(&run, "heater"), 0.0);
    assert!(
        command(&run, "inflow_pump") > 1800.0,
        "circulation continues"
    );
    let priority = |id: &str| {
        run.alarms()
            .list
            .iter()
            .find(|a| a.id == id)
            .unwrap()
            .priority
            .as_str()
    };
    assert_eq!(priority("core_warm"), "medium");
    assert_eq!(priority("core_hot"), "high");
}

#[test]
fn a_lost_inflow_probe_turns_the_heater_off_within_its_persistence() {
    let mut run = lockstep(
        &protocol("hipec-mmc.ron"),
        &["channel-loss:inflow_temp@25m"],
        8,
    );
    let onset = step_until(&mut run, 1510.0, |r| {
        r.signal("inflow_temp").unwrap().1 != validity::OK
    });
    let persist = ticks(&run, 0.1);
    step(&mut run, persist - 1);
    assert!(command(&run, "heater") > 0.0, "not before its persistence");
    step(&mut run, 1);
    assert_eq!(
        alarm_first_tick(&run, "inflow_probe_failed"),
        Some(onset + persist)
    );
    assert_eq!(command(&run, "heater"), 0.0);
    assert!(command(&run, "inflow_pump") > 1800.0);
}

#[test]
fn a_stuck_inflow_probe_is_caught() {
    let s = run_summary(
        &protocol("hipec-mmc.ron"),
        &["--duration", "30m", "--fault", "stuck:inflow_temp@25m"],
    );
    let stuck = alarm(&s, "inflow_probe_stuck").expect("stuck probe alarm");
    assert_eq!(stuck["priority"], "high");
    // Detected after the probe's 30 s without change.
    let at = f(&stuck["first_s"]);
    assert!((1529.0..1531.0).contains(&at), "{at}");
}

#[test]
fn the_same_seed_gives_the_same_summary() {
    let args = ["--duration", "20m", "--seed", "9"];
    let mut a = run_summary(&protocol("hipec-oxaliplatin.ron"), &args);
    let mut b = run_summary(&protocol("hipec-oxaliplatin.ron"), &args);
    a.as_object_mut().unwrap().remove("wall_s");
    b.as_object_mut().unwrap().remove("wall_s");
    assert_eq!(a, b);
}

#[test]
fn a_lost_cavity_probe_holds_the_drug_back() {
    let s = run_summary(
        &protocol("hipec-mmc.ron"),
        &[
            "--duration",
            "35m",
            "--fault",
            "channel-loss:ip_pelvis_temp@2m",
        ],
    );
    let lost = alarm(&s, "ip_pelvis_probe_failed").expect("probe alarm");
    assert_eq!(lost["priority"], "medium");
    // Without the pelvic reading the target is not measured: heating goes on to its 30-minute
    // ceiling, and the record shows that the drug phase began without the target.
    let phases = s["phases"].as_array().unwrap();
    assert!((f(&phases[1]["start_s"]) - 1800.0).abs() < 0.02);
    let d = &s["derived"];
    assert!(d["heating_min"].is_null());
    assert_eq!(f(&d["drug_started_at_target"]), 0.0);
    assert!(
        f(&s["channels"]["outflow_temp"]["max"]) > 41.0,
        "the rest was warm"
    );
}

#[test]
fn the_oxaliplatin_protocol_answers_the_same_faults() {
    let ox = protocol("hipec-oxaliplatin.ron");
    let high = |fault: &str, duration: &str, id: &str| {
        let s = run_summary(&ox, &["--duration", duration, "--fault", fault]);
        let a = alarm(&s, id).unwrap_or_else(|| panic!("{fault}: no {id}: {}", s["alarms"]));
        assert_eq!(a["priority"], "high", "{fault}");
        assert_eq!(a["active_at_end"], true, "{fault}: latched");
        s
    };
    high("air@20m", "21m", "air_in_line");
    let s = high("heater-runaway@20m", "25m", "inflow_over_temperature");
    assert!(
        f(&s["channels"]["mean_inflow"]["in_band_fraction"]) >= 0.95,
        "flow went on"
    );
    let s = high("occlusion@20m", "22m", "iap_critical");
    assert_eq!(alarm(&s, "iap_high").unwrap()["priority"], "medium");
    let s = high("malignant-hyperthermia@15m", "60m", "core_hot");
    assert_eq!(alarm(&s, "core_warm").unwrap()["priority"], "medium");
    high("dropout:inflow_temp:10@20m", "21m", "inflow_probe_failed");
}

#[test]
fn a_cavity_cooling_below_40_5_degrees_in_the_drug_phase_is_sub_therapeutic() {
    // The default run stays above it (lowest 41.0 °C in the drug phase).
    let s = run_summary(&protocol("hipec-mmc.ron"), &["--duration", "40m"]);
    for id in ["ip_upper_subtherapeutic", "ip_pelvis_subtherapeutic"] {
        assert!(alarm(&s, id).is_none(), "{id}: {}", s["alarms"]);
    }
    // A heater whose channel is lost in the drug phase falls to off; the cavity cools (§7).
    let s = run_summary(
        &protocol("hipec-mmc.ron"),
        &["--fault", "channel-loss:heater@30m", "--duration", "70m"],
    );
    let drug_start = f(&s["phases"][1]["start_s"]);
    for id in ["ip_upper_subtherapeutic", "ip_pelvis_subtherapeutic"] {
        let a = alarm(&s, id).unwrap_or_else(|| panic!("{id}: {}", s["alarms"]));
        assert_eq!(a["priority"], "medium");
        assert!(f(&a["first_s"]) > 1800.0 && f(&a["first_s"]) > drug_start);
    }
}
