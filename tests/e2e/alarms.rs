//! The alarm system through the command line, one test per finding of the audit (issue 17): a
//! failed sensor never hides an alarm, an acknowledged alarm that escalates sounds again, the
//! supply's failure is alarmed. Pause, acknowledge and reset are in `operator.rs`, the lost
//! detectors in the fault matrix, the log and the timing in the core's unit tests.

use crate::common::*;

#[test]
fn losing_a_sensor_keeps_its_active_alarm_and_raises_the_sensor_alarm() {
    // Warm perfusate: `perfusate_hot` (HIGH) from 1 min. The probe is lost at 10 min.
    let s = run_summary(
        &protocol("kidney-hmp.ron"),
        &[
            "--scenario",
            "warm_perfusate",
            "--duration",
            "15m",
            "--fault",
            "channel-loss:perfusate_temp@10m",
        ],
    );
    let hot = alarm(&s, "perfusate_hot").unwrap();
    assert_eq!(
        hot["active_at_end"], true,
        "nobody can tell it is cool again"
    );
    assert_eq!(hot["count"], 1);
    let failed = alarm(&s, "perfusate_temp_sensor_failed")
        .unwrap_or_else(|| panic!("no sensor alarm: {}", s["alarms"]));
    assert_eq!(
        failed["priority"], "high",
        "the highest of the rules it feeds"
    );
    assert_eq!(failed["technical"], true);
    // Within its staleness time (1 s) of the loss.
    let at = f(&failed["first_s"]);
    assert!((600.0..=601.02).contains(&at), "{at}");
}

#[test]
fn an_acknowledged_alarm_that_escalates_sounds_again_with_its_new_priority() {
    // Too little ice: `ice_warm` (LOW) at 5 min, acknowledged at 6 min, MEDIUM at 20 min.
    let dir = tempfile::tempdir().unwrap();
    let cmds = dir.path().join("commands.ron");
    std::fs::write(
        &cmds,
        r#"[(at_s: 360.0, command: Acknowledge("ice_warm"))]"#,
    )
    .unwrap();
    let s = run_summary(
        &protocol("kidney-hmp.ron"),
        &[
            "--scenario",
            "warm_ice",
            "--duration",
            "21m",
            "--commands",
            cmds.to_str().unwrap(),
        ],
    );
    let entry = log_entries(&s, "ice_warm")[0];
    assert_eq!(f(&entry["acknowledged_s"]), 360.0);
    assert_eq!(f(&entry["escalated_s"]), 1200.0);
    assert_eq!(entry["escalated_to"], "medium");
    assert_eq!(alarm(&s, "ice_warm").unwrap()["highest_priority"], "medium");
    assert_eq!(s["audio"]["sounding_priority_at_end"], "medium");
    let timeline = s["audio"]["timeline"].as_array().unwrap();
    let last = timeline.last().unwrap();
    assert_eq!(f(&last["t_s"]), 1200.0, "{timeline:?}");
    assert_eq!(last["priority"], "medium");
}

#[test]
fn a_mains_loss_raises_the_power_failure_alarms() {
    // §9: switch to battery and alarm MEDIUM; HIGH at low battery. The battery lasts an hour
    // from full: 20 % is left 48 min after the loss.
    let s = run_summary(
        &protocol("kidney-hmp.ron"),
        &["--duration", "60m", "--fault", "mains-loss@10m"],
    );
    let mains = alarm(&s, "mains_lost").unwrap_or_else(|| panic!("{}", s["alarms"]));
    assert_eq!(mains["priority"], "medium");
    assert_eq!(mains["technical"], true);
    assert!((601.0..=601.02).contains(&f(&mains["first_s"])), "{mains}");
    let battery = alarm(&s, "battery_low").unwrap();
    assert_eq!(battery["priority"], "high");
    assert_eq!(battery["technical"], true);
    let at = f(&battery["first_s"]);
    assert!((600.0 + 2870.0..600.0 + 2890.0).contains(&at), "{at}");
    // Control goes on: the pump keeps perfusing on battery.
    assert!(f(&s["channels"]["mean_flow"]["mean"]) > 50.0);
    // Without the fault, nothing.
    let quiet = run_summary(&protocol("kidney-hmp.ron"), &["--duration", "20m"]);
    assert!(alarm(&quiet, "mains_lost").is_none());
}

#[test]
fn equipment_conditions_are_technical() {
    let technical = |file: &str, id: &str| {
        let loaded = perfuse_core::config::load(&protocol(file)).unwrap_or_else(|e| panic!("{e}"));
        let rule = loaded.plan.rules.iter().find(|r| r.id == id);
        rule.unwrap_or_else(|| panic!("{file}: no rule {id}"))
            .technical
    };
    for file in [
        "kidney-hmp.ron",
        "ta-nrp.ron",
        "lung-evlp.ron",
        "hithoc.ron",
    ] {
        assert!(
            technical(file, "air_in_line"),
            "{file}: air is the circuit's"
        );
    }
    assert!(technical("kidney-hmp.ron", "mains_lost"));
    assert!(technical("hipec-mmc.ron", "reservoir_low"));
    assert!(technical("hithoc.ron", "outflow_blocked"));
    assert!(technical("ilp-leg.ron", "line_over_pressure_critical"));
    assert!(!technical("kidney-hmp.ron", "perfusate_hot"), "the organ's");
    assert!(
        !technical("lung-evlp.ron", "perfusate_loss"),
        "oedema is the lung's"
    );
}
