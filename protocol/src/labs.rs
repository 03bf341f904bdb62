//! Laboratory values entered by the operator, scripted for a run with `--labs FILE`.
//!
//! The file is a RON list of entries, checked like a protocol file (every problem at once, with
//! line and column):
//!
//! ```ron
//! [
//!     (at_s: 900.0, sensor: "act", value: 480.0),
//!     (at_s: 1800.0, sensor: "lactate", value: 3.1),
//! ]
//! ```
//!
//! Each `sensor` must be one of the protocol's sensors at the `operator` site.

use super::bounds::short_num;
use super::{Diagnostic, LoadError, read_document, read_file};
use crate::plan::Plan;
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
struct EntrySpec {
    at_s: f64,
    sensor: String,
    value: f64,
}

/// One lab value, resolved for the tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabEntry {
    pub tick: u64,
    /// Index of the sensor in the circuit (and the HAL frame).
    pub sensor: usize,
    pub value: f64,
}

/// The entries as a labs file says them, which [`load_labs_str`] reads back to the same list:
/// how a run keeps the values its operator entered live (the console).
pub fn labs_text(plan: &Plan, labs: &[LabEntry]) -> String {
    let mut text = String::from("[\n");
    for e in labs {
        let at_s = e.tick as f64 * plan.period_s;
        text.push_str(&format!(
            "    (at_s: {at_s:?}, sensor: \"{}\", value: {:?}),\n",
            plan.sensors[e.sensor].id, e.value
        ));
    }
    text.push_str("]\n");
    text
}

/// Reads and checks a labs file against a plan and the run's end (`end_s`); entries come back in
/// time order. An entry beyond the run's end, or a value outside its sensor's range, is an error.
pub fn load_labs(path: &Path, plan: &Plan, end_s: f64) -> Result<Vec<LabEntry>, LoadError> {
    let src = read_file(path, "labs")?;
    load_labs_str(&src, path, plan, end_s)
}

/// As [`load_labs`], from text (e.g. as a record keeps it); `path` only names it in diagnostics.
pub fn load_labs_str(
    src: &str,
    path: &Path,
    plan: &Plan,
    end_s: f64,
) -> Result<Vec<LabEntry>, LoadError> {
    let fail = |diagnostics| LoadError {
        file: path.to_path_buf(),
        diagnostics,
    };
    let (specs, doc) = read_document::<Vec<EntrySpec>>(src).map_err(fail)?;
    let mut problems = Vec::new();
    let mut entries = Vec::with_capacity(specs.len());
    let operator: Vec<&str> = plan
        .sensors
        .iter()
        .filter(|s| s.operator)
        .map(|s| s.id.as_str())
        .collect();
    for (i, e) in specs.iter().enumerate() {
        let mut problem = |field: &str, expected: String, found: String| {
            let path = format!("[{i}].{field}");
            problems.push(Diagnostic {
                span: doc.span_of(&path),
                path,
                expected,
                found,
            });
        };
        if e.at_s < 0.0 {
            problem("at_s", "a time of 0 s or more".into(), short_num(e.at_s));
        } else if e.at_s > end_s {
            problem(
                "at_s",
                format!(
                    "a time within the run, which ends at {} s at the latest",
                    short_num(end_s)
                ),
                format!("{} s", short_num(e.at_s)),
            );
        }
        match plan
            .sensors
            .iter()
            .position(|s| s.id == e.sensor && s.operator)
        {
            Some(sensor) => {
                let range = plan.sensors[sensor].range;
                if !range.contains(e.value) {
                    problem(
                        "value",
                        format!(
                            "a value within `{}`'s range {} to {} {}",
                            e.sensor,
                            short_num(range.min),
                            short_num(range.max),
                            plan.signals[plan.sensors[sensor].signal].unit
                        ),
                        short_num(e.value),
                    );
                }
                entries.push(LabEntry {
                    tick: (e.at_s / plan.period_s).round() as u64,
                    sensor,
                    value: e.value,
                })
            }
            None => problem(
                "sensor",
                format!(
                    "one of the operator-entered sensors: {}",
                    operator.join(", ")
                ),
                format!("\"{}\"", e.sensor),
            ),
        }
    }
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    entries.sort_by_key(|e| e.tick);
    Ok(entries)
}
