//! `perfuse models`: it lists every shipped model, and what it lists is what the simulator uses
//! (the parameter names it accepts, their defaults and ranges).

use crate::common::{perfuse, protocol, stdout};
use perfuse_core::config;
use perfuse_core::hal::{CommandFrame, Hal, SensorFrame};
use perfuse_hal_sim::SimHal;
use perfuse_hal_sim::model;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The shipped models, one shipped protocol on each (a protocol of every model).
const SHIPPED: &[(&str, &str)] = &[
    ("kidney", "kidney-nmp.ron"),
    ("lung", "lung-evlp.ron"),
    ("heart", "heart-hope.ron"),
    ("liver", "liver-hope.ron"),
    ("donor", "ta-nrp.ron"),
    ("limb", "ilp-arm.ron"),
    ("cavity", "hithoc.ron"),
    ("bypass", "cpb-adult.ron"),
    ("ecmo", "ecmo-va.ron"),
];

fn listing() -> Value {
    let out = perfuse(&["models", "--json"]);
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("perfuse models --json is JSON")
}

fn listed<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("`{name}` is not listed"))
}

#[test]
fn every_shipped_model_is_listed_with_what_the_simulator_describes() {
    let json = listing();
    let names: BTreeSet<&str> = json["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let shipped: BTreeSet<&str> = SHIPPED.iter().map(|(m, _)| *m).collect();
    assert_eq!(names, shipped);
    for (name, file) in SHIPPED {
        let loaded = config::load(&protocol(file)).unwrap();
        assert_eq!(loaded.file.simulator.model, *name, "{file}");
        let info = model::find(name).unwrap().info();
        let m = listed(&json, name);
        let params = m["params"].as_array().unwrap();
        assert_eq!(params.len(), info.params.len(), "{name}");
        for (p, q) in params.iter().zip(&info.params) {
            assert_eq!(p["name"], q.name.as_str());
            assert_eq!(p["default"].as_f64(), Some(q.default), "{name}.{}", q.name);
            assert_eq!(p["min"].as_f64(), Some(q.min));
            assert_eq!(p["max"].as_f64(), Some(q.max));
            assert_eq!(p["unit"], q.unit.as_str());
            assert!(!p["meaning"].as_str().unwrap().is_empty());
            assert!(
                !p["source"].as_str().unwrap().is_empty(),
                "{name}.{}",
                q.name
            );
        }
        let events: Vec<&str> = m["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        let info_events: Vec<&str> = info.events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(events, info_events, "{name}");
        assert!(!m["sites"].as_array().unwrap().is_empty());
    }
    // The text form names every model and every parameter too.
    let out = perfuse(&["models"]);
    let text = stdout(&out);
    for (name, _) in SHIPPED {
        assert!(text.contains(&format!("{name}: ")), "{name} in:\n{text}");
    }
    assert!(
        text.contains("r_inf_mmhg_min_ml") && text.contains("vf "),
        "{text}"
    );
    assert!(text.contains("Building block oxygenator: "), "{text}");
}

#[test]
fn the_oxygenator_is_listed_with_the_parameters_the_shipped_circuits_give_it() {
    let json = listing();
    let oxy = &json["components"][0];
    assert_eq!(oxy["name"], "oxygenator");
    // The bypass model's oxygenator parameters default to the building block's defaults.
    let bypass = listed(&json, "bypass");
    let default = |m: &Value, name: &str| {
        m["params"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))["default"]
            .as_f64()
            .unwrap()
    };
    for (component, model) in [
        ("o2_efficiency", "oxy_o2_efficiency"),
        ("o2_sweep_ratio", "oxy_sweep_ratio"),
        ("rated_flow_ml_min", "oxy_rated_ml_min"),
        ("co2_slope_ml_l_mmhg", "co2_slope_ml_l_mmhg"),
        ("co2_efficiency", "oxy_co2_efficiency"),
        ("resistance_mmhg_min_ml", "oxy_r_mmhg_min_ml"),
        ("gas_tau_s", "gas_tau_s"),
        ("failure_tau_s", "oxy_failure_tau_s"),
        ("failure_floor", "oxy_failure_floor"),
        ("clot_doubling_s", "clot_doubling_s"),
    ] {
        assert_eq!(
            default(oxy, component),
            default(bypass, model),
            "{component}"
        );
    }
    // Both patient circuits take FiO2 and sweep at their oxygenator site.
    for name in ["bypass", "ecmo"] {
        let m = listed(&json, name);
        let site = m["sites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "oxygenator")
            .unwrap_or_else(|| panic!("{name} has an oxygenator site"));
        assert_eq!(
            site["actuators"],
            serde_json::json!(["Fio2", "GasFlow"]),
            "{name}"
        );
    }
}

/// Runs `protocol`'s device for a minute of device time with no commands: every frame.
fn frames(file: &config::ProtocolFile) -> Vec<u64> {
    let mut hal = SimHal::new(file, 3, &[]).unwrap_or_else(|e| panic!("{e}"));
    let mut frame = SensorFrame::default();
    let mut seen = Vec::new();
    hal.write(&CommandFrame::default());
    for _ in 0..600 {
        hal.advance(0.1);
        hal.read(&mut frame);
        seen.extend(frame.values.iter().map(|v| v.to_bits()));
    }
    seen
}

#[test]
fn the_listed_names_and_defaults_are_the_ones_the_simulator_takes() {
    let json = listing();
    let probes: Vec<&str> = json["probe_params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for (name, file) in SHIPPED {
        let m = listed(&json, name);
        let params = m["params"].as_array().unwrap();
        let loaded = config::load(&protocol(file)).unwrap();

        // An unknown name is refused, and the error lists exactly the listed names.
        let mut wrong = loaded.file.clone();
        wrong
            .simulator
            .params
            .get_or_insert_with(BTreeMap::new)
            .insert("no_such_param".into(), 1.0);
        let err = SimHal::new(&wrong, 1, &[]).err().unwrap();
        let allowed = err.split("allowed: ").nth(1).expect(&err);
        let accepted: BTreeSet<&str> = allowed.split(", ").collect();
        let mut names: BTreeSet<&str> =
            params.iter().map(|p| p["name"].as_str().unwrap()).collect();
        names.extend(&probes);
        assert_eq!(accepted, names, "{name}");

        // Every parameter the protocol leaves out, given its listed default (in the protocol's
        // mode), changes nothing: the device's frames are identical to the bit.
        let given = loaded.file.simulator.params_for(None).unwrap();
        let other_mode = m["mode"]
            .as_str()
            .and_then(|mode| given.get(mode))
            .is_some_and(|v| {
                let listed_mode = params.iter().find(|p| p["name"] == m["mode"]).unwrap();
                Some(*v) != listed_mode["default"].as_f64()
            });
        let mut filled = given.clone();
        for p in params {
            let key = if other_mode {
                "other_mode_default"
            } else {
                "default"
            };
            filled
                .entry(p["name"].as_str().unwrap().to_string())
                .or_insert(p[key].as_f64().unwrap());
        }
        assert!(
            filled.len() > given.len(),
            "{name}: nothing left to default"
        );
        let mut explicit = loaded.file.clone();
        explicit.simulator.params = Some(filled);
        explicit.simulator.scenarios = None;
        explicit.simulator.default_scenario = None;
        assert!(
            frames(&loaded.file) == frames(&explicit),
            "{name}: the listed defaults are not the simulator's"
        );
    }
}
