//! The fault matrix: shipped protocols × the fault classes that apply to them. Each row names
//! the expected alarm, its priority, the safe state the actuators must be in when it is raised,
//! and the bound in ticks from the fault to the alarm; each row is run and asserted here. The
//! README's table is rendered from these rows, and a test keeps it from drifting (run with
//! `PERFUSE_BLESS=1` to rewrite it after changing a row).

mod common;
use common::*;
use std::path::PathBuf;

/// What an actuator's command must be when the alarm is raised.
#[derive(Clone, Copy)]
enum Expect {
    Is(f64),
    Above(f64),
}

struct Case {
    protocol: &'static str,
    /// The protocol's plugin replaced by the faulty test plugin in this mode.
    faulty_plugin: Option<u32>,
    fault: &'static str,
    class: &'static str,
    alarm: &'static str,
    priority: &'static str,
    safe: &'static [(&'static str, Expect)],
    /// Most ticks from the fault to the alarm: detection plus the rule's persistence.
    bound: u64,
}

const fn case(
    protocol: &'static str,
    fault: &'static str,
    class: &'static str,
    alarm: &'static str,
    priority: &'static str,
    safe: &'static [(&'static str, Expect)],
    bound: u64,
) -> Case {
    Case {
        protocol,
        faulty_plugin: None,
        fault,
        class,
        alarm,
        priority,
        safe,
        bound,
    }
}

const fn plugin(mode: u32, class: &'static str, bound: u64) -> Case {
    Case {
        protocol: "kidney-hmp.ron",
        faulty_plugin: Some(mode),
        fault: "",
        class,
        alarm: "plugin_fault",
        priority: "high",
        safe: &[("pump", Expect::Above(0.0))],
        bound,
    }
}

use Expect::{Above, Is};

const MATRIX: &[Case] = &[
    // Kidney HMP: a stopped cold kidney is in static cold storage, the safe side.
    case(
        "kidney-hmp.ron",
        "air@10m",
        "air in line",
        "air_in_line",
        "high",
        &[("pump", Is(0.0)), ("arterial_clamp", Is(1.0))],
        3,
    ),
    case(
        "kidney-hmp.ron",
        "occlusion@10m",
        "occlusion",
        "over_pressure_critical",
        "high",
        &[("pump", Is(0.0))],
        300,
    ),
    case(
        "kidney-hmp.ron",
        "stuck:arterial_pressure@10m",
        "sensor stuck",
        "pressure_sensor_stuck",
        "high",
        &[("pump", Is(0.0))],
        202,
    ),
    case(
        "kidney-hmp.ron",
        "dropout:arterial_pressure@10m",
        "sensor dropout (NaN)",
        "pressure_sensor_failed",
        "high",
        &[("pump", Is(0.0))],
        12,
    ),
    case(
        "kidney-hmp.ron",
        "channel-loss:arterial_pressure@10m",
        "HAL channel lost (sensor)",
        "pressure_sensor_failed",
        "high",
        &[("pump", Is(0.0))],
        12,
    ),
    case(
        "kidney-hmp.ron",
        "pump-stall@10m",
        "pump stall",
        "no_pressure",
        "high",
        &[],
        1500,
    ),
    case(
        "kidney-hmp.ron",
        "channel-loss:pump@10m",
        "HAL channel lost (actuator)",
        "no_pressure",
        "high",
        &[],
        1500,
    ),
    // Kidney NMP: a warm kidney keeps its flow; the heater is what goes. A runaway heater takes
    // about 2 minutes to push the perfusate from 36 to 38 °C.
    case(
        "kidney-nmp.ron",
        "air@20m",
        "air in line",
        "air_in_line",
        "high",
        &[("pump", Is(0.0)), ("arterial_clamp", Is(1.0))],
        3,
    ),
    case(
        "kidney-nmp.ron",
        "heater-runaway@20m",
        "heater runaway",
        "over_temperature",
        "high",
        &[("heater", Is(0.0)), ("pump", Above(100.0))],
        15_000,
    ),
    case(
        "kidney-nmp.ron",
        "stuck:arterial_pressure@20m",
        "sensor stuck",
        "pressure_sensor_stuck",
        "high",
        &[("pump", Above(100.0))],
        202,
    ),
    case(
        "kidney-nmp.ron",
        "dropout:arterial_pressure@20m",
        "sensor dropout (NaN)",
        "pressure_sensor_failed",
        "high",
        &[("pump", Above(100.0))],
        12,
    ),
    case(
        "kidney-nmp.ron",
        "pump-stall@20m",
        "pump stall",
        "no_pressure",
        "high",
        &[],
        1500,
    ),
    // Heart.
    case(
        "heart-nmp.ron",
        "air@30m",
        "air in line",
        "air_in_line",
        "high",
        &[("pump", Is(0.0)), ("arterial_clamp", Is(1.0))],
        3,
    ),
    case(
        "heart-nmp.ron",
        "vf@30m",
        "ventricular fibrillation",
        "ventricular_fibrillation",
        "high",
        &[("pump", Above(0.0))],
        400,
    ),
    case(
        "heart-nmp.ron",
        "stuck:aortic_pressure@30m",
        "sensor stuck",
        "pressure_sensor_stuck",
        "high",
        &[("pump", Above(0.0))],
        202,
    ),
    case(
        "heart-nmp.ron",
        "dropout:aortic_pressure@30m",
        "sensor dropout (NaN)",
        "pressure_sensor_failed",
        "high",
        &[("pump", Above(0.0))],
        12,
    ),
    case(
        "heart-hope.ron",
        "air@30m",
        "air in line",
        "air_in_line",
        "high",
        &[("pump", Is(0.0)), ("arterial_clamp", Is(1.0))],
        3,
    ),
    case(
        "heart-hope.ron",
        "stuck:aortic_pressure@30m",
        "sensor stuck",
        "pressure_sensor_stuck",
        "high",
        &[("pump", Is(0.0))],
        202,
    ),
    // Lung.
    case(
        "lung-evlp.ron",
        "air@60m",
        "air in line",
        "air_in_line",
        "high",
        &[("pump", Is(0.0)), ("pa_clamp", Is(1.0))],
        3,
    ),
    case(
        "lung-evlp.ron",
        "stuck:pa_flow@60m",
        "sensor stuck",
        "flow_sensor_stuck",
        "high",
        &[("pump", Above(0.0))],
        1_000,
    ),
    case(
        "lung-evlp.ron",
        "channel-loss:pa_flow@60m",
        "HAL channel lost (sensor)",
        "flow_sensor_failed",
        "high",
        &[("pump", Above(0.0))],
        12,
    ),
    case(
        "lung-evlp.ron",
        "ventilator_failure@60m",
        "ventilator failure",
        "ventilator_failure",
        "high",
        &[("pump", Above(0.0))],
        2_200,
    ),
    // The plugin, for any protocol (here kidney HMP): contained, control goes on.
    plugin(1, "plugin panic", 1),
    plugin(2, "plugin returns non-finite", 1),
    plugin(4, "plugin hang (time budget)", 1),
];

/// Time of the fault: from the specification, or 10 min for the faulty plugin's rows.
fn fault_s(c: &Case) -> f64 {
    match c.fault.rsplit_once('@') {
        Some((_, t)) => perfuse_core::config::parse_duration(t).unwrap(),
        None => 600.0,
    }
}

fn protocol_file(c: &Case, dir: &tempfile::TempDir) -> PathBuf {
    let Some(mode) = c.faulty_plugin else {
        return protocol(c.protocol);
    };
    let text = std::fs::read_to_string(protocol(c.protocol)).unwrap();
    let text = text
        .replace(
            r#"plugin: (id: "kidney", version: "^0.1"),"#,
            r#"plugin: (id: "faulty", version: "^0.1"),"#,
        )
        .replace(
            r#""kidney_mass_g": 150.0, // §10.2 [T]"#,
            &format!(r#""mode": {mode}.0, "at_s": 600.0, "sleep_s": 0.8,"#),
        );
    let file = dir.path().join("faulty.ron");
    std::fs::write(&file, text).unwrap();
    file
}

fn run_case(c: &Case) {
    let dir = tempfile::tempdir().unwrap();
    let faults: Vec<&str> = if c.fault.is_empty() {
        vec![]
    } else {
        vec![c.fault]
    };
    let mut run = lockstep(&protocol_file(c, &dir), &faults, 1);
    let fault_tick = ticks(&run, fault_s(c));
    let alarm = run
        .alarms()
        .list
        .iter()
        .position(|a| a.id == c.alarm)
        .unwrap_or_else(|| panic!("{}: no alarm `{}`", c.protocol, c.alarm));
    while run.tick() <= fault_tick + c.bound && !run.alarms().list[alarm].active {
        run.step_lockstep();
    }
    let a = &run.alarms().list[alarm];
    let label = format!("{} × {}", c.protocol, c.class);
    let raised = a
        .first_tick
        .unwrap_or_else(|| panic!("{label}: `{}` not raised within {} ticks", c.alarm, c.bound));
    assert!(
        raised >= fault_tick,
        "{label}: raised at {raised}, before the fault at {fault_tick}"
    );
    assert!(
        raised - fault_tick <= c.bound,
        "{label}: {} ticks, bound {}",
        raised - fault_tick,
        c.bound
    );
    assert_eq!(a.base_priority.as_str(), c.priority, "{label}");
    for (id, expect) in c.safe {
        let v = run.commands().values[actuator(&run, id)];
        match expect {
            Is(x) => assert_eq!(v, *x, "{label}: {id}"),
            Above(x) => assert!(v > *x, "{label}: {id} = {v}, expected above {x}"),
        }
    }
}

fn run_rows(protocol: &str, faulty: bool) {
    let rows: Vec<&Case> = MATRIX
        .iter()
        .filter(|c| c.protocol == protocol && c.faulty_plugin.is_some() == faulty)
        .collect();
    assert!(!rows.is_empty());
    for c in rows {
        run_case(c);
    }
}

#[test]
fn kidney_hmp_rows() {
    run_rows("kidney-hmp.ron", false);
}

#[test]
fn kidney_nmp_rows() {
    run_rows("kidney-nmp.ron", false);
}

#[test]
fn heart_rows() {
    run_rows("heart-nmp.ron", false);
    run_rows("heart-hope.ron", false);
}

#[test]
fn lung_rows() {
    run_rows("lung-evlp.ron", false);
}

#[test]
fn plugin_rows() {
    run_rows("kidney-hmp.ron", true);
}

/// The matrix as the README shows it.
fn table() -> String {
    let mut out = String::from(
        "| protocol | fault (`--fault`) | class | alarm | priority | actuators when raised | bound (ticks) |\n|---|---|---|---|---|---|---|\n",
    );
    for c in MATRIX {
        let fault = match c.faulty_plugin {
            Some(mode) => format!("faulty plugin, mode {mode}, at 10m"),
            None => format!("`{}`", c.fault),
        };
        let safe: Vec<String> = c
            .safe
            .iter()
            .map(|(id, e)| match e {
                Is(v) => format!("{id} = {v}"),
                Above(v) => format!("{id} > {v}"),
            })
            .collect();
        let safe = if safe.is_empty() {
            "—".to_string()
        } else {
            safe.join(", ")
        };
        out.push_str(&format!(
            "| {} | {fault} | {} | `{}` | {} | {safe} | {} |\n",
            c.protocol, c.class, c.alarm, c.priority, c.bound
        ));
    }
    out
}

#[test]
fn the_readme_shows_this_matrix() {
    const START: &str = "<!-- fault-matrix:start -->\n";
    const END: &str = "<!-- fault-matrix:end -->";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (before, rest) = readme
        .split_once(START)
        .expect("README has the fault-matrix markers");
    let (current, after) = rest.split_once(END).expect("README has the end marker");
    let wanted = table();
    if std::env::var_os("PERFUSE_BLESS").is_some() {
        std::fs::write(&path, format!("{before}{START}{wanted}{END}{after}")).unwrap();
    } else {
        assert_eq!(
            current, wanted,
            "README's fault matrix is stale: run with PERFUSE_BLESS=1"
        );
    }
}
