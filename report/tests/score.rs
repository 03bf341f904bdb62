//! The quality score on hand-made records whose answer is worked out by hand here.

mod common;
use common::{Ev, KIDNEY_HMP, score_json, write};

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-3, "{what}: {a}, expected {b}");
}

/// Kidney HMP has one phase with two bands: systolic pressure 27–33 mmHg (settle 120 s) and
/// perfusate 1–8 °C (settle 900 s).
#[test]
fn every_part_of_the_score_has_its_known_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.sqlite");
    // 0..=1800 s at 1 Hz, the 10 samples at 1500..=1509 s missing.
    let times = (0..=1800)
        .filter(|t| !(1500..=1509).contains(t))
        .map(f64::from);
    let value = |id: &str, t: f64| match id {
        // In band from 60 s, out (40 mmHg) over 1000..=1099 s.
        "systolic_pressure" if t < 60.0 => Some(0.0),
        "systolic_pressure" if (1000.0..1100.0).contains(&t) => Some(40.0),
        "systolic_pressure" => Some(30.0),
        // Above the band until 1200 s: reached 300 s after its settle time.
        "perfusate_temp" if t < 1200.0 => Some(9.0),
        "perfusate_temp" => Some(6.0),
        _ => None,
    };
    let events = [
        Ev::new(0.0, "phase", "perfusion"),
        Ev::alarm(1010.0, "over_pressure_critical", "raised", "high"),
        Ev::alarm(1020.0, "over_pressure_critical", "acknowledged", "high"),
        Ev::alarm(1100.0, "over_pressure_critical", "ended", "high"),
        Ev::alarm(1500.0, "ice_warm", "raised", "low"),
        Ev {
            accepted: Some(true),
            ..Ev::new(1020.0, "operator", "acknowledge over_pressure_critical")
        },
        Ev {
            accepted: Some(true),
            ..Ev::new(1030.0, "operator", "setpoint systolic_pressure 29")
        },
        Ev {
            accepted: Some(false),
            ..Ev::new(1040.0, "operator", "setpoint systolic_pressure 80")
        },
        Ev::new(1200.0, "plugin_fault", "the plugin returned an error"),
    ];
    write(
        &path,
        KIDNEY_HMP,
        "perfusion",
        times,
        value,
        &events,
        Some(1800.0),
    );
    let j = score_json(&path);
    let p = &j["parts"];

    // Systolic: 1681 samples from 120 s, less 10 missing = 1671; 100 out of band. Reached at
    // 60 s, within 120 s: timeliness 1.
    let bands = p["targets"]["bands"].as_array().unwrap();
    assert_eq!(bands.len(), 2);
    let band = |id: &str| bands.iter().find(|b| b["signal"] == id).unwrap().clone();
    let sys = &band("systolic_pressure");
    assert_eq!(sys["samples_judged"], 1671);
    close(
        sys["time_to_target_s"].as_f64().unwrap(),
        60.0,
        "systolic time to band",
    );
    let sys_points = 25.0 * (0.8 * 1571.0 / 1671.0 + 0.2 * 1.0);
    close(
        sys["points"].as_f64().unwrap(),
        sys_points,
        "systolic points",
    );
    // Perfusate: 901 samples from 900 s, less 10 = 891; in band from 1200 s: 601 - 10 = 591.
    // Reached at 1200 s, 300 s late over a window of max(900, 300) s: timeliness 2/3.
    let tmp = &band("perfusate_temp");
    assert_eq!(tmp["samples_judged"], 891);
    close(
        tmp["timeliness"].as_f64().unwrap(),
        0.667,
        "perfusate timeliness",
    );
    let tmp_points = 25.0 * (0.8 * 591.0 / 891.0 + 0.2 * 2.0 / 3.0);
    close(
        tmp["points"].as_f64().unwrap(),
        tmp_points,
        "perfusate points",
    );
    close(
        p["targets"]["points"].as_f64().unwrap(),
        sys_points + tmp_points,
        "targets",
    );

    // Alarms: high 90 s (4 + 1.5 x 0.5), low still active at the end, 300 s (0.25 + 5 x 0.02).
    assert_eq!(p["alarms"]["count"]["high"], 1);
    assert_eq!(p["alarms"]["count"]["low"], 1);
    close(
        p["alarms"]["minutes"]["high"].as_f64().unwrap(),
        1.5,
        "high minutes",
    );
    close(
        p["alarms"]["minutes"]["low"].as_f64().unwrap(),
        5.0,
        "low minutes",
    );
    let alarms = 20.0 - (4.0 + 0.75) - (0.25 + 0.1);
    close(p["alarms"]["points"].as_f64().unwrap(), alarms, "alarms");

    // Two setpoint commands (one refused) count; the acknowledgement does not.
    assert_eq!(p["interventions"]["operator_commands"], 2);
    close(
        p["interventions"]["points"].as_f64().unwrap(),
        8.0,
        "interventions",
    );
    close(
        p["plugin_faults"]["points"].as_f64().unwrap(),
        5.0,
        "faults",
    );

    // 1791 of 1801 samples, the gap 10 s.
    assert_eq!(p["data"]["samples_present"], 1791);
    assert_eq!(p["data"]["samples_expected"], 1801);
    close(p["data"]["largest_gap_s"].as_f64().unwrap(), 10.0, "gap");
    let data = 10.0 * 1791.0 / 1801.0;
    close(p["data"]["points"].as_f64().unwrap(), data, "data");

    let total = sys_points + tmp_points + alarms + 8.0 + 5.0 + data;
    close(j["total"].as_f64().unwrap(), total, "total");
    assert_eq!(j["score"], total.round() as i64);
    // 23.80 + 16.60 + 14.90 + 8 + 5 + 9.94 = 78.25
    assert_eq!(j["score"], 78);
}

#[test]
fn a_clean_run_scores_100_and_a_band_never_reached_scores_no_timeliness() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.sqlite");
    let value = |id: &str, _t: f64| match id {
        "systolic_pressure" => Some(30.0),
        "perfusate_temp" => Some(4.0),
        _ => None,
    };
    let times = || (0..=1000).map(f64::from);
    write(
        &clean,
        KIDNEY_HMP,
        "perfusion",
        times(),
        value,
        &[],
        Some(1000.0),
    );
    let j = score_json(&clean);
    assert_eq!(j["score"], 100);
    close(j["total"].as_f64().unwrap(), 100.0, "total");

    // The perfusate never cools into its band; the run is interrupted (no end): the data part
    // expects samples only up to the last one, and three plugin faults floor their part at 0.
    let warm = dir.path().join("warm.sqlite");
    let value = |id: &str, _t: f64| match id {
        "systolic_pressure" => Some(30.0),
        "perfusate_temp" => Some(12.0),
        _ => None,
    };
    let faults: Vec<Ev> = (1..=3)
        .map(|i| Ev::new(f64::from(i) * 100.0, "plugin_fault", "the plugin panicked"))
        .collect();
    write(
        &warm,
        KIDNEY_HMP,
        "perfusion",
        times(),
        value,
        &faults,
        None,
    );
    let j = score_json(&warm);
    let p = &j["parts"];
    let bands = p["targets"]["bands"].as_array().unwrap();
    let tmp = bands
        .iter()
        .find(|b| b["signal"] == "perfusate_temp")
        .unwrap();
    assert_eq!(tmp["time_to_target_s"], serde_json::Value::Null);
    close(
        tmp["points"].as_f64().unwrap(),
        0.0,
        "perfusate never in band",
    );
    close(p["targets"]["points"].as_f64().unwrap(), 25.0, "targets");
    close(
        p["plugin_faults"]["points"].as_f64().unwrap(),
        0.0,
        "faults",
    );
    assert_eq!(p["data"]["samples_expected"], 1001);
    assert_eq!(j["score"], 25 + 20 + 10 + 10);
}
