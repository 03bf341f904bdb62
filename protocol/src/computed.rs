//! Values the plugin computes at start (the file's `computed` section) and the references to
//! them (`Of("name", factor)`): where a reference may stand, and the combinations of the
//! declared intervals' ends at which a file is validated.

use crate::de::Reference;
use crate::schema::ProtocolFile;
use crate::validate::Problem;
use std::collections::BTreeMap;

/// Most computed values a file may declare: the file is validated at 2^n combinations.
pub const MAX_COMPUTED: usize = 8;

/// Whether a reference may stand at `path`: a phase target's setpoint or band, or a rule
/// condition's limit. Sensor ranges, actuator limits, timings and gains stay plain numbers.
fn allowed(path: &str) -> bool {
    let in_target = path.starts_with("phases[")
        && (path.contains("].setpoint") || path.contains("].band"))
        && path.contains(".targets[");
    let limit =
        path.starts_with("rules[") && path.contains(".condition") && path.ends_with(".limit");
    in_target || limit
}

/// Every problem with the file's `computed` section and its references: an interval that is
/// not one, a reference to an undeclared name or in a place that takes none.
pub fn check(file: &ProtocolFile, refs: &[Reference]) -> Vec<Problem> {
    let declared = file.computed.clone().unwrap_or_default();
    let mut problems = Vec::new();
    if declared.len() > MAX_COMPUTED {
        problems.push(Problem {
            path: "computed".into(),
            expected: format!("at most {MAX_COMPUTED} computed values"),
            found: format!("{}", declared.len()),
        });
    }
    for (name, range) in &declared {
        if !(range.min.is_finite() && range.max.is_finite() && range.min <= range.max) {
            problems.push(Problem {
                path: format!("computed[{name:?}]"),
                expected: "an interval `(min: ..., max: ...)` with min ≤ max".into(),
                found: format!("min {} and max {}", range.min, range.max),
            });
        }
    }
    let names: Vec<String> = declared.keys().map(|n| format!("`{n}`")).collect();
    for r in refs {
        if !allowed(&r.path) {
            problems.push(Problem {
                path: r.path.clone(),
                expected: "a number (a computed value may stand only in a phase target's \
                           setpoint or band, or in a rule's limit)"
                    .into(),
                found: format!("`Of({:?}, {})`", r.name, r.factor),
            });
        } else if !declared.contains_key(&r.name) {
            let expected = if names.is_empty() {
                "a value declared in the file's `computed` section (it declares none)".into()
            } else {
                format!("one of the computed values {}", names.join(", "))
            };
            problems.push(Problem {
                path: r.path.clone(),
                expected,
                found: format!("{:?}", r.name),
            });
        }
    }
    problems
}

/// Every combination of the declared intervals' ends (all lower ends first); one empty
/// combination when the file declares none. The file's numbers are linear in each computed
/// value, so a check that holds at every combination holds for any values inside the intervals.
pub fn corners(file: &ProtocolFile) -> Vec<BTreeMap<String, f64>> {
    let declared: Vec<_> = file.computed.iter().flatten().take(MAX_COMPUTED).collect();
    (0..1usize << declared.len())
        .map(|bits| {
            declared
                .iter()
                .enumerate()
                .map(|(i, (name, range))| {
                    let end = if bits >> i & 1 == 0 {
                        range.min
                    } else {
                        range.max
                    };
                    ((*name).clone(), end)
                })
                .collect()
        })
        .collect()
}

/// `found` of a problem seen at one combination, naming the values it was seen with.
pub fn at(found: &str, values: &BTreeMap<String, f64>) -> String {
    if values.is_empty() {
        return found.to_owned();
    }
    let with: Vec<String> = values.iter().map(|(n, v)| format!("{n} = {v}")).collect();
    format!("{found} (with {})", with.join(", "))
}

/// Whether the plugin's `values` are the ones the file declares, each finite and inside its
/// interval: a problem for each that is not, at its declaration.
pub fn check_values(file: &ProtocolFile, values: &BTreeMap<String, f64>) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (name, range) in file.computed.iter().flatten() {
        let found = match values.get(name) {
            None => "none: the plugin does not compute it".to_owned(),
            Some(v) if !v.is_finite() || !range.contains(*v) => format!("{v} from the plugin"),
            Some(_) => continue,
        };
        problems.push(Problem {
            path: format!("computed[{name:?}]"),
            expected: format!(
                "a value the plugin computes inside the file's interval {} to {}",
                range.min, range.max
            ),
            found,
        });
    }
    problems
}
