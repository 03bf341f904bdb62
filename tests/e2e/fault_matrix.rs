//! The fault matrix: shipped protocols × the fault classes that apply to them. Each row names
//! the expected alarm, its priority, the safe state the actuators must be in when it is raised,
//! and the bound in ticks from the fault to the alarm; each row is run and asserted here. The
//! README's table is rendered from these rows, and a test keeps it from drifting (run with
//! `PERFUSE_BLESS=1` to rewrite it after changing a row).

use crate::common::*;
use std::path::PathBuf;

/// What an actuator's command must be when the alarm is raised.
#[derive(Clone, Copy)]
enum Expect {
    Is(f64),
    Above(f64),
    /// A `Limit` cap: the command is at most this.
    AtMost(f64),
}

struct Case {
    protocol: &'static str,
    /// The protocol's plugin replaced by the faulty test plugin in this mode.
    faulty_plugin: Option<u32>,
    fault: &'static str,
    /// A second fault after the first (empty: none): the event a lost detector would have seen.
    /// The actuators must still be as `safe` says a second after it.
    then: &'static str,
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
        then: "",
        class,
        alarm,
        priority,
        safe,
        bound,
    }
}

/// A row whose fault must raise no alarm at all within `bound` ticks.
const fn no_alarm(
    protocol: &'static str,
    fault: &'static str,
    class: &'static str,
    safe: &'static [(&'static str, Expect)],
    bound: u64,
) -> Case {
    case(protocol, fault, class, "", "", safe, bound)
}

/// A detector lost, then the event it detects: the loss's alarm within `bound` ticks, with the
/// actuators as the event itself would leave them, and still so after the event.
const fn lost_then(
    protocol: &'static str,
    fault: &'static str,
    then: &'static str,
    alarm: &'static str,
    safe: &'static [(&'static str, Expect)],
    bound: u64,
) -> Case {
    Case {
        then,
        ..case(
            protocol,
            fault,
            "detector lost, then air",
            alarm,
            "high",
            safe,
            bound,
        )
    }
}

/// An actuator's channel lost: it hears no command, and when its command's time to live runs out
/// the device puts it in its safe state (stopped, or holding its last command) and reports that
/// it did. The bound is that time to live plus the kind's persistence and one tick for the
/// device's frame: a pump that holds is found as soon as one that stops.
const fn actuator_lost(
    protocol: &'static str,
    fault: &'static str,
    alarm: &'static str,
    safe: &'static [(&'static str, Expect)],
    bound: u64,
) -> Case {
    case(
        protocol,
        fault,
        "HAL channel lost (actuator)",
        alarm,
        "high",
        safe,
        bound,
    )
}

/// Every probe of the temperature a heater's loop controls lost: HIGH, heater off, flow on.
const fn probes_lost(
    protocol: &'static str,
    fault: &'static str,
    alarm: &'static str,
    safe: &'static [(&'static str, Expect)],
    bound: u64,
) -> Case {
    case(
        protocol,
        fault,
        "every probe of the controlled temperature lost",
        alarm,
        "high",
        safe,
        bound,
    )
}

const fn plugin(mode: u32, class: &'static str, bound: u64) -> Case {
    Case {
        protocol: "kidney-hmp.ron",
        faulty_plugin: Some(mode),
        fault: "",
        then: "",
        class,
        alarm: "plugin_fault",
        priority: "high",
        safe: &[("pump", Expect::Above(0.0))],
        bound,
    }
}

use Expect::{Above, AtMost, Is};

const PUMP_CLAMP: &[(&str, Expect)] = &[("pump", Is(0.0)), ("arterial_clamp", Is(1.0))];
const HIPEC_SAFE: &[(&str, Expect)] = &[
    ("inflow_pump", Is(0.0)),
    ("outflow_pump", Is(0.0)),
    ("heater", Is(0.0)),
];

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
    // A 0.1-s spike far out of range is shorter than the failure rule's 0.1-s persistence: a
    // glitch, not a failure; nothing is raised and the pump runs on.
    no_alarm(
        "kidney-hmp.ron",
        "spike:arterial_pressure:500@10m",
        "sensor spike",
        &[("pump", Above(0.0))],
        1_000,
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
    // A drifting probe: the loop follows it, the perfusate cools, the redundant probe sees it;
    // 1 °C apart after 2-3 min, then the 30-s persistence.
    case(
        "kidney-nmp.ron",
        "drift:perfusate_temp:0.5@20m",
        "sensor drift",
        "temperature_probes_disagree",
        "medium",
        &[("pump", Above(100.0))],
        24_000,
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
    no_alarm(
        "heart-nmp.ron",
        "spike:aortic_pressure:500@30m",
        "sensor spike",
        &[("pump", Above(0.0))],
        1_000,
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
    // Liver NMP (fault after the warm-up, which ends by 30 min): a warm liver keeps whatever inflow
    // is safe; the heater is what goes. The occlusion raises both beds' resistance; the HA
    // pressure (1-s mean) passes 100 mmHg within a second, then 2 s of persistence.
    case(
        "liver-nmp.ron",
        "air@40m",
        "air in line",
        "air_in_ha_line",
        "high",
        &[("ha_pump", Is(0.0)), ("ha_clamp", Is(1.0))],
        3,
    ),
    case(
        "liver-nmp.ron",
        "occlusion@40m",
        "occlusion",
        "ha_over_pressure_critical",
        "high",
        &[("ha_pump", Is(0.0))],
        300,
    ),
    case(
        "liver-nmp.ron",
        "outflow-obstruction@40m",
        "outflow obstruction",
        "outflow_obstruction",
        "high",
        &[("pv_pump", Above(0.0)), ("ha_pump", Above(0.0))],
        202,
    ),
    case(
        "liver-nmp.ron",
        "stuck:ha_pressure@40m",
        "sensor stuck",
        "ha_pressure_sensor_stuck",
        "high",
        &[("ha_pump", Above(0.0))],
        202,
    ),
    case(
        "liver-nmp.ron",
        "dropout:ha_pressure@40m",
        "sensor dropout (NaN)",
        "ha_pressure_sensor_failed",
        "high",
        &[("ha_pump", Above(0.0))],
        12,
    ),
    case(
        "liver-nmp.ron",
        "channel-loss:pv_flow@40m",
        "HAL channel lost (sensor)",
        "pv_flow_sensor_failed",
        "high",
        &[("pv_pump", Above(0.0))],
        12,
    ),
    case(
        "liver-nmp.ron",
        "dropout:perfusate_temp@40m",
        "sensor dropout (NaN)",
        "temperature_sensor_failed",
        "high",
        &[("heater", Is(0.0)), ("pv_pump", Above(0.0))],
        52,
    ),
    // The runaway heater takes a little over 2 minutes to push the perfusate from 37 to 38.5 °C.
    case(
        "liver-nmp.ron",
        "heater-runaway@40m",
        "heater runaway",
        "over_temperature",
        "high",
        &[
            ("heater", Is(0.0)),
            ("ha_pump", Above(0.0)),
            ("pv_pump", Above(0.0)),
        ],
        15_000,
    ),
    // A stalled pump: flow decays over seconds, then the 10-s persistence.
    case(
        "liver-nmp.ron",
        "pump-stall:pv_pump@40m",
        "pump stall",
        "pv_flow_lost",
        "high",
        &[],
        1500,
    ),
    case(
        "liver-nmp.ron",
        "pump-stall:ha_pump@40m",
        "pump stall",
        "ha_no_flow",
        "high",
        &[],
        1500,
    ),
    // Liver HOPE and D-HOPE (one perfusion phase; fault after 20 min): a stopped cold liver is in
    // static cold storage, and the cooler keeps cooling. The occlusion first shows as portal
    // (and arterial) over-pressure: the pump is reduced, not stopped.
    case(
        "liver-hope.ron",
        "air@20m",
        "air in line",
        "air_in_pv_line",
        "high",
        &[("pv_pump", Is(0.0)), ("pv_clamp", Is(1.0))],
        3,
    ),
    case(
        "liver-hope.ron",
        "occlusion@20m",
        "occlusion",
        "pv_over_pressure",
        "high",
        &[("pv_pump", Above(0.0))],
        300,
    ),
    case(
        "liver-hope.ron",
        "stuck:pv_pressure@20m",
        "sensor stuck",
        "pv_pressure_sensor_stuck",
        "high",
        &[("pv_pump", Above(0.0))],
        502,
    ),
    case(
        "liver-hope.ron",
        "dropout:pv_pressure@20m",
        "sensor dropout (NaN)",
        "pv_pressure_sensor_failed",
        "high",
        &[("pv_pump", Above(0.0))],
        12,
    ),
    // The heater-cooler at full heat needs about 15 minutes to warm the perfusate from 10 to 15 °C.
    case(
        "liver-hope.ron",
        "heater-runaway:cooler@20m",
        "heater runaway",
        "over_temperature",
        "high",
        &[("cooler", AtMost(-50.0)), ("pv_pump", Above(0.0))],
        92_000,
    ),
    case(
        "liver-hope.ron",
        "pump-stall@20m",
        "pump stall",
        "pv_no_flow",
        "high",
        &[],
        4000,
    ),
    case(
        "liver-dhope.ron",
        "air@20m",
        "air in line",
        "air_in_pv_line",
        "high",
        &[("pv_pump", Is(0.0)), ("pv_clamp", Is(1.0))],
        3,
    ),
    case(
        "liver-dhope.ron",
        "occlusion@20m",
        "occlusion",
        "pv_over_pressure",
        "high",
        &[("pv_pump", Above(0.0))],
        300,
    ),
    case(
        "liver-dhope.ron",
        "stuck:pv_pressure@20m",
        "sensor stuck",
        "pv_pressure_sensor_stuck",
        "high",
        &[("pv_pump", Above(0.0))],
        502,
    ),
    case(
        "liver-dhope.ron",
        "dropout:pv_pressure@20m",
        "sensor dropout (NaN)",
        "pv_pressure_sensor_failed",
        "high",
        &[("pv_pump", Above(0.0))],
        12,
    ),
    case(
        "liver-dhope.ron",
        "heater-runaway:cooler@20m",
        "heater runaway",
        "over_temperature",
        "high",
        &[("cooler", AtMost(-50.0)), ("pv_pump", Above(0.0))],
        92_000,
    ),
    case(
        "liver-dhope.ron",
        "air@20m",
        "air in line",
        "air_in_ha_line",
        "high",
        &[("ha_pump", Is(0.0)), ("ha_clamp", Is(1.0))],
        3,
    ),
    case(
        "liver-dhope.ron",
        "stuck:ha_pressure@20m",
        "sensor stuck",
        "ha_pressure_sensor_stuck",
        "high",
        &[("ha_pump", Above(0.0))],
        202,
    ),
    case(
        "liver-dhope.ron",
        "pump-stall:pv_pump@20m",
        "pump stall",
        "pv_no_flow",
        "high",
        &[],
        4000,
    ),
    // TA-NRP (fault in the steady phase, after the 10-min reperfusion): the pump is the donor's
    // circulation and keeps running unless air is in the line. Hypovolaemia shows as venous
    // chatter once the drainage pressure falls below -30 mmHg (about 100 s), then 1 s of
    // persistence; a stalled pump as MAP below 40 mmHg for the rule's 120 s.
    case(
        "ta-nrp.ron",
        "air@20m",
        "air in line",
        "air_in_line",
        "high",
        &[("pump", Is(0.0)), ("arterial_clamp", Is(1.0))],
        3,
    ),
    case(
        "ta-nrp.ron",
        "cerebral-flow@20m",
        "cerebral flow",
        "cerebral_flow",
        "high",
        &[("pump", Above(0.0))],
        2,
    ),
    case(
        "ta-nrp.ron",
        "hypovolaemia@20m",
        "hypovolaemia",
        "venous_chatter",
        "medium",
        &[("pump", Above(0.0))],
        13_000,
    ),
    case(
        "ta-nrp.ron",
        "stuck:pump_flow@20m",
        "sensor stuck",
        "flow_sensor_failed",
        "high",
        &[("pump", Above(0.0))],
        202,
    ),
    case(
        "ta-nrp.ron",
        "dropout:pump_flow@20m",
        "sensor dropout (NaN)",
        "flow_sensor_implausible",
        "high",
        &[("pump", Above(0.0))],
        12,
    ),
    case(
        "ta-nrp.ron",
        "channel-loss:pump_flow@20m",
        "HAL channel lost (sensor)",
        "flow_sensor_implausible",
        "high",
        &[("pump", Above(0.0))],
        12,
    ),
    // The runaway heater-cooler warms the blood from 36.5 to 38 °C in about half a minute.
    case(
        "ta-nrp.ron",
        "heater-runaway@20m",
        "heater runaway",
        "over_temperature",
        "high",
        &[("heater_cooler", Is(0.0)), ("pump", Above(0.0))],
        3200,
    ),
    case(
        "ta-nrp.ron",
        "pump-stall@20m",
        "pump stall",
        "map_critical",
        "high",
        &[],
        12_500,
    ),
    case(
        "ta-nrp.ron",
        "occlusion@20m",
        "occlusion",
        "flow_lost",
        "high",
        &[],
        2500,
    ),
    case(
        "ta-nrp.ron",
        "dropout:aortic_pressure@20m",
        "sensor dropout (NaN)",
        "aortic_pressure_sensor_failed",
        "high",
        &[],
        110,
    ),
    // Cardiopulmonary bypass (fault at 30 min, 10 min into the cross-clamp, the induction dose
    // given). Bypass is the patient's circulation: only air, an empty reservoir or a blocked
    // line stop the arterial pump. An air lock empties the ~2.3-L reservoir at full flow in
    // about 25 s; a failing membrane takes about 11 min to bring PaO2 below 100 mmHg (the
    // blender's FiO2 rising against it), a clot 15 and 31 min to add half and all of the
    // oxygenator's pressure drop; a stalled cardioplegia pump misses the re-dose at 80 min after
    // the induction, and the dose timer reaches its 85-min reminder.
    case(
        "cpb-adult.ron",
        "air@30m",
        "air in line",
        "air_in_line",
        "high",
        &[
            ("arterial_pump", Is(0.0)),
            ("arterial_clamp", Is(1.0)),
            ("cp_pump", Is(0.0)),
        ],
        3,
    ),
    case(
        "cpb-adult.ron",
        "venous-drainage-loss@30m",
        "venous drainage lost",
        "reservoir_low",
        "medium",
        &[("uf_pump", AtMost(0.0)), ("arterial_pump", Above(0.0))],
        3000,
    ),
    case(
        "cpb-adult.ron",
        "venous-drainage-loss@30m",
        "venous drainage lost",
        "reservoir_critical",
        "high",
        &[("arterial_pump", Is(0.0)), ("arterial_clamp", Is(1.0))],
        3500,
    ),
    case(
        "cpb-adult.ron",
        "occlusion:2.2@30m",
        "occlusion",
        "line_pressure_high",
        "medium",
        &[("arterial_pump", AtMost(3320.0))],
        60,
    ),
    case(
        "cpb-adult.ron",
        "occlusion:3@30m",
        "occlusion",
        "line_pressure_critical",
        "high",
        &[("arterial_pump", Is(0.0))],
        30,
    ),
    case(
        "cpb-adult.ron",
        "oxygenator-failure@30m",
        "oxygenator failure",
        "oxygenator_failure",
        "high",
        &[("arterial_pump", Above(0.0))],
        70_000,
    ),
    case(
        "cpb-adult.ron",
        "gas-supply-loss@30m",
        "gas supply lost",
        "gas_supply_lost",
        "high",
        &[("arterial_pump", Above(0.0))],
        4000,
    ),
    case(
        "cpb-adult.ron",
        "clot@30m",
        "clot",
        "oxygenator_pressure_drop",
        "medium",
        &[("arterial_pump", Above(0.0))],
        97_000,
    ),
    case(
        "cpb-adult.ron",
        "clot@30m",
        "clot",
        "oxygenator_clot",
        "high",
        &[("arterial_pump", Above(0.0))],
        190_000,
    ),
    case(
        "cpb-adult.ron",
        "cardioplegia-occlusion@21m",
        "cardioplegia occlusion",
        "root_pressure_critical",
        "high",
        &[("cp_pump", Is(0.0)), ("arterial_pump", Above(0.0))],
        60,
    ),
    case(
        "cpb-adult.ron",
        "pump-stall:cp_pump@30m",
        "pump stall",
        "cardioplegia_due",
        "medium",
        &[("arterial_pump", Above(0.0))],
        490_000,
    ),
    case(
        "cpb-adult.ron",
        "pump-stall:arterial_pump@30m",
        "pump stall",
        "flow_low",
        "high",
        &[],
        1200,
    ),
    case(
        "cpb-adult.ron",
        "heater-runaway@30m",
        "heater runaway",
        "outlet_hot",
        "high",
        &[("heater_cooler", Is(0.0)), ("arterial_pump", Above(0.0))],
        3000,
    ),
    case(
        "cpb-adult.ron",
        "stuck:pump_flow@30m",
        "sensor stuck",
        "flow_sensor_failed",
        "high",
        &[("arterial_pump", Above(0.0))],
        202,
    ),
    case(
        "cpb-adult.ron",
        "dropout:reservoir_level@30m",
        "sensor dropout (NaN)",
        "level_sensor_failed",
        "high",
        &[("arterial_pump", Above(0.0))],
        12,
    ),
    case(
        "cpb-adult.ron",
        "channel-loss:bubble@30m",
        "HAL channel lost (sensor)",
        "bubble_sensor_failed",
        "high",
        &[("arterial_pump", Above(0.0))],
        12,
    ),
    probes_lost(
        "cpb-adult.ron",
        "channel-loss:arterial_temp@30m",
        "arterial_temp_sensor_failed",
        &[("heater_cooler", Is(0.0)), ("arterial_pump", Above(0.0))],
        102,
    ),
    // VA-ECMO (fault at 2 h, on steady support; 20 ticks a second). The circuit is the
    // patient's circulation: only air or blood running backwards stop it. A 1.8-L bleed
    // collapses the vein around the drainage cannula within about 2 min; a kinked return line
    // (×5) passes 300 mmHg as the flow loop speeds the pump up; a clot doubles the
    // oxygenator's pressure drop in 6 h; a stalled pump runs backwards at once.
    case(
        "ecmo-va.ron",
        "air@2h",
        "air in line",
        "air_in_line",
        "high",
        &[("pump", Is(0.0)), ("return_clamp", Is(1.0))],
        2,
    ),
    case(
        "ecmo-va.ron",
        "pump-stall@2h",
        "pump stall",
        "flow_reversal",
        "high",
        &[("pump", Is(0.0)), ("return_clamp", Is(1.0))],
        40,
    ),
    case(
        "ecmo-va.ron",
        "hypovolaemia@2h",
        "hypovolaemia",
        "drainage_negative",
        "medium",
        &[("pump", Above(0.0))],
        3600,
    ),
    case(
        "ecmo-va.ron",
        "occlusion:5@2h",
        "occlusion",
        "return_pressure_high",
        "high",
        &[("pump", Above(0.0))],
        400,
    ),
    case(
        "ecmo-va.ron",
        "clot@2h",
        "clot",
        "oxygenator_clot",
        "high",
        &[("pump", Above(0.0))],
        440_000,
    ),
    case(
        "ecmo-va.ron",
        "gas-supply-loss@2h",
        "gas supply lost",
        "gas_supply_lost",
        "high",
        &[("pump", Above(0.0))],
        1000,
    ),
    case(
        "ecmo-va.ron",
        "oxygenator-failure@2h",
        "oxygenator failure",
        "oxygenator_failure",
        "high",
        &[("pump", Above(0.0))],
        20_000,
    ),
    case(
        "ecmo-va.ron",
        "stuck:pump_flow@2h",
        "sensor stuck",
        "flow_sensor_failed",
        "high",
        &[("pump", Above(0.0))],
        102,
    ),
    case(
        "ecmo-va.ron",
        "dropout:drainage_pressure@2h",
        "sensor dropout (NaN)",
        "drainage_sensor_failed",
        "high",
        &[("pump", Above(0.0))],
        6,
    ),
    case(
        "ecmo-va.ron",
        "heater-runaway@2h",
        "heater runaway",
        "fever",
        "high",
        &[("heater_cooler", Is(0.0)), ("pump", Above(0.0))],
        20_000,
    ),
    // ILP (fault in the TNF phase; the warm-up ends by 40 min): the limb keeps its flow unless air
    // is in the line, and a leak is the operator's decision. The systemic-leak event raises the
    // gamma-probe leak to 5 % in about 22 minutes; the default `leak` empties the reservoir fast
    // enough for the trend (its window) to pass -10 mL/min within 40-50 s; an occlusion takes
    // the line pressure past 80 mmHg within 2-4 s, then 2 s of persistence.
    case(
        "ilp-leg.ron",
        "air@45m",
        "air in line",
        "air_in_line",
        "high",
        &[("pump", Is(0.0)), ("arterial_clamp", Is(1.0))],
        3,
    ),
    case(
        "ilp-leg.ron",
        "systemic-leak@45m",
        "leak to systemic",
        "leak_warning",
        "medium",
        &[("pump", Above(0.0))],
        150_000,
    ),
    case(
        "ilp-leg.ron",
        "leak@45m",
        "leak (reservoir)",
        "reservoir_falling_fast",
        "high",
        &[("pump", Above(0.0))],
        4500,
    ),
    case(
        "ilp-leg.ron",
        "occlusion@45m",
        "occlusion",
        "line_over_pressure",
        "medium",
        &[("pump", Above(0.0))],
        450,
    ),
    case(
        "ilp-leg.ron",
        "stuck:line_pressure@45m",
        "sensor stuck",
        "pressure_sensor_stuck",
        "high",
        &[("pump", Above(0.0))],
        202,
    ),
    case(
        "ilp-leg.ron",
        "dropout:gamma_probe@45m",
        "sensor dropout (NaN)",
        "leak_monitor_lost",
        "high",
        &[("pump", Above(0.0))],
        102,
    ),
    case(
        "ilp-leg.ron",
        "channel-loss:gamma_probe@45m",
        "HAL channel lost (sensor)",
        "leak_monitor_lost",
        "high",
        &[("pump", Above(0.0))],
        102,
    ),
    // The runaway heater takes one (leg) to 1.3 (arm) minutes to push the inflow past 43 °C.
    case(
        "ilp-leg.ron",
        "heater-runaway@45m",
        "heater runaway",
        "inflow_critical",
        "high",
        &[("heater", Is(0.0)), ("pump", Above(0.0))],
        6500,
    ),
    case(
        "ilp-leg.ron",
        "pump-stall@45m",
        "pump stall",
        "flow_lost",
        "high",
        &[("heater", Is(0.0))],
        1200,
    ),
    case(
        "ilp-leg.ron",
        "dropout:line_pressure@45m",
        "sensor dropout (NaN)",
        "line_pressure_sensor_failed",
        "medium",
        &[],
        110,
    ),
    case(
        "ilp-arm.ron",
        "air@45m",
        "air in line",
        "air_in_line",
        "high",
        &[("pump", Is(0.0)), ("arterial_clamp", Is(1.0))],
        3,
    ),
    case(
        "ilp-arm.ron",
        "systemic-leak@45m",
        "leak to systemic",
        "leak_warning",
        "medium",
        &[("pump", Above(0.0))],
        150_000,
    ),
    case(
        "ilp-arm.ron",
        "leak@45m",
        "leak (reservoir)",
        "reservoir_falling_fast",
        "high",
        &[("pump", Above(0.0))],
        5000,
    ),
    case(
        "ilp-arm.ron",
        "occlusion@45m",
        "occlusion",
        "line_over_pressure",
        "medium",
        &[("pump", Above(0.0))],
        650,
    ),
    case(
        "ilp-arm.ron",
        "stuck:line_pressure@45m",
        "sensor stuck",
        "pressure_sensor_stuck",
        "high",
        &[("pump", Above(0.0))],
        202,
    ),
    case(
        "ilp-arm.ron",
        "dropout:gamma_probe@45m",
        "sensor dropout (NaN)",
        "leak_monitor_lost",
        "high",
        &[("pump", Above(0.0))],
        102,
    ),
    case(
        "ilp-arm.ron",
        "channel-loss:gamma_probe@45m",
        "HAL channel lost (sensor)",
        "leak_monitor_lost",
        "high",
        &[("pump", Above(0.0))],
        102,
    ),
    case(
        "ilp-arm.ron",
        "heater-runaway@45m",
        "heater runaway",
        "inflow_critical",
        "high",
        &[("heater", Is(0.0)), ("pump", Above(0.0))],
        8000,
    ),
    case(
        "ilp-arm.ron",
        "pump-stall@45m",
        "pump stall",
        "flow_lost",
        "high",
        &[("heater", Is(0.0))],
        1200,
    ),
    case(
        "ilp-arm.ron",
        "dropout:line_pressure@45m",
        "sensor dropout (NaN)",
        "line_pressure_sensor_failed",
        "medium",
        &[],
        110,
    ),
    // HIPEC and HITHOC (fault in the drug phase: the heating ends after about 15 min, the
    // oxaliplatin run at 43 min): a stopped pump harms no one (the drain stays open); the heater
    // must not heat a standing line. The runaway heater passes 45 °C at the inflow within 10-17 s;
    // a stalled inflow pump leaves the 1-s mean flow below 300 mL/min at once, then 10 s. The
    // occluded drain fills the cavity to the critical pressure in 35-50 s. A large leak
    // (0.02 mmHg/(mL/min)) empties the HIPEC reservoir while the inflow runs, held 60 s; in HITHOC
    // the reservoir reaches its 400-mL floor first, after about 4 min. Malignant hyperthermia
    // takes 31-33 min to bring the core above 40 °C, longer than the oxaliplatin run.
    case(
        "hipec-mmc.ron",
        "air@20m",
        "air in line",
        "air_in_line",
        "high",
        &[
            ("inflow_pump", Is(0.0)),
            ("outflow_pump", Is(0.0)),
            ("heater", Is(0.0)),
        ],
        3,
    ),
    case(
        "hipec-mmc.ron",
        "occlusion@20m",
        "occlusion",
        "iap_critical",
        "high",
        &[("inflow_pump", Is(0.0))],
        5500,
    ),
    case(
        "hipec-mmc.ron",
        "leak:0.02@20m",
        "leak (reservoir)",
        "outflow_blocked",
        "high",
        &[("inflow_pump", Is(0.0))],
        8000,
    ),
    case(
        "hipec-mmc.ron",
        "stuck:inflow_temp@20m",
        "sensor stuck",
        "inflow_probe_stuck",
        "high",
        &[("heater", Is(0.0)), ("inflow_pump", Above(0.0))],
        3002,
    ),
    case(
        "hipec-mmc.ron",
        "dropout:inflow_temp@20m",
        "sensor dropout (NaN)",
        "inflow_probe_failed",
        "high",
        &[("heater", Is(0.0)), ("inflow_pump", Above(0.0))],
        12,
    ),
    case(
        "hipec-mmc.ron",
        "stuck:iap@20m",
        "sensor stuck",
        "iap_sensor_stuck",
        "medium",
        &[("inflow_pump", Above(0.0))],
        502,
    ),
    case(
        "hipec-mmc.ron",
        "channel-loss:iap@20m",
        "HAL channel lost (sensor)",
        "iap_sensor_failed",
        "high",
        &[("inflow_pump", Is(0.0))],
        12,
    ),
    case(
        "hipec-mmc.ron",
        "heater-runaway@20m",
        "heater runaway",
        "inflow_over_temperature",
        "high",
        &[("heater", Is(0.0)), ("inflow_pump", Above(0.0))],
        2000,
    ),
    case(
        "hipec-mmc.ron",
        "pump-stall:inflow_pump@20m",
        "pump stall",
        "no_flow",
        "high",
        &[("heater", Is(0.0))],
        1200,
    ),
    case(
        "hipec-mmc.ron",
        "malignant-hyperthermia@20m",
        "malignant hyperthermia",
        "core_hot",
        "high",
        &[("heater", Is(0.0)), ("inflow_pump", Above(0.0))],
        210_000,
    ),
    case(
        "hipec-oxaliplatin.ron",
        "air@25m",
        "air in line",
        "air_in_line",
        "high",
        &[
            ("inflow_pump", Is(0.0)),
            ("outflow_pump", Is(0.0)),
            ("heater", Is(0.0)),
        ],
        3,
    ),
    case(
        "hipec-oxaliplatin.ron",
        "occlusion@25m",
        "occlusion",
        "iap_critical",
        "high",
        &[("inflow_pump", Is(0.0))],
        5500,
    ),
    case(
        "hipec-oxaliplatin.ron",
        "leak:0.02@25m",
        "leak (reservoir)",
        "outflow_blocked",
        "high",
        &[("inflow_pump", Is(0.0))],
        8000,
    ),
    case(
        "hipec-oxaliplatin.ron",
        "stuck:inflow_temp@25m",
        "sensor stuck",
        "inflow_probe_stuck",
        "high",
        &[("heater", Is(0.0)), ("inflow_pump", Above(0.0))],
        3002,
    ),
    case(
        "hipec-oxaliplatin.ron",
        "dropout:inflow_temp@25m",
        "sensor dropout (NaN)",
        "inflow_probe_failed",
        "high",
        &[("heater", Is(0.0)), ("inflow_pump", Above(0.0))],
        12,
    ),
    case(
        "hipec-oxaliplatin.ron",
        "stuck:iap@25m",
        "sensor stuck",
        "iap_sensor_stuck",
        "medium",
        &[("inflow_pump", Above(0.0))],
        502,
    ),
    case(
        "hipec-oxaliplatin.ron",
        "channel-loss:iap@25m",
        "HAL channel lost (sensor)",
        "iap_sensor_failed",
        "high",
        &[("inflow_pump", Is(0.0))],
        12,
    ),
    case(
        "hipec-oxaliplatin.ron",
        "heater-runaway@25m",
        "heater runaway",
        "inflow_over_temperature",
        "high",
        &[("heater", Is(0.0)), ("inflow_pump", Above(0.0))],
        2000,
    ),
    case(
        "hipec-oxaliplatin.ron",
        "pump-stall:inflow_pump@25m",
        "pump stall",
        "no_flow",
        "high",
        &[("heater", Is(0.0))],
        1200,
    ),
    case(
        "hithoc.ron",
        "air@20m",
        "air in line",
        "air_in_line",
        "high",
        &[
            ("inflow_pump", Is(0.0)),
            ("outflow_pump", Is(0.0)),
            ("heater", Is(0.0)),
        ],
        3,
    ),
    case(
        "hithoc.ron",
        "occlusion@20m",
        "occlusion",
        "itp_critical",
        "high",
        &[("inflow_pump", Is(0.0))],
        3800,
    ),
    // The falling reservoir with inflow running trips `outflow_blocked` first (its noisy trend
    // holds for 60 s in all; a brief normal reading does not restart the persistence): inflow
    // stops before the reservoir reaches its low limit.
    case(
        "hithoc.ron",
        "leak:0.02@20m",
        "leak (reservoir)",
        "outflow_blocked",
        "high",
        &[("inflow_pump", Is(0.0))],
        24_000,
    ),
    case(
        "hithoc.ron",
        "stuck:inflow_temp@20m",
        "sensor stuck",
        "inflow_probe_stuck",
        "high",
        &[("heater", Is(0.0)), ("inflow_pump", Above(0.0))],
        3002,
    ),
    case(
        "hithoc.ron",
        "dropout:inflow_temp@20m",
        "sensor dropout (NaN)",
        "inflow_probe_failed",
        "high",
        &[("heater", Is(0.0)), ("inflow_pump", Above(0.0))],
        12,
    ),
    case(
        "hithoc.ron",
        "stuck:itp@20m",
        "sensor stuck",
        "itp_sensor_stuck",
        "medium",
        &[("inflow_pump", Above(0.0))],
        502,
    ),
    case(
        "hithoc.ron",
        "channel-loss:itp@20m",
        "HAL channel lost (sensor)",
        "itp_sensor_failed",
        "high",
        &[("inflow_pump", Is(0.0))],
        12,
    ),
    case(
        "hithoc.ron",
        "heater-runaway@20m",
        "heater runaway",
        "inflow_over_temperature",
        "high",
        &[("heater", Is(0.0)), ("inflow_pump", Above(0.0))],
        2000,
    ),
    case(
        "hithoc.ron",
        "pump-stall:inflow_pump@20m",
        "pump stall",
        "no_flow",
        "high",
        &[("heater", Is(0.0))],
        1200,
    ),
    case(
        "hithoc.ron",
        "malignant-hyperthermia@20m",
        "malignant hyperthermia",
        "core_hot",
        "high",
        &[("heater", Is(0.0)), ("inflow_pump", Above(0.0))],
        210_000,
    ),
    // A lost bubble detector, then air: the pump stops when the detector is lost, as air would
    // stop it (the protocol's own detector rule, or the core's coverage of the detector).
    lost_then(
        "kidney-hmp.ron",
        "channel-loss:bubble@5m",
        "air@10m",
        "bubble_sensor_failed",
        PUMP_CLAMP,
        12,
    ),
    lost_then(
        "kidney-nmp.ron",
        "channel-loss:bubble@10m",
        "air@20m",
        "bubble_sensor_failed",
        PUMP_CLAMP,
        12,
    ),
    lost_then(
        "heart-nmp.ron",
        "channel-loss:bubble@20m",
        "air@30m",
        "bubble_detector_failed",
        PUMP_CLAMP,
        52,
    ),
    lost_then(
        "heart-hope.ron",
        "channel-loss:bubble@20m",
        "air@30m",
        "bubble_detector_failed",
        PUMP_CLAMP,
        52,
    ),
    lost_then(
        "lung-evlp.ron",
        "channel-loss:bubble@50m",
        "air@60m",
        "bubble_sensor_failed",
        &[("pump", Is(0.0)), ("pa_clamp", Is(1.0))],
        12,
    ),
    lost_then(
        "liver-nmp.ron",
        "channel-loss:ha_bubble@30m",
        "air@40m",
        "ha_bubble_sensor_failed",
        &[("ha_pump", Is(0.0)), ("ha_clamp", Is(1.0))],
        12,
    ),
    lost_then(
        "liver-hope.ron",
        "channel-loss:pv_bubble@10m",
        "air@20m",
        "pv_bubble_sensor_failed",
        &[("pv_pump", Is(0.0)), ("pv_clamp", Is(1.0))],
        12,
    ),
    lost_then(
        "liver-dhope.ron",
        "channel-loss:ha_bubble@10m",
        "air@20m",
        "ha_bubble_sensor_failed",
        &[("ha_pump", Is(0.0)), ("ha_clamp", Is(1.0))],
        12,
    ),
    lost_then(
        "ta-nrp.ron",
        "channel-loss:bubble@10m",
        "air@20m",
        "bubble_sensor_failed",
        PUMP_CLAMP,
        12,
    ),
    lost_then(
        "ilp-leg.ron",
        "channel-loss:bubble@35m",
        "air@45m",
        "bubble_sensor_failed",
        PUMP_CLAMP,
        12,
    ),
    lost_then(
        "ilp-arm.ron",
        "channel-loss:bubble@35m",
        "air@45m",
        "bubble_sensor_failed",
        PUMP_CLAMP,
        12,
    ),
    lost_then(
        "hipec-mmc.ron",
        "channel-loss:bubble@10m",
        "air@20m",
        "bubble_sensor_failed",
        HIPEC_SAFE,
        12,
    ),
    lost_then(
        "hipec-oxaliplatin.ron",
        "channel-loss:bubble@15m",
        "air@25m",
        "bubble_sensor_failed",
        HIPEC_SAFE,
        12,
    ),
    lost_then(
        "hithoc.ron",
        "channel-loss:bubble@10m",
        "air@20m",
        "bubble_sensor_failed",
        HIPEC_SAFE,
        12,
    ),
    actuator_lost(
        "kidney-hmp.ron",
        "channel-loss:pump@10m",
        "pump_not_following",
        &[],
        221,
    ),
    actuator_lost(
        "kidney-nmp.ron",
        "channel-loss:pump@20m",
        "pump_not_following",
        &[("pump", Above(100.0))],
        221,
    ),
    actuator_lost(
        "heart-nmp.ron",
        "channel-loss:pump@30m",
        "pump_not_following",
        &[("pump", Above(0.0))],
        221,
    ),
    actuator_lost(
        "heart-hope.ron",
        "channel-loss:pump@30m",
        "pump_not_following",
        &[],
        221,
    ),
    actuator_lost(
        "lung-evlp.ron",
        "channel-loss:pump@60m",
        "pump_not_following",
        &[("pump", Above(0.0))],
        221,
    ),
    actuator_lost(
        "liver-nmp.ron",
        "channel-loss:ha_pump@40m",
        "ha_pump_not_following",
        &[("ha_pump", Above(0.0))],
        221,
    ),
    actuator_lost(
        "liver-hope.ron",
        "channel-loss:pv_pump@20m",
        "pv_pump_not_following",
        &[],
        221,
    ),
    actuator_lost(
        "liver-dhope.ron",
        "channel-loss:ha_pump@20m",
        "ha_pump_not_following",
        &[],
        221,
    ),
    actuator_lost(
        "ta-nrp.ron",
        "channel-loss:pump@20m",
        "pump_not_following",
        &[("pump", Above(0.0))],
        221,
    ),
    actuator_lost(
        "ilp-leg.ron",
        "channel-loss:pump@45m",
        "pump_not_following",
        &[("pump", Above(0.0))],
        221,
    ),
    actuator_lost(
        "ilp-arm.ron",
        "channel-loss:pump@45m",
        "pump_not_following",
        &[("pump", Above(0.0))],
        221,
    ),
    actuator_lost(
        "hipec-mmc.ron",
        "channel-loss:inflow_pump@20m",
        "inflow_pump_not_following",
        &[],
        251,
    ),
    actuator_lost(
        "hipec-oxaliplatin.ron",
        "channel-loss:inflow_pump@25m",
        "inflow_pump_not_following",
        &[],
        251,
    ),
    actuator_lost(
        "hithoc.ron",
        "channel-loss:inflow_pump@20m",
        "inflow_pump_not_following",
        &[],
        251,
    ),
    // Every probe of each heater loop's temperature lost. Kidney NMP's loop reads the
    // arterial-line probe backed up by the reservoir one: only losing both leaves it blind.
    Case {
        then: "channel-loss:reservoir_temp@20m",
        ..probes_lost(
            "kidney-nmp.ron",
            "channel-loss:perfusate_temp@20m",
            "perfusate_temp_sensor_failed",
            &[("heater", Is(0.0)), ("pump", Above(100.0))],
            102,
        )
    },
    probes_lost(
        "heart-nmp.ron",
        "channel-loss:perfusate_temp@30m",
        "temperature_probe_failed",
        &[("heater", Is(0.0)), ("pump", Above(0.0))],
        52,
    ),
    probes_lost(
        "heart-hope.ron",
        "channel-loss:perfusate_temp@30m",
        "temperature_probe_failed",
        &[("cooler", Is(0.0)), ("pump", Above(0.0))],
        52,
    ),
    probes_lost(
        "lung-evlp.ron",
        "channel-loss:perfusate_temp@60m",
        "temperature_sensor_failed",
        &[("heater", Is(0.0)), ("pump", Above(0.0))],
        102,
    ),
    probes_lost(
        "liver-nmp.ron",
        "channel-loss:perfusate_temp@40m",
        "temperature_sensor_failed",
        &[("heater", Is(0.0)), ("pv_pump", Above(0.0))],
        52,
    ),
    probes_lost(
        "liver-hope.ron",
        "channel-loss:perfusate_temp@20m",
        "temperature_sensor_failed",
        &[("cooler", Is(0.0)), ("pv_pump", Above(0.0))],
        52,
    ),
    probes_lost(
        "liver-dhope.ron",
        "channel-loss:perfusate_temp@20m",
        "temperature_sensor_failed",
        &[("cooler", Is(0.0)), ("pv_pump", Above(0.0))],
        52,
    ),
    probes_lost(
        "ta-nrp.ron",
        "channel-loss:blood_temp@20m",
        "blood_temp_sensor_failed",
        &[("heater_cooler", Is(0.0)), ("pump", Above(0.0))],
        102,
    ),
    probes_lost(
        "ilp-leg.ron",
        "channel-loss:inflow_temp@45m",
        "inflow_temp_sensor_failed",
        &[("heater", Is(0.0)), ("pump", Above(0.0))],
        102,
    ),
    probes_lost(
        "ilp-arm.ron",
        "channel-loss:inflow_temp@45m",
        "inflow_temp_sensor_failed",
        &[("heater", Is(0.0)), ("pump", Above(0.0))],
        102,
    ),
    probes_lost(
        "hipec-mmc.ron",
        "channel-loss:inflow_temp@20m",
        "inflow_probe_failed",
        &[("heater", Is(0.0)), ("inflow_pump", Above(0.0))],
        12,
    ),
    probes_lost(
        "hipec-oxaliplatin.ron",
        "channel-loss:inflow_temp@25m",
        "inflow_probe_failed",
        &[("heater", Is(0.0)), ("inflow_pump", Above(0.0))],
        12,
    ),
    probes_lost(
        "hithoc.ron",
        "channel-loss:inflow_temp@20m",
        "inflow_probe_failed",
        &[("heater", Is(0.0)), ("inflow_pump", Above(0.0))],
        12,
    ),
    // The plugin, for any protocol (here kidney HMP): contained, control goes on.
    plugin(1, "plugin panic", 1),
    plugin(2, "plugin returns non-finite", 1),
    plugin(4, "plugin hang (time budget)", 1),
];

/// Time of the fault: from the specification, or 10 min for the faulty plugin's rows.
/// The laboratory values a protocol's rows are run with: bypass starts only after an ACT.
fn labs(protocol: &str) -> &'static str {
    match protocol {
        "cpb-adult.ron" => {
            "[(at_s: 120.0, sensor: \"act\", value: 520.0), \
             (at_s: 1800.0, sensor: \"act\", value: 510.0), \
             (at_s: 3600.0, sensor: \"act\", value: 500.0), \
             (at_s: 5400.0, sensor: \"act\", value: 495.0), \
             (at_s: 7200.0, sensor: \"act\", value: 490.0), \
             (at_s: 9000.0, sensor: \"act\", value: 485.0)]"
        }
        _ => "[]",
    }
}

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
    // Mode 4 uses 0.8 s of CPU in one step: over the lockstep budget of 0.5 s.
    let params = format!(r#""mode": {mode}.0, "at_s": 600.0, "busy_s": 0.8,"#);
    let text = edited_protocol(c.protocol, &faulty_kidney(&params));
    let file = dir.path().join("faulty.ron");
    std::fs::write(&file, text).unwrap();
    file
}

/// A row whose fault must raise nothing (a glitch shorter than every rule's persistence): no
/// alarm starts within the bound, and the actuators are as expected at its end.
fn run_quiet_case(c: &Case, mut run: perfuse_core::run::Run, fault_tick: u64) {
    let label = format!("{} × {}", c.protocol, c.class);
    while run.tick() < fault_tick {
        run.step_lockstep();
    }
    let counts: Vec<u32> = run.alarms().list.iter().map(|a| a.count).collect();
    while run.tick() <= fault_tick + c.bound {
        run.step_lockstep();
    }
    for (a, before) in run.alarms().list.iter().zip(&counts) {
        assert_eq!(a.count, *before, "{label}: `{}` raised", a.id);
    }
    check_actuators(c, &run, &label);
}

fn check_actuators(c: &Case, run: &perfuse_core::run::Run, label: &str) {
    for (id, expect) in c.safe {
        let v = run.commands().values[actuator(run, id)];
        match expect {
            Is(x) => assert_eq!(v, *x, "{label}: {id}"),
            Above(x) => assert!(v > *x, "{label}: {id} = {v}, expected above {x}"),
            AtMost(x) => assert!(v <= *x, "{label}: {id} = {v}, expected at most {x}"),
        }
    }
}

fn run_case(c: &Case) {
    let dir = tempfile::tempdir().unwrap();
    let faults: Vec<&str> = [c.fault, c.then]
        .into_iter()
        .filter(|f| !f.is_empty())
        .collect();
    let mut run = lockstep_with_labs(&protocol_file(c, &dir), &faults, 1, labs(c.protocol));
    let fault_tick = ticks(&run, fault_s(c));
    if c.alarm.is_empty() {
        return run_quiet_case(c, run, fault_tick);
    }
    let alarm = run
        .alarms()
        .list
        .iter()
        .position(|a| a.id == c.alarm)
        .unwrap_or_else(|| panic!("{}: no alarm `{}`", c.protocol, c.alarm));
    if c.faulty_plugin.is_some() {
        // The plugin's budget is watched by the supervised driver only.
        let stop = perfuse_core::run::StopRequest::default();
        run = run.run_lockstep_until(fault_tick + c.bound + 1, &stop);
    }
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
    assert!(!run.finished(), "{label}: the run had ended");
    check_actuators(c, &run, &label);
    if let Some((_, t)) = c.then.rsplit_once('@') {
        let then_tick = ticks(&run, perfuse_core::config::parse_duration(t).unwrap());
        while run.tick() <= then_tick + ticks(&run, 1.0) {
            run.step_lockstep();
        }
        let label = format!("{label}, after `{}`", c.then);
        assert!(run.alarms().list[alarm].active, "{label}: alarm ended");
        check_actuators(c, &run, &label);
    }
}

fn run_rows(protocols: &[&str], faulty: bool) {
    let rows: Vec<&Case> = MATRIX
        .iter()
        .filter(|c| protocols.contains(&c.protocol) && c.faulty_plugin.is_some() == faulty)
        .collect();
    for p in protocols {
        assert!(rows.iter().any(|c| c.protocol == *p), "no rows for {p}");
    }
    // Every row runs; the failures are reported together.
    let failed: Vec<String> = rows
        .into_iter()
        .filter_map(|c| {
            std::panic::catch_unwind(|| run_case(c))
                .err()
                .map(|e| match e.downcast::<String>() {
                    Ok(m) => *m,
                    Err(e) => e.downcast::<&str>().map_or_else(
                        |_| format!("{} `{}`", c.protocol, c.fault),
                        |m| m.to_string(),
                    ),
                })
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} row(s) failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn kidney_hmp_rows() {
    run_rows(&["kidney-hmp.ron"], false);
}

#[test]
fn kidney_nmp_rows() {
    run_rows(&["kidney-nmp.ron"], false);
}

#[test]
fn heart_rows() {
    run_rows(&["heart-nmp.ron", "heart-hope.ron"], false);
}

#[test]
fn lung_rows() {
    run_rows(&["lung-evlp.ron"], false);
}

#[test]
fn liver_nmp_rows() {
    run_rows(&["liver-nmp.ron"], false);
}

#[test]
fn liver_hope_rows() {
    run_rows(&["liver-hope.ron", "liver-dhope.ron"], false);
}

#[test]
fn ta_nrp_rows() {
    run_rows(&["ta-nrp.ron"], false);
}

#[test]
fn cpb_rows() {
    run_rows(&["cpb-adult.ron"], false);
}

#[test]
fn ecmo_rows() {
    run_rows(&["ecmo-va.ron"], false);
}

#[test]
fn ilp_rows() {
    run_rows(&["ilp-leg.ron", "ilp-arm.ron"], false);
}

#[test]
fn hipec_rows() {
    run_rows(&["hipec-mmc.ron", "hipec-oxaliplatin.ron"], false);
}

#[test]
fn hithoc_rows() {
    run_rows(&["hithoc.ron"], false);
}

#[test]
fn plugin_rows() {
    run_rows(&["kidney-hmp.ron"], true);
}

/// The matrix as the README shows it.
fn table() -> String {
    let mut out = String::from(
        "| protocol | fault (`--fault`) | class | alarm | priority | actuators when raised | bound (ticks) |\n|---|---|---|---|---|---|---|\n",
    );
    for c in MATRIX {
        let fault = match c.faulty_plugin {
            Some(mode) => format!("faulty plugin, mode {mode}, at 10m"),
            None if c.then.is_empty() => format!("`{}`", c.fault),
            None => format!("`{}`, then `{}`", c.fault, c.then),
        };
        let safe: Vec<String> = c
            .safe
            .iter()
            .map(|(id, e)| match e {
                Is(v) => format!("{id} = {v}"),
                Above(v) => format!("{id} > {v}"),
                AtMost(v) => format!("{id} ≤ {v}"),
            })
            .collect();
        let safe = if safe.is_empty() {
            "—".to_string()
        } else {
            safe.join(", ")
        };
        out.push_str(&format!(
            "| {} | {fault} | {} | `{}` | {} | {safe} | {} |\n",
            c.protocol,
            c.class,
            if c.alarm.is_empty() { "none" } else { c.alarm },
            if c.priority.is_empty() {
                "—"
            } else {
                c.priority
            },
            c.bound
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
