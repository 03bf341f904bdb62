//! The names a record gives to what the frames index: signals, actuators, alarms, phases.

use perfuse_core::plan::Plan;
use perfuse_core::run::Run;
use perfuse_core::run::summary::action_text;
use perfuse_core::tick::alarms::AlarmSource;
use std::sync::Arc;

/// One alarm as the record names it.
#[derive(Debug, Clone)]
pub struct AlarmName {
    pub id: String,
    pub text: String,
    pub technical: bool,
    /// The automatic action of a protocol rule (`None` for the core's own alarms).
    pub action: Option<String>,
}

/// Everything the writer needs to turn indices into names.
#[derive(Debug, Clone)]
pub struct Names {
    pub plan: Arc<Plan>,
    pub alarms: Vec<AlarmName>,
    pub alarm_ids: Vec<String>,
    pub derived: Vec<String>,
}

impl Names {
    pub fn of(run: &Run) -> Self {
        let plan = run.plan.clone();
        let alarms: Vec<AlarmName> = run
            .alarms()
            .list
            .iter()
            .map(|a| AlarmName {
                id: a.id.clone(),
                text: a.text.clone(),
                technical: a.technical,
                action: match a.source {
                    AlarmSource::Rule(r) => Some(action_text(&plan, plan.rules[r].action)),
                    _ => None,
                },
            })
            .collect();
        Names {
            alarm_ids: alarms.iter().map(|a| a.id.clone()).collect(),
            alarms,
            derived: run.plugin.derived_names.clone(),
            plan,
        }
    }

    /// The sample columns in order: each signal's value and validity, then each actuator's
    /// command. Names are quoted where used.
    pub fn sample_columns(&self) -> Vec<String> {
        let mut cols = Vec::new();
        for s in &self.plan.signals {
            cols.push(s.id.clone());
            cols.push(format!("{}.validity", s.id));
        }
        for a in &self.plan.actuators {
            cols.push(format!("cmd.{}", a.id));
        }
        cols
    }
}

/// An identifier quoted for SQL.
pub fn quote(id: &str) -> String {
    format!("\"{}\"", id.replace('"', "\"\""))
}
