//! The ids of the alarms a run has: the protocol's rules, and the core's own alarms for sensors,
//! actuators, device links and the run itself. Commands and labs files name alarms by these ids,
//! so they belong to the format as much as to the tick that raises the alarms.

use crate::plan::Plan;

/// Id of the core's own alarm that the plugin is faulted.
pub const PLUGIN_FAULT_ALARM: &str = "plugin_fault";
/// Id of the core's own alarm that ticks are missing their deadlines (real time).
pub const TICK_OVERRUN_ALARM: &str = "tick_overrun";
/// Id of the core's own alarm that an output (display, record) failed.
pub const OUTPUT_FAILURE_ALARM: &str = "output_failure";
/// Id of the core's own alarm that low-priority log entries are being dropped.
pub const LOG_FULL_ALARM: &str = "alarm_log_full";
/// Suffix of the core's alarm that an actuator does not follow its commands.
pub const NOT_FOLLOWING_SUFFIX: &str = "not_following";

/// What the core's alarm for an uncovered sensor is called.
pub fn coverage_id(plan: &Plan, i: usize) -> String {
    let c = &plan.coverage[i];
    let suffix = if c.operator {
        "overdue"
    } else {
        "sensor_failed"
    };
    format!("{}_{suffix}", plan.signals[c.signal].id)
}

/// How many alarms a run has: as many as [`alarm_ids`] names, without allocating.
pub fn alarm_count(plan: &Plan) -> usize {
    plan.rules.len()
        + plan.coverage.len()
        + CORE_ALARMS
        + plan.actuators.len()
        + 2 * plan.links.len()
}

/// What the core's alarm that device link `i` is down is called.
pub fn link_lost_id(plan: &Plan, i: usize) -> String {
    format!("{}_link_lost", plan.links[i])
}

/// What the core's alarm that device link `i` answers late or with errors is called.
pub fn link_degraded_id(plan: &Plan, i: usize) -> String {
    format!("{}_link_degraded", plan.links[i])
}

/// The core's own alarms, after the rules and the coverage alarms.
const CORE_ALARMS: usize = 4;

/// What the core's alarm that actuator `i` does not follow its commands is called.
pub fn not_following_id(plan: &Plan, i: usize) -> String {
    format!("{}_{NOT_FOLLOWING_SUFFIX}", plan.actuators[i].id)
}

/// Ids of every alarm, in the order of `Alarms::list`: the rules in file order, the core's
/// sensor coverage, the core's own, then one per actuator that does not follow.
pub fn alarm_ids(plan: &Plan) -> Vec<String> {
    let mut ids: Vec<String> = plan.rules.iter().map(|r| r.id.clone()).collect();
    ids.extend((0..plan.coverage.len()).map(|i| coverage_id(plan, i)));
    let core: [&str; CORE_ALARMS] = [
        PLUGIN_FAULT_ALARM,
        TICK_OVERRUN_ALARM,
        OUTPUT_FAILURE_ALARM,
        LOG_FULL_ALARM,
    ];
    for id in core {
        ids.push(id.to_string());
    }
    ids.extend((0..plan.actuators.len()).map(|i| not_following_id(plan, i)));
    for i in 0..plan.links.len() {
        ids.push(link_lost_id(plan, i));
        ids.push(link_degraded_id(plan, i));
    }
    ids
}
